//! `group`: a local group present (with a gid) or absent, from `getent group`; applied with
//! groupadd/groupmod/groupdel. Never edits /etc/group directly.

use serde_json::Value;

use crate::core::{
    Diff, Module, ModuleError, ModuleSpec, ParamKind, ParamSpec, Plan, ResultMap, TaskCtx, quote,
};
use crate::modules::args::{Args, Rules};

/// The `group` module.
pub struct Group;

/// Parameters of `group`.
pub static SPEC: ModuleSpec = ModuleSpec {
    name: "group",
    doc: "Adds or removes a local group.",
    params: &[
        ParamSpec::new("name", ParamKind::Str, "The group name.").required(),
        ParamSpec::new("gid", ParamKind::Int, "The group id."),
        ParamSpec::new("state", ParamKind::Str, "present (default) or absent.")
            .choices(&["present", "absent"]),
        ParamSpec::new(
            "system",
            ParamKind::Bool,
            "Create a system group (only when creating).",
        ),
    ],
    free_form: false,
};

/// Argument rules of `group`.
pub const RULES: Rules = Rules::NONE;

/// A group as `getent group` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupEntry {
    /// The group name.
    pub name: String,
    /// The group id.
    pub gid: u32,
    /// Supplementary members.
    pub members: Vec<String>,
}

/// Parses one `getent group` line (`name:x:gid:a,b`); `None` for empty output (absent).
pub fn parse_group(out: &str) -> Result<Option<GroupEntry>, String> {
    let Some(line) = out.lines().find(|l| !l.trim().is_empty()) else {
        return Ok(None);
    };
    let f: Vec<&str> = line.split(':').collect();
    if f.len() != 4 {
        return Err(format!("unexpected getent group output {line:?}"));
    }
    let gid = f[2]
        .parse()
        .map_err(|_| format!("unexpected getent group output {line:?}"))?;
    Ok(Some(GroupEntry {
        name: f[0].to_string(),
        gid,
        members: f[3]
            .split(',')
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .collect(),
    }))
}

/// What the task wants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WantGroup {
    /// The group name.
    pub name: String,
    /// Present or absent.
    pub present: bool,
    /// The wanted gid, if set.
    pub gid: Option<u32>,
    /// A system group (creation only).
    pub system: bool,
}

/// Decides the commands (each one a shell line) and diffs from the current entry.
pub fn decide_group(want: &WantGroup, cur: Option<&GroupEntry>) -> (Vec<String>, Vec<Diff>) {
    let n = &want.name;
    let what = format!("group {n}");
    match (want.present, cur) {
        (false, None) => (vec![], vec![]),
        (false, Some(_)) => (
            vec![format!("groupdel {}", quote(n))],
            vec![Diff::attr(&what, "state", "present", "absent")],
        ),
        (true, None) => {
            let mut cmd = String::from("groupadd");
            if let Some(g) = want.gid {
                cmd.push_str(&format!(" -g {g}"));
            }
            if want.system {
                cmd.push_str(" -r");
            }
            cmd.push(' ');
            cmd.push_str(&quote(n));
            (
                vec![cmd],
                vec![Diff::attr(&what, "state", "absent", "present")],
            )
        }
        (true, Some(c)) => match want.gid {
            Some(g) if g != c.gid => (
                vec![format!("groupmod -g {g} {}", quote(n))],
                vec![Diff::attr(&what, "gid", &c.gid.to_string(), &g.to_string())],
            ),
            _ => (vec![], vec![]),
        },
    }
}

/// Reads a gid-like integer parameter.
pub(crate) fn id_arg(a: &Args<'_>, name: &str) -> Result<Option<u32>, ModuleError> {
    match a.int(name)? {
        None => Ok(None),
        Some(v) => u32::try_from(v)
            .map(Some)
            .map_err(|_| ModuleError::Args(format!("parameter '{name}': {v} is not a valid id"))),
    }
}

