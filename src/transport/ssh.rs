//! The SSH transport: one authenticated russh connection per host, concurrent commands
//! multiplexed as channels (bounded by a semaphore), host keys checked against known_hosts,
//! keys from files and ssh-agent, passwords, and ProxyJump over a direct-tcpip channel.
//! Commands always run in `/bin/sh`, whatever the login shell is.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, AuthResult, Handle};
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use russh::{ChannelMsg, Disconnect};
use tokio::sync::Semaphore;

use super::r#become::{BecomeWatch, wrap};
use super::known_hosts::{HostKeyPolicy, verify_host_key};
use super::pump::{Event, PidMarker, PumpError, Source, pump};
use crate::core::{ExecOutput, ExecRequest, Secret, Transport, TransportError, quote};

/// Where and as whom to connect: one inventory host.
#[derive(Clone, Debug)]
pub struct SshTarget {
    /// The inventory name, used in every message.
    pub name: String,
    /// Address or DNS name to connect to (`ansible_host`).
    pub address: String,
    /// TCP port (`ansible_port`).
    pub port: u16,
    /// Login user (`ansible_user`).
    pub user: String,
    /// Private keys to offer, in order; empty means the usual `~/.ssh/id_*` files.
    pub identity_files: Vec<PathBuf>,
    /// Login password, tried after keys and the agent.
    pub password: Option<Secret>,
    /// A host to jump through (`ProxyJump`).
    pub proxy_jump: Option<Box<SshTarget>>,
    /// Limit for TCP connect plus handshake, and again for authentication.
    pub connect_timeout: Duration,
}

impl SshTarget {
    /// A target on port 22 as the current user, with a 10 s connect timeout.
    pub fn new(name: impl Into<String>, address: impl Into<String>) -> Self {
        SshTarget {
            name: name.into(),
            address: address.into(),
            port: 22,
            user: std::env::var("USER")
                .or_else(|_| std::env::var("LOGNAME"))
                .unwrap_or_else(|_| "root".to_string()),
            identity_files: Vec::new(),
            password: None,
            proxy_jump: None,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// How to connect, shared by every host of a run.
#[derive(Clone, Debug)]
pub struct SshOptions {
    /// known_hosts files to trust; AcceptNew records into the first. Default `~/.ssh/known_hosts`.
    pub known_hosts: Vec<PathBuf>,
    /// What to do with unknown host keys.
    pub host_key_policy: HostKeyPolicy,
    /// Offer the keys of the ssh-agent at `SSH_AUTH_SOCK`.
    pub use_agent: bool,
    /// Most channels (commands) open at once on one connection (sshd allows 10 by default);
    /// clamped to 1..=1024.
    pub max_channels: usize,
    /// Send a keepalive after this long without traffic; three unanswered ones close it.
    pub keepalive: Option<Duration>,
}

impl Default for SshOptions {
    fn default() -> Self {
        SshOptions {
            known_hosts: home_dir()
                .map(|h| vec![h.join(".ssh").join("known_hosts")])
                .unwrap_or_default(),
            host_key_policy: HostKeyPolicy::Strict,
            use_agent: true,
            max_channels: 8,
            keepalive: Some(Duration::from_secs(15)),
        }
    }
}

fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// The russh callbacks: host key verification; a rejection is kept for the error message.
struct Client {
    address: String,
    port: u16,
    known_hosts: Vec<PathBuf>,
    policy: HostKeyPolicy,
    rejection: Arc<Mutex<Option<String>>>,
}

impl client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_public_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key = match server_public_key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            PublicKeyOrCertificate::Certificate(cert) => PublicKey::from(cert.public_key().clone()),
        };
        match verify_host_key(
            &self.address,
            self.port,
            &key,
            &self.known_hosts,
            self.policy,
        ) {
            Ok(()) => Ok(true),
            Err(rejection) => {
                if let Ok(mut slot) = self.rejection.lock() {
                    *slot = Some(rejection.0);
                }
                Ok(false)
            }
        }
    }
}

/// An authenticated SSH connection to one host.
pub struct SshTransport {
    name: String,
    handle: Handle<Client>,
    channels: Semaphore,
    /// The jump host's connection, kept open as long as this one.
    jump: Option<Box<SshTransport>>,
}

/// How long to wait for a channel when the request has no timeout.
const CHANNEL_OPEN_TIMEOUT: Duration = Duration::from_secs(60);

