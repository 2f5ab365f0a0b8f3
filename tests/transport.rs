//! The SSH transport against a real loopback sshd (scripts/loopback-lab.sh): exec, stdin,
//! concurrency, timeouts, connect errors, host key policies, ProxyJump and sudo become.

mod support;

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use shipshape::core::{Become, ExecRequest, Secret, Transport, TransportError};
use shipshape::transport::{HostKeyPolicy, SshOptions, SshTarget, SshTransport};
use support::TestLab;

fn lab() -> TestLab {
    TestLab::start(3)
}

fn target(lab: &TestLab, i: usize) -> SshTarget {
    SshTarget {
        name: format!("h{}", i + 1),
        address: lab.host_addr(i),
        port: lab.port(),
        user: lab.user().to_string(),
        identity_files: vec![lab.key()],
        password: None,
        proxy_jump: None,
        connect_timeout: Duration::from_secs(5),
    }
}

fn opts(lab: &TestLab) -> SshOptions {
    SshOptions {
        known_hosts: vec![lab.known_hosts()],
        host_key_policy: HostKeyPolicy::Strict,
        use_agent: false,
        max_channels: 8,
        keepalive: None,
    }
}

async fn connect(lab: &TestLab, i: usize) -> SshTransport {
    SshTransport::connect(&target(lab, i), &opts(lab))
        .await
        .unwrap_or_else(|e| panic!("connect to the lab: {e}"))
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn has_sudo() -> bool {
    ["/usr/bin/sudo", "/bin/sudo", "/usr/local/bin/sudo"]
        .iter()
        .any(|p| std::path::Path::new(p).exists())
}

#[tokio::test]
async fn exec_collects_stdout_stderr_and_status() {
    let lab = lab();
    let t = connect(&lab, 0).await;
    let out = t
        .exec(ExecRequest::new("echo out; echo err >&2; exit 3"))
        .await
        .expect("exec");
    assert_eq!(out.stdout_str(), "out\n");
    assert_eq!(out.stderr_str(), "err\n");
    assert_eq!(out.status, 3);
    assert_eq!(t.host(), "h1");

    // The script runs in /bin/sh, not in the login shell.
    let out = t.exec(ExecRequest::new("echo \"$0\"")).await.expect("exec");
    assert_eq!(out.stdout_str(), "/bin/sh\n");

    // Death by signal is -1.
    let out = t.exec(ExecRequest::new("kill -9 $$")).await.expect("exec");
    assert_eq!(out.status, -1);
    t.close().await;
}

#[tokio::test]
async fn five_megabytes_of_stdin_arrive_intact() {
    let lab = lab();
    let t = connect(&lab, 0).await;
    let mut data = Vec::with_capacity(5 << 20);
    let mut x: u32 = 0x1234_5678;
    while data.len() < 5 << 20 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data.extend_from_slice(&x.to_le_bytes());
    }
    let want = hex::encode(Sha256::digest(&data));
    let out = t
        .exec(ExecRequest::new("sha256sum | cut -d' ' -f1; wc -c >&2").stdin(data))
        .await
        .expect("exec");
    assert!(out.success(), "{}", out.stderr_str());
    assert_eq!(out.stdout_str().trim(), want);
}

#[tokio::test]
async fn twenty_concurrent_execs_share_one_connection() {
    let lab = lab();
    let t = Arc::new(connect(&lab, 1).await);
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..20 {
        let t = t.clone();
        set.spawn(async move {
            let script = format!("sleep 0.3; echo {i}; echo $SSH_CONNECTION; cat");
            let out = t
                .exec(ExecRequest::new(script).stdin(format!("in{i}")))
                .await;
            (i, out)
        });
    }
    let mut connections = std::collections::BTreeSet::new();
    let mut seen = 0;
    while let Some(joined) = set.join_next().await {
        let (i, out) = joined.expect("task");
        let out = out.unwrap_or_else(|e| panic!("exec {i}: {e}"));
        let text = out.stdout_str();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[0], i.to_string());
        assert_eq!(lines[2], format!("in{i}"));
        connections.insert(lines[1].to_string());
        seen += 1;
    }
    assert_eq!(seen, 20);
    // One TCP connection (same client port) for all of them.
    assert_eq!(connections.len(), 1, "{connections:?}");
    // At most 8 channels at a time: at least three waves of 0.3 s; and concurrent, far from
    // 20 sequential runs (6 s).
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_millis(900), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
}

