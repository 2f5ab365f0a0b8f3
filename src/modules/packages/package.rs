//! `package`: the generic package module. On the Debian hosts shipshape manages it is `apt`
//! (same parameters, plus `use`, which may only be `auto` or `apt`).

use crate::core::{ModuleError, ModuleSpec, ParamKind, ParamSpec};
use crate::modules::args::{Args, Rules};

use super::apt::{Apt, apt_params};

const PARAMS: &[ParamSpec] = apt_params!(ParamSpec::new(
    "use",
    ParamKind::Str,
    "The package manager: auto or apt (this implementation manages Debian hosts)."
));

/// Parameters of `package` (apt's, plus `use`).
pub static SPEC_PACKAGE: ModuleSpec = ModuleSpec {
    name: "package",
    doc: "Generic package manager: apt on Debian hosts.",
    params: PARAMS,
    free_form: false,
};

/// `package`.
pub static PACKAGE: Apt = Apt::new(&SPEC_PACKAGE);

/// Argument rules of `package`: `name` and `state` are required, as in Ansible.
pub const RULES: Rules = Rules {
    exclusive: &[],
    one_of: &[&["name"], &["state"]],
};

/// Rejects a `use` other than `auto`/`apt` and a missing `state`, naming the argument.
pub fn check_use(a: &Args<'_>) -> Result<(), ModuleError> {
    if let Some(u) = a.str("use")?
        && u != "auto"
        && u != "apt"
    {
        return Err(ModuleError::Args(format!(
            "package: use={u} is not supported: shipshape manages Debian packages with apt (use: auto or apt)"
        )));
    }
    if !a.has("state") {
        return Err(ModuleError::Args(
            "package: missing required parameter 'state' (present, absent or latest)".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::testutil::Harness;
    use serde_json::json;

    #[tokio::test]
    async fn package_rejects_other_managers() {
        let h = Harness::new();
        let e = h
            .plan(
                &PACKAGE,
                &json!({"name": "hello", "state": "present", "use": "yum"}),
                true,
            )
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("use=yum is not supported"), "{e}");
        let e = h
            .plan(&PACKAGE, &json!({"name": "hello"}), true)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("required: state"), "{e}");
    }
}
