//! `docker_network` (community.docker): a Docker network present with the wanted driver, IPAM
//! subnets, `internal` flag and labels, or absent. One read-only inspect query; a network that
//! differs is recreated (its containers disconnected first) and the diff names what differs.

use serde_json::Value;

use super::{
    Change, Probe, changes_diff, check_name, docker, field_names, finish_inspect, label_changes,
    map_at, object, probe, str_at, string_map,
};
use crate::core::{
    Diff, ExecOutput, Module, ModuleError, ModuleSpec, ParamKind, ParamSpec, Plan, ResultMap,
    TaskCtx,
};
use crate::modules::args::{Args, Rules, parse_bool};

/// The `docker_network` module.
pub struct DockerNetwork;

const NAME: &str = "docker_network";

/// Parameters of `docker_network`.
pub static SPEC: ModuleSpec = ModuleSpec {
    name: NAME,
    doc: "Creates, recreates or removes a Docker network with the docker CLI.",
    params: &[
        ParamSpec::new("name", ParamKind::Str, "Network name.")
            .required()
            .aliases(&["network_name"]),
        ParamSpec::new("driver", ParamKind::Str, "Network driver (default bridge)."),
        ParamSpec::new(
            "ipam_config",
            ParamKind::Raw,
            "List of {subnet, gateway, iprange} for the network's addresses.",
        ),
        ParamSpec::new(
            "internal",
            ParamKind::Bool,
            "Restrict external access to the network.",
        ),
        ParamSpec::new("labels", ParamKind::Dict, "Labels of the network."),
        ParamSpec::new("state", ParamKind::Str, "present (default) or absent.")
            .choices(&["present", "absent"]),
        ParamSpec::new(
            "force",
            ParamKind::Bool,
            "Recreate even without differences (present); containers are disconnected first.",
        ),
    ],
    free_form: false,
};

/// Argument rules of `docker_network`.
pub const RULES: Rules = Rules::NONE;

/// One IPAM pool as the task gives it (unset fields are not compared).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ipam {
    /// `172.30.0.0/24`.
    pub subnet: Option<String>,
    /// `172.30.0.1`.
    pub gateway: Option<String>,
    /// `172.30.0.128/25`.
    pub iprange: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Want {
    name: String,
    present: bool,
    driver: String,
    ipam: Option<Vec<Ipam>>,
    internal: Option<bool>,
    labels: Option<std::collections::BTreeMap<String, String>>,
    force: bool,
}

fn parse_ipam(v: &Value) -> Result<Vec<Ipam>, ModuleError> {
    let err = |m: String| ModuleError::Args(format!("{NAME}: parameter 'ipam_config': {m}"));
    let Value::Array(items) = v else {
        return Err(err(format!("expected a list of mappings, got {v}")));
    };
    items
        .iter()
        .map(|item| {
            let Value::Object(m) = item else {
                return Err(err(format!("expected a mapping, got {item}")));
            };
            let mut ipam = Ipam::default();
            for (k, v) in m {
                let s = match v {
                    Value::Null => continue,
                    Value::String(s) => s.clone(),
                    other => return Err(err(format!("{k}: expected a string, got {other}"))),
                };
                match k.as_str() {
                    "subnet" => ipam.subnet = Some(s),
                    "gateway" => ipam.gateway = Some(s),
                    "iprange" | "ip_range" => ipam.iprange = Some(s),
                    other => {
                        return Err(err(format!(
                            "unknown key {other:?} (accepted: subnet, gateway, iprange)"
                        )));
                    }
                }
            }
            Ok(ipam)
        })
        .collect()
}

fn parse(a: &Args<'_>) -> Result<Want, ModuleError> {
    let name = a.req_str("name")?;
    check_name(NAME, "name", &name)?;
    let internal = match a.value("internal") {
        Some(v) => parse_bool(v),
        None => None,
    };
    Ok(Want {
        name,
        present: a.choice("state", "present")? == "present",
        driver: a.str("driver")?.unwrap_or_else(|| "bridge".to_string()),
        ipam: a.value("ipam_config").map(parse_ipam).transpose()?,
        internal,
        labels: string_map(NAME, "labels", a.value("labels"))?,
        force: a.bool("force", false)?,
    })
}

