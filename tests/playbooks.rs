//! End-to-end tests: the `shipshape` binary runs playbooks against a real OpenSSH sshd on
//! loopback addresses (tests/support), never a mock.

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::Value as Json;
use support::TestLab;
use support::project::{Outcome, Project, read};

const FILES_PLAYBOOK: &str = r#"
- hosts: lab
  gather_facts: false
  vars:
    greeting: hello
  tasks:
    - name: conf dir
      file: { path: "{{ base }}/etc", state: directory, mode: "0755" }
    - name: motd
      copy:
        dest: "{{ base }}/etc/motd"
        content: "{{ greeting }} from {{ inventory_hostname }}\n"
        mode: "0644"
    - name: port line
      lineinfile:
        path: "{{ base }}/etc/app.ini"
        regexp: "^port="
        line: "port=80"
        create: yes
    - name: limits block
      blockinfile:
        path: "{{ base }}/etc/app.ini"
        block: |
          max=10
"#;

#[test]
fn first_run_changes_second_run_is_idempotent() {
    let lab = TestLab::start(3);
    let p = Project::new(&lab, "");
    p.file("site.yml", FILES_PLAYBOOK);
    let first = p.play(&[]);
    assert_eq!(first.code, 0, "{}", first.show());
    assert_eq!(first.total("changed"), 12, "{}", first.show());
    for i in 0..3 {
        assert_eq!(
            read(&p.base(i).join("etc/motd")),
            format!("hello from h{}\n", i + 1)
        );
        let ini = read(&p.base(i).join("etc/app.ini"));
        assert!(
            ini.starts_with("port=80\n# BEGIN ANSIBLE MANAGED BLOCK\nmax=10\n"),
            "{ini}"
        );
    }
    let second = p.play(&[]);
    assert_eq!(second.code, 0, "{}", second.show());
    assert_eq!(second.total("changed"), 0, "{}", second.show());
    assert_eq!(second.total("ok"), 12, "{}", second.show());
}

#[test]
fn check_mode_predicts_the_real_run_and_changes_nothing() {
    let lab = TestLab::start(3);
    let p = Project::new(&lab, "");
    p.file("site.yml", FILES_PLAYBOOK);
    // Make host 2 partly converged so the prediction differs per host.
    std::fs::create_dir_all(p.base(1).join("etc")).expect("mkdir");
    std::fs::write(p.base(1).join("etc/motd"), "hello from h2\n").expect("write");
    let check = p.play(&["--check"]);
    assert_eq!(check.code, 0, "{}", check.show());
    assert!(
        !p.base(0).join("etc").exists(),
        "check mode must not create anything"
    );
    let real = p.play(&[]);
    assert_eq!(real.code, 0, "{}", real.show());
    let predicted: Vec<_> = check.results();
    let actual: Vec<_> = real.results();
    let sorted = |mut v: Vec<(String, String, String)>| {
        v.sort();
        v
    };
    assert_eq!(
        sorted(predicted),
        sorted(actual),
        "check:\n{}\nreal:\n{}",
        check.show(),
        real.show()
    );
    // h2 already had the directory and the motd: only the two ini edits change.
    assert_eq!(real.recap()["h2"]["changed"], 2, "{}", real.show());
}

#[test]
fn diff_shows_the_content_change() {
    let lab = TestLab::start(1);
    let p = Project::new(&lab, "");
    p.file("site.yml", FILES_PLAYBOOK);
    assert_eq!(p.play(&[]).code, 0);
    std::fs::write(p.base(0).join("etc/motd"), "old text\n").expect("write");
    let out = p.run(&["playbook", "site.yml", "--check", "--diff"]);
    assert_eq!(out.code, 0, "{}", out.show());
    assert!(out.stdout.contains("-old text"), "{}", out.show());
    assert!(out.stdout.contains("+hello from h1"), "{}", out.show());
    assert!(out.stdout.contains("changed: [h1]"), "{}", out.show());
    assert_eq!(read(&p.base(0).join("etc/motd")), "old text\n");
}