#[tokio::test]
async fn timeout_closes_the_channel_and_the_connection_survives() {
    let lab = lab();
    let t = connect(&lab, 0).await;
    let mut req = ExecRequest::new("sleep 29.517");
    req.timeout = Some(Duration::from_millis(300));
    let start = Instant::now();
    let err = t.exec(req).await.expect_err("times out");
    assert!(matches!(err, TransportError::Timeout { .. }), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    let out = t.exec(ExecRequest::new("echo alive")).await.expect("exec");
    assert_eq!(out.stdout_str(), "alive\n");
    // The command itself was stopped, not left running on the host.
    let mut left = String::new();
    for _ in 0..20 {
        let out = t
            .exec(ExecRequest::new(
                "ps -eo args | grep -c '^sleep 29[.]517' || true",
            ))
            .await
            .expect("exec");
        left = out.stdout_str();
        if left.trim() == "0" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(left.trim(), "0", "the timed-out command still runs");
}

#[tokio::test]
async fn a_silent_server_is_a_connect_timeout() {
    let lab = lab();
    // Accepts TCP connections and never says a word.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    let mut tg = target(&lab, 0);
    tg.address = "127.0.0.1".into();
    tg.port = port;
    tg.connect_timeout = Duration::from_millis(400);
    let start = Instant::now();
    let err = SshTransport::connect(&tg, &opts(&lab))
        .await
        .err()
        .expect("times out");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert!(
        matches!(&err, TransportError::Connect { message, .. } if message.contains("timed out")),
        "{err}"
    );
    holder.abort();
}

#[tokio::test]
async fn a_dropped_connection_is_lost() {
    let lab = lab();
    let t = connect(&lab, 0).await;
    // The command kills the sshd process that serves this connection.
    let err = t
        .exec(ExecRequest::new("kill -9 $PPID; sleep 5"))
        .await
        .expect_err("connection dropped");
    assert!(matches!(err, TransportError::Lost { .. }), "{err}");
    assert!(err.is_unreachable());
    let start = Instant::now();
    let err = t
        .exec(ExecRequest::new("true"))
        .await
        .expect_err("still lost");
    assert!(matches!(err, TransportError::Lost { .. }), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn connection_refused_is_a_quick_connect_error() {
    let lab = lab();
    // A port that was just free: nobody listens there now.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let mut tg = target(&lab, 0);
    tg.address = "127.0.0.1".into();
    tg.port = port;
    let start = Instant::now();
    let err = SshTransport::connect(&tg, &opts(&lab))
        .await
        .err()
        .expect("refused");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    match &err {
        TransportError::Connect { host, message } => {
            assert_eq!(host, "h1");
            assert!(message.contains("refused"), "{message}");
        }
        other => panic!("expected Connect, got {other}"),
    }
    assert!(err.is_unreachable());
}

fn temp_known_hosts(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("known_hosts");
    std::fs::write(&path, text).expect("write known_hosts");
    (dir, path)
}

#[tokio::test]
async fn unknown_host_key_is_refused_with_the_fix() {
    let lab = lab();
    let (_d, kh) = temp_known_hosts("");
    let mut o = opts(&lab);
    o.known_hosts = vec![kh.clone()];
    let err = SshTransport::connect(&target(&lab, 0), &o)
        .await
        .err()
        .expect("unknown key");
    let TransportError::HostKey { host, message } = &err else {
        panic!("expected HostKey, got {err}");
    };
    assert_eq!(host, "h1");
    assert!(message.contains("SHA256:"), "{message}");
    assert!(
        message.contains(&format!("[127.0.0.2]:{}", lab.port())),
        "{message}"
    );
    assert!(
        message.contains(&format!("ssh-keyscan -p {} 127.0.0.2 >>", lab.port())),
        "{message}"
    );
    assert!(message.contains("accept-new"), "{message}");
    assert_eq!(std::fs::read_to_string(&kh).expect("read"), "");
}

#[tokio::test]
async fn changed_host_key_is_refused_even_with_accept_new() {
    let lab = lab();
    let other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ";
    let text = format!("# old\n[127.0.0.2]:{} {other}\n", lab.port());
    let (_d, kh) = temp_known_hosts(&text);
    let mut o = opts(&lab);
    o.known_hosts = vec![kh.clone()];
    o.host_key_policy = HostKeyPolicy::AcceptNew;
    let err = SshTransport::connect(&target(&lab, 0), &o)
        .await
        .err()
        .expect("changed key");
    let TransportError::HostKey { message, .. } = &err else {
        panic!("expected HostKey, got {err}");
    };
    assert!(message.contains("HOST KEY CHANGED"), "{message}");
    assert!(
        message.contains(&format!("{}:2", kh.display())),
        "{message}"
    );
    assert!(message.contains("ssh-keygen -R"), "{message}");
    assert_eq!(std::fs::read_to_string(&kh).expect("read"), text);
}

#[tokio::test]
async fn accept_new_records_the_key() {
    let lab = lab();
    let (_d, kh) = temp_known_hosts("");
    let mut o = opts(&lab);
    o.known_hosts = vec![kh.clone()];
    o.host_key_policy = HostKeyPolicy::AcceptNew;
    let t = SshTransport::connect(&target(&lab, 2), &o)
        .await
        .expect("accepted");
    t.close().await;
    let recorded = std::fs::read_to_string(&kh).expect("read");
    assert_eq!(
        recorded,
        format!("[127.0.0.4]:{} {}\n", lab.port(), lab.host_public_key())
    );
    // Now known: strict checking passes.
    o.host_key_policy = HostKeyPolicy::Strict;
    SshTransport::connect(&target(&lab, 2), &o)
        .await
        .expect("known now");
}

#[tokio::test]
async fn shell_metacharacters_reach_the_host_literally() {
    let lab = lab();
    let t = connect(&lab, 0).await;
    let tricky = "it's \"quoted\" $HOME `id` $(id) \\ * ; | & > < ! # ~ %s \t tab\nnew line";
    let script = shipshape::core::Sh::new("printf")
        .arg("%s")
        .arg(tricky)
        .raw("; cat")
        .build();
    let stdin = "stdin: $(rm -rf /) `x` 'q' \"d\" \\\n\0nul";
    let out = t
        .exec(ExecRequest::new(script).stdin(stdin))
        .await
        .expect("exec");
    assert_eq!(out.stdout, [tricky.as_bytes(), stdin.as_bytes()].concat());
    // A script with single quotes, newlines and a heredoc, as modules write them.
    let script = "x='a b'\ncat <<'EOF'\n$x 'y'\nEOF\necho \"$x\"";
    let out = t.exec(ExecRequest::new(script)).await.expect("exec");
    assert_eq!(out.stdout_str(), "$x 'y'\na b\n");
}

#[tokio::test]
async fn proxy_jump_through_the_lab() {
    let lab = lab();
    let mut tg = target(&lab, 1);
    tg.proxy_jump = Some(Box::new(target(&lab, 0)));
    let t = SshTransport::connect(&tg, &opts(&lab))
        .await
        .expect("connect through the jump host");
    let out = t
        .exec(ExecRequest::new("echo $SSH_CONNECTION"))
        .await
        .expect("exec");
    let fields: Vec<String> = out
        .stdout_str()
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(
        fields.get(2).map(String::as_str),
        Some("127.0.0.3"),
        "{fields:?}"
    );
    t.close().await;

    // The jump host really is in the path: an unreachable jump host fails the connection.
    let mut jump = target(&lab, 0);
    jump.port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    jump.address = "127.0.0.1".into();
    tg.proxy_jump = Some(Box::new(jump));
    let err = SshTransport::connect(&tg, &opts(&lab))
        .await
        .err()
        .expect("jump host down");
    assert!(
        matches!(&err, TransportError::Connect { message, .. } if message.contains("jump host")),
        "{err}"
    );
}

#[tokio::test]
async fn authentication_failure_names_what_was_tried() {
    let lab = lab();
    let mut tg = target(&lab, 0);
    // The host key is a valid private key that is not authorized.
    let wrong = lab.dir().join("ssh_host_ed25519_key");
    let missing = lab.dir().join("no-such-key");
    tg.identity_files = vec![wrong.clone(), missing.clone()];
    tg.password = Some(Secret::new("not the password"));
    let err = SshTransport::connect(&tg, &opts(&lab))
        .await
        .err()
        .expect("auth fails");
    let TransportError::Auth { message, .. } = &err else {
        panic!("expected Auth, got {err}");
    };
    assert!(
        message.contains(&format!("key {} (rejected)", wrong.display())),
        "{message}"
    );
    assert!(
        message.contains(&format!("{} (cannot read", missing.display())),
        "{message}"
    );
    assert!(message.contains("password (rejected)"), "{message}");
    assert!(!message.contains("not the password"), "{message}");
}

/// Runs in a child test process whose environment points SSH_AUTH_SOCK at a test agent.
#[tokio::test]
#[ignore = "run by agent_keys_authenticate in a child process"]
async fn agent_child() {
    let Ok(spec) = std::env::var("SHIPSHAPE_TEST_AGENT_TARGET") else {
        eprintln!("skipped: only meaningful when started by agent_keys_authenticate");
        return;
    };
    let parts: Vec<&str> = spec.split('|').collect();
    let [addr, port, user, known_hosts] = parts[..] else {
        panic!("bad SHIPSHAPE_TEST_AGENT_TARGET {spec}");
    };
    let mut tg = SshTarget::new("agent-host", addr);
    tg.port = port.parse().expect("port");
    tg.user = user.to_string();
    // Only the agent holds the lab key; a missing file is tried (and skipped) first.
    tg.identity_files = vec![PathBuf::from("/nonexistent/id_ed25519")];
    let o = SshOptions {
        known_hosts: vec![PathBuf::from(known_hosts)],
        use_agent: true,
        keepalive: None,
        ..SshOptions::default()
    };
    let t = SshTransport::connect(&tg, &o)
        .await
        .unwrap_or_else(|e| panic!("agent authentication: {e}"));
    let out = t
        .exec(ExecRequest::new("echo via-agent"))
        .await
        .expect("exec");
    assert_eq!(out.stdout_str(), "via-agent\n");
}

/// Kills and reaps a child process on drop.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn agent_keys_authenticate() {
    let lab = lab();
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("agent.sock");
    let _agent = KillOnDrop(
        std::process::Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&sock)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("ssh-agent runs (openssh-client)"),
    );
    for _ in 0..100 {
        if sock.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let added = std::process::Command::new("ssh-add")
        .arg(lab.key())
        .env("SSH_AUTH_SOCK", &sock)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("ssh-add runs");
    assert!(added.success());
    let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["--ignored", "--exact", "agent_child", "--nocapture"])
        .env("SSH_AUTH_SOCK", &sock)
        .env(
            "SHIPSHAPE_TEST_AGENT_TARGET",
            format!(
                "{}|{}|{}|{}",
                lab.host_addr(0),
                lab.port(),
                lab.user(),
                lab.known_hosts().display()
            ),
        )
        .output()
        .expect("run the child test");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "{text}");
}

#[tokio::test]
async fn encrypted_key_without_passphrase_is_explained() {
    let lab = lab();
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("enc");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "a passphrase", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen runs");
    assert!(status.success());
    let mut tg = target(&lab, 0);
    tg.identity_files = vec![key];
    let err = SshTransport::connect(&tg, &opts(&lab))
        .await
        .err()
        .expect("auth fails");
    assert!(
        matches!(&err, TransportError::Auth { message, .. } if message.contains("SHIPSHAPE_KEY_PASSPHRASE")),
        "{err}"
    );
}

#[tokio::test]
async fn become_root_and_nobody() {
    if !has_sudo() {
        eprintln!("skipped: sudo is not installed");
        return;
    }
    if !is_root() {
        eprintln!("skipped: becoming another user without a password needs a root login");
        return;
    }
    let lab = lab();
    let t = connect(&lab, 0).await;
    for user in ["root", "nobody"] {
        let mut req = ExecRequest::new("id -un; cat").stdin("payload\n");
        req.become_ = Some(Become {
            user: user.into(),
            password: None,
        });
        let out = t.exec(req).await.expect("exec");
        assert!(out.success(), "{}", out.stderr_str());
        assert_eq!(out.stdout_str(), format!("{user}\npayload\n"));
        assert_eq!(out.stderr_str(), "");
    }
    // A password that sudo does not ask for is never fed to the command.
    let mut req = ExecRequest::new("id -un; cat").stdin("payload\n");
    req.become_ = Some(Become {
        user: "nobody".into(),
        password: Some(Secret::new("not-needed")),
    });
    let out = t.exec(req).await.expect("exec");
    assert_eq!(out.stdout_str(), "nobody\npayload\n");
    // A missing user is a Become error, not a task failure.
    let mut req = ExecRequest::new("true");
    req.become_ = Some(Become {
        user: "no-such-user-xyz".into(),
        password: None,
    });
    let err = t.exec(req).await.expect_err("unknown user");
    assert!(
        matches!(&err, TransportError::Become { message, .. } if message.contains("does not exist")),
        "{err}"
    );
}

/// A login user without sudo rights and without a usable password (`*`: no password
/// matches, yet sshd does not treat it as locked like `!`), home `/`, created once when
/// running as root; the lab's authorized key lets it log in to the lab sshd only.
fn unprivileged_user() -> Option<&'static str> {
    static USER: OnceLock<Option<&'static str>> = OnceLock::new();
    *USER.get_or_init(|| {
        const NAME: &str = "shipshape-test";
        let exists = |n: &str| {
            std::process::Command::new("id")
                .arg(n)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !is_root() {
            return exists(NAME).then_some(NAME);
        }
        if !exists(NAME) {
            let _ = std::process::Command::new("useradd")
                .args(["-M", "-d", "/", "-s", "/bin/sh", "-p", "*", NAME])
                .status();
        }
        exists(NAME).then_some(NAME)
    })
}

#[tokio::test]
async fn sudo_refusals_are_become_errors() {
    if !has_sudo() {
        eprintln!("skipped: sudo is not installed");
        return;
    }
    let Some(user) = unprivileged_user() else {
        eprintln!("skipped: no unprivileged login user (needs root to create one)");
        return;
    };
    let lab = lab();
    let mut tg = target(&lab, 0);
    tg.user = user.to_string();
    let t = SshTransport::connect(&tg, &opts(&lab))
        .await
        .expect("login as the unprivileged user");
    let out = t.exec(ExecRequest::new("id -un")).await.expect("exec");
    assert_eq!(out.stdout_str(), format!("{user}\n"));

    // No password: sudo -n fails at once instead of waiting for one.
    let mut req = ExecRequest::new("id -un");
    req.become_ = Some(Become {
        user: "root".into(),
        password: None,
    });
    req.timeout = Some(Duration::from_secs(20));
    let start = Instant::now();
    let err = t.exec(req).await.expect_err("password required");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert!(
        matches!(&err, TransportError::Become { message, .. } if message.contains("needs a password")),
        "{err}"
    );

    // A wrong password: refused after the first attempt, and the stdin is not consumed as
    // further password attempts.
    let mut req = ExecRequest::new("cat").stdin("secret payload\nline 2\n");
    req.become_ = Some(Become {
        user: "root".into(),
        password: Some(Secret::new("wrong password")),
    });
    req.timeout = Some(Duration::from_secs(20));
    let err = t.exec(req).await.expect_err("wrong password");
    let TransportError::Become { message, .. } = &err else {
        panic!("expected Become, got {err}");
    };
    assert!(message.contains("incorrect sudo password"), "{message}");
    assert!(
        !message.contains("wrong password"),
        "the password leaked: {message}"
    );

    // The connection still works afterwards.
    let out = t.exec(ExecRequest::new("echo ok")).await.expect("exec");
    assert_eq!(out.stdout_str(), "ok\n");
}

#[test]
fn lab_inventory_lists_hosts_with_fresh_bases() {
    let lab = TestLab::start(2);
    let a = lab.inventory_ini("[lab:vars]\nx=1");
    let b = lab.inventory_ini("");
    assert_ne!(a, b);
    let text = std::fs::read_to_string(&a).expect("read");
    assert!(
        text.starts_with("[lab]\nh1 ansible_host=127.0.0.2 "),
        "{text}"
    );
    assert!(text.contains("h2 ansible_host=127.0.0.3 "), "{text}");
    assert!(!text.contains("h3 "), "{text}");
    assert!(
        text.contains(&format!("ansible_port={}", lab.port())),
        "{text}"
    );
    assert!(text.ends_with("[lab:vars]\nx=1\n"), "{text}");
    assert!(lab.base_of(&a, 0).is_dir());
    // OpenSSH itself accepts the lab's ssh_config and known_hosts (strict checking).
    let out = std::process::Command::new("ssh")
        .arg("-F")
        .arg(lab.ssh_config())
        .arg(lab.host_addr(1))
        .arg("echo via-openssh")
        .output()
        .expect("ssh runs");
    let mut err = std::io::stderr();
    let _ = err.write_all(&out.stderr);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "via-openssh\n");
}
