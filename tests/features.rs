//! End-to-end proofs of the Ansible features README.md claims: each test runs the real
//! `shipshape` binary against the loopback sshd lab (tests/support) and checks both the effect
//! on the hosts' files and the JSON events (`--output jsonl`).

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use support::TestLab;
use support::project::{Outcome, Project, read};

// ---------------------------------------------------------------------------------------
// 1. Roles
// ---------------------------------------------------------------------------------------

/// Writes the roles used by the role tests: `web` (every directory of the layout, depends on
/// `common`), `api` (depends on `common` too, several task files) and `common`.
fn write_roles(p: &Project) {
    p.file(
        "roles/web/defaults/main.yml",
        "web_port: 80\nweb_greeting: default-hello\nweb_user: from-defaults\n",
    );
    p.file("roles/web/vars/main.yml", "web_conf: web.conf\n");
    p.file(
        "roles/web/tasks/main.yml",
        r#"
- name: config from the role's templates/
  template:
    src: web.conf.j2
    dest: "{{ base }}/{{ web_conf }}"
  notify: restart web
- name: static file from the role's files/
  copy:
    src: static.txt
    dest: "{{ base }}/static.txt"
"#,
    );
    p.file(
        "roles/web/templates/web.conf.j2",
        "port={{ web_port }}\ngreeting={{ web_greeting }}\nuser={{ web_user }}\nrole={{ role_name }}\n",
    );
    p.file("roles/web/files/static.txt", "static from files/\n");
    p.file(
        "roles/web/handlers/main.yml",
        r#"
- name: restart web
  shell: "echo restarted >> {{ base }}/web-restarts"
"#,
    );
    p.file(
        "roles/web/meta/main.yml",
        "galaxy_info: {author: me}\ndependencies:\n  - common\n",
    );
    p.file(
        "roles/api/defaults/main.yml",
        "api_port: 8000\napi_name: api\n",
    );
    p.file(
        "roles/api/meta/main.yml",
        "dependencies:\n  - role: common\n",
    );
    p.file(
        "roles/api/tasks/main.yml",
        r#"
- name: api config
  copy:
    dest: "{{ base }}/{{ api_name }}.port"
    content: "{{ api_port }}\n"
"#,
    );
    p.file(
        "roles/api/tasks/extra.yml",
        r#"
- name: extra tasks file
  copy:
    dest: "{{ base }}/api-extra"
    content: "{{ api_port }}\n"
"#,
    );
    p.file(
        "roles/api/tasks/item.yml",
        r#"
- name: one per item
  copy:
    dest: "{{ base }}/item-{{ thing }}"
    content: "{{ thing }} {{ api_port }}\n"
"#,
    );
    p.file(
        "roles/common/tasks/main.yml",
        r#"
- name: common runs
  shell: "echo common >> {{ base }}/common.log"
"#,
    );
}

