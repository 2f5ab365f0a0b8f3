//! Unit tests of config loading: file search order, precedence, value checks, warnings.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::*;

struct Fixture {
    dir: tempfile::TempDir,
    env: HashMap<String, String>,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        for d in ["cwd", "home", "etc"] {
            std::fs::create_dir_all(dir.path().join(d)).expect("mkdir");
        }
        Fixture {
            dir,
            env: HashMap::new(),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::write(&p, text).expect("write");
        p
    }

    fn load(&self) -> Result<Config, ConfigError> {
        let env = |k: &str| self.env.get(k).cloned();
        Config::load_from(&Context {
            env: &env,
            cwd: self.path("cwd"),
            home: Some(self.path("home")),
            system_file: self.path("etc/ansible.cfg"),
        })
    }
}

fn file_origin(path: &Path, line: usize) -> Origin {
    Origin::File {
        path: path.to_path_buf(),
        line,
    }
}

#[test]
fn defaults_without_any_file() {
    let c = Fixture::new().load().expect("loads");
    assert_eq!(c.file, None);
    assert_eq!(c.forks, Setting::default(50));
    assert_eq!(c.timeout.value, 10);
    assert_eq!(c.host_key_checking.value, HostKeyPolicy::Strict);
    assert!(c.inventory.value.is_empty());
    assert!(!c.become_.value);
    assert!(c.warnings.is_empty());
}

