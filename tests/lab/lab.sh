#!/bin/bash
# Namespace test lab: N Debian hosts, each its own network/mount/pid/uts/ipc namespace on the
# bridge lab0 (10.213.0.0/24, no route outside this machine), an overlayfs over one cached
# debootstrap rootfs, its own sshd and services started from init scripts (no systemd).
# Needs root. See docs/lab.md.
#
#   lab.sh rootfs                 build the cached rootfs (once)
#   lab.sh up N [DIR]             bring up lab1..labN (idempotent), write inventory + known_hosts
#   lab.sh down [DIR]             tear everything down (idempotent)
#   lab.sh inventory [DIR]        (re)write DIR/inventory.ini and DIR/known_hosts
#   lab.sh status [DIR]           show hosts, namespaces, links
#   lab.sh stop HOST [DIR]        kill the host's init (its whole PID namespace)
#   lab.sh cut HOST | uncut HOST  link down / up
#   lab.sh slow HOST DELAY|RATE|off  tc netem delay (200ms) or tbf rate limit (1mbit)
#
# The lab also has its own Debian mirror, signed with a lab key: http://10.213.0.1:8080/debian
# (every package of the rootfs plus EXTRAS, with their dependencies; the hosts' apt sources point
# at it) and http://10.213.0.1:8080/extras (suite `lab`: test packages shipshape-demo 1.0 and 1.1,
# not configured on the hosts). DIR/www is the web root; tests may drop files in DIR/www/files/.
set -euo pipefail

CACHE=${LAB_CACHE:-/var/cache/shipshape-lab}
ROOTFS=$CACHE/rootfs
DEFAULT_DIR=${LAB_DIR:-/tmp/shipshape-lab}
BRIDGE=lab0
NET=10.213.0
SUITE=bookworm
MIRROR=${LAB_MIRROR:-http://deb.debian.org/debian}
PACKAGES=openssh-server,sudo,iproute2,nftables,iptables,ca-certificates,procps,curl,less,cron,nginx-light,haproxy,mariadb-server,prometheus,prometheus-node-exporter,docker.io
# In the lab mirror but not installed: for apt tests, ufw, the roles of seed 000 (InfluxDB) and
# 001 (Alertmanager), and the busybox of the lab's web
# server and Docker test images.
EXTRAS="hello tree jq ufw busybox-static unzip influxdb influxdb-client prometheus-alertmanager"
# Bumped when the rootfs layout changes without a package change: forces a rebuild.
LAYOUT=3
WEB_PORT=8080
INIT_PATH=/usr/local/lib/shipshape-lab/init
SELF=$(readlink -f "$0")

die() { echo "lab.sh: $*" >&2; exit 1; }
log() { echo "lab.sh: $*" >&2; }
need_root() { [ "$(id -u)" = 0 ] || die "must run as root"; }

host_index() { # lab7 -> 7
    [[ $1 =~ ^lab([0-9]+)$ ]] || die "not a lab host name: $1"
    echo "${BASH_REMATCH[1]}"
}
host_ip() { echo "$NET.$((10 + $1))"; }

# ---------------------------------------------------------------------------------------------
# rootfs

# What the cached rootfs was built from: a different stamp means a rebuild.
stamp() { echo "packages=$PACKAGES extras=$EXTRAS layout=$LAYOUT"; }

rootfs_current() { [ -f "$ROOTFS/.lab-ready" ] && grep -qxF "$(stamp)" "$ROOTFS/.lab-ready"; }

need_tool() { # need_tool COMMAND PACKAGE
    command -v "$1" >/dev/null && return 0
    log "installing $2"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >&2 \
        || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >&2; } \
        || die "cannot install $2"
}

