#!/usr/bin/env bash
# ssh-ref.sh SSH_CONFIG ADDRESS...: the physical reference of the benchmark. Runs
# `ssh ADDRESS true` to every address at once with the OpenSSH client (BatchMode, the lab's
# ssh_config: key, port, known_hosts, strict host key checking) and waits for all of them.
# Exits 1 when any failed.
set -u
cfg=$1
shift
pids=()
for a in "$@"; do
    ssh -F "$cfg" -o BatchMode=yes "$a" true &
    pids+=($!)
done
rc=0
for p in "${pids[@]}"; do
    wait "$p" || rc=1
done
exit $rc
