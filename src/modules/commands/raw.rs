//! `raw`: sends the text as the remote script itself (no quoting, no chdir), like Ansible's
//! raw. Always changed when it runs.

use super::finish_run;
use crate::core::{
    ExecOutput, Module, ModuleError, ModuleSpec, ParamKind, ParamSpec, Plan, ResultMap, Sh, TaskCtx,
};
use crate::modules::args::{Args, Rules};

/// The `raw` module.
pub struct Raw;

/// Parameters of `raw`.
pub static SPEC: ModuleSpec = ModuleSpec {
    name: "raw",
    doc: "Runs the free-form text as a shell script on the target, as is.",
    params: &[ParamSpec::new(
        "executable",
        ParamKind::Path,
        "Run the text with this shell (`EXECUTABLE -c TEXT`) instead of sh.",
    )],
    free_form: true,
};

/// Argument rules of `raw`.
pub const RULES: Rules = Rules {
    exclusive: &[],
    one_of: &[&["_raw_params"]],
};

#[async_trait::async_trait]
impl Module for Raw {
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }

    async fn plan(&self, ctx: &TaskCtx<'_>, args: &ResultMap) -> Result<Plan, ModuleError> {
        let a = Args::parse(&SPEC, args)?;
        let text = a.str("_raw_params")?.unwrap_or_default();
        if text.trim().is_empty() {
            return Err(ModuleError::Args("raw: no command given".into()));
        }
        let script = match a.str("executable")? {
            Some(exe) => Sh::new("exec").arg(exe).arg("-c").arg(&text).build(),
            None => text,
        };
        Ok(Plan::Change {
            diff: Vec::new(),
            steps: vec![ctx.step("run the raw command", script)],
            result: ResultMap::new(),
        })
    }

    fn finish(&self, result: &mut ResultMap, outputs: &[ExecOutput]) -> Result<(), ModuleError> {
        let strip = |m: &mut ResultMap| {
            for key in ["start", "end", "delta", "msg"] {
                m.remove(key);
            }
        };
        let r = finish_run(result, outputs, false);
        strip(result);
        match r {
            Err(ModuleError::Failed {
                msg,
                result: mut failed,
            }) => {
                strip(&mut failed);
                Err(ModuleError::Failed {
                    msg,
                    result: failed,
                })
            }
            other => other,
        }
    }
}
