//! A small mutation fuzzer for the front ends, libFuzzer-free so it runs on stable: seeds from
//! tests/corpus, playbooks/, roles/ and inventories/ are mutated byte-wise (flip, insert, delete,
//! duplicate a slice, splice two seeds, insert YAML/Jinja/INI tokens) and fed to the YAML parser,
//! the INI and YAML inventory parsers, the playbook loader and the template renderer. A panic
//! or an input taking over 2 s is a finding: it is printed (with the input, escaped) and the
//! test fails. The fuzz tests are `#[ignore]`d; scripts/fuzz.sh runs them for a while:
//! `SHIPSHAPE_FUZZ_SECS=120 cargo test --release --test fuzz -- --ignored --nocapture`.
//! Each prints `FUZZ <target> <executions> <seconds>`.
//! Crashes found are kept as regression cases in tests/corpus/ (checked by tests/corpus.rs).

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shipshape::inventory::Inventory;
use shipshape::playbook::Loader;
use shipshape::template::{Scope, Templar};

/// xorshift64*: deterministic per seed, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Tokens that reach deeper into the parsers than random bytes. Huge string repetitions
/// (`'a' * 999999999`) are left out: templates are trusted input (as in Ansible) and such a
/// template only asks for gigabytes of memory, which the first fuzz run reported as a slow input.
const TOKENS: &[&str] = &[
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "#}",
    "|",
    "- ",
    ": ",
    "\n",
    "\n  ",
    "\t",
    "[",
    "]",
    "{",
    "}",
    "&a ",
    "*a",
    "<<: ",
    "!!str ",
    "!vault |",
    "'",
    "\"",
    "\\",
    "---\n",
    "...\n",
    ":children]",
    ":vars]",
    "[g]",
    "=",
    "[01:99]",
    "{{ x }}",
    "{% if %}",
    "{% for x in y %}",
    "| default(",
    "hosts: all",
    "tasks:",
    "roles:",
    "include_tasks: ",
    "import_playbook: ",
    "block:",
    "loop: ",
    "when: ",
    "\u{feff}",
    "\u{0}",
    "\u{fffd}",
    "99999999999999999999",
    "-1",
    "0o777",
    "~",
    "$ANSIBLE_VAULT;1.1;AES256\n",
    "range(999999999)",
    "lookup('file', '/etc/passwd')",
    "x * 99999999",
    "'a' * 999999999",
    "(((((((((((",
    "]]]]]]]]",
    "ansible_host=",
];

/// One mutation of `data` (seeds from `pool` for splicing).
fn mutate(rng: &mut Rng, data: &mut Vec<u8>, pool: &[Vec<u8>]) {
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        let len = data.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(len + 1);
                data.insert(i, rng.next() as u8);
            }
            2 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(16));
                data.drain(i..i + n);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                let piece = data[i..i + n].to_vec();
                let at = rng.below(data.len() + 1);
                data.splice(at..at, piece);
            }
            4 if !pool.is_empty() => {
                let other = &pool[rng.below(pool.len())];
                let cut = rng.below(len + 1);
                let from = rng.below(other.len() + 1);
                data.truncate(cut);
                data.extend_from_slice(&other[from..]);
            }
            _ => {
                let t = TOKENS[rng.below(TOKENS.len())].as_bytes();
                let i = rng.below(len + 1);
                data.splice(i..i, t.iter().copied());
            }
        }
        if data.len() > 64 * 1024 {
            data.truncate(64 * 1024);
        }
    }
}

/// Seed files: every file under the given repository directories with one of `exts`.
fn seeds(dirs: &[&str], exts: &[&str]) -> Vec<Vec<u8>> {
    fn walk(dir: &Path, exts: &[&str], out: &mut Vec<Vec<u8>>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, exts, out);
            } else if (exts.is_empty()
                || exts.iter().any(|e| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.ends_with(e))
                }))
                && let Ok(b) = std::fs::read(&p)
                && b.len() < 64 * 1024
            {
                out.push(b);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for d in dirs {
        walk(&root.join(d), exts, &mut out);
    }
    assert!(!out.is_empty(), "no seeds in {dirs:?}");
    out
}

