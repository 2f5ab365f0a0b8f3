//! `unarchive`: unpacks a tar (gz/bz2/xz, detected by tar) or zip archive into an existing
//! directory on the target. The archive comes from the controller (sent on stdin), a path on
//! the target (`remote_src`) or a URL (downloaded on the target). Planning compares the
//! archive with the destination without touching it (`tar --compare`, or a zip unpacked into
//! a private temp dir and compared with `cmp`), so only real differences report changed.

use std::time::Duration;

use serde_json::Value;

use super::http::{BodySink, HttpRequest, is_url, prelude, request_script, stdin_config};
use crate::core::{
    Diff, ExecOutput, ExecRequest, Module, ModuleError, ModuleSpec, ParamKind, ParamSpec, Plan,
    ResultMap, Step, TaskCtx, quote,
};
use crate::modules::args::{Args, ModeArg, Rules, canonical_symbolic, mode_string};
use crate::modules::files::atomic::{chmod_octal, same_principal};

/// The `unarchive` module.
pub struct Unarchive;

/// Parameters of `unarchive`.
pub static SPEC: ModuleSpec = ModuleSpec {
    name: "unarchive",
    doc: "Unpacks a tar(.gz/.bz2/.xz) or zip archive from the controller, the target or a URL into a directory.",
    params: &[
        ParamSpec::new(
            "src",
            ParamKind::Str,
            "Archive on the controller (role files/ first), on the target with remote_src, or a URL.",
        )
        .required(),
        ParamSpec::new(
            "dest",
            ParamKind::Path,
            "Existing directory to unpack into.",
        )
        .required(),
        ParamSpec::new(
            "remote_src",
            ParamKind::Bool,
            "src is already on the target (default no).",
        ),
        ParamSpec::new(
            "creates",
            ParamKind::Path,
            "Skip when this path exists on the target.",
        ),
        ParamSpec::new(
            "extra_opts",
            ParamKind::List,
            "Extra options for tar or unzip (e.g. --strip-components=1).",
        ),
        ParamSpec::new(
            "list_files",
            ParamKind::Bool,
            "Return the archive's members as `files`.",
        ),
        ParamSpec::new(
            "owner",
            ParamKind::Str,
            "Owner of every unpacked path.",
        ),
        ParamSpec::new(
            "group",
            ParamKind::Str,
            "Group of every unpacked path.",
        ),
        ParamSpec::new(
            "mode",
            ParamKind::Mode,
            "Mode of every unpacked path (symbolic modes like u+rwX suit trees).",
        ),
        ParamSpec::new(
            "validate_certs",
            ParamKind::Bool,
            "Verify TLS certificates when src is a URL (default yes).",
        ),
    ],
    free_form: false,
};

/// Argument rules of `unarchive`.
pub const RULES: Rules = Rules::NONE;

/// Where the archive comes from.
#[derive(Clone, Debug)]
enum Origin {
    /// Bytes read on the controller, sent on stdin.
    Local(Vec<u8>),
    /// A file on the target.
    Remote(String),
    /// A URL downloaded on the target.
    Url(HttpRequest),
}

/// Shell text putting the archive's path in `$a` (and cleaning every temp on exit).
fn source_script(origin: &Origin) -> String {
    let mut s = String::new();
    match origin {
        Origin::Local(_) => {
            s.push_str("tmp=\nht=\nx=\n");
            s.push_str("trap 'rm -rf -- ${ht:+\"$ht\"} ${tmp:+\"$tmp\"} ${x:+\"$x\"}' EXIT\ntrap 'exit 129' HUP INT TERM PIPE\n");
            s.push_str("tmp=$(mktemp) || exit 1\ncat > \"$tmp\" || exit 1\na=$tmp\n");
        }
        Origin::Remote(p) => {
            s.push_str("tmp=\nht=\nx=\n");
            s.push_str("trap 'rm -rf -- ${x:+\"$x\"}' EXIT\ntrap 'exit 129' HUP INT TERM PIPE\n");
            s.push_str(&format!(
                "a={}\n[ -f \"$a\" ] && [ -r \"$a\" ] || {{ printf 'shipshape: Source %s not found on the target\\n' \"$a\" >&2; exit 3; }}\n",
                quote(p)
            ));
        }
        Origin::Url(req) => {
            s.push_str("x=\n");
            s.push_str(&prelude());
            s.push_str("trap 'rm -rf -- ${ht:+\"$ht\"} ${tmp:+\"$tmp\"} ${x:+\"$x\"}' EXIT\n");
            s.push_str("tmp=$(mktemp) || exit 1\n");
            s.push_str(&request_script(req, &BodySink::Var("tmp")));
            s.push_str(&format!(
                "if [ \"$hrc\" -ne 0 ] || [ \"$hcode\" != 200 ]; then printf 'shipshape: Failure downloading %s: HTTP %s %s\\n' {} \"$hcode\" \"$(cat \"$ht/e\")\" >&2; exit 4; fi\na=$tmp\n",
                quote(&req.url)
            ));
        }
    }
    s
}

