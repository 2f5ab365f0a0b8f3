//! Opens one connection per host for the whole run, from the host's connection variables
//! (`ansible_host`, `ansible_port`, `ansible_user`, key, `ansible_connection`), the command
//! line and `~/.ssh/config`, and shares it between that host's tasks.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use minijinja::Value;
use tokio::sync::OnceCell;

use crate::core::{Secret, Transport};
use crate::inventory::SshConfig;
use crate::template::Scope;
use crate::transport::{LocalTransport, SshOptions, SshTarget, SshTransport};

use super::Executor;
use super::inherit::Inherited;

type Slot = Arc<OnceCell<Result<Arc<dyn Transport>, String>>>;

/// The run's connections, by host.
#[derive(Default)]
pub struct Connections {
    slots: Mutex<HashMap<String, Slot>>,
    ssh_config: std::sync::OnceLock<SshConfig>,
}

impl Connections {
    fn slot(&self, host: &str) -> Slot {
        self.slots
            .lock()
            .expect("connections lock")
            .entry(host.to_string())
            .or_default()
            .clone()
    }

    /// Closes every open connection.
    pub async fn close_all(&self) {
        let slots: Vec<Slot> = self
            .slots
            .lock()
            .expect("connections lock")
            .drain()
            .map(|(_, s)| s)
            .collect();
        for s in slots {
            if let Some(Ok(t)) = s.get() {
                t.close().await;
            }
        }
    }
}

fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}

impl Executor {
    pub(crate) fn conn_var(&self, scope: &Scope, names: &[&str]) -> Result<Option<String>, String> {
        for n in names {
            if let Some(v) = scope.get_raw(n) {
                let r: Value = self
                    .templar
                    .render_value(&v, scope)
                    .map_err(|e| format!("{n}: {e}"))?;
                if r.is_none() || r.is_undefined() {
                    continue;
                }
                return Ok(Some(r.to_string()));
            }
        }
        Ok(None)
    }

    /// Drops a cached connection (or failure) so the next task reconnects.
    pub(crate) fn forget_connection(&self, host: &str) {
        self.conns
            .slots
            .lock()
            .expect("connections lock")
            .remove(host);
    }

    /// The connection to `host` (opened on first use). `delegate_to: localhost` runs locally.
    pub(crate) async fn transport_for(
        &self,
        host: &str,
        inh: &Inherited,
        scope: &Scope,
    ) -> Result<Arc<dyn Transport>, String> {
        if let Some(d) = inh.delegate_to.as_deref() {
            let d = self.delegate_name(d, scope)?;
            if matches!(d.as_str(), "localhost" | "127.0.0.1") {
                return Ok(Arc::new(LocalTransport::new("localhost")));
            }
            if d != host {
                return self.delegate_transport(&d).await;
            }
        }
        // The `connection: local` keyword, unless the host's `ansible_connection` says otherwise.
        if inh.connection.as_deref() == Some("local")
            && self.conn_var(scope, &["ansible_connection"])?.is_none()
        {
            return Ok(Arc::new(LocalTransport::new(host)));
        }
        let slot = self.conns.slot(host);
        slot.get_or_init(|| async { self.connect(host, scope).await })
            .await
            .clone()
    }

