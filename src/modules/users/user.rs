//! `user`: a local account present (uid, primary group, groups, shell, home, comment, password
//! hash) or absent, from `getent passwd`/`id`; applied with useradd/usermod/userdel. The
//! password hash travels on stdin and never appears in diffs, results or step descriptions.

use serde_json::Value;

use super::group::id_arg;
use crate::core::{
    Diff, ExecRequest, Module, ModuleError, ModuleSpec, ParamKind, ParamSpec, Plan, ResultMap,
    TaskCtx, quote,
};
use crate::modules::args::{Args, Rules};

/// The `user` module.
pub struct User;

/// Parameters of `user`.
pub static SPEC: ModuleSpec = ModuleSpec {
    name: "user",
    doc: "Manages a local user account.",
    params: &[
        ParamSpec::new("name", ParamKind::Str, "The user name.").required(),
        ParamSpec::new("uid", ParamKind::Int, "The user id."),
        ParamSpec::new("group", ParamKind::Str, "The primary group (name or gid)."),
        ParamSpec::new("groups", ParamKind::List, "Supplementary groups."),
        ParamSpec::new(
            "append",
            ParamKind::Bool,
            "Add to `groups` without leaving the others (default no).",
        ),
        ParamSpec::new("shell", ParamKind::Str, "The login shell."),
        ParamSpec::new("home", ParamKind::Path, "The home directory."),
        ParamSpec::new(
            "create_home",
            ParamKind::Bool,
            "Create the home directory when creating the user (default yes).",
        )
        .aliases(&["createhome"]),
        ParamSpec::new(
            "system",
            ParamKind::Bool,
            "Create a system account (only when creating).",
        ),
        ParamSpec::new("state", ParamKind::Str, "present (default) or absent.")
            .choices(&["present", "absent"]),
        ParamSpec::new(
            "remove",
            ParamKind::Bool,
            "With state=absent, also remove the home directory and mail spool.",
        ),
        ParamSpec::new(
            "password",
            ParamKind::Str,
            "The password, already hashed (crypt format); never shown.",
        ),
        ParamSpec::new("comment", ParamKind::Str, "The GECOS comment (full name)."),
    ],
    free_form: false,
};

/// Argument rules of `user`.
pub const RULES: Rules = Rules::NONE;

/// An account as the query reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserEntry {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Primary group name.
    pub group: String,
    /// Supplementary group names (the primary group excluded).
    pub groups: Vec<String>,
    /// GECOS comment.
    pub comment: String,
    /// Home directory.
    pub home: String,
    /// Login shell.
    pub shell: String,
    /// The password hash from the shadow file, when readable.
    pub password: Option<String>,
}

/// The read-only query for user `name`.
pub fn user_query(name: &str) -> String {
    format!(
        "n={}\nif getent passwd \"$n\"; then\n  printf 'pgroup=%s\\n' \"$(id -gn -- \"$n\")\"\n  printf 'groups=%s\\n' \"$(id -Gn -- \"$n\")\"\n  sp=$(getent shadow \"$n\" 2>/dev/null | cut -d: -f2)\n  [ -n \"$sp\" ] && printf 'pwhash=%s\\n' \"$sp\"\nfi\nexit 0\n",
        quote(name)
    )
}

/// Parses the query output; `None` when the user does not exist.
pub fn parse_user(out: &str) -> Result<Option<UserEntry>, String> {
    let mut lines = out.lines().filter(|l| !l.trim().is_empty());
    let Some(first) = lines.next() else {
        return Ok(None);
    };
    let f: Vec<&str> = first.split(':').collect();
    let bad = || format!("unexpected getent passwd output {first:?}");
    if f.len() != 7 {
        return Err(bad());
    }
    let mut e = UserEntry {
        uid: f[2].parse().map_err(|_| bad())?,
        gid: f[3].parse().map_err(|_| bad())?,
        comment: f[4].to_string(),
        home: f[5].to_string(),
        shell: f[6].to_string(),
        ..Default::default()
    };
    let mut all = Vec::new();
    for l in lines {
        match l.split_once('=') {
            Some(("pgroup", v)) => e.group = v.to_string(),
            Some(("groups", v)) => all = v.split_whitespace().map(str::to_string).collect(),
            Some(("pwhash", v)) => e.password = Some(v.to_string()),
            _ => return Err(format!("unexpected user query output {l:?}")),
        }
    }
    e.groups = all.into_iter().filter(|g| *g != e.group).collect();
    Ok(Some(e))
}

