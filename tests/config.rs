//! Configuration and hand-off, end to end with the real binary: ansible.cfg (picked up alone,
//! warnings, invalid values, precedence, `shipshape config`), Terraform state and output files
//! as inventories (also merged with an INI source, against the loopback sshd lab), and the
//! generated completions and man page.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value as Json;
use support::TestLab;
use support::project::Outcome;

/// A project directory and an empty HOME (no ~/.ansible.cfg, no ~/.ssh keys or config).
struct Dir {
    tmp: tempfile::TempDir,
}

impl Dir {
    fn new() -> Dir {
        let tmp = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(tmp.path().join("home/.ssh")).expect("home");
        std::fs::create_dir_all(tmp.path().join("project")).expect("project");
        Dir { tmp }
    }

    fn project(&self) -> PathBuf {
        self.tmp.path().join("project")
    }

    fn home(&self) -> PathBuf {
        self.tmp.path().join("home")
    }

    fn file(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.project().join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, text).expect("write");
        p
    }

    /// Trusts the lab's host key through ~/.ssh/known_hosts (the default file).
    fn trust(&self, lab: &TestLab) {
        std::fs::copy(lab.known_hosts(), self.home().join(".ssh/known_hosts"))
            .expect("copy known_hosts");
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Outcome {
        let mut c = Command::new(env!("CARGO_BIN_EXE_shipshape"));
        c.args(args)
            .current_dir(self.project())
            .env("HOME", self.home())
            // A user that does not exist on the lab: only remote_user settings can log in.
            .env("USER", "nosuchuser")
            .env_remove("SSH_AUTH_SOCK")
            .env_remove("CI")
            .env_remove("NO_COLOR");
        for (k, _) in std::env::vars() {
            if k.starts_with("ANSIBLE_") {
                c.env_remove(k);
            }
        }
        c.envs(env.iter().copied());
        let out = c.output().expect("run shipshape");
        Outcome {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// An INI inventory of lab hosts with only address, port and a fresh base dir (no user, no
/// key: those must come from elsewhere).
fn bare_inventory(d: &Dir, lab: &TestLab, n: usize) -> String {
    let mut text = String::from("[lab]\n");
    for i in 0..n {
        let base = d.project().join(format!("base{}", i + 1));
        std::fs::create_dir_all(&base).expect("base dir");
        text.push_str(&format!(
            "h{} ansible_host={} ansible_port={} base={} shipshape_state_dir={}\n",
            i + 1,
            lab.host_addr(i),
            lab.port(),
            base.display(),
            base.join(".shipshape").display()
        ));
    }
    text
}

const WRITE_PLAYBOOK: &str = r#"
- hosts: lab
  gather_facts: false
  tasks:
    - name: mark
      copy:
        dest: "{{ base }}/mark"
        content: "{{ inventory_hostname }}\n"
"#;

#[test]
fn ansible_cfg_alone_runs_a_playbook_on_the_lab() {
    let lab = TestLab::start(2);
    let d = Dir::new();
    d.trust(&lab);
    d.file("hosts.ini", &bare_inventory(&d, &lab, 2));
    d.file("site.yml", WRITE_PLAYBOOK);
    d.file(
        "ansible.cfg",
        &format!(
            "[defaults]\ninventory = hosts.ini\nforks = 1\nremote_user = {}\nprivate_key_file = {}\n\
             gathering = smart\n\n[ssh_connection]\npipelining = True\n",
            lab.user(),
            lab.key().display()
        ),
    );
    let out = d.run(&["playbook", "site.yml", "--output", "jsonl"], &[]);
    assert_eq!(out.code, 0, "{}", out.show());
    for i in 1..=2 {
        let mark = d.project().join(format!("base{i}/mark"));
        assert_eq!(
            std::fs::read_to_string(&mark).expect("mark written"),
            format!("h{i}\n")
        );
    }
    assert_eq!(out.total("changed"), 2, "{}", out.show());
    // The unknown key is named with file and line; pipelining is accepted silently.
    assert!(
        out.stderr
            .contains("./ansible.cfg:6: unknown key 'gathering' in [defaults]: ignored"),
        "{}",
        out.show()
    );
    assert!(!out.stderr.contains("pipelining"), "{}", out.show());
}

#[test]
fn command_line_wins_over_the_cfg() {
    let lab = TestLab::start(1);
    let d = Dir::new();
    d.trust(&lab);
    d.file("hosts.ini", &bare_inventory(&d, &lab, 1));
    d.file("site.yml", WRITE_PLAYBOOK);
    d.file(
        "ansible.cfg",
        &format!(
            "[defaults]\ninventory = missing.ini\nremote_user = nosuchuser\nprivate_key_file = {}\ntimeout = 5\n",
            lab.key().display()
        ),
    );
    let bad = d.run(&["playbook", "site.yml"], &[]);
    assert_eq!(bad.code, 4, "the cfg's missing inventory: {}", bad.show());
    assert!(bad.stderr.contains("missing.ini"), "{}", bad.show());
    let out = d.run(
        &[
            "playbook",
            "site.yml",
            "--output",
            "jsonl",
            "-i",
            "hosts.ini",
            "-u",
            lab.user(),
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.show());
    assert_eq!(out.status("h1", "mark"), "changed", "{}", out.show());
    // The environment beats the file, the command line beats the environment.
    let env = d.run(&["config"], &[("ANSIBLE_REMOTE_USER", "envuser")]);
    assert!(
        env.stdout.contains("defaults.remote_user")
            && env.stdout.contains("= envuser  (env ANSIBLE_REMOTE_USER)"),
        "{}",
        env.show()
    );
}

#[test]
fn invalid_values_are_rejected_with_file_and_line() {
    let d = Dir::new();
    d.file("site.yml", WRITE_PLAYBOOK);
    d.file("ansible.cfg", "[defaults]\n# workers\nforks = lots\n");
    let out = d.run(&["playbook", "site.yml", "-i", "localhost,"], &[]);
    assert_eq!(out.code, 5, "{}", out.show());
    assert!(
        out.stderr
            .contains("./ansible.cfg:3: forks: 'lots' is not a positive integer"),
        "{}",
        out.show()
    );
    d.file("ansible.cfg", "[defaults]\nforks = 4\n");
    let out = d.run(&["config"], &[("ANSIBLE_FORKS", "0")]);
    assert_eq!(out.code, 5, "{}", out.show());
    assert!(
        out.stderr
            .contains("ANSIBLE_FORKS: '0' is not a positive integer"),
        "{}",
        out.show()
    );
}

#[test]
fn config_shows_every_setting_with_its_origin() {
    let d = Dir::new();
    let cfg = d.file(
        "custom.cfg",
        "[defaults]\ninventory = hosts.ini\nforks = 12\nhost_key_checking = False\n\
         [privilege_escalation]\nbecome = True\n[ssh_connection]\npipelining = True\n[galaxy]\nserver = x\n",
    );
    let out = d.run(
        &["config"],
        &[
            ("ANSIBLE_CONFIG", cfg.to_str().expect("utf-8")),
            ("ANSIBLE_TIMEOUT", "33"),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.show());
    let c = cfg.display();
    let value = |name: &str| -> String {
        out.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .and_then(|l| l.split_once(" = "))
            .map(|(_, v)| v.to_string())
            .unwrap_or_else(|| panic!("no {name}:\n{}", out.show()))
    };
    assert!(
        out.stdout.starts_with(&format!("config file: {c}\n")),
        "{}",
        out.show()
    );
    assert_eq!(
        value("defaults.inventory"),
        format!("{}  ({c}:2)", d.project().join("hosts.ini").display())
    );
    assert_eq!(value("defaults.forks"), format!("12  ({c}:3)"));
    assert_eq!(value("defaults.host_key_checking"), format!("off  ({c}:4)"));
    assert_eq!(value("defaults.timeout"), "33  (env ANSIBLE_TIMEOUT)");
    assert_eq!(
        value("privilege_escalation.become"),
        format!("true  ({c}:6)")
    );
    assert_eq!(value("privilege_escalation.become_user"), "root  (default)");
    assert!(value("defaults.remote_user").ends_with("(default)"));
    assert!(
        out.stdout
            .contains(&format!("ssh_connection.pipelining = True  ({c}:8)"))
    );
    assert!(
        out.stderr
            .contains(&format!("{c}:9: section [galaxy] is not used by shipshape")),
        "{}",
        out.show()
    );
    assert!(
        out.stderr
            .contains(&format!("{c}:4: host_key_checking is False")),
        "{}",
        out.show()
    );
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/terraform")
        .join(name)
        .display()
        .to_string()
}

fn list(d: &Dir, sources: &[&str]) -> Json {
    let mut args = vec!["inventory", "--list"];
    for s in sources {
        args.push("-i");
        args.push(s);
    }
    let out = d.run(&args, &[]);
    assert_eq!(out.code, 0, "{}", out.show());
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.show()))
}

#[test]
fn terraform_state_and_outputs_as_inventory() {
    let d = Dir::new();
    let state = list(&d, &[&fixture("seed001.tfstate")]);
    assert_eq!(
        state["vm"]["hosts"],
        serde_json::json!(["backend", "database", "monitoring"])
    );
    assert_eq!(state["web"]["hosts"], serde_json::json!(["backend"]));
    assert_eq!(
        state["monitored"]["hosts"],
        serde_json::json!(["backend", "database"])
    );
    let hv = &state["_meta"]["hostvars"];
    assert_eq!(hv["database"]["ansible_host"], "20.61.10.12");
    assert_eq!(hv["database"]["private_ipv4"], "10.0.1.5");
    assert!(!state.to_string().contains("Sup3r"));

    let outputs = list(&d, &[&fixture("outputs.json")]);
    assert_eq!(
        outputs["web_servers"]["hosts"],
        serde_json::json!(["web-1", "web-2"])
    );
    assert_eq!(outputs["db_ips"]["hosts"], serde_json::json!(["10.0.1.5"]));
    assert_eq!(
        outputs["_meta"]["hostvars"]["mon-1"]["ansible_host"],
        "203.0.113.20"
    );
    let text = outputs.to_string();
    assert!(!text.contains("Sup3r") && !text.contains("glsa_"), "{text}");

    // Several sources merge: the state, the outputs and an INI file with more variables.
    d.file(
        "extra.ini",
        "[web]\nbackend http_port=8080\n[all:vars]\nansible_user=azureuser\n",
    );
    let merged = list(
        &d,
        &[
            &fixture("seed001.tfstate"),
            &fixture("outputs.json"),
            "extra.ini",
        ],
    );
    let hv = &merged["_meta"]["hostvars"];
    assert_eq!(hv["backend"]["ansible_host"], "20.61.10.11");
    assert_eq!(hv["backend"]["http_port"], 8080);
    assert_eq!(hv["web-1"]["ansible_user"], "azureuser");
    assert_eq!(merged["web"]["hosts"], serde_json::json!(["backend"]));
}

#[test]
fn playbook_on_lab_hosts_from_a_tfstate_merged_with_ini_vars() {
    let lab = TestLab::start(2);
    let d = Dir::new();
    let mut instances = Vec::new();
    let mut ini = format!(
        "[all:vars]\nansible_port={}\nansible_user={}\nansible_ssh_private_key_file={}\n\n[web]\n",
        lab.port(),
        lab.user(),
        lab.key().display()
    );
    for i in 0..2 {
        let name = format!("web-{}", i + 1);
        instances.push(serde_json::json!({
            "index_key": i,
            "schema_version": 0,
            "attributes": {
                "name": name,
                "ipv4_address": lab.host_addr(i),
                "labels": {"role": "app"}
            }
        }));
        let base = d.project().join(&name);
        std::fs::create_dir_all(&base).expect("base");
        ini.push_str(&format!(
            "{name} base={} shipshape_state_dir={}\n",
            base.display(),
            base.join(".shipshape").display()
        ));
    }
    let state = serde_json::json!({
        "version": 4,
        "terraform_version": "1.9.5",
        "serial": 1,
        "lineage": "lab",
        "outputs": {},
        "resources": [{
            "mode": "managed",
            "type": "hcloud_server",
            "name": "web",
            "provider": "provider[\"registry.terraform.io/hetznercloud/hcloud\"]",
            "instances": instances
        }]
    });
    d.file("terraform.tfstate", &state.to_string());
    d.file("lab.ini", &ini);
    d.file(
        "site.yml",
        r#"
- hosts: app
  gather_facts: false
  tasks:
    - name: wait for the new VMs
      wait_for_connection:
        timeout: 30
    - name: mark
      copy:
        dest: "{{ base }}/mark"
        content: "{{ inventory_hostname }} at {{ ansible_host }}\n"
"#,
    );
    let known = lab.known_hosts().display().to_string();
    let out = d.run(
        &[
            "playbook",
            "site.yml",
            "-i",
            "terraform.tfstate",
            "-i",
            "lab.ini",
            "--known-hosts",
            &known,
            "--output",
            "jsonl",
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.show());
    for i in 0..2 {
        let name = format!("web-{}", i + 1);
        assert_eq!(out.status(&name, "mark"), "changed", "{}", out.show());
        assert_eq!(
            std::fs::read_to_string(d.project().join(&name).join("mark")).expect("mark"),
            format!("{name} at {}\n", lab.host_addr(i))
        );
    }
}

#[test]
fn completions_and_man_page_come_from_the_cli_definition() {
    let d = Dir::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = d.run(&["completions", shell], &[]);
        assert_eq!(out.code, 0, "{}", out.show());
        assert!(
            out.stdout.contains("playbook") && out.stdout.contains("check"),
            "{shell}: {}",
            out.show()
        );
    }
    for shell in ["bash", "zsh"] {
        let out = d.run(&["completions", shell], &[]);
        assert!(out.stdout.contains("--check"), "{shell}: {}", out.show());
    }
    let man = d.run(&["man"], &[]);
    assert_eq!(man.code, 0, "{}", man.show());
    assert!(man.stdout.starts_with(".ie") || man.stdout.contains(".TH shipshape"));
    assert!(man.stdout.contains("SHIPSHAPE PLAYBOOK"), "{}", man.show());
    // roff escapes dashes: \-\-check.
    assert!(man.stdout.contains("\\-\\-check"), "{}", man.show());
    let bad = d.run(&["completions", "tcsh"], &[]);
    assert_eq!(bad.code, 5, "{}", bad.show());
}
