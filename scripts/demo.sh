#!/usr/bin/env bash
# Builds shipshape, starts the bundled loopback SSH lab (3 hosts, its own sshd and keys in
# ./.lab) and runs examples/demo/site.yml twice: the second run reports changed=0.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/prereqs.sh
cargo build --release --quiet
lab=$PWD/.lab
out=$(scripts/loopback-lab.sh up "$lab")
port=$(printf '%s\n' "$out" | sed -n 's/^port=//p' | tail -n 1)
inv=$lab/inventory.ini
{
    echo "[web]"
    for i in 1 2 3; do
        echo "web$i ansible_host=127.0.0.$((i + 1)) host_index=$i base=$lab/hosts/web$i"
    done
    echo
    echo "[all:vars]"
    echo "ansible_port=$port"
    echo "ansible_user=$(id -un)"
    echo "ansible_ssh_private_key_file=$lab/id_ed25519"
} >"$inv"
bin=target/release/shipshape
echo "== first run (with --diff)"
"$bin" playbook examples/demo/site.yml -i "$inv" --known-hosts "$lab/known_hosts" --diff
echo "== second run: nothing to change"
"$bin" playbook examples/demo/site.yml -i "$inv" --known-hosts "$lab/known_hosts"
echo "== drift check: shipshape plan (exit 0 = no drift)"
"$bin" plan examples/demo/site.yml -i "$inv" --known-hosts "$lab/known_hosts" && echo "no drift"
echo "The lab keeps running; stop it with: scripts/loopback-lab.sh down $lab"
