//! The Docker modules (collection `community.docker`) and what they share: `docker` command
//! lines with every argument quoted, one read-only query that checks the daemon answers and
//! prints `docker ... inspect` JSON of the objects a task looks at, its parsing with serde_json,
//! object name checks and field-by-field diffs. They drive the `docker` CLI on the target,
//! never the Docker API or Python.

pub mod docker_container;
pub mod docker_image;
pub mod docker_network;
pub mod docker_volume;

use std::collections::BTreeMap;

use serde_json::Value;

use crate::core::{Diff, ExecOutput, ModuleError, ResultMap, Sh, TaskCtx, quote};

/// Exit status of the query when the `docker` command is missing on the host.
const NO_CLI: i32 = 97;
/// Exit status of the query when the Docker daemon does not answer.
const NO_DAEMON: i32 = 98;

/// A `docker` command line: `docker().arg("network").arg("rm").arg(name)`.
pub fn docker() -> Sh {
    Sh::new("docker")
}

/// What a query asks about, in order; each item prints one JSON value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// `docker <kind> inspect NAME`: an array with one object, or `[]` when it does not exist.
    Inspect(&'static str, String),
    /// Whether a regular file exists on the host: `true` or `false`.
    File(String),
}

/// The read-only query for `probes`: fails with [`NO_CLI`]/[`NO_DAEMON`] when Docker cannot
/// answer, else prints one JSON value per probe.
pub fn query_script(probes: &[Probe]) -> String {
    // A daemon that is starting (its pid file exists: an init script returns before dockerd
    // listens) gets up to 15 s to answer; one that is not running fails at once.
    let version = docker()
        .arg("version")
        .arg("--format")
        .arg("{{.Server.Version}}")
        .build();
    let mut s = format!(
        "command -v docker >/dev/null 2>&1 || {{ echo 'docker: command not found' >&2; exit {NO_CLI}; }}\n\
         i=0\n\
         until v=$({version} 2>&1); do\n\
         \x20 if [ $i -ge 15 ] || {{ [ ! -e /var/run/docker.pid ] && [ ! -e /var/run/docker-ssd.pid ]; }}; then printf '%s\\n' \"$v\" >&2; exit {NO_DAEMON}; fi\n\
         \x20 i=$((i + 1)); sleep 1\n\
         done\n"
    );
    for p in probes {
        match p {
            Probe::Inspect(kind, name) => {
                let cmd = docker().arg(kind).arg("inspect").arg(name);
                s.push_str(&format!(
                    "o=$({cmd} 2>/dev/null); printf '%s\\n' \"${{o:-[]}}\"\n"
                ));
            }
            Probe::File(path) => {
                s.push_str(&format!(
                    "if [ -f {} ]; then echo true; else echo false; fi\n",
                    quote(path)
                ));
            }
        }
    }
    s
}

/// What one probe found.
#[derive(Clone, Debug, PartialEq)]
pub enum Found {
    /// The inspected object, or `None` when it does not exist.
    Object(Option<Value>),
    /// Whether the file exists.
    File(bool),
}

/// Parses the query output: one JSON value per probe, in order.
pub fn parse_query(module: &str, probes: &[Probe], out: &str) -> Result<Vec<Found>, ModuleError> {
    let values: Vec<Value> = serde_json::Deserializer::from_str(out)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .map_err(|e| ModuleError::failed(format!("{module}: cannot parse docker output: {e}")))?;
    if values.len() != probes.len() {
        return Err(ModuleError::failed(format!(
            "{module}: expected {} JSON values from docker, got {}",
            probes.len(),
            values.len()
        )));
    }
    probes
        .iter()
        .zip(values)
        .map(|(p, v)| match (p, v) {
            (Probe::Inspect(..), Value::Array(mut items)) => {
                Ok(Found::Object(if items.is_empty() {
                    None
                } else {
                    Some(items.swap_remove(0))
                }))
            }
            (Probe::File(_), Value::Bool(b)) => Ok(Found::File(b)),
            (p, v) => Err(ModuleError::failed(format!(
                "{module}: unexpected docker output for {p:?}: {v}"
            ))),
        })
        .collect()
}

/// Runs the query for `probes` on the host and parses it; a missing CLI or a daemon that does
/// not answer is a clear failure.
pub async fn probe(
    ctx: &TaskCtx<'_>,
    module: &str,
    probes: &[Probe],
) -> Result<Vec<Found>, ModuleError> {
    let out = ctx.query(query_script(probes)).await?;
    check_query_status(module, &out)?;
    parse_query(module, probes, &out.stdout_str())
}

