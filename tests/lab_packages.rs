//! Namespace lab test of the Debian package modules (root only; skips with the reason
//! otherwise): `deb822_repository` adds the signed extras repository with its key fetched by
//! the hosts, `apt` updates the cache and installs, upgrades and removes packages, a `service`
//! of a package installed by the same play is predicted in check mode, and the second run
//! changes nothing. An unknown package and a repository with the wrong key fail clearly.

// The shared harness re-exports the loopback lab, which this test does not use.
#[allow(unused_imports)]
mod support;

use std::path::Path;
use std::time::Instant;

use support::netlab::{NetLab, assert_changed, ok};

const REPO: &str = "    - name: extras repository
      deb822_repository:
        name: shipshape extras
        types: deb
        uris: http://10.213.0.1:8080/extras
        suites: lab
        components: main
        signed_by: http://10.213.0.1:8080/lab-archive-keyring.asc
";

const INSTALL: &str = "    - name: packages
      apt:
        name: [hello, tree, shipshape-demo=1.0, cron]
        update_cache: yes
    - name: cron runs and starts at boot
      service: name=cron state=started enabled=yes
";

const CONVERGE: &str = "    - name: packages present
      ansible.builtin.package:
        name: [hello, cron]
        state: present
    - name: demo at its latest version
      apt: name=shipshape-demo state=latest update_cache=yes cache_valid_time=3600
    - name: tree removed
      apt:
        pkg: tree
        state: absent
        purge: yes
    - name: cron runs and starts at boot
      service: name=cron state=started enabled=yes
";

fn play(tasks: &[&str]) -> String {
    format!(
        "- hosts: lab\n  gather_facts: false\n  tasks:\n{}",
        tasks.concat()
    )
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write playbook");
}

/// The dpkg database of host `i`, for "left unchanged" checks.
fn dpkg_state(lab: &NetLab, i: usize) -> String {
    ok(
        "dpkg-query",
        lab.ssh(
            i,
            "dpkg-query -W -f '${Package} ${Version} ${db:Status-Abbrev}\\n' | sort",
        ),
    )
}