/// What the task wants.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WantUser {
    /// The user name.
    pub name: String,
    /// Present or absent.
    pub present: bool,
    /// Wanted uid.
    pub uid: Option<u32>,
    /// Wanted primary group (name or gid).
    pub group: Option<String>,
    /// Wanted supplementary groups.
    pub groups: Option<Vec<String>>,
    /// Only add `groups`.
    pub append: bool,
    /// Wanted shell.
    pub shell: Option<String>,
    /// Wanted home.
    pub home: Option<String>,
    /// Create the home directory on creation.
    pub create_home: bool,
    /// A system account (creation only).
    pub system: bool,
    /// Remove the home on deletion.
    pub remove: bool,
    /// Wanted password hash.
    pub password: Option<String>,
    /// Wanted comment.
    pub comment: Option<String>,
}

/// One command of a user plan: its shell text and whether it reads the password on stdin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserCmd {
    /// Shell text (no secret in it).
    pub script: String,
    /// Feed the password hash on stdin.
    pub password_stdin: bool,
}

fn push_opt(cmd: &mut String, flag: &str, v: &str) {
    cmd.push_str(&format!(" {flag} {}", quote(v)));
}

/// Decides the command and the diffs from the current entry (no diff mentions the password).
pub fn decide_user(want: &WantUser, cur: Option<&UserEntry>) -> (Option<UserCmd>, Vec<Diff>) {
    let n = &want.name;
    let what = format!("user {n}");
    let pw_prefix = "p=$(cat) && ";
    match (want.present, cur) {
        (false, None) => (None, vec![]),
        (false, Some(_)) => {
            let r = if want.remove { "-r " } else { "" };
            (
                Some(UserCmd {
                    script: format!("userdel {r}{}", quote(n)),
                    password_stdin: false,
                }),
                vec![Diff::attr(&what, "state", "present", "absent")],
            )
        }
        (true, None) => {
            let mut cmd = String::from("useradd");
            if let Some(u) = want.uid {
                cmd.push_str(&format!(" -u {u}"));
            }
            if let Some(g) = &want.group {
                push_opt(&mut cmd, "-g", g);
            }
            if let Some(gs) = want.groups.as_ref().filter(|g| !g.is_empty()) {
                push_opt(&mut cmd, "-G", &gs.join(","));
            }
            if let Some(s) = &want.shell {
                push_opt(&mut cmd, "-s", s);
            }
            if let Some(h) = &want.home {
                push_opt(&mut cmd, "-d", h);
            }
            if let Some(c) = &want.comment {
                push_opt(&mut cmd, "-c", c);
            }
            cmd.push_str(if want.create_home { " -m" } else { " -M" });
            if want.system {
                cmd.push_str(" -r");
            }
            let pw = want.password.is_some();
            if pw {
                cmd = format!("{pw_prefix}{cmd} -p \"$p\"");
            }
            cmd.push(' ');
            cmd.push_str(&quote(n));
            (
                Some(UserCmd {
                    script: cmd,
                    password_stdin: pw,
                }),
                vec![Diff::attr(&what, "state", "absent", "present")],
            )
        }
        (true, Some(c)) => {
            let mut flags = String::new();
            let mut diff = Vec::new();
            if let Some(u) = want.uid.filter(|u| *u != c.uid) {
                flags.push_str(&format!(" -u {u}"));
                diff.push(Diff::attr(&what, "uid", &c.uid.to_string(), &u.to_string()));
            }
            if let Some(g) = want
                .group
                .as_ref()
                .filter(|g| **g != c.group && **g != c.gid.to_string())
            {
                push_opt(&mut flags, "-g", g);
                diff.push(Diff::attr(&what, "group", &c.group, g));
            }
            if let Some(gs) = &want.groups {
                let missing: Vec<&String> = gs.iter().filter(|g| !c.groups.contains(g)).collect();
                if want.append {
                    if !missing.is_empty() {
                        flags.push_str(" -a");
                        push_opt(&mut flags, "-G", &gs.join(","));
                        let after: Vec<&String> = c.groups.iter().chain(missing).collect();
                        diff.push(Diff::attr(
                            &what,
                            "groups",
                            &c.groups.join(","),
                            &after
                                .iter()
                                .map(|s| s.as_str())
                                .collect::<Vec<_>>()
                                .join(","),
                        ));
                    }
                } else {
                    let extra = c.groups.iter().any(|g| !gs.contains(g));
                    if !missing.is_empty() || extra {
                        push_opt(&mut flags, "-G", &gs.join(","));
                        diff.push(Diff::attr(
                            &what,
                            "groups",
                            &c.groups.join(","),
                            &gs.join(","),
                        ));
                    }
                }
            }
            for (flag, field, w, cv) in [
                ("-s", "shell", &want.shell, &c.shell),
                ("-d", "home", &want.home, &c.home),
                ("-c", "comment", &want.comment, &c.comment),
            ] {
                if let Some(v) = w.as_ref().filter(|v| *v != cv) {
                    push_opt(&mut flags, flag, v);
                    diff.push(Diff::attr(&what, field, cv, v));
                }
            }
            let pw = want
                .password
                .as_ref()
                .is_some_and(|p| c.password.as_ref() != Some(p));
            if flags.is_empty() && !pw {
                return (None, diff);
            }
            let mut cmd = format!("usermod{flags}");
            if pw {
                cmd = format!("{pw_prefix}{cmd} -p \"$p\"");
            }
            cmd.push(' ');
            cmd.push_str(&quote(n));
            (
                Some(UserCmd {
                    script: cmd,
                    password_stdin: pw,
                }),
                diff,
            )
        }
    }
}

