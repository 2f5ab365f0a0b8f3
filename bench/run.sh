#!/usr/bin/env bash
# bench/run.sh: the anchor benchmark. shipshape, Ansible and pyinfra run the same 22-task
# workload (bench/workload) against the same loopback SSH lab, in the same run, next to the
# physical floor (`ssh HOST true` to every host in parallel).
#
#   bench/run.sh [OPTIONS] [HOSTS...]        host counts, default: 1 10 50
#
#   --tools LIST             comma list of shipshape,ansible,pyinfra (env BENCH_TOOLS; default all)
#   --ansible-max-hosts N    skip Ansible above N hosts (env BENCH_ANSIBLE_MAX_HOSTS; default 10,
#                            Ansible needs 3.5-5 minutes per run at 50 hosts; 0 = no limit)
#   --pyinfra-max-hosts N    the same for pyinfra (env BENCH_PYINFRA_MAX_HOSTS; default 0)
#   --repeat R               measure everything R times, report the median (env BENCH_REPEAT; 1)
#   --work DIR               scratch directory (env BENCH_WORK; default bench/.work)
#   --keep-lab               leave the lab's sshd running at the end
#   --no-build               use target/release/shipshape as it is (env SHIPSHAPE_BIN overrides)
#
# Needs: Debian/Ubuntu (openssh-server, GNU time: installed with apt-get when missing, as root),
# python3 (any 3.x for the helpers), network access to PyPI the first time Ansible or pyinfra
# is wanted (ansible-core and pyinfra go into bench/.venv). Every connection goes to
# 127.0.0.x only. Prints a Markdown report and keeps it, the raw TSV and every tool's log under
# WORK/results/<timestamp>/. Exits 1 when a check failed (different trees, a converged run that
# changed something, a tool that failed).
set -euo pipefail

die() { echo "bench: $*" >&2; exit 1; }
note() { echo "bench: $*" >&2; }

cd "$(dirname "$0")/.."
REPO=$PWD
BENCH=$REPO/bench
LIB=$BENCH/lib/benchlib.py
WORKLOAD=$BENCH/workload

TOOLS=${BENCH_TOOLS:-shipshape,ansible,pyinfra}
ANSIBLE_MAX=${BENCH_ANSIBLE_MAX_HOSTS:-10}
PYINFRA_MAX=${BENCH_PYINFRA_MAX_HOSTS:-0}
REPEAT=${BENCH_REPEAT:-1}
WORK=${BENCH_WORK:-$BENCH/.work}
KEEP_LAB=0
BUILD=1
COUNTS=()

while [ $# -gt 0 ]; do
    case $1 in
        --tools) TOOLS=${2:?--tools needs a list}; shift 2 ;;
        --tools=*) TOOLS=${1#*=}; shift ;;
        --ansible-max-hosts) ANSIBLE_MAX=${2:?}; shift 2 ;;
        --pyinfra-max-hosts) PYINFRA_MAX=${2:?}; shift 2 ;;
        --repeat) REPEAT=${2:?}; shift 2 ;;
        --work) WORK=${2:?}; shift 2 ;;
        --keep-lab) KEEP_LAB=1; shift ;;
        --no-build) BUILD=0; shift ;;
        -h | --help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) die "unknown option $1 (see --help)" ;;
        *) COUNTS+=("$1"); shift ;;
    esac
done
[ ${#COUNTS[@]} -gt 0 ] || COUNTS=(1 10 50)
for n in "${COUNTS[@]}" "$REPEAT" "$ANSIBLE_MAX" "$PYINFRA_MAX"; do
    case $n in '' | *[!0-9]*) die "not a number: '$n'" ;; esac
done
for n in "${COUNTS[@]}"; do
    [ "$n" -ge 1 ] && [ "$n" -le 253 ] || die "host counts must be 1..253, got $n"
done
[ "$REPEAT" -ge 1 ] || die "--repeat must be at least 1"
MAXN=$(printf '%s\n' "${COUNTS[@]}" | sort -n | tail -n 1)

want() { case ",$TOOLS," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
for t in ${TOOLS//,/ }; do
    case $t in shipshape | ansible | pyinfra) ;; *) die "unknown tool '$t'" ;; esac
done
case $WORK in /*) ;; *) WORK=$REPO/$WORK ;; esac

# --- prerequisites ---------------------------------------------------------------------------
scripts/prereqs.sh
if [ ! -x /usr/bin/time ]; then
    [ "$(id -u)" -eq 0 ] || die "GNU time (/usr/bin/time) is missing: apt-get install time"
    note "installing GNU time"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
fi
command -v python3 >/dev/null || die "python3 is needed (gen-inventory.py and the report)"

SHIPSHAPE=${SHIPSHAPE_BIN:-$REPO/target/release/shipshape}
if want shipshape; then
    if [ "$BUILD" = 1 ] && [ -z "${SHIPSHAPE_BIN:-}" ]; then
        note "cargo build --release"
        cargo build --release --quiet
    fi
    [ -x "$SHIPSHAPE" ] || die "$SHIPSHAPE not found (cargo build --release)"
fi

VENV=$BENCH/.venv
SKIP_ANSIBLE=""
SKIP_PYINFRA=""

# A Python for the venv: ansible-core's current releases need 3.12 or newer on the controller.
venv_python() {
    local p
    for p in "${BENCH_PYTHON:-}" python3 python3.14 python3.13 python3.12 \
        "$HOME"/.pyenv/versions/3.1[2-9]*/bin/python3 /usr/bin/python3; do
        [ -n "$p" ] || continue
        if "$p" -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
            command -v "$p"
            return 0
        fi
    done
    # Nothing new enough: pip then picks the newest release that supports this one.
    command -v python3
}