fn stdin_of(origin: &Origin) -> Vec<u8> {
    match origin {
        Origin::Local(b) => b.clone(),
        Origin::Remote(_) => Vec::new(),
        Origin::Url(req) => stdin_config(req),
    }
}

/// Shell text setting `$kind` to `zip` or `tar` from the archive's magic bytes.
const KIND: &str = "if [ \"$(head -c 4 \"$a\" | od -An -c | tr -d ' \\n')\" = 'PK003004' ]; then kind=zip; else kind=tar; fi\n";

fn extra_words(extra: &[String]) -> String {
    extra.iter().map(|e| format!(" {}", quote(e))).collect()
}

/// The read-only query: prints `kind=`, `nounzip`, `creates`, `nodest`, `uid=`, then
/// `member=PATH` lines, `differ=TEXT` lines and (with attributes) `attr=MODE|UID|GID|USER|GROUP|TYPE|PATH`.
fn query_script(
    origin: &Origin,
    dest: &str,
    creates: Option<&str>,
    extra: &[String],
    attrs: bool,
) -> String {
    let mut s = String::new();
    s.push_str(&format!("d={}\n", quote(dest)));
    if let Some(c) = creates {
        s.push_str(&format!(
            "if [ -e {} ]; then echo creates; exit 0; fi\n",
            quote(c)
        ));
    }
    s.push_str("if [ ! -d \"$d\" ]; then echo nodest; exit 0; fi\n");
    s.push_str(&source_script(origin));
    s.push_str("echo \"uid=$(id -u)\"\n");
    s.push_str(KIND);
    s.push_str("echo \"kind=$kind\"\n");
    let ex = extra_words(extra);
    s.push_str(&format!(
        "if [ \"$kind\" = zip ]; then\n\
         \x20 command -v unzip >/dev/null 2>&1 || {{ echo nounzip; exit 0; }}\n\
         \x20 x=$(mktemp -d) || exit 1\n\
         \x20 unzip -qq -o \"$a\" -d \"$x\"{ex} >&2 || {{ echo 'shipshape: unzip could not read the archive' >&2; exit 3; }}\n\
         \x20 (cd \"$x\" && find . -mindepth 1) | sed 's|^\\./||' > \"$x.list\" || exit 1\n\
         \x20 while IFS= read -r m; do\n\
         \x20   echo \"member=$m\"\n\
         \x20   if [ -L \"$x/$m\" ]; then [ -L \"$d/$m\" ] && [ \"$(readlink -- \"$x/$m\")\" = \"$(readlink -- \"$d/$m\")\" ] || echo \"differ=$m: Symlink differs\"\n\
         \x20   elif [ -d \"$x/$m\" ]; then [ -d \"$d/$m\" ] || echo \"differ=$m: Missing directory\"\n\
         \x20   elif [ ! -e \"$d/$m\" ]; then echo \"differ=$m: Missing file\"\n\
         \x20   elif ! cmp -s -- \"$x/$m\" \"$d/$m\"; then echo \"differ=$m: Contents differ\"\n\
         \x20   fi\n\
         \x20 done < \"$x.list\"\n\
         \x20 rm -f -- \"$x.list\"\n\
         else\n\
         \x20 tar -tf \"$a\" > /dev/null 2>&1 || {{ echo 'shipshape: not a tar or zip archive' >&2; exit 3; }}\n\
         \x20 tar -tf \"$a\"{ex} | sed 's|^\\./||; s|/$||' | grep -v '^\\.\\{{0,1\\}}$' | sed 's/^/member=/'\n\
         \x20 LC_ALL=C tar -d -C \"$d\" -f \"$a\"{ex} 2>&1 | sed 's/^/differ=/'\n\
         fi\n"
    ));
    if attrs {
        s.push_str(
            "{ if [ \"$kind\" = zip ]; then (cd \"$x\" && find . -mindepth 1) | sed 's|^\\./||'; else tar -tf \"$a\" | sed 's|^\\./||; s|/$||'; fi; } | while IFS= read -r m; do\n\
             \x20 [ -n \"$m\" ] && [ \"$m\" != . ] || continue\n\
             \x20 if [ -e \"$d/$m\" ] || [ -L \"$d/$m\" ]; then stat -c \"attr=%a|%u|%g|%U|%G|%F|$m\" -- \"$d/$m\"; fi\n\
             done\n",
        );
    }
    s
}

