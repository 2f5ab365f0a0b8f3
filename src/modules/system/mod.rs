//! System modules: SSH authorized keys, kernel parameters (sysctl), cron jobs and the host
//! name. Each plans from one read-only query and edits files through the atomic writer.

pub mod authorized_key;
pub mod cron;
pub mod hostname;
pub mod sysctl;
