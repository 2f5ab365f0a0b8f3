//! `NetLab`: the root-only namespace lab of tests/lab/lab.sh (hosts lab1..labN on the bridge
//! lab0, 10.213.0.11.. with their own sshd), brought up for one test at a time and torn down
//! on drop. On machines without root or where the rootfs cannot be built, `up` returns `None`
//! after printing why, so the tests skip loudly.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};

/// Serialises the tests of one process: there is one bridge and one set of namespaces.
static LOCK: Mutex<()> = Mutex::new(());

/// Lock file shared with other processes (other test binaries, other checkouts).
const LOCK_FILE: &str = "/run/shipshape-netlab.lock";

/// A running namespace lab, exclusively held until dropped.
pub struct NetLab {
    dir: PathBuf,
    hosts: usize,
    owned: bool,
    _file_lock: File,
    _guard: MutexGuard<'static, ()>,
}

/// Says why a test is skipped on the real stderr (not the harness' captured one), so a skip
/// shows in every `cargo test` run.
pub fn skip(reason: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIP {reason}");
}

/// tests/lab/lab.sh of this checkout.
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lab/lab.sh")
}

/// Runs lab.sh with `args`; its stdout on success, a readable error otherwise.
fn run_script(args: &[&str]) -> Result<String, String> {
    let out = Command::new(script())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script().display()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "lab.sh {} failed ({}): {}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Per-host recap stats (`ok`, `changed`, `failed`...) in inventory order.
pub type Recap = Vec<(String, serde_json::Value)>;

/// stdout of a successful command, or a panic with everything needed to debug it.
pub fn ok(what: &str, out: Output) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Recap stats per host from `--output jsonl` stdout.
pub fn recap(stdout: &str) -> Recap {
    let recap = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["event"] == "recap")
        .unwrap_or_else(|| panic!("no recap in output:\n{stdout}"));
    recap["hosts"]
        .as_array()
        .expect("recap hosts array")
        .iter()
        .map(|pair| {
            (
                pair[0].as_str().unwrap_or_default().to_string(),
                pair[1].clone(),
            )
        })
        .collect()
}

/// Asserts every host of `stats` reported `changed` changes and no failure.
pub fn assert_changed(stats: &Recap, changed: u64, output: &str) {
    assert!(!stats.is_empty(), "no hosts in the recap:\n{output}");
    for (host, s) in stats {
        assert_eq!(
            s["changed"].as_u64().unwrap_or(0),
            changed,
            "changed on {host}:\n{output}"
        );
        assert_eq!(
            s["failed"].as_u64().unwrap_or(0),
            0,
            "failed on {host}:\n{output}"
        );
        assert_eq!(
            s["unreachable"].as_u64().unwrap_or(0),
            0,
            "unreachable {host}:\n{output}"
        );
    }
}

impl NetLab {
    /// Base URL of the lab web server on the bridge (mirror at `/debian`, extras suite at
    /// `/extras`, archive key at `/lab-archive-keyring.gpg`, test files at `/files/`).
    pub const WEB: &'static str = "http://10.213.0.1:8080";

