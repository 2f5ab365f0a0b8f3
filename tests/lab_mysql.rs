//! Namespace lab test of the MySQL modules (root only; skips with the reason otherwise):
//! MariaDB on three hosts, a database and a user for lab2 on lab1 checked from lab2 and lab3,
//! a password change, GTID replication lab1 -> lab2, idempotent second runs, a malformed
//! `priv` that fails before changing anything, and no password in the JSON output.

// The shared harness re-exports the loopback lab, which this test does not use.
#[allow(unused_imports)]
mod support;

use std::time::{Duration, Instant};

use support::netlab::{NetLab, Recap, assert_changed, ok};

const OLD_PW: &str = "Old-Secret-4711";
const NEW_PW: &str = "New-Secret-0815";
const REPL_PW: &str = "Repl-Secret-7";

const SITE: &str = r#"- hosts: lab
  gather_facts: false
  handlers:
    - name: restart mariadb
      service: name=mariadb state=restarted
  tasks:
    - name: mariadb listens on the bridge and writes a binlog
      copy:
        dest: /etc/mysql/mariadb.conf.d/60-lab.cnf
        content: "[mysqld]\nbind-address = 0.0.0.0\nserver_id = {{ inventory_hostname | replace('lab', '') }}\nlog_bin = mysql-bin\n"
      notify: restart mariadb
    - name: mariadb runs
      service: name=mariadb state=started
    - meta: flush_handlers

- hosts: lab1
  gather_facts: false
  tasks:
    - name: app database
      community.mysql.mysql_db: name=app
    - name: app user for lab2
      community.mysql.mysql_user:
        name: app
        host: 10.213.0.12
        password: "{{ app_pw }}"
        priv: "app.*:ALL"
    - name: replication user for lab2
      community.mysql.mysql_user:
        name: repl
        host: 10.213.0.12
        password: "REPL_PW"
        priv: "*.*:REPLICATION SLAVE"
    - name: primary status
      community.mysql.mysql_replication: mode=getprimary
      register: primary

- hosts: lab2
  gather_facts: false
  tasks:
    - name: lab2 replicates lab1
      community.mysql.mysql_replication:
        mode: changemaster
        primary_host: 10.213.0.11
        primary_user: repl
        primary_password: "REPL_PW"
        primary_use_gtid: slave_pos
    - name: replication runs
      community.mysql.mysql_replication: mode=startreplica
"#;

const BAD: &str = r#"- hosts: lab1
  gather_facts: false
  tasks:
    - name: malformed priv
      community.mysql.mysql_user:
        name: bad
        host: "%"
        password: "Bad-Secret-1"
        priv: "app.*ALL"
"#;

fn changed(stats: &Recap) -> Vec<u64> {
    stats
        .iter()
        .map(|(_, s)| s["changed"].as_u64().unwrap_or(0))
        .collect()
}

fn no_failures(stats: &Recap, out: &str) {
    for (host, s) in stats {
        assert_eq!(s["failed"].as_u64().unwrap_or(0), 0, "{host}:\n{out}");
        assert_eq!(s["unreachable"].as_u64().unwrap_or(0), 0, "{host}:\n{out}");
    }
}

fn app_login(lab: &NetLab, from: usize, pw: &str) -> std::process::Output {
    lab.ssh(
        from,
        &format!("mysql -h 10.213.0.11 --connect-timeout=5 -u app -p{pw} app -N -e 'select 1'"),
    )
}

