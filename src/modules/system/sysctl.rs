//! `sysctl` (ansible.posix): a kernel parameter's line in a sysctl file and its live value.
//! One read-only query reads /proc/sys and the file; the live value is set (`sysctl -w`)
//! before the file is written, so a key the kernel refuses leaves the file untouched.

use crate::core::{Diff, ExecOutput, Module, ModuleError, ModuleSpec, ParamKind, ParamSpec};
use crate::core::{Plan, ResultMap, Sh, TaskCtx, quote};
use crate::modules::args::{Args, Rules};
use crate::modules::files::atomic::{FileAttrs, check_outputs, write_file_step};
use crate::modules::files::lineinfile::query_for_edit;

/// The `sysctl` module.
pub struct Sysctl;

/// Parameters of `sysctl`.
pub static SPEC: ModuleSpec = ModuleSpec {
    name: "sysctl",
    doc: "Manages a kernel parameter in a sysctl file and its live value.",
    params: &[
        ParamSpec::new("name", ParamKind::Str, "The key (`net.ipv4.ip_forward`).")
            .required()
            .aliases(&["key"]),
        ParamSpec::new(
            "value",
            ParamKind::Str,
            "The value (booleans become 1/0); required with state=present.",
        )
        .aliases(&["val"]),
        ParamSpec::new("state", ParamKind::Str, "present (default) or absent.")
            .choices(&["present", "absent"]),
        ParamSpec::new(
            "sysctl_file",
            ParamKind::Path,
            "The file holding the line (default /etc/sysctl.conf).",
        ),
        ParamSpec::new(
            "reload",
            ParamKind::Bool,
            "After a change, load the file with `sysctl -p` (default yes).",
        ),
        ParamSpec::new(
            "sysctl_set",
            ParamKind::Bool,
            "Set the live value with `sysctl -w` when it differs (default no).",
        ),
        ParamSpec::new(
            "ignoreerrors",
            ParamKind::Bool,
            "Ignore unknown keys (`sysctl -e`) (default no).",
        ),
    ],
    free_form: false,
};

/// Argument rules of `sysctl`.
pub const RULES: Rules = Rules::NONE;

/// A value as Ansible normalises it: booleans to 1/0, strings trimmed.
pub fn normalize_value(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Bool(b) => Some(if *b { "1" } else { "0" }.into()),
        serde_json::Value::String(s) => {
            let lower = s.trim().to_ascii_lowercase();
            if ["yes", "on", "true", "y", "t"].contains(&lower.as_str()) {
                Some("1".into())
            } else if ["no", "off", "false", "n", "f"].contains(&lower.as_str()) {
                Some("0".into())
            } else {
                Some(s.trim().to_string())
            }
        }
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Whether two values are equal word by word (`4096\t87380` equals `4096 87380`).
pub fn values_equal(a: &str, b: &str) -> bool {
    a.split_whitespace().eq(b.split_whitespace())
}

/// The `key = value` value of `name` in a sysctl file (the last one wins, as for sysctl -p).
pub fn file_value(content: &str, name: &str) -> Option<String> {
    content
        .lines()
        .rev()
        .filter_map(parse_line)
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A `key = value` line's key and value; `None` for comments, blanks and other lines.
fn parse_line(line: &str) -> Option<(&str, &str)> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
        return None;
    }
    let (k, v) = t.split_once('=')?;
    Some((k.trim(), v.trim()))
}