fn check_query_status(module: &str, out: &ExecOutput) -> Result<(), ModuleError> {
    let err = out.stderr_str();
    match out.status {
        0 => Ok(()),
        NO_CLI => Err(ModuleError::failed(format!(
            "{module}: the docker command is not installed on the host"
        ))),
        NO_DAEMON => Err(ModuleError::failed(format!(
            "{module}: the Docker daemon does not answer (is the docker service started?): {}",
            err.trim()
        ))),
        rc => Err(ModuleError::failed(format!(
            "{module}: docker query failed (rc={rc}): {}",
            err.trim()
        ))),
    }
}

/// The object of an inspect probe (`None` when absent).
pub fn object(found: &[Found], i: usize) -> Option<&Value> {
    match found.get(i) {
        Some(Found::Object(o)) => o.as_ref(),
        _ => None,
    }
}

/// Whether the file probe `i` found its file.
pub fn file_found(found: &[Found], i: usize) -> bool {
    matches!(found.get(i), Some(Found::File(true)))
}

/// A string at a JSON pointer (`/Config/User`), "" when missing or null.
pub fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// A list of strings at a JSON pointer (empty when missing or null).
pub fn strings_at(v: &Value, pointer: &str) -> Vec<String> {
    match v.pointer(pointer) {
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| i.to_string())
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A string map at a JSON pointer (labels, options), empty when missing or null.
pub fn map_at(v: &Value, pointer: &str) -> BTreeMap<String, String> {
    match v.pointer(pointer) {
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string()),
                )
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// Checks a Docker object name given in parameter `param`: not empty, no leading `-` (it would
/// read as an option), no whitespace or control characters.
pub fn check_name(module: &str, param: &str, name: &str) -> Result<(), ModuleError> {
    if name.is_empty()
        || name.starts_with('-')
        || name.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(ModuleError::Args(format!(
            "{module}: parameter '{param}': {name:?} is not a valid Docker name"
        )));
    }
    Ok(())
}

/// A string map parameter (labels, env, driver options): values must be scalars.
pub fn string_map(
    module: &str,
    param: &str,
    v: Option<&Value>,
) -> Result<Option<BTreeMap<String, String>>, ModuleError> {
    let Some(v) = v else { return Ok(None) };
    let Value::Object(m) = v else {
        return Err(ModuleError::Args(format!(
            "{module}: parameter '{param}': expected a mapping, got {v}"
        )));
    };
    let mut out = BTreeMap::new();
    for (k, val) in m {
        let s = match val {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Null => String::new(),
            other => {
                return Err(ModuleError::Args(format!(
                    "{module}: parameter '{param}': value of {k:?} must be a string (quote it), got {other}"
                )));
            }
        };
        out.insert(k.clone(), s);
    }
    Ok(Some(out))
}

