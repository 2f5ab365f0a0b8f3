//! The linear strategy's barrier: a host may start the task at position `p` (a path in the
//! play's task tree, compared in pre-order) only when no other active host is still before `p`.
//! Hosts that take different branches (rescue, includes) simply skip positions.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::Notify;

/// A position in the play's task tree: section, then indices down the tree.
pub type Position = Vec<u32>;

/// Keeps hosts in step, task by task.
#[derive(Default)]
pub struct Lockstep {
    positions: Mutex<HashMap<String, Position>>,
    announced: Mutex<Option<Position>>,
    notify: Notify,
}

impl Lockstep {
    /// Registers the hosts of a batch at the start.
    pub fn new(hosts: &[String]) -> Self {
        let ls = Lockstep::default();
        {
            let mut p = ls.positions.lock().expect("lockstep lock");
            for h in hosts {
                p.insert(h.clone(), Vec::new());
            }
        }
        ls
    }

    fn is_min(&self, host: &str, pos: &Position) -> bool {
        let p = self.positions.lock().expect("lockstep lock");
        p.iter().all(|(h, other)| h == host || other >= pos)
    }

    /// Waits until every other host has reached `pos` or beyond. Returns true when this host
    /// is the first to start `pos` (and so announces the task).
    pub async fn arrive(&self, host: &str, pos: &Position) -> bool {
        self.positions
            .lock()
            .expect("lockstep lock")
            .insert(host.to_string(), pos.clone());
        self.notify.notify_waiters();
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_min(host, pos) {
                break;
            }
            notified.await;
        }
        let mut announced = self.announced.lock().expect("lockstep lock");
        if announced.as_ref().is_none_or(|a| a < pos) {
            *announced = Some(pos.clone());
            true
        } else {
            false
        }
    }

    /// The first host of `order` that is at exactly `pos` (the hosts running that task).
    pub fn first_at(&self, pos: &Position, order: &[String]) -> Option<String> {
        let p = self.positions.lock().expect("lockstep lock");
        order.iter().find(|h| p.get(*h) == Some(pos)).cloned()
    }

    /// Removes a host that finished (or failed) so others stop waiting for it.
    pub fn leave(&self, host: &str) {
        self.positions.lock().expect("lockstep lock").remove(host);
        self.notify.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn hosts_wait_for_the_slowest() {
        let ls = Arc::new(Lockstep::new(&["a".into(), "b".into()]));
        let first = {
            let ls = ls.clone();
            tokio::spawn(async move { ls.arrive("a", &vec![0, 0]).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        assert!(!first.is_finished(), "a must wait until b has started");
        let b_announced = ls.arrive("b", &vec![0, 0]).await;
        let a_announced = first.await.unwrap();
        assert!(a_announced != b_announced, "exactly one host announces 0.0");
        let ls2 = ls.clone();
        let a_next = tokio::spawn(async move { ls2.arrive("a", &vec![0, 1]).await });
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        assert!(!a_next.is_finished(), "a must wait for b to finish 0.0");
        ls.leave("b");
        assert!(a_next.await.unwrap(), "a announces 0.1 once b left");
    }
}