#[test]
fn roles_use_the_ansible_layout() {
    let lab = TestLab::start(2);
    let p = Project::new(&lab, "[lab:vars]\nweb_user=from-inventory\n");
    write_roles(&p);
    p.file(
        "site.yml",
        r#"
- hosts: lab
  gather_facts: false
  roles:
    - web
    - role: api
      api_port: 9000
    - role: api
      api_port: 9000
    - role: api
      vars:
        api_name: second
"#,
    );
    let out = p.play(&[]);
    assert_eq!(out.code, 0, "{}", out.show());
    for i in 0..2 {
        let b = p.base(i);
        assert_eq!(
            read(&b.join("web.conf")),
            "port=80\ngreeting=default-hello\nuser=from-inventory\nrole=web\n",
            "templates/ found, defaults are the lowest layer, vars/ read"
        );
        assert_eq!(read(&b.join("static.txt")), "static from files/\n");
        assert_eq!(read(&b.join("web-restarts")), "restarted\n");
        assert_eq!(read(&b.join("api.port")), "9000\n", "role params");
        assert_eq!(
            read(&b.join("second.port")),
            "8000\n",
            "other params: runs again"
        );
        assert_eq!(
            read(&b.join("common.log")),
            "common\n",
            "a dependency shared by two roles runs once"
        );
    }
    // The dependency runs before the role that needs it.
    let order: Vec<String> = out
        .events()
        .into_iter()
        .filter(|e| e["event"] == "host_result" && e["host"] == "h1")
        .map(|e| e["task"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        order,
        [
            "common : common runs",
            "web : config from the role's templates/",
            "web : static file from the role's files/",
            "api : api config",
            "api : api config",
            "web : restart web",
        ],
        "{}",
        out.show()
    );
    assert_eq!(out.status("h1", "web : restart web"), "changed");
    // Second run: nothing changes, the handler is not notified again.
    let again = p.play(&[]);
    assert_eq!(again.code, 0, "{}", again.show());
    assert!(!again.ran("h1", "web : restart web"), "{}", again.show());
    assert_eq!(read(&p.base(0).join("web-restarts")), "restarted\n");
}

#[test]
fn import_role_include_role_and_roles_path() {
    let lab = TestLab::start(1);
    let p = Project::new(&lab, "");
    write_roles(&p);
    p.file(
        "elsewhere/far/tasks/main.yml",
        "- name: far away\n  copy: { dest: \"{{ base }}/far\", content: \"{{ far_msg }}\\n\" }\n",
    );
    p.file("elsewhere/far/defaults/main.yml", "far_msg: found\n");
    p.file(
        "roles/svc/tasks/main.yml",
        "- name: svc conf\n  copy: { dest: \"{{ base }}/{{ svc_name }}.conf\", content: \"x\\n\" }\n  notify: restart svc\n",
    );
    p.file(
        "roles/svc/handlers/main.yml",
        "- name: restart svc\n  copy: { dest: \"{{ base }}/restarted-{{ svc_name }}\", content: \"x\\n\" }\n",
    );
    p.file(
        "site.yml",
        r#"
- hosts: lab
  gather_facts: false
  tasks:
    - name: static role
      import_role:
        name: api
      vars:
        api_name: imported
        api_port: 7000
    - name: another tasks file
      include_role:
        name: api
        tasks_from: extra
    - name: role in a loop
      include_role:
        name: api
        tasks_from: item
      loop: [a, b]
      loop_control:
        loop_var: thing
    - name: not included
      include_role:
        name: api
        tasks_from: extra
      vars:
        api_port: 1
      when: false
    - import_role:
        name: far
    - name: a role with a handler using its parameter
      include_role:
        name: svc
      vars:
        svc_name: nginx
"#,
    );
    let out = p.play(&["--roles-path", &p.path("elsewhere").display().to_string()]);
    assert_eq!(out.code, 0, "{}", out.show());
    let b = p.base(0);
    assert_eq!(read(&b.join("imported.port")), "7000\n");
    assert_eq!(read(&b.join("api-extra")), "8000\n", "role defaults apply");
    assert_eq!(read(&b.join("item-a")), "a 8000\n");
    assert_eq!(read(&b.join("item-b")), "b 8000\n");
    assert_eq!(read(&b.join("far")), "found\n", "--roles-path");
    assert!(b.join("nginx.conf").exists());
    assert!(
        b.join("restarted-nginx").exists(),
        "an included role's handler runs with the role's params: {}",
        out.show()
    );
    assert_eq!(
        read(&b.join("common.log")),
        "common\n",
        "the api dependency runs once for import_role and every include_role"
    );
    assert_eq!(
        out.results_of("api : one per item").len(),
        2,
        "{}",
        out.show()
    );
    // Without --roles-path the role is not found: a load error before connecting.
    let missing = p.play(&[]);
    assert_eq!(missing.code, 4, "{}", missing.show());
    assert!(
        missing.stderr.contains("role 'far' not found"),
        "{}",
        missing.show()
    );
    assert!(missing.stderr.contains("site.yml:"), "{}", missing.show());
}

// ---------------------------------------------------------------------------------------
// 2. Task includes
// ---------------------------------------------------------------------------------------

#[test]
fn import_tasks_and_include_tasks() {
    let lab = TestLab::start(2);
    let p = Project::new(&lab, "[first]\nh1\n");
    p.file(
        "tasks/static.yml",
        "- name: imported\n  copy: { dest: \"{{ base }}/imported\", content: \"{{ who }}\\n\" }\n",
    );
    p.file(
        "tasks/web.yml",
        "- name: kind web\n  copy: { dest: \"{{ base }}/kind\", content: \"web\\n\" }\n",
    );
    p.file(
        "tasks/db.yml",
        "- name: kind db\n  copy: { dest: \"{{ base }}/kind\", content: \"db\\n\" }\n",
    );
    p.file(
        "tasks/each.yml",
        "- name: per item\n  copy: { dest: \"{{ base }}/each-{{ item }}\", content: \"{{ item }}\\n\" }\n",
    );
    p.file(
        "tasks/flag.yml",
        r#"
- name: clear the flag
  set_fact:
    flag: false
- name: after the flag
  copy: { dest: "{{ base }}/after-flag", content: "x\n" }
"#,
    );
    p.file(
        "site.yml",
        r#"
- hosts: lab
  gather_facts: false
  vars:
    who: play
    kind: "{{ 'web' if 'first' in group_names else 'db' }}"
  tasks:
    - import_tasks: tasks/static.yml
      vars:
        who: import-vars
    - name: templated file name
      include_tasks: "tasks/{{ kind }}.yml"
    - name: looped include
      include_tasks: tasks/each.yml
      loop: [x, y]
    - name: include skipped by when
      include_tasks: tasks/each.yml
      vars:
        item: never
      when: inventory_hostname == 'nobody'
    - set_fact:
        flag: true
    - name: when is checked once, on the include
      include_tasks: tasks/flag.yml
      when: flag
"#,
    );
    let out = p.play(&[]);
    assert_eq!(out.code, 0, "{}", out.show());
    for i in 0..2 {
        let b = p.base(i);
        assert_eq!(read(&b.join("imported")), "import-vars\n");
        assert_eq!(read(&b.join("each-x")), "x\n");
        assert_eq!(read(&b.join("each-y")), "y\n");
        assert!(!b.join("each-never").exists());
        assert!(
            b.join("after-flag").exists(),
            "the include's `when` is not inherited by the included tasks"
        );
    }
    assert_eq!(read(&p.base(0).join("kind")), "web\n");
    assert_eq!(read(&p.base(1).join("kind")), "db\n");
    assert_eq!(out.status("h1", "kind web"), "changed");
    assert_eq!(out.status("h2", "kind db"), "changed");
    assert_eq!(out.results_of("per item").len(), 4, "{}", out.show());

    // import_tasks is static: its `when` is copied onto each imported task.
    p.file(
        "site.yml",
        r#"
- hosts: h1
  gather_facts: false
  tasks:
    - set_fact:
        flag: true
    - import_tasks: tasks/flag.yml
      when: flag
"#,
    );
    std::fs::remove_file(p.base(0).join("after-flag")).expect("rm");
    let out = p.play(&[]);
    assert_eq!(out.code, 0, "{}", out.show());
    assert_eq!(out.status("h1", "after the flag"), "skipped");
    assert!(!p.base(0).join("after-flag").exists());
}

#[test]
fn include_tags_select_the_include_and_apply_passes_them_on() {
    let lab = TestLab::start(1);
    let p = Project::new(&lab, "");
    p.file(
        "tagged.yml",
        r#"
- name: untagged in file
  copy: { dest: "{{ base }}/untagged-{{ which }}", content: "x\n" }
- name: tagged in file
  copy: { dest: "{{ base }}/tagged-{{ which }}", content: "x\n" }
  tags: inc
"#,
    );
    p.file(
        "site.yml",
        r#"
- hosts: lab
  gather_facts: false
  tasks:
    - include_tasks: tagged.yml
      vars: { which: plain }
      tags: inc
    - include_tasks:
        file: tagged.yml
        apply:
          tags: [inc]
      vars: { which: applied }
      tags: inc
    - name: not included
      include_tasks: tagged.yml
      vars: { which: other }
      tags: other
"#,
    );
    let out = p.play(&["--tags", "inc"]);
    assert_eq!(out.code, 0, "{}", out.show());
    let b = p.base(0);
    assert!(b.join("tagged-plain").exists(), "{}", out.show());
    assert!(
        !b.join("untagged-plain").exists(),
        "the include's tags are not inherited (Ansible)"
    );
    assert!(
        b.join("untagged-applied").exists(),
        "apply: tags are inherited"
    );
    assert!(!b.join("tagged-other").exists() && !b.join("untagged-other").exists());
    // `apply` is only for dynamic includes.
    p.file(
        "site.yml",
        "- hosts: lab\n  tasks:\n    - import_tasks:\n        file: tagged.yml\n        apply: { tags: x }\n",
    );
    let out = p.play(&[]);
    assert_eq!(out.code, 4, "{}", out.show());
    assert!(out.stderr.contains("site.yml:5:"), "{}", out.show());
}

#[test]
fn dynamic_includes_load_on_many_hosts_at_once() {
    // Hosts load templated include files at the same time: no false "cyclic include".
    let lab = TestLab::start(15);
    let p = Project::new(&lab, "");
    for i in 1..=8 {
        p.file(
            &format!("inc/a{i}.yml"),
            "- include_tasks: b.yml\n- include_tasks: b.yml\n- include_tasks: b.yml\n",
        );
    }
    p.file("inc/b.yml", "- name: leaf\n  debug: msg=b\n");
    p.file(
        "site.yml",
        r#"
- hosts: lab
  gather_facts: false
  tasks:
    - include_tasks: "inc/a{{ item }}.yml"
      loop: [1, 2, 3, 4, 5, 6, 7, 8]
"#,
    );
    let out = p.play(&[]);
    assert_eq!(out.code, 0, "{}", out.show());
    assert_eq!(out.results_of("leaf").len(), 15 * 8 * 3, "{}", out.show());
}

#[test]
fn cyclic_import_is_a_load_error() {
    let lab = TestLab::start(1);
    let p = Project::new(&lab, "");
    p.file(
        "a.yml",
        "- name: a\n  debug: msg=a\n- import_tasks: b.yml\n",
    );
    p.file(
        "b.yml",
        "- name: b\n  debug: msg=b\n- import_tasks: a.yml\n",
    );
    p.file(
        "site.yml",
        "- hosts: lab\n  gather_facts: false\n  tasks:\n    - import_tasks: a.yml\n",
    );
    let out = p.play(&[]);
    assert_eq!(out.code, 4, "{}", out.show());
    assert!(out.stderr.contains("cyclic"), "{}", out.show());
    assert!(out.stderr.contains("b.yml:3:"), "{}", out.show());
    assert!(out.events().is_empty(), "nothing ran: {}", out.show());
}

// ---------------------------------------------------------------------------------------
// 3. Variables
// ---------------------------------------------------------------------------------------

#[test]
fn variable_precedence_follows_ansible() {
    let lab = TestLab::start(1);
    // Each `aN` is set at level N-1 and level N: level N must win. `all_levels` is set
    // everywhere: extra vars win.
    let p = Project::new(
        &lab,
        "[lab:vars]\na2=inv-group\na3=inv-group\nall_levels=inv-group\n",
    );
    // group_vars/ beside the inventory.
    let inv_dir = p.inventory.parent().expect("inventory dir").to_path_buf();
    std::fs::create_dir_all(inv_dir.join("group_vars")).expect("mkdir");
    std::fs::create_dir_all(inv_dir.join("host_vars")).expect("mkdir");
    std::fs::write(
        inv_dir.join("group_vars/lab.yml"),
        "a3: inv-group-vars-dir\na4: inv-group-vars-dir\nall_levels: inv-group-vars-dir\n",
    )
    .expect("write");
    std::fs::write(
        inv_dir.join("host_vars/h1.yml"),
        "a5: host-vars\na6: host-vars\nall_levels: host-vars\n",
    )
    .expect("write");
    p.file(
        "group_vars/lab.yml",
        "a4: pb-group-vars-dir\na5: pb-group-vars-dir\nall_levels: pb-group-vars-dir\n",
    );
    p.file(
        "roles/prec/defaults/main.yml",
        "a2: role-defaults\nall_levels: role-defaults\n",
    );
    p.file(
        "roles/prec/vars/main.yml",
        "a8: role-vars\na9: role-vars\nall_levels: role-vars\n",
    );
    p.file(
        "vars/main.yml",
        "a7: vars-files\na8: vars-files\nall_levels: vars-files\n",
    );
    p.file(
        "roles/prec/tasks/main.yml",
        r#"
- name: set facts
  set_fact:
    a12: set-fact
    a14: set-fact
    a15: set-fact
    all_levels: set-fact
- name: include params
  include_tasks: inc.yml
  vars:
    a15: include-param
- name: register
  command: echo registered
  register: a13
  changed_when: false
- block:
    - name: show
      vars:
        a10: task-vars
        a11: task-vars
        a12: task-vars
        all_levels: task-vars
      copy:
        dest: "{{ base }}/prec"
        content: |
          a2={{ a2 }}
          a3={{ a3 }}
          a4={{ a4 }}
          a5={{ a5 }}
          a6={{ a6 }}
          a7={{ a7 }}
          a8={{ a8 }}
          a9={{ a9 }}
          a10={{ a10 }}
          a11={{ a11 }}
          a12={{ a12 }}
          a13={{ a13 }}
          a14={{ a14 }}
          all={{ all_levels }}
  vars:
    a9: block-vars
    a10: block-vars
    a13: block-vars
    all_levels: block-vars
"#,
    );
    p.file(
        "roles/prec/tasks/inc.yml",
        "- copy: { dest: \"{{ base }}/prec2\", content: \"a15={{ a15 }}\\n\" }\n",
    );
    p.file(
        "site.yml",
        r#"
- hosts: lab
  gather_facts: false
  vars:
    a6: play-vars
    a7: play-vars
    all_levels: play-vars
  vars_files:
    - vars/main.yml
  roles:
    - role: prec
      a14: role-param
"#,
    );
    let out = p.play(&["-e", "all_levels=extra"]);
    assert_eq!(out.code, 0, "{}", out.show());
    let text = read(&p.base(0).join("prec"));
    let got: BTreeMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
    assert_eq!(
        got["a2"], "inv-group",
        "inventory group vars > role defaults"
    );
    assert_eq!(
        got["a3"], "inv-group-vars-dir",
        "group_vars/ dir > inventory file"
    );
    assert_eq!(
        got["a4"], "pb-group-vars-dir",
        "playbook group_vars/ > inventory's"
    );
    assert_eq!(got["a5"], "host-vars", "host_vars > group_vars");
    assert_eq!(got["a6"], "play-vars", "play vars > host_vars");
    assert_eq!(got["a7"], "vars-files", "vars_files > play vars");
    assert_eq!(got["a8"], "role-vars", "role vars > vars_files");
    assert_eq!(got["a9"], "block-vars", "block vars > role vars");
    assert_eq!(got["a10"], "task-vars", "task vars > block vars");
    assert_eq!(got["a11"], "task-vars");
    assert_eq!(got["a12"], "set-fact", "set_fact > task vars");
    assert!(
        got["a13"].contains("registered"),
        "register > block vars: {text}"
    );
    assert_eq!(got["a14"], "role-param", "role params > set_fact");
    assert_eq!(
        read(&p.base(0).join("prec2")),
        "a15=include-param\n",
        "include params > set_fact"
    );
    assert_eq!(got["all"], "extra", "extra vars win: {text}");
}

#[test]
fn nested_templates_render_lazily() {
    let lab = TestLab::start(2);
    let p = Project::new(&lab, "[lab:vars]\nleaf=inventory\n");
    p.file(
        "site.yml",
        r#"
- hosts: lab
  gather_facts: false
  vars:
    a: "{{ b }}/x"
    b: "{{ c }}"
    c: "{{ leaf }}-{{ inventory_hostname }}"
    numbers: "{{ [1, 2] + more }}"
    more: [3]
  tasks:
    - name: first
      copy: { dest: "{{ base }}/one", content: "{{ a }} {{ numbers | length }}\n" }
    - set_fact:
        leaf: fact
    - name: second
      copy: { dest: "{{ base }}/two", content: "{{ a }}\n" }
    - name: task vars reach into play vars
      vars:
        c: task
      copy: { dest: "{{ base }}/three", content: "{{ a }}\n" }
"#,
    );
    let out = p.play(&[]);
    assert_eq!(out.code, 0, "{}", out.show());
    assert_eq!(read(&p.base(0).join("one")), "inventory-h1/x 3\n");
    assert_eq!(read(&p.base(1).join("one")), "inventory-h2/x 3\n");
    assert_eq!(read(&p.base(0).join("two")), "fact-h1/x\n");
    assert_eq!(read(&p.base(0).join("three")), "task/x\n");
}

// ---------------------------------------------------------------------------------------
// 4. Execution strategies and failure policy
// ---------------------------------------------------------------------------------------

#[test]
fn serial_batches_with_a_failure_in_the_first() {
    let lab = TestLab::start(5);
    let p = Project::new(&lab, "");
    p.file(
        "site.yml",
        r#"
- hosts: lab
  gather_facts: false
  serial: [2, "100%"]
  tasks:
    - name: batch
      copy:
        dest: "{{ base }}/batch"
        content: "{{ ansible_play_batch | join(',') }}\n"
    - name: h1 fails
      fail: msg=boom
      when: inventory_hostname == 'h1'
    - name: after
      copy: { dest: "{{ base }}/after", content: "x\n" }
"#,
    );
    let out = p.play(&[]);
    assert_eq!(out.code, 2, "{}", out.show());
    assert_eq!(read(&p.base(0).join("batch")), "h1,h2\n");
    assert_eq!(read(&p.base(1).join("batch")), "h1,h2\n");
    for i in 2..5 {
        assert_eq!(read(&p.base(i).join("batch")), "h3,h4,h5\n");
        assert!(p.base(i).join("after").exists());
    }
    assert!(!p.base(0).join("after").exists());
    assert!(p.base(1).join("after").exists());
    assert_eq!(out.stat("h1", "failed"), 1, "{}", out.show());
    assert_eq!(out.stat("h3", "failed"), 0, "{}", out.show());
    // Batch 1 finishes every task before batch 2 starts.
    let hosts: Vec<String> = out
        .events()
        .into_iter()
        .filter(|e| e["event"] == "host_result")
        .map(|e| e["host"].as_str().unwrap_or_default().to_string())
        .collect();
    let last_first = hosts.iter().rposition(|h| h == "h1" || h == "h2");
    let first_second = hosts
        .iter()
        .position(|h| h == "h3" || h == "h4" || h == "h5");
    assert!(last_first < first_second, "{hosts:?}");

    // When every host of a batch fails, later batches do not start.
    p.file(
        "site.yml",
        r#"
- hosts: lab
  gather_facts: false
  serial: 2
  tasks:
    - fail: msg=boom
"#,
    );
    let out = p.play(&[]);
    assert_eq!(out.code, 2, "{}", out.show());
    assert_eq!(
        out.recap().keys().cloned().collect::<Vec<_>>(),
        ["h1", "h2"]
    );
}

#[test]
fn free_strategy_lets_fast_hosts_run_ahead() {
    let lab = TestLab::start(2);
    let p = Project::new(&lab, "");
    let play = |strategy: &str| {
        format!(
            r#"
- hosts: lab
  gather_facts: false
  strategy: {strategy}
  tasks:
    - name: slow on h1
      shell: "sleep {{{{ 1 if inventory_hostname == 'h1' else 0 }}}}; date +%s%N > {{{{ base }}}}/t1"
    - name: second
      shell: "date +%s%N > {{{{ base }}}}/t2"
"#
        )
    };
    let stamp = |i: usize, f: &str| -> u128 {
        read(&p.base(i).join(f))
            .trim()
            .parse()
            .expect("a timestamp")
    };
    p.file("site.yml", &play("free"));
    let out = p.play(&[]);
    assert_eq!(out.code, 0, "{}", out.show());
    assert!(
        stamp(1, "t2") < stamp(0, "t1"),
        "h2 ran its second task while h1 was still on the first"
    );
    p.file("site.yml", &play("linear"));
    let out = p.play(&[]);
    assert_eq!(out.code, 0, "{}", out.show());
    assert!(
        stamp(1, "t2") >= stamp(0, "t1"),
        "linear keeps hosts in step"
    );
}

#[test]
fn any_errors_fatal_stops_every_host() {
    let lab = TestLab::start(3);
    let p = Project::new(&lab, "");
    p.file(
        "site.yml",
        r#"
- hosts: lab
  gather_facts: false
  any_errors_fatal: true
  tasks:
    - name: h2 fails
      command: "false"
      when: inventory_hostname == 'h2'
    - name: next
      copy: { dest: "{{ base }}/next", content: "x\n" }
- hosts: lab
  gather_facts: false
  tasks:
    - name: next play
      copy: { dest: "{{ base }}/next-play", content: "x\n" }
"#,
    );
    let out = p.play(&[]);
    assert_eq!(out.code, 2, "{}", out.show());
    for i in 0..3 {
        assert!(!p.base(i).join("next").exists(), "h{} ran on", i + 1);
        assert!(!p.base(i).join("next-play").exists(), "h{} ran on", i + 1);
    }
    assert_eq!(out.stat("h2", "failed"), 1);
    assert_eq!(out.stat("h1", "failed"), 0, "only h2 failed a task");
}

#[test]
fn max_fail_percentage_aborts_the_play() {
    let lab = TestLab::start(4);
    let p = Project::new(&lab, "");
    let play = |pct: u32| {
        format!(
            r#"
- hosts: lab
  gather_facts: false
  max_fail_percentage: {pct}
  tasks:
    - name: two of four fail
      command: "false"
      when: inventory_hostname in ['h1', 'h2']
    - name: next
      copy: {{ dest: "{{{{ base }}}}/next", content: "x\n" }}
"#
        )
    };
    p.file("site.yml", &play(30));
    let out = p.play(&[]);
    assert_eq!(out.code, 2, "{}", out.show());
    assert!(
        !p.base(2).join("next").exists(),
        "50% failed > 30%: the play stops"
    );
    assert!(!out.ran("h3", "next"), "{}", out.show());
    p.file("site.yml", &play(50));
    let out = p.play(&[]);
    assert_eq!(out.code, 2, "{}", out.show());
    assert!(p.base(2).join("next").exists(), "50% is not above 50%");
    assert!(!p.base(0).join("next").exists());
}

#[test]
fn run_once_runs_on_one_host_and_shares_its_result() {
    let lab = TestLab::start(3);
    let p = Project::new(&lab, "");
    let log = p.path("once.log");
    p.file(
        "site.yml",
        &format!(
            r#"
- hosts: lab
  gather_facts: false
  tasks:
    - name: once
      shell: "echo {{{{ inventory_hostname }}}} >> {log}; echo {{{{ inventory_hostname }}}}"
      register: picked
      run_once: true
    - name: a fact for all
      set_fact:
        chosen: "{{{{ inventory_hostname }}}}"
      run_once: true
    - name: everyone sees it
      copy: {{ dest: "{{{{ base }}}}/picked", content: "{{{{ picked.stdout }}}} {{{{ chosen }}}}\n" }}
"#,
            log = log.display()
        ),
    );
    // One fork: hosts waiting for the run_once result must not hold the only slot.
    let out = p.play(&["-f", "1"]);
    assert_eq!(out.code, 0, "{}", out.show());
    assert_eq!(read(&log), "h1\n", "the command ran once");
    for i in 0..3 {
        assert_eq!(read(&p.base(i).join("picked")), "h1 h1\n");
    }
    let once = out.results_of("once");
    assert_eq!(
        once.len(),
        1,
        "one result, as Ansible prints: {}",
        out.show()
    );
    assert_eq!(once[0]["host"], "h1");
    assert_eq!(out.stat("h1", "changed"), 2);
    assert_eq!(out.stat("h2", "changed"), 1, "{}", out.show());
}

/// The process ids from a shell up to init, as a shell on the target prints them.
const ANCESTORS: &str =
    r#"p=$$; while [ "$p" -gt 1 ]; do echo $p; p=$(cut -d' ' -f4 /proc/$p/stat); done"#;

#[test]
fn delegate_to_localhost_runs_on_the_controller() {
    let lab = TestLab::start(2);
    let p = Project::new(&lab, "");
    p.file(
        "site.yml",
        &format!(
            r#"
- hosts: lab
  gather_facts: false
  tasks:
    - name: on the controller
      copy:
        dest: "{{{{ playbook_dir }}}}/from-{{{{ inventory_hostname }}}}"
        content: "{{{{ base }}}}\n"
      delegate_to: localhost
    - name: ancestors local
      shell: |
        {ANCESTORS}
      delegate_to: localhost
      register: local
    - name: ancestors remote
      shell: |
        {ANCESTORS}
      register: remote
    - copy:
        dest: "{{{{ base }}}}/pids"
        content: "{{{{ local.stdout_lines | join(' ') }}}}\n{{{{ remote.stdout_lines | join(' ') }}}}\n"
"#
        ),
    );
    let child = p
        .command(&["playbook", "site.yml", "--output", "jsonl"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id().to_string();
    let out = child.wait_with_output().expect("wait");
    let show = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{show}");
    for i in 0..2 {
        assert_eq!(
            read(&p.path(&format!("from-h{}", i + 1))),
            format!("{}\n", p.base(i).display())
        );
        let pids = read(&p.base(i).join("pids"));
        let (local, remote) = pids.split_once('\n').expect("two lines");
        assert!(
            local.split(' ').any(|x| x == pid),
            "delegated: a child of shipshape ({pid}): {local}"
        );
        assert!(
            !remote.split(' ').any(|x| x == pid),
            "not delegated: a child of sshd: {remote}"
        );
    }
}

#[test]
fn handlers_flush_listen_once_and_end_host() {
    let lab = TestLab::start(2);
    let p = Project::new(&lab, "");
    p.file(
        "site.yml",
        r#"
- hosts: lab
  gather_facts: false
  tasks:
    - name: change one
      copy: { dest: "{{ base }}/one", content: "1\n" }
      notify: [count, restart stack]
    - name: change two
      copy: { dest: "{{ base }}/two", content: "2\n" }
      notify: count
    - block:
        - meta: flush_handlers
      vars:
        hv: block
    - name: handlers already ran
      shell: "test -f {{ base }}/listener-a && test -f {{ base }}/listener-b"
    - name: h1 ends here
      meta: end_host
      when: inventory_hostname == 'h1'
    - name: after end_host
      copy: { dest: "{{ base }}/after", content: "x\n" }
  handlers:
    - name: count
      shell: "echo ran >> {{ base }}/count"
    - name: listener a
      copy: { dest: "{{ base }}/listener-a", content: "{{ hv | default('play') }}\n" }
      listen: restart stack
    - name: listener b
      copy: { dest: "{{ base }}/listener-b", content: "b\n" }
      listen: restart stack
"#,
    );
    let out = p.play(&[]);
    assert_eq!(out.code, 0, "{}", out.show());
    for i in 0..2 {
        assert_eq!(
            read(&p.base(i).join("count")),
            "ran\n",
            "notified twice, ran once"
        );
    }
    assert_eq!(out.status("h1", "handlers already ran"), "changed");
    assert_eq!(
        read(&p.base(0).join("listener-a")),
        "play\n",
        "handlers do not inherit the flushing task's block"
    );
    assert!(!p.base(0).join("after").exists(), "end_host stops h1");
    assert!(p.base(1).join("after").exists(), "h2 goes on");
    assert_eq!(out.stat("h1", "failed"), 0);
    assert_eq!(out.results_of("count").len(), 2, "{}", out.show());
    let handler_starts: Vec<Json> = out
        .events()
        .into_iter()
        .filter(|e| e["event"] == "task_start" && e["handler"] == true)
        .collect();
    assert_eq!(
        handler_starts.len(),
        3,
        "each handler announced once: {}",
        out.show()
    );
    assert!(
        !out.ran("h1", "meta"),
        "flush_handlers has no result of its own"
    );
}

#[test]
fn force_handlers_runs_notified_handlers_after_a_failure() {
    let lab = TestLab::start(1);
    let p = Project::new(&lab, "");
    p.file(
        "site.yml",
        r#"
- hosts: lab
  gather_facts: false
  tasks:
    - name: change
      copy: { dest: "{{ base }}/conf", content: "1\n" }
      notify: restart
    - name: breaks
      command: "false"
  handlers:
    - name: restart
      copy: { dest: "{{ base }}/restarted", content: "yes\n" }
"#,
    );
    let out = p.play(&[]);
    assert_eq!(out.code, 2, "{}", out.show());
    assert!(
        !p.base(0).join("restarted").exists(),
        "no handler after a failure"
    );
    std::fs::remove_file(p.base(0).join("conf")).expect("rm");
    let out = p.play(&["--force-handlers"]);
    assert_eq!(out.code, 2, "{}", out.show());
    assert_eq!(read(&p.base(0).join("restarted")), "yes\n");
    assert_eq!(out.status("h1", "restart"), "changed");
}

#[test]
fn handlers_pending_after_a_failure_run_on_the_next_run() {
    let lab = TestLab::start(2);
    let p = Project::new(&lab, "");
    let play = |fail_on: &str| {
        format!(
            r#"
- hosts: lab
  gather_facts: false
  tasks:
    - name: change
      copy: {{ dest: "{{{{ base }}}}/conf", content: "1\n" }}
      notify: restart
    - name: breaks on {fail_on}
      command: "false"
      when: inventory_hostname == "{fail_on}"
  handlers:
    - name: restart
      shell: "echo x >> {{{{ base }}}}/restarts"
"#
        )
    };
    p.file("site.yml", &play("h1"));
    let out = p.play(&[]);
    assert_eq!(out.code, 2, "{}", out.show());
    assert!(
        !p.base(0).join("restarts").exists(),
        "no handler after a failure"
    );
    assert_eq!(read(&p.base(1).join("restarts")), "x\n", "h2 did not fail");
    assert!(
        out.stdout.contains("will run on the next run: restart"),
        "{}",
        out.show()
    );
    let state = read(&p.base(0).join(".shipshape/pending-handlers"));
    assert_eq!(state, "h1#site.yml#lab\trestart\n");
    assert!(
        !p.base(1).join(".shipshape").exists(),
        "h2 has nothing pending"
    );

    // Check mode shows the pending handler (a shell task: skipped in check mode, as in
    // Ansible) and records nothing.
    p.file("site.yml", &play("nobody"));
    let check = p.play(&["--check"]);
    assert_eq!(check.code, 0, "{}", check.show());
    assert!(check.ran("h1", "restart"), "{}", check.show());
    assert!(!check.ran("h2", "restart"), "{}", check.show());
    assert!(p.base(0).join(".shipshape/pending-handlers").exists());

    // The next real run: nothing changes, but h1's pending handler runs, once, and is cleared.
    let out = p.play(&[]);
    assert_eq!(out.code, 0, "{}", out.show());
    assert_eq!(out.status("h1", "change"), "ok");
    assert_eq!(out.status("h1", "restart"), "changed", "{}", out.show());
    assert!(!out.ran("h2", "restart"), "{}", out.show());
    assert_eq!(read(&p.base(0).join("restarts")), "x\n");
    assert!(!p.base(0).join(".shipshape").exists(), "state cleared");
    let out = p.play(&[]);
    assert!(!out.ran("h1", "restart"), "ran twice:\n{}", out.show());
}

// ---------------------------------------------------------------------------------------
// 5. Task keywords
// ---------------------------------------------------------------------------------------

#[test]
fn async_with_poll_waits_at_most_async_seconds_and_poll_zero_is_refused() {
    let lab = TestLab::start(1);
    let p = Project::new(&lab, "");
    p.file(
        "site.yml",
        r#"
- hosts: lab
  gather_facts: false
  tasks:
    - name: quick
      command: "true"
      async: 30
      poll: 5
    - name: too slow
      command: sleep 20
      async: 1
      poll: 1
"#,
    );
    let t0 = std::time::Instant::now();
    let out = p.play(&[]);
    assert_eq!(out.code, 2, "{}", out.show());
    assert!(t0.elapsed().as_secs() < 10, "waited {:?}", t0.elapsed());
    assert_eq!(out.status("h1", "quick"), "changed");
    assert_eq!(out.status("h1", "too slow"), "failed");
    p.file(
        "site.yml",
        "- hosts: lab\n  tasks:\n    - command: sleep 100\n      async: 10\n      poll: 0\n",
    );
    let out = p.play(&[]);
    assert_eq!(out.code, 4, "{}", out.show());
    assert!(out.stderr.contains("site.yml:4:7"), "{}", out.show());
    assert!(out.stderr.contains("fire-and-forget"), "{}", out.show());
}

#[test]
fn delegate_to_runs_on_the_other_host_with_this_hosts_variables() {
    let lab = TestLab::start(2);
    let p = Project::new(&lab, "");
    p.file(
        "site.yml",
        r#"
- hosts: h1
  gather_facts: false
  tasks:
    - name: on h2, for h1
      shell: echo "{{ inventory_hostname }} $SSH_CONNECTION" > {{ base }}/delegated
      delegate_to: "{{ groups['lab'][1] }}"
    - name: on the controller
      command: "true"
      delegate_to: localhost
"#,
    );
    let out = p.play(&[]);
    assert_eq!(out.code, 0, "{}", out.show());
    let text = read(&p.base(0).join("delegated"));
    // Written with h1's variables, over h2's connection (its address ends the line's
    // server part).
    assert!(text.starts_with("h1 "), "{text}");
    let server = text.split_whitespace().nth(3).unwrap_or_default();
    assert_eq!(server, lab.host_addr(1), "{text}");
}

#[test]
fn throttle_runs_a_task_on_one_host_at_a_time() {
    let lab = TestLab::start(3);
    let p = Project::new(&lab, "");
    // The loopback hosts share a file system: a lock directory shows any overlap.
    let lock = p.path("lock");
    p.file(
        "site.yml",
        &format!(
            r#"
- hosts: lab
  gather_facts: false
  tasks:
    - name: one at a time
      shell: "mkdir {lock} && sleep 0.3 && rmdir {lock}"
      throttle: 1
"#,
            lock = lock.display()
        ),
    );
    let out = p.play(&[]);
    assert_eq!(out.code, 0, "{}", out.show());
    assert_eq!(out.total("changed"), 3, "{}", out.show());
}

#[test]
fn until_retries_delay() {
    let lab = TestLab::start(1);
    let p = Project::new(&lab, "");
    p.file(
        "site.yml",
        r#"
- hosts: lab
  gather_facts: false
  tasks:
    - name: count to three
      shell: "n=$(cat {{ base }}/counter 2>/dev/null || echo 0); n=$((n+1)); echo $n > {{ base }}/counter; echo $n"
      register: r
      until: r.stdout | int >= 3
      retries: 5
      delay: 0
    - name: never
      shell: "echo x >> {{ base }}/never"
      register: n
      until: false
      retries: 2
      delay: 0
      ignore_errors: true
"#,
    );
    let out = p.play(&[]);
    assert_eq!(out.code, 0, "{}", out.show());
    assert_eq!(read(&p.base(0).join("counter")), "3\n");
    let r = &out.results_of("count to three")[0];
    assert_eq!(r["result"]["attempts"], 3, "{}", out.show());
    assert_eq!(r["status"], "changed");
    assert_eq!(read(&p.base(0).join("never")), "x\nx\nx\n", "1 + 2 retries");
    let n = &out.results_of("never")[0];
    assert_eq!(n["status"], "ignored", "{}", out.show());
    assert_eq!(n["result"]["attempts"], 3, "{}", out.show());
}

#[test]
fn failed_when_changed_when_and_ignore_errors() {
    let lab = TestLab::start(1);
    let p = Project::new(&lab, "");
    p.file(
        "site.yml",
        r#"
- hosts: lab
  gather_facts: false
  tasks:
    - name: not a change
      command: echo hi
      changed_when: false
    - name: rc 1 is fine
      shell: "exit 1"
      register: r
      failed_when: r.rc not in [0, 1]
    - name: quiet probe
      shell: "exit 1"
      changed_when: false
      failed_when: false
    - name: a change by output
      command: echo CHANGED
      register: c
      changed_when: "'CHANGED' in c.stdout"
    - name: output means failure
      command: echo boom
      register: b
      failed_when: "'boom' in b.stdout"
      ignore_errors: true
    - name: plain failure ignored
      command: "false"
      ignore_errors: yes
    - name: still running
      copy: { dest: "{{ base }}/still", content: "{{ b.failed }} {{ r.rc }}\n" }
"#,
    );
    let out = p.play(&[]);
    assert_eq!(out.code, 0, "{}", out.show());
    assert_eq!(out.status("h1", "not a change"), "ok");
    assert_eq!(out.status("h1", "rc 1 is fine"), "changed");
    assert_eq!(out.status("h1", "quiet probe"), "ok");
    assert_eq!(out.status("h1", "a change by output"), "changed");
    assert_eq!(out.status("h1", "output means failure"), "ignored");
    assert_eq!(out.status("h1", "plain failure ignored"), "ignored");
    assert_eq!(read(&p.base(0).join("still")), "True 1\n");
    assert_eq!(out.stat("h1", "ignored"), 2, "{}", out.show());
    assert_eq!(out.stat("h1", "failed"), 0, "{}", out.show());
}

#[test]
fn check_mode_false_runs_for_real_inside_check() {
    let lab = TestLab::start(1);
    let p = Project::new(&lab, "");
    p.file(
        "site.yml",
        r#"
- hosts: lab
  gather_facts: false
  tasks:
    - name: real
      copy: { dest: "{{ base }}/real", content: "x\n" }
      check_mode: false
    - name: predicted
      copy: { dest: "{{ base }}/predicted", content: "x\n" }
    - name: real command
      command: "touch {{ base }}/touched"
      check_mode: no
    - name: forced check
      copy: { dest: "{{ base }}/forced-check", content: "x\n" }
      check_mode: true
"#,
    );
    let out = p.play(&["--check"]);
    assert_eq!(out.code, 0, "{}", out.show());
    assert!(p.base(0).join("real").exists());
    assert!(p.base(0).join("touched").exists());
    assert!(!p.base(0).join("predicted").exists());
    assert_eq!(out.status("h1", "predicted"), "changed");
    let out = p.play(&[]);
    assert_eq!(out.code, 0, "{}", out.show());
    assert!(p.base(0).join("predicted").exists());
    assert!(
        !p.base(0).join("forced-check").exists(),
        "check_mode: true never changes"
    );
    assert_eq!(out.status("h1", "forced check"), "changed");
}

#[test]
fn no_log_hides_the_secret_everywhere() {
    let lab = TestLab::start(1);
    let p = Project::new(&lab, "");
    const SECRET: &str = "hunter2-s3cr3t";
    p.file(
        "site.yml",
        &format!(
            r#"
- hosts: lab
  gather_facts: false
  vars:
    secret: {SECRET}
  tasks:
    - name: write secret
      copy: {{ dest: "{{{{ base }}}}/secret", content: "{{{{ secret }}}}\n" }}
      no_log: true
    - name: echo secret
      command: "echo {{{{ secret }}}}"
      no_log: true
    - name: loop secret
      copy: {{ dest: "{{{{ base }}}}/{{{{ item }}}}", content: "{{{{ secret }}}}\n" }}
      loop: ["{{{{ secret }}}}-a"]
      no_log: true
    - name: fail with secret
      fail: msg="bad {{{{ secret }}}}"
      no_log: true
      ignore_errors: true
    - name: failing command
      shell: "echo {{{{ secret }}}} >&2; exit 3"
      no_log: true
      ignore_errors: true
    - name: debug secret
      debug: msg="{{{{ secret }}}}"
      no_log: true
    - block:
        - name: in a no_log block
          command: "echo {{{{ secret }}}}"
      no_log: true
"#
        ),
    );
    // First run (changes), then a changed secret with --diff, in both formats.
    for (i, args) in [
        vec!["--output", "jsonl", "-v"],
        vec!["--output", "jsonl", "--diff", "--check"],
        vec!["--output", "human", "--diff", "-vvv"],
    ]
    .into_iter()
    .enumerate()
    {
        if i > 0 {
            std::fs::write(p.base(0).join("secret"), "old\n").expect("write");
        }
        let junit = p.path("report.xml");
        let markdown = p.path("report.md");
        let mut a = vec![
            "playbook",
            "site.yml",
            "--junit",
            junit.to_str().expect("utf-8 path"),
            "--markdown",
            markdown.to_str().expect("utf-8 path"),
        ];
        a.extend(args);
        let out = p.run(&a);
        assert_eq!(out.code, 0, "{}", out.show());
        assert!(
            !out.stdout.contains("s3cr3t"),
            "secret in stdout:\n{}",
            out.show()
        );
        for report in [&junit, &markdown] {
            let text = read(report);
            assert!(text.contains("write secret"), "{text}");
            assert!(
                !text.contains("s3cr3t"),
                "secret in {}:\n{text}",
                report.display()
            );
        }
        assert!(
            !out.stderr.contains("s3cr3t"),
            "secret in stderr:\n{}",
            out.show()
        );
        assert!(out.stdout.contains("no_log"), "{}", out.show());
    }
    assert_eq!(read(&p.base(0).join("secret")), format!("{SECRET}\n"));
}

// ---------------------------------------------------------------------------------------
// 6. Become
// ---------------------------------------------------------------------------------------

#[test]
fn become_user_switches_the_user() {
    let lab = TestLab::start(1);
    let p = Project::new(&lab, "");
    p.file(
        "site.yml",
        r#"
- hosts: lab
  gather_facts: false
  tasks:
    - name: plain
      command: id -un
      register: plain
    - name: as nobody
      command: id -un
      become: true
      become_user: nobody
      register: nobody
    - name: become_user alone does not become
      command: id -un
      become_user: nobody
      register: alone
    - copy:
        dest: "{{ base }}/users"
        content: "{{ plain.stdout }} {{ nobody.stdout }} {{ alone.stdout }}\n"
      become: false
    - name: a file written as nobody
      copy: { dest: "{{ base }}/open/mine", content: "x\n" }
      become: true
      become_user: nobody
"#,
    );
    let open = p.base(0).join("open");
    std::fs::create_dir_all(&open).expect("mkdir");
    std::fs::set_permissions(&open, std::os::unix::fs::PermissionsExt::from_mode(0o777))
        .expect("chmod");
    let out = p.play(&[]);
    assert_eq!(out.code, 0, "{}", out.show());
    let me = lab.user().to_string();
    assert_eq!(
        read(&p.base(0).join("users")),
        format!("{me} nobody {me}\n")
    );
    assert_eq!(
        out.results_of("as nobody")[0]["result"]["stdout"],
        "nobody",
        "{}",
        out.show()
    );
    let nobody_uid = Command::new("id")
        .args(["-u", "nobody"])
        .output()
        .expect("id");
    let nobody_uid: u32 = String::from_utf8_lossy(&nobody_uid.stdout)
        .trim()
        .parse()
        .expect("a uid");
    let meta = std::fs::metadata(open.join("mine")).expect("written");
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), nobody_uid);
    // -b turns become on for every task: now become_user applies.
    let out = p.play(&["-b"]);
    assert_eq!(out.code, 0, "{}", out.show());
    assert_eq!(
        read(&p.base(0).join("users")),
        "root nobody nobody\n",
        "{}",
        out.show()
    );
    let out = p.play(&["-b", "--become-user", "nobody"]);
    assert_eq!(out.code, 0, "{}", out.show());
    assert_eq!(out.results_of("plain")[0]["result"]["stdout"], "nobody");
}

// ---------------------------------------------------------------------------------------
// 7. Output and command line
// ---------------------------------------------------------------------------------------

#[test]
fn list_options_and_syntax_check() {
    let lab = TestLab::start(3);
    let p = Project::new(&lab, "");
    write_roles(&p);
    p.file(
        "site.yml",
        r#"
- name: first play
  hosts: "lab:!h2"
  gather_facts: false
  roles:
    - api
  tasks:
    - name: tagged task
      debug: msg=x
      tags: [alpha, beta]
- name: second play
  hosts: h2
  tags: [gamma]
  tasks:
    - name: other task
      debug: msg=y
"#,
    );
    let out = p.run(&["playbook", "site.yml", "--list-hosts"]);
    assert_eq!(out.code, 0, "{}", out.show());
    assert!(out.stdout.contains("    hosts (2):"), "{}", out.show());
    let first: Vec<&str> = out
        .stdout
        .split("second play")
        .next()
        .expect("text")
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with('h') && !l.ends_with(':'))
        .collect();
    assert_eq!(first, ["h1", "h3"], "{}", out.show());

    let out = p.run(&["playbook", "site.yml", "--list-tasks"]);
    assert_eq!(out.code, 0, "{}", out.show());
    for t in [
        "common : common runs",
        "api : api config",
        "tagged task",
        "other task",
    ] {
        assert!(out.stdout.contains(t), "{t}: {}", out.show());
    }
    assert!(
        out.stdout
            .contains("play #2 (h2): second play\tTAGS: [gamma]"),
        "{}",
        out.show()
    );
    let out = p.run(&["playbook", "site.yml", "--list-tasks", "--tags", "alpha"]);
    assert!(out.stdout.contains("tagged task"), "{}", out.show());
    assert!(!out.stdout.contains("api config"), "{}", out.show());

    let out = p.run(&["playbook", "site.yml", "--list-tags"]);
    assert_eq!(out.code, 0, "{}", out.show());
    assert!(out.stdout.contains("alpha, beta"), "{}", out.show());
    assert!(out.stdout.contains("gamma"), "{}", out.show());

    let out = p.run(&["playbook", "site.yml", "--syntax-check"]);
    assert_eq!(out.code, 0, "{}", out.show());
    assert!(out.stdout.contains("site.yml"), "{}", out.show());
    p.file(
        "bad.yml",
        "- hosts: lab\n  tasks:\n    - name: x\n      debug: msg=x\n      whne: true\n",
    );
    let out = p.run(&["playbook", "bad.yml", "--syntax-check"]);
    assert_eq!(out.code, 4, "{}", out.show());
    assert!(out.stderr.contains("bad.yml:5:"), "{}", out.show());
    // None of these connected: no host ran anything.
    assert!(!p.base(0).join("api.port").exists());
}

