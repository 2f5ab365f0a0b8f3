//! Namespace lab test of the system modules (root only; skips with the reason otherwise):
//! `authorized_key`, `sysctl`, `cron` and `hostname` on two lab hosts through the
//! `shipshape` binary: check mode changes nothing, the real run converges (verified from the
//! controller: ssh as the new user with the generated key, /proc/sys, crontab files in
//! Ansible's marker format, the host name), a second run changes nothing, `exclusive` removes
//! another key, and bad arguments fail clearly without touching the files.

// The shared harness re-exports the loopback lab, which this test does not use.
#[allow(unused_imports)]
mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use support::netlab::{NetLab, assert_changed, ok};

/// Generates an ed25519 key pair `dir/name` (no passphrase); returns the public key line.
fn keygen(dir: &Path, name: &str) -> String {
    let key = dir.join(name);
    ok(
        "ssh-keygen",
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C"])
            .arg(format!("{name}@controller"))
            .arg("-f")
            .arg(&key)
            .stdin(Stdio::null())
            .output()
            .expect("run ssh-keygen"),
    );
    std::fs::read_to_string(key.with_extension("pub"))
        .expect("read public key")
        .trim()
        .to_string()
}

/// `ssh -i KEY deploy@host i true` with the lab's known_hosts.
fn ssh_as_deploy(lab: &NetLab, key: &Path, i: usize) -> Output {
    Command::new("ssh")
        .args(["-F", "/dev/null", "-i"])
        .arg(key)
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            lab.known_hosts().display()
        ))
        .args([
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "ConnectTimeout=5",
            "-o",
            "LogLevel=ERROR",
        ])
        .arg(format!("deploy@{}", NetLab::ip(i)))
        .arg("true")
        .stdin(Stdio::null())
        .output()
        .expect("run ssh")
}

/// A snapshot of everything the playbooks manage on host `i`.
fn snapshot(lab: &NetLab, i: usize) -> String {
    ok(
        "snapshot",
        lab.ssh(
            i,
            "for f in /etc/sysctl.conf /etc/sysctl.d/60-shipshape.conf /etc/cron.d/shipshape-cleanup \
             /home/deploy/.ssh/authorized_keys /etc/hostname; do echo \"== $f\"; cat \"$f\" 2>&1; done; \
             echo '== crontab'; crontab -l 2>&1; echo '== live'; cat /proc/sys/net/ipv4/ip_forward \
             /proc/sys/net/core/somaxconn; uname -n; id deploy 2>&1; true",
        ),
    )
}

fn site(deploy_pub: &str, other_pub: &str) -> String {
    format!(
        r#"- hosts: lab
  gather_facts: false
  tasks:
    - name: deploy user
      user: name=deploy shell=/bin/sh
    - name: another key (removed later by exclusive)
      authorized_key:
        user: deploy
        key: "{other_pub}"
    - name: the deploy key
      ansible.posix.authorized_key:
        user: deploy
        key: "{deploy_pub}"
        comment: deploy key
    - name: forwarding on
      ansible.posix.sysctl: name=net.ipv4.ip_forward value=1
    - name: a bigger accept queue, in its own file
      sysctl:
        name: net.core.somaxconn
        value: 1024
        sysctl_file: /etc/sysctl.d/60-shipshape.conf
    - name: nightly cleanup in cron.d
      cron:
        name: nightly cleanup
        cron_file: shipshape-cleanup
        user: root
        minute: "30"
        hour: "2"
        job: /usr/bin/find /var/tmp -mtime +7 -delete
    - name: heartbeat in root's crontab
      ansible.builtin.cron:
        name: heartbeat
        minute: "*/5"
        job: touch /var/tmp/heartbeat
    - name: mail to root
      cron: name=MAILTO env=yes job=root
    - name: host name
      hostname:
        name: "web{{{{ inventory_hostname | replace('lab', '') }}}}"
"#
    )
}

