//! Tests of whole inventory loads from files: sources of every kind, group_vars/host_vars
//! precedence, dynamic inventory scripts and the `ansible-inventory` output shapes.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::*;

/// A scratch directory with files written from (relative path, content) pairs.
fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (path, content) in files {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().expect("has parent")).expect("mkdir");
        std::fs::write(&full, content).expect("write");
    }
    dir
}

fn executable(path: &Path) {
    let mut perms = std::fs::metadata(path).expect("exists").permissions();
    perms.set_mode(0o755);
    std::fs::set_permissions(path, perms).expect("chmod");
}

fn json(v: Option<&Value>) -> String {
    serde_json::to_string(v.expect("variable is set")).expect("json")
}

fn var(inv: &Inventory, host: &str, key: &str) -> String {
    json(inv.host_vars(host).get(key))
}

#[test]
fn directory_sources_load_every_file_but_skip_ansible_ignored_ones() {
    let dir = tree(&[
        ("inv/01-hosts.ini", "[web]\nw1\n"),
        ("inv/02-more.yml", "db:\n  hosts:\n    d1:\n"),
        (
            "inv/03-noext",
            "all:\n  children:\n    cache:\n      hosts: {c1: }\n",
        ),
        ("inv/sub/04.ini", "[web]\nw2\n"),
        ("inv/README.md", "[docs]\nnot-a-host\n"),
        ("inv/old.retry", "retried\n"),
        ("inv/ansible.cfg", "[defaults]\nnope\n"),
        ("inv/.hidden", "hidden\n"),
        ("inv/hosts.bak", "bak\n"),
        ("inv/group_vars/web.yml", "from_dir: 1\n"),
    ]);
    let inv = Inventory::load(&[dir.path().join("inv")]).expect("loads");
    let hosts: Vec<&str> = inv.hosts().map(|h| h.name.as_str()).collect();
    assert_eq!(hosts, ["w1", "d1", "c1", "w2"]);
    // group_vars/ beside a directory source is that directory's own group_vars/.
    assert_eq!(var(&inv, "w2", "from_dir"), "1");
}

#[test]
fn several_sources_merge() {
    let dir = tree(&[
        ("a/hosts", "[web]\nw1\n[web:vars]\nx=1\n"),
        (
            "b/hosts.yml",
            "web:\n  hosts:\n    w2:\n  vars:\n    y: 2\n",
        ),
    ]);
    let inv =
        Inventory::load(&[dir.path().join("a/hosts"), dir.path().join("b/hosts.yml")]).expect("ok");
    assert_eq!(inv.group_hosts("web"), ["w1", "w2"]);
    assert_eq!(var(&inv, "w1", "y"), "2");
    assert_eq!(var(&inv, "w2", "x"), "1");
}

#[test]
fn a_comma_separated_host_list_is_like_ansible_dash_i() {
    let inv = Inventory::load(&[PathBuf::from("h1,h2:2222,[::1]:22,")]).expect("ok");
    assert_eq!(inv.group_hosts("ungrouped"), ["h1", "h2", "::1"]);
    assert_eq!(var(&inv, "h2", "ansible_port"), "2222");
    assert!(inv.host_vars("h1").is_empty());
    // A single host needs the trailing comma, as in Ansible.
    let inv = Inventory::load(&[PathBuf::from("solo,")]).expect("ok");
    assert_eq!(inv.select("all").expect("ok"), ["solo"]);
}

#[test]
fn a_host_in_ungrouped_leaves_it_when_another_source_groups_it() {
    let dir = tree(&[("hosts", "[web]\nh1\n")]);
    let inv = Inventory::load(&[PathBuf::from("h1,h2,"), dir.path().join("hosts")]).expect("ok");
    assert_eq!(inv.group_hosts("ungrouped"), ["h2"]);
    assert_eq!(inv.group_names("h1"), ["web"]);
    assert_eq!(inv.group_names("h2"), ["ungrouped"]);
}

