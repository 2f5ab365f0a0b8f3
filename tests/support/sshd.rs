//! `TestLab`: one private sshd on 127.0.0.1.. for a test binary (shared through a `OnceLock`,
//! since tests run in parallel), or a private one for tests that need their own. Hosts are
//! 127.0.0.2, 127.0.0.3, ... on the lab's port; each inventory gets fresh per-host base dirs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// Hosts one sshd serves (sshd takes at most 16 listen addresses: 127.0.0.1 ..= 127.0.0.16).
pub const SHARED_HOSTS: usize = 15;

/// A running loopback lab, seen as `n_hosts` hosts h1..hN.
#[derive(Clone)]
pub struct TestLab {
    inner: Arc<LabDir>,
    n_hosts: usize,
}

/// The lab directory and its sshd; stopped on drop when owned by one test.
struct LabDir {
    dir: PathBuf,
    port: u16,
    user: String,
    stop_on_drop: bool,
    runs: AtomicUsize,
    _tempdir: Option<tempfile::TempDir>,
}

impl Drop for LabDir {
    fn drop(&mut self) {
        if self.stop_on_drop {
            let _ = Command::new(script())
                .arg("down")
                .arg(&self.dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// scripts/loopback-lab.sh of this checkout.
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/loopback-lab.sh")
}

fn lab_up(dir: &Path, hosts: usize) -> Result<(u16, String), String> {
    let out = Command::new(script())
        .arg("up")
        .arg(dir)
        .arg("")
        .arg(hosts.to_string())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script().display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "loopback-lab.sh up failed: {}{}",
            stdout,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let port = stdout
        .lines()
        .find_map(|l| l.strip_prefix("port="))
        .and_then(|p| p.trim().parse().ok())
        .ok_or_else(|| format!("loopback-lab.sh printed no port: {stdout}"))?;
    let env = std::fs::read_to_string(dir.join("lab.env")).map_err(|e| e.to_string())?;
    let user = env
        .lines()
        .find_map(|l| l.strip_prefix("USER="))
        .unwrap_or("root")
        .to_string();
    Ok((port, user))
}

/// Stops the lab and removes `dir` once this process is gone, however it ends.
fn spawn_reaper(dir: &Path) {
    use std::os::unix::process::CommandExt;
    let watch = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {script} down {dir} >/dev/null 2>&1; rm -rf {dir}",
        pid = std::process::id(),
        script = shipshape::core::quote(&script().to_string_lossy()),
        dir = shipshape::core::quote(&dir.to_string_lossy()),
    );
    let _ = Command::new("/bin/sh")
        .arg("-c")
        .arg(watch)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own process group: a Ctrl-C to the test run does not stop the cleanup.
        .process_group(0)
        .spawn();
}

static SHARED: OnceLock<Result<Arc<LabDir>, String>> = OnceLock::new();

impl TestLab {
    /// A lab with `n_hosts` hosts: the binary-wide shared sshd when it is big enough
    /// (n_hosts <= 15), else a private one. Panics with the reason when sshd cannot start.
    pub fn start(n_hosts: usize) -> TestLab {
        if n_hosts > SHARED_HOSTS {
            return TestLab::start_private(n_hosts);
        }
        let shared = SHARED.get_or_init(|| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let dir = std::env::temp_dir()
                .join(format!("shipshape-lab-{}-{nanos:x}", std::process::id()));
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            spawn_reaper(&dir);
            let (port, user) = lab_up(&dir, SHARED_HOSTS)?;
            Ok(Arc::new(LabDir {
                dir,
                port,
                user,
                stop_on_drop: false,
                runs: AtomicUsize::new(0),
                _tempdir: None,
            }))
        });
        match shared {
            Ok(inner) => TestLab {
                inner: inner.clone(),
                n_hosts,
            },
            Err(e) => panic!("cannot start the loopback sshd lab: {e}"),
        }
    }

    /// A lab with its own sshd, stopped when the last clone is dropped.
    pub fn start_private(n_hosts: usize) -> TestLab {
        let tempdir = tempfile::Builder::new()
            .prefix("shipshape-lab-")
            .tempdir()
            .expect("create a temp dir for the lab");
        let dir = tempdir.path().to_path_buf();
        // Also stopped if this process dies before the drop runs.
        spawn_reaper(&dir);
        let (port, user) = lab_up(&dir, n_hosts.max(1))
            .unwrap_or_else(|e| panic!("cannot start the loopback sshd lab: {e}"));
        TestLab {
            inner: Arc::new(LabDir {
                dir,
                port,
                user,
                stop_on_drop: true,
                runs: AtomicUsize::new(0),
                _tempdir: Some(tempdir),
            }),
            n_hosts,
        }
    }

    /// The lab directory (keys, sshd_config, known_hosts, ssh_config, sshd.log).
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The port every lab address listens on.
    pub fn port(&self) -> u16 {
        self.inner.port
    }

    /// The login user (whoever runs the tests; root in CI).
    pub fn user(&self) -> &str {
        &self.inner.user
    }

    /// The client private key accepted for every user.
    pub fn key(&self) -> PathBuf {
        self.inner.dir.join("id_ed25519")
    }

    /// A known_hosts file with the lab's host key for every `[127.0.0.X]:port`.
    pub fn known_hosts(&self) -> PathBuf {
        self.inner.dir.join("known_hosts")
    }

    /// The lab's public host key line (`ssh-ed25519 AAAA...`).
    pub fn host_public_key(&self) -> String {
        let text = std::fs::read_to_string(self.inner.dir.join("ssh_host_ed25519_key.pub"))
            .expect("the lab has a host key");
        text.split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// An ssh_config for OpenSSH clients (`ssh -F`).
    pub fn ssh_config(&self) -> PathBuf {
        self.inner.dir.join("ssh_config")
    }

    /// How many hosts this view has.
    pub fn n_hosts(&self) -> usize {
        self.n_hosts
    }

    /// Address of host `i` (0-based): 127.0.0.2, 127.0.0.3, ...
    pub fn host_addr(&self, i: usize) -> String {
        format!("127.0.0.{}", i + 2)
    }

    /// Writes an INI inventory of hosts h1..hN in group `lab`, each with its connection vars
    /// and a var `base`: a fresh, empty per-host directory for this inventory only. `extra`
    /// is appended verbatim (more groups, `[lab:vars]`, ...). Returns the file's path.
    pub fn inventory_ini(&self, extra: &str) -> PathBuf {
        let run = self.inner.runs.fetch_add(1, Ordering::Relaxed);
        let run_dir = self.inner.dir.join("runs").join(run.to_string());
        let mut text = String::from("[lab]\n");
        for i in 0..self.n_hosts {
            let name = format!("h{}", i + 1);
            let base = run_dir.join(&name);
            std::fs::create_dir_all(&base).expect("create a host base dir");
            text.push_str(&format!(
                "{name} ansible_host={} ansible_port={} ansible_user={} \
                 ansible_ssh_private_key_file={} base={} shipshape_state_dir={}\n",
                self.host_addr(i),
                self.port(),
                self.user(),
                self.key().display(),
                base.display(),
                // The lab's hosts share one home: each keeps its run state in its base dir.
                base.join(".shipshape").display(),
            ));
        }
        if !extra.is_empty() {
            text.push('\n');
            text.push_str(extra);
            if !extra.ends_with('\n') {
                text.push('\n');
            }
        }
        let path = run_dir.join("inventory.ini");
        std::fs::create_dir_all(&run_dir).expect("create the run dir");
        std::fs::write(&path, text).expect("write the inventory");
        path
    }

    /// The per-host base directory `inventory_ini` made for host `i` in run `path`'s inventory.
    pub fn base_of(&self, inventory: &Path, i: usize) -> PathBuf {
        inventory
            .parent()
            .expect("an inventory lives in its run dir")
            .join(format!("h{}", i + 1))
    }
}
