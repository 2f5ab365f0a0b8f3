//! Service modules: `service` (and its `systemd_service`/`systemd`/`sysvinit` names), driving
//! systemd when it runs the host and /etc/init.d + update-rc.d otherwise.

pub mod service;