#[test]
fn group_names_include_parents_and_the_groups_map_includes_children() {
    let dir = tree(&[(
        "hosts",
        "[web]\nw1\n[db]\nd1\n[prod:children]\nweb\ndb\n[dc:children]\nprod\n",
    )]);
    let inv = Inventory::load(&[dir.path().join("hosts")]).expect("ok");
    assert_eq!(inv.group_names("w1"), ["dc", "prod", "web"]);
    let groups = inv.groups_map();
    let keys: Vec<&str> = groups.keys().map(String::as_str).collect();
    assert_eq!(keys, ["all", "ungrouped", "web", "db", "prod", "dc"]);
    assert_eq!(groups["dc"], ["w1", "d1"]);
    assert_eq!(groups["all"], ["w1", "d1"]);
    assert!(groups["ungrouped"].is_empty());
    assert_eq!(inv.group("dc").expect("dc").depth, 1);
    assert_eq!(inv.group("web").expect("web").depth, 3);
}

/// The full Ansible precedence ladder, each rung overriding the one below it.
#[test]
fn variable_precedence_follows_ansible() {
    let dir = tree(&[
        (
            "inv/hosts",
            "[web]\nw1 v_host=inventory-host\n[prod:children]\nweb\n\
             [all:vars]\nv_all=inventory-all\nv_gva=inventory-all\n\
             [prod:vars]\nv_group=inventory-prod\nv_gv=inventory-prod\n\
             [web:vars]\nv_group=inventory-web\n",
        ),
        (
            "inv/group_vars/all.yml",
            "v_gva: inv-gv-all\nv_pgva: inv-gv-all\n",
        ),
        (
            "inv/group_vars/prod.yml",
            "v_gv: inv-gv-prod\nv_all: inv-gv-prod\n",
        ),
        (
            "inv/group_vars/web/10-main.yml",
            "v_gv: inv-gv-web\nv_pgv: inv-gv-web\n",
        ),
        ("inv/group_vars/web/20-more.yaml", "v_more: inv-gv-web-20\n"),
        (
            "inv/host_vars/w1.yml",
            "v_host: inv-hv\nv_hv: inv-hv\nv_gv: inv-hv\n",
        ),
        ("play/group_vars/all.yml", "v_pgva: play-gv-all\n"),
        (
            "play/group_vars/web.yml",
            "v_pgv: play-gv-web\nv_gva: play-gv-web\n",
        ),
        ("play/host_vars/w1", "v_hv: play-hv\n"),
    ]);
    let mut inv = Inventory::load(&[dir.path().join("inv/hosts")]).expect("ok");
    inv.add_playbook_vars_dir(&dir.path().join("play"))
        .expect("ok");
    // inventory-file group vars: child group (web) over parent (prod) over all.
    assert_eq!(var(&inv, "w1", "v_group"), "\"inventory-web\"");
    // inventory group_vars/* over inventory-file vars of all.
    assert_eq!(var(&inv, "w1", "v_all"), "\"inv-gv-prod\"");
    // playbook group_vars/all over inventory group_vars/all.
    assert_eq!(var(&inv, "w1", "v_pgva"), "\"play-gv-all\"");
    // playbook group_vars/web over inventory group_vars/web, and over group_vars/all.
    assert_eq!(var(&inv, "w1", "v_pgv"), "\"play-gv-web\"");
    assert_eq!(var(&inv, "w1", "v_gva"), "\"play-gv-web\"");
    // A group_vars directory merges its files in name order.
    assert_eq!(var(&inv, "w1", "v_more"), "\"inv-gv-web-20\"");
    // inventory host_vars over inventory-file host vars and every group var.
    assert_eq!(var(&inv, "w1", "v_host"), "\"inv-hv\"");
    assert_eq!(var(&inv, "w1", "v_gv"), "\"inv-hv\"");
    // playbook host_vars over inventory host_vars.
    assert_eq!(var(&inv, "w1", "v_hv"), "\"play-hv\"");

    let sources: Vec<String> = inv
        .host_var_layers("w1")
        .into_iter()
        .map(|l| {
            let s = l.source.replace(&dir.path().display().to_string(), "");
            s.trim_start_matches('/').to_string()
        })
        .collect();
    assert_eq!(
        sources,
        [
            "inventory vars of group 'all'",
            "inventory vars of group 'prod'",
            "inventory vars of group 'web'",
            "inv/group_vars/all.yml",
            "play/group_vars/all.yml",
            "inv/group_vars/prod.yml",
            "inv/group_vars/web/10-main.yml",
            "inv/group_vars/web/20-more.yaml",
            "play/group_vars/web.yml",
            "inventory vars of host 'w1'",
            "inv/host_vars/w1.yml",
            "play/host_vars/w1",
        ]
    );
}

