//! `hostname`: the host's current (kernel) and permanent (/etc/hostname) name. One query
//! picks the strategy (systemd when systemd is PID 1 and hostnamectl exists, else debian:
//! /etc/hostname plus `hostname NAME`); nothing else (/etc/hosts) is touched, as in Ansible.

use serde_json::{Map, Value};

use crate::core::{Diff, ExecOutput, Module, ModuleError, ModuleSpec, ParamKind, ParamSpec};
use crate::core::{Plan, ResultMap, Sh, TaskCtx};
use crate::modules::args::{Args, Rules};
use crate::modules::files::atomic::{FileAttrs, check_outputs, write_file_step};

/// The `hostname` module.
pub struct Hostname;

/// Parameters of `hostname`.
pub static SPEC: ModuleSpec = ModuleSpec {
    name: "hostname",
    doc: "Sets the host name (current and permanent).",
    params: &[
        ParamSpec::new("name", ParamKind::Str, "The host name.").required(),
        ParamSpec::new(
            "use",
            ParamKind::Str,
            "The strategy: systemd or debian (default: systemd when it runs the host, else debian).",
        )
        .choices(&["systemd", "debian"]),
    ],
    free_form: false,
};

/// Argument rules of `hostname`.
pub const RULES: Rules = Rules::NONE;

/// How the name is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// hostnamectl.
    Systemd,
    /// /etc/hostname and hostname(1).
    Debian,
}

/// What the query found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostnameState {
    /// Whether systemd runs the host and hostnamectl exists.
    pub systemd: bool,
    /// The kernel's name now (`uname -n`).
    pub current: String,
    /// The name in /etc/hostname (`None` when the file is missing).
    pub permanent: Option<String>,
}

/// The read-only query.
pub const QUERY: &str = "if [ -d /run/systemd/system ] && [ \"$(cat /proc/1/comm 2>/dev/null)\" = systemd ] && command -v hostnamectl >/dev/null 2>&1; then echo systemd=yes; else echo systemd=no; fi\n\
printf 'current=%s\\n' \"$(uname -n)\"\n\
if [ -f /etc/hostname ]; then printf 'permanent=%s\\n' \"$(grep -v '^[[:space:]]*#' /etc/hostname | head -n 1 | tr -d '[:space:]')\"; fi\n";

/// Parses [`QUERY`] output.
pub fn parse_state(out: &str) -> Result<HostnameState, String> {
    let (mut systemd, mut current, mut permanent) = (None, None, None);
    for line in out.lines() {
        match line.split_once('=') {
            Some(("systemd", v)) => systemd = Some(v == "yes"),
            Some(("current", v)) => current = Some(v.trim().to_string()),
            Some(("permanent", v)) => permanent = Some(v.trim().to_string()),
            _ => return Err(format!("unexpected query output line {line:?}")),
        }
    }
    match (systemd, current) {
        (Some(systemd), Some(current)) => Ok(HostnameState {
            systemd,
            current,
            permanent,
        }),
        _ => Err(format!("incomplete query output {out:?}")),
    }
}

/// Checks a host name: 1 to 64 letters, digits, `-`, `_`, `.`; not starting with `-` or `.`.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(['-', '.'])
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "hostname: parameter 'name': invalid host name {name:?} (1-64 letters, digits, '-', '_', '.')"
        ))
    }
}

/// The facts Ansible returns for the new name.
fn facts(name: &str) -> Value {
    let (short, domain) = name.split_once('.').unwrap_or((name, ""));
    let mut f = Map::new();
    f.insert("ansible_hostname".into(), short.into());
    f.insert("ansible_nodename".into(), name.into());
    f.insert("ansible_domain".into(), domain.into());
    Value::Object(f)
}

#[async_trait::async_trait]
impl Module for Hostname {
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }

    async fn plan(&self, ctx: &TaskCtx<'_>, args: &ResultMap) -> Result<Plan, ModuleError> {
        let a = Args::parse(&SPEC, args)?;
        let name = a.req_str("name")?;
        check_name(&name).map_err(ModuleError::Args)?;
        let out = ctx.query(QUERY).await?;
        let st = parse_state(&out.stdout_str()).map_err(|e| {
            ModuleError::failed(format!("hostname: {e} {}", out.stderr_str().trim()))
        })?;
        let strategy = match a.str("use")?.as_deref() {
            Some("systemd") => Strategy::Systemd,
            Some(_) => Strategy::Debian,
            None if st.systemd => Strategy::Systemd,
            None => Strategy::Debian,
        };
        let mut result = ResultMap::new();
        result.insert("name".into(), name.clone().into());
        result.insert("ansible_facts".into(), facts(&name));
        let perm_ok = st.permanent.as_deref() == Some(name.as_str());
        let cur_ok = st.current == name;
        if perm_ok && cur_ok {
            return Ok(Plan::Unchanged { result });
        }
        let before = format!("hostname = {}\n", st.current);
        let after = format!("hostname = {name}\n");
        let mut steps = Vec::new();
        match strategy {
            Strategy::Systemd => {
                let cmd = Sh::new("hostnamectl")
                    .args(["--static", "set-hostname", &name])
                    .then(
                        "&&",
                        Sh::new("hostnamectl").args(["--transient", "set-hostname", &name]),
                    )
                    .build();
                steps.push(ctx.step(format!("hostnamectl set-hostname {name}"), cmd));
            }
            Strategy::Debian => {
                if !perm_ok {
                    let attrs = FileAttrs {
                        mode: if st.permanent.is_none() {
                            Some(0o644)
                        } else {
                            None
                        },
                        ..Default::default()
                    };
                    steps.push(write_file_step(
                        ctx,
                        "/etc/hostname",
                        format!("{name}\n").into_bytes(),
                        &attrs,
                        false,
                        None,
                    )?);
                }
                if !cur_ok {
                    let cmd = format!(
                        "if command -v hostname >/dev/null 2>&1; then {}; else {}; fi",
                        Sh::new("hostname").arg(&name).build(),
                        Sh::new("printf")
                            .args(["%s\\n", &name])
                            .raw("> /proc/sys/kernel/hostname")
                            .build()
                    );
                    steps.push(ctx.step(format!("hostname {name}"), cmd));
                }
            }
        }
        Ok(Plan::Change {
            diff: vec![Diff::new("hostname", before, after)],
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

    #[test]
    fn parses_the_query() {
        let st = parse_state("systemd=no\ncurrent=lab1\npermanent=lab1\n").unwrap();
        assert_eq!(
            st,
            HostnameState {
                systemd: false,
                current: "lab1".into(),
                permanent: Some("lab1".into())
            }
        );
        let st = parse_state("systemd=yes\ncurrent=web1.example.com\n").unwrap();
        assert!(st.systemd && st.permanent.is_none());
        assert!(parse_state("current=x\n").is_err());
        assert!(parse_state("systemd=no\ncurrent=x\nbogus\n").is_err());
    }

    #[test]
    fn checks_names_and_builds_facts() {
        for ok in ["web1", "web-1.example.com", "a_b", "x"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-x", ".x", "bad name", "a;b", "$(id)", &"a".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        let f = facts("web1.example.com");
        assert_eq!(f["ansible_hostname"], "web1");
        assert_eq!(f["ansible_domain"], "example.com");
        assert_eq!(facts("web1")["ansible_domain"], "");
    }
}
