//! Native facts: one POSIX shell command prints `key=value` lines; a pure parser turns them into
//! Ansible's fact names (`ansible_hostname`, `ansible_os_family`, `ansible_default_ipv4`...).

use serde_json::{Map, Value as Json, json};

/// The fact-gathering script: POSIX sh and coreutils, with fallbacks for minimal hosts.
pub const FACTS_SCRIPT: &str = r#"
p() { printf '%s=%s\n' "$1" "$2"; }
p hostname "$(hostname 2>/dev/null || cat /etc/hostname 2>/dev/null || uname -n)"
p nodename "$(uname -n)"
p fqdn "$(hostname -f 2>/dev/null || uname -n)"
if [ -r /etc/os-release ]; then
  ( . /etc/os-release; p os_id "$ID"; p os_version_id "$VERSION_ID"; p os_codename "${VERSION_CODENAME:-}"; p os_name "$NAME"; p os_like "${ID_LIKE:-}"; p os_pretty "${PRETTY_NAME:-}" )
fi
[ -r /etc/debian_version ] && p debian_version "$(cat /etc/debian_version)"
p system "$(uname -s)"
p kernel "$(uname -r)"
p machine "$(uname -m)"
p vcpus "$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null)"
while read -r k v _; do
  case "$k" in MemTotal:) p memtotal_kb "$v";; MemFree:) p memfree_kb "$v";; MemAvailable:) p memavail_kb "$v";; SwapTotal:) p swaptotal_kb "$v";; esac
done < /proc/meminfo 2>/dev/null
p init "$(cat /proc/1/comm 2>/dev/null)"
[ -d /run/systemd/system ] && p systemd yes
if command -v ip >/dev/null 2>&1; then
  r=$(ip -4 route show default 2>/dev/null | head -n 1)
  [ -n "$r" ] && p default_route "$r"
  ip -4 -o addr show scope global 2>/dev/null | while read -r _ dev _ addr _; do p ipv4 "$dev $addr"; done
  ip -6 -o addr show scope global 2>/dev/null | while read -r _ dev _ addr _; do p ipv6 "$dev $addr"; done
else
  for a in $(hostname -I 2>/dev/null); do p ipv4 "? $a"; done
fi
p user_id "$(id -un)"
p user_uid "$(id -u)"
p user_gid "$(id -g)"
p home "$HOME"
p path "$PATH"
p shell "${SHELL:-}"
p epoch "$(date +%s)"
p tz "$(date +%Z)"
for m in apt-get dnf yum zypper apk pacman; do command -v $m >/dev/null 2>&1 && { p pkg "$m"; break; }; done
"#;

fn os_family(id: &str, like: &str) -> &'static str {
    let all = format!("{id} {like}");
    let has = |w: &str| all.split_whitespace().any(|x| x == w);
    if has("debian") || has("ubuntu") {
        "Debian"
    } else if has("rhel") || has("fedora") || has("centos") || has("rocky") || has("almalinux") {
        "RedHat"
    } else if has("suse") || has("opensuse") || has("sles") {
        "Suse"
    } else if has("arch") {
        "Archlinux"
    } else if has("alpine") {
        "Alpine"
    } else {
        "Linux"
    }
}

fn distribution(id: &str) -> String {
    match id {
        "debian" => "Debian".into(),
        "ubuntu" => "Ubuntu".into(),
        "centos" => "CentOS".into(),
        "rhel" => "RedHat".into(),
        "fedora" => "Fedora".into(),
        "rocky" => "Rocky".into(),
        "almalinux" => "AlmaLinux".into(),
        "alpine" => "Alpine".into(),
        "arch" => "Archlinux".into(),
        "opensuse-leap" | "opensuse" => "openSUSE Leap".into(),
        other => {
            let mut c = other.chars();
            match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                None => "Unknown".into(),
            }
        }
    }
}