#[async_trait::async_trait]
impl Module for Group {
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }

    async fn plan(&self, ctx: &TaskCtx<'_>, args: &ResultMap) -> Result<Plan, ModuleError> {
        let a = Args::parse(&SPEC, args)?;
        let want = WantGroup {
            name: a.req_str("name")?,
            present: a.choice("state", "present")? == "present",
            gid: id_arg(&a, "gid")?,
            system: a.bool("system", false)?,
        };
        let out = ctx
            .query(format!("getent group {} || true", quote(&want.name)))
            .await?;
        let cur = parse_group(&out.stdout_str())
            .map_err(|e| ModuleError::failed(format!("group {}: {e}", want.name)))?;
        let (cmds, diff) = decide_group(&want, cur.as_ref());
        let mut result = ResultMap::new();
        result.insert("name".into(), want.name.clone().into());
        result.insert(
            "state".into(),
            if want.present { "present" } else { "absent" }.into(),
        );
        result.insert("system".into(), want.system.into());
        if want.present {
            let gid = want.gid.or(cur.as_ref().map(|c| c.gid));
            if let Some(g) = gid {
                result.insert("gid".into(), Value::from(g));
            }
        }
        if cmds.is_empty() {
            return Ok(Plan::Unchanged { result });
        }
        let steps = cmds.into_iter().map(|c| ctx.step(c.clone(), c)).collect();
        Ok(Plan::Change {
            diff,
            steps,
            result,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(gid: u32) -> GroupEntry {
        GroupEntry {
            name: "g".into(),
            gid,
            members: vec![],
        }
    }

    #[test]
    fn parses_getent_group() {
        assert_eq!(parse_group("").unwrap(), None);
        let g = parse_group("adm:x:4:syslog,bob\n").unwrap().unwrap();
        assert_eq!(g.gid, 4);
        assert_eq!(g.members, vec!["syslog", "bob"]);
        assert_eq!(parse_group("adm:x:4:\n").unwrap().unwrap().members.len(), 0);
        assert!(parse_group("adm:x:y:\n").is_err());
        assert!(parse_group("adm:x\n").is_err());
    }

    #[test]
    fn decides_group_changes() {
        let want = |present, gid| WantGroup {
            name: "g".into(),
            present,
            gid,
            system: true,
        };
        let cases: Vec<(WantGroup, Option<GroupEntry>, Vec<&str>)> = vec![
            (want(true, None), None, vec!["groupadd -r g"]),
            (want(true, Some(900)), None, vec!["groupadd -g 900 -r g"]),
            (want(true, None), Some(entry(5)), vec![]),
            (want(true, Some(5)), Some(entry(5)), vec![]),
            (want(true, Some(6)), Some(entry(5)), vec!["groupmod -g 6 g"]),
            (want(false, None), Some(entry(5)), vec!["groupdel g"]),
            (want(false, None), None, vec![]),
        ];
        for (w, cur, expect) in cases {
            let (cmds, diff) = decide_group(&w, cur.as_ref());
            assert_eq!(cmds, expect, "{w:?} {cur:?}");
            assert_eq!(diff.is_empty(), expect.is_empty());
        }
        let (_, diff) = decide_group(&want(true, Some(6)), Some(&entry(5)));
        assert_eq!(diff[0].before, "gid: 5\n");
        assert_eq!(diff[0].after, "gid: 6\n");
    }
}

#[cfg(test)]
mod host_tests {
    use super::*;
    use crate::modules::testutil::{Harness, is_root};
    use serde_json::json;

    /// A unique account name for host tests.
    pub(crate) fn unique(prefix: &str) -> String {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .subsec_nanos();
        format!("{prefix}{}_{n:x}", std::process::id())
    }

    #[tokio::test]
    async fn creates_modifies_and_removes_a_group() {
        if !is_root() {
            return;
        }
        let h = Harness::new();
        let name = unique("ssxg");
        let r = h.converge(&Group, &json!({"name": name})).await;
        assert_eq!(r.result["state"], "present");
        let gid = parse_group(
            &std::process::Command::new("getent")
                .args(["group", &name])
                .output()
                .unwrap()
                .stdout
                .iter()
                .map(|b| *b as char)
                .collect::<String>(),
        )
        .unwrap()
        .unwrap()
        .gid;
        let new_gid = gid + 1000;
        let r = h
            .converge(&Group, &json!({"name": name, "gid": new_gid}))
            .await;
        assert_eq!(r.diff[0].after, format!("gid: {new_gid}\n"));
        assert_eq!(r.result["gid"], new_gid);
        h.converge(&Group, &json!({"name": name, "state": "absent"}))
            .await;
        let out = std::process::Command::new("getent")
            .args(["group", &name])
            .output()
            .unwrap();
        assert!(!out.status.success());
    }
}
