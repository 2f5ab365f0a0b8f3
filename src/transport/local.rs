//! Runs commands on the controller itself with `/bin/sh -c` (Ansible's `connection: local`),
//! with the same stdin, become and timeout behaviour as the SSH transport.

use std::process::Stdio;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, ChildStderr, ChildStdout};

use super::r#become::wrap;
use super::pump::{Event, PumpError, Source, pump};
use crate::core::{ExecOutput, ExecRequest, Transport, TransportError};

/// A transport that runs every command locally.
pub struct LocalTransport {
    host: String,
}

impl LocalTransport {
    /// A local transport reporting itself as `host`.
    pub fn new(host: impl Into<String>) -> Self {
        LocalTransport { host: host.into() }
    }
}

/// Output of a local child process as [`Event`]s; the exit status comes after both pipes end.
struct ChildSource {
    child: Child,
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
    out_buf: Vec<u8>,
    err_buf: Vec<u8>,
    exited: bool,
}

/// Reads from `pipe` if it is still open; never completes for a closed pipe.
async fn read_some<R: AsyncRead + Unpin>(
    pipe: &mut Option<R>,
    buf: &mut [u8],
) -> std::io::Result<usize> {
    match pipe {
        Some(p) => p.read(buf).await,
        None => std::future::pending().await,
    }
}

impl Source for ChildSource {
    async fn next(&mut self) -> Option<Event> {
        loop {
            if self.exited {
                return None;
            }
            if self.stdout.is_none() && self.stderr.is_none() {
                let status = self.child.wait().await.ok()?;
                self.exited = true;
                return Some(Event::Exit(status.code().unwrap_or(-1)));
            }
            tokio::select! {
                r = read_some(&mut self.stdout, &mut self.out_buf), if self.stdout.is_some() => {
                    match r {
                        Ok(n) if n > 0 => {
                            return Some(Event::Stdout(self.out_buf[..n].to_vec()));
                        }
                        _ => self.stdout = None,
                    }
                }
                r = read_some(&mut self.stderr, &mut self.err_buf), if self.stderr.is_some() => {
                    match r {
                        Ok(n) if n > 0 => {
                            return Some(Event::Stderr(self.err_buf[..n].to_vec()));
                        }
                        _ => self.stderr = None,
                    }
                }
            }
        }
    }
}

#[async_trait::async_trait]
impl Transport for LocalTransport {
    async fn exec(&self, req: ExecRequest) -> Result<ExecOutput, TransportError> {
        let wrapped = wrap(&req.script, req.become_.as_ref());
        let lost = |e: std::io::Error| TransportError::Lost {
            host: self.host.clone(),
            message: format!("cannot run /bin/sh: {e}"),
        };
        let mut child = tokio::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&wrapped.script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            // Its own process group, so a timeout stops the whole command, not just its shell.
            .process_group(0)
            .spawn()
            .map_err(lost)?;
        let pgid = child.id();
        let writer = child.stdin.take().expect("stdin is piped");
        let mut source = ChildSource {
            stdout: child.stdout.take(),
            stderr: child.stderr.take(),
            child,
            out_buf: vec![0; 64 * 1024],
            err_buf: vec![0; 16 * 1024],
            exited: false,
        };
        let run = pump(&mut source, writer, req.stdin, wrapped.watch, None);
        let result = match req.timeout {
            Some(t) => match tokio::time::timeout(t, run).await {
                Ok(r) => r,
                Err(_) => {
                    if let Some(pgid) = pgid.and_then(|p| i32::try_from(p).ok()) {
                        // SAFETY: kill has no memory preconditions; the group is our child's.
                        unsafe {
                            libc::kill(-pgid, libc::SIGTERM);
                        }
                    }
                    return Err(TransportError::Timeout {
                        host: self.host.clone(),
                        secs: t.as_secs_f64().ceil() as u64,
                    });
                }
            },
            None => run.await,
        };
        // On every early return the child is killed when `source` drops (kill_on_drop).
        match result {
            Ok(p) => Ok(ExecOutput {
                status: p.status.unwrap_or(-1),
                stdout: p.stdout,
                stderr: p.stderr,
            }),
            Err(PumpError::Become(message)) => Err(TransportError::Become {
                host: self.host.clone(),
                message,
            }),
            Err(PumpError::Refused) => Err(TransportError::Lost {
                host: self.host.clone(),
                message: "the command was refused".into(),
            }),
        }
    }

    fn host(&self) -> &str {
        &self.host
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Become, Secret};
    use std::time::Duration;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    #[test]
    fn runs_with_stdin_and_status() {
        let t = LocalTransport::new("local");
        let out = rt()
            .block_on(t.exec(ExecRequest::new("cat; echo err >&2; exit 7").stdin("data")))
            .expect("runs");
        assert_eq!(out.status, 7);
        assert_eq!(out.stdout, b"data");
        assert_eq!(out.stderr, b"err\n");
    }

    #[test]
    fn times_out() {
        let t = LocalTransport::new("local");
        let mut req = ExecRequest::new("sleep 7.319; echo never");
        req.timeout = Some(Duration::from_millis(200));
        let start = std::time::Instant::now();
        let rt = rt();
        let err = rt.block_on(t.exec(req)).expect_err("timeout");
        assert!(matches!(err, TransportError::Timeout { .. }), "{err}");
        assert!(start.elapsed() < Duration::from_secs(3));
        // The whole command is gone, not only its shell.
        let mut left = String::new();
        for _ in 0..20 {
            let out = rt
                .block_on(t.exec(ExecRequest::new(
                    "ps -eo args | grep -c '^sleep 7[.]319' || true",
                )))
                .expect("runs");
            left = out.stdout_str();
            if left.trim() == "0" {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(left.trim(), "0");
    }

    #[test]
    fn signal_is_minus_one() {
        let t = LocalTransport::new("local");
        let out = rt()
            .block_on(t.exec(ExecRequest::new("kill -9 $$")))
            .expect("runs");
        assert_eq!(out.status, -1);
    }

    fn sudo_usable_as_root() -> bool {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        root && std::path::Path::new("/usr/bin/sudo").exists()
    }

    #[test]
    fn become_root_locally_keeps_stdin() {
        if !sudo_usable_as_root() {
            eprintln!("skipped: needs root and sudo");
            return;
        }
        let t = LocalTransport::new("local");
        let mut req = ExecRequest::new("id -un; cat").stdin("line1\nline2\n");
        // root is never asked for a password: the password must not leak into stdin.
        req.become_ = Some(Become {
            user: "nobody".into(),
            password: Some(Secret::new("unused")),
        });
        let out = rt().block_on(t.exec(req)).expect("runs");
        assert_eq!(out.stdout_str(), "nobody\nline1\nline2\n");
        assert_eq!(out.stderr_str(), "");
    }
}
