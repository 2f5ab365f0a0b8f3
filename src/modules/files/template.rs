//! `template`: renders a controller template (`templates/` first) with the task's variables
//! and puts the result in place exactly like `copy` with `content` (same query, diff and
//! atomic writer). Rendering is the controller's job; this module only places the text.

use super::atomic::base_name;
use super::copy::{FileJob, finish_write, plan_file, wanted};
use crate::core::{
    ExecOutput, Module, ModuleError, ModuleSpec, ParamKind, ParamSpec, Plan, ResultMap, TaskCtx,
};
use crate::modules::args::{Args, Rules};

/// The `template` module.
pub struct Template;

/// Parameters of `template`.
pub static SPEC: ModuleSpec = ModuleSpec {
    name: "template",
    doc: "Renders a Jinja template from the controller and writes the result to the target.",
    params: &[
        ParamSpec::new(
            "src",
            ParamKind::Path,
            "Template file on the controller (role templates/ first).",
        )
        .required(),
        ParamSpec::new(
            "dest",
            ParamKind::Path,
            "Where to write the rendered file (a directory receives src's basename).",
        )
        .required(),
        ParamSpec::new("owner", ParamKind::Str, "Owner name or uid of the file."),
        ParamSpec::new("group", ParamKind::Str, "Group name or gid of the file."),
        ParamSpec::new(
            "mode",
            ParamKind::Mode,
            "Mode of the file: \"0644\", u=rw,g=r,o=r, or preserve (the template's mode).",
        ),
        ParamSpec::new(
            "backup",
            ParamKind::Bool,
            "Keep a timestamped copy of the file being replaced.",
        ),
        ParamSpec::new(
            "force",
            ParamKind::Bool,
            "Replace a file whose content differs (default yes); no: only create.",
        ),
        ParamSpec::new(
            "validate",
            ParamKind::Str,
            "Command checking the new file before it replaces dest (%s is the file).",
        ),
        ParamSpec::new(
            "follow",
            ParamKind::Bool,
            "When dest is a symlink, write to the file it points to.",
        ),
        ParamSpec::new(
            "unsafe_writes",
            ParamKind::Bool,
            "Accepted for compatibility; writes are always atomic.",
        ),
    ],
    free_form: false,
};

/// Argument rules of `template`.
pub const RULES: Rules = Rules::NONE;

#[async_trait::async_trait]
impl Module for Template {
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }

    async fn plan(&self, ctx: &TaskCtx<'_>, args: &ResultMap) -> Result<Plan, ModuleError> {
        let a = Args::parse(&SPEC, args)?;
        let src = a.req_str("src")?;
        let local = ctx.controller.find_file("templates", &src)?;
        let preserve_mode = {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(&local)
                .map(|m| m.permissions().mode() & 0o7777)
                .ok()
        };
        let text = ctx.controller.render_template(&local)?;
        let job = FileJob {
            dest: a.req_str("dest")?,
            content: text.into_bytes(),
            src_label: Some(src.clone()),
            into_dir_name: Some(base_name(&src).to_string()),
            want: wanted(&a)?,
            preserve_mode,
            backup: a.bool("backup", false)?,
            force: a.bool("force", true)?,
            validate: a.str("validate")?,
            follow: a.bool("follow", false)?,
        };
        plan_file(ctx, &job).await
    }

    fn finish(&self, result: &mut ResultMap, outputs: &[ExecOutput]) -> Result<(), ModuleError> {
        finish_write(result, outputs, "backup_file")
    }
}

#[cfg(test)]
mod host_tests {
    use super::*;
    use crate::modules::testutil::{Harness, mode_of, read};
    use serde_json::json;

    #[tokio::test]
    async fn renders_into_place_idempotently() {
        let h = Harness::new();
        let tdir = h.controller.base.join("templates");
        std::fs::create_dir_all(&tdir).unwrap();
        std::fs::write(tdir.join("app.conf.j2"), "port={{ port }}\n").unwrap();
        let dest = h.path("app.conf");
        let args = json!({"src": "app.conf.j2", "dest": dest, "mode": "0600", "backup": true});
        let applied = h.converge(&Template, &args).await;
        assert_eq!(read(&dest), "port={{ port }}\n");
        assert_eq!(mode_of(&dest), 0o600);
        assert_eq!(applied.result["src"], "app.conf.j2");
        assert!(!applied.result.contains_key("backup_file"));
        std::fs::write(tdir.join("app.conf.j2"), "port=2\n").unwrap();
        let applied = h.converge(&Template, &args).await;
        assert_eq!(applied.diff[0].before, "port={{ port }}\n");
        assert_eq!(
            read(applied.result["backup_file"].as_str().unwrap()),
            "port={{ port }}\n"
        );
        let err = h
            .apply(&Template, &json!({"src": "missing.j2", "dest": dest}))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("could not find"), "{err}");
    }
}