#[test]
fn system_modules_converge_on_two_hosts() {
    let Some(lab) = NetLab::up(2) else { return };
    let t0 = Instant::now();
    let work = tempfile::tempdir().expect("tempdir");
    let deploy_pub = keygen(work.path(), "deploy_key");
    let other_pub = keygen(work.path(), "other_key");
    std::fs::write(work.path().join("site.yml"), site(&deploy_pub, &other_pub)).expect("write");
    for i in 1..=2 {
        // A known start: the kernel defaults may be inherited from the machine.
        ok(
            "reset sysctls",
            lab.ssh(
                i,
                "sysctl -q -w net.ipv4.ip_forward=0 net.core.somaxconn=4096",
            ),
        );
    }
    let before: Vec<String> = (1..=2).map(|i| snapshot(&lab, i)).collect();

    // Check mode predicts every change and changes nothing.
    let (stats, check) = lab.converge(work.path(), "site.yml", &["--check", "--diff"]);
    assert_eq!(stats.len(), 2, "{check}");
    assert_changed(&stats, 9, &check);
    for i in 1..=2 {
        assert_eq!(
            snapshot(&lab, i),
            before[i - 1],
            "check mode changed lab{i}"
        );
    }

    // The real run.
    let (stats, first) = lab.converge(work.path(), "site.yml", &["--diff"]);
    assert_changed(&stats, 9, &first);
    let deploy_key = work.path().join("deploy_key");
    let other_key = work.path().join("other_key");
    for i in 1..=2 {
        ok(
            &format!("ssh deploy@lab{i} with the deploy key"),
            ssh_as_deploy(&lab, &deploy_key, i),
        );
        ok(
            &format!("ssh deploy@lab{i} with the other key"),
            ssh_as_deploy(&lab, &other_key, i),
        );
        let keys = ok(
            "authorized_keys",
            lab.ssh(
                i,
                "stat -c '%a %U %G' /home/deploy/.ssh /home/deploy/.ssh/authorized_keys; cat /home/deploy/.ssh/authorized_keys",
            ),
        );
        let blob = deploy_pub.split_whitespace().nth(1).expect("blob");
        assert!(
            keys.starts_with("700 deploy deploy\n600 deploy deploy\n"),
            "{keys}"
        );
        assert!(
            keys.contains(&format!("ssh-ed25519 {blob} deploy key\n")),
            "{keys}"
        );
        let live = ok(
            "sysctl values",
            lab.ssh(i, "cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/core/somaxconn; cat /etc/sysctl.d/60-shipshape.conf; grep -c '^net.ipv4.ip_forward=1$' /etc/sysctl.conf"),
        );
        assert_eq!(live, "1\n1024\nnet.core.somaxconn=1024\n1\n");
        let cron_d = ok(
            "cron.d",
            lab.ssh(
                i,
                "cat /etc/cron.d/shipshape-cleanup; stat -c %a /etc/cron.d/shipshape-cleanup",
            ),
        );
        assert_eq!(
            cron_d,
            "#Ansible: nightly cleanup\n30 2 * * * root /usr/bin/find /var/tmp -mtime +7 -delete\n644\n"
        );
        let tab = ok("crontab", lab.ssh(i, "crontab -l"));
        assert_eq!(
            tab,
            "MAILTO=\"root\"\n#Ansible: heartbeat\n*/5 * * * * touch /var/tmp/heartbeat\n"
        );
        let name = ok(
            "hostname",
            lab.ssh(
                i,
                &format!("hostname; cat /etc/hostname; grep -c '^127.0.1.1 lab{i}$' /etc/hosts"),
            ),
        );
        assert_eq!(
            name,
            format!("web{i}\nweb{i}\n1\n"),
            "/etc/hosts must stay as it was"
        );
    }

    // Idempotent.
    let (stats, second) = lab.converge(work.path(), "site.yml", &[]);
    assert_changed(&stats, 0, &second);

    // exclusive=yes keeps only the deploy key.
    std::fs::write(
        work.path().join("exclusive.yml"),
        format!(
            "- hosts: lab\n  gather_facts: false\n  tasks:\n    - authorized_key:\n        user: deploy\n        key: \"{deploy_pub}\"\n        comment: deploy key\n        exclusive: yes\n"
        ),
    )
    .expect("write");
    let (stats, excl) = lab.converge(work.path(), "exclusive.yml", &["--diff"]);
    assert_changed(&stats, 1, &excl);
    let (stats, excl2) = lab.converge(work.path(), "exclusive.yml", &[]);
    assert_changed(&stats, 0, &excl2);
    for i in 1..=2 {
        ok(
            "deploy key still works",
            ssh_as_deploy(&lab, &deploy_key, i),
        );
        let out = ssh_as_deploy(&lab, &other_key, i);
        assert!(
            !out.status.success(),
            "the other key still logs in on lab{i}"
        );
    }

    // Bad arguments fail clearly and leave the files as they were.
    let before: Vec<String> = (1..=2).map(|i| snapshot(&lab, i)).collect();
    std::fs::write(
        work.path().join("bad.yml"),
        "- hosts: lab\n  gather_facts: false\n  tasks:\n    - name: a read-only key\n      sysctl:\n        name: kernel.hostname\n        value: nope\n        sysctl_file: /etc/sysctl.d/60-shipshape.conf\n      ignore_errors: yes\n    - name: a malformed key\n      authorized_key:\n        user: deploy\n        key: ssh-ed25519 not*base64 x\n",
    )
    .expect("write");
    let out = lab.play(work.path(), "bad.yml", &[]);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("cannot set kernel.hostname: /proc/sys/kernel/hostname is read-only"),
        "{text}"
    );
    assert!(
        text.contains("invalid key specified: ssh-ed25519 not*base64 x"),
        "{text}"
    );
    for i in 1..=2 {
        assert_eq!(
            snapshot(&lab, i),
            before[i - 1],
            "the failed run changed lab{i}"
        );
    }
    eprintln!("lab_system scenario: {:.1} s", t0.elapsed().as_secs_f64());
}