#[test]
fn groups_of_equal_depth_merge_by_priority_then_name() {
    let dir = tree(&[(
        "inv.yml",
        "all:\n  children:\n    a:\n      hosts: {h1: }\n      vars: {v: a}\n\
         \x20   b:\n      hosts: {h1: }\n      vars: {v: b}\n\
         \x20   z:\n      hosts: {h1: }\n      vars: {v: z, ansible_group_priority: 0}\n",
    )]);
    let inv = Inventory::load(&[dir.path().join("inv.yml")]).expect("ok");
    // a, b, z all have depth 1; z has the lowest priority, then b beats a by name.
    assert_eq!(var(&inv, "h1", "v"), "\"b\"");
    assert!(!inv.host_vars("h1").contains_key("ansible_group_priority"));
}

#[test]
fn mappings_replace_whole_by_default() {
    let dir = tree(&[
        ("hosts", "[web]\nw1\n"),
        ("group_vars/all.yml", "cfg: {a: 1, b: 2}\n"),
        ("group_vars/web.yml", "cfg: {b: 3}\n"),
    ]);
    let inv = Inventory::load(&[dir.path().join("hosts")]).expect("ok");
    assert_eq!(var(&inv, "w1", "cfg"), "{\"b\":3}");
}

#[test]
fn vars_file_lookup_prefers_the_bare_name_and_ignores_unknown_names() {
    let dir = tree(&[
        ("hosts", "[web]\nw1\n"),
        ("group_vars/web", "pick: bare\n"),
        ("group_vars/web.yml", "pick: yml\n"),
        ("group_vars/nosuchgroup.yml", "- not even a mapping\n"),
        ("group_vars/all/.hidden.yml", "hidden: 1\n"),
        ("group_vars/all/notes.md", "# not loaded\n"),
        ("group_vars/all/backup.yml~", "backup: 1\n"),
        ("group_vars/all/sub/deep.yml", "deep: 1\n"),
    ]);
    let inv = Inventory::load(&[dir.path().join("hosts")]).expect("ok");
    let vars = inv.host_vars("w1");
    assert_eq!(json(vars.get("pick")), "\"bare\"");
    assert_eq!(json(vars.get("deep")), "1");
    assert!(!vars.contains_key("hidden") && !vars.contains_key("backup"));
}

#[test]
fn implicit_localhost_gets_group_vars_all_and_its_host_vars() {
    let dir = tree(&[
        ("hosts", "[web]\nw1\n"),
        ("group_vars/all.yml", "common: 1\n"),
        ("host_vars/localhost.yml", "local_only: 2\n"),
    ]);
    let inv = Inventory::load(&[dir.path().join("hosts")]).expect("ok");
    let vars = inv.host_vars("localhost");
    assert_eq!(json(vars.get("common")), "1");
    assert_eq!(json(vars.get("local_only")), "2");
    assert_eq!(json(vars.get("ansible_connection")), "\"local\"");
    assert!(inv.group_names("localhost").is_empty());
    assert!(!inv.groups_map()["all"].contains(&"localhost".to_string()));
}

