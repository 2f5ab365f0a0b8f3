//! The bad-input corpus: every directory of tests/corpus/ is one broken input (playbook,
//! inventory, roles...) with the messages its error must contain. Each case runs the
//! `shipshape` binary against no remote host and checks the documented exit code (4 for a
//! parse or validation error unless the case's `exit` file says otherwise), that nothing
//! panicked, that every line of `expected` appears in the output, and that it was fast.
//!
//! A case directory holds:
//! - `expected`: substrings (one per line) the output (stdout + stderr) must contain;
//! - `cmd` (optional): the arguments, one per line; default
//!   `playbook site.yml --syntax-check -i localhost,`;
//! - `exit` (optional): the exit code; default 4.
//!
//! Cases that need a run (undefined variables, template errors) run `--check` against
//! `localhost` with `connection: local`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The corpus root.
fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// Every case directory, sorted.
pub fn cases() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(corpus())
        .expect("read tests/corpus")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// Lines of a small text file, empty lines dropped.
fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Runs one case; the failures found (empty when it passed) and its wall time.
fn run_case(dir: &Path) -> (Vec<String>, Duration) {
    let args = if dir.join("cmd").exists() {
        lines(&dir.join("cmd"))
    } else {
        ["playbook", "site.yml", "--syntax-check", "-i", "localhost,"]
            .map(str::to_string)
            .to_vec()
    };
    let want_code: i32 = if dir.join("exit").exists() {
        lines(&dir.join("exit"))[0]
            .trim()
            .parse()
            .expect("exit file holds a number")
    } else {
        4
    };
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_shipshape"))
        .args(&args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("SHIPSHAPE_VAULT_PASSWORD")
        .env_remove("ANSIBLE_VAULT_PASSWORD_FILE")
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .output()
        .expect("run shipshape");
    let took = start.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let all = format!("{stdout}{stderr}");
    let mut bad = Vec::new();
    if out.status.code() != Some(want_code) {
        bad.push(format!("exit {:?}, want {want_code}", out.status.code()));
    }
    if stderr.contains("panicked") {
        bad.push("panicked".to_string());
    }
    for want in lines(&dir.join("expected")) {
        if !all.contains(&want) {
            bad.push(format!("missing {want:?}"));
        }
    }
    if took > Duration::from_secs(5) {
        bad.push(format!("slow: {took:?}"));
    }
    if !bad.is_empty() {
        bad.push(format!("output:\n{all}"));
    }
    (bad, took)
}

#[test]
fn every_bad_input_fails_clearly() {
    let cases = cases();
    assert!(cases.len() >= 25, "only {} corpus cases", cases.len());
    let mut failures = Vec::new();
    for dir in &cases {
        let name = dir.file_name().expect("case name").to_string_lossy();
        let (bad, took) = run_case(dir);
        println!(
            "CORPUS {name} {} {:.0}ms",
            if bad.is_empty() { "ok" } else { "FAIL" },
            took.as_secs_f64() * 1000.0
        );
        if !bad.is_empty() {
            failures.push(format!("{name}: {}", bad.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
