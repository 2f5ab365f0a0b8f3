//! Firewall modules: `nftables` (shipshape's own; replaces only the tables a ruleset declares)
//! and `ufw` (community.general). They manage the host's packet filter only, never its routes.

pub mod nftables;
pub mod ufw;
