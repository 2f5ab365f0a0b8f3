//! Namespace lab tests (root only; they skip with the reason otherwise): three Debian hosts
//! from tests/lab/lab.sh answer over ssh as themselves, are isolated from each other, run
//! services from init scripts, and the `shipshape` binary converges a playbook on them.

// The shared harness re-exports the loopback lab, which these tests do not use.
#[allow(unused_imports)]
mod support;

use std::process::Command;

use support::netlab::{NetLab, assert_changed, ok};

#[test]
fn hosts_answer_as_themselves_and_are_isolated() {
    let Some(lab) = NetLab::up(3) else { return };
    for i in 1..=3 {
        let name = ok("ssh hostname", lab.ssh(i, "hostname"));
        assert_eq!(name.trim(), format!("lab{i}"));
    }
    ok(
        "write on lab1",
        lab.ssh(1, "echo only-here > /root/marker && cat /root/marker"),
    );
    let seen = ok(
        "look on lab2",
        lab.ssh(2, "test -e /root/marker && echo present || echo absent"),
    );
    assert_eq!(seen.trim(), "absent");
    // Each host is its own PID namespace with the lab init as PID 1 and no systemd.
    let init = ok(
        "pid 1",
        lab.ssh(
            3,
            "cat /proc/1/comm; test -d /run/systemd/system && echo systemd || true",
        ),
    );
    assert_eq!(init.trim(), "init");
    // Hosts see only the lab network: no default route.
    let routes = ok("routes", lab.ssh(1, "ip -4 route show default"));
    assert_eq!(routes.trim(), "");
    // /etc/hosts lists every lab host.
    let hosts = ok("resolve", lab.ssh(2, "getent hosts lab3"));
    assert!(hosts.starts_with("10.213.0.13"), "{hosts}");
}

#[test]
fn nginx_on_one_host_answers_another() {
    let Some(lab) = NetLab::up(3) else { return };
    // Nothing but sshd starts at boot.
    let before = ok(
        "curl before start",
        lab.ssh(
            2,
            "curl -s -o /dev/null -w '%{http_code}' --max-time 3 http://10.213.0.11/ || true",
        ),
    );
    assert_eq!(before.trim(), "000", "nginx answered before it was started");
    ok("start nginx", lab.ssh(1, "service nginx start"));
    let code = ok(
        "curl from lab2",
        lab.ssh(
            2,
            "curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://10.213.0.11/",
        ),
    );
    assert_eq!(code.trim(), "200");
}

