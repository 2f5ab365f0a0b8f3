//! Runs commands on the controller itself with `sh -c` (Ansible's `connection: local`).

use std::process::Stdio;

use tokio::io::AsyncWriteExt;

use crate::core::{ExecOutput, ExecRequest, Transport, TransportError, quote};

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

#[async_trait::async_trait]
impl Transport for LocalTransport {
    async fn exec(&self, req: ExecRequest) -> Result<ExecOutput, TransportError> {
        let mut stdin = req.stdin;
        let script = match &req.become_ {
            Some(b) => {
                if let Some(pw) = &b.password {
                    let mut with_pw = format!("{}\n", pw.expose()).into_bytes();
                    with_pw.extend_from_slice(&stdin);
                    stdin = with_pw;
                }
                format!(
                    "sudo -H -S -p '' -u {} sh -c {}",
                    quote(&b.user),
                    quote(&req.script)
                )
            }
            None => req.script,
        };
        let lost = |e: std::io::Error| TransportError::Lost {
            host: self.host.clone(),
            message: e.to_string(),
        };
        let mut child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(lost)?;
        let mut pipe = child.stdin.take().expect("stdin is piped");
        let writer = tokio::spawn(async move {
            let _ = pipe.write_all(&stdin).await;
        });
        let wait = child.wait_with_output();
        let out = match req.timeout {
            Some(t) => {
                tokio::time::timeout(t, wait)
                    .await
                    .map_err(|_| TransportError::Timeout {
                        host: self.host.clone(),
                        secs: t.as_secs(),
                    })?
            }
            None => wait.await,
        }
        .map_err(lost)?;
        let _ = writer.await;
        Ok(ExecOutput {
            status: out.status.code().unwrap_or(-1),
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }

    fn host(&self) -> &str {
        &self.host
    }
}
