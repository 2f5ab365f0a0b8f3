#!/usr/bin/env bash
# loopback-lab.sh: a throwaway SSH lab on the loopback range, for tests and benchmarks.
#
#   scripts/loopback-lab.sh up DIR [PORT [HOSTS]]   create (idempotent) and start; prints port=N
#   scripts/loopback-lab.sh down DIR                stop (idempotent)
#   scripts/loopback-lab.sh status DIR              print state; exit 0 when running, 3 when not
#
# One private sshd answers on 127.0.0.1 .. 127.0.0.(HOSTS+1), all on PORT, so inventory hosts
# 127.0.0.2, 127.0.0.3, ... are distinct addresses reaching the same machine. HOSTS defaults to
# 15 (env LAB_HOSTS also sets it; at most 253); LAB_LOGLEVEL=DEBUG3 makes sshd.log verbose.
# A socket bound to 127.0.0.1 does not accept connections to 127.0.0.2, and we never bind
# 0.0.0.0 (that would listen on every interface), so each address gets a ListenAddress line.
# sshd takes at most 16 listen sockets, so every further block of 16 addresses gets one more
# sshd with the same configuration.
#
# Without PORT a free one is picked (retrying when another process takes it first). sshd
# running as root needs /run/sshd, which is created.
#
# Files in DIR: ssh_host_ed25519_key (host key), id_ed25519 (client key), authorized_keys,
# sshd_config[.N], sshd.N.pid, sshd.log, known_hosts (plain entries for [127.0.0.X]:PORT,
# X = 1..254, so strict host key checking works for every loopback host), ssh_config (for
# OpenSSH clients: `ssh -F DIR/ssh_config 127.0.0.2`), lab.env (PORT, HOSTS, USER), home/.
# Works as root (then any local user with a shell can log in with the lab key) and as a normal
# user (then only that user can log in); never touches ~/.ssh.
set -euo pipefail

die() { echo "loopback-lab: $*" >&2; exit 1; }

