//! Settings of one run, resolved from the command line and configuration.

use std::path::PathBuf;
use std::time::Duration;

use crate::core::{Secret, Vars};
use crate::transport::HostKeyPolicy;

use super::tags::TagFilter;

/// Everything the executor needs to know about how to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// `--check`: plan only, change nothing.
    pub check: bool,
    /// `--diff`: collect and show diffs.
    pub diff: bool,
    /// `--forks`: hosts worked on at once.
    pub forks: usize,
    /// `--tags` / `--skip-tags`.
    pub tags: TagFilter,
    /// `--limit` pattern.
    pub limit: Option<String>,
    /// `-e` variables (highest precedence).
    pub extra_vars: Vars,
    /// `-b`: become for every task.
    pub become_: bool,
    /// `--become-user`.
    pub become_user: Option<String>,
    /// `-K`: the sudo password.
    pub become_password: Option<Secret>,
    /// `-u`: the remote user when the inventory names none.
    pub remote_user: Option<String>,
    /// `--private-key`.
    pub private_key: Option<PathBuf>,
    /// SSH connect timeout.
    pub connect_timeout: Duration,
    /// known_hosts files (first one is written by accept-new).
    pub known_hosts: Vec<PathBuf>,
    /// Host key checking policy.
    pub host_key_policy: HostKeyPolicy,
    /// `--force-handlers`.
    pub force_handlers: bool,
    /// `-v` count.
    pub verbosity: u8,
    /// Directories searched for roles after `./roles`.
    pub roles_path: Vec<PathBuf>,
    /// `--shard K/N`: run only this controller's part of the hosts.
    pub shard: Option<Shard>,
}

/// `--shard K/N`: the K-th of N disjoint parts of the hosts, so N controllers (a CI matrix)
/// together cover every host exactly once. The hosts matching `--limit` (all hosts without
/// it) are sorted by inventory name and dealt round-robin: host number i (from 0) belongs to
/// shard `i % N + 1`. Round-robin over the sorted list, rather than a hash of the name, keeps
/// the parts within one host of each other in size (a hash can leave a shard empty on small
/// fleets), and because the split is made once over the whole inventory rather than per
/// play, a host stays with the same controller in every play.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// K, from 1.
    pub index: usize,
    /// N, at least 1.
    pub count: usize,
}

impl Shard {
    /// Parses `K/N` with `1 <= K <= N`.
    pub fn parse(s: &str) -> Result<Shard, String> {
        let bad = || format!("--shard '{s}': expected K/N with 1 <= K <= N (e.g. 2/4)");
        let (k, n) = s.trim().split_once('/').ok_or_else(bad)?;
        let index: usize = k.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// This shard's hosts out of `hosts` (any order; duplicates ignored).
    pub fn pick(&self, mut hosts: Vec<String>) -> std::collections::HashSet<String> {
        hosts.sort();
        hosts.dedup();
        hosts
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % self.count == self.index - 1)
            .map(|(_, h)| h)
            .collect()
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            check: false,
            diff: false,
            forks: 50,
            tags: TagFilter::default(),
            limit: None,
            extra_vars: Vars::new(),
            become_: false,
            become_user: None,
            become_password: None,
            remote_user: None,
            private_key: None,
            connect_timeout: Duration::from_secs(10),
            known_hosts: Vec::new(),
            host_key_policy: HostKeyPolicy::Strict,
            force_handlers: false,
            verbosity: 0,
            roles_path: Vec::new(),
            shard: None,
        }
    }
}

#[cfg(test)]
mod shard_tests {
    use super::Shard;

    #[test]
    fn shards_parse_and_partition() {
        assert_eq!(Shard::parse("2/3"), Ok(Shard { index: 2, count: 3 }));
        for bad in ["0/2", "3/2", "1/0", "x/2", "1", "1/2/3", ""] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        let hosts: Vec<String> = ["d", "a", "c", "b", "e"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let parts: Vec<_> = (1..=2)
            .map(|k| Shard { index: k, count: 2 }.pick(hosts.clone()))
            .collect();
        assert_eq!(parts[0].len() + parts[1].len(), 5);
        assert!(parts[0].is_disjoint(&parts[1]));
        assert!(parts[0].contains("a") && parts[0].contains("c") && parts[1].contains("b"));
    }
}
