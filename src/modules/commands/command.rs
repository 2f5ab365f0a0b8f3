//! `command`: runs a program with arguments, without a shell (each word quoted, `$VAR` and
//! `~` expanded like Ansible). Always changed when it runs; skipped by `creates`/`removes`.

use serde_json::Value;

use super::{RunOpts, chdir_prefix, expanding_word, finish_run, plan_run, split_args};
use crate::core::{
    ExecOutput, Module, ModuleError, ModuleSpec, ParamKind, ParamSpec, Plan, ResultMap, TaskCtx,
};
use crate::modules::args::{Args, Rules};

/// The `command` module.
pub struct Command;

/// Parameters of `command`.
pub static SPEC: ModuleSpec = ModuleSpec {
    name: "command",
    doc: "Runs a command on the target without a shell (no pipes, redirections or globs).",
    params: &[
        ParamSpec::new(
            "cmd",
            ParamKind::Str,
            "The command line to run (instead of free-form text).",
        ),
        ParamSpec::new(
            "argv",
            ParamKind::List,
            "The command as a list of words (no splitting).",
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
        ParamSpec::new(
            "expand_argument_vars",
            ParamKind::Bool,
            "Expand $VARS and ~ in arguments (default yes).",
        ),
    ],
    free_form: true,
};

/// Argument rules of `command`.
pub const RULES: Rules = Rules {
    exclusive: &[&["_raw_params", "cmd", "argv"]],
    one_of: &[&["_raw_params", "cmd", "argv"]],
};

/// The shared options of `command` and `shell`.
pub(crate) fn run_opts(a: &Args<'_>) -> Result<RunOpts, ModuleError> {
    let stdin = match a.str("stdin")? {
        Some(mut s) => {
            if a.bool("stdin_add_newline", true)? {
                s.push('\n');
            }
            Some(s.into_bytes())
        }
        None => None,
    };
    Ok(RunOpts {
        chdir: a.str("chdir")?,
        creates: a.str("creates")?,
        removes: a.str("removes")?,
        stdin,
        strip_empty_ends: a.bool("strip_empty_ends", true)?,
    })
}

/// The script that runs `words` with `exec` (no shell interpretation of the words).
pub fn command_script(chdir: Option<&str>, words: &[String], expand: bool) -> String {
    let mut decls = Vec::new();
    let quoted: Vec<String> = words
        .iter()
        .map(|w| {
            if expand {
                expanding_word(w, &mut decls)
            } else {
                crate::core::quote(w)
            }
        })
        .collect();
    let mut s = chdir_prefix(chdir);
    for d in decls {
        s.push_str(&d);
        s.push('\n');
    }
    s.push_str("exec ");
    s.push_str(&quoted.join(" "));
    s.push('\n');
    s
}

#[async_trait::async_trait]
impl Module for Command {
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }

    async fn plan(&self, ctx: &TaskCtx<'_>, args: &ResultMap) -> Result<Plan, ModuleError> {
        let a = Args::parse(&SPEC, args)?;
        let words = match a.list("argv")? {
            Some(argv) if a.value("argv").is_some_and(Value::is_array) => argv,
            Some(_) => {
                return Err(ModuleError::Args(
                    "command: argv must be a list of words".into(),
                ));
            }
            None => {
                let line = match a.str("cmd")? {
                    Some(c) => c,
                    None => a.str("_raw_params")?.unwrap_or_default(),
                };
                split_args(&line).map_err(|e| ModuleError::Args(format!("command: {e}")))?
            }
        };
        if words.is_empty() {
            return Err(ModuleError::Args("command: no command given".into()));
        }
        let opts = run_opts(&a)?;
        let expand = a.bool("expand_argument_vars", true)?;
        let script = command_script(opts.chdir.as_deref(), &words, expand);
        plan_run(ctx, &opts, script, Value::from(words)).await
    }

    fn finish(&self, result: &mut ResultMap, outputs: &[ExecOutput]) -> Result<(), ModuleError> {
        finish_run(result, outputs, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_script_execs_quoted_words() {
        let s = command_script(
            Some("/a b"),
            &["echo".into(), "$(id)".into(), "x;y".into()],
            false,
        );
        assert!(s.contains("cd -- '/a b'"), "{s}");
        assert!(s.ends_with("exec echo '$(id)' 'x;y'\n"), "{s}");
        let s = command_script(None, &["echo".into(), "$HOME".into()], true);
        assert!(
            s.contains("_v1='$HOME'") && s.contains("\"${HOME-$_v1}\""),
            "{s}"
        );
    }
}