#[test]
fn human_output_has_no_escape_codes_without_a_tty() {
    let lab = TestLab::start(1);
    let p = Project::new(&lab, "");
    p.file(
        "site.yml",
        r#"
- hosts: lab
  gather_facts: false
  tasks:
    - copy: { dest: "{{ base }}/f", content: "x\n" }
    - command: "false"
      ignore_errors: true
"#,
    );
    let out = p.run(&["playbook", "site.yml", "--diff"]);
    assert_eq!(out.code, 0, "{}", out.show());
    assert!(out.stdout.contains("PLAY RECAP"), "{}", out.show());
    assert!(!out.stdout.contains('\x1b'), "{}", out.show());
    assert!(!out.stderr.contains('\x1b'), "{}", out.show());
    let out = p.run(&["playbook", "site.yml", "--color", "always"]);
    assert!(out.stdout.contains('\x1b'), "{}", out.show());
}

#[test]
fn extra_vars_from_a_file_and_json() {
    let lab = TestLab::start(1);
    let p = Project::new(&lab, "");
    p.file("vars.yml", "from_file: yes-file\nlisted: [1, 2, 3]\n");
    p.file(
        "site.yml",
        r#"
- hosts: lab
  gather_facts: false
  vars:
    from_file: play
  tasks:
    - copy:
        dest: "{{ base }}/ev"
        content: "{{ from_file }} {{ listed | sum }} {{ obj.k | length }} {{ n + 1 }} {{ word }}\n"
"#,
    );
    let out = p.play(&[
        "-e",
        "@vars.yml",
        "-e",
        r#"{"obj": {"k": [1, 2]}, "n": 41}"#,
        "-e",
        "word=plain",
    ]);
    assert_eq!(out.code, 0, "{}", out.show());
    assert_eq!(read(&p.base(0).join("ev")), "yes-file 6 2 42 plain\n");
}