cmd_rootfs() {
    need_root
    rootfs_current && return 0
    mkdir -p "$CACHE/debs"
    exec 9>"$CACHE/.rootfs.lock"
    flock 9
    rootfs_current && return 0
    need_tool debootstrap debootstrap
    need_tool apt-ftparchive apt-utils
    need_tool gpg gpg
    local tmp=$CACHE/rootfs.tmp start=$SECONDS
    rm -rf "$tmp"
    log "debootstrap $SUITE into $tmp (about 6 min cold)"
    debootstrap --variant=minbase --cache-dir="$CACHE/debs" --include="$PACKAGES" \
        "$SUITE" "$tmp" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
        || die "debootstrap failed, see $CACHE/debootstrap.log: $(tail -n 3 "$CACHE/debootstrap.log" | tr '\n' ' ')"
    build_mirror "$tmp"
    postprocess_rootfs "$tmp"
    stamp >"$tmp/.lab-ready"
    echo "built $(date -u +%FT%TZ) in $((SECONDS - start)) s" >>"$tmp/.lab-ready"
    # Callers hold the netlab lock: no lab host has the old rootfs as its lower layer now.
    rm -rf "$ROOTFS"
    mv "$tmp" "$ROOTFS"
    exec 9>&-
    log "rootfs ready in $((SECONDS - start)) s"
}

# The lab's Debian mirror in $CACHE/www: the rootfs packages plus EXTRAS and their dependencies
# (downloaded by the new rootfs' own apt, so the closure is exact), and the extras suite; both
# signed with the lab archive key, whose public half goes into the rootfs.
build_mirror() {
    local r=$1 www=$CACHE/www gnupg=$CACHE/gnupg
    rm -rf "$www" "$CACHE/mirror.tmp"
    mkdir -p "$www/debian/pool/main" "$www/extras/pool/main" "$CACHE/bin"
    [ -s "$r/etc/resolv.conf" ] || cp /etc/resolv.conf "$r/etc/resolv.conf"
    chroot "$r" apt-get update -q >>"$CACHE/debootstrap.log" 2>&1 \
        && chroot "$r" apt-get install -d -y -q --no-install-recommends $EXTRAS >>"$CACHE/debootstrap.log" 2>&1 \
        || die "cannot download the mirror's extra packages, see $CACHE/debootstrap.log"
    local f
    for f in "$CACHE"/debs/*.deb "$r"/var/cache/apt/archives/*.deb; do
        [ -e "$www/debian/pool/main/${f##*/}" ] || cp "$f" "$www/debian/pool/main/"
    done
    # busybox: the lab's web server, and the root of the Docker test images.
    local bb=$CACHE/mirror.tmp/busybox
    mkdir -p "$bb"
    dpkg-deb -x "$(ls "$www"/debian/pool/main/busybox-static_*.deb | head -n 1)" "$bb"
    install -m 755 "$bb/bin/busybox" "$CACHE/bin/busybox"
    # shipshape-demo 1.0 and 1.1: a package whose upgrade tests can watch.
    local v d
    for v in 1.0 1.1; do
        d=$CACHE/mirror.tmp/demo-$v
        mkdir -p "$d/DEBIAN" "$d/usr/share/shipshape-demo"
        echo "$v" >"$d/usr/share/shipshape-demo/version"
        cat >"$d/DEBIAN/control" <<EOT
Package: shipshape-demo
Version: $v
Architecture: all
Maintainer: shipshape lab <lab@localhost>
Section: misc
Priority: optional
Description: shipshape lab test package
 Installs /usr/share/shipshape-demo/version.
EOT
        dpkg-deb --root-owner-group --build "$d" "$www/extras/pool/main/shipshape-demo_${v}_all.deb" >/dev/null
    done
    rm -rf "$CACHE/mirror.tmp"
    if [ ! -f "$gnupg/.ready" ]; then
        rm -rf "$gnupg"
        install -d -m 700 "$gnupg"
        gpg --homedir "$gnupg" --batch --passphrase '' --quick-gen-key \
            'shipshape lab archive <lab@localhost>' ed25519 sign never >/dev/null 2>&1 \
            || die "cannot generate the lab archive key"
        touch "$gnupg/.ready"
    fi
    gpg --homedir "$gnupg" --export >"$www/lab-archive-keyring.gpg"
    gpg --homedir "$gnupg" --armor --export >"$www/lab-archive-keyring.asc"
    index_suite "$www/debian" bookworm
    index_suite "$www/extras" lab
    install -D -m 644 "$www/lab-archive-keyring.gpg" "$r/usr/share/keyrings/lab-archive-keyring.gpg"
    rm -f "$r/etc/apt/sources.list"
    cat >"$r/etc/apt/sources.list.d/debian.sources" <<EOT