/// How long each target runs: `SHIPSHAPE_FUZZ_SECS` (default 10).
fn budget() -> Duration {
    Duration::from_secs(
        std::env::var("SHIPSHAPE_FUZZ_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(10),
    )
}

/// The input being run and since when (for the hang watchdog).
type Running = Option<(Instant, Vec<u8>)>;

/// Runs `target` on mutated seeds for the budget; fails on a panic or a slow input.
fn fuzz(name: &str, pool: Vec<Vec<u8>>, mut target: impl FnMut(&[u8])) {
    // The panic hook would print every caught panic; findings are printed below instead.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut rng = Rng(0x5EED_0000_0000_0001 ^ name.len() as u64);
    if let Ok(s) = std::env::var("SHIPSHAPE_FUZZ_SEED")
        && let Ok(n) = s.parse::<u64>()
    {
        rng = Rng(n | 1);
    }
    let start = Instant::now();
    let mut execs = 0u64;
    let mut findings = Vec::new();
    // A hang is never returned from: a watchdog prints the input and exits the process.
    let current: Arc<Mutex<Running>> = Arc::new(Mutex::new(None));
    let done = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let (current, done, name) = (current.clone(), done.clone(), name.to_string());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(500));
                let guard = current.lock().unwrap_or_else(|p| p.into_inner());
                if let Some((t, data)) = guard.as_ref()
                    && t.elapsed() > Duration::from_secs(20)
                {
                    println!(
                        "FUZZ {name} HANG (> 20 s) on input: {:?}",
                        String::from_utf8_lossy(data)
                    );
                    std::process::exit(1);
                }
            }
        })
    };
    while start.elapsed() < budget() && findings.len() < 5 {
        let mut data = pool[rng.below(pool.len())].clone();
        mutate(&mut rng, &mut data, &pool);
        let t = Instant::now();
        *current.lock().unwrap_or_else(|p| p.into_inner()) = Some((t, data.clone()));
        let r = std::panic::catch_unwind(AssertUnwindSafe(|| target(&data)));
        *current.lock().unwrap_or_else(|p| p.into_inner()) = None;
        let took = t.elapsed();
        execs += 1;
        if let Err(p) = r {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            findings.push(format!(
                "panic: {msg}\ninput: {:?}",
                String::from_utf8_lossy(&data)
            ));
        } else if took > Duration::from_secs(2) {
            findings.push(format!(
                "slow ({took:?}): {:?}",
                String::from_utf8_lossy(&data)
            ));
        }
    }
    done.store(true, Ordering::Relaxed);
    let _ = watchdog.join();
    std::panic::set_hook(hook);
    println!(
        "FUZZ {name} {execs} {:.0} {}",
        start.elapsed().as_secs_f64(),
        findings.len()
    );
    assert!(findings.is_empty(), "{name}:\n{}", findings.join("\n\n"));
}

#[test]
#[ignore = "fuzzing: run with scripts/fuzz.sh"]
fn fuzz_yaml() {
    fuzz(
        "yaml",
        seeds(&["tests/corpus", "playbooks", "roles"], &[".yml", ".yaml"]),
        |data| {
            let text = String::from_utf8_lossy(data);
            if let Ok(node) = shipshape::yaml::parse(&text, Path::new("fuzz.yml")) {
                let _ = node.to_value();
            }
        },
    );
}

#[test]
#[ignore = "fuzzing: run with scripts/fuzz.sh"]
fn fuzz_inventory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut pool = seeds(&["inventories", "tests/corpus"], &[".ini", ".yml", "hosts"]);
    pool.push(b"[web]\nw[01:03] ansible_port=22\n[db:children]\nweb\n[all:vars]\nx=1\n".to_vec());
    let mut n = 0u64;
    fuzz("inventory", pool, |data| {
        n += 1;
        // Both parsers: the extension picks the first one tried.
        let name = if n.is_multiple_of(2) {
            "inv.ini"
        } else {
            "inv.yml"
        };
        let p = dir.path().join(name);
        std::fs::write(&p, data).expect("write input");
        if let Ok(inv) = Inventory::load(std::slice::from_ref(&p)) {
            let _ = inv.groups_map();
            for h in inv.hosts() {
                let _ = inv.host_vars(&h.name);
            }
        }
    });
}

#[test]
#[ignore = "fuzzing: run with scripts/fuzz.sh"]
fn fuzz_playbook() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pool = seeds(&["tests/corpus", "playbooks", "examples"], &[".yml"]);
    let p = dir.path().join("site.yml");
    fuzz("playbook", pool, |data| {
        std::fs::write(&p, data).expect("write input");
        let loader = Loader::new(dir.path(), Vec::new());
        let _ = loader.load_playbook(&p);
    });
}

#[test]
#[ignore = "fuzzing: run with scripts/fuzz.sh"]
fn fuzz_template() {
    let mut pool = seeds(&["roles"], &[".j2"]);
    for s in [
        "{{ x | default('a') | upper }}",
        "{% for i in range(3) %}{{ i }}{% endfor %}",
        "{{ items | map(attribute='name') | join(',') }}",
        "{{ '%s-%d' | format('a', 1) }}",
        "{{ x is defined and y | bool }}",
        "{{ d | dict2items | items2dict }}",
        "{{ s | regex_replace('(a+)', '\\\\1b') }}",
        "{{ lookup('env', 'HOME') }} {{ hostvars[inventory_hostname] }}",
        "{{ n | int + 1 }} {{ [1,2,3] | max }} {{ s | b64encode | b64decode }}",
        "{{ s | to_json | from_json }} {{ s | to_yaml }} {{ s | quote }}",
    ] {
        pool.push(s.as_bytes().to_vec());
    }
    let templar = Templar::new();
    let mut vars = shipshape::core::Vars::new();
    vars.insert("x".into(), minijinja::Value::from("v"));
    vars.insert("s".into(), minijinja::Value::from("aab"));
    vars.insert("n".into(), minijinja::Value::from(3));
    vars.insert(
        "items".into(),
        shipshape::template::json_to_value(&serde_json::json!([{"name": "a"}, {"name": "b"}])),
    );
    vars.insert(
        "d".into(),
        shipshape::template::json_to_value(&serde_json::json!({"k": 1})),
    );
    let scope = Scope::new(vec![Arc::new(vars)]);
    fuzz("template", pool, |data| {
        let text = String::from_utf8_lossy(data);
        let _ = templar.render_str(&text, &scope);
    });
}