/// Parses the output of [`FACTS_SCRIPT`] into the `ansible_facts` map (keys without the
/// `ansible_` prefix, as Ansible stores them).
pub fn parse_facts(output: &str) -> Map<String, Json> {
    let mut kv: Vec<(String, String)> = Vec::new();
    for line in output.lines() {
        if let Some((k, v)) = line.split_once('=') {
            kv.push((k.to_string(), v.to_string()));
        }
    }
    let get = |k: &str| {
        kv.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let num = |k: &str| get(k).trim().parse::<u64>().unwrap_or(0);
    let mut f = Map::new();
    let hostname = get("hostname");
    let fqdn = get("fqdn");
    f.insert(
        "hostname".into(),
        json!(hostname.split('.').next().unwrap_or_default()),
    );
    f.insert("nodename".into(), json!(get("nodename")));
    f.insert("fqdn".into(), json!(fqdn));
    f.insert(
        "domain".into(),
        json!(fqdn.split_once('.').map(|(_, d)| d).unwrap_or("")),
    );
    let id = get("os_id");
    let like = get("os_like");
    let mut version = get("os_version_id");
    if id == "debian" {
        let dv = get("debian_version");
        if dv.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            version = dv;
        }
    }
    f.insert("distribution".into(), json!(distribution(&id)));
    f.insert("distribution_version".into(), json!(version));
    f.insert(
        "distribution_major_version".into(),
        json!(version.split('.').next().unwrap_or_default()),
    );
    f.insert("distribution_release".into(), json!(get("os_codename")));
    f.insert("os_family".into(), json!(os_family(&id, &like)));
    f.insert("system".into(), json!(get("system")));
    f.insert("kernel".into(), json!(get("kernel")));
    let machine = get("machine");
    f.insert("machine".into(), json!(machine));
    f.insert("architecture".into(), json!(machine));
    let vcpus = num("vcpus");
    f.insert("processor_vcpus".into(), json!(vcpus));
    f.insert("processor_count".into(), json!(vcpus));
    f.insert("processor_cores".into(), json!(vcpus));
    f.insert("memtotal_mb".into(), json!(num("memtotal_kb") / 1024));
    f.insert("memfree_mb".into(), json!(num("memfree_kb") / 1024));
    f.insert("swaptotal_mb".into(), json!(num("swaptotal_kb") / 1024));
    let service_mgr = if get("systemd") == "yes" {
        "systemd".to_string()
    } else {
        match get("init").as_str() {
            "systemd" => "systemd".into(),
            "openrc-init" | "openrc" => "openrc".into(),
            "" => "sysvinit".into(),
            _ => "sysvinit".into(),
        }
    };
    f.insert("service_mgr".into(), json!(service_mgr));
    let ipv4: Vec<(String, String)> = kv
        .iter()
        .filter(|(k, _)| k == "ipv4")
        .filter_map(|(_, v)| {
            let (dev, cidr) = v.split_once(' ')?;
            Some((dev.to_string(), cidr.split('/').next()?.to_string()))
        })
        .collect();
    let route = get("default_route");
    let route_dev = route
        .split_whitespace()
        .skip_while(|w| *w != "dev")
        .nth(1)
        .map(str::to_string);
    let gateway = route
        .split_whitespace()
        .skip_while(|w| *w != "via")
        .nth(1)
        .map(str::to_string);
    let default = ipv4
        .iter()
        .find(|(dev, _)| Some(dev) == route_dev.as_ref())
        .or_else(|| ipv4.first());
    let mut default_ipv4 = Map::new();
    if let Some((dev, addr)) = default {
        default_ipv4.insert("address".into(), json!(addr));
        default_ipv4.insert("interface".into(), json!(dev));
        if let Some(gw) = gateway {
            default_ipv4.insert("gateway".into(), json!(gw));
        }
    }
    f.insert("default_ipv4".into(), Json::Object(default_ipv4));
    f.insert(
        "all_ipv4_addresses".into(),
        json!(ipv4.iter().map(|(_, a)| a.clone()).collect::<Vec<_>>()),
    );
    let ipv6: Vec<String> = kv
        .iter()
        .filter(|(k, _)| k == "ipv6")
        .filter_map(|(_, v)| Some(v.split_once(' ')?.1.split('/').next()?.to_string()))
        .collect();
    f.insert("all_ipv6_addresses".into(), json!(ipv6));
    f.insert("user_id".into(), json!(get("user_id")));
    f.insert("user_uid".into(), json!(num("user_uid")));
    f.insert("user_gid".into(), json!(num("user_gid")));
    f.insert("user_dir".into(), json!(get("home")));
    f.insert(
        "env".into(),
        json!({"HOME": get("home"), "PATH": get("path"), "SHELL": get("shell")}),
    );
    f.insert(
        "date_time".into(),
        json!({"epoch": get("epoch"), "tz": get("tz")}),
    );
    let pkg = match get("pkg").as_str() {
        "apt-get" => "apt",
        "" => "unknown",
        other => other,
    }
    .to_string();
    f.insert("pkg_mgr".into(), json!(pkg));
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_debian_lab_host() {
        let out = "hostname=h1\nnodename=h1\nfqdn=h1.lab\nos_id=debian\nos_version_id=12\nos_codename=bookworm\nos_name=Debian GNU/Linux\nos_like=\ndebian_version=12.7\nsystem=Linux\nkernel=6.1.0\nmachine=x86_64\nvcpus=2\nmemtotal_kb=2048000\nmemfree_kb=1024000\ninit=init\nipv4=eth0 10.213.0.11/24\nuser_id=root\nuser_uid=0\nhome=/root\npkg=apt-get\n";
        let f = parse_facts(out);
        assert_eq!(f["distribution"], "Debian");
        assert_eq!(f["distribution_version"], "12.7");
        assert_eq!(f["distribution_major_version"], "12");
        assert_eq!(f["distribution_release"], "bookworm");
        assert_eq!(f["os_family"], "Debian");
        assert_eq!(f["default_ipv4"]["address"], "10.213.0.11");
        assert_eq!(f["service_mgr"], "sysvinit");
        assert_eq!(f["memtotal_mb"], 2000);
        assert_eq!(f["domain"], "lab");
        assert_eq!(f["pkg_mgr"], "apt");
    }

    #[test]
    fn script_runs_on_this_machine() {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(FACTS_SCRIPT)
            .output()
            .expect("sh runs");
        let f = parse_facts(&String::from_utf8_lossy(&out.stdout));
        assert!(!f["hostname"].as_str().unwrap_or_default().is_empty());
        assert!(f["processor_vcpus"].as_u64().unwrap_or(0) >= 1);
        assert!(f["memtotal_mb"].as_u64().unwrap_or(0) > 0);
    }
}