fn want_from(a: &Args<'_>) -> Result<WantUser, ModuleError> {
    Ok(WantUser {
        name: a.req_str("name")?,
        present: a.choice("state", "present")? == "present",
        uid: id_arg(a, "uid")?,
        group: a.str("group")?,
        groups: a.list("groups")?,
        append: a.bool("append", false)?,
        shell: a.str("shell")?,
        home: a.str("home")?,
        create_home: a.bool("create_home", true)?,
        system: a.bool("system", false)?,
        remove: a.bool("remove", false)?,
        password: a.str("password")?,
        comment: a.str("comment")?,
    })
}

/// Ansible-like result keys (never the password).
fn result_of(want: &WantUser, cur: Option<&UserEntry>) -> ResultMap {
    let mut r = ResultMap::new();
    r.insert("name".into(), want.name.clone().into());
    r.insert(
        "state".into(),
        if want.present { "present" } else { "absent" }.into(),
    );
    if !want.present {
        r.insert("remove".into(), want.remove.into());
        return r;
    }
    r.insert("system".into(), want.system.into());
    r.insert("append".into(), want.append.into());
    let uid = want.uid.or(cur.map(|c| c.uid));
    if let Some(u) = uid {
        r.insert("uid".into(), Value::from(u));
    }
    let pick = |w: &Option<String>, c: Option<String>| w.clone().or(c);
    for (k, v) in [
        ("group", pick(&want.group, cur.map(|c| c.group.clone()))),
        ("shell", pick(&want.shell, cur.map(|c| c.shell.clone()))),
        ("home", pick(&want.home, cur.map(|c| c.home.clone()))),
        (
            "comment",
            pick(&want.comment, cur.map(|c| c.comment.clone())),
        ),
    ] {
        if let Some(v) = v {
            r.insert(k.into(), v.into());
        }
    }
    if let Some(gs) = &want.groups {
        r.insert("groups".into(), gs.join(",").into());
    }
    if want.password.is_some() {
        r.insert("password".into(), "NOT_LOGGING_PASSWORD".into());
    }
    r
}