Types: deb
URIs: http://$NET.1:$WEB_PORT/debian
Suites: $SUITE
Components: main
Signed-By: /usr/share/keyrings/lab-archive-keyring.gpg
EOT
}

index_suite() { # index_suite REPO SUITE: Packages, Release, InRelease, Release.gpg
    local repo=$1 suite=$2 d=$1/dists/$2
    mkdir -p "$d/main/binary-amd64"
    (cd "$repo" && apt-ftparchive packages pool/main) >"$d/main/binary-amd64/Packages"
    gzip -9kf "$d/main/binary-amd64/Packages"
    apt-ftparchive -o APT::FTPArchive::Release::Suite="$suite" \
        -o APT::FTPArchive::Release::Codename="$suite" \
        -o APT::FTPArchive::Release::Components=main \
        -o APT::FTPArchive::Release::Architectures="amd64 all" \
        release "$d" >"$d/Release.tmp"
    mv "$d/Release.tmp" "$d/Release"
    gpg --homedir "$CACHE/gnupg" --batch --yes --clearsign -o "$d/InRelease" "$d/Release"
    gpg --homedir "$CACHE/gnupg" --batch --yes -abs -o "$d/Release.gpg" "$d/Release"
}

postprocess_rootfs() {
    local r=$1 s name
    # Only ssh starts at boot; every other service is started by the tests or the modules.
    # `remove`, not `disable`: a later `update-rc.d X defaults` is a no-op while K-links exist.
    for s in "$r"/etc/init.d/*; do
        name=${s##*/}
        case $name in ssh | README | rc | rcS | skeleton) continue ;; esac
        chroot "$r" update-rc.d -f "$name" remove >/dev/null 2>&1 || true
    done
    chroot "$r" update-rc.d ssh defaults >/dev/null 2>&1 || true
    ls "$r"/etc/rc2.d/S*ssh >/dev/null 2>&1 || die "rootfs: no rc2.d link for ssh"
    rm -f "$r"/etc/ssh/ssh_host_*
    mkdir -p "$r/etc/ssh/sshd_config.d"
    cat >"$r/etc/ssh/sshd_config.d/lab.conf" <<'EOF'