#[test]
fn check_mode_skips_commands_unless_creates() {
    let lab = TestLab::start(1);
    let p = Project::new(&lab, "");
    p.file(
        "site.yml",
        r#"
- hosts: lab
  gather_facts: false
  tasks:
    - name: plain command
      command: "touch {{ base }}/a"
    - name: with creates
      command: "touch {{ base }}/b"
      args:
        creates: "{{ base }}/b"
    - name: already created
      command: "touch {{ base }}/c"
      args:
        creates: "{{ base }}"
"#,
    );
    let out = p.play(&["--check"]);
    assert_eq!(out.code, 0, "{}", out.show());
    assert_eq!(out.status("h1", "plain command"), "skipped");
    assert_eq!(out.status("h1", "with creates"), "changed");
    assert_eq!(out.status("h1", "already created"), "ok");
    assert!(!p.base(0).join("a").exists() && !p.base(0).join("b").exists());
    assert_eq!(out.stat("h1", "changed"), 1, "{}", out.show());
}

#[test]
fn sigterm_stops_the_run_with_exit_99_and_a_recap() {
    let lab = TestLab::start(2);
    let p = Project::new(&lab, "");
    p.file(
        "site.yml",
        r#"
- hosts: lab
  gather_facts: false
  tasks:
    - name: before
      copy: { dest: "{{ base }}/before", content: "x\n" }
    - name: wait
      pause: seconds=30
    - name: after
      copy: { dest: "{{ base }}/after", content: "x\n" }
"#,
    );
    let mut child = p
        .command(&["playbook", "site.yml", "--output", "jsonl"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let reader = {
        let lines = lines.clone();
        let stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines().map_while(Result::ok) {
                lines.lock().expect("lines").push(l);
            }
        })
    };
    let started = Instant::now();
    loop {
        let waiting = lines
            .lock()
            .expect("lines")
            .iter()
            .any(|l| l.contains("\"task_start\"") && l.contains("\"wait\""));
        if waiting {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the pause never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let pid = i32::try_from(child.id()).expect("pid");
    // SAFETY: sends SIGTERM to the child we spawned (still running: not yet waited for).
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let signalled = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if signalled.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("still running 10 s after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let took = signalled.elapsed();
    reader.join().expect("reader");
    let out = Outcome {
        code: status.code().unwrap_or(-1),
        stdout: lines.lock().expect("lines").join("\n"),
        stderr: String::new(),
    };
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(out.code, 99, "{}", out.show());
    let recap = out
        .events()
        .into_iter()
        .find(|e| e["event"] == "recap")
        .unwrap_or_else(|| panic!("no recap: {}", out.show()));
    assert_eq!(recap["interrupted"], true);
    assert!(p.base(0).join("before").exists());
    assert!(!p.base(0).join("after").exists());
    assert!(!p.base(1).join("after").exists());
}

// ---------------------------------------------------------------------------------------
// 8. Inventory
// ---------------------------------------------------------------------------------------

#[test]
fn yaml_inventory_with_vars_dirs_and_patterns() {
    let lab = TestLab::start(3);
    let p = Project::new(&lab, "");
    let mut yaml = String::from("all:\n  children:\n    lab:\n      hosts:\n");
    for i in 0..3 {
        let base = p.path(&format!("hosts/h{}", i + 1));
        std::fs::create_dir_all(&base).expect("mkdir");
        yaml.push_str(&format!(
            "        h{n}:\n          ansible_host: {addr}\n          ansible_port: {port}\n          ansible_user: {user}\n          ansible_ssh_private_key_file: {key}\n          base: {base}\n",
            n = i + 1,
            addr = lab.host_addr(i),
            port = lab.port(),
            user = lab.user(),
            key = lab.key().display(),
            base = base.display(),
        ));
    }
    yaml.push_str("      vars:\n        color: green\n        size: small\n");
    yaml.push_str("    odd:\n      hosts:\n        h1:\n        h3:\n");
    let inv = p.file("inv/hosts.yml", &yaml);
    p.file("inv/group_vars/lab.yml", "color: blue\n");
    p.file("inv/group_vars/odd/main.yml", "size: odd-size\n");
    p.file("inv/host_vars/h2.yml", "color: red\n");
    p.file(
        "site.yml",
        r#"
- hosts: 'lab:!h2'
  gather_facts: false
  tasks:
    - copy: { dest: "{{ base }}/not-h2", content: "{{ color }} {{ size }} {{ group_names | join(',') }}\n" }
- hosts: ~h[13]
  gather_facts: false
  tasks:
    - copy: { dest: "{{ base }}/regex", content: "x\n" }
- hosts: lab:&odd
  gather_facts: false
  tasks:
    - copy: { dest: "{{ base }}/both", content: "x\n" }
- hosts: h2
  gather_facts: false
  tasks:
    - copy: { dest: "{{ base }}/h2", content: "{{ color }} {{ size }}\n" }
"#,
    );
    let out = Command::new(env!("CARGO_BIN_EXE_shipshape"))
        .args(["playbook", "site.yml", "--output", "jsonl", "-i"])
        .arg(&inv)
        .arg("--known-hosts")
        .arg(lab.known_hosts())
        .current_dir(p.dir.path())
        .output()
        .expect("run");
    let show = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{show}");
    let h = |n: usize, f: &str| p.path(&format!("hosts/h{n}/{f}"));
    assert_eq!(read(&h(1, "not-h2")), "blue odd-size lab,odd\n");
    assert_eq!(read(&h(3, "not-h2")), "blue odd-size lab,odd\n");
    assert!(!h(2, "not-h2").exists());
    assert!(h(1, "regex").exists() && h(3, "regex").exists() && !h(2, "regex").exists());
    assert!(h(1, "both").exists() && !h(2, "both").exists());
    assert_eq!(read(&h(2, "h2")), "red small\n");
}

#[test]
fn implicit_localhost_runs_on_the_controller() {
    let lab = TestLab::start(1);
    let p = Project::new(&lab, "");
    p.file(
        "site.yml",
        &format!(
            r#"
- hosts: all
  gather_facts: false
  tasks:
    - copy: {{ dest: "{{{{ playbook_dir }}}}/all-{{{{ inventory_hostname }}}}", content: "x\n" }}
- hosts: localhost
  gather_facts: false
  tasks:
    - name: local
      shell: |
        {ANCESTORS}
      register: local
    - copy:
        dest: "{{{{ playbook_dir }}}}/local"
        content: "{{{{ inventory_hostname }}}} {{{{ group_names | length }}}}\n{{{{ local.stdout_lines | join(' ') }}}}\n"
- hosts: localhost
  connection: local
  gather_facts: true
  tasks:
    - copy:
        dest: "{{{{ playbook_dir }}}}/conn-local"
        content: "{{{{ ansible_connection | default('local') }}}} {{{{ ansible_facts.system | default('?') }}}}\n"
"#
        ),
    );
    let child = p
        .command(&["playbook", "site.yml", "--output", "jsonl"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id().to_string();
    let out = child.wait_with_output().expect("wait");
    let show = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{show}");
    assert!(p.path("all-h1").exists());
    assert!(
        !p.path("all-localhost").exists(),
        "`all` has no implicit localhost"
    );
    let local = read(&p.path("local"));
    let (head, pids) = local.split_once('\n').expect("two lines");
    assert_eq!(head, "localhost 0");
    assert!(pids.split_whitespace().any(|x| x == pid), "{local}");
    assert_eq!(read(&p.path("conn-local")), "local Linux\n", "{show}");
}
