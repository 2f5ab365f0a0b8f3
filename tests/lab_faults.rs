//! Fault injection on the namespace lab (root only; skips with the reason otherwise): a host
//! killed mid-run, a link cut mid-run, a rate-limited host, a full disk on the target and
//! SIGTERM to the controller. Each fault must end the run cleanly: the faulty host reported
//! unreachable (or failed) with the task it was on, the other hosts finish, the documented exit
//! code, no hang, and no temp file (`.shipshape.*`) left behind.
//!
//! The lab kernel has no netem, so "slow" is a token-bucket rate limit (`lab.sh slow HOST
//! 1mbit`), not added latency.
//!
//! Timings are printed as `FAULT <name> <seconds>` lines (scripts/reliability-report.sh
//! collects them).

// The shared harness re-exports the loopback lab, which this test does not use.
#[allow(unused_imports)]
mod support;

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::netlab::{NetLab, ok};

/// Starts `shipshape playbook` in the background against the lab (jsonl output).
fn spawn_play(lab: &NetLab, work: &Path, playbook: &str, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_shipshape"))
        .args(["playbook", playbook, "--output", "jsonl", "-i"])
        .arg(lab.inventory())
        .arg("--known-hosts")
        .arg(lab.known_hosts())
        .args(extra)
        .current_dir(work)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn shipshape")
}