#[test]
fn mysql_db_user_and_replication_converge() {
    let Some(lab) = NetLab::up(3) else { return };
    let started = Instant::now();
    let work = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        work.path().join("site.yml"),
        SITE.replace("REPL_PW", REPL_PW),
    )
    .expect("write playbook");
    std::fs::write(work.path().join("bad.yml"), BAD).expect("write playbook");
    let old = format!("app_pw={OLD_PW}");
    let new = format!("app_pw={NEW_PW}");
    let mut outputs = String::new();

    // Check mode predicts changes everywhere and changes nothing.
    let (stats, check) = lab.converge(work.path(), "site.yml", &["--check", "-e", &old]);
    no_failures(&stats, &check);
    assert!(changed(&stats).iter().all(|c| *c > 0), "{check}");
    outputs.push_str(&check);
    let cfg = lab.ssh(
        1,
        "test -e /etc/mysql/mariadb.conf.d/60-lab.cnf || pgrep -x mariadbd",
    );
    assert!(!cfg.status.success(), "check mode changed lab1");

    // Real run.
    let t = Instant::now();
    let (stats, first) = lab.converge(work.path(), "site.yml", &["-e", &old]);
    eprintln!("first run: {:?}", t.elapsed());
    no_failures(&stats, &first);
    assert_eq!(
        changed(&stats)[2],
        3,
        "lab3: config, start, restart\n{first}"
    );
    outputs.push_str(&first);
    assert!(first.contains("\"Is_Primary\":true"), "{first}");
    assert!(first.contains("\"File\":\"mysql-bin.0000"), "{first}");

    // From outside: lab2 gets in, lab3 is refused.
    ok("app login from lab2", app_login(&lab, 2, OLD_PW));
    let refused = app_login(&lab, 3, OLD_PW);
    assert!(!refused.status.success(), "lab3 got in");
    let grants = ok(
        "grants on lab1",
        lab.ssh(1, "mysql -N -e \"SHOW GRANTS FOR 'app'@'10.213.0.12'\""),
    );
    assert!(
        grants.contains("GRANT ALL PRIVILEGES ON `app`.*"),
        "{grants}"
    );

    // Replication: a row written on lab1 appears on lab2.
    ok(
        "write on lab1",
        lab.ssh(
            1,
            "mysql -e 'CREATE TABLE app.t (id INT PRIMARY KEY); INSERT INTO app.t VALUES (42)'",
        ),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = lab.ssh(2, "mysql -N -e 'SELECT id FROM app.t' 2>&1");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if text.trim() == "42" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "row not replicated to lab2: {text}\n{}",
            String::from_utf8_lossy(&lab.ssh(2, "mysql -e 'SHOW SLAVE STATUS\\G'").stdout)
        );
        std::thread::sleep(Duration::from_millis(300));
    }

    // Second run changes nothing.
    let (stats, second) = lab.converge(work.path(), "site.yml", &["-e", &old]);
    assert_changed(&stats, 0, &second);
    outputs.push_str(&second);

    // A new password: one change on lab1, the old one stops working.
    let (stats, third) = lab.converge(work.path(), "site.yml", &["-e", &new, "--diff"]);
    no_failures(&stats, &third);
    assert_eq!(changed(&stats), vec![1, 0, 0], "{third}");
    outputs.push_str(&third);
    assert!(
        !app_login(&lab, 2, OLD_PW).status.success(),
        "old password still works"
    );
    ok(
        "app login with the new password",
        app_login(&lab, 2, NEW_PW),
    );
    let (stats, fourth) = lab.converge(work.path(), "site.yml", &["-e", &new]);
    assert_changed(&stats, 0, &fourth);
    outputs.push_str(&fourth);

    // A malformed priv fails clearly and creates nothing.
    let bad = lab.play(work.path(), "bad.yml", &[]);
    let bad_out = String::from_utf8_lossy(&bad.stdout).into_owned();
    assert!(!bad.status.success(), "{bad_out}");
    assert!(
        bad_out.contains("mysql_user: parameter 'priv'") && bad_out.contains("db.table:PRIV"),
        "{bad_out}"
    );
    outputs.push_str(&bad_out);
    let n = ok(
        "bad user absent",
        lab.ssh(
            1,
            "mysql -N -e \"SELECT COUNT(*) FROM mysql.user WHERE User='bad'\"",
        ),
    );
    assert_eq!(n.trim(), "0");

    // No password (nor its hash) anywhere in the JSON output.
    for secret in [OLD_PW, NEW_PW, REPL_PW, "Bad-Secret-1"] {
        assert!(!outputs.contains(secret), "{secret} leaked:\n{outputs}");
    }
    for pw in [OLD_PW, NEW_PW] {
        let hash = ok(
            "hash",
            lab.ssh(1, &format!("mysql -N -e \"SELECT PASSWORD('{pw}')\"")),
        );
        assert!(!outputs.contains(hash.trim()), "hash of {pw} leaked");
    }
    if std::env::var_os("LAB_VERBOSE").is_some() {
        eprintln!("{outputs}");
    }
    eprintln!("mysql lab scenario: {:?}", started.elapsed());
}
