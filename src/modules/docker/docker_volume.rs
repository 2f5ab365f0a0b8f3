//! `docker_volume` (community.docker): a named Docker volume present with the wanted driver,
//! driver options and labels, or absent. One read-only inspect query; a volume that differs is
//! recreated only when `recreate` says so (its data would be lost), else reported unchanged.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{
    Change, Probe, changes_diff, check_name, docker, field_names, finish_inspect, label_changes,
    map_at, object, probe, str_at, string_map,
};
use crate::core::{
    Diff, ExecOutput, Module, ModuleError, ModuleSpec, ParamKind, ParamSpec, Plan, ResultMap,
    TaskCtx,
};
use crate::modules::args::{Args, Rules};

/// The `docker_volume` module.
pub struct DockerVolume;

const NAME: &str = "docker_volume";

/// Parameters of `docker_volume`.
pub static SPEC: ModuleSpec = ModuleSpec {
    name: NAME,
    doc: "Creates or removes a named Docker volume with the docker CLI.",
    params: &[
        ParamSpec::new("volume_name", ParamKind::Str, "Volume name.")
            .required()
            .aliases(&["name"]),
        ParamSpec::new("driver", ParamKind::Str, "Volume driver (default local)."),
        ParamSpec::new(
            "driver_options",
            ParamKind::Dict,
            "Driver options (`type`, `device`, `o` for local).",
        )
        .aliases(&["driver_opts"]),
        ParamSpec::new("labels", ParamKind::Dict, "Labels of the volume."),
        ParamSpec::new(
            "recreate",
            ParamKind::Str,
            "never (default), always, or options-changed: when to recreate an existing volume.",
        )
        .choices(&["never", "always", "options-changed"]),
        ParamSpec::new("state", ParamKind::Str, "present (default) or absent.")
            .choices(&["present", "absent"]),
    ],
    free_form: false,
};

/// Argument rules of `docker_volume`.
pub const RULES: Rules = Rules::NONE;

#[derive(Clone, Debug, PartialEq, Eq)]
struct Want {
    name: String,
    present: bool,
    driver: String,
    options: Option<BTreeMap<String, String>>,
    labels: Option<BTreeMap<String, String>>,
    recreate: String,
}

fn parse(a: &Args<'_>) -> Result<Want, ModuleError> {
    let name = a.req_str("volume_name")?;
    check_name(NAME, "volume_name", &name)?;
    Ok(Want {
        name,
        present: a.choice("state", "present")? == "present",
        driver: a.str("driver")?.unwrap_or_else(|| "local".to_string()),
        options: string_map(NAME, "driver_options", a.value("driver_options"))?,
        labels: string_map(NAME, "labels", a.value("labels"))?,
        recreate: a.choice("recreate", "never")?,
    })
}

