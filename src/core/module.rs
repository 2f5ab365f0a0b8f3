//! The module protocol: a module declares its parameters ([`ModuleSpec`]), `plan`s a task from
//! the host's current state (read-only), and returns the [`Step`]s that would change it. The
//! executor runs the steps only outside check mode, so check mode is the real run minus
//! `apply` by construction.

use std::path::PathBuf;

use super::{Become, Diff, ExecOutput, ExecRequest, ResultMap, Transport, TransportError};

/// The type a parameter accepts, for validation and `shipshape doc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    /// Any string (templated).
    Str,
    /// A boolean (`yes`/`no`/`true`/`false`).
    Bool,
    /// An integer.
    Int,
    /// A file mode (`"0644"`, `0644`, `u+x`).
    Mode,
    /// A path.
    Path,
    /// A list (or a comma-separated string).
    List,
    /// A mapping.
    Dict,
    /// Anything.
    Raw,
}

/// One parameter a module accepts.
#[derive(Clone, Copy, Debug)]
pub struct ParamSpec {
    /// The name used in playbooks.
    pub name: &'static str,
    /// Other accepted names (`dest` for `path`).
    pub aliases: &'static [&'static str],
    /// The type accepted.
    pub kind: ParamKind,
    /// Whether the task must set it.
    pub required: bool,
    /// Accepted values, when restricted.
    pub choices: &'static [&'static str],
    /// One line of documentation.
    pub doc: &'static str,
}

impl ParamSpec {
    /// An optional parameter of `kind`.
    pub const fn new(name: &'static str, kind: ParamKind, doc: &'static str) -> Self {
        ParamSpec {
            name,
            aliases: &[],
            kind,
            required: false,
            choices: &[],
            doc,
        }
    }
    /// Marks the parameter required.
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    /// Sets accepted aliases.
    pub const fn aliases(mut self, aliases: &'static [&'static str]) -> Self {
        self.aliases = aliases;
        self
    }
    /// Restricts the accepted values.
    pub const fn choices(mut self, choices: &'static [&'static str]) -> Self {
        self.choices = choices;
        self
    }
}

/// What a module is called and what it accepts.
#[derive(Debug)]
pub struct ModuleSpec {
    /// Short name (`copy`); `ansible.builtin.copy` and `ansible.legacy.copy` map to it.
    pub name: &'static str,
    /// One line of documentation.
    pub doc: &'static str,
    /// Accepted parameters.
    pub params: &'static [ParamSpec],
    /// Whether a free-form string is accepted (`command: ls -l`, stored as `_raw_params`).
    pub free_form: bool,
}

impl ModuleSpec {
    /// Finds a parameter by name or alias.
    pub fn param(&self, name: &str) -> Option<&ParamSpec> {
        self.params
            .iter()
            .find(|p| p.name == name || p.aliases.contains(&name))
    }
}

/// Why a module failed on a host.
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    /// A parameter is missing, unknown or of the wrong type (after templating).
    #[error("{0}")]
    Args(String),
    /// The task failed on the host; `result` carries rc/stdout/stderr for `register`.
    #[error("{msg}")]
    Failed {
        /// Human message.
        msg: String,
        /// Data to register (rc, stdout, stderr...).
        result: ResultMap,
    },
    /// The host could not be reached.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

impl ModuleError {
    /// A failure with only a message.
    pub fn failed(msg: impl Into<String>) -> Self {
        ModuleError::Failed {
            msg: msg.into(),
            result: ResultMap::new(),
        }
    }
}

/// One mutation to run on the host if the plan is applied.
#[derive(Clone, Debug)]
pub struct Step {
    /// The command that performs the change.
    pub request: ExecRequest,
    /// What it does, for `-vvv` output.
    pub describe: String,
}

/// The result of planning a task against the host's current state.
#[derive(Debug)]
pub enum Plan {
    /// Already in the desired state.
    Unchanged {
        /// Data to register.
        result: ResultMap,
    },
    /// Needs changes: `steps` make them, `diff` describes them.
    Change {
        /// What will change.
        diff: Vec<Diff>,
        /// The commands that apply the change, in order.
        steps: Vec<Step>,
        /// Data to register.
        result: ResultMap,
    },
}

/// Controller-side services a module may need: finding `src` files and rendering templates.
pub trait Controller: Send + Sync {
    /// Resolves a `src:` path the way Ansible does (role `files/` or `templates/`, then the
    /// playbook directory). `kind` is `"files"` or `"templates"`.
    fn find_file(&self, kind: &str, name: &str) -> Result<PathBuf, ModuleError>;
    /// Renders the template file at `path` with the task's variables.
    fn render_template(&self, path: &std::path::Path) -> Result<String, ModuleError>;
}

/// Everything a module sees while planning one task on one host.
pub struct TaskCtx<'a> {
    /// The connection to the host.
    pub transport: &'a dyn Transport,
    /// Become settings for this task, applied to every command.
    pub become_: Option<Become>,
    /// `--check`: plans only.
    pub check: bool,
    /// `--diff`: the executor shows diffs.
    pub diff: bool,
    /// Controller-side services.
    pub controller: &'a dyn Controller,
}

impl TaskCtx<'_> {
    /// Runs a read-only query command on the host (with become).
    pub async fn query(&self, script: impl Into<String>) -> Result<ExecOutput, ModuleError> {
        self.query_with(ExecRequest::new(script)).await
    }

    /// Runs a read-only query with a full request (stdin, timeout).
    pub async fn query_with(&self, mut req: ExecRequest) -> Result<ExecOutput, ModuleError> {
        if req.become_.is_none() {
            req.become_ = self.become_.clone();
        }
        Ok(self.transport.exec(req).await?)
    }

    /// A step that runs `script` (with become) when the plan is applied.
    pub fn step(&self, describe: impl Into<String>, script: impl Into<String>) -> Step {
        self.step_with(describe, ExecRequest::new(script))
    }

    /// A step with a full request (stdin for file contents).
    pub fn step_with(&self, describe: impl Into<String>, mut req: ExecRequest) -> Step {
        if req.become_.is_none() {
            req.become_ = self.become_.clone();
        }
        Step {
            request: req,
            describe: describe.into(),
        }
    }
}

/// A remote module: plans from the host's state; the executor applies the plan's steps.
#[async_trait::async_trait]
pub trait Module: Send + Sync {
    /// Name, documentation and parameters.
    fn spec(&self) -> &'static ModuleSpec;

    /// Reads the host's state (read-only commands only) and decides what must change.
    /// `args` are the task's rendered arguments (free-form text under `_raw_params`).
    async fn plan(&self, ctx: &TaskCtx<'_>, args: &ResultMap) -> Result<Plan, ModuleError>;

    /// Turns the outputs of the applied steps into the registered result. The default fails
    /// on the first step that exited non-zero, with its stderr (or, when that is empty, the
    /// end of its stdout: init scripts often report errors there).
    fn finish(&self, result: &mut ResultMap, outputs: &[ExecOutput]) -> Result<(), ModuleError> {
        let _ = result;
        match outputs.iter().find(|o| !o.success()) {
            Some(o) => {
                let stderr = o.stderr_str();
                let stdout = o.stdout_str();
                let text = if stderr.trim().is_empty() {
                    let lines: Vec<&str> = stdout.trim().lines().collect();
                    lines[lines.len().saturating_sub(10)..].join("\n")
                } else {
                    stderr.trim().to_string()
                };
                Err(ModuleError::failed(format!(
                    "command failed (rc={}): {text}",
                    o.status
                )))
            }
            None => Ok(()),
        }
    }
}
