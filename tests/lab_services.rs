//! Namespace lab test of the `service` module (root only; skips with the reason otherwise):
//! the `shipshape` binary starts and enables nginx from its init script on the lab hosts,
//! check mode predicts it, another lab host gets an answer, and the second run changes nothing.

// The shared harness re-exports the loopback lab, which this test does not use.
#[allow(unused_imports)]
mod support;

use std::process::{Command, Output};

use serde_json::Value as Json;
use support::netlab::NetLab;

/// stdout of a successful command, or a panic with everything needed to debug it.
fn ok(what: &str, out: Output) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Recap stats per host from `--output jsonl`.
fn recap(stdout: &str) -> Vec<(String, Json)> {
    let recap = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Json>(l).ok())
        .find(|e| e["event"] == "recap")
        .unwrap_or_else(|| panic!("no recap in output:\n{stdout}"));
    recap["hosts"]
        .as_array()
        .expect("recap hosts array")
        .iter()
        .map(|pair| {
            (
                pair[0].as_str().unwrap_or_default().to_string(),
                pair[1].clone(),
            )
        })
        .collect()
}

#[test]
fn service_starts_and_enables_nginx_idempotently() {
    let Some(lab) = NetLab::up(2) else { return };
    let work = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        work.path().join("site.yml"),
        "- hosts: lab\n  gather_facts: false\n  tasks:\n    - name: nginx runs and starts at boot\n      service: name=nginx state=started enabled=yes\n",
    )
    .expect("write playbook");
    let play = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_shipshape"))
            .args(["playbook", "site.yml", "--output", "jsonl", "-i"])
            .arg(lab.inventory())
            .arg("--known-hosts")
            .arg(lab.known_hosts())
            .args(extra)
            .current_dir(work.path())
            .env("NO_COLOR", "1")
            .output()
            .expect("run shipshape")
    };
    let check = ok("check run", play(&["--check"]));
    let stats = recap(&check);
    assert_eq!(stats.len(), 2, "{check}");
    for (host, s) in &stats {
        assert_eq!(s["changed"], 1, "check mode on {host}: {check}");
    }
    let down = ok(
        "curl after check mode",
        lab.ssh(
            2,
            "curl -s -o /dev/null -w '%{http_code}' --max-time 3 http://10.213.0.11/ || true",
        ),
    );
    assert_eq!(down.trim(), "000", "check mode started nginx");

    let first = ok("first run", play(&[]));
    for (host, s) in recap(&first) {
        assert_eq!(s["changed"], 1, "{host}: {first}");
        assert_eq!(s["failed"].as_u64().unwrap_or(0), 0, "{host}: {first}");
    }
    let code = ok(
        "curl from lab2",
        lab.ssh(
            2,
            "curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://10.213.0.11/",
        ),
    );
    assert_eq!(code.trim(), "200");
    let links = ok("rc links", lab.ssh(1, "ls /etc/rc2.d"));
    assert!(
        links
            .lines()
            .any(|l| l.starts_with('S') && l.ends_with("nginx")),
        "{links}"
    );

    let second = ok("second run", play(&[]));
    for (host, s) in recap(&second) {
        assert_eq!(s["changed"].as_u64().unwrap_or(0), 0, "{host}: {second}");
        assert!(s["ok"].as_u64().unwrap_or(0) >= 1, "{host}: {second}");
    }
}