/// The extraction step script.
fn extract_script(origin: &Origin, dest: &str, extra: &[String]) -> String {
    let mut s = format!("d={}\n", quote(dest));
    s.push_str(&source_script(origin));
    s.push_str(KIND);
    let ex = extra_words(extra);
    s.push_str(&format!(
        "if [ \"$kind\" = zip ]; then\n\
         \x20 command -v unzip >/dev/null 2>&1 || {{ echo 'shipshape: unzip is not installed on the target (needed for zip archives)' >&2; exit 3; }}\n\
         \x20 unzip -qq -o \"$a\" -d \"$d\"{ex}\n\
         else\n\
         \x20 tar -x -C \"$d\" -f \"$a\"{ex}\n\
         fi\n"
    ));
    s
}

/// What the query found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Probe {
    /// `creates` exists.
    pub creates: bool,
    /// dest is not a directory.
    pub no_dest: bool,
    /// The archive is a zip and unzip is missing.
    pub no_unzip: bool,
    /// `tar` or `zip`.
    pub kind: String,
    /// The uid running the commands.
    pub uid: Option<u32>,
    /// Archive members (relative paths).
    pub members: Vec<String>,
    /// Difference lines (`path: Mod time differs`).
    pub differ: Vec<String>,
    /// Current attributes of members present in dest.
    pub attrs: Vec<MemberAttrs>,
}

/// The attributes of one unpacked path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberAttrs {
    /// Permission bits.
    pub mode: u32,
    /// Owner uid.
    pub uid: u32,
    /// Group gid.
    pub gid: u32,
    /// Owner name.
    pub user: String,
    /// Group name.
    pub group: String,
    /// Whether it is a directory.
    pub is_dir: bool,
    /// Whether it is a symlink.
    pub is_link: bool,
    /// Path relative to dest.
    pub path: String,
}

/// Parses the output of the query script.
pub fn parse_probe(stdout: &str) -> Probe {
    let mut p = Probe::default();
    for line in stdout.lines() {
        match line {
            "creates" => p.creates = true,
            "nodest" => p.no_dest = true,
            "nounzip" => p.no_unzip = true,
            _ => {
                if let Some(v) = line.strip_prefix("kind=") {
                    p.kind = v.to_string();
                } else if let Some(v) = line.strip_prefix("uid=") {
                    p.uid = v.trim().parse().ok();
                } else if let Some(v) = line.strip_prefix("member=") {
                    p.members.push(v.to_string());
                } else if let Some(v) = line.strip_prefix("differ=") {
                    p.differ.push(v.to_string());
                } else if let Some(v) = line.strip_prefix("attr=") {
                    let f: Vec<&str> = v.splitn(7, '|').collect();
                    if let [mode, uid, gid, user, group, kind, path] = f[..]
                        && let (Ok(mode), Ok(uid), Ok(gid)) = (
                            u32::from_str_radix(mode, 8),
                            uid.parse::<u32>(),
                            gid.parse::<u32>(),
                        )
                    {
                        p.attrs.push(MemberAttrs {
                            mode,
                            uid,
                            gid,
                            user: user.to_string(),
                            group: group.to_string(),
                            is_dir: kind == "directory",
                            is_link: kind == "symbolic link",
                            path: path.to_string(),
                        });
                    }
                }
            }
        }
    }
    p
}