impl SshTransport {
    /// Connects (through `target.proxy_jump` if set), verifies the host key and authenticates.
    pub async fn connect(
        target: &SshTarget,
        opts: &SshOptions,
    ) -> Result<SshTransport, TransportError> {
        Box::pin(Self::connect_inner(target, opts)).await
    }

    async fn connect_inner(
        target: &SshTarget,
        opts: &SshOptions,
    ) -> Result<SshTransport, TransportError> {
        let connect_err = |message: String| TransportError::Connect {
            host: target.name.clone(),
            message,
        };
        let jump = match &target.proxy_jump {
            Some(j) => Some(Box::new(Self::connect(j, opts).await.map_err(|e| {
                connect_err(format!("through jump host {}: {e}", j.name))
            })?)),
            None => None,
        };
        let config = Arc::new(client::Config {
            keepalive_interval: opts.keepalive,
            keepalive_max: 3,
            inactivity_timeout: None,
            nodelay: true,
            ..Default::default()
        });
        let rejection = Arc::new(Mutex::new(None));
        let handler = Client {
            address: target.address.clone(),
            port: target.port,
            known_hosts: opts.known_hosts.clone(),
            policy: opts.host_key_policy,
            rejection: rejection.clone(),
        };
        let endpoint = format!("{}:{}", target.address, target.port);
        let limit = target.connect_timeout;
        let handshake = async {
            match &jump {
                None => {
                    let tcp = tokio::net::TcpStream::connect((
                        target.address.as_str(),
                        target.port,
                    ))
                    .await
                    .map_err(|e| match e.kind() {
                        std::io::ErrorKind::ConnectionRefused => connect_err(format!(
                            "connection refused by {endpoint} (is sshd running and listening \
                                 on port {}?)",
                            target.port
                        )),
                        _ => connect_err(format!("cannot reach {endpoint}: {e}")),
                    })?;
                    let _ = tcp.set_nodelay(true);
                    client::connect_stream(config, tcp, handler).await
                }
                Some(j) => {
                    let channel = j
                        .handle
                        .channel_open_direct_tcpip(
                            target.address.clone(),
                            u32::from(target.port),
                            "127.0.0.1",
                            0,
                        )
                        .await
                        .map_err(|e| {
                            connect_err(format!(
                                "jump host {} cannot open a connection to {endpoint}: {e}",
                                j.name
                            ))
                        })?;
                    client::connect_stream(config, channel.into_stream(), handler).await
                }
            }
            .map_err(|e| {
                let rejected = rejection.lock().ok().and_then(|mut r| r.take());
                match rejected {
                    Some(message) => TransportError::HostKey {
                        host: target.name.clone(),
                        message,
                    },
                    None => connect_err(format!("SSH handshake with {endpoint} failed: {e}")),
                }
            })
        };
        let mut handle = tokio::time::timeout(limit, handshake).await.map_err(|_| {
            connect_err(format!(
                "timed out after {} s connecting to {endpoint}",
                limit.as_secs_f64()
            ))
        })??;
        tokio::time::timeout(limit, authenticate(&mut handle, target, opts))
            .await
            .map_err(|_| TransportError::Auth {
                host: target.name.clone(),
                message: format!("timed out after {} s", limit.as_secs_f64()),
            })??;
        Ok(SshTransport {
            name: target.name.clone(),
            handle,
            channels: Semaphore::new(opts.max_channels.clamp(1, 1024)),
            jump,
        })
    }

    fn lost(&self, message: impl Into<String>) -> TransportError {
        TransportError::Lost {
            host: self.name.clone(),
            message: message.into(),
        }
    }

    fn timeout(&self, limit: Duration) -> TransportError {
        TransportError::Timeout {
            host: self.name.clone(),
            secs: limit.as_secs_f64().ceil() as u64,
        }
    }

