//! Namespace lab test of the `service` module (root only; skips with the reason otherwise):
//! the `shipshape` binary starts and enables nginx from its init script on the lab hosts,
//! check mode predicts it, another lab host gets an answer, and the second run changes nothing.

// The shared harness re-exports the loopback lab, which this test does not use.
#[allow(unused_imports)]
mod support;

use support::netlab::{NetLab, assert_changed, ok};

#[test]
fn service_starts_and_enables_nginx_idempotently() {
    let Some(lab) = NetLab::up(2) else { return };
    let work = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        work.path().join("site.yml"),
        "- hosts: lab\n  gather_facts: false\n  tasks:\n    - name: nginx runs and starts at boot\n      service: name=nginx state=started enabled=yes\n",
    )
    .expect("write playbook");
    let (stats, check) = lab.converge(work.path(), "site.yml", &["--check"]);
    assert_eq!(stats.len(), 2, "{check}");
    assert_changed(&stats, 1, &check);
    let down = ok(
        "curl after check mode",
        lab.ssh(
            2,
            "curl -s -o /dev/null -w '%{http_code}' --max-time 3 http://10.213.0.11/ || true",
        ),
    );
    assert_eq!(down.trim(), "000", "check mode started nginx");

    let (stats, first) = lab.converge(work.path(), "site.yml", &[]);
    assert_changed(&stats, 1, &first);
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

    let (stats, second) = lab.converge(work.path(), "site.yml", &[]);
    assert_changed(&stats, 0, &second);
}
