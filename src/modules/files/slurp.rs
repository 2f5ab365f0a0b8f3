//! `slurp`: reads a file on the target and returns it base64-encoded (`content`), like
//! Ansible. The bytes travel raw over the channel and are encoded locally. Never changes.

use base64::Engine;

use crate::core::{
    Module, ModuleError, ModuleSpec, ParamKind, ParamSpec, Plan, ResultMap, TaskCtx, quote,
};
use crate::modules::args::{Args, Rules};

/// The `slurp` module.
pub struct Slurp;

/// Parameters of `slurp`.
pub static SPEC: ModuleSpec = ModuleSpec {
    name: "slurp",
    doc: "Fetches a file from the target as base64 (`content`) for use in later tasks.",
    params: &[ParamSpec::new("src", ParamKind::Path, "The file to read.")
        .required()
        .aliases(&["path"])],
    free_form: false,
};

/// Argument rules of `slurp`.
pub const RULES: Rules = Rules::NONE;

/// The query: the file's bytes, or a diagnosis on stderr with a distinct status.
pub fn slurp_script(src: &str) -> String {
    format!(
        "p={}\nif [ -d \"$p\" ]; then exit 21; fi\nif [ ! -e \"$p\" ]; then exit 22; fi\nif [ ! -r \"$p\" ]; then exit 23; fi\nexec cat -- \"$p\"\n",
        quote(src)
    )
}

#[async_trait::async_trait]
impl Module for Slurp {
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }

    async fn plan(&self, ctx: &TaskCtx<'_>, args: &ResultMap) -> Result<Plan, ModuleError> {
        let a = Args::parse(&SPEC, args)?;
        let src = a.req_str("src")?;
        let out = ctx.query(slurp_script(&src)).await?;
        let msg = match out.status {
            0 => None,
            21 => Some(format!("source is a directory and must be a file: {src}")),
            22 => Some(format!("file not found: {src}")),
            23 => Some(format!("file is not readable: {src}")),
            _ => Some(format!("unable to slurp file: {}", out.stderr_str().trim())),
        };
        if let Some(msg) = msg {
            return Err(ModuleError::failed(msg));
        }
        let mut result = ResultMap::new();
        result.insert(
            "content".into(),
            base64::engine::general_purpose::STANDARD
                .encode(&out.stdout)
                .into(),
        );
        result.insert("encoding".into(), "base64".into());
        result.insert("source".into(), src.into());
        Ok(Plan::Unchanged { result })
    }
}

#[cfg(test)]
mod host_tests {
    use super::*;
    use crate::modules::testutil::Harness;
    use serde_json::json;

    #[tokio::test]
    async fn reads_binary_files_and_explains_failures() {
        let h = Harness::new();
        let f = h.path("blob'1");
        std::fs::write(&f, b"\x00\xffhi\n").unwrap();
        let r = h.assert_unchanged(&Slurp, &json!({"src": f})).await;
        assert_eq!(r["content"], "AP9oaQo=");
        assert_eq!(r["encoding"], "base64");
        assert_eq!(r["source"], f.as_str());
        let err = h
            .apply(&Slurp, &json!({"path": h.path("none")}))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("file not found"), "{err}");
        let err = h
            .apply(&Slurp, &json!({"src": h.path("")}))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("is a directory"), "{err}");
    }
}