fn map_text(m: &BTreeMap<String, String>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn differences(w: &Want, cur: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    let driver = str_at(cur, "/Driver");
    if driver != w.driver {
        out.push(Change::new("driver", driver, w.driver.clone()));
    }
    if let Some(opts) = &w.options {
        let have = map_at(cur, "/Options");
        if &have != opts {
            out.push(Change::new(
                "driver_options",
                map_text(&have),
                map_text(opts),
            ));
        }
    }
    if let Some(labels) = &w.labels
        && let Some(c) = label_changes(labels, &map_at(cur, "/Labels"))
    {
        out.push(c);
    }
    out
}

fn create_cmd(w: &Want) -> String {
    let mut c = docker()
        .arg("volume")
        .arg("create")
        .arg("--driver")
        .arg(&w.driver);
    for (k, v) in w.options.iter().flatten() {
        c = c.arg("--opt").arg(format!("{k}={v}"));
    }
    for (k, v) in w.labels.iter().flatten() {
        c = c.arg("--label").arg(format!("{k}={v}"));
    }
    c.arg(&w.name).build()
}

fn decide(w: &Want, cur: Option<&Value>) -> (Vec<String>, Vec<Diff>, Vec<Change>) {
    let what = format!("volume {}", w.name);
    let rm = || docker().arg("volume").arg("rm").arg(&w.name).build();
    match (w.present, cur) {
        (false, None) => (Vec::new(), Vec::new(), Vec::new()),
        (false, Some(_)) => (
            vec![rm()],
            vec![Diff::attr(&what, "state", "present", "absent")],
            Vec::new(),
        ),
        (true, None) => (
            vec![create_cmd(w)],
            vec![Diff::attr(&what, "state", "absent", "present")],
            Vec::new(),
        ),
        (true, Some(c)) => {
            let mut changes = differences(w, c);
            let recreate = match w.recreate.as_str() {
                "always" => {
                    if changes.is_empty() {
                        changes.push(Change::new("recreate", "", "always"));
                    }
                    true
                }
                "options-changed" => !changes.is_empty(),
                _ => false,
            };
            if !recreate {
                return (Vec::new(), Vec::new(), Vec::new());
            }
            (
                vec![rm(), create_cmd(w)],
                vec![changes_diff(&what, &changes)],
                changes,
            )
        }
    }
}

#[async_trait::async_trait]
impl Module for DockerVolume {
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }

    async fn plan(&self, ctx: &TaskCtx<'_>, args: &ResultMap) -> Result<Plan, ModuleError> {
        let a = Args::parse(&SPEC, args)?;
        let w = parse(&a)?;
        let found = probe(ctx, NAME, &[Probe::Inspect("volume", w.name.clone())]).await?;
        let cur = object(&found, 0);
        let (mut cmds, diff, changes) = decide(&w, cur);
        let mut result = ResultMap::new();
        if cmds.is_empty() {
            result.insert(
                "volume".into(),
                cur.cloned().unwrap_or(Value::Object(Default::default())),
            );
            if let Some(c) = cur {
                let differ = differences(&w, c);
                if !differ.is_empty() {
                    result.insert(
                        "msg".into(),
                        format!(
                            "volume {} differs ({}) but recreate is never",
                            w.name,
                            field_names(&differ)
                        )
                        .into(),
                    );
                }
            }
            return Ok(Plan::Unchanged { result });
        }
        result.insert("volume".into(), Value::Object(Default::default()));
        if !changes.is_empty() {
            result.insert(
                "msg".into(),
                format!("volume {} recreated: {}", w.name, field_names(&changes)).into(),
            );
        }
        if w.present {
            cmds.push(docker().arg("volume").arg("inspect").arg(&w.name).build());
        }
        let steps = cmds.into_iter().map(|c| ctx.step(c.clone(), c)).collect();
        Ok(Plan::Change {
            diff,
            steps,
            result,
        })
    }

    fn finish(&self, result: &mut ResultMap, outputs: &[ExecOutput]) -> Result<(), ModuleError> {
        finish_inspect(NAME, "volume", result, outputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `docker volume inspect appdata` on docker.io 20.10.
    const APPDATA: &str = r#"[
    {
        "CreatedAt": "2026-11-23T14:31:13Z",
        "Driver": "local",
        "Labels": {"x": "y"},
        "Mountpoint": "/var/lib/docker/volumes/appdata/_data",
        "Name": "appdata",
        "Options": {},
        "Scope": "local"
    }
]"#;

    fn cur() -> Value {
        serde_json::from_str::<Value>(APPDATA).unwrap()[0].clone()
    }

    fn want(v: Value) -> Want {
        let m = v.as_object().cloned().unwrap();
        parse(&Args::parse(&SPEC, &m).unwrap()).unwrap()
    }

    #[test]
    fn decides_volume_changes() {
        let w = want(json!({"name": "appdata", "labels": {"x": "y"}}));
        assert!(decide(&w, Some(&cur())).0.is_empty());
        let (cmds, diff, _) = decide(&w, None);
        assert_eq!(
            cmds,
            vec!["docker volume create --driver local --label x=y appdata"]
        );
        assert_eq!(diff[0].after, "state: present\n");
        // Differences alone do not recreate (data loss) unless asked.
        let w = want(json!({"volume_name": "appdata", "labels": {"x": "z"}}));
        assert!(decide(&w, Some(&cur())).0.is_empty());
        let w = want(
            json!({"volume_name": "appdata", "labels": {"x": "z"}, "recreate": "options-changed"}),
        );
        let (cmds, diff, changes) = decide(&w, Some(&cur()));
        assert_eq!(cmds[0], "docker volume rm appdata");
        assert_eq!(field_names(&changes), "labels");
        assert_eq!(diff[0].after, "labels: x=z\n");
        let w = want(json!({"name": "appdata", "state": "absent"}));
        assert_eq!(decide(&w, Some(&cur())).0, vec!["docker volume rm appdata"]);
        assert!(decide(&w, None).0.is_empty());
        let w = want(
            json!({"name": "appdata", "driver_options": {"type": "tmpfs"}, "recreate": "options-changed"}),
        );
        assert_eq!(decide(&w, Some(&cur())).2[0].field, "driver_options");
    }
}