#[test]
fn apt_repository_install_upgrade_remove_idempotently() {
    let Some(lab) = NetLab::up(2) else { return };
    let work = tempfile::tempdir().expect("tempdir");
    let w = work.path();
    // cron is preinstalled: purge it so the play installs it and its service is new.
    for i in 1..=2 {
        ok(
            "purge cron",
            lab.ssh(
                i,
                "DEBIAN_FRONTEND=noninteractive apt-get purge -y -q cron >/dev/null",
            ),
        );
    }
    write(w, "install.yml", &play(&[REPO, INSTALL]));
    write(w, "site.yml", &play(&[REPO, CONVERGE]));

    let before = dpkg_state(&lab, 1);
    let t = Instant::now();
    let (stats, check) = lab.converge(w, "install.yml", &["--check", "--diff"]);
    eprintln!("check run: {:?}", t.elapsed());
    assert_eq!(stats.len(), 2, "{check}");
    assert_changed(&stats, 3, &check);
    assert_eq!(dpkg_state(&lab, 1), before, "check mode changed dpkg state");
    assert!(
        check.contains("service cron is not installed yet"),
        "{check}"
    );
    let files = ok(
        "sources after check",
        lab.ssh(
            1,
            "ls /etc/apt/sources.list.d /etc/apt/keyrings 2>&1 || true",
        ),
    );
    assert!(!files.contains("shipshape-extras"), "{files}");

    let t = Instant::now();
    let (stats, first) = lab.converge(w, "install.yml", &["--diff"]);
    eprintln!("install run: {:?}", t.elapsed());
    assert_changed(&stats, 3, &first);
    assert!(first.contains("shipshape-demo 1.0"), "{first}");
    for i in 1..=2 {
        let v = ok(
            "demo version",
            lab.ssh(
                i,
                "cat /usr/share/shipshape-demo/version; hello; tree --version",
            ),
        );
        assert!(v.starts_with("1.0\nHello, world!\ntree v"), "{v}");
        let src = ok(
            "sources file",
            lab.ssh(i, "cat /etc/apt/sources.list.d/shipshape-extras.sources"),
        );
        assert_eq!(
            src,
            "Components: main\nX-Repolib-Name: shipshape extras\n\
Signed-By: /etc/apt/keyrings/shipshape-extras.asc\nSuites: lab\nTypes: deb\n\
URIs: http://10.213.0.1:8080/extras\n"
        );
    }
    let (stats, again) = lab.converge(w, "install.yml", &[]);
    assert_changed(&stats, 0, &again);

    let t = Instant::now();
    let (stats, conv) = lab.converge(w, "site.yml", &["--diff"]);
    eprintln!("upgrade/remove run: {:?}", t.elapsed());
    assert_changed(&stats, 2, &conv);
    for i in 1..=2 {
        let v = ok(
            "demo after latest",
            lab.ssh(
                i,
                "cat /usr/share/shipshape-demo/version; dpkg-query -W -f '${db:Status-Abbrev}' tree 2>/dev/null || echo gone",
            ),
        );
        assert_eq!(v.trim(), "1.1\ngone", "host {i}");
    }
    // From the other host: cron runs on lab1.
    let cron = ok("cron status", lab.ssh(1, "/etc/init.d/cron status"));
    assert!(cron.contains("running"), "{cron}");
    let t = Instant::now();
    let (stats, second) = lab.converge(w, "site.yml", &[]);
    eprintln!("second run: {:?}", t.elapsed());
    assert_changed(&stats, 0, &second);

    // A one-line source: check mode predicts it, the run writes it and updates the cache,
    // the next run changes nothing, state=absent removes the file.
    let line = "deb [signed-by=/etc/apt/keyrings/shipshape-extras.asc] http://10.213.0.1:8080/extras lab main";
    let repo_play = |state: &str| {
        format!(
            "- hosts: lab\n  gather_facts: false\n  tasks:\n    - apt_repository:\n        repo: {line:?}\n        filename: lab-extras\n        state: {state}\n"
        )
    };
    write(w, "repo.yml", &repo_play("present"));
    write(w, "norepo.yml", &repo_play("absent"));
    let list = "/etc/apt/sources.list.d/lab-extras.list";
    let (stats, out) = lab.converge(w, "repo.yml", &["--check"]);
    assert_changed(&stats, 1, &out);
    let (stats, out) = lab.converge(w, "repo.yml", &[]);
    assert_changed(&stats, 1, &out);
    let text = ok(
        "list file",
        lab.ssh(2, &format!("cat {list}; stat -c %a {list}")),
    );
    assert_eq!(text, format!("{line}\n644\n"));
    let (stats, out) = lab.converge(w, "repo.yml", &[]);
    assert_changed(&stats, 0, &out);
    let (stats, out) = lab.converge(w, "norepo.yml", &[]);
    assert_changed(&stats, 1, &out);
    let gone = ok(
        "list gone",
        lab.ssh(2, &format!("test -e {list} && echo there || echo gone")),
    );
    assert_eq!(gone.trim(), "gone");

    // An unknown package: a clear failure naming it, dpkg untouched.
    let before = dpkg_state(&lab, 1);
    write(
        w,
        "bad.yml",
        "- hosts: lab\n  gather_facts: false\n  tasks:\n    - apt:\n        name: [hello, jq, no-such-pkg]\n",
    );
    let out = lab.play(w, "bad.yml", &["--limit", "lab1"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("No package matching 'no-such-pkg' is available"),
        "{text}"
    );
    assert_eq!(
        dpkg_state(&lab, 1),
        before,
        "a failed apt task changed dpkg"
    );

    // A repository signed by another key: the cache update fails and says why.
    write(
        w,
        "badkey.yml",
        "- hosts: lab
  gather_facts: false
  tasks:
    - deb822_repository: name='shipshape extras' state=absent
    - deb822_repository:
        name: wrong key
        uris: http://10.213.0.1:8080/extras
        suites: lab
        components: main
        signed_by: /usr/share/keyrings/debian-archive-keyring.gpg
    - apt: update_cache=yes
",
    );
    let out = lab.play(w, "badkey.yml", &["--limit", "lab1"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("Failed to update apt cache"), "{text}");
    assert!(
        text.contains("NO_PUBKEY") || text.contains("not signed"),
        "{text}"
    );
}