fn ipam_text(pools: &[Ipam]) -> String {
    if pools.is_empty() {
        return "(none)".to_string();
    }
    pools
        .iter()
        .map(|p| {
            let mut parts = Vec::new();
            for (k, v) in [
                ("subnet", &p.subnet),
                ("gateway", &p.gateway),
                ("iprange", &p.iprange),
            ] {
                if let Some(v) = v {
                    parts.push(format!("{k}={v}"));
                }
            }
            parts.join(" ")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn current_ipam(cur: &Value) -> Vec<Ipam> {
    let none_if_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    match cur.pointer("/IPAM/Config") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| Ipam {
                subnet: none_if_empty(str_at(i, "/Subnet")),
                gateway: none_if_empty(str_at(i, "/Gateway")),
                iprange: none_if_empty(str_at(i, "/IPRange")),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// What differs between the network on the host and the task (unset options not compared).
fn differences(w: &Want, cur: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    let driver = str_at(cur, "/Driver");
    if driver != w.driver {
        out.push(Change::new("driver", driver, w.driver.clone()));
    }
    if let Some(internal) = w.internal {
        let now = cur
            .pointer("/Internal")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if now != internal {
            out.push(Change::new(
                "internal",
                now.to_string(),
                internal.to_string(),
            ));
        }
    }
    if let Some(want) = &w.ipam {
        let have = current_ipam(cur);
        let matches = want.len() == have.len()
            && want.iter().all(|p| {
                have.iter().any(|h| {
                    (p.subnet.is_none() || p.subnet == h.subnet)
                        && (p.gateway.is_none() || p.gateway == h.gateway)
                        && (p.iprange.is_none() || p.iprange == h.iprange)
                })
            });
        if !matches {
            out.push(Change::new(
                "ipam_config",
                ipam_text(&have),
                ipam_text(want),
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
        .arg("network")
        .arg("create")
        .arg("--driver")
        .arg(&w.driver);
    for p in w.ipam.iter().flatten() {
        if let Some(s) = &p.subnet {
            c = c.arg("--subnet").arg(s);
        }
        if let Some(g) = &p.gateway {
            c = c.arg("--gateway").arg(g);
        }
        if let Some(r) = &p.iprange {
            c = c.arg("--ip-range").arg(r);
        }
    }
    if w.internal == Some(true) {
        c = c.arg("--internal");
    }
    for (k, v) in w.labels.iter().flatten() {
        c = c.arg("--label").arg(format!("{k}={v}"));
    }
    c.arg(&w.name).build()
}

/// Commands that disconnect every container of `cur` and remove the network.
fn remove_cmds(name: &str, cur: &Value) -> Vec<String> {
    let mut cmds: Vec<String> = match cur.pointer("/Containers") {
        Some(Value::Object(m)) => m
            .keys()
            .map(|id| {
                docker()
                    .arg("network")
                    .arg("disconnect")
                    .arg("--force")
                    .arg(name)
                    .arg(id)
                    .build()
            })
            .collect(),
        _ => Vec::new(),
    };
    cmds.push(docker().arg("network").arg("rm").arg(name).build());
    cmds
}

fn decide(w: &Want, cur: Option<&Value>) -> (Vec<String>, Vec<Diff>, Vec<Change>) {
    let what = format!("network {}", w.name);
    match (w.present, cur) {
        (false, None) => (Vec::new(), Vec::new(), Vec::new()),
        (false, Some(c)) => (
            remove_cmds(&w.name, c),
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
            if changes.is_empty() && !w.force {
                return (Vec::new(), Vec::new(), Vec::new());
            }
            if changes.is_empty() {
                changes.push(Change::new("force", "", "recreate"));
            }
            let mut cmds = remove_cmds(&w.name, c);
            cmds.push(create_cmd(w));
            (cmds, vec![changes_diff(&what, &changes)], changes)
        }
    }
}

#[async_trait::async_trait]
impl Module for DockerNetwork {
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }

    async fn plan(&self, ctx: &TaskCtx<'_>, args: &ResultMap) -> Result<Plan, ModuleError> {
        let a = Args::parse(&SPEC, args)?;
        let w = parse(&a)?;
        let found = probe(ctx, NAME, &[Probe::Inspect("network", w.name.clone())]).await?;
        let cur = object(&found, 0);
        let (mut cmds, diff, changes) = decide(&w, cur);
        let mut result = ResultMap::new();
        if cmds.is_empty() {
            result.insert(
                "network".into(),
                cur.cloned().unwrap_or(Value::Object(Default::default())),
            );
            return Ok(Plan::Unchanged { result });
        }
        result.insert("network".into(), Value::Object(Default::default()));
        if !changes.is_empty() {
            result.insert(
                "msg".into(),
                format!(
                    "network {} recreated: {} differ",
                    w.name,
                    field_names(&changes)
                )
                .into(),
            );
        }
        if w.present {
            cmds.push(docker().arg("network").arg("inspect").arg(&w.name).build());
        }
        let steps = cmds.into_iter().map(|c| ctx.step(c.clone(), c)).collect();
        Ok(Plan::Change {
            diff,
            steps,
            result,
        })
    }

    fn finish(&self, result: &mut ResultMap, outputs: &[ExecOutput]) -> Result<(), ModuleError> {
        finish_inspect(NAME, "network", result, outputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `docker network inspect appnet` on Debian bookworm's docker.io 20.10 (one container).
    const APPNET: &str = r#"[
    {
        "Name": "appnet",
        "Id": "01e6773eba983a329253318f6c3b27b5edb72e39de7966b0b5ddf2adc774eaec",
        "Scope": "local",
        "Driver": "bridge",
        "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": {}, "Config": [{"Subnet": "172.30.0.0/24"}]},
        "Internal": false,
        "Attachable": false,
        "Containers": {
            "6616ebf90e353500632a0de187550bc59683dc0a11e0bc2d4fe608c6d21662f6": {
                "Name": "web",
                "IPv4Address": "172.30.0.2/24"
            }
        },
        "Options": {},
        "Labels": {"a": "b"}
    }
]"#;

    fn cur() -> Value {
        serde_json::from_str::<Value>(APPNET).unwrap()[0].clone()
    }

    fn want(v: Value) -> Result<Want, ModuleError> {
        let m = v.as_object().cloned().unwrap();
        parse(&Args::parse(&SPEC, &m)?)
    }

    #[test]
    fn same_network_is_unchanged() {
        let w = want(json!({"name": "appnet", "ipam_config": [{"subnet": "172.30.0.0/24"}], "labels": {"a": "b"}}))
            .unwrap();
        assert!(decide(&w, Some(&cur())).0.is_empty());
        let w = want(json!({"network_name": "appnet"})).unwrap();
        assert!(decide(&w, Some(&cur())).0.is_empty());
    }

    #[test]
    fn differences_recreate_and_say_why() {
        let w = want(json!({"name": "appnet", "ipam_config": [{"subnet": "172.31.0.0/24", "gateway": "172.31.0.1"}], "internal": true}))
            .unwrap();
        let (cmds, diff, changes) = decide(&w, Some(&cur()));
        assert_eq!(field_names(&changes), "internal, ipam_config");
        assert_eq!(
            cmds[0],
            "docker network disconnect --force appnet 6616ebf90e353500632a0de187550bc59683dc0a11e0bc2d4fe608c6d21662f6"
        );
        assert_eq!(cmds[1], "docker network rm appnet");
        assert_eq!(
            cmds[2],
            "docker network create --driver bridge --subnet 172.31.0.0/24 --gateway 172.31.0.1 --internal appnet"
        );
        assert!(
            diff[0].before.contains("ipam_config: subnet=172.30.0.0/24"),
            "{:?}",
            diff[0]
        );
        assert!(
            diff[0]
                .after
                .contains("ipam_config: subnet=172.31.0.0/24 gateway=172.31.0.1")
        );
        let w = want(json!({"name": "appnet", "force": true})).unwrap();
        assert_eq!(decide(&w, Some(&cur())).0.len(), 3);
    }

    #[test]
    fn creates_and_removes() {
        let w = want(json!({"name": "appnet", "labels": {"x": "1"}})).unwrap();
        let (cmds, diff, _) = decide(&w, None);
        assert_eq!(
            cmds,
            vec!["docker network create --driver bridge --label x=1 appnet"]
        );
        assert_eq!(diff[0].after, "state: present\n");
        let w = want(json!({"name": "appnet", "state": "absent"})).unwrap();
        assert_eq!(decide(&w, Some(&cur())).0.len(), 2);
        assert!(decide(&w, None).0.is_empty());
        let e = want(json!({"name": "n", "ipam_config": [{"subnet": "1.2.3.0/24", "bogus": "x"}]}))
            .unwrap_err();
        assert!(e.to_string().contains("unknown key \"bogus\""), "{e}");
        let e = want(json!({"name": "n", "ipam_config": "10.0.0.0/8"})).unwrap_err();
        assert!(e.to_string().contains("ipam_config"), "{e}");
    }
}