/// The differences that matter, like Ansible: owner/group differences only when running as
/// root without owner/group set, mode differences only without a mode set.
pub fn relevant_differences(
    lines: &[String],
    root: bool,
    owner_set: bool,
    group_set: bool,
    mode_set: bool,
) -> Vec<String> {
    lines
        .iter()
        .filter(|l| {
            if l.contains("Uid differs") {
                root && !owner_set
            } else if l.contains("Gid differs") {
                root && !group_set
            } else if l.contains("Mode differs") {
                !mode_set
            } else {
                [
                    "Mod time differs",
                    "Size differs",
                    "Contents differ",
                    "Symlink differs",
                    "File type differs",
                    "No such file or directory",
                    "Missing file",
                    "Missing directory",
                    "Not a directory",
                    "does not exist",
                ]
                .iter()
                .any(|k| l.contains(k))
            }
        })
        .cloned()
        .collect()
}

fn chmod_arg(m: &ModeArg) -> Result<String, ModuleError> {
    match m {
        ModeArg::Octal(o) => Ok(chmod_octal(*o)),
        ModeArg::Symbolic(s) => Ok(canonical_symbolic(s)),
        ModeArg::Preserve => Err(ModuleError::Args(
            "unarchive: mode 'preserve' is not supported here".into(),
        )),
    }
}

/// The requested attributes.
struct WantAttrs {
    mode: Option<ModeArg>,
    owner: Option<String>,
    group: Option<String>,
}

impl WantAttrs {
    fn any(&self) -> bool {
        self.mode.is_some() || self.owner.is_some() || self.group.is_some()
    }

    /// The chown/chmod shell text for the given member paths (all under `$d`).
    fn script(&self, dest: &str, paths: &[String]) -> Result<String, ModuleError> {
        let mut s = format!("d={}\ncd \"$d\" || exit 1\n", quote(dest));
        let own = match (&self.owner, &self.group) {
            (None, None) => None,
            (Some(o), None) => Some(o.clone()),
            (None, Some(g)) => Some(format!(":{g}")),
            (Some(o), Some(g)) => Some(format!("{o}:{g}")),
        };
        for p in paths {
            let q = quote(&format!("./{p}"));
            if let Some(o) = &own {
                s.push_str(&format!("chown -h -- {} {q} || exit 1\n", quote(o)));
            }
            if let Some(m) = &self.mode {
                s.push_str(&format!(
                    "[ -L {q} ] || chmod {} -- {q} || exit 1\n",
                    chmod_arg(m)?
                ));
            }
        }
        Ok(s)
    }

    /// Members whose current attributes differ from the requested ones.
    fn differing(&self, attrs: &[MemberAttrs]) -> Result<Vec<(String, String)>, ModuleError> {
        let mut out = Vec::new();
        for a in attrs {
            let mut why = Vec::new();
            if let Some(m) = &self.mode
                && !a.is_link
            {
                let want = m
                    .resolve(a.mode, a.is_dir)
                    .map_err(|e| ModuleError::Args(format!("unarchive: mode: {e}")))?;
                if want != a.mode {
                    why.push(format!(
                        "mode {} -> {}",
                        mode_string(a.mode),
                        mode_string(want)
                    ));
                }
            }
            if let Some(o) = &self.owner
                && !same_principal(o, a.uid, &a.user)
            {
                why.push(format!("owner {} -> {o}", a.user));
            }
            if let Some(g) = &self.group
                && !same_principal(g, a.gid, &a.group)
            {
                why.push(format!("group {} -> {g}", a.group));
            }
            if !why.is_empty() {
                out.push((a.path.clone(), why.join(", ")));
            }
        }
        Ok(out)
    }
}