#[test]
fn reads_every_supported_key_with_lines_and_paths_relative_to_the_file() {
    let f = Fixture::new();
    let cfg = f.write(
        "cwd/ansible.cfg",
        "[defaults]\ninventory = hosts.ini, /abs/tf.tfstate\nforks = 7\nremote_user = deploy\n\
         private_key_file = ~/.ssh/id_lab\nroles_path = roles:/opt/roles\nhost_key_checking = True\n\
         timeout = 30\nvault_password_file = .vault\n\n[privilege_escalation]\nbecome = yes\n\
         become_user = app\nbecome_ask_pass = False\nbecome_method = sudo\n",
    );
    let c = f.load().expect("loads");
    let dir = f.path("cwd");
    assert_eq!(c.file.as_deref(), Some(cfg.as_path()));
    assert_eq!(
        c.inventory.value,
        vec![
            dir.join("hosts.ini").display().to_string(),
            "/abs/tf.tfstate".to_string()
        ]
    );
    assert_eq!(c.inventory.origin, file_origin(&cfg, 2));
    assert_eq!(c.forks.value, 7);
    assert_eq!(c.forks.origin, file_origin(&cfg, 3));
    assert_eq!(c.remote_user.value.as_deref(), Some("deploy"));
    assert_eq!(
        c.private_key_file.value,
        Some(f.path("home").join(".ssh/id_lab"))
    );
    assert_eq!(
        c.roles_path.value,
        vec![dir.join("roles"), PathBuf::from("/opt/roles")]
    );
    assert_eq!(c.host_key_checking.value, HostKeyPolicy::Strict);
    assert_eq!(c.timeout.value, 30);
    assert_eq!(c.vault_password_file.value, Some(dir.join(".vault")));
    assert!(c.become_.value);
    assert_eq!(c.become_.origin, file_origin(&cfg, 12));
    assert_eq!(c.become_user.value.as_deref(), Some("app"));
    assert!(!c.become_ask_pass.value);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn environment_beats_file_and_command_line_beats_both() {
    let mut f = Fixture::new();
    let cfg = f.write("cwd/ansible.cfg", "[defaults]\nforks = 7\ntimeout = 5\n");
    f.env.insert("ANSIBLE_FORKS".into(), "9".into());
    let c = f.load().expect("loads");
    assert_eq!(c.forks.value, 9);
    assert_eq!(c.forks.origin, Origin::Env("ANSIBLE_FORKS"));
    assert_eq!(c.timeout.origin, file_origin(&cfg, 3));
    let forks = c.forks.clone().or_cli(Some(3));
    assert_eq!((forks.value, forks.origin), (3, Origin::CommandLine));
    assert_eq!(c.forks.or_cli(None).value, 9);
}

#[test]
fn search_order_env_then_toml_then_cwd_then_home_then_system() {
    let mut f = Fixture::new();
    f.write("etc/ansible.cfg", "[defaults]\nforks = 1\n");
    assert_eq!(f.load().expect("loads").forks.value, 1);
    f.write("home/.ansible.cfg", "[defaults]\nforks = 2\n");
    assert_eq!(f.load().expect("loads").forks.value, 2);
    f.write("cwd/ansible.cfg", "[defaults]\nforks = 3\n");
    assert_eq!(f.load().expect("loads").forks.value, 3);
    f.write("cwd/shipshape.toml", "[defaults]\nforks = 4\n");
    assert_eq!(f.load().expect("loads").forks.value, 4);
    let other = f.write("other.cfg", "[defaults]\nforks = 5\n");
    f.env
        .insert("ANSIBLE_CONFIG".into(), other.display().to_string());
    assert_eq!(f.load().expect("loads").forks.value, 5);
    // A directory in ANSIBLE_CONFIG means its ansible.cfg.
    f.env
        .insert("ANSIBLE_CONFIG".into(), f.path("etc").display().to_string());
    assert_eq!(f.load().expect("loads").forks.value, 1);
    // A missing file is warned about and the search goes on.
    f.env
        .insert("ANSIBLE_CONFIG".into(), "/nonexistent.cfg".into());
    let c = f.load().expect("loads");
    assert_eq!(c.forks.value, 4);
    assert!(
        c.warnings[0].contains("/nonexistent.cfg"),
        "{:?}",
        c.warnings
    );
}

#[test]
fn world_writable_cwd_is_skipped_with_a_warning() {
    use std::os::unix::fs::PermissionsExt;
    let f = Fixture::new();
    f.write("cwd/ansible.cfg", "[defaults]\nforks = 3\n");
    std::fs::set_permissions(f.path("cwd"), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let c = f.load().expect("loads");
    assert_eq!(c.forks.value, 50);
    assert!(c.warnings[0].contains("world-writable"), "{:?}", c.warnings);
}

#[test]
fn unknown_keys_and_sections_are_warned_with_file_and_line() {
    let f = Fixture::new();
    let cfg = f.write(
        "cwd/ansible.cfg",
        "[defaults]\nforks = 3\ngathering = smart\n[galaxy]\nserver = x\n[ssh_connection]\n\
         pipelining = True\nssh_args = -o ControlMaster=auto -o ControlPersist=60s\nretries = 3\n",
    );
    let c = f.load().expect("loads");
    let d = cfg.display();
    assert_eq!(
        c.warnings,
        vec![
            format!(
                "{d}:3: unknown key 'gathering' in [defaults]: ignored (shipshape does not support it)"
            ),
            format!("{d}:4: section [galaxy] is not used by shipshape: ignored"),
            format!(
                "{d}:9: unknown key 'retries' in [ssh_connection]: ignored (shipshape does not support it)"
            ),
        ]
    );
    let names: Vec<&str> = c.ignored.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(
        names,
        vec!["ssh_connection.pipelining", "ssh_connection.ssh_args"]
    );
}

#[test]
fn ssh_args_that_change_behaviour_are_warned() {
    let f = Fixture::new();
    f.write(
        "cwd/ansible.cfg",
        "[ssh_connection]\nssh_args = -o ProxyCommand=nc\n",
    );
    let c = f.load().expect("loads");
    assert!(c.ignored.is_empty());
    assert!(
        c.warnings[0].contains(":2: [ssh_connection] ssh_args"),
        "{:?}",
        c.warnings
    );
}

#[test]
fn invalid_values_are_errors_with_file_and_line() {
    let f = Fixture::new();
    let cfg = f.write("cwd/ansible.cfg", "[defaults]\n\nforks = many\n");
    let e = f.load().expect_err("bad forks");
    assert_eq!(
        e.to_string(),
        format!(
            "{}:3: forks: 'many' is not a positive integer",
            cfg.display()
        )
    );
    f.write("cwd/ansible.cfg", "[defaults]\nforks = 0\n");
    assert!(f.load().is_err());
    f.write(
        "cwd/ansible.cfg",
        "[privilege_escalation]\nbecome = maybe\n",
    );
    let e = f.load().expect_err("bad bool");
    assert!(
        e.to_string().contains("ansible.cfg:2: become: 'maybe'"),
        "{e}"
    );
    f.write(
        "cwd/ansible.cfg",
        "[privilege_escalation]\nbecome_method = su\n",
    );
    assert!(f.load().is_err());
    f.write("cwd/ansible.cfg", "[defaults]\nforks = 10 # ten\n");
    let e = f.load().expect_err("hash comment");
    assert!(e.to_string().contains("only ';'"), "{e}");
}

#[test]
fn invalid_environment_values_name_the_variable() {
    let mut f = Fixture::new();
    f.env.insert("ANSIBLE_TIMEOUT".into(), "soon".into());
    let e = f.load().expect_err("bad env");
    assert_eq!(
        e.to_string(),
        "environment variable ANSIBLE_TIMEOUT: 'soon' is not a positive integer"
    );
}

#[test]
fn host_key_checking_false_is_off_with_a_warning() {
    let f = Fixture::new();
    let cfg = f.write("cwd/ansible.cfg", "[defaults]\nhost_key_checking = False\n");
    let c = f.load().expect("loads");
    assert_eq!(c.host_key_checking.value, HostKeyPolicy::Off);
    let w = Config::host_key_warning(&c.host_key_checking).expect("a warning");
    assert!(w.starts_with(&format!("{}:2: ", cfg.display())), "{w}");
    let cli = c.host_key_checking.or_cli(Some(HostKeyPolicy::Off));
    assert_eq!(Config::host_key_warning(&cli), None);
    f.write(
        "cwd/ansible.cfg",
        "[defaults]\nhost_key_checking = accept-new\n",
    );
    assert_eq!(
        f.load().expect("loads").host_key_checking.value,
        HostKeyPolicy::AcceptNew
    );
}

#[test]
fn quoted_values_and_env_vars_in_paths() {
    let mut f = Fixture::new();
    f.env.insert("KEYS".into(), "/keys".into());
    f.write(
        "cwd/ansible.cfg",
        "[defaults]\nremote_user = \"deploy\"\nprivate_key_file = ${KEYS}/id\n",
    );
    let c = f.load().expect("loads");
    assert_eq!(c.remote_user.value.as_deref(), Some("deploy"));
    assert_eq!(c.private_key_file.value, Some(PathBuf::from("/keys/id")));
}

#[test]
fn toml_lists_and_render() {
    let f = Fixture::new();
    let cfg = f.write(
        "cwd/shipshape.toml",
        "[defaults]\ninventory = [\"a.ini\", \"b.tfstate\"]\nforks = 12\n[privilege_escalation]\nbecome = true\n",
    );
    let c = f.load().expect("loads");
    assert_eq!(c.inventory.value.len(), 2);
    assert!(c.become_.value);
    let text = c.render();
    assert!(
        text.contains(&format!("config file: {}", cfg.display())),
        "{text}"
    );
    let line = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .map(|l| l.split_once(" = ").map(|(_, v)| v.to_string()))
            .unwrap_or_default()
            .unwrap_or_default()
    };
    assert_eq!(line("defaults.forks"), format!("12  ({}:3)", cfg.display()));
    assert_eq!(line("defaults.timeout"), "10  (default)");
}
