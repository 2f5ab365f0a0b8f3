//! The role library and seed playbooks, without hosts: every role has the standard layout and
//! a README that lists every variable of its defaults, and every seed playbook passes
//! `--syntax-check` with its example inventory (modules, arguments, handlers, templates'
//! presence are all checked before any connection).

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn roles() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(repo().join("roles"))
        .expect("roles/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

/// Top-level keys of a defaults file (`name:` at column 0).
fn default_vars(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .expect("defaults")
        .lines()
        .filter_map(|l| {
            let (k, _) = l.split_once(':')?;
            (!k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .then(|| k.to_string())
        })
        .collect()
}

#[test]
fn every_role_has_the_standard_layout_and_documents_every_variable() {
    let roles = roles();
    assert!(roles.len() >= 12, "{roles:?}");
    for role in roles {
        let name = role
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        for part in ["defaults/main.yml", "tasks/main.yml", "README.md"] {
            assert!(role.join(part).is_file(), "{name}: {part} missing");
        }
        let readme = std::fs::read_to_string(role.join("README.md")).expect("README");
        assert!(
            readme.contains("## Tested"),
            "{name}: README says how it is tested"
        );
        let vars = default_vars(&role.join("defaults/main.yml"));
        assert!(!vars.is_empty(), "{name}: no defaults");
        for v in vars {
            assert!(
                v.starts_with(&format!("{name}_")) || name == "node_exporter" || name == "mysql",
                "{name}: variable {v} is not prefixed with the role name"
            );
            let row = format!("| `{v}` |");
            let line = readme.lines().find(|l| l.starts_with(&row));
            let line = line.unwrap_or_else(|| panic!("{name}: README does not list {v}"));
            assert!(
                !line.ends_with("|  |"),
                "{name}: README does not explain {v}"
            );
        }
    }
}

#[test]
fn every_seed_playbook_passes_syntax_check_with_its_inventory() {
    for seed in ["haproxy-web", "ha-mysql", "traefik-stack", "lostops"] {
        let out = Command::new(env!("CARGO_BIN_EXE_shipshape"))
            .arg("playbook")
            .arg(repo().join(format!("playbooks/{seed}.yml")))
            .arg("-i")
            .arg(repo().join(format!("inventories/{seed}/hosts.ini")))
            .arg("--syntax-check")
            .output()
            .expect("run shipshape");
        assert!(
            out.status.success(),
            "{seed}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let tags = Command::new(env!("CARGO_BIN_EXE_shipshape"))
            .arg("playbook")
            .arg(repo().join(format!("playbooks/{seed}.yml")))
            .args(["--list-tags"])
            .output()
            .expect("run shipshape");
        let text = String::from_utf8_lossy(&tags.stdout);
        assert!(
            text.contains("firewall"),
            "{seed}: tags per component:\n{text}"
        );
    }
}