    /// The rendered `delegate_to` target.
    fn delegate_name(&self, d: &str, scope: &Scope) -> Result<String, String> {
        if !d.contains("{{") {
            return Ok(d.to_string());
        }
        let v = self
            .templar
            .render_str(d, scope)
            .map_err(|e| format!("delegate_to: {e}"))?;
        Ok(v.as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string()))
    }

    /// The connection to a `delegate_to` host: its own inventory connection variables (address,
    /// port, user, key), as in Ansible; a name not in the inventory is used as the address.
    /// It is the same cached connection that host uses in its own plays.
    async fn delegate_transport(&self, d: &str) -> Result<Arc<dyn Transport>, String> {
        let inv = if self.inventory.host(d).is_some() {
            self.host_state(d)
                .lock()
                .expect("host lock")
                .inv_vars
                .clone()
        } else {
            Arc::new(crate::core::Vars::new())
        };
        let scope = Scope::new(vec![inv, Arc::new(self.opts.extra_vars.clone())]);
        let slot = self.conns.slot(d);
        slot.get_or_init(|| async { self.connect(d, &scope).await })
            .await
            .clone()
            .map_err(|e| format!("delegate_to {d}: {e}"))
    }

    async fn connect(&self, host: &str, scope: &Scope) -> Result<Arc<dyn Transport>, String> {
        let connection = self
            .conn_var(scope, &["ansible_connection"])?
            .unwrap_or_else(|| "ssh".into());
        match connection.as_str() {
            "local" => return Ok(Arc::new(LocalTransport::new(host))),
            "ssh" | "smart" | "paramiko" => {}
            other => {
                return Err(format!(
                    "{host}: ansible_connection={other} is not supported (ssh or local)"
                ));
            }
        }
        let target = self.ssh_target(host, scope)?;
        let opts = SshOptions {
            known_hosts: self.opts.known_hosts.clone(),
            host_key_policy: self.opts.host_key_policy,
            ..SshOptions::default()
        };
        let t = SshTransport::connect(&target, &opts)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Arc::new(t))
    }

    /// Resolves the SSH target of a host: inventory variables, then the command line, then
    /// `~/.ssh/config`, then defaults.
    fn ssh_target(&self, host: &str, scope: &Scope) -> Result<SshTarget, String> {
        let cfg = self.conns.ssh_config.get_or_init(SshConfig::load_default);
        let address = self
            .conn_var(scope, &["ansible_host", "ansible_ssh_host"])?
            .unwrap_or_else(|| host.to_string());
        let sc = cfg.lookup(&address);
        let port = match self.conn_var(scope, &["ansible_port", "ansible_ssh_port"])? {
            Some(p) => p
                .parse::<u16>()
                .map_err(|_| format!("{host}: ansible_port '{p}' is not a port number"))?,
            None => sc.port.unwrap_or(22),
        };
        let user = self
            .conn_var(scope, &["ansible_user", "ansible_ssh_user"])?
            .or_else(|| self.opts.remote_user.clone())
            .or_else(|| sc.user.clone())
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "root".into());
        let mut identity_files: Vec<PathBuf> = Vec::new();
        if let Some(k) = self.conn_var(
            scope,
            &["ansible_ssh_private_key_file", "ansible_private_key_file"],
        )? {
            identity_files.push(expand_home(&k));
        }
        if let Some(k) = &self.opts.private_key {
            identity_files.push(k.clone());
        }
        identity_files.extend(sc.identity_files.iter().cloned());
        if identity_files.is_empty()
            && let Some(home) = std::env::var_os("HOME")
        {
            for name in ["id_ed25519", "id_ecdsa", "id_rsa"] {
                let p = PathBuf::from(&home).join(".ssh").join(name);
                if p.is_file() {
                    identity_files.push(p);
                }
            }
        }
        let password = self
            .conn_var(scope, &["ansible_password", "ansible_ssh_pass"])?
            .map(Secret::new);
        let jump_spec = match self.conn_var(
            scope,
            &["ansible_ssh_common_args", "ansible_ssh_extra_args"],
        )? {
            Some(args) => proxy_jump_from_args(&args),
            None => None,
        }
        .or_else(|| sc.proxy_jump.clone());
        let proxy_jump = match jump_spec {
            Some(spec) if spec != "none" => Some(Box::new(self.jump_target(
                &spec,
                &user,
                &identity_files,
                cfg,
            )?)),
            _ => None,
        };
        Ok(SshTarget {
            name: host.to_string(),
            address: sc.hostname.clone().unwrap_or(address),
            port,
            user,
            identity_files,
            password,
            proxy_jump,
            connect_timeout: self.opts.connect_timeout,
        })
    }

    fn jump_target(
        &self,
        spec: &str,
        default_user: &str,
        target_keys: &[PathBuf],
        cfg: &SshConfig,
    ) -> Result<SshTarget, String> {
        // [user@]host[:port]; only the first hop of a chain is supported.
        let first = spec.split(',').next().unwrap_or(spec);
        let (user, rest) = match first.split_once('@') {
            Some((u, r)) => (Some(u.to_string()), r),
            None => (None, first),
        };
        let (alias, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (
                h.to_string(),
                Some(
                    p.parse::<u16>()
                        .map_err(|_| format!("bad ProxyJump port in '{spec}'"))?,
                ),
            ),
            None => (rest.to_string(), None),
        };
        let sc = cfg.lookup(&alias);
        let mut identity_files: Vec<PathBuf> = self.opts.private_key.iter().cloned().collect();
        identity_files.extend(sc.identity_files.iter().cloned());
        if identity_files.is_empty() {
            // Nothing configured for the bastion itself: try the target's keys (a bastion
            // usually accepts the same key), as `ssh -J` would try the default identities.
            identity_files.extend(target_keys.iter().cloned());
        }
        Ok(SshTarget {
            name: alias.clone(),
            address: sc.hostname.clone().unwrap_or(alias),
            port: port.or(sc.port).unwrap_or(22),
            user: user
                .or(sc.user.clone())
                .unwrap_or_else(|| default_user.to_string()),
            identity_files,
            password: None,
            proxy_jump: None,
            connect_timeout: self.opts.connect_timeout,
        })
    }
}

/// Finds `-J host` or `-o ProxyJump=host` in `ansible_ssh_common_args`.
fn proxy_jump_from_args(args: &str) -> Option<String> {
    let words = crate::playbook::split_words(args).ok()?;
    let mut it = words.iter();
    while let Some(w) = it.next() {
        if w == "-J" {
            return it.next().cloned();
        }
        if let Some(rest) = w.strip_prefix("-J") {
            return Some(rest.to_string());
        }
        let opt = if w == "-o" {
            it.next().map(String::as_str)
        } else {
            w.strip_prefix("-o")
        };
        if let Some(o) = opt
            && let Some((k, v)) = o.split_once(['=', ' '])
            && k.eq_ignore_ascii_case("ProxyJump")
        {
            return Some(v.trim().to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_jump_forms() {
        assert_eq!(
            proxy_jump_from_args("-J bastion").as_deref(),
            Some("bastion")
        );
        assert_eq!(
            proxy_jump_from_args("-o ProxyJump=u@b:2222 -o StrictHostKeyChecking=no").as_deref(),
            Some("u@b:2222")
        );
        assert_eq!(proxy_jump_from_args("-o ForwardAgent=yes"), None);
    }
}