#[test]
fn limit_and_tags_select_hosts_and_tasks() {
    let lab = TestLab::start(3);
    let p = Project::new(&lab, "[odd]\nh1\nh3\n");
    p.file(
        "site.yml",
        r#"
- hosts: lab
  gather_facts: no
  tasks:
    - name: tagged a
      copy: { dest: "{{ base }}/a", content: "a\n" }
      tags: [a]
    - name: tagged b
      copy: { dest: "{{ base }}/b", content: "b\n" }
      tags: b
    - name: never unless asked
      copy: { dest: "{{ base }}/n", content: "n\n" }
      tags: [never, debug]
    - name: always
      copy: { dest: "{{ base }}/always", content: "x\n" }
      tags: always
"#,
    );
    let out = p.play(&["--limit", "odd", "--tags", "a"]);
    assert_eq!(out.code, 0, "{}", out.show());
    assert!(p.base(0).join("a").exists() && p.base(2).join("a").exists());
    assert!(!p.base(1).join("a").exists(), "h2 is outside --limit");
    assert!(!p.base(0).join("b").exists(), "b is not selected");
    assert!(
        p.base(0).join("always").exists(),
        "always runs with any --tags"
    );
    assert!(
        !p.base(0).join("n").exists(),
        "never-tagged tasks need an explicit tag"
    );
    let out = p.play(&["--limit", "h2", "--skip-tags", "always"]);
    assert_eq!(out.code, 0, "{}", out.show());
    assert!(p.base(1).join("a").exists() && p.base(1).join("b").exists());
    assert!(!p.base(1).join("always").exists() && !p.base(1).join("n").exists());
    let hosts: Vec<String> = out.recap().keys().cloned().collect();
    assert_eq!(hosts, ["h2"]);
}

#[test]
fn unreachable_host_gives_exit_3_while_others_converge() {
    let lab = TestLab::start(3);
    let p = Project::new(&lab, "[lab:vars]\n");
    // h3 points at a closed port.
    let inv = read(&p.inventory).replacen(
        &format!("ansible_host=127.0.0.4 ansible_port={}", lab.port()),
        "ansible_host=127.0.0.4 ansible_port=1",
        1,
    );
    std::fs::write(&p.inventory, inv).expect("write inventory");
    p.file("site.yml", FILES_PLAYBOOK);
    let out = p.play(&[]);
    assert_eq!(out.code, 3, "{}", out.show());
    let recap = out.recap();
    assert_eq!(recap["h3"]["unreachable"], 1, "{}", out.show());
    assert_eq!(recap["h1"]["changed"], 4, "{}", out.show());
    assert!(p.base(1).join("etc/motd").exists());
    let unreachable = out
        .events()
        .into_iter()
        .find(|e| e["event"] == "host_result" && e["status"] == "unreachable")
        .expect("an unreachable result");
    assert_eq!(
        unreachable["task"], "conf dir",
        "the task it was on is named"
    );
}