#[test]
fn vault_encrypted_files_need_a_decryptor() {
    let dir = tree(&[
        ("hosts", "[web]\nw1\n"),
        ("group_vars/web.yml", "$ANSIBLE_VAULT;1.1;AES256\n6162\n"),
    ]);
    let err = Inventory::load(&[dir.path().join("hosts")]).expect_err("encrypted");
    assert!(
        err.to_string()
            .contains("group_vars/web.yml: cannot read: the file is encrypted"),
        "{err}"
    );
    let options = LoadOptions {
        decrypt: Some(Arc::new(|_: &Path, text: &str| {
            Ok(format!("secret: {}\n", text.lines().count()))
        })),
    };
    let inv = Inventory::load_with(&[dir.path().join("hosts")], options).expect("decrypted");
    assert_eq!(var(&inv, "w1", "secret"), "2");
}

#[test]
fn dynamic_inventory_with_meta() {
    let dir = tree(&[(
        "inv.sh",
        r#"#!/bin/sh
if [ "$1" = "--list" ]; then
cat <<'EOF'
{
  "web": {"hosts": ["w2", "w1"], "vars": {"http_port": 80}, "children": ["canary"]},
  "canary": ["c1"],
  "db": {"hosts": ["d1"]},
  "_meta": {"hostvars": {"w1": {"ansible_host": "10.0.0.1", "tags": {"z": 1, "a": 2}}}}
}
EOF
else
  echo "--host must not be called when _meta is present" >&2; exit 3
fi
"#,
    )]);
    let script = dir.path().join("inv.sh");
    executable(&script);
    let inv = Inventory::load(&[script]).expect("script runs");
    assert_eq!(inv.group_hosts("web"), ["w2", "w1", "c1"]);
    assert_eq!(var(&inv, "w1", "ansible_host"), "\"10.0.0.1\"");
    assert_eq!(
        var(&inv, "w1", "tags"),
        "{\"z\":1,\"a\":2}",
        "key order kept"
    );
    assert_eq!(var(&inv, "c1", "http_port"), "80");
    assert_eq!(inv.group_names("c1"), ["canary", "web"]);
}

#[test]
fn dynamic_inventory_without_meta_asks_each_host() {
    let dir = tree(&[(
        "inv.py",
        r#"#!/bin/sh
case "$1" in
  --list) echo '{"web": ["w1", "w2"]}' ;;
  --host) echo "{\"who\": \"$2\"}" ;;
esac
"#,
    )]);
    let script = dir.path().join("inv.py");
    executable(&script);
    let inv = Inventory::load(&[script]).expect("script runs");
    assert_eq!(var(&inv, "w2", "who"), "\"w2\"");
}

#[test]
fn failing_dynamic_inventory_reports_exit_code_and_stderr() {
    let dir = tree(&[
        (
            "fail.sh",
            "#!/bin/sh\necho 'cloud API unreachable' >&2\nexit 7\n",
        ),
        ("garbage.sh", "#!/bin/sh\necho 'not json'\n"),
    ]);
    for name in ["fail.sh", "garbage.sh"] {
        executable(&dir.path().join(name));
    }
    let err = Inventory::load(&[dir.path().join("fail.sh")]).expect_err("fails");
    let msg = err.to_string();
    assert!(
        msg.contains(
            "fail.sh: inventory script --list failed (exit code 7): cloud API unreachable"
        ),
        "{msg}"
    );
    let err = Inventory::load(&[dir.path().join("garbage.sh")]).expect_err("bad json");
    assert!(
        err.to_string()
            .contains("garbage.sh: inventory script --list printed invalid JSON"),
        "{err}"
    );
}

#[test]
fn an_executable_data_file_without_shebang_is_read_as_data() {
    let dir = tree(&[("hosts", "[web]\nw1\n")]);
    executable(&dir.path().join("hosts"));
    let inv = Inventory::load(&[dir.path().join("hosts")]).expect("ok");
    assert_eq!(inv.group_hosts("web"), ["w1"]);
}