    /// Stops a timed-out command: TERM to its process group (the remote session leader,
    /// which sudo relays to its child), over a fresh channel, within 2 s. Best effort: the
    /// SSH `signal` request is refused by OpenSSH for root logins, so it is not used.
    async fn kill_remote(&self, pid: u32) {
        if pid <= 1 {
            return;
        }
        let script = format!("kill -TERM -{pid} 2>/dev/null || kill -TERM {pid} 2>/dev/null");
        let command = format!("exec /bin/sh -c {}", quote(&script));
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            let Ok(mut channel) = self.handle.channel_open_session().await else {
                return;
            };
            if channel.exec(false, command.into_bytes()).await.is_err() {
                return;
            }
            while let Some(msg) = channel.wait().await {
                if matches!(msg, ChannelMsg::Close) {
                    break;
                }
            }
        })
        .await;
    }

    /// Opens a session channel and runs `command` in it, all within `limit` when given.
    async fn run(
        &self,
        command: String,
        stdin: Vec<u8>,
        watch: Option<BecomeWatch>,
        marker: PidMarker,
        limit: Option<Duration>,
    ) -> Result<ExecOutput, TransportError> {
        let deadline = limit.map(|t| tokio::time::Instant::now() + t);
        let open_limit = limit.unwrap_or(CHANNEL_OPEN_TIMEOUT);
        let channel = tokio::time::timeout(open_limit, self.handle.channel_open_session())
            .await
            .map_err(|_| match limit {
                Some(t) => self.timeout(t),
                None => self.lost(format!(
                    "the server did not open a channel within {} s",
                    open_limit.as_secs()
                )),
            })?
            .map_err(|e| {
                if self.handle.is_closed() {
                    self.lost(format!("connection closed ({e})"))
                } else {
                    self.lost(format!("cannot open a channel: {e}"))
                }
            })?;
        let (read, write) = channel.split();
        let mut source = ChannelSource { read };
        let body = async {
            write
                .exec(true, command.into_bytes())
                .await
                .map_err(|e| self.lost(format!("cannot start the command: {e}")))?;
            pump(&mut source, write.make_writer(), stdin, watch, Some(marker))
                .await
                .map_err(|e| match e {
                    PumpError::Become(message) => TransportError::Become {
                        host: self.name.clone(),
                        message,
                    },
                    PumpError::Refused => self.lost("the server refused to run the command"),
                })
        };
        let result = match (deadline, limit) {
            (Some(d), Some(t)) => tokio::time::timeout_at(d, body)
                .await
                .unwrap_or_else(|_| Err(self.timeout(t))),
            _ => body.await,
        };
        let pumped = match result {
            Ok(p) => p,
            Err(e) => {
                // Close the channel so the slot is free again (the caller stops the command:
                // sshd leaves a non-tty command running when its channel closes).
                let _ = tokio::time::timeout(Duration::from_secs(2), write.close()).await;
                return Err(e);
            }
        };
        match pumped.status {
            Some(status) => Ok(ExecOutput {
                status,
                stdout: pumped.stdout,
                stderr: pumped.stderr,
            }),
            None if self.handle.is_closed() => {
                Err(self.lost("the connection closed while the command ran"))
            }
            None => Err(self.lost("the channel closed without an exit status")),
        }
    }
}

/// Channel messages as pump events.
struct ChannelSource {
    read: russh::ChannelReadHalf,
}

impl Source for ChannelSource {
    async fn next(&mut self) -> Option<Event> {
        loop {
            match self.read.wait().await? {
                ChannelMsg::Data { data } => return Some(Event::Stdout(data.to_vec())),
                ChannelMsg::ExtendedData { data, ext: 1 } => {
                    return Some(Event::Stderr(data.to_vec()));
                }
                ChannelMsg::ExitStatus { exit_status } => {
                    return Some(Event::Exit(i32::try_from(exit_status).unwrap_or(-1)));
                }
                ChannelMsg::ExitSignal { .. } => return Some(Event::Exit(-1)),
                ChannelMsg::Failure => return Some(Event::Refused),
                ChannelMsg::Close => return None,
                _ => continue,
            }
        }
    }
}

#[async_trait::async_trait]
impl Transport for SshTransport {
    async fn exec(&self, req: ExecRequest) -> Result<ExecOutput, TransportError> {
        let _permit = self
            .channels
            .acquire()
            .await
            .map_err(|_| self.lost("the connection is closing"))?;
        if self.handle.is_closed() {
            return Err(self.lost("the connection is closed"));
        }
        let wrapped = wrap(&req.script, req.become_.as_ref());
        // The login shell runs this line; /bin/sh then runs the script whatever that shell is,
        // after telling its pid (the process group to stop on a timeout).
        let (marker, pid_line, pid) = PidMarker::new();
        let command = format!(
            "exec /bin/sh -c {}",
            quote(&format!("{pid_line}\n{}", wrapped.script))
        );
        let result = self
            .run(command, req.stdin, wrapped.watch, marker, req.timeout)
            .await;
        if let Err(TransportError::Timeout { .. }) = &result {
            self.kill_remote(pid.load(Ordering::Relaxed)).await;
        }
        result
    }

    fn host(&self) -> &str {
        &self.name
    }

    async fn close(&self) {
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            self.handle.disconnect(Disconnect::ByApplication, "", "en"),
        )
        .await;
        if let Some(j) = &self.jump {
            j.close().await;
        }
    }
}

