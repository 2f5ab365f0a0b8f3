//! Debian package modules: `apt` and `package` (packages), `deb822_repository` and
//! `apt_repository` (apt sources). They drive apt-get/dpkg-query over POSIX sh; never apt-key.

pub mod apt;
pub mod apt_repository;
pub mod deb822_repository;
pub mod package;