ensure_venv_tool() { # ensure_venv_tool BINARY PIP-SPEC
    [ -x "$VENV/bin/$1" ] && return 0
    if [ ! -x "$VENV/bin/pip" ]; then
        local py
        py=$(venv_python)
        note "creating $VENV with $py ($("$py" --version 2>&1))"
        "$py" -m venv "$VENV" || return 1
        "$VENV/bin/pip" install -q --upgrade pip >/dev/null 2>&1 || true
    fi
    note "pip install $2"
    "$VENV/bin/pip" install -q "$2" >&2 || return 1
    [ -x "$VENV/bin/$1" ]
}
if want ansible && ! ensure_venv_tool ansible-playbook "${BENCH_ANSIBLE_SPEC:-ansible-core}"; then
    SKIP_ANSIBLE="ansible-core did not install into $VENV"
fi
if want pyinfra && ! ensure_venv_tool pyinfra "${BENCH_PYINFRA_SPEC:-pyinfra}"; then
    SKIP_PYINFRA="pyinfra did not install into $VENV"
fi

# --- the lab ---------------------------------------------------------------------------------
STAMP=$(date +%Y%m%d-%H%M%S)
OUT=$WORK/results/$STAMP
LAB=$WORK/lab
INV=$WORK/inventory
ROOT=$WORK/root          # every tool writes here, so rendered paths are the same bytes
TREES=$WORK/trees        # ... and its tree is moved here afterwards for the comparison
CP=$WORK/cp              # Ansible's ControlPersist sockets
mkdir -p "$OUT/logs" "$INV" "$CP"
RESULTS=$OUT/results.tsv
CHECKS=$OUT/checks.tsv
printf 'hosts\ttool\trun\trep\trc\twall\tuser\tsys\tmaxrss_kb\ttreemem_kb\tchanged\n' >"$RESULTS"
: >"$CHECKS"