usage() {
    sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

[ $# -ge 2 ] || usage
cmd=$1
dir=$2

# Absolute path, without requiring it to exist yet.
case $dir in
    /*) ;;
    *) dir=$PWD/$dir ;;
esac
case $dir in
    *[[:space:]]* | *'"'* | *"'"*) die "DIR must not contain spaces or quotes (sshd_config paths): $dir" ;;
esac

SSHD=${SSHD:-/usr/sbin/sshd}
SFTP_SERVER=/usr/lib/openssh/sftp-server
[ -x "$SFTP_SERVER" ] || SFTP_SERVER=internal-sftp

# pids of this lab's running sshd processes, one per line.
lab_pids() {
    local f pid
    for f in "$dir"/sshd.*.pid; do
        [ -f "$f" ] || continue
        pid=$(cat "$f" 2>/dev/null || true)
        case $pid in
            '' | *[!0-9]*) continue ;;
        esac
        # Only count it when it is an sshd started with this lab's configuration.
        if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$dir/sshd_config"; then
            echo "$pid"
        fi
    done
}

port_in_use() {
    # Any listener on the port, on any address (without iproute2, only 127.0.0.1 is probed;
    # a collision elsewhere still shows up as a bind error and another port is tried).
    if command -v ss >/dev/null 2>&1; then
        ss -Htln "sport = :$1" 2>/dev/null | grep -q .
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
    fi
}

pick_port() {
    local p tries=0
    while [ $tries -lt 200 ]; do
        p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 12000 ))
        if ! port_in_use "$p"; then
            echo "$p"
            return 0
        fi
        tries=$((tries + 1))
    done
    die "no free port found"
}

# Waits until 127.0.0.1:$1 accepts TCP connections (up to ~5 s).
wait_port() {
    local i
    for i in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
            return 0
        fi
        sleep 0.05
    done
    return 1
}

stop_lab() {
    local pid pids i
    pids=$(lab_pids)
    for pid in $pids; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in $pids; do
        for i in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        kill -9 "$pid" 2>/dev/null || true
    done
    rm -f "$dir"/sshd.*.pid
}

write_files() {
    local port=$1 hosts=$2 user=$3 naddr blocks b first last i cfg
    naddr=$((hosts + 1))
    blocks=$(( (naddr + 15) / 16 ))
    for b in $(seq 0 $((blocks - 1))); do
        first=$((b * 16 + 1))
        last=$((first + 15))
        [ $last -le $naddr ] || last=$naddr
        cfg="$dir/sshd_config"
        [ "$b" -eq 0 ] || cfg="$dir/sshd_config.$b"
        {
            echo "# loopback lab, block $b: 127.0.0.$first .. 127.0.0.$last"
            for i in $(seq "$first" "$last"); do
                echo "ListenAddress 127.0.0.$i:$port"
            done
            echo "HostKey $dir/ssh_host_ed25519_key"
            echo "PidFile $dir/sshd.$b.pid"
            echo "AuthorizedKeysFile $dir/authorized_keys"
            echo "StrictModes no"
            echo "UsePAM no"
            echo "PermitRootLogin prohibit-password"
            echo "PasswordAuthentication no"
            echo "KbdInteractiveAuthentication no"
            echo "PubkeyAuthentication yes"
            echo "AllowTcpForwarding yes"
            echo "X11Forwarding no"
            echo "PrintMotd no"
            echo "PrintLastLog no"
            echo "UseDNS no"
            echo "MaxStartups 1000:30:2000"
            echo "MaxSessions 64"
            echo "MaxAuthTries 20"
            echo "Subsystem sftp $SFTP_SERVER"
            echo "SetEnv HOME=$dir/home"
            echo "LogLevel ${LAB_LOGLEVEL:-ERROR}"
        } >"$cfg.tmp"
        mv "$cfg.tmp" "$cfg"
    done
    # Remove configurations of blocks a larger lab used before.
    for cfg in "$dir"/sshd_config.*; do
        [ -f "$cfg" ] || continue
        b=${cfg##*.}
        case $b in
            *[!0-9]*) continue ;;
        esac
        [ "$b" -lt "$blocks" ] || rm -f "$cfg"
    done

    local hostkey
    hostkey=$(cut -d' ' -f1,2 "$dir/ssh_host_ed25519_key.pub")
    {
        for i in $(seq 1 254); do
            echo "[127.0.0.$i]:$port $hostkey"
        done
    } >"$dir/known_hosts.tmp"
    mv "$dir/known_hosts.tmp" "$dir/known_hosts"

    cat >"$dir/ssh_config.tmp" <<EOF
Host 127.0.0.*
    Port $port
    User $user
    IdentityFile $dir/id_ed25519
    IdentitiesOnly yes
    UserKnownHostsFile $dir/known_hosts
    GlobalKnownHostsFile /dev/null
    StrictHostKeyChecking yes
    BatchMode yes
    LogLevel ERROR
EOF
    mv "$dir/ssh_config.tmp" "$dir/ssh_config"

    printf 'PORT=%s\nHOSTS=%s\nUSER=%s\n' "$port" "$hosts" "$user" >"$dir/lab.env.tmp"
    mv "$dir/lab.env.tmp" "$dir/lab.env"
}

# Starts one sshd per configuration; returns 1 when a listen address could not be bound.
start_daemons() {
    local port=$1 cfg
    : >"$dir/sshd.log"
    for cfg in "$dir/sshd_config" "$dir"/sshd_config.*; do
        [ -f "$cfg" ] || continue
        case $cfg in
            *.tmp) continue ;;
        esac
        "$SSHD" -f "$cfg" -E "$dir/sshd.log" || return 1
    done
    if ! wait_port "$port"; then
        return 1
    fi
    # Every daemon must have written its pid file (it does so after binding).
    local want have i
    want=$(ls "$dir"/sshd_config "$dir"/sshd_config.[0-9]* 2>/dev/null | wc -l)
    for i in $(seq 1 100); do
        have=$(lab_pids | wc -l)
        [ "$have" -lt "$want" ] || break
        if grep -qE 'Bind to port .* failed|Cannot bind|fatal' "$dir/sshd.log"; then
            return 1
        fi
        sleep 0.05
    done
    [ "$have" -ge "$want" ] || return 1
    # A partial bind (another listener on one of our addresses) is an error as well.
    if grep -qE 'Bind to port .* failed|Cannot bind' "$dir/sshd.log"; then
        return 1
    fi
    return 0
}

cmd_up() {
    local want_port=${1:-} hosts=${2:-${LAB_HOSTS:-15}} user port attempt
    case $hosts in
        '' | *[!0-9]*) die "HOSTS must be a number, got '$hosts'" ;;
    esac
    [ "$hosts" -ge 1 ] && [ "$hosts" -le 253 ] || die "HOSTS must be 1..253, got $hosts"
    [ -x "$SSHD" ] || die "$SSHD not found (apt-get install openssh-server)"
    user=$(id -un)

    mkdir -p "$dir" "$dir/home"
    # Other users may traverse (sshd reads authorized_keys as the login user), not list.
    chmod 711 "$dir"

    # Already running with the wanted port and size: nothing to do.
    if [ -n "$(lab_pids)" ] && [ -f "$dir/lab.env" ]; then
        local cur_port cur_hosts
        cur_port=$(sed -n 's/^PORT=//p' "$dir/lab.env")
        cur_hosts=$(sed -n 's/^HOSTS=//p' "$dir/lab.env")
        if { [ -z "$want_port" ] || [ "$want_port" = "$cur_port" ]; } && [ "$hosts" = "$cur_hosts" ]; then
            echo "port=$cur_port"
            return 0
        fi
        stop_lab
    fi
    stop_lab

    [ -f "$dir/ssh_host_ed25519_key" ] ||
        ssh-keygen -q -t ed25519 -N '' -C loopback-lab-host -f "$dir/ssh_host_ed25519_key"
    [ -f "$dir/id_ed25519" ] ||
        ssh-keygen -q -t ed25519 -N '' -C loopback-lab-client -f "$dir/id_ed25519"
    cp "$dir/id_ed25519.pub" "$dir/authorized_keys.tmp"
    mv "$dir/authorized_keys.tmp" "$dir/authorized_keys"
    chmod 600 "$dir/id_ed25519" "$dir/ssh_host_ed25519_key"
    chmod 644 "$dir/authorized_keys"

    # sshd running as root needs its privilege separation directory.
    if [ "$(id -u)" -eq 0 ]; then
        mkdir -p /run/sshd
        chmod 755 /run/sshd
    fi

    # Without an explicit port, keep the one this lab had before when it is still free.
    local prev_port=
    [ -f "$dir/lab.env" ] && prev_port=$(sed -n 's/^PORT=//p' "$dir/lab.env")
    for attempt in 1 2 3 4 5 6 7 8; do
        if [ -n "$want_port" ]; then
            port=$want_port
        elif [ "$attempt" -eq 1 ] && [ -n "$prev_port" ] && ! port_in_use "$prev_port"; then
            port=$prev_port
        else
            port=$(pick_port)
        fi
        write_files "$port" "$hosts" "$user"
        if start_daemons "$port"; then
            echo "port=$port"
            return 0
        fi
        stop_lab
        if [ -n "$want_port" ]; then
            sed 's/^/  sshd: /' "$dir/sshd.log" >&2 || true
            die "cannot start sshd on port $want_port"
        fi
    done
    sed 's/^/  sshd: /' "$dir/sshd.log" >&2 || true
    die "cannot start sshd (no free port after $attempt attempts)"
}

cmd_status() {
    local pids
    pids=$(lab_pids)
    if [ -n "$pids" ] && [ -f "$dir/lab.env" ]; then
        echo "running $(sed -n 's/^PORT=/port=/p' "$dir/lab.env") $(sed -n 's/^HOSTS=/hosts=/p' "$dir/lab.env") pids=$(echo $pids | tr ' ' ',')"
        return 0
    fi
    echo "stopped"
    return 3
}

case $cmd in
    up) shift 2; cmd_up "$@" ;;
    down) stop_lab; echo "stopped" ;;
    status) cmd_status ;;
    *) usage ;;
esac