#[test]
fn file_errors_name_the_file_and_line() {
    let dir = tree(&[
        ("bad.yml", "all:\n  hosts:\n    a: [1\n"),
        ("bad_vars/hosts", "[web]\nw1\n"),
        ("bad_vars/host_vars/w1.yml", "just a string\n"),
        ("neither", "[web\nfoo: [\n"),
        ("cycle.ini", "[a:children]\nb\n[b:children]\na\n"),
    ]);
    let p = |s: &str| dir.path().join(s);
    let shown = |e: InventoryError| {
        e.to_string()
            .replace(&format!("{}/", dir.path().display()), "")
    };

    let e = shown(Inventory::load(&[p("bad.yml")]).expect_err("yaml syntax"));
    assert!(e.starts_with("bad.yml:"), "{e}");
    let e = shown(Inventory::load(&[p("bad_vars/hosts")]).expect_err("vars file shape"));
    assert_eq!(
        e,
        "bad_vars/host_vars/w1.yml:1:1: a vars file must be a mapping, found a string"
    );
    let e = shown(Inventory::load(&[p("neither")]).expect_err("neither"));
    assert!(
        e.starts_with("neither: not a valid inventory. As YAML: neither:"),
        "{e}"
    );
    assert!(e.contains("As INI: neither:1:1:"), "{e}");
    let e = shown(Inventory::load(&[p("cycle.ini")]).expect_err("cycle"));
    assert_eq!(
        e,
        "cycle.ini:4:1: adding group 'a' as a child of 'b' creates a cycle: b -> a -> b"
    );
    let e = shown(Inventory::load(&[p("missing")]).expect_err("missing"));
    assert!(e.starts_with("missing: cannot read:"), "{e}");
}

fn sample() -> (tempfile::TempDir, Inventory) {
    let dir = tree(&[
        (
            "hosts",
            "w0\n[web]\nb http_port=80\na\n[db]\na\nb\n[prod:children]\nweb\n[empty]\n",
        ),
        ("group_vars/db.yml", "role: db\n"),
    ]);
    let inv = Inventory::load(&[dir.path().join("hosts")]).expect("ok");
    (dir, inv)
}

#[test]
fn list_json_has_the_shape_of_ansible_inventory_list() {
    let (_dir, inv) = sample();
    let expected = serde_json::json!({
        "_meta": {"hostvars": {
            "a": {"role": "db"},
            "b": {"http_port": 80, "role": "db"}
        }},
        "all": {"children": ["ungrouped", "db", "prod", "empty"]},
        "db": {"hosts": ["a", "b"]},
        "prod": {"children": ["web"]},
        "ungrouped": {"hosts": ["w0"]},
        "web": {"hosts": ["b", "a"]}
    });
    assert_eq!(inv.to_list_json(), expected);
    assert_eq!(
        inv.host_json("b"),
        Some(serde_json::json!({"http_port": 80, "role": "db"}))
    );
    assert_eq!(inv.host_json("nosuch"), None);
}

#[test]
fn graph_looks_like_ansible_inventory_graph() {
    let (_dir, inv) = sample();
    assert_eq!(
        inv.graph(),
        "@all:\n  |--@ungrouped:\n  |  |--w0\n  |--@db:\n  |  |--a\n  |  |--b\n  |--@prod:\n  |  |--@web:\n  |  |  |--b\n  |  |  |--a\n  |--@empty:\n"
    );
    assert_eq!(
        inv.graph_group("prod").as_deref(),
        Some("@prod:\n  |--@web:\n  |  |--b\n  |  |--a\n")
    );
    assert_eq!(inv.graph_group("nosuch"), None);
}