# Stops Ansible's ControlPersist masters (they outlive ansible-playbook by design).
close_masters() {
    local s
    for s in "$CP"/*; do
        [ -S "$s" ] || continue
        ssh -F /dev/null -o ControlPath="$s" -O exit lab-master >/dev/null 2>&1 || true
    done
}
cleanup() {
    close_masters
    if [ "$KEEP_LAB" = 0 ]; then
        scripts/loopback-lab.sh down "$LAB" >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

note "loopback lab for $MAXN hosts in $LAB"
PORT=$(scripts/loopback-lab.sh up "$LAB" "" "$MAXN" | sed -n 's/^port=//p' | tail -n 1)
[ -n "$PORT" ] || die "the lab did not start"
LAB_USER=$(id -un)

cat >"$WORK/ansible.cfg" <<EOF
# Written by bench/run.sh: Ansible's defaults plus pipelining and the lab's known_hosts.
[defaults]
host_key_checking = True
interpreter_python = /usr/bin/python3
retry_files_enabled = False
local_tmp = $WORK/ansible-local
[ssh_connection]
pipelining = True
control_path_dir = $CP
ssh_args = -C -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=$LAB/known_hosts -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes
EOF

TASKS=$(grep -c '^    - name:' "$WORKLOAD/site.yml")
FIRST_CHANGED_PER_HOST=19 # every task but set_fact, stat and assert changes on a first run

# --- machine and versions --------------------------------------------------------------------
{
    echo "# Benchmark run $STAMP"
    echo
    echo "- machine: $(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) memory, kernel $(uname -r), $(. /etc/os-release && echo "$PRETTY_NAME")"
    echo "- load before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- OpenSSH: $(ssh -V 2>&1)"
    want shipshape && echo "- shipshape: $("$SHIPSHAPE" --version) ($(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO" diff --quiet HEAD -- src 2>/dev/null || echo ', uncommitted changes'))"
    if want ansible && [ -z "$SKIP_ANSIBLE" ]; then
        echo "- Ansible: $("$VENV/bin/ansible-playbook" --version 2>/dev/null | head -n 1), Python $("$VENV/bin/python" -c 'import platform; print(platform.python_version())'); forks = hosts, pipelining on, ControlPersist 60s (masters closed after each run)"
    fi
    if want pyinfra && [ -z "$SKIP_PYINFRA" ]; then
        echo "- pyinfra: $("$VENV/bin/pyinfra" --version 2>/dev/null), defaults"
    fi
    echo "- workload: $TASKS tasks per host (bench/workload/site.yml, deploy.py); repetitions: $REPEAT"
    echo
} >"$OUT/report.md"

# --- measuring -------------------------------------------------------------------------------
# measure HOSTS TOOL RUN REP -- COMMAND...: runs COMMAND under GNU time with its process tree's
# memory sampled, appends a row to results.tsv, and sets RC and CHANGED.
measure() {
    local hosts=$1 tool=$2 run=$3 rep=$4
    shift 5
    local log=$OUT/logs/$hosts-$tool-$run-$rep.log tf=$OUT/time.tmp mf=$OUT/mem.tmp pid spid
    rm -f "$tf" "$mf"
    RC=0
    /usr/bin/time -f '%e %U %S %M' -o "$tf" "$@" >"$log" 2>&1 </dev/null &
    pid=$!
    python3 "$LIB" treemem "$pid" "$mf" &
    spid=$!
    wait "$pid" || RC=$?
    wait "$spid" || true
    local wall user sys rss mem
    read -r wall user sys rss < <(tail -n 1 "$tf")
    mem=$(cat "$mf" 2>/dev/null || echo 0)
    CHANGED=-
    [ "$tool" = ssh-ref ] || CHANGED=$(python3 "$LIB" changed "$tool" "$run" "$log")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$hosts" "$tool" "$run" "$rep" "$RC" \
        "$wall" "$user" "$sys" "$rss" "$mem" "$CHANGED" >>"$RESULTS"
    note "$(printf '%3s hosts %-9s %-9s #%s: %6ss wall %6ss cpu %5s MB rss, changed=%s rc=%s' \
        "$hosts" "$tool" "$run" "$rep" "$wall" \
        "$(awk -v u="$user" -v s="$sys" 'BEGIN {printf "%.2f", u + s}')" \
        "$((rss / 1024))" "$CHANGED" "$RC")"
}

check() { # check HOSTS WHAT ok|FAIL [DETAIL]
    printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4:-}" >>"$CHECKS"
    [ "$3" = ok ] || note "CHECK FAILED: $1 hosts: $2 ${4:-}"
}

# One tool's three runs (first, converged, check) on a fresh root.
run_tool() { # run_tool HOSTS TOOL REP
    local n=$1 tool=$2 rep=$3 run
    rm -rf "$ROOT"
    mkdir -p "$ROOT"
    for run in first converged check; do
        case $tool in
            shipshape)
                local c=()
                [ $run = check ] && c=(--check)
                measure "$n" shipshape $run "$rep" -- "$SHIPSHAPE" playbook "$WORKLOAD/site.yml" \
                    -i "$INV/hosts-$n.ini" -e "bench_root=$ROOT" --known-hosts "$LAB/known_hosts" \
                    --host-key-checking strict -f "$n" --output jsonl --color never "${c[@]}"
                ;;
            ansible)
                local c=()
                [ $run = check ] && c=(--check)
                measure "$n" ansible $run "$rep" -- env ANSIBLE_CONFIG="$WORK/ansible.cfg" \
                    ANSIBLE_PIPELINING=1 ANSIBLE_NOCOLOR=1 "$VENV/bin/ansible-playbook" \
                    -i "$INV/hosts-$n.ini" "$WORKLOAD/site.yml" -e "bench_root=$ROOT" -f "$n" "${c[@]}"
                close_masters
                ;;
            pyinfra)
                # -y runs without change detection; --dry without -y detects changes and stops.
                local c=(-y)
                [ $run = check ] && c=(--dry)
                measure "$n" pyinfra $run "$rep" -- env -C "$WORKLOAD" BENCH_ROOT="$ROOT" \
                    "$VENV/bin/pyinfra" "${c[@]}" "$INV/inventory_$n.py" deploy.py
                ;;
        esac
        if [ "$RC" != 0 ]; then
            check "$n" "$tool $run (rep $rep) exit code" FAIL "rc=$RC, log $OUT/logs/$n-$tool-$run-$rep.log"
        fi
        local want_changed=0
        [ $run = first ] && want_changed=$((FIRST_CHANGED_PER_HOST * n))
        if [ "$rep" = 1 ]; then
            if [ "$CHANGED" = "$want_changed" ]; then
                check "$n" "$tool $run reports changed=$want_changed" ok
            else
                check "$n" "$tool $run reports changed=$want_changed" FAIL "reported $CHANGED"
            fi
        fi
    done
    if [ "$rep" = 1 ]; then
        mkdir -p "$TREES/$n"
        rm -rf "${TREES:?}/$n/$tool"
        mv "$ROOT" "$TREES/$n/$tool"
    else
        rm -rf "$ROOT"
    fi
}

# Modes, types and sizes of every entry: diff -r compares contents only.
tree_listing() { (cd "$1" && find . -printf '%y %m %s %p\n' | LC_ALL=C sort); }

for n in "${COUNTS[@]}"; do
    note "=== $n hosts"
    LAB="$LAB" PORT="$PORT" python3 "$WORKLOAD/gen-inventory.py" "$n" "$INV" >/dev/null
    if [ "$LAB_USER" != root ]; then
        sed -i "s/^ansible_user=root$/ansible_user=$LAB_USER/" "$INV/hosts-$n.ini"
        sed -i "s/\"ssh_user\": \"root\"/\"ssh_user\": \"$LAB_USER\"/" "$INV/inventory_$n.py"
    fi
    addrs=()
    for i in $(seq 2 $((n + 1))); do addrs+=("127.0.0.$i"); done
    rm -rf "${TREES:?}/$n"
    tools_here=()
    for rep in $(seq 1 "$REPEAT"); do
        measure "$n" ssh-ref ref "$rep" -- "$BENCH/lib/ssh-ref.sh" "$LAB/ssh_config" "${addrs[@]}"
        [ "$RC" = 0 ] || check "$n" "ssh-ref exit code" FAIL "rc=$RC"
        for tool in shipshape ansible pyinfra; do
            want "$tool" || continue
            if [ $tool = ansible ]; then
                if [ -n "$SKIP_ANSIBLE" ]; then
                    [ "$rep" = 1 ] && note "skipping Ansible: $SKIP_ANSIBLE"
                    continue
                fi
                if [ "$ANSIBLE_MAX" -gt 0 ] && [ "$n" -gt "$ANSIBLE_MAX" ]; then
                    [ "$rep" = 1 ] && note "skipping Ansible at $n hosts (--ansible-max-hosts $ANSIBLE_MAX)"
                    continue
                fi
            fi
            if [ $tool = pyinfra ]; then
                if [ -n "$SKIP_PYINFRA" ]; then
                    [ "$rep" = 1 ] && note "skipping pyinfra: $SKIP_PYINFRA"
                    continue
                fi
                if [ "$PYINFRA_MAX" -gt 0 ] && [ "$n" -gt "$PYINFRA_MAX" ]; then
                    [ "$rep" = 1 ] && note "skipping pyinfra at $n hosts (--pyinfra-max-hosts $PYINFRA_MAX)"
                    continue
                fi
            fi
            run_tool "$n" "$tool" "$rep"
            [ "$rep" = 1 ] && tools_here+=("$tool")
        done
    done
    # Byte-identical trees: every tool against the first one, ignoring nothing.
    if [ ${#tools_here[@]} -gt 1 ]; then
        base=${tools_here[0]}
        for tool in "${tools_here[@]:1}"; do
            if diff -r "$TREES/$n/$base" "$TREES/$n/$tool" >"$OUT/logs/$n-diff-$base-$tool.txt" 2>&1 &&
                diff <(tree_listing "$TREES/$n/$base") <(tree_listing "$TREES/$n/$tool") \
                    >>"$OUT/logs/$n-diff-$base-$tool.txt" 2>&1; then
                check "$n" "$base and $tool trees identical (diff -r, modes, sizes)" ok
            else
                check "$n" "$base and $tool trees identical (diff -r, modes, sizes)" FAIL \
                    "see $OUT/logs/$n-diff-$base-$tool.txt"
            fi
        done
    fi
    echo "- load average after the $n-host runs: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/load.txt"
done

[ -n "$SKIP_ANSIBLE" ] && want ansible && echo "Ansible skipped: $SKIP_ANSIBLE" >>"$OUT/report.md"
[ -n "$SKIP_PYINFRA" ] && want pyinfra && echo "pyinfra skipped: $SKIP_PYINFRA" >>"$OUT/report.md"
status=0
python3 "$LIB" report "$RESULTS" "$CHECKS" "$TASKS" >>"$OUT/report.md" || status=1
{
    echo
    echo "Machine load (other work on the same 2 CPUs inflates wall times, Ansible's most):"
    echo
    cat "$OUT/load.txt" 2>/dev/null || true
} >>"$OUT/report.md"
rm -f "$OUT/time.tmp" "$OUT/mem.tmp"
cat "$OUT/report.md"
echo
note "report: $OUT/report.md"
exit $status