#[test]
fn faults_stop_cut_and_slow_a_host() {
    let Some(lab) = NetLab::up(3) else { return };
    lab.control(&["cut", "lab2"]).expect("cut lab2");
    let out = lab.ssh(2, "true");
    assert!(!out.status.success(), "lab2 answered while cut");
    lab.control(&["uncut", "lab2"]).expect("uncut lab2");
    ok("ssh after uncut", lab.ssh(2, "true"));

    // Latency needs netem, which some kernels lack (then lab.sh says so and exits 3).
    match lab.control(&["slow", "lab3", "300ms"]) {
        Ok(_) => {
            let start = std::time::Instant::now();
            ok("ssh to delayed host", lab.ssh(3, "true"));
            // An ssh session needs several round trips: at least a second at +300 ms each.
            assert!(
                start.elapsed() >= std::time::Duration::from_millis(900),
                "delay had no effect: {:?}",
                start.elapsed()
            );
        }
        Err(e) if e.contains("no netem") => support::netlab::skip(&format!("delay part: {e}")),
        Err(e) => panic!("slow lab3 300ms: {e}"),
    }
    // A bandwidth limit works everywhere: 1 MB at 2 Mbit/s takes 4 s instead of a blink.
    lab.control(&["slow", "lab3", "2mbit"])
        .expect("rate-limit lab3");
    let start = std::time::Instant::now();
    let bytes = ok(
        "bulk read",
        lab.ssh(3, "head -c 1000000 /dev/zero | tr '\\0' x"),
    );
    assert_eq!(bytes.len(), 1_000_000);
    assert!(
        start.elapsed() >= std::time::Duration::from_secs(3),
        "rate limit had no effect: {:?}",
        start.elapsed()
    );
    lab.control(&["slow", "lab3", "off"]).expect("unslow lab3");
    let start = std::time::Instant::now();
    ok(
        "bulk read after off",
        lab.ssh(3, "head -c 1000000 /dev/zero | tr '\\0' x"),
    );
    assert!(start.elapsed() < std::time::Duration::from_secs(3));

    ok("state on lab1", lab.ssh(1, "echo kept > /root/state"));
    let status = || lab.control(&["status"]).expect("status");
    let init_of = |status: &str, host: &str| {
        status
            .lines()
            .find(|l| l.starts_with(&format!("{host} ")))
            .and_then(|l| l.split_whitespace().find(|w| w.starts_with("init=")))
            .map(str::to_string)
            .unwrap_or_else(|| panic!("{host} not in status:\n{status}"))
    };
    let before = status();
    lab.control(&["stop", "lab1"]).expect("stop lab1");
    assert!(
        !lab.ssh(1, "true").status.success(),
        "lab1 answered after stop"
    );
    ok("lab2 unaffected", lab.ssh(2, "hostname"));
    assert_eq!(init_of(&status(), "lab1"), "init=stopped");
    // `up` again restarts only the stopped host, which keeps its files (like a reboot).
    lab.up_again().expect("up again");
    assert_eq!(
        ok("lab1 back", lab.ssh(1, "cat /root/state")).trim(),
        "kept"
    );
    let after = status();
    assert_eq!(init_of(&before, "lab2"), init_of(&after, "lab2"));
    assert_ne!(init_of(&before, "lab1"), init_of(&after, "lab1"));
}

#[test]
fn shipshape_gathers_facts_and_converges_on_the_lab() {
    let Some(lab) = NetLab::up(3) else { return };
    let work = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        work.path().join("site.yml"),
        r#"- hosts: lab
  gather_facts: true
  tasks:
    - name: record facts
      copy:
        dest: /root/facts.txt
        content: "{{ ansible_default_ipv4.address }} {{ ansible_service_mgr }} {{ ansible_hostname }}\n"
        mode: "0644"
"#,
    )
    .expect("write playbook");
    let (stats, first) = lab.converge(work.path(), "site.yml", &[]);
    assert_eq!(stats.len(), 3, "{first}");
    assert_changed(&stats, 1, &first);
    for i in 1..=3 {
        let facts = ok("read facts", lab.ssh(i, "cat /root/facts.txt"));
        assert_eq!(
            facts.trim(),
            format!("{} sysvinit lab{i}", NetLab::ip(i)),
            "facts of lab{i}"
        );
    }
    let (stats, second) = lab.converge(work.path(), "site.yml", &[]);
    assert_changed(&stats, 0, &second);
}

#[test]
fn down_leaves_nothing_behind() {
    let Some(lab) = NetLab::up(3) else { return };
    let dir = lab.dir().to_path_buf();
    lab.down().expect("down");
    let netns = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns");
    let netns = String::from_utf8_lossy(&netns.stdout).into_owned();
    assert!(
        !netns.lines().any(|l| l.starts_with("lab")),
        "namespaces left: {netns}"
    );
    let bridge = Command::new("ip")
        .args(["link", "show", "lab0"])
        .output()
        .expect("ip link");
    assert!(!bridge.status.success(), "bridge lab0 left behind");
    let links = Command::new("ip")
        .args(["-o", "link"])
        .output()
        .expect("ip link");
    assert!(
        !String::from_utf8_lossy(&links.stdout).contains("vlab"),
        "veths left behind"
    );
    let mounts = std::fs::read_to_string("/proc/mounts").expect("mounts");
    assert!(
        !mounts.contains(&*dir.to_string_lossy()),
        "mounts left under {}",
        dir.display()
    );
    // A second down is a no-op that succeeds.
    let again = Command::new(support::netlab::script())
        .arg("down")
        .arg(&dir)
        .output()
        .expect("second down");
    assert!(again.status.success(), "second down failed: {again:?}");
}