/// Inventories under tests/fixtures/inventory/, each with the output ansible-core 2.19 gave
/// for it (`ansible-inventory --list` without `_meta.profile`, `--graph`, and
/// `ansible all --list-hosts`): we must print the same.
#[test]
fn fixtures_match_what_ansible_printed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/inventory");
    let cases = [
        ("ini_mixed", "hosts"),
        ("yaml_nested", "inventory.yml"),
        ("priority", "inventory.yaml"),
        ("dir_with_vars", "inventory"),
        ("ini_quirks", "hosts"),
        ("script", "inventory.sh"),
    ];
    for (case, source) in cases {
        let dir = root.join(case);
        let inv = Inventory::load(&[dir.join(source)]).expect("fixture loads");
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).expect("expected output");
        let list: serde_json::Value =
            serde_json::from_str(&read("ansible-list.json")).expect("valid json");
        assert_eq!(inv.to_list_json(), list, "{case}: --list");
        assert_eq!(inv.graph(), read("ansible-graph.txt"), "{case}: --graph");
        let all: Vec<String> = read("ansible-all-hosts.txt")
            .lines()
            .map(String::from)
            .collect();
        assert_eq!(inv.select("all").expect("valid"), all, "{case}: all");
    }
}

/// Host patterns on tests/fixtures/inventory/ini_mixed, with the hosts ansible-core 2.19
/// listed for each (`ansible -i hosts PATTERN --list-hosts`), order included.
#[test]
fn patterns_select_what_ansible_selected() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/inventory/ini_mixed");
    let inv = Inventory::load(&[dir.join("hosts")]).expect("fixture loads");
    let expected = std::fs::read_to_string(dir.join("ansible-patterns.txt")).expect("exists");
    let mut checked = 0;
    for line in expected.lines() {
        let (pattern, hosts) = line.split_once(" =>").expect("pattern => hosts");
        let hosts: Vec<&str> = hosts.split_whitespace().collect();
        assert_eq!(
            inv.select(pattern).expect("valid"),
            hosts,
            "pattern {pattern:?}"
        );
        checked += 1;
    }
    assert!(checked > 30);
}

/// Random text made of the characters that matter to the parsers must never panic them.
#[test]
fn no_input_makes_the_parsers_panic() {
    let alphabet: Vec<char> = "[]:,=!&~@*?#;'\"\\ \t\n-_.0123456789abcxyzé{}()/%$"
        .chars()
        .collect();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..4000 {
        let len = (next() % 48) as usize;
        let text: String = (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect();
        let mut inv = Inventory::default();
        let _ = ini::parse(&mut inv, Path::new("fuzz.ini"), &text);
        if let Ok(doc) = crate::yaml::parse(&text, Path::new("fuzz.yml")) {
            let _ = yaml_inv::parse(&mut inv, &doc);
        }
        let _ = inv.reconcile();
        let _ = inv.select(&text);
        let _ = inv.to_list_json();
        let _ = inv.graph();
        let _ = literal::eval(&text);
        let _ = address::expand_host_entry(&text);
        let _ = SshConfig::parse(&text).lookup(&text);
    }
}

#[test]
fn large_ranges_are_fine_and_absurd_ones_are_errors() {
    let dir = tree(&[("hosts", "[web]\nweb[00001:20000]\n[db]\ndb[1:3]\n")]);
    let inv = Inventory::load(&[dir.path().join("hosts")]).expect("ok");
    assert_eq!(inv.select("all").expect("ok").len(), 20_003);
    assert_eq!(inv.select("web[-1]").expect("ok"), ["web20000"]);
    let dir = tree(&[("hosts", "[web]\nw[1:1000][1:1000]\n")]);
    let err = Inventory::load(&[dir.path().join("hosts")]).expect_err("too many");
    assert!(err.to_string().contains("hosts:2:1: host range"), "{err}");
}

#[test]
fn long_group_chains_do_not_overflow_the_stack() {
    let mut text = String::new();
    for i in 0..3000 {
        text.push_str(&format!("[g{i}:children]\ng{}\n", i + 1));
    }
    text.push_str("[g3000]\nleaf\n");
    let dir = tree(&[("hosts", &text)]);
    let inv = Inventory::load(&[dir.path().join("hosts")]).expect("ok");
    assert_eq!(inv.group("g3000").expect("exists").depth, 3001);
    assert_eq!(inv.group_names("leaf").len(), 3001);
    assert!(inv.graph().ends_with("|--leaf\n"));
}