    /// Brings up hosts lab1..lab`n` (building the cached rootfs first if needed). `None`, with
    /// the reason on stderr, when not root, when `SHIPSHAPE_NO_NETLAB` is set, or when the
    /// rootfs cannot be built; panics when the lab itself fails to come up.
    pub fn up(n: usize) -> Option<NetLab> {
        if std::env::var_os("SHIPSHAPE_NO_NETLAB").is_some() {
            skip("netlab: SHIPSHAPE_NO_NETLAB is set");
            return None;
        }
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            skip("netlab: needs root (network, mount and PID namespaces)");
            return None;
        }
        let guard = LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let file = File::create(LOCK_FILE).expect("create the netlab lock file");
        // SAFETY: the descriptor is valid for the lifetime of `file`.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        assert_eq!(rc, 0, "flock {LOCK_FILE}");
        // Built (or failed) once per process: a failing debootstrap is not retried by every test.
        static ROOTFS: OnceLock<Result<String, String>> = OnceLock::new();
        if let Err(e) = ROOTFS.get_or_init(|| run_script(&["rootfs"])) {
            skip(&format!("netlab: the lab rootfs cannot be built here: {e}"));
            return None;
        }
        let dir = std::env::temp_dir().join("shipshape-netlab");
        let dir_s = dir.to_string_lossy().into_owned();
        // A lab left over by a crashed run is torn down first: every test starts clean.
        if let Err(e) = run_script(&["down", &dir_s]) {
            panic!("cannot clean up a previous lab: {e}");
        }
        let lab = NetLab {
            dir,
            hosts: n,
            owned: true,
            _file_lock: file,
            _guard: guard,
        };
        if let Err(e) = run_script(&["up", &n.to_string(), &dir_s]) {
            // Drop tears down whatever came up.
            drop(lab);
            panic!("netlab up failed: {e}");
        }
        Some(lab)
    }

    /// The lab directory (client key, inventory, per-host overlays and console logs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Number of hosts (lab1..labN).
    pub fn hosts(&self) -> usize {
        self.hosts
    }

    /// `inventory.ini`: group `lab`, one line per host with address, user root and the key.
    pub fn inventory(&self) -> PathBuf {
        self.dir.join("inventory.ini")
    }

    /// `known_hosts` with each host's key for its address.
    pub fn known_hosts(&self) -> PathBuf {
        self.dir.join("known_hosts")
    }

    /// The client private key authorised for root on every host.
    pub fn key(&self) -> PathBuf {
        self.dir.join("id_ed25519")
    }

    /// Address of host `i` (1-based): 10.213.0.(10+i).
    pub fn ip(i: usize) -> String {
        format!("10.213.0.{}", 10 + i)
    }

    /// Runs `cmd` on host `i` (1-based) with the OpenSSH client (BatchMode, strict host keys).
    pub fn ssh(&self, i: usize, cmd: &str) -> Output {
        Command::new("ssh")
            .args(["-F", "/dev/null", "-i"])
            .arg(self.key())
            .arg("-o")
            .arg(format!(
                "UserKnownHostsFile={}",
                self.known_hosts().display()
            ))
            .args([
                "-o",
                "GlobalKnownHostsFile=/dev/null",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=5",
                "-o",
                "LogLevel=ERROR",
            ])
            .arg(format!("root@{}", Self::ip(i)))
            .arg(cmd)
            .stdin(Stdio::null())
            .output()
            .expect("run ssh")
    }

    /// The lab web root (served at [`NetLab::WEB`]): tests drop files into `www()/files/`.
    pub fn www(&self) -> PathBuf {
        self.dir.join("www")
    }

    /// Runs `shipshape playbook PLAYBOOK --output jsonl` in `work` against this lab (its
    /// inventory and known_hosts), with `extra` arguments appended (`--check`, `-e`...).
    pub fn play(&self, work: &Path, playbook: &str, extra: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_shipshape"))
            .args(["playbook", playbook, "--output", "jsonl", "-i"])
            .arg(self.inventory())
            .arg("--known-hosts")
            .arg(self.known_hosts())
            .args(extra)
            .current_dir(work)
            .env("NO_COLOR", "1")
            .output()
            .expect("run shipshape")
    }

    /// Runs `playbook` like [`NetLab::play`] and asserts it succeeded; returns per-host recap
    /// stats and the whole stdout (for assertion messages).
    pub fn converge(&self, work: &Path, playbook: &str, extra: &[&str]) -> (Recap, String) {
        let out = ok(
            &format!("shipshape playbook {playbook} {extra:?}"),
            self.play(work, playbook, extra),
        );
        (recap(&out), out)
    }

    /// Runs another lab.sh command (`stop lab2`, `cut lab2`, `slow lab2 200ms`, `status`...).
    pub fn control(&self, args: &[&str]) -> Result<String, String> {
        let mut all: Vec<&str> = args.to_vec();
        if matches!(args.first(), Some(&"stop") | Some(&"status")) {
            all.push(self.dir.to_str().expect("lab dir is UTF-8"));
        }
        run_script(&all)
    }

    /// Runs `up` again on the running lab (idempotent: only stopped hosts are restarted).
    pub fn up_again(&self) -> Result<String, String> {
        let dir = self.dir.to_str().expect("lab dir is UTF-8");
        run_script(&["up", &self.hosts.to_string(), dir])
    }

    /// Tears the lab down now and reports failures (drop does the same, silently).
    pub fn down(mut self) -> Result<(), String> {
        self.owned = false;
        run_script(&["down", self.dir.to_str().expect("lab dir is UTF-8")]).map(|_| ())
    }
}

impl Drop for NetLab {
    fn drop(&mut self) {
        if self.owned
            && let Err(e) = run_script(&["down", &self.dir.to_string_lossy()])
        {
            eprintln!("netlab down failed: {e}");
        }
    }
}
