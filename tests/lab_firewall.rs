//! Namespace lab tests of the firewall modules (root only; skip with the reason otherwise):
//! `nftables` replaces only its own table on lab1 while Docker runs there, check mode changes
//! nothing, lab2 reaches nginx and lab3 does not, a second run changes nothing, drift is
//! repaired, and an invalid ruleset leaves file and kernel as they were; `ufw` does the same
//! job on lab2 with ufw's own tool.

// The shared harness re-exports the loopback lab, which this test does not use.
#[allow(unused_imports)]
mod support;

use std::path::Path;
use std::time::Instant;

use support::netlab::{NetLab, assert_changed, ok};

/// HTTP status of nginx on `ip` as seen from lab host `from` ("000" when it cannot connect).
fn http_code(lab: &NetLab, from: usize, ip: &str) -> String {
    let cmd = format!("curl -s -o /dev/null -w '%{{http_code}}' --max-time 3 http://{ip}/ || true");
    ok("curl", lab.ssh(from, &cmd)).trim().to_string()
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().expect("has a parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

const RULESET: &str = r#"#!/usr/sbin/nft -f
# {{ ansible_managed | default("managed") }}
table inet filter {
  chain input {
    type filter hook input priority filter; policy drop;
    ct state established,related accept
    iif "lo" accept
    tcp dport 22 accept
    ip saddr {{ web_client }} tcp dport 80 accept
  }
}
"#;

const SETUP: &str = "- hosts: lab1
  gather_facts: false
  tasks:
    - service: name=docker state=started
    - service: name=nginx state=started
";

const SITE: &str = "- hosts: lab1
  gather_facts: false
  vars:
    web_client: 10.213.0.12
  tasks:
    - name: firewall ruleset
      shipshape.nftables:
        src: ruleset.nft.j2
      register: fw
    - name: show what it manages
      debug: var=fw.tables
";

const INVALID: &str = "- hosts: lab1
  gather_facts: false
  tasks:
    - nftables:
        content: |
          table inet filter {
            chain input {
              type filter hook input priority filter; policy drop;
              tcp dport 22 acept
            }
          }
";

const FLUSH: &str = "- hosts: lab1
  gather_facts: false
  tasks:
    - nftables:
        content: |
          flush ruleset
          table inet filter { }
";

/// Tables of lab1 (`table ip nat` lines).
fn tables(lab: &NetLab) -> String {
    ok("nft list tables", lab.ssh(1, "nft list tables"))
}

/// What must not move when a run fails: the file and the rules (counter values aside).
fn snapshot(lab: &NetLab) -> String {
    ok(
        "snapshot",
        lab.ssh(1, "sha256sum /etc/nftables.conf; nft -s list ruleset"),
    )
}

#[test]
fn nftables_replaces_only_its_tables_and_keeps_docker() {
    let started = Instant::now();
    let Some(lab) = NetLab::up(3) else { return };
    let work = tempfile::tempdir().expect("tempdir");
    let w = work.path();
    write(w, "templates/ruleset.nft.j2", RULESET);
    write(w, "setup.yml", SETUP);
    write(w, "site.yml", SITE);
    write(w, "invalid.yml", INVALID);
    write(w, "flush.yml", FLUSH);

    let (stats, out) = lab.converge(w, "setup.yml", &[]);
    assert_changed(&stats, 2, &out);
    // Docker puts its tables in place when it starts; wait for them.
    let docker = ok(
        "docker tables",
        lab.ssh(
            1,
            "for i in $(seq 50); do nft list tables | grep -q 'table ip nat' && break; sleep 0.2; done; nft list tables",
        ),
    );
    assert!(
        docker.contains("table ip nat") && docker.contains("table ip filter"),
        "{docker}"
    );
    assert_eq!(http_code(&lab, 3, "10.213.0.11"), "200");
    let before = snapshot(&lab);

    // Check mode predicts the change and changes nothing.
    let (stats, check) = lab.converge(w, "site.yml", &["--check", "--diff"]);
    assert_changed(&stats, 1, &check);
    assert!(check.contains("delete table inet filter"), "{check}");
    assert_eq!(snapshot(&lab), before, "check mode changed the host");
    assert_eq!(http_code(&lab, 3, "10.213.0.11"), "200");

    // The real run converges; Docker's tables are still there.
    let (stats, first) = lab.converge(w, "site.yml", &[]);
    assert_changed(&stats, 1, &first);
    assert!(first.contains("inet filter"), "{first}");
    let after = tables(&lab);
    for t in ["table ip nat", "table ip filter", "table inet filter"] {
        assert!(after.contains(t), "{t} missing after apply:\n{after}");
    }
    assert_eq!(http_code(&lab, 2, "10.213.0.11"), "200");
    assert_eq!(http_code(&lab, 3, "10.213.0.11"), "000");
    assert_eq!(ok("ssh after apply", lab.ssh(1, "echo up")).trim(), "up");
    let file = ok("file", lab.ssh(1, "cat /etc/nftables.conf"));
    assert!(
        file.contains("ip saddr 10.213.0.12 tcp dport 80 accept") && !file.contains("flush"),
        "{file}"
    );
    // The file alone reloads the same way (what nftables.service does): Docker still there.
    ok("reload", lab.ssh(1, "nft -f /etc/nftables.conf"));
    let rules = ok("rules", lab.ssh(1, "nft list table inet filter"));
    assert_eq!(rules.matches("dport 80").count(), 1, "{rules}");
    assert!(tables(&lab).contains("table ip nat"));

    let (stats, second) = lab.converge(w, "site.yml", &[]);
    assert_changed(&stats, 0, &second);

    // Drift: a rule added by hand is removed by loading the table again.
    ok(
        "hand edit",
        lab.ssh(1, "nft add rule inet filter input tcp dport 80 accept"),
    );
    assert_eq!(http_code(&lab, 3, "10.213.0.11"), "200");
    let (stats, repaired) = lab.converge(w, "site.yml", &[]);
    assert_changed(&stats, 1, &repaired);
    assert!(repaired.contains("live tables differ"), "{repaired}");
    assert_eq!(http_code(&lab, 3, "10.213.0.11"), "000");
    let (stats, again) = lab.converge(w, "site.yml", &[]);
    assert_changed(&stats, 0, &again);

    // An invalid ruleset fails with nft's message and changes nothing.
    let good = snapshot(&lab);
    let out = lab.play(w, "invalid.yml", &[]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("ruleset is invalid") && text.contains("Error") && text.contains("acept"),
        "{text}"
    );
    assert!(text.contains("ruleset line 4:"), "{text}");
    assert_eq!(snapshot(&lab), good, "a failed run changed the host");
    // `flush ruleset` is refused with the reason.
    let out = lab.play(w, "flush.yml", &[]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("flush ruleset") && text.contains("Docker"),
        "{text}"
    );
    assert_eq!(snapshot(&lab), good, "a refused run changed the host");
    assert_eq!(http_code(&lab, 2, "10.213.0.11"), "200");
    eprintln!(
        "nftables lab test: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

const UFW_SETUP: &str = "- hosts: lab2
  gather_facts: false
  tasks:
    - name: ufw installed from the lab mirror
      shell: apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q ufw
      args:
        creates: /usr/sbin/ufw
    - service: name=nginx state=started
";

const UFW_SITE: &str = "- hosts: lab2
  gather_facts: false
  tasks:
    - name: deny incoming by default
      community.general.ufw: default=deny direction=incoming
    - name: ssh from anywhere
      community.general.ufw: rule=allow port=22 proto=tcp
    - name: web from lab3 only
      community.general.ufw:
        rule: allow
        port: 80
        proto: tcp
        from_ip: 10.213.0.13
        comment: web from lab3
    - name: firewall on
      ufw: state=enabled
";

const UFW_BAD: &str = "- hosts: lab2
  gather_facts: false
  tasks:
    - ufw: rule=allow port=99999 proto=tcp
";

#[test]
fn ufw_allows_ssh_everywhere_and_web_from_lab3_only() {
    let started = Instant::now();
    let Some(lab) = NetLab::up(3) else { return };
    let work = tempfile::tempdir().expect("tempdir");
    let w = work.path();
    write(w, "setup.yml", UFW_SETUP);
    write(w, "site.yml", UFW_SITE);
    write(w, "bad.yml", UFW_BAD);
    let (stats, out) = lab.converge(w, "setup.yml", &[]);
    assert_changed(&stats, 2, &out);
    let state = || {
        ok(
            "ufw state",
            lab.ssh(2, "ufw status verbose; ufw show added"),
        )
    };
    let fresh = state();
    assert!(fresh.contains("Status: inactive"), "{fresh}");

    // Check mode: the two rules and the enable are predicted (policy deny is ufw's default).
    let (stats, check) = lab.converge(w, "site.yml", &["--check", "--diff"]);
    assert_changed(&stats, 3, &check);
    assert!(
        check.contains("allow tcp 80 0.0.0.0/0 any 10.213.0.13 in"),
        "{check}"
    );
    assert_eq!(state(), fresh, "check mode changed ufw");

    let (stats, first) = lab.converge(w, "site.yml", &[]);
    assert_changed(&stats, 3, &first);
    let on = state();
    assert!(
        on.contains("Status: active") && on.contains("Default: deny (incoming)"),
        "{on}"
    );
    assert_eq!(http_code(&lab, 3, "10.213.0.12"), "200");
    assert_eq!(http_code(&lab, 1, "10.213.0.12"), "000");
    assert_eq!(ok("ssh", lab.ssh(2, "echo up")).trim(), "up");

    let (stats, second) = lab.converge(w, "site.yml", &[]);
    assert_changed(&stats, 0, &second);

    // A port ufw refuses fails with ufw's message and changes nothing.
    let out = lab.play(w, "bad.yml", &[]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("ufw refused the rule") && text.contains("ERROR"),
        "{text}"
    );
    assert_eq!(state(), on, "a refused rule changed ufw");
    eprintln!("ufw lab test: {:.1} s", started.elapsed().as_secs_f64());
}
