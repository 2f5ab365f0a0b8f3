//! Output: typed [`Event`]s go to reporters (human, JSON lines); the recap and the process exit
//! code are derived from them here, in one place.

mod event;
mod human;
mod jsonl;
mod summary;

pub use event::{Event, HostResult, HostStats, Status};
pub use human::{ColorChoice, HumanOptions, HumanReporter};
pub use jsonl::JsonlReporter;
pub use summary::{RunLog, RunSnapshot, drift_report, junit, markdown};

/// A sink of events.
pub trait Reporter: Send {
    /// Handles one event.
    fn event(&mut self, event: &Event);
    /// Flushes at the end of the run.
    fn finish(&mut self) {}
}

/// Sends every event to several reporters.
#[derive(Default)]
pub struct Fanout {
    sinks: Vec<Box<dyn Reporter>>,
}

impl Fanout {
    /// Adds a reporter.
    pub fn push(&mut self, r: Box<dyn Reporter>) {
        self.sinks.push(r);
    }
}

impl Reporter for Fanout {
    fn event(&mut self, event: &Event) {
        for s in &mut self.sinks {
            s.event(event);
        }
    }
    fn finish(&mut self) {
        for s in &mut self.sinks {
            s.finish();
        }
    }
}

/// Process exit codes, compatible with `ansible-playbook`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCode {
    /// Everything succeeded.
    Ok = 0,
    /// An error stopped the run.
    Error = 1,
    /// At least one host failed.
    HostFailed = 2,
    /// At least one host was unreachable (wins over failures).
    Unreachable = 3,
    /// A playbook, inventory or template could not be parsed or validated.
    Parse = 4,
    /// Bad or incomplete command-line options.
    BadOptions = 5,
    /// Interrupted (Ctrl-C / SIGTERM), as Ansible's 99.
    Interrupted = 99,
}

/// `shipshape plan` exit codes (Terraform's `-detailed-exitcode`).
pub mod plan_exit {
    /// No drift: nothing would change.
    pub const NO_DRIFT: i32 = 0;
    /// An error (including failed or unreachable hosts).
    pub const ERROR: i32 = 1;
    /// Drift: something would change.
    pub const DRIFT: i32 = 2;
}

/// The exit code of a finished run from its totals.
pub fn exit_code(hosts: &[(String, HostStats)], interrupted: bool) -> ExitCode {
    if interrupted {
        ExitCode::Interrupted
    } else if hosts.iter().any(|(_, s)| s.unreachable > 0) {
        ExitCode::Unreachable
    } else if hosts.iter().any(|(_, s)| s.failed > 0) {
        ExitCode::HostFailed
    } else {
        ExitCode::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_wins_over_failed() {
        let failed = HostStats {
            failed: 1,
            ..Default::default()
        };
        let unreachable = HostStats {
            unreachable: 1,
            ..Default::default()
        };
        let hosts = vec![
            ("a".to_string(), failed.clone()),
            ("b".to_string(), unreachable),
        ];
        assert_eq!(exit_code(&hosts, false), ExitCode::Unreachable);
        assert_eq!(
            exit_code(&[("a".into(), failed)], false),
            ExitCode::HostFailed
        );
        assert_eq!(
            exit_code(&[("a".into(), HostStats::default())], false),
            ExitCode::Ok
        );
        assert_eq!(exit_code(&[], true), ExitCode::Interrupted);
    }
}