/// Waits at most `limit` for `child`; its exit code, stdout and stderr. Kills it and panics
/// when it hangs.
fn finish(mut child: Child, limit: Duration) -> (i32, String, String) {
    let start = Instant::now();
    let mut out = child.stdout.take().expect("stdout piped");
    let mut err = child.stderr.take().expect("stderr piped");
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    loop {
        if let Some(status) = child.try_wait().expect("wait shipshape") {
            let stdout = t_out.join().expect("stdout reader");
            let stderr = t_err.join().expect("stderr reader");
            return (status.code().unwrap_or(-1), stdout, stderr);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let stdout = t_out.join().expect("stdout reader");
            let stderr = t_err.join().expect("stderr reader");
            panic!("shipshape hung for more than {limit:?}:\n{stdout}\n{stderr}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the jsonl stream would show `task` started: polls the target for the marker
/// file the task's command creates (the controller's stdout is read only at the end).
fn wait_for_marker(lab: &NetLab, host: usize, marker: &str, limit: Duration) {
    let start = Instant::now();
    while start.elapsed() < limit {
        if lab.ssh(host, &format!("test -e {marker}")).status.success() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("lab{host} never reached {marker}");
}

/// The `host_result` events of `host` in a jsonl stream.
fn results_of(stdout: &str, host: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "host_result" && e["host"] == host)
        .collect()
}

/// Asserts `host` was reported unreachable on the task `task`, and the other hosts ran every
/// task (`tasks` ok results each).
fn assert_unreachable_on(stdout: &str, host: &str, task: &str, others: &[&str], tasks: usize) {
    let mine = results_of(stdout, host);
    let last = mine
        .last()
        .unwrap_or_else(|| panic!("no result for {host}:\n{stdout}"));
    assert_eq!(last["status"], "unreachable", "{host}:\n{stdout}");
    assert_eq!(
        last["task"], task,
        "{host} unreachable on the wrong task:\n{stdout}"
    );
    for other in others {
        let r = results_of(stdout, other);
        assert_eq!(r.len(), tasks, "{other} did not finish:\n{stdout}");
        assert!(
            r.iter()
                .all(|e| e["status"] == "ok" || e["status"] == "changed"),
            "{other} failed:\n{stdout}"
        );
    }
    let recap = support::netlab::recap(stdout);
    let stats = recap
        .iter()
        .find(|(h, _)| h == host)
        .expect("host in recap");
    assert_eq!(stats.1["unreachable"], 1, "{stdout}");
}

/// Any `.shipshape*` temp file left under `dir` on host `i`.
fn leftovers(lab: &NetLab, i: usize, dir: &str) -> String {
    ok(
        "find temp files",
        lab.ssh(
            i,
            &format!("find {dir} -xdev -name '.shipshape*' -newer /etc/hostname 2>/dev/null; true"),
        ),
    )
}

const LONG_PLAY: &str = "- hosts: lab\n  gather_facts: false\n  tasks:\n    - name: before\n      command: 'true'\n    - name: long sleep\n      shell: touch /tmp/sleeping && sleep 8 && rm /tmp/sleeping\n    - name: after\n      copy:\n        content: \"done\\n\"\n        dest: /tmp/after\n";

#[test]
fn host_death_link_cut_and_slow_host_end_cleanly() {
    let Some(lab) = NetLab::up(3) else { return };
    let work = tempfile::tempdir().expect("tempdir");
    std::fs::write(work.path().join("site.yml"), LONG_PLAY).expect("write playbook");

    // (a) lab2's init (and with it its sshd and every process of the host) killed mid-task.
    let start = Instant::now();
    let child = spawn_play(&lab, work.path(), "site.yml", &["-T", "5"]);
    wait_for_marker(&lab, 2, "/tmp/sleeping", Duration::from_secs(30));
    lab.control(&["stop", "lab2"]).expect("stop lab2");
    let (code, stdout, stderr) = finish(child, Duration::from_secs(120));
    let took = start.elapsed().as_secs_f64();
    println!("FAULT host-killed {took:.1}s");
    assert_eq!(code, 3, "exit code:\n{stdout}\n{stderr}");
    assert_unreachable_on(&stdout, "lab2", "long sleep", &["lab1", "lab3"], 3);
    for i in [1, 3] {
        assert_eq!(ok("after", lab.ssh(i, "cat /tmp/after")), "done\n");
        assert_eq!(leftovers(&lab, i, "/tmp"), "");
    }
    lab.up_again().expect("restart lab2");
    for i in 1..=3 {
        ok("reset", lab.ssh(i, "rm -f /tmp/after /tmp/sleeping"));
    }

    // (b) lab2's link cut mid-task: detected by the SSH keepalive, never a hang.
    let start = Instant::now();
    let child = spawn_play(&lab, work.path(), "site.yml", &["-T", "5"]);
    wait_for_marker(&lab, 2, "/tmp/sleeping", Duration::from_secs(30));
    let cut_at = Instant::now();
    lab.control(&["cut", "lab2"]).expect("cut lab2");
    let (code, stdout, stderr) = finish(child, Duration::from_secs(300));
    let took = start.elapsed().as_secs_f64();
    let detect = cut_at.elapsed().as_secs_f64();
    println!("FAULT link-cut {took:.1}s (detected {detect:.1}s after the cut)");
    lab.control(&["uncut", "lab2"]).expect("uncut lab2");
    assert_eq!(code, 3, "exit code:\n{stdout}\n{stderr}");
    assert_unreachable_on(&stdout, "lab2", "long sleep", &["lab1", "lab3"], 3);
    for i in [1, 3] {
        assert_eq!(leftovers(&lab, i, "/tmp"), "");
    }

    // (c) lab3 rate limited to 1mbit (no netem on this kernel, so a bandwidth limit stands in
    // for a slow link): a 2 MB copy still converges; a task over its `timeout:` fails cleanly.
    lab.control(&["slow", "lab3", "1mbit"]).expect("slow lab3");
    let big = "x".repeat(2 * 1024 * 1024);
    std::fs::write(work.path().join("big.txt"), &big).expect("write big file");
    std::fs::write(
        work.path().join("slow.yml"),
        "- hosts: lab3\n  gather_facts: false\n  tasks:\n    - name: big copy over a slow link\n      copy: src=big.txt dest=/tmp/big.txt\n",
    )
    .expect("write slow.yml");
    let start = Instant::now();
    let child = spawn_play(&lab, work.path(), "slow.yml", &[]);
    let (code, stdout, stderr) = finish(child, Duration::from_secs(120));
    let took = start.elapsed().as_secs_f64();
    println!("FAULT slow-host-copy-2MB-at-1mbit {took:.1}s");
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(
        ok("size", lab.ssh(3, "wc -c < /tmp/big.txt")).trim(),
        big.len().to_string()
    );
    std::fs::write(
        work.path().join("timeout.yml"),
        "- hosts: lab3\n  gather_facts: false\n  tasks:\n    - name: too slow\n      shell: sleep 30\n      timeout: 2\n    - name: never\n      command: 'true'\n",
    )
    .expect("write timeout.yml");
    let start = Instant::now();
    let child = spawn_play(&lab, work.path(), "timeout.yml", &[]);
    let (code, stdout, stderr) = finish(child, Duration::from_secs(60));
    let took = start.elapsed().as_secs_f64();
    println!("FAULT slow-host-task-timeout-2s {took:.1}s");
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    let r = results_of(&stdout, "lab3");
    assert_eq!(r.len(), 1, "{stdout}");
    assert_eq!(r[0]["status"], "failed", "{stdout}");
    assert!(
        r[0]["msg"].as_str().unwrap_or("").contains("timed out")
            || r[0]["msg"].as_str().unwrap_or("").contains("timeout"),
        "{stdout}"
    );
    assert!(took < 20.0, "timeout took {took:.1}s");
    let procs = ok("ps", lab.ssh(3, "ps -eo args"));
    assert!(
        !procs.contains("sleep 30"),
        "the timed-out command still runs:\n{procs}"
    );
    lab.control(&["slow", "lab3", "off"]).expect("unslow lab3");
}

/// Sends `sig` to the controller process.
fn signal(child: &Child, sig: i32) {
    let pid = i32::try_from(child.id()).expect("pid fits i32");
    // SAFETY: kill has no memory preconditions; the pid is our own child, not yet reaped.
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(rc, 0, "kill {pid}");
}

#[test]
fn full_disk_and_controller_sigterm_leave_no_partial_files() {
    let Some(lab) = NetLab::up(2) else { return };
    let work = tempfile::tempdir().expect("tempdir");

    // (d) a 64 KiB tmpfs on lab1 holding an old file; copying 200 KiB into it must fail with
    // ENOSPC named, leave the old file intact and no temp file.
    ok(
        "small tmpfs",
        lab.ssh(
            1,
            "mkdir -p /srv/small && mount -t tmpfs -o size=64k tmpfs /srv/small && printf 'old\\n' > /srv/small/f.txt",
        ),
    );
    let big = "y".repeat(200 * 1024);
    std::fs::write(work.path().join("big.txt"), &big).expect("write big file");
    std::fs::write(
        work.path().join("disk.yml"),
        "- hosts: lab1\n  gather_facts: false\n  tasks:\n    - name: write into a full disk\n      copy: src=big.txt dest=/srv/small/f.txt mode='0644'\n",
    )
    .expect("write disk.yml");
    let child = spawn_play(&lab, work.path(), "disk.yml", &[]);
    let (code, stdout, stderr) = finish(child, Duration::from_secs(60));
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    let r = results_of(&stdout, "lab1");
    let msg = r[0]["msg"].as_str().unwrap_or_default().to_string();
    println!("FAULT full-disk-message {}", msg.replace('\n', " / "));
    assert_eq!(r[0]["status"], "failed", "{stdout}");
    assert!(msg.contains("No space left on device"), "{msg}");
    assert!(msg.contains("/srv/small/f.txt"), "{msg}");
    assert_eq!(ok("old file", lab.ssh(1, "cat /srv/small/f.txt")), "old\n");
    assert_eq!(ok("no temp", lab.ssh(1, "ls -A /srv/small")), "f.txt\n");

    // (e) SIGTERM while every host runs a long command: the running task finishes, no new task
    // starts, the recap is printed, exit 99 and no temp file on the targets.
    std::fs::write(
        work.path().join("term.yml"),
        "- hosts: lab\n  gather_facts: false\n  tasks:\n    - name: first write\n      copy:\n        content: \"one\\n\"\n        dest: /tmp/one\n    - name: long sleep\n      shell: touch /tmp/sleeping && sleep 4 && rm /tmp/sleeping\n    - name: never starts\n      copy:\n        content: two\n        dest: /tmp/two\n",
    )
    .expect("write term.yml");
    let start = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_shipshape"))
        .args(["playbook", "term.yml", "--color", "never", "-i"])
        .arg(lab.inventory())
        .arg("--known-hosts")
        .arg(lab.known_hosts())
        .current_dir(work.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn shipshape");
    wait_for_marker(&lab, 2, "/tmp/sleeping", Duration::from_secs(30));
    signal(&child, libc::SIGTERM);
    let (code, stdout, stderr) = finish(child, Duration::from_secs(60));
    println!("FAULT sigterm {:.1}s", start.elapsed().as_secs_f64());
    assert_eq!(code, 99, "{stdout}\n{stderr}");
    assert!(stdout.contains("PLAY RECAP"), "{stdout}");
    assert!(
        !stdout.contains("never starts"),
        "a task started after SIGTERM:\n{stdout}"
    );
    for i in 1..=2 {
        assert_eq!(ok("one", lab.ssh(i, "cat /tmp/one")), "one\n");
        assert!(!lab.ssh(i, "test -e /tmp/two").status.success());
        assert!(!lab.ssh(i, "test -e /tmp/sleeping").status.success());
        assert_eq!(leftovers(&lab, i, "/tmp"), "");
    }

    // (e') two SIGTERMs in the middle of a large upload (lab2 rate limited so the upload is
    // still running): the controller exits at once and the target's writer removes its temp
    // file; the old destination stays.
    lab.control(&["slow", "lab2", "1mbit"]).expect("slow lab2");
    ok("old", lab.ssh(2, "printf 'old\\n' > /tmp/big.txt"));
    let big = "z".repeat(4 * 1024 * 1024);
    std::fs::write(work.path().join("big.txt"), &big).expect("write big file");
    std::fs::write(
        work.path().join("upload.yml"),
        "- hosts: lab2\n  gather_facts: false\n  tasks:\n    - name: big upload\n      copy: src=big.txt dest=/tmp/big.txt\n",
    )
    .expect("write upload.yml");
    let child = spawn_play(&lab, work.path(), "upload.yml", &[]);
    let start = Instant::now();
    let mut seen = false;
    while start.elapsed() < Duration::from_secs(30) {
        let l = ok("temp", lab.ssh(2, "ls -A /tmp"));
        if l.contains(".shipshape.") {
            seen = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(seen, "the upload never started");
    signal(&child, libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, libc::SIGTERM);
    let (code, stdout, stderr) = finish(child, Duration::from_secs(30));
    assert_eq!(code, 99, "{stdout}\n{stderr}");
    lab.control(&["slow", "lab2", "off"]).expect("unslow lab2");
    // The remote writer sees EOF (a short write) and removes its temp file.
    let start = Instant::now();
    let mut left = leftovers(&lab, 2, "/tmp");
    while !left.is_empty() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(200));
        left = leftovers(&lab, 2, "/tmp");
    }
    let mut how = "connection closed";
    if !left.is_empty() {
        // The controller's last packet (its RST) can be dropped by the rate limiter's full
        // queue: the host's sshd then learns the connection is gone only from its client-alive
        // checks (the lab's sshd: every 2 s, 3 misses), ends the session, and the writer gets
        // EOF/SIGHUP and removes its temp file.
        how = "half-open connection: cleaned when sshd ended the session";
        let t = Instant::now();
        while !left.is_empty() && t.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(250));
            left = leftovers(&lab, 2, "/tmp");
        }
        if !left.is_empty() {
            let diag = ok("processes", lab.ssh(2, "ps -eo pid,ppid,stat,args"));
            println!("half-open, still there after 20 s: {left}\n{diag}");
        }
    }
    println!(
        "FAULT double-sigterm-upload {:.1}s ({how})",
        start.elapsed().as_secs_f64()
    );
    assert_eq!(left, "", "temp file left after the controller died");
    assert_eq!(ok("old", lab.ssh(2, "cat /tmp/big.txt")), "old\n");
}

/// The secrets of [`secrets_never_leak`]: none may appear in any output or on the target's
/// process list.
const VAULT_VALUE: &str = "VaultValue-7f3a9c";
const NO_LOG_VALUE: &str = "NoLogValue-51d2e8";
const BECOME_PASSWORD: &str = "BecomePw-c0ffee42";

#[test]
fn secrets_never_leak() {
    let Some(lab) = NetLab::up(1) else { return };
    let work = tempfile::tempdir().expect("tempdir");
    let w = work.path();
    // A login user whose sudo needs a password, so the become password is really used.
    ok(
        "deploy user",
        lab.ssh(
            1,
            &format!(
                "useradd -m -s /bin/sh deploy && echo 'deploy:{BECOME_PASSWORD}' | chpasswd && \
                 echo 'deploy ALL=(ALL) ALL' > /etc/sudoers.d/deploy && chmod 0440 /etc/sudoers.d/deploy && \
                 mkdir -p ~deploy/.ssh && cp /root/.ssh/authorized_keys ~deploy/.ssh/ && \
                 chown -R deploy: ~deploy/.ssh"
            ),
        ),
    );
    let inventory = std::fs::read_to_string(lab.inventory()).expect("inventory");
    std::fs::write(
        w.join("inv.ini"),
        inventory.replace("ansible_user=root", "ansible_user=deploy"),
    )
    .expect("write inventory");
    std::fs::write(w.join("vault-pass"), "vault pass\n").expect("vault password");
    std::fs::write(
        w.join("secret.yml"),
        format!("vault_secret: {VAULT_VALUE}\n"),
    )
    .expect("secret.yml");
    ok(
        "vault encrypt",
        Command::new(env!("CARGO_BIN_EXE_shipshape"))
            .args([
                "vault",
                "encrypt",
                "secret.yml",
                "--vault-password-file",
                "vault-pass",
            ])
            .current_dir(w)
            .output()
            .expect("run vault"),
    );
    std::fs::write(
        w.join("site.yml"),
        format!(
            "- hosts: lab\n  gather_facts: false\n  vars_files: [secret.yml]\n  tasks:\n\
             \x20   - name: a file from the vault value\n      become: true\n      copy:\n        content: \"{{{{ vault_secret }}}}\\n\"\n        dest: /root/v.txt\n        mode: '0600'\n\
             \x20   - name: a no_log command\n      command: echo {NO_LOG_VALUE}\n      no_log: true\n\
             \x20   - name: a failing no_log task\n      command: /bin/false {NO_LOG_VALUE}\n      no_log: true\n      ignore_errors: true\n\
             \x20   - name: long command with become\n      become: true\n      shell: touch /tmp/sleeping && sleep 3 && rm /tmp/sleeping\n\
             \x20   - name: the vault value fails a task\n      become: true\n      command: /bin/sh -c 'echo {{{{ vault_secret }}}} >&2; exit 1'\n      ignore_errors: true\n"
        ),
    )
    .expect("site.yml");
    let mut outputs = Vec::new();
    for (format, extra) in [
        ("human", vec!["--diff", "-vvv"]),
        (
            "jsonl",
            vec!["--diff", "--junit", "junit.xml", "--markdown", "summary.md"],
        ),
    ] {
        ok("reset", lab.ssh(1, "rm -f /root/v.txt"));
        let child = Command::new(env!("CARGO_BIN_EXE_shipshape"))
            .args([
                "playbook", "site.yml", "--color", "never", "--output", format,
            ])
            .args(["-i", "inv.ini", "--vault-password-file", "vault-pass"])
            .arg("--known-hosts")
            .arg(lab.known_hosts())
            .args(&extra)
            .env("SHIPSHAPE_BECOME_PASSWORD", BECOME_PASSWORD)
            .current_dir(w)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn shipshape");
        // While the become command runs: every process's argv on the target.
        wait_for_marker(&lab, 1, "/tmp/sleeping", Duration::from_secs(30));
        let ps = ok("ps", lab.ssh(1, "ps -eo args"));
        assert!(ps.contains("sleep 3"), "{ps}");
        outputs.push(("target ps -eo args".to_string(), ps));
        let (code, stdout, stderr) = finish(child, Duration::from_secs(60));
        assert_eq!(code, 0, "{stdout}\n{stderr}");
        assert!(stdout.contains("a no_log command"), "{stdout}");
        outputs.push((format!("{format} stdout"), stdout));
        outputs.push((format!("{format} stderr"), stderr));
    }
    assert_eq!(
        ok("vault value written", lab.ssh(1, "cat /root/v.txt")),
        format!("{VAULT_VALUE}\n")
    );
    for f in ["junit.xml", "summary.md"] {
        outputs.push((f.to_string(), std::fs::read_to_string(w.join(f)).expect(f)));
    }
    let auth = ok(
        "auth log",
        lab.ssh(1, "cat /var/log/auth.log 2>/dev/null; true"),
    );
    outputs.push(("target auth.log".to_string(), auth));
    for (what, text) in &outputs {
        for secret in [VAULT_VALUE, NO_LOG_VALUE, BECOME_PASSWORD] {
            assert!(!text.contains(secret), "{secret} leaked in {what}:\n{text}");
        }
    }
    println!("SECRETS checked {} outputs for 3 secrets", outputs.len());
}