/// Labels on `current` that differ from the wanted ones (extra labels are allowed).
pub fn label_changes(
    want: &BTreeMap<String, String>,
    current: &BTreeMap<String, String>,
) -> Option<Change> {
    let differs = want.iter().any(|(k, v)| current.get(k) != Some(v));
    differs.then(|| {
        let before = want
            .keys()
            .map(|k| match current.get(k) {
                Some(v) => format!("{k}={v}"),
                None => format!("{k} (unset)"),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let after = want
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ");
        Change::new("labels", before, after)
    })
}

/// One field that differs between the object on the host and the task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Field name as the task calls it (`env`, `published_ports`).
    pub field: String,
    /// Value on the host.
    pub before: String,
    /// Wanted value.
    pub after: String,
}

impl Change {
    /// A change of `field` from `before` to `after`.
    pub fn new(field: &str, before: impl Into<String>, after: impl Into<String>) -> Self {
        Change {
            field: field.to_string(),
            before: before.into(),
            after: after.into(),
        }
    }
}

/// One diff for `what` (`container web`) listing each changed field on its own line.
pub fn changes_diff(what: &str, changes: &[Change]) -> Diff {
    let mut before = String::new();
    let mut after = String::new();
    for c in changes {
        before.push_str(&format!("{}: {}\n", c.field, c.before));
        after.push_str(&format!("{}: {}\n", c.field, c.after));
    }
    Diff::new(what, before, after)
}

/// The names of the changed fields (`env, published_ports`).
pub fn field_names(changes: &[Change]) -> String {
    changes
        .iter()
        .map(|c| c.field.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The default `finish` of the Docker modules: fails on the first failed step with its stderr;
/// when the last step printed `docker inspect` JSON, stores its object under `key`.
pub fn finish_inspect(
    module: &str,
    key: &str,
    result: &mut ResultMap,
    outputs: &[ExecOutput],
) -> Result<(), ModuleError> {
    if let Some(o) = outputs.iter().find(|o| !o.success()) {
        let mut r = ResultMap::new();
        r.insert("rc".into(), o.status.into());
        r.insert("stderr".into(), o.stderr_str().into());
        r.insert("stdout".into(), o.stdout_str().into());
        return Err(ModuleError::Failed {
            msg: format!(
                "{module}: docker failed (rc={}): {}",
                o.status,
                o.stderr_str().trim()
            ),
            result: r,
        });
    }
    if let Some(last) = outputs.last()
        && let Ok(Value::Array(mut items)) = serde_json::from_slice::<Value>(&last.stdout)
        && !items.is_empty()
    {
        result.insert(key.into(), items.swap_remove(0));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn query_quotes_names_and_parses_values() {
        let probes = [
            Probe::Inspect("image", "lab box:1".into()),
            Probe::Inspect("container", "web".into()),
            Probe::File("/root/it's.tar".into()),
        ];
        let s = query_script(&probes);
        assert!(s.contains("docker image inspect 'lab box:1'"), "{s}");
        assert!(s.contains("'{{.Server.Version}}'"), "{s}");
        assert!(s.contains("[ -f '/root/it'\\''s.tar' ]"), "{s}");
        let out = "[\n  {\"Id\": \"sha256:1\"}\n]\n[]\ntrue\n";
        let found = parse_query("docker_image", &probes, out).unwrap();
        assert_eq!(object(&found, 0).unwrap()["Id"], "sha256:1");
        assert!(object(&found, 1).is_none());
        assert!(file_found(&found, 2));
        assert!(parse_query("m", &probes, "[]\n[]\n").is_err());
        assert!(parse_query("m", &probes, "[]\n[]\n[]\n").is_err());
        assert!(parse_query("m", &probes, "Error: x").is_err());
    }

    #[test]
    fn query_runs_in_sh_without_docker_daemon() {
        // The script is valid POSIX sh: with no docker it stops with the NO_CLI status.
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(query_script(&[Probe::File("/".into())]))
            .env("PATH", "/nonexistent")
            .output()
            .expect("sh runs");
        assert_eq!(out.status.code(), Some(NO_CLI));
        // With a docker that cannot reach its daemon (and no daemon starting), NO_DAEMON.
        let dir = tempfile::tempdir().expect("tempdir");
        let fake = dir.path().join("docker");
        std::fs::write(
            &fake,
            "#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n",
        )
        .expect("write fake docker");
        std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(query_script(&[Probe::File("/".into())]))
            .env("PATH", format!("{}:/usr/bin:/bin", dir.path().display()))
            .output()
            .expect("sh runs");
        if !std::path::Path::new("/var/run/docker.pid").exists() {
            assert_eq!(out.status.code(), Some(NO_DAEMON));
            assert!(String::from_utf8_lossy(&out.stderr).contains("Cannot connect"));
        }
    }

    #[test]
    fn names_maps_and_diffs() {
        assert!(check_name("m", "name", "web-1").is_ok());
        assert!(check_name("m", "name", "-rf").is_err());
        assert!(check_name("m", "name", "a b").is_err());
        assert!(check_name("m", "name", "").is_err());
        let m = string_map("m", "labels", Some(&json!({"a": "1", "b": 2})))
            .unwrap()
            .unwrap();
        assert_eq!(m.get("b").map(String::as_str), Some("2"));
        let e = string_map("m", "env", Some(&json!({"a": true}))).unwrap_err();
        assert!(e.to_string().contains("quote it"), "{e}");
        let cur: BTreeMap<String, String> = [
            ("a".to_string(), "1".to_string()),
            ("x".to_string(), "y".to_string()),
        ]
        .into();
        assert_eq!(label_changes(&m, &cur).unwrap().before, "a=1, b (unset)");
        let only_a: BTreeMap<String, String> = [("a".to_string(), "1".to_string())].into();
        assert!(label_changes(&only_a, &cur).is_none());
        let d = changes_diff("container web", &[Change::new("env", "A=1", "A=2")]);
        assert_eq!(d.before, "env: A=1\n");
        assert_eq!(d.after, "env: A=2\n");
        let v = json!({"Config": {"Env": ["A=1"], "Labels": null, "User": "u"}});
        assert_eq!(strings_at(&v, "/Config/Env"), vec!["A=1"]);
        assert!(map_at(&v, "/Config/Labels").is_empty());
        assert_eq!(str_at(&v, "/Config/User"), "u");
        assert_eq!(str_at(&v, "/Config/Nope"), "");
    }

    #[test]
    fn finish_stores_inspect_or_fails_with_stderr() {
        let mut r = ResultMap::new();
        let ok = ExecOutput {
            status: 0,
            stdout: b"[{\"Id\": \"abc\"}]\n".to_vec(),
            stderr: Vec::new(),
        };
        finish_inspect("m", "container", &mut r, &[ok]).unwrap();
        assert_eq!(r["container"]["Id"], "abc");
        let bad = ExecOutput {
            status: 125,
            stdout: Vec::new(),
            stderr: b"Error: No such image\n".to_vec(),
        };
        let e = finish_inspect("m", "container", &mut r, &[bad]).unwrap_err();
        assert!(e.to_string().contains("No such image"), "{e}");
    }
}
