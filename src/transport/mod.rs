//! Transports: russh connections to real hosts, and a local one (`ansible_connection=local`).
//! Both run scripts in `/bin/sh` and share the sudo wrapping (`become`) and the command pump.

mod r#become;
mod known_hosts;
mod local;
mod pump;
mod ssh;

pub use known_hosts::{HostKeyPolicy, HostKeyRejection, verify_host_key};
pub use local::LocalTransport;
pub use ssh::{SshOptions, SshTarget, SshTransport};