/// The file with `name` set to `value` (`None`: removed): the first line of the key is
/// replaced, later ones dropped, other lines kept as they are; a new key is appended.
pub fn edit_file(content: &str, name: &str, value: Option<&str>) -> String {
    let mut out = String::new();
    let mut done = false;
    for line in content.lines() {
        if parse_line(line).is_some_and(|(k, _)| k == name) {
            if !done && let Some(v) = value {
                out.push_str(&format!("{name}={v}\n"));
            }
            done = true;
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    if !done && let Some(v) = value {
        out.push_str(&format!("{name}={v}\n"));
    }
    out
}

/// The /proc/sys path of a key (`net.ipv4.ip_forward` -> `/proc/sys/net/ipv4/ip_forward`).
pub fn proc_path(name: &str) -> String {
    format!("/proc/sys/{}", name.replace('.', "/"))
}

/// The read-only query of the live value: `live=VALUE` when the key exists.
pub fn live_query(name: &str) -> String {
    format!(
        "p={}\nif [ -f \"$p\" ]; then printf 'live=%s\\n' \"$(tr '\\t\\n' '  ' < \"$p\")\"; [ -w \"$p\" ] || echo readonly; fi\n",
        quote(&proc_path(name))
    )
}

/// Parses [`live_query`] output: the live value (`None` for an unknown key) and whether the
/// kernel lets it be written.
pub fn parse_live(out: &str) -> (Option<String>, bool) {
    let live = out
        .lines()
        .find_map(|l| l.strip_prefix("live="))
        .map(|v| v.trim().to_string());
    let writable = !out.lines().any(|l| l == "readonly");
    (live, writable)
}

/// The step script setting the live value; fails with the kernel's message.
pub fn set_script(name: &str, value: &str) -> String {
    format!(
        "if ! err=$({} 2>&1 >/dev/null) || [ -n \"$err\" ]; then printf 'sysctl: cannot set %s: %s\\n' {} \"$err\" >&2; exit 1; fi\n",
        Sh::new("sysctl")
            .arg("-w")
            .arg(format!("{name}={value}"))
            .build(),
        quote(name)
    )
}

/// The step script reloading a sysctl file; fails on any error sysctl reports.
pub fn reload_script(file: &str, ignore_errors: bool) -> String {
    let mut sh = Sh::new("sysctl");
    if ignore_errors {
        sh = sh.arg("-e");
    }
    format!(
        "if ! err=$({} 2>&1 >/dev/null) || [ -n \"$err\" ]; then printf 'Failed to reload sysctl: %s\\n' \"$err\" >&2; exit 1; fi\n",
        sh.arg("-p").arg(file).build()
    )
}

#[async_trait::async_trait]
impl Module for Sysctl {
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }

    async fn plan(&self, ctx: &TaskCtx<'_>, args: &ResultMap) -> Result<Plan, ModuleError> {
        let a = Args::parse(&SPEC, args)?;
        let name = a.req_str("name")?.trim().to_string();
        if name.is_empty()
            || name.starts_with(['-', '.', '/'])
            || name.contains("..")
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-/:@".contains(&b))
        {
            return Err(ModuleError::Args(format!(
                "sysctl: parameter 'name': invalid key {name:?}"
            )));
        }
        let state = a.choice("state", "present")?;
        let present = state == "present";
        let value = match a.value("value") {
            Some(v) => Some(normalize_value(v).ok_or_else(|| {
                ModuleError::Args(format!(
                    "sysctl: parameter 'value': expected a scalar, got {v}"
                ))
            })?),
            None => None,
        };
        if let Some(v) = &value
            && (v.contains(['\n', '\r']) || v.is_empty())
        {
            return Err(ModuleError::Args(format!(
                "sysctl: parameter 'value': invalid value {v:?}"
            )));
        }
        if present && value.is_none() {
            return Err(ModuleError::Args(
                "sysctl: parameter 'value' is required with state=present".into(),
            ));
        }
        let file = a
            .str("sysctl_file")?
            .unwrap_or_else(|| "/etc/sysctl.conf".to_string());
        let reload = a.bool("reload", true)?;
        let sysctl_set = a.bool("sysctl_set", false)?;
        let ignore = a.bool("ignoreerrors", false)?;

        let out = ctx.query(live_query(&name)).await?;
        if !out.success() {
            return Err(ModuleError::failed(format!(
                "sysctl: cannot read {name}: {}",
                out.stderr_str().trim()
            )));
        }
        let (live, writable) = parse_live(&out.stdout_str());
        let st = query_for_edit(ctx, &file).await?;
        let before =
            String::from_utf8_lossy(st.content.as_deref().unwrap_or_default()).into_owned();

        let want_file = if present { value.as_deref() } else { None };
        let cur_file = file_value(&before, &name);
        let file_changes = match (present, &cur_file) {
            (true, Some(c)) => Some(c.as_str()) != want_file,
            (true, None) => true,
            (false, c) => c.is_some(),
        };
        let after = if file_changes {
            edit_file(&before, &name, want_file)
        } else {
            before.clone()
        };
        let live_matters = present && (reload || sysctl_set);
        let live_differs = match (&live, &value) {
            (Some(l), Some(v)) => !values_equal(l, v),
            (None, _) => true,
            _ => false,
        };
        if live_matters && live.is_none() && !ignore {
            return Err(ModuleError::failed(format!(
                "sysctl: unknown key {name}: {} does not exist on this host",
                proc_path(&name)
            )));
        }

        if live_matters && live_differs && live.is_some() && !writable {
            return Err(ModuleError::failed(format!(
                "sysctl: cannot set {name}: {} is read-only on this host",
                proc_path(&name)
            )));
        }

        let mut result = ResultMap::new();
        result.insert("name".into(), name.clone().into());
        result.insert(
            "value".into(),
            value
                .clone()
                .map(Into::into)
                .unwrap_or(serde_json::Value::Null),
        );
        result.insert("state".into(), state.clone().into());
        result.insert("sysctl_file".into(), file.clone().into());

        let mut diff = Vec::new();
        let mut steps = Vec::new();
        if let (true, true, Some(l), Some(v)) = (live_matters, live_differs, &live, &value) {
            diff.push(Diff::attr(&format!("sysctl {name}"), "live value", l, v));
            steps.push(ctx.step(format!("sysctl -w {name}={v}"), set_script(&name, v)));
        }
        if file_changes {
            diff.push(Diff::new(&file, before.clone(), after.clone()));
            let attrs = FileAttrs {
                mode: if st.exists() { None } else { Some(0o644) },
                ..Default::default()
            };
            steps.push(write_file_step(
                ctx,
                &file,
                after.into_bytes(),
                &attrs,
                false,
                None,
            )?);
        }
        if steps.is_empty() {
            return Ok(Plan::Unchanged { result });
        }
        if reload {
            steps.push(ctx.step(format!("sysctl -p {file}"), reload_script(&file, ignore)));
        }
        Ok(Plan::Change {
            diff,
            steps,
            result,
        })
    }

    fn finish(&self, _result: &mut ResultMap, outputs: &[ExecOutput]) -> Result<(), ModuleError> {
        check_outputs(outputs).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_normalize_like_ansible() {
        assert_eq!(normalize_value(&json!(true)).as_deref(), Some("1"));
        assert_eq!(normalize_value(&json!("yes")).as_deref(), Some("1"));
        assert_eq!(normalize_value(&json!("Off")).as_deref(), Some("0"));
        assert_eq!(normalize_value(&json!(1)).as_deref(), Some("1"));
        assert_eq!(
            normalize_value(&json!(" 4096 87380 ")).as_deref(),
            Some("4096 87380")
        );
        assert_eq!(normalize_value(&json!([1])), None);
        assert!(values_equal("4096\t87380  6291456", "4096 87380 6291456"));
        assert!(!values_equal("1", "0"));
    }

    #[test]
    fn reads_and_edits_the_file() {
        let f = "# comment\nnet.ipv4.ip_forward = 0\n; other\nvm.swappiness=10\nnet.ipv4.ip_forward=0\n";
        assert_eq!(file_value(f, "net.ipv4.ip_forward").as_deref(), Some("0"));
        assert_eq!(file_value(f, "vm.swappiness").as_deref(), Some("10"));
        assert_eq!(file_value(f, "kernel.x"), None);
        assert_eq!(
            edit_file(f, "net.ipv4.ip_forward", Some("1")),
            "# comment\nnet.ipv4.ip_forward=1\n; other\nvm.swappiness=10\n"
        );
        assert_eq!(
            edit_file(f, "net.ipv4.ip_forward", None),
            "# comment\n; other\nvm.swappiness=10\n"
        );
        assert_eq!(edit_file("", "a.b", Some("1")), "a.b=1\n");
        assert_eq!(edit_file("x=1", "a.b", Some("2")), "x=1\na.b=2\n");
    }

    #[test]
    fn live_query_and_scripts() {
        assert_eq!(
            proc_path("net.core.somaxconn"),
            "/proc/sys/net/core/somaxconn"
        );
        assert_eq!(
            parse_live("live=4096 87380 6291456 \n"),
            (Some("4096 87380 6291456".to_string()), true)
        );
        assert_eq!(
            parse_live("live=x\nreadonly\n"),
            (Some("x".to_string()), false)
        );
        assert_eq!(parse_live(""), (None, true));
        assert!(set_script("net.x", "a b").contains("sysctl -w 'net.x=a b'"));
        assert!(
            reload_script("/etc/sysctl.d/a b.conf", true)
                .contains("sysctl -e -p '/etc/sysctl.d/a b.conf'")
        );
    }
}

#[cfg(test)]
mod host_tests {
    use super::*;
    use crate::modules::testutil::{Harness, is_root, read};
    use serde_json::json;

    #[tokio::test]
    async fn writes_the_file_without_touching_the_kernel() {
        if !is_root() {
            return;
        }
        let h = Harness::new();
        let file = h.path("sysctl.conf");
        std::fs::write(&file, "# mine\nvm.swappiness = 5\n").unwrap();
        // reload=no and sysctl_set=no: only the file changes; the live value is not touched.
        let args =
            json!({"name": "vm.swappiness", "value": 17, "sysctl_file": file, "reload": false});
        let r = h.converge(&Sysctl, &args).await;
        assert_eq!(read(&file), "# mine\nvm.swappiness=17\n");
        assert_eq!(r.diff.len(), 1);
        let args = json!({"name": "vm.swappiness", "state": "absent", "sysctl_file": file, "reload": false});
        h.converge(&Sysctl, &args).await;
        assert_eq!(read(&file), "# mine\n");
        let e = h
            .plan(
                &Sysctl,
                &json!({"name": "no.such.key", "value": 1, "sysctl_file": file}),
                false,
            )
            .await
            .unwrap_err();
        assert!(e.to_string().contains("unknown key no.such.key"), "{e}");
        let e = h
            .plan(
                &Sysctl,
                &json!({"name": "vm.swappiness", "sysctl_file": file}),
                false,
            )
            .await
            .unwrap_err();
        assert!(e.to_string().contains("'value' is required"), "{e}");
    }
}
