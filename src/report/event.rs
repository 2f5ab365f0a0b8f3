//! The typed events the executor emits. Secrets are redacted before an event is built, so every
//! reporter can print what it gets.

use serde::Serialize;

use crate::core::Diff;

/// How one task ended on one host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Nothing to change.
    Ok,
    /// Changed (or, in check mode, would change).
    Changed,
    /// Skipped by `when`, tags in a loop, or check mode for commands.
    Skipped,
    /// Failed.
    Failed,
    /// The host could not be reached.
    Unreachable,
    /// Failed, but `ignore_errors` let the host go on.
    Ignored,
}

impl Status {
    /// The word Ansible prints (`ok`, `changed`, `skipping`, `failed`, `unreachable`).
    pub fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Changed => "changed",
            Status::Skipped => "skipping",
            Status::Failed => "failed",
            Status::Unreachable => "unreachable",
            Status::Ignored => "failed (ignored)",
        }
    }
}

/// The result of one task (or one loop item) on one host.
#[derive(Clone, Debug, Serialize)]
pub struct HostResult {
    /// Inventory host name.
    pub host: String,
    /// Task display name.
    pub task: String,
    /// `file:line:col` of the task.
    pub task_loc: String,
    /// Outcome.
    pub status: Status,
    /// Loop item label, for loop results.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    /// A message for failures, skips and `debug`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msg: Option<String>,
    /// What changed (shown with `--diff`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub diffs: Vec<Diff>,
    /// Check mode only: the plan assumed an earlier would-be change on this host.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub assumed: bool,
    /// Whether this is a handler.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub handler: bool,
    /// The summary of a looped task (its items were reported one by one before it).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub looped: bool,
    /// The registered result (redacted when `no_log`).
    pub result: serde_json::Value,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
}

/// Per-host totals printed in the recap.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct HostStats {
    /// Tasks that were ok or changed.
    pub ok: u32,
    /// Tasks that changed.
    pub changed: u32,
    /// 1 if the host became unreachable.
    pub unreachable: u32,
    /// Tasks that failed (not ignored, not rescued).
    pub failed: u32,
    /// Tasks skipped.
    pub skipped: u32,
    /// Blocks whose failure was rescued.
    pub rescued: u32,
    /// Failures ignored.
    pub ignored: u32,
}

/// Something that happened during a run.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A playbook run starts.
    PlaybookStart {
        /// The playbook file.
        playbook: String,
        /// Check mode.
        check: bool,
    },
    /// A play starts on these hosts.
    PlayStart {
        /// Play name.
        name: String,
        /// Selected hosts.
        hosts: Vec<String>,
    },
    /// A task (or handler) starts (linear strategy: once for all hosts).
    TaskStart {
        /// Display name.
        name: String,
        /// `file:line:col`.
        loc: String,
        /// Whether it is a handler.
        handler: bool,
    },
    /// A task finished on a host.
    HostResult(Box<HostResult>),
    /// Something the user should know.
    Warning {
        /// Host concerned, if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        host: Option<String>,
        /// The message.
        message: String,
    },
    /// The run ended: totals per host.
    Recap {
        /// Totals per host, in inventory order.
        hosts: Vec<(String, HostStats)>,
        /// Wall time in milliseconds.
        duration_ms: u64,
        /// Whether the run was interrupted.
        interrupted: bool,
    },
}