/// The key files OpenSSH offers when none is configured, those that exist.
fn default_identity_files() -> Vec<PathBuf> {
    let Some(home) = home_dir() else {
        return Vec::new();
    };
    ["id_ed25519", "id_ecdsa", "id_rsa"]
        .iter()
        .map(|n| home.join(".ssh").join(n))
        .filter(|p| p.exists())
        .collect()
}

/// Tries identity files, then agent keys, then the password; the error lists what was tried.
async fn authenticate(
    handle: &mut Handle<Client>,
    target: &SshTarget,
    opts: &SshOptions,
) -> Result<(), TransportError> {
    let user = target.user.as_str();
    let lost = |e: russh::Error| TransportError::Lost {
        host: target.name.clone(),
        message: format!("during authentication: {e}"),
    };
    let mut tried: Vec<String> = Vec::new();
    let mut rsa_hash: Option<Option<HashAlg>> = None;

    let files = if target.identity_files.is_empty() {
        default_identity_files()
    } else {
        target.identity_files.clone()
    };
    let passphrase = std::env::var("SHIPSHAPE_KEY_PASSPHRASE").ok();
    for file in &files {
        let key = match russh::keys::load_secret_key(file, passphrase.as_deref()) {
            Ok(k) => k,
            Err(russh::keys::Error::KeyIsEncrypted) => {
                tried.push(format!(
                    "key {} (encrypted: set SHIPSHAPE_KEY_PASSPHRASE or load it into ssh-agent)",
                    file.display()
                ));
                continue;
            }
            Err(russh::keys::Error::IO(e)) => {
                tried.push(format!("key {} (cannot read: {e})", file.display()));
                continue;
            }
            Err(e) => {
                tried.push(format!("key {} (unusable: {e})", file.display()));
                continue;
            }
        };
        let hash = if key.algorithm().is_rsa() {
            best_rsa_hash(handle, &mut rsa_hash).await
        } else {
            None
        };
        let key = PrivateKeyWithHashAlg::new(Arc::new(key), hash);
        if handle
            .authenticate_publickey(user, key)
            .await
            .map_err(lost)?
            .success()
        {
            return Ok(());
        }
        tried.push(format!("key {} (rejected)", file.display()));
    }

    if opts.use_agent {
        match std::env::var_os("SSH_AUTH_SOCK").filter(|s| !s.is_empty()) {
            None => {}
            Some(sock) => match AgentClient::connect_uds(&sock).await {
                Err(e) => tried.push(format!("ssh-agent (cannot connect: {e})")),
                Ok(mut agent) => {
                    let identities = agent.request_identities().await.unwrap_or_default();
                    let mut offered = 0;
                    for identity in identities {
                        let AgentIdentity::PublicKey { key, .. } = identity else {
                            continue;
                        };
                        let hash = if key.algorithm().is_rsa() {
                            best_rsa_hash(handle, &mut rsa_hash).await
                        } else {
                            None
                        };
                        offered += 1;
                        match handle
                            .authenticate_publickey_with(user, key, hash, &mut agent)
                            .await
                        {
                            Ok(AuthResult::Success) => return Ok(()),
                            Ok(_) => {}
                            Err(e) => {
                                if handle.is_closed() {
                                    return Err(TransportError::Lost {
                                        host: target.name.clone(),
                                        message: format!("during authentication: {e}"),
                                    });
                                }
                            }
                        }
                    }
                    tried.push(format!("ssh-agent ({offered} keys rejected)"));
                }
            },
        }
    }

    if let Some(pw) = &target.password {
        if handle
            .authenticate_password(user, pw.expose())
            .await
            .map_err(lost)?
            .success()
        {
            return Ok(());
        }
        tried.push("password (rejected)".to_string());
    }

    let what = if tried.is_empty() {
        "nothing to try: no identity file, no ssh-agent (SSH_AUTH_SOCK) and no password".to_string()
    } else {
        format!("tried {}", tried.join(", "))
    };
    Err(TransportError::Auth {
        host: target.name.clone(),
        message: format!("as {user}@{}:{}: {what}", target.address, target.port),
    })
}

/// The best RSA signature hash the server accepts, asked once per connection.
async fn best_rsa_hash(
    handle: &Handle<Client>,
    cache: &mut Option<Option<HashAlg>>,
) -> Option<HashAlg> {
    if let Some(h) = cache {
        return *h;
    }
    let h = handle
        .best_supported_rsa_hash()
        .await
        .ok()
        .flatten()
        .flatten();
    *cache = Some(h);
    h
}
