//! `shell`: runs a command line through a shell (`/bin/sh -c` or `executable`). Always changed
//! when it runs; skipped by `creates`/`removes`.

use serde_json::Value;

use super::{chdir_prefix, finish_run, plan_run};
use crate::core::{
    ExecOutput, Module, ModuleError, ModuleSpec, ParamKind, ParamSpec, Plan, ResultMap, Sh, TaskCtx,
};
use crate::modules::args::{Args, Rules};

/// The `shell` module.
pub struct Shell;

/// Parameters of `shell`.
pub static SPEC: ModuleSpec = ModuleSpec {
    name: "shell",
    doc: "Runs a command line through a shell on the target (pipes, redirections, globs).",
    params: &[
        ParamSpec::new(
            "cmd",
            ParamKind::Str,
            "The command line to run (instead of free-form text).",
        ),
        ParamSpec::new(
            "chdir",
            ParamKind::Path,
            "Change into this directory before running.",
        ),
        ParamSpec::new(
            "creates",
            ParamKind::Path,
            "Do not run when this path (glob) exists.",
        ),
        ParamSpec::new(
            "removes",
            ParamKind::Path,
            "Run only when this path (glob) exists.",
        ),
        ParamSpec::new(
            "executable",
            ParamKind::Path,
            "The shell to use (default /bin/sh).",
        ),
        ParamSpec::new(
            "stdin",
            ParamKind::Str,
            "Text fed to the command's standard input.",
        ),
        ParamSpec::new(
            "stdin_add_newline",
            ParamKind::Bool,
            "Append a newline to stdin (default yes).",
        ),
        ParamSpec::new(
            "strip_empty_ends",
            ParamKind::Bool,
            "Strip trailing newlines from stdout/stderr (default yes).",
        ),
    ],
    free_form: true,
};

/// Argument rules of `shell`.
pub const RULES: Rules = Rules {
    exclusive: &[&["_raw_params", "cmd"]],
    one_of: &[&["_raw_params", "cmd"]],
};

/// The script running `text` with `executable -c`.
pub fn shell_script(chdir: Option<&str>, executable: &str, text: &str) -> String {
    let mut s = chdir_prefix(chdir);
    s.push_str(&Sh::new("exec").arg(executable).arg("-c").arg(text).build());
    s.push('\n');
    s
}

#[async_trait::async_trait]
impl Module for Shell {
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }

    async fn plan(&self, ctx: &TaskCtx<'_>, args: &ResultMap) -> Result<Plan, ModuleError> {
        let a = Args::parse(&SPEC, args)?;
        let text = match a.str("cmd")? {
            Some(c) => c,
            None => a.str("_raw_params")?.unwrap_or_default(),
        };
        if text.trim().is_empty() {
            return Err(ModuleError::Args("shell: no command given".into()));
        }
        let opts = super::command::run_opts(&a)?;
        let exe = a.str("executable")?.unwrap_or_else(|| "/bin/sh".into());
        let script = shell_script(opts.chdir.as_deref(), &exe, &text);
        plan_run(ctx, &opts, script, Value::from(text)).await
    }

    fn finish(&self, result: &mut ResultMap, outputs: &[ExecOutput]) -> Result<(), ModuleError> {
        finish_run(result, outputs, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_text_is_one_quoted_argument() {
        assert_eq!(
            shell_script(None, "/bin/bash", "echo 'a' | wc -c"),
            "exec /bin/bash -c 'echo '\\''a'\\'' | wc -c'\n"
        );
    }
}