# shipshape lab: own host key per host, key-only root login, no DNS lookups.
HostKey /etc/ssh/ssh_host_ed25519_key
UseDNS no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
MaxStartups 100:30:200
MaxSessions 100
EOF
    # The machine caps open files at its hard limit, below what some init scripts ask for
    # (docker: 1048576, prometheus: 32768); take the hard limit instead of failing to start.
    sed -i -E 's/^([[:space:]]*)ulimit -n ([0-9]+)[[:space:]]*$/\1ulimit -n \2 2>\/dev\/null || ulimit -n "$(ulimit -Hn)"/' \
        "$r/etc/init.d/docker" "$r/etc/init.d/prometheus"
    sed -i -E 's/^([[:space:]]*ulimit -[up] unlimited)[[:space:]]*$/\1 2>\/dev\/null || true/' "$r/etc/init.d/docker"
    : >"$r/etc/machine-id"
    rm -f "$r/var/lib/dbus/machine-id" "$r/usr/sbin/policy-rc.d"
    mkdir -p "$r${INIT_PATH%/*}"
    write_init >"$r$INIT_PATH"
    chmod 755 "$r$INIT_PATH"
    # Nothing resolves in the lab: keep apt and friends from waiting on the machine's resolvers.
    : >"$r/etc/resolv.conf"
    rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/lib/apt/lists/*_Packages
}

# PID 1 of every host. Named `init` so that /proc/1/comm says init.
write_init() {
    cat <<'EOF'
#!/bin/bash
# shipshape lab init: start the rc2.d services, reap orphans, stop everything on SIGTERM.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mkdir -p /run/lock /run/sshd
chmod 1777 /run/lock
chmod 755 /run/sshd
: >/run/utmp
shutdown() {
    trap '' TERM INT
    kill -TERM -1 2>/dev/null
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        kill -0 -1 2>/dev/null || exit 0
        sleep 0.2
    done
    kill -KILL -1 2>/dev/null
    exit 0
}
trap shutdown TERM INT
for s in /etc/rc2.d/S*; do
    [ -x "$s" ] && "$s" start </dev/null
done
echo "lab init: up"
# `wait` reaps every child, adopted orphans included.
while :; do
    sleep 3600 &
    wait
done
EOF
}

# ---------------------------------------------------------------------------------------------
# hosts

ensure_client_key() {
    local dir=$1
    [ -f "$dir/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C shipshape-lab -f "$dir/id_ed25519"
}

ensure_host_key() {
    local h=$1 kd=$CACHE/hostkeys/$1
    mkdir -p "$kd"
    [ -f "$kd/ssh_host_ed25519_key" ] \
        || ssh-keygen -q -t ed25519 -N '' -C "root@$h" -f "$kd/ssh_host_ed25519_key"
}

ensure_bridge() {
    if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
        ip link add "$BRIDGE" type bridge
        echo 1 >"/proc/sys/net/ipv6/conf/$BRIDGE/disable_ipv6" 2>/dev/null || true
    fi
    ip -4 -o addr show dev "$BRIDGE" | grep "inet $NET.1/24" >/dev/null || ip addr add "$NET.1/24" dev "$BRIDGE"
    ip link set "$BRIDGE" up
}

ensure_netns() {
    local i=$1 h=lab$1 v=vlab$1
    [ -e "/run/netns/$h" ] || ip netns add "$h"
    if ! ip link show "$v" >/dev/null 2>&1; then
        ip netns exec "$h" ip link del eth0 2>/dev/null || true
        ip link add "$v" type veth peer name eth0 netns "$h"
        echo 1 >"/proc/sys/net/ipv6/conf/$v/disable_ipv6" 2>/dev/null || true
    fi
    ip link set "$v" master "$BRIDGE"
    ip link set "$v" up
    ip netns exec "$h" sh -c "
        echo 1 >/proc/sys/net/ipv6/conf/eth0/disable_ipv6 2>/dev/null || true
        ip link set lo up
        ip -4 -o addr show dev eth0 | grep 'inet $(host_ip "$i")/24' >/dev/null || ip addr add $(host_ip "$i")/24 dev eth0
        ip link set eth0 up"
}

init_pid() { # the host's PID 1, as seen from the root namespace ('' when not running)
    local h=$1 p
    for p in $(ip netns pids "$h" 2>/dev/null); do
        if [ "$(cat "/proc/$p/comm" 2>/dev/null)" = init ] \
            && grep -q "^NSpid:.*[[:space:]]1$" "/proc/$p/status" 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
}

# Closes every descriptor but 0-2 (and bash's own script fd): long-lived host processes must not
# hold the caller's pipes (cargo's jobserver, a test harness waiting for EOF...).
close_fds() {
    local fd
    for fd in $(ls "/proc/$BASHPID/fd"); do
        case $fd in 0 | 1 | 2 | 255) ;; *) eval "exec $fd>&-" 2>/dev/null || true ;; esac
    done
}

start_host() {
    local i=$1 dir=$2 n=$3 h=lab$1 hd=$2/hosts/lab$1
    [ -n "$(init_pid "$h")" ] && return 0
    mkdir -p "$hd"
    rm -rf "$hd/work" "$hd/merged"
    mkdir -p "$hd/upper" "$hd/work" "$hd/merged"
    (
        close_fds
        exec setsid ip netns exec "$h" unshare --mount --pid --uts --ipc --fork --propagation private -- \
            "$SELF" __stage "$h" "$dir" "$n"
    ) </dev/null >"$hd/console.log" 2>&1 &
    echo $! >"$hd/unshare.pid"
}

wait_sshd() {
    local i=$1 dir=$2 h=lab$1 t
    for t in $(seq 1 200); do
        if timeout 1 bash -c "exec 3<>/dev/tcp/$(host_ip "$i")/22" 2>/dev/null; then
            return 0
        fi
        if [ "$t" -gt 10 ] && [ -z "$(init_pid "$h")" ]; then
            die "$h died while starting: $(tail -n 5 "$dir/hosts/$h/console.log" 2>/dev/null | tr '\n' ' ')"
        fi
        sleep 0.1
    done
    die "$h: sshd not listening after 20 s: $(tail -n 5 "$dir/hosts/$h/console.log" 2>/dev/null | tr '\n' ' ')"
}

# Runs inside the new namespaces as their PID 1, then execs the host's init.
cmd_stage() {
    local h=$1 dir=$2 n=$3 hd=$2/hosts/$1 m=$2/hosts/$1/merged j
    hostname "$h"
    mount -t overlay overlay -o "lowerdir=$ROOTFS,upperdir=$hd/upper,workdir=$hd/work" "$m"
    echo "$h" >"$m/etc/hostname"
    {
        echo "127.0.0.1 localhost"
        echo "127.0.1.1 $h"
        echo "::1 localhost ip6-localhost ip6-loopback"
        for j in $(seq 1 "$n"); do echo "$(host_ip "$j") lab$j"; done
        echo "$NET.1 labgw"
    } >"$m/etc/hosts"
    # Init scripts of packages installed later (influxdb...) get the same open-files edit as
    # the rootfs' own: apt runs it after every dpkg run.
    mkdir -p "$m/usr/local/lib/shipshape-lab"
    cat >"$m/usr/local/lib/shipshape-lab/fix-ulimits" <<'EOT'
#!/bin/sh
# shipshape lab: the machine caps open files below what some init scripts ask for.
# `ulimit -n 65536` or `ulimit -n $LIMIT` alone on a line: fall back to the hard limit.
for f in $(grep -lE '^[[:space:]]*ulimit -n [$0-9A-Za-z_{}]+[[:space:]]*$' /etc/init.d/* 2>/dev/null); do
    sed -i -E 's/^([[:space:]]*)ulimit -n ([$0-9A-Za-z_{}]+)[[:space:]]*$/\1ulimit -n \2 2>\/dev\/null || ulimit -n "$(ulimit -Hn)"/' "$f"
done 2>/dev/null
exit 0
EOT
    chmod 755 "$m/usr/local/lib/shipshape-lab/fix-ulimits"
    echo 'DPkg::Post-Invoke { "/usr/local/lib/shipshape-lab/fix-ulimits"; };' \
        >"$m/etc/apt/apt.conf.d/99shipshape-lab-ulimit"
    # sshd ends sessions whose client stopped answering (a controller killed while its last
    # packets were dropped), as production servers are usually configured to: their
    # processes then get EOF/SIGHUP and clean up.
    printf 'ClientAliveInterval 2\nClientAliveCountMax 3\n' >"$m/etc/ssh/sshd_config.d/lab-alive.conf"
    install -d -m 700 "$m/root/.ssh"
    install -m 600 "$dir/id_ed25519.pub" "$m/root/.ssh/authorized_keys"
    install -m 600 "$CACHE/hostkeys/$h/ssh_host_ed25519_key" "$m/etc/ssh/ssh_host_ed25519_key"
    install -m 644 "$CACHE/hostkeys/$h/ssh_host_ed25519_key.pub" "$m/etc/ssh/ssh_host_ed25519_key.pub"
    # /proc of the new PID namespace, inside the new root only (not --mount-proc: that would
    # cover the machine's /proc). /proc/sys read-only except net.* (the rest is machine-wide).
    mount -t proc -o nosuid,nodev,noexec proc "$m/proc"
    mount --bind "$m/proc/sys" "$m/proc/sys"
    mount --bind "$m/proc/sys/net" "$m/proc/sys/net"
    mount -o remount,bind,ro "$m/proc/sys"
    # sysfs of this network namespace, read-only.
    mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$m/sys"
    mount_cgroups "$m"
    mount -t tmpfs -o nosuid,mode=755,size=65536k tmpfs "$m/dev"
    mknod -m 666 "$m/dev/null" c 1 3
    mknod -m 666 "$m/dev/zero" c 1 5
    mknod -m 666 "$m/dev/full" c 1 7
    mknod -m 666 "$m/dev/random" c 1 8
    mknod -m 666 "$m/dev/urandom" c 1 9
    mknod -m 666 "$m/dev/tty" c 5 0
    mkdir -p "$m/dev/net" "$m/dev/pts" "$m/dev/shm" "$m/dev/mqueue"
    mknod -m 666 "$m/dev/net/tun" c 10 200
    mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5,nosuid,noexec devpts "$m/dev/pts"
    ln -s pts/ptmx "$m/dev/ptmx"
    mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs "$m/dev/shm"
    mount -t mqueue -o nosuid,nodev,noexec mqueue "$m/dev/mqueue"
    ln -s /proc/self/fd "$m/dev/fd"
    ln -s /proc/self/fd/0 "$m/dev/stdin"
    ln -s /proc/self/fd/1 "$m/dev/stdout"
    ln -s /proc/self/fd/2 "$m/dev/stderr"
    mount -t tmpfs -o nosuid,nodev,mode=755 tmpfs "$m/run"
    # pivot_root, not chroot: the machine's mounts become unreachable.
    cd "$m"
    pivot_root . .
    umount -l .
    cd /
    close_fds
    exec env -i TERM=linux PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        setpriv --bounding-set -sys_module,-sys_time,-sys_boot -- "$INIT_PATH"
}

# The machine's cgroup hierarchies under the host's /sys/fs/cgroup, as Docker needs them (v1
# controllers or the v2 unified tree, whichever the machine has).
mount_cgroups() {
    local m=$1 src dst type opts rest sub o ctl
    mount -t tmpfs -o nosuid,nodev,noexec,mode=755 cgroup "$m/sys/fs/cgroup" || return 0
    while read -r src dst type opts rest; do
        case $type in cgroup | cgroup2) ;; *) continue ;; esac
        case $dst in /sys/fs/cgroup | /sys/fs/cgroup/*) ;; *) continue ;; esac
        sub=${dst#/sys/fs/cgroup}
        mkdir -p "$m/sys/fs/cgroup$sub"
        if [ "$type" = cgroup2 ]; then
            mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$m/sys/fs/cgroup$sub" || true
        else
            ctl=
            for o in ${opts//,/ }; do
                case $o in rw | ro | relatime | noatime | nosuid | nodev | noexec | seclabel) ;; *) ctl=${ctl:+$ctl,}$o ;; esac
            done
            mount -t cgroup -o "nosuid,nodev,noexec,$ctl" cgroup "$m/sys/fs/cgroup$sub" || true
        fi
    done </proc/self/mounts
}

# The lab's web server on the bridge address: busybox httpd serving DIR/www (the mirror, the
# archive key, and DIR/www/files for tests).
ensure_web() {
    local dir=$1 www=$1/www
    mkdir -p "$www/files"
    ln -sfn "$CACHE/www/debian" "$www/debian"
    ln -sfn "$CACHE/www/extras" "$www/extras"
    ln -sf "$CACHE/www/lab-archive-keyring.gpg" "$www/lab-archive-keyring.gpg"
    ln -sf "$CACHE/www/lab-archive-keyring.asc" "$www/lab-archive-keyring.asc"
    local pid
    pid=$(cat "$dir/web.pid" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then return 0; fi
    (
        close_fds
        exec setsid "$CACHE/bin/busybox" httpd -f -p "$NET.1:$WEB_PORT" -h "$www"
    ) </dev/null >"$dir/web.log" 2>&1 &
    echo $! >"$dir/web.pid"
    local t
    for t in $(seq 1 50); do
        timeout 1 bash -c "exec 3<>/dev/tcp/$NET.1/$WEB_PORT" 2>/dev/null && return 0
        sleep 0.1
    done
    die "lab web server not listening on $NET.1:$WEB_PORT: $(cat "$dir/web.log")"
}

cmd_up() {
    need_root
    local n=${1:-}
    local dir=${2:-$DEFAULT_DIR}
    [[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 200 ] || die "usage: up N [DIR] (1 <= N <= 200)"
    cmd_rootfs
    mkdir -p "$dir/hosts"
    dir=$(cd "$dir" && pwd)
    local old
    old=$(cat "$dir/count" 2>/dev/null || echo 0)
    [ "$old" -gt "$n" ] && n=$old
    echo "$n" >"$dir/count"
    ensure_client_key "$dir"
    ensure_bridge
    local i
    for i in $(seq 1 "$n"); do
        ensure_host_key "lab$i"
        ensure_netns "$i"
        start_host "$i" "$dir" "$n"
    done
    ensure_web "$dir"
    for i in $(seq 1 "$n"); do wait_sshd "$i" "$dir"; done
    cmd_inventory "$dir"
    log "up: $n hosts, inventory $dir/inventory.ini"
}

cmd_inventory() {
    local dir=${1:-$DEFAULT_DIR} n i
    n=$(cat "$dir/count" 2>/dev/null) || die "no lab in $dir"
    {
        echo "[lab]"
        for i in $(seq 1 "$n"); do
            echo "lab$i ansible_host=$(host_ip "$i") ansible_user=root ansible_ssh_private_key_file=$dir/id_ed25519"
        done
    } >"$dir/inventory.ini"
    for i in $(seq 1 "$n"); do
        echo "$(host_ip "$i") $(cut -d' ' -f1,2 "$CACHE/hostkeys/lab$i/ssh_host_ed25519_key.pub")"
    done >"$dir/known_hosts"
}

lab_namespaces() { ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^lab[0-9]+$' | sort -V || true; }

cmd_down() {
    need_root
    local dir=${1:-$DEFAULT_DIR} h p pids left t
    [ -d "$dir" ] && dir=$(cd "$dir" && pwd)
    # SIGTERM to every host's init first (they stop their services in parallel), then SIGKILL.
    for h in $(lab_namespaces); do
        p=$(init_pid "$h")
        [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true
    done
    for t in $(seq 1 50); do
        left=
        for h in $(lab_namespaces); do
            [ -n "$(ip netns pids "$h" 2>/dev/null)" ] && left=1
        done
        [ -z "$left" ] && break
        [ "$t" = 30 ] && for h in $(lab_namespaces); do
            pids=$(ip netns pids "$h" 2>/dev/null || true)
            [ -n "$pids" ] && kill -KILL $pids 2>/dev/null || true
        done
        sleep 0.1
    done
    for h in $(lab_namespaces); do
        pids=$(ip netns pids "$h" 2>/dev/null || true)
        [ -n "$pids" ] && die "processes still in $h: $pids"
        ip netns del "$h"
    done
    for p in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -E '^vlab[0-9]+$' || true); do
        ip link del "$p" 2>/dev/null || true
    done
    if [ -f "$dir/web.pid" ]; then
        kill "$(cat "$dir/web.pid")" 2>/dev/null || true
        rm -f "$dir/web.pid"
    fi
    ip link show "$BRIDGE" >/dev/null 2>&1 && ip link del "$BRIDGE"
    # Host state is thrown away (keys are kept in the cache, the client key in DIR).
    if [ -d "$dir/hosts" ]; then
        grep -q " $dir/hosts/" /proc/mounts && die "mounts left under $dir/hosts"
        rm -rf "$dir/hosts"
    fi
    rm -rf "$dir/count" "$dir/inventory.ini" "$dir/known_hosts" "$dir/www" "$dir/web.log"
    return 0
}

cmd_status() {
    local dir=${1:-$DEFAULT_DIR} h p state
    ip -br addr show "$BRIDGE" 2>/dev/null || echo "bridge $BRIDGE: absent"
    for h in $(lab_namespaces); do
        p=$(init_pid "$h")
        state=$(ip -br link show "v$h" 2>/dev/null | awk '{print $2}')
        echo "$h ip=$(host_ip "$(host_index "$h")") init=${p:-stopped} link=${state:-absent}"
    done
    [ -f "$ROOTFS/.lab-ready" ] && echo "rootfs: $ROOTFS ($(cat "$ROOTFS/.lab-ready"))" || echo "rootfs: not built"
}

cmd_stop() {
    need_root
    local h=${1:?usage: stop HOST} p t
    host_index "$h" >/dev/null
    p=$(init_pid "$h")
    [ -z "$p" ] && return 0
    kill -TERM "$p" 2>/dev/null || true
    for t in $(seq 1 30); do
        [ -d "/proc/$p" ] || return 0
        sleep 0.1
    done
    kill -KILL "$p" 2>/dev/null || true
}

cmd_link() {
    need_root
    local h=${1:?usage: cut|uncut HOST} state=$2
    host_index "$h" >/dev/null
    ip link set "v$h" "$state"
}

cmd_slow() {
    need_root
    local h=${1:?usage: slow HOST DELAY|RATE|off} d=${2:?usage: slow HOST DELAY|RATE|off} err
    host_index "$h" >/dev/null
    if ! command -v tc >/dev/null; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q iproute2 >&2 || die "cannot install tc"
    fi
    # Both ends of the link: the bridge side shapes traffic to the host, eth0 traffic from it.
    tc qdisc del dev "v$h" root 2>/dev/null || true
    ip netns exec "$h" tc qdisc del dev eth0 root 2>/dev/null || true
    case $d in
        off | 0) ;;
        *bit | *bps)
            # Bandwidth limit (token bucket): works on kernels without netem.
            tc qdisc add dev "v$h" root tbf rate "$d" burst 16kb latency 2s
            ip netns exec "$h" tc qdisc add dev eth0 root tbf rate "$d" burst 16kb latency 2s
            ;;
        *)
            # Latency: DELAY added to every packet to the host (tc netem).
            if ! err=$(tc qdisc add dev "v$h" root netem delay "$d" 2>&1); then
                if zgrep -q '^# CONFIG_NET_SCH_NETEM is not set' /proc/config.gz 2>/dev/null \
                    || [[ $err == *"qdisc kind is unknown"* ]]; then
                    echo "lab.sh: this kernel has no netem (CONFIG_NET_SCH_NETEM), cannot add delay; use a rate instead: slow $h 1mbit" >&2
                    exit 3
                fi
                die "tc netem: $err"
            fi
            ;;
    esac
}

main() {
    # One lab.sh changing the lab at a time (fd 8 is closed for the hosts' processes).
    case ${1:-} in
        up | down | stop | cut | uncut | slow)
            need_root
            exec 8>/run/shipshape-lab.sh.lock
            flock 8
            ;;
    esac

    case ${1:-} in
        rootfs) cmd_rootfs ;;
        up) shift; cmd_up "$@" ;;
        down) shift; cmd_down "$@" ;;
        inventory) shift; need_root; cmd_inventory "$@" ;;
        status) shift; cmd_status "$@" ;;
        stop) shift; cmd_stop "$@" ;;
        cut) cmd_link "${2:-}" down ;;
        uncut) cmd_link "${2:-}" up ;;
        slow) shift; cmd_slow "$@" ;;
        __stage) shift; cmd_stage "$@" ;;
        *) sed -n '2,15s/^# \{0,1\}//p' "$SELF" >&2; exit 2 ;;
    esac
}

# On one line: bash has read it whole before running it, so editing this file mid-run is safe.
main "$@"; exit
