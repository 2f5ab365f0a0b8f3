//! Transports: russh connections to real hosts, and a local one (`ansible_connection=local`).

mod local;
pub use local::LocalTransport;