#[async_trait::async_trait]
impl Module for Unarchive {
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }

    async fn plan(&self, ctx: &TaskCtx<'_>, args: &ResultMap) -> Result<Plan, ModuleError> {
        let a = Args::parse(&SPEC, args)?;
        let src = a.req_str("src")?;
        let dest = a.req_str("dest")?;
        let remote_src = a.bool("remote_src", false)?;
        let creates = a.str("creates")?;
        let extra = a.list("extra_opts")?.unwrap_or_default();
        let want = WantAttrs {
            mode: a.mode("mode")?,
            owner: a.str("owner")?,
            group: a.str("group")?,
        };
        if let Some(m) = &want.mode {
            chmod_arg(m)?;
        }
        let origin = if is_url(&src) {
            let mut req = HttpRequest::get(&src);
            req.timeout = 60;
            req.validate_certs = a.bool("validate_certs", true)?;
            Origin::Url(req)
        } else if remote_src {
            Origin::Remote(src.clone())
        } else {
            let path = ctx.controller.find_file("files", &src)?;
            let bytes = std::fs::read(&path).map_err(|e| {
                ModuleError::failed(format!("unarchive: cannot read {}: {e}", path.display()))
            })?;
            Origin::Local(bytes)
        };
        let script = query_script(&origin, &dest, creates.as_deref(), &extra, want.any());
        let mut req = ExecRequest::new(script).stdin(stdin_of(&origin));
        req.timeout = Some(Duration::from_secs(600));
        let out = ctx.query_with(req).await?;
        if !out.success() {
            let e = out.stderr_str();
            return Err(ModuleError::failed(format!(
                "unarchive: {}",
                e.trim().trim_start_matches("shipshape: ")
            )));
        }
        let probe = parse_probe(&out.stdout_str());
        let mut result = ResultMap::new();
        result.insert("dest".into(), dest.clone().into());
        result.insert("src".into(), src.clone().into());
        if probe.creates {
            result.insert(
                "msg".into(),
                format!(
                    "skipped, since {} exists",
                    creates.clone().unwrap_or_default()
                )
                .into(),
            );
            return Ok(Plan::Unchanged { result });
        }
        if probe.no_dest {
            return Err(ModuleError::failed(format!(
                "unarchive: dest '{dest}' must be an existing dir"
            )));
        }
        if probe.no_unzip {
            return Err(ModuleError::failed(
                "unarchive: unzip is not installed on the target (needed for zip archives); install the unzip package first",
            ));
        }
        result.insert(
            "handler".into(),
            if probe.kind == "zip" {
                "ZipArchive"
            } else {
                "TgzArchive"
            }
            .into(),
        );
        result.insert("state".into(), "directory".into());
        if a.bool("list_files", false)? {
            result.insert(
                "files".into(),
                Value::Array(probe.members.iter().cloned().map(Value::from).collect()),
            );
        }
        let differ = relevant_differences(
            &probe.differ,
            probe.uid == Some(0),
            want.owner.is_some(),
            want.group.is_some(),
            want.mode.is_some(),
        );
        let mut steps: Vec<Step> = Vec::new();
        let mut diff = Vec::new();
        if !differ.is_empty() {
            let mut req =
                ExecRequest::new(extract_script(&origin, &dest, &extra)).stdin(stdin_of(&origin));
            req.timeout = Some(Duration::from_secs(600));
            steps.push(ctx.step_with(format!("unpack {src} into {dest}"), req));
            let mut after = String::new();
            for d in &differ {
                after.push_str(d);
                after.push('\n');
            }
            diff.push(Diff::new(
                &format!("{dest} (unpacked from {src})"),
                "",
                after,
            ));
            if want.any() {
                let script = want.script(&dest, &probe.members)?;
                steps.push(ctx.step(format!("set attributes under {dest}"), script));
            }
        } else if want.any() {
            let changes = want.differing(&probe.attrs)?;
            if !changes.is_empty() {
                let paths: Vec<String> = changes.iter().map(|(p, _)| p.clone()).collect();
                let text: String = changes
                    .iter()
                    .map(|(p, why)| format!("{p}: {why}\n"))
                    .collect();
                diff.push(Diff::new(&format!("{dest} (attributes)"), "", text));
                steps.push(ctx.step(
                    format!("set attributes under {dest}"),
                    want.script(&dest, &paths)?,
                ));
            }
        }
        if steps.is_empty() {
            return Ok(Plan::Unchanged { result });
        }
        Ok(Plan::Change {
            diff,
            steps,
            result,
        })
    }

    fn finish(&self, result: &mut ResultMap, outputs: &[ExecOutput]) -> Result<(), ModuleError> {
        if let Some(o) = outputs.first() {
            let mut ex = ResultMap::new();
            ex.insert("rc".into(), o.status.into());
            ex.insert("out".into(), o.stdout_str().into());
            ex.insert("err".into(), o.stderr_str().into());
            result.insert("extract_results".into(), Value::Object(ex));
        }
        match outputs.iter().find(|o| !o.success()) {
            None => Ok(()),
            Some(o) => {
                let e = o.stderr_str();
                let msg = format!(
                    "unarchive failed (rc={}): {}",
                    o.status,
                    e.trim().trim_start_matches("shipshape: ")
                );
                let mut r = result.clone();
                r.insert("rc".into(), o.status.into());
                Err(ModuleError::Failed { msg, result: r })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_parses_tar_compare_output() {
        let out = "uid=0\nkind=tar\nmember=app\nmember=app/a.txt\ndiffer=app/a.txt: Mod time differs\ndiffer=app/a.txt: Size differs\ndiffer=tar: app/b.txt: Warning: Cannot stat: No such file or directory\ndiffer=app: Mode differs\nattr=755|0|0|root|root|directory|app\n";
        let p = parse_probe(out);
        assert_eq!(p.kind, "tar");
        assert_eq!(p.members, vec!["app", "app/a.txt"]);
        assert_eq!(p.differ.len(), 4);
        assert_eq!(p.attrs[0].mode, 0o755);
        assert!(p.attrs[0].is_dir);
        let d = relevant_differences(&p.differ, true, false, false, true);
        assert_eq!(d.len(), 3, "{d:?}");
        let d = relevant_differences(&["x: Uid differs".to_string()], false, false, false, false);
        assert!(d.is_empty());
        assert!(parse_probe("nounzip\n").no_unzip);
    }
}

#[cfg(test)]
mod host_tests {
    use super::*;
    use crate::modules::testutil::{Harness, mode_of, read};
    use serde_json::json;

    fn make_archives(h: &Harness) {
        let src = h.dir.path().join("tree");
        std::fs::create_dir_all(src.join("app/bin")).unwrap();
        std::fs::write(src.join("app/README"), "hello\n").unwrap();
        std::fs::write(src.join("app/bin/run"), "#!/bin/sh\necho run\n").unwrap();
        let files = h.controller.base.join("files");
        std::fs::create_dir_all(&files).unwrap();
        let st = std::process::Command::new("tar")
            .arg("-czf")
            .arg(files.join("app.tar.gz"))
            .arg("-C")
            .arg(&src)
            .arg("app")
            .status()
            .unwrap();
        assert!(st.success());
        let st = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "cd {} && zip -qr {} app",
                src.display(),
                files.join("app.zip").display()
            ))
            .status()
            .unwrap();
        assert!(st.success() || !files.join("app.zip").exists());
    }

    #[tokio::test]
    async fn unpacks_tar_and_zip_idempotently() {
        let h = Harness::new();
        make_archives(&h);
        let dest = h.path("out");
        std::fs::create_dir_all(&dest).unwrap();
        let args = json!({"src": "app.tar.gz", "dest": dest});
        h.converge(&Unarchive, &args).await;
        assert_eq!(read(&format!("{dest}/app/README")), "hello\n");
        // A changed file is put back.
        std::fs::write(format!("{dest}/app/README"), "edited\n").unwrap();
        h.converge(&Unarchive, &args).await;
        assert_eq!(read(&format!("{dest}/app/README")), "hello\n");
        // Attributes apply to every member and converge.
        let args = json!({"src": "app.tar.gz", "dest": dest, "mode": "u=rwX,g=rX,o="});
        h.converge(&Unarchive, &args).await;
        assert_eq!(mode_of(&format!("{dest}/app/README")), 0o640);
        assert_eq!(mode_of(&format!("{dest}/app/bin")), 0o750);
        // creates skips.
        let r = h
            .assert_unchanged(
                &Unarchive,
                &json!({"src": "app.tar.gz", "dest": h.path("missing"), "creates": dest}),
            )
            .await;
        assert!(r["msg"].as_str().unwrap().contains("skipped"));
        // dest must exist.
        let err = h
            .apply(
                &Unarchive,
                &json!({"src": "app.tar.gz", "dest": h.path("missing")}),
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("must be an existing dir"), "{err}");
        // remote_src zip.
        let zip = h.controller.base.join("files/app.zip");
        if zip.exists() {
            let zdest = h.path("z");
            std::fs::create_dir_all(&zdest).unwrap();
            let args = json!({"src": zip.display().to_string(), "dest": zdest, "remote_src": true});
            h.converge(&Unarchive, &args).await;
            assert_eq!(
                read(&format!("{zdest}/app/bin/run")),
                "#!/bin/sh\necho run\n"
            );
        }
    }
}