#[test]
fn wrong_host_key_is_refused() {
    let lab = TestLab::start(1);
    let p = Project::new(&lab, "");
    p.file("site.yml", FILES_PLAYBOOK);
    let bad_known_hosts = p.file(
        "known_hosts",
        &format!(
            "[127.0.0.2]:{} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n",
            lab.port()
        ),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_shipshape"))
        .args(["playbook", "site.yml", "-i"])
        .arg(&p.inventory)
        .arg("--known-hosts")
        .arg(&bad_known_hosts)
        .current_dir(p.dir.path())
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(stdout.to_uppercase().contains("CHANGED"), "{stdout}");
    assert!(!p.base(0).join("etc").exists());
}

#[test]
fn syntax_error_reports_file_and_line_before_connecting() {
    let lab = TestLab::start(1);
    let p = Project::new(&lab, "");
    p.file("site.yml", "- hosts: lab\n  tasks:\n    - name: x\n      copy:\n        dest: /tmp/x\n       content: bad\n");
    let out = p.play(&[]);
    assert_eq!(out.code, 4, "{}", out.show());
    assert!(out.stderr.contains("site.yml:6:"), "{}", out.show());
    p.file(
        "site.yml",
        "- hosts: lab\n  tasks:\n    - name: x\n      copyy:\n        dest: /tmp/x\n",
    );
    let out = p.play(&[]);
    assert_eq!(out.code, 4, "{}", out.show());
    assert!(
        out.stderr
            .contains("site.yml:4:7: unknown module 'copyy' (did you mean 'copy'?)"),
        "{}",
        out.show()
    );
    p.file(
        "site.yml",
        "- hosts: lab\n  tasks:\n    - copy:\n        dest: /tmp/x\n        contnet: x\n",
    );
    let out = p.play(&["--syntax-check"]);
    assert_eq!(out.code, 4, "{}", out.show());
    assert!(out.stderr.contains("contnet"), "{}", out.show());
    assert!(
        out.stderr.contains("content"),
        "suggests the closest name: {}",
        out.show()
    );
}

#[test]
fn undefined_variable_names_the_variable_and_the_task() {
    let lab = TestLab::start(1);
    let p = Project::new(&lab, "");
    p.file(
        "site.yml",
        "- hosts: lab\n  gather_facts: false\n  tasks:\n    - name: uses a typo\n      copy:\n        dest: \"{{ base }}/x\"\n        content: \"{{ no_such_var }}\"\n",
    );
    let out = p.run(&["playbook", "site.yml"]);
    assert_eq!(out.code, 2, "{}", out.show());
    assert!(out.stdout.contains("no_such_var"), "{}", out.show());
    assert!(out.stdout.contains("site.yml:4:"), "{}", out.show());
}

#[test]
fn plan_exit_codes_follow_terraform() {
    let lab = TestLab::start(2);
    let p = Project::new(&lab, "");
    p.file("site.yml", FILES_PLAYBOOK);
    let drift = p.run(&["plan", "site.yml"]);
    assert_eq!(drift.code, 2, "{}", drift.show());
    assert_eq!(p.play(&[]).code, 0);
    let clean = p.run(&["plan", "site.yml"]);
    assert_eq!(clean.code, 0, "{}", clean.show());
    p.file(
        "site.yml",
        "- hosts: lab\n  tasks:\n    - nosuchmodule: {}\n",
    );
    assert_eq!(p.run(&["plan", "site.yml"]).code, 1);
}

#[test]
fn plan_reports_drift_to_people_and_ci() {
    let lab = TestLab::start(2);
    let p = Project::new(&lab, "");
    p.file("site.yml", FILES_PLAYBOOK);
    let junit = p.path("plan.xml");
    let markdown = p.path("plan.md");
    let args = [
        "plan",
        "site.yml",
        "--output",
        "human",
        "--junit",
        junit.to_str().expect("utf-8 path"),
        "--markdown",
        markdown.to_str().expect("utf-8 path"),
    ];
    let drift = p.run(&args);
    assert_eq!(drift.code, 2, "{}", drift.show());
    assert!(drift.stdout.contains("DRIFT REPORT"), "{}", drift.show());
    assert!(drift.stdout.contains("h1 : DRIFT ("), "{}", drift.show());
    assert!(drift.stdout.contains("    ~ "), "{}", drift.show());
    assert!(
        drift.stdout.contains("2 of 2 hosts would change"),
        "{}",
        drift.show()
    );
    assert!(
        !drift.stdout.contains('\x1b'),
        "colour without a TTY:\n{}",
        drift.show()
    );
    let xml = read(&junit);
    assert!(xml.contains("<testsuite name=\"h1\""), "{xml}");
    assert!(xml.contains("type=\"drift\""), "{xml}");
    let md = read(&markdown);
    assert!(
        md.starts_with("## shipshape plan: drift on 2 of 2 hosts"),
        "{md}"
    );
    assert!(md.contains("```diff"), "{md}");

    // A real run with --detailed-exitcode: 2 when it changed something, then 0.
    let first = p.play(&[
        "--detailed-exitcode",
        "--junit",
        junit.to_str().expect("utf-8"),
    ]);
    assert_eq!(first.code, 2, "{}", first.show());
    assert!(
        !read(&junit).contains("type=\"drift\""),
        "a real run has no drift failures"
    );
    assert_eq!(p.play(&["--detailed-exitcode"]).code, 0);
    let clean = p.run(&args);
    assert_eq!(clean.code, 0, "{}", clean.show());
    assert!(clean.stdout.contains("h2 : in sync"), "{}", clean.show());
    assert!(read(&markdown).starts_with("## shipshape plan: no drift"));
    // --timestamps prefixes human lines with the UTC time.
    let stamped = p.run(&["plan", "site.yml", "--output", "human", "--timestamps"]);
    let task_line = stamped
        .stdout
        .lines()
        .find(|l| l.contains("TASK ["))
        .unwrap_or_else(|| panic!("no task line:\n{}", stamped.show()));
    assert!(
        task_line.starts_with("20") && task_line.contains("Z TASK ["),
        "{task_line}"
    );
}

#[test]
fn blocks_handlers_loops_register_and_when() {
    let lab = TestLab::start(2);
    let p = Project::new(&lab, "[first]\nh1\n");
    p.file(
        "site.yml",
        r#"
- hosts: lab
  gather_facts: true
  tasks:
    - name: files from a loop
      copy:
        dest: "{{ base }}/{{ item.name }}"
        content: "{{ item.body }}\n"
      loop:
        - { name: one, body: "1" }
        - { name: two, body: "2" }
      notify: mark

    - name: a command
      command: "echo {{ inventory_hostname }}"
      register: echo
      changed_when: false

    - name: only on the first group
      copy: { dest: "{{ base }}/first", content: "{{ echo.stdout }}\n" }
      when: "'first' in group_names"

    - block:
        - name: fails
          command: "false"
        - name: not reached
          copy: { dest: "{{ base }}/unreached", content: "x" }
      rescue:
        - name: rescued
          copy: { dest: "{{ base }}/rescued", content: "{{ ansible_failed_result.rc | default('?') }}\n" }
      always:
        - name: always runs
          copy: { dest: "{{ base }}/always", content: "{{ ansible_distribution }}\n" }

  handlers:
    - name: mark
      copy: { dest: "{{ base }}/handler-ran", content: "yes\n" }
"#,
    );
    let out = p.play(&[]);
    assert_eq!(out.code, 0, "{}", out.show());
    let b0 = p.base(0);
    let b1 = p.base(1);
    assert_eq!(read(&b0.join("one")), "1\n");
    assert_eq!(read(&b0.join("first")), "h1\n");
    assert!(!b1.join("first").exists(), "when: skipped on h2");
    assert!(b0.join("rescued").exists() && !b0.join("unreached").exists());
    assert!(b0.join("always").exists());
    assert_eq!(read(&b1.join("handler-ran")), "yes\n");
    assert_eq!(out.recap()["h1"]["rescued"], 1, "{}", out.show());
    assert_eq!(out.recap()["h1"]["failed"], 0, "{}", out.show());
    let again = p.play(&[]);
    assert!(!b0.join("handler-ran").with_extension("x").exists());
    assert_eq!(again.code, 0, "{}", again.show());
    // Only the always-failing command (rescued) reports changed on a re-run.
    let changed: Vec<_> = again
        .results()
        .into_iter()
        .filter(|(_, _, s)| s == "changed")
        .map(|(_, t, _)| t)
        .collect();
    assert!(
        changed.iter().all(|t| t == "fails"),
        "{changed:?}\n{}",
        again.show()
    );
}

#[test]
fn magic_variables_per_host_batch_and_role() {
    let lab = TestLab::start(2);
    let p = Project::new(&lab, "[first]\nh1\n");
    p.file("files/note.txt", "from the playbook\n");
    p.file("roles/probe/files/role-note.txt", "from the role\n");
    p.file(
        "roles/probe/tasks/main.yml",
        r#"
- name: magic inside the role
  copy:
    dest: "{{ base }}/inside"
    content: "{{ role_name }}|{{ role_path | basename }}|{{ lookup('file', 'role-note.txt') }}|{{ inventory_hostname_short }}\n"
"#,
    );
    p.file(
        "site.yml",
        r#"
- hosts: lab
  gather_facts: false
  serial: 1
  roles:
    - probe
  tasks:
    - name: magic outside the role
      copy:
        dest: "{{ base }}/outside"
        content: "{{ inventory_hostname }}|{{ group_names | join(',') }}|{{ ansible_play_hosts_all | join(',') }}|{{ ansible_play_batch | join(',') }}|{{ lookup('file', 'note.txt') }}|{{ role_name | default('none') }}|{{ ansible_check_mode }}\n"
"#,
    );
    let out = p.play(&[]);
    assert_eq!(out.code, 0, "{}", out.show());
    assert_eq!(
        read(&p.base(0).join("outside")),
        "h1|first,lab|h1,h2|h1|from the playbook|none|False\n"
    );
    assert_eq!(
        read(&p.base(1).join("outside")),
        "h2|lab|h1,h2|h2|from the playbook|none|False\n"
    );
    assert_eq!(
        read(&p.base(1).join("inside")),
        "probe|probe|from the role|h2\n"
    );
}

#[test]
fn bench_workload_runs_unchanged_and_converges() {
    let lab = TestLab::start(3);
    let extra = "[bench:children]\nlab\n\n[lab:vars]\nhttp_port=8080\n";
    let p = Project::new(&lab, extra);
    let inv = read(&p.inventory);
    let inv: String = inv
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if l.starts_with('h') && l.contains("ansible_host") {
                format!("{l} host_index={i}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&p.inventory, inv).expect("write");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bench");
    std::fs::write(
        p.dir.path().join("site.yml"),
        read(&fixture.join("site.yml")),
    )
    .expect("copy");
    for t in ["app.conf.j2", "upstreams.conf.j2"] {
        p.file(
            &format!("templates/{t}"),
            &read(&fixture.join("templates").join(t)),
        );
    }
    let root = p.dir.path().join("bench-root");
    let root_arg = format!("bench_root={}", root.display());
    let first = p.play(&["-e", &root_arg]);
    assert_eq!(first.code, 0, "{}", first.show());
    assert_eq!(first.recap()["h1"]["changed"], 19, "{}", first.show());
    let conf = read(&root.join("h1/etc/app.conf"));
    assert!(conf.contains("user.1 = alice\nuser.2 = bob\n"), "{conf}");
    let second = p.play(&["-e", &root_arg]);
    assert_eq!(second.code, 0, "{}", second.show());
    assert_eq!(second.total("changed"), 0, "{}", second.show());
}

#[test]
fn shards_cover_every_host_exactly_once() {
    let lab = TestLab::start(4);
    let p = Project::new(&lab, "");
    p.file(
        "site.yml",
        r#"
- hosts: lab
  gather_facts: no
  tasks:
    - name: mark
      copy: { dest: "{{ base }}/mark", content: "x\n" }
- hosts: all
  gather_facts: no
  tasks:
    - name: second play
      copy: { dest: "{{ base }}/mark2", content: "y\n" }
"#,
    );
    let mut seen: Vec<String> = Vec::new();
    for shard in ["1/2", "2/2"] {
        let out = p.play(&["--shard", shard]);
        assert_eq!(out.code, 0, "{}", out.show());
        let hosts: Vec<String> = out.recap().keys().cloned().collect();
        assert_eq!(hosts.len(), 2, "shard {shard} of 4 hosts: {hosts:?}");
        // Both plays ran on the same hosts of this shard.
        for h in &hosts {
            assert_eq!(out.stat(h, "changed"), 2, "{}", out.show());
        }
        seen.extend(hosts);
    }
    seen.sort();
    assert_eq!(
        seen,
        ["h1", "h2", "h3", "h4"],
        "every host once, no overlap"
    );
    for i in 0..4 {
        assert_eq!(read(&p.base(i).join("mark")), "x\n");
        assert_eq!(read(&p.base(i).join("mark2")), "y\n");
    }
    // `plan` takes it too, and bad shards are bad options (exit 5) before connecting.
    let plan = p.run(&["plan", "site.yml", "--shard", "2/2"]);
    assert_eq!(plan.code, 0, "{}", plan.show());
    for bad in ["3/2", "0/2", "1/0", "two"] {
        let out = p.run(&["playbook", "site.yml", "--shard", bad]);
        assert_eq!(out.code, 5, "--shard {bad}: {}", out.show());
        assert!(out.stderr.contains("--shard"), "{}", out.show());
    }
}

#[test]
fn exit_codes_for_bad_options_and_missing_files() {
    let out = Command::new(env!("CARGO_BIN_EXE_shipshape"))
        .args(["playbook", "--no-such-flag", "x.yml"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(5));
    let out = Command::new(env!("CARGO_BIN_EXE_shipshape"))
        .args(["playbook", "/nonexistent/site.yml", "-i", "localhost,"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(4));
}

#[test]
fn inventory_command_lists_and_graphs() {
    let dir = tempfile::tempdir().expect("tmp");
    let inv = dir.path().join("hosts.ini");
    std::fs::write(
        &inv,
        "[web]\nweb[1:2] http_port=80\n[db]\ndb1\n[prod:children]\nweb\ndb\n",
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_shipshape"))
        .args(["inventory", "--graph", "-i"])
        .arg(&inv)
        .output()
        .expect("run");
    let graph = String::from_utf8_lossy(&out.stdout);
    assert!(graph.contains("@prod:"), "{graph}");
    assert!(graph.contains("web2"), "{graph}");
    let out = Command::new(env!("CARGO_BIN_EXE_shipshape"))
        .args(["inventory", "--list", "-i"])
        .arg(&inv)
        .output()
        .expect("run");
    let list: Json = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(list["_meta"]["hostvars"]["web1"]["http_port"], 80);
}

#[test]
fn vault_files_and_inline_values_decrypt_and_never_print() {
    let lab = TestLab::start(1);
    let p = Project::new(&lab, "");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    // A whole vars file encrypted by ansible-vault (password "ansible").
    std::fs::copy(
        fixtures.join("vault-file.yml"),
        p.dir.path().join("secrets.yml"),
    )
    .expect("copy");
    // An inline value encrypted by ansible-vault encrypt_string (password "ansible").
    p.file(
        "group_vars/all.yml",
        "db_pass: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  39346334373365626136363432613833373030316365373665396334663965643339306532643232\n  3862653632623630646232616337383239323562663563660a616136626439383638393833346532\n  33636639333533643535303230326233333235396365303766306538663438623062303963346663\n  3266333062386661620a353536326531313563386639323630313837363830343436356462393563\n  37343938373863656361373266663064623166396636626239666337366538376666\n",
    );
    p.file(
        "site.yml",
        "- hosts: lab\n  gather_facts: false\n  vars_files: [secrets.yml]\n  tasks:\n    - copy:\n        dest: \"{{ base }}/creds\"\n        content: \"{{ secret_value }}:{{ db_pass }}\\n\"\n    - debug: var=db_pass\n    - fail: msg=\"failing with {{ secret_value }}\"\n      ignore_errors: true\n",
    );
    let pw = fixtures.join("vault-password.txt");
    let pw = pw.to_str().expect("utf-8 path");
    let human = p.run(&[
        "playbook",
        "site.yml",
        "--diff",
        "-v",
        "--vault-password-file",
        pw,
    ]);
    assert_eq!(human.code, 0, "{}", human.show());
    assert_eq!(
        read(&p.base(0).join("creds")),
        "topsecret-42:inline-secret-99\n"
    );
    std::fs::remove_file(p.base(0).join("creds")).expect("rm");
    let jsonl = p.play(&["--diff", "--vault-password-file", pw]);
    assert_eq!(jsonl.code, 0, "{}", jsonl.show());
    for out in [&human, &jsonl] {
        for secret in ["topsecret-42", "inline-secret-99"] {
            assert!(
                !out.stdout.contains(secret),
                "{secret} leaked:\n{}",
                out.show()
            );
            assert!(
                !out.stderr.contains(secret),
                "{secret} leaked:\n{}",
                out.show()
            );
        }
    }
    assert!(human.stdout.contains("********"), "{}", human.show());
    let no_pw = p.play(&[]);
    assert_eq!(no_pw.code, 4, "{}", no_pw.show());
    assert!(no_pw.stderr.contains("vault password"), "{}", no_pw.show());
    // Only the inline value in group_vars: still refused before connecting.
    p.file(
        "inline.yml",
        "- hosts: lab\n  gather_facts: false\n  tasks:\n    - debug: var=db_pass\n",
    );
    let no_pw = p.run(&["playbook", "inline.yml"]);
    assert_eq!(no_pw.code, 4, "{}", no_pw.show());
    assert!(no_pw.stderr.contains("!vault"), "{}", no_pw.show());
}

#[test]
fn ssh_config_aliases_are_honoured() {
    let lab = TestLab::start(2);
    let p = Project::new(&lab, "");
    let home = tempfile::tempdir().expect("home");
    std::fs::create_dir_all(home.path().join(".ssh")).expect("mkdir");
    // The inventory names only aliases; ~/.ssh/config maps them to the lab.
    std::fs::write(
        home.path().join(".ssh/config"),
        format!(
            "Host web-*\n  User {}\n  Port {}\n  IdentityFile {}\nHost web-a\n  HostName 127.0.0.2\nHost web-b\n  HostName 127.0.0.3\n  ProxyJump {}@127.0.0.2:{}\n",
            lab.user(),
            lab.port(),
            lab.key().display(),
            lab.user(),
            lab.port()
        ),
    )
    .expect("write ssh config");
    let inv = p.file("aliases.ini", "[web]\nweb-a\nweb-b\n");
    p.file(
        "site.yml",
        "- hosts: web\n  gather_facts: false\n  tasks:\n    - command: hostname\n      register: out\n      changed_when: false\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_shipshape"))
        .args(["playbook", "site.yml", "--output", "jsonl", "-i"])
        .arg(&inv)
        .arg("--known-hosts")
        .arg(lab.known_hosts())
        .current_dir(p.dir.path())
        .env("HOME", home.path())
        .output()
        .expect("run");
    let o = Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_eq!(o.code, 0, "{}", o.show());
    assert_eq!(o.recap()["web-a"]["ok"], 1, "{}", o.show());
    assert_eq!(o.recap()["web-b"]["ok"], 1, "{}", o.show());
}