#[async_trait::async_trait]
impl Module for User {
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }

    async fn plan(&self, ctx: &TaskCtx<'_>, args: &ResultMap) -> Result<Plan, ModuleError> {
        let a = Args::parse(&SPEC, args)?;
        let want = want_from(&a)?;
        let out = ctx.query(user_query(&want.name)).await?;
        if !out.success() {
            return Err(ModuleError::failed(format!(
                "user {}: query failed: {}",
                want.name,
                out.stderr_str().trim()
            )));
        }
        let cur = parse_user(&out.stdout_str())
            .map_err(|e| ModuleError::failed(format!("user {}: {e}", want.name)))?;
        let result = result_of(&want, cur.as_ref());
        let (cmd, diff) = decide_user(&want, cur.as_ref());
        let Some(cmd) = cmd else {
            return Ok(Plan::Unchanged { result });
        };
        let mut req = ExecRequest::new(cmd.script.clone());
        if cmd.password_stdin {
            req = req.stdin(want.password.clone().unwrap_or_default());
        }
        let step = ctx.step_with(cmd.script, req);
        Ok(Plan::Change {
            diff,
            steps: vec![step],
            result,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cur() -> UserEntry {
        UserEntry {
            uid: 1001,
            gid: 1001,
            group: "bob".into(),
            groups: vec!["adm".into(), "sudo".into()],
            comment: "Bob".into(),
            home: "/home/bob".into(),
            shell: "/bin/sh".into(),
            password: Some("$6$old".into()),
        }
    }

    fn want() -> WantUser {
        WantUser {
            name: "bob".into(),
            present: true,
            create_home: true,
            ..Default::default()
        }
    }

    #[test]
    fn parses_user_query() {
        assert_eq!(parse_user("").unwrap(), None);
        let u = parse_user(
            "bob:x:1001:1001:Bob:/home/bob:/bin/sh\npgroup=bob\ngroups=bob adm sudo\npwhash=$6$old\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(u, cur());
        assert!(parse_user("bob:x:1001\n").is_err());
        assert!(parse_user("bob:x:a:1:c:/h:/s\n").is_err());
        assert!(parse_user("bob:x:1:1:c:/h:/s\nweird\n").is_err());
    }

    #[test]
    fn decides_user_changes() {
        let c = cur();
        let cases: Vec<(WantUser, Option<&UserEntry>, Option<&str>)> = vec![
            (want(), Some(&c), None),
            (want(), None, Some("useradd -m bob")),
            (
                WantUser {
                    uid: Some(900),
                    system: true,
                    create_home: false,
                    shell: Some("/bin/bash".into()),
                    groups: Some(vec!["adm".into(), "a b".into()]),
                    ..want()
                },
                None,
                Some("useradd -u 900 -G 'adm,a b' -s /bin/bash -M -r bob"),
            ),
            (
                WantUser {
                    shell: Some("/bin/bash".into()),
                    ..want()
                },
                Some(&c),
                Some("usermod -s /bin/bash bob"),
            ),
            (
                WantUser {
                    groups: Some(vec!["adm".into()]),
                    append: true,
                    ..want()
                },
                Some(&c),
                None,
            ),
            (
                WantUser {
                    groups: Some(vec!["adm".into()]),
                    ..want()
                },
                Some(&c),
                Some("usermod -G adm bob"),
            ),
            (
                WantUser {
                    groups: Some(vec!["docker".into()]),
                    append: true,
                    ..want()
                },
                Some(&c),
                Some("usermod -a -G docker bob"),
            ),
            (
                WantUser {
                    group: Some("1001".into()),
                    uid: Some(1001),
                    comment: Some("Bob".into()),
                    password: Some("$6$old".into()),
                    ..want()
                },
                Some(&c),
                None,
            ),
            (
                WantUser {
                    password: Some("$6$new".into()),
                    ..want()
                },
                Some(&c),
                Some("p=$(cat) && usermod -p \"$p\" bob"),
            ),
            (
                WantUser {
                    present: false,
                    remove: true,
                    ..want()
                },
                Some(&c),
                Some("userdel -r bob"),
            ),
            (
                WantUser {
                    present: false,
                    ..want()
                },
                None,
                None,
            ),
        ];
        for (w, c, expect) in cases {
            let (cmd, _) = decide_user(&w, c);
            assert_eq!(cmd.map(|c| c.script).as_deref(), expect, "{w:?}");
        }
    }

    #[test]
    fn diffs_name_fields_but_never_the_password() {
        let w = WantUser {
            uid: Some(7),
            groups: Some(vec!["docker".into()]),
            append: true,
            password: Some("$6$secret".into()),
            ..want()
        };
        let (cmd, diff) = decide_user(&w, Some(&cur()));
        let cmd = cmd.unwrap();
        assert!(cmd.password_stdin);
        assert!(!cmd.script.contains("secret"));
        let text: String = diff
            .iter()
            .map(|d| format!("{}{}", d.before, d.after))
            .collect();
        assert!(
            text.contains("uid: 1001") && text.contains("uid: 7"),
            "{text}"
        );
        assert!(text.contains("groups: adm,sudo,docker"), "{text}");
        assert!(!text.contains("secret"), "{text}");
        let r = result_of(&w, Some(&cur()));
        assert!(!serde_json::to_string(&r).unwrap().contains("secret"));
    }
}

#[cfg(test)]
mod host_tests {
    use super::*;
    use crate::modules::testutil::{Harness, is_root};
    use crate::modules::users::group::Group;
    use serde_json::json;

    fn passwd_of(name: &str) -> String {
        let out = std::process::Command::new("getent")
            .args(["passwd", name])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[tokio::test]
    async fn creates_modifies_and_removes_a_user() {
        if !is_root() {
            return;
        }
        let h = Harness::new();
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!("ssxu{n:x}");
        let grp = format!("ssxug{n:x}");
        h.converge(&Group, &json!({"name": grp})).await;
        let home = h.path("home");
        let args = json!({"name": name, "shell": "/bin/sh", "home": home, "groups": [grp],
            "password": "$6$abc$hashhashhash", "comment": "Test User"});
        let r = h.converge(&User, &args).await;
        assert_eq!(r.result["password"], "NOT_LOGGING_PASSWORD");
        assert!(std::path::Path::new(&home).is_dir());
        let line = passwd_of(&name);
        assert!(line.contains(":Test User:"), "{line}");
        assert!(line.trim_end().ends_with("/bin/sh"), "{line}");
        let shadow = std::fs::read_to_string("/etc/shadow").unwrap();
        assert!(shadow.contains(&format!("{name}:$6$abc$hashhashhash:")));
        let r = h
            .converge(&User, &json!({"name": name, "shell": "/bin/bash"}))
            .await;
        assert_eq!(r.diff.len(), 1);
        assert_eq!(r.diff[0].after, "shell: /bin/bash\n");
        assert!(passwd_of(&name).trim_end().ends_with("/bin/bash"));
        let r = h
            .converge(&User, &json!({"name": name, "groups": []}))
            .await;
        assert_eq!(r.diff[0].before, format!("groups: {grp}\n"));
        h.converge(
            &User,
            &json!({"name": name, "state": "absent", "remove": true}),
        )
        .await;
        assert!(passwd_of(&name).is_empty());
        h.converge(&Group, &json!({"name": grp, "state": "absent"}))
            .await;
    }
}
