#!/usr/bin/env bash
# bench/scale.sh: many hosts from one controller. Runs a small playbook (a command guarded by
# `creates` and a copy) on N loopback hosts at once and records wall time, controller CPU and
# the controller's peak RSS (GNU time -v), plus every host's outcome.
#
#   bench/scale.sh [--forks F] [--no-build] [--keep-lab] [HOSTS...]   default: 100 500 1000
#
# The loopback lab (scripts/loopback-lab.sh) serves 250 addresses, 127.0.0.2 .. 127.0.0.251,
# from 16 sshd processes (sshd takes at most 16 listen sockets each; MaxStartups 1000:30:2000,
# MaxSessions 64). Beyond 250 hosts, inventory hosts share addresses: host i connects to
# 127.0.0.(2 + i mod 250), so 1,000 hosts are 1,000 SSH connections to 250 addresses, four
# each, every host working in its own directory. The controller needs one socket per host:
# the open-files limit must be above the host count (this machine: 20,000).
# Exits 1 when any run failed or any host did not end ok.
set -euo pipefail

die() { echo "scale: $*" >&2; exit 1; }
note() { echo "scale: $*" >&2; }

cd "$(dirname "$0")/.."
REPO=$PWD
FORKS=200
BUILD=1
KEEP_LAB=0
COUNTS=()
while [ $# -gt 0 ]; do
    case $1 in
        --forks) FORKS=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --keep-lab) KEEP_LAB=1; shift ;;
        -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) die "unknown option $1" ;;
        *) COUNTS+=("$1"); shift ;;
    esac
done
[ ${#COUNTS[@]} -gt 0 ] || COUNTS=(100 500 1000)
for n in "${COUNTS[@]}" "$FORKS"; do
    case $n in '' | *[!0-9]* | 0) die "not a positive number: '$n'" ;; esac
done
[ -x /usr/bin/time ] || die "GNU time (/usr/bin/time) is missing: apt-get install time"
MAXN=$(printf '%s\n' "${COUNTS[@]}" | sort -n | tail -n 1)
[ "$(ulimit -n)" -gt $((MAXN + 100)) ] || die "open files limit $(ulimit -n) is too low for $MAXN hosts"

SHIPSHAPE=${SHIPSHAPE_BIN:-$REPO/target/release/shipshape}
if [ "$BUILD" = 1 ] && [ -z "${SHIPSHAPE_BIN:-}" ]; then
    note "cargo build --release"
    cargo build --release --quiet
fi
[ -x "$SHIPSHAPE" ] || die "$SHIPSHAPE not found"

WORK=${BENCH_WORK:-$REPO/bench/.work}/scale
LAB=$WORK/lab
ROOT=$WORK/root
OUT=$WORK/results/$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
ADDRS=250
cleanup() {
    [ "$KEEP_LAB" = 1 ] || scripts/loopback-lab.sh down "$LAB" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
PORT=$(scripts/loopback-lab.sh up "$LAB" "" "$ADDRS" | sed -n 's/^port=//p' | tail -n 1)
[ -n "$PORT" ] || die "the lab did not start"

cat >"$WORK/site.yml" <<'EOF'
- name: scale
  hosts: all
  gather_facts: false
  tasks:
    - name: host directory
      command:
        cmd: "mkdir -p {{ root }}/{{ inventory_hostname }}"
        creates: "{{ root }}/{{ inventory_hostname }}"
    - name: motd
      copy:
        dest: "{{ root }}/{{ inventory_hostname }}/motd"
        content: "hello from {{ inventory_hostname }}\n"
        mode: "0644"
EOF

status=0
{
    echo "# Scale run $(date -u +%Y-%m-%dT%H:%MZ)"
    echo
    echo "- machine: $(nproc) CPUs, kernel $(uname -r), load before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- shipshape: $("$SHIPSHAPE" --version) ($(git rev-parse --short HEAD 2>/dev/null || echo '?')), forks $FORKS"
    echo "- lab: $ADDRS loopback addresses, 16 sshd processes; playbook: command (creates) + copy"
    echo
    echo "| hosts | run | wall s | CPU s | peak RSS MB | RSS per host KB | ok | changed | failed | unreachable | rc |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
} >"$OUT/report.md"
for n in "${COUNTS[@]}"; do
    inv=$WORK/hosts-$n.ini
    {
        echo "[scale]"
        for i in $(seq 0 $((n - 1))); do
            printf 'n%04d ansible_host=127.0.0.%d\n' "$i" $((2 + i % ADDRS))
        done
        printf '\n[all:vars]\nansible_user=%s\nansible_port=%s\nansible_ssh_private_key_file=%s\n' \
            "$(id -un)" "$PORT" "$LAB/id_ed25519"
    } >"$inv"
    rm -rf "$ROOT"
    mkdir -p "$ROOT"
    for run in first converged; do
        log=$OUT/$n-$run.jsonl
        rc=0
        /usr/bin/time -v -o "$OUT/$n-$run.time" "$SHIPSHAPE" playbook "$WORK/site.yml" -i "$inv" \
            -e "root=$ROOT" --known-hosts "$LAB/known_hosts" --host-key-checking strict \
            -f "$FORKS" --output jsonl --color never >"$log" 2>"$OUT/$n-$run.err" || rc=$?
        wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$OUT/$n-$run.time" |
            awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; printf "%.2f", s }')
        cpu=$(awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.2f", s }' "$OUT/$n-$run.time")
        rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$OUT/$n-$run.time")
        counts=$(python3 - "$log" <<'PY'
import json, sys
tot = {"ok": 0, "changed": 0, "failed": 0, "unreachable": 0}
hosts = 0
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("event") == "recap":
        for _, st in e["hosts"]:
            hosts += 1
            for k in tot:
                tot[k] += int(st.get(k, 0))
print(hosts, tot["ok"], tot["changed"], tot["failed"], tot["unreachable"])
PY
)
        read -r hosts ok changed failed unreach <<<"$counts"
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$n" "$run" "$wall" "$cpu" \
            "$((rss / 1024))" "$((rss / n))" "$ok" "$changed" "$failed" "$unreach" "$rc" >>"$OUT/report.md"
        note "$n hosts $run: ${wall}s wall, ${cpu}s cpu, $((rss / 1024)) MB peak RSS, ok=$ok changed=$changed failed=$failed unreachable=$unreach rc=$rc"
        want_changed=$((2 * n))
        [ "$run" = converged ] && want_changed=0
        if [ "$rc" != 0 ] || [ "$hosts" != "$n" ] || [ "$failed" != 0 ] || [ "$unreach" != 0 ] ||
            [ "$changed" != "$want_changed" ]; then
            note "CHECK FAILED: $n hosts $run (want $n hosts, changed=$want_changed; see $OUT)"
            status=1
        fi
    done
    ls "$ROOT" | wc -l | { read -r dirs; [ "$dirs" = "$n" ] || { note "CHECK FAILED: $dirs host directories, want $n"; exit 1; }; } || status=1
done
cat "$OUT/report.md"
note "report: $OUT/report.md"
exit $status
