//! A project directory with playbooks run by the real `shipshape` binary against the lab,
//! and the parsed outcome of each run (`--output jsonl` events, recap, statuses).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value as Json;

use super::TestLab;

/// The result of one `shipshape` invocation.
pub struct Outcome {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Outcome {
    /// JSON events (when run with `--output jsonl`).
    pub fn events(&self) -> Vec<Json> {
        self.stdout
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Recap totals per host: host -> stats object.
    pub fn recap(&self) -> BTreeMap<String, Json> {
        let recap = self
            .events()
            .into_iter()
            .find(|e| e["event"] == "recap")
            .unwrap_or_else(|| panic!("no recap in output:\n{}", self.show()));
        recap["hosts"]
            .as_array()
            .expect("hosts array")
            .iter()
            .map(|pair| {
                (
                    pair[0].as_str().unwrap_or_default().to_string(),
                    pair[1].clone(),
                )
            })
            .collect()
    }

    /// One recap counter of one host.
    pub fn stat(&self, host: &str, key: &str) -> u64 {
        self.recap()
            .get(host)
            .and_then(|s| s[key].as_u64())
            .unwrap_or(0)
    }

    /// Every `host_result` event of a task (item results excluded).
    pub fn results_of(&self, task: &str) -> Vec<Json> {
        self.events()
            .into_iter()
            .filter(|e| e["event"] == "host_result" && e.get("item").is_none() && e["task"] == task)
            .collect()
    }

    /// The status of `task` on `host` (panics when it did not run there).
    pub fn status(&self, host: &str, task: &str) -> String {
        self.results_of(task)
            .iter()
            .find(|e| e["host"] == host)
            .and_then(|e| e["status"].as_str().map(str::to_string))
            .unwrap_or_else(|| panic!("no result of '{task}' on {host}:\n{}", self.show()))
    }

    /// Whether `task` reported a result on `host`.
    pub fn ran(&self, host: &str, task: &str) -> bool {
        self.results_of(task).iter().any(|e| e["host"] == host)
    }

    /// Sum of one recap counter over all hosts.
    pub fn total(&self, key: &str) -> u64 {
        self.recap()
            .values()
            .map(|s| s[key].as_u64().unwrap_or(0))
            .sum()
    }

    /// (host, task, status) of every host result (items excluded), in order.
    pub fn results(&self) -> Vec<(String, String, String)> {
        self.events()
            .into_iter()
            .filter(|e| e["event"] == "host_result" && e.get("item").is_none())
            .map(|e| {
                (
                    e["host"].as_str().unwrap_or_default().to_string(),
                    e["task"].as_str().unwrap_or_default().to_string(),
                    e["status"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// The whole output, for assertion messages.
    pub fn show(&self) -> String {
        format!(
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// A project directory with a playbook, run against a lab inventory.
pub struct Project {
    /// The project directory (playbooks, roles, vars).
    pub dir: tempfile::TempDir,
    /// The lab inventory of this project.
    pub inventory: PathBuf,
    /// The lab it runs against.
    pub lab: TestLab,
}

impl Project {
    pub fn new(lab: &TestLab, extra_inventory: &str) -> Self {
        Project {
            dir: tempfile::tempdir().expect("temp dir"),
            inventory: lab.inventory_ini(extra_inventory),
            lab: lab.clone(),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn file(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, text).expect("write");
        p
    }

    pub fn base(&self, i: usize) -> PathBuf {
        self.lab.base_of(&self.inventory, i)
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_shipshape"));
        c.args(args)
            .arg("-i")
            .arg(&self.inventory)
            .arg("--known-hosts")
            .arg(self.lab.known_hosts())
            .current_dir(self.dir.path())
            .env_remove("NO_COLOR")
            .env_remove("CI");
        c
    }

    pub fn run(&self, args: &[&str]) -> Outcome {
        let out = self.command(args).output().expect("run shipshape");
        Outcome {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `playbook site.yml --output jsonl ARGS`.
    pub fn play(&self, args: &[&str]) -> Outcome {
        let mut a = vec!["playbook", "site.yml", "--output", "jsonl"];
        a.extend_from_slice(args);
        self.run(&a)
    }
}

/// Reads a file the test expects to exist.
pub fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}
