//! The [`Transport`] trait: run one shell script on one host, with stdin and optional become.
//! Modules see only this trait, never russh.

use std::time::Duration;

use super::Secret;

/// Privilege escalation for one command (sudo).
#[derive(Clone, Debug)]
pub struct Become {
    /// The user to become (`root` by default).
    pub user: String,
    /// The sudo password, fed on stdin, if one is needed.
    pub password: Option<Secret>,
}

/// One command to run on a host: `sh -c script`, with `stdin` fed to it.
#[derive(Clone, Debug, Default)]
pub struct ExecRequest {
    /// POSIX shell text, run by `sh -c`.
    pub script: String,
    /// Bytes fed to the command's standard input (file contents travel here, never on argv).
    pub stdin: Vec<u8>,
    /// Run as another user through sudo.
    pub become_: Option<Become>,
    /// Give up (and report a timeout) after this long.
    pub timeout: Option<Duration>,
}

impl ExecRequest {
    /// A request for `script` with no stdin.
    pub fn new(script: impl Into<String>) -> Self {
        ExecRequest {
            script: script.into(),
            ..Default::default()
        }
    }

    /// Sets the standard input.
    pub fn stdin(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.stdin = data.into();
        self
    }
}

/// What a remote command printed and how it exited.
#[derive(Clone, Debug, Default)]
pub struct ExecOutput {
    /// Exit status; `-1` when it was killed by a signal.
    pub status: i32,
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: Vec<u8>,
}

impl ExecOutput {
    /// Standard output as text (lossy).
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    /// Standard error as text (lossy).
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
    /// Whether the command exited 0.
    pub fn success(&self) -> bool {
        self.status == 0
    }
}

/// Why a host could not be reached or a command could not be run on it.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// TCP connection or SSH handshake failed.
    #[error("{host}: cannot connect: {message}")]
    Connect {
        /// Host name from the inventory.
        host: String,
        /// Cause.
        message: String,
    },
    /// The server's host key is not trusted.
    #[error("{host}: {message}")]
    HostKey {
        /// Host name from the inventory.
        host: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// No key or password was accepted.
    #[error("{host}: authentication failed: {message}")]
    Auth {
        /// Host name from the inventory.
        host: String,
        /// What was tried.
        message: String,
    },
    /// The connection broke while running a command.
    #[error("{host}: connection lost: {message}")]
    Lost {
        /// Host name from the inventory.
        host: String,
        /// Cause.
        message: String,
    },
    /// The command did not finish in time.
    #[error("{host}: command timed out after {secs} s")]
    Timeout {
        /// Host name from the inventory.
        host: String,
        /// The limit that was hit.
        secs: u64,
    },
    /// sudo refused (wrong or missing password, not in sudoers).
    #[error("{host}: become failed: {message}")]
    Become {
        /// Host name from the inventory.
        host: String,
        /// What sudo said.
        message: String,
    },
}

impl TransportError {
    /// Whether this error means the host is unreachable (exit code 3), not a task failure.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            TransportError::Connect { .. }
                | TransportError::HostKey { .. }
                | TransportError::Auth { .. }
                | TransportError::Lost { .. }
        )
    }
}

/// A connection to one host that runs shell commands. One per host for the whole run;
/// implementations multiplex concurrent calls over it.
#[async_trait::async_trait]
pub trait Transport: Send + Sync {
    /// Runs `req.script` with `sh -c` on the host and collects its output.
    async fn exec(&self, req: ExecRequest) -> Result<ExecOutput, TransportError>;

    /// The inventory name of the host, for messages.
    fn host(&self) -> &str;

    /// Closes the connection politely.
    async fn close(&self) {}
}
