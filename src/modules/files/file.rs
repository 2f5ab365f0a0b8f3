//! `file`: the state of a path (file attributes, directory, symlink, hard link, absent,
//! touch) with mode/owner/group, recursively for directories, and access/modification times.
//! One query reads the path, the link source and (when needed) the tree below it.

use super::atomic::{
    self, AttrChange, AttrPlan, Creator, FileState, Kind, QueryOpts, STAT_FORMAT, Stat, Wanted,
    attrs_result, base_name, chmod_octal, parent_dir, parse_query, parse_stat_fields,
    part_separator, plan_attrs, query_files_script, same_principal, split_parts,
};
use crate::core::{
    Diff, Module, ModuleError, ModuleSpec, ParamKind, ParamSpec, Plan, ResultMap, Sh, Step,
    TaskCtx, quote,
};
use crate::modules::args::{Args, ModeArg, Rules, canonical_symbolic, mode_string};

/// The `file` module.
pub struct File;

/// Parameters of `file`.
pub static SPEC: ModuleSpec = ModuleSpec {
    name: "file",
    doc: "Manages a path: attributes, directories, symlinks, hard links, removal, touch.",
    params: &[
        ParamSpec::new("path", ParamKind::Path, "The path to manage.")
            .required()
            .aliases(&["dest", "name"]),
        ParamSpec::new(
            "state",
            ParamKind::Str,
            "file (default; attributes only), directory, link, hard, absent or touch.",
        )
        .choices(&["file", "directory", "link", "hard", "absent", "touch"]),
        ParamSpec::new(
            "mode",
            ParamKind::Mode,
            "Mode: \"0644\" or symbolic (u=rwX,g=rX,o=).",
        ),
        ParamSpec::new("owner", ParamKind::Str, "Owner name or uid."),
        ParamSpec::new("group", ParamKind::Str, "Group name or gid."),
        ParamSpec::new(
            "recurse",
            ParamKind::Bool,
            "With state=directory: apply mode/owner/group to everything below.",
        ),
        ParamSpec::new(
            "src",
            ParamKind::Path,
            "Target of a link (state=link or hard); relative to the link's directory for symlinks.",
        ),
        ParamSpec::new(
            "force",
            ParamKind::Bool,
            "Replace a file or empty directory with a link; create links to missing targets.",
        ),
        ParamSpec::new(
            "access_time",
            ParamKind::Str,
            "preserve, now, or a time in access_time_format.",
        ),
        ParamSpec::new(
            "access_time_format",
            ParamKind::Str,
            "strftime format of access_time (default %Y%m%d%H%M.%S).",
        ),
        ParamSpec::new(
            "modification_time",
            ParamKind::Str,
            "preserve, now, or a time in modification_time_format.",
        ),
        ParamSpec::new(
            "modification_time_format",
            ParamKind::Str,
            "strftime format of modification_time (default %Y%m%d%H%M.%S).",
        ),
        ParamSpec::new(
            "unsafe_writes",
            ParamKind::Bool,
            "Accepted for compatibility; ignored.",
        ),
    ],
    free_form: false,
};

/// Argument rules of `file`.
pub const RULES: Rules = Rules::NONE;

/// A requested access or modification time.
#[derive(Clone, Debug, PartialEq, Eq)]
enum TimeSpec {
    Preserve,
    Now,
    /// Broken-down local time on the target: year, month, day, hour, minute, second.
    At([i32; 6]),
}

/// Parses a time with a small strptime (`%Y %m %d %H %M %S %%` and literal characters).
fn strptime(value: &str, format: &str) -> Result<[i32; 6], String> {
    let mut out = [1900, 1, 1, 0, 0, 0];
    let v = value.as_bytes();
    let mut vi = 0;
    let mut fmt = format.chars();
    let bad = || format!("time {value:?} does not match format {format:?}");
    while let Some(c) = fmt.next() {
        if c != '%' {
            let mut buf = [0u8; 4];
            let lit = c.encode_utf8(&mut buf).as_bytes();
            if !v[vi..].starts_with(lit) {
                return Err(bad());
            }
            vi += lit.len();
            continue;
        }
        let (slot, width) = match fmt.next() {
            Some('Y') => (0, 4),
            Some('m') => (1, 2),
            Some('d') => (2, 2),
            Some('H') => (3, 2),
            Some('M') => (4, 2),
            Some('S') => (5, 2),
            Some('%') => {
                if v.get(vi) != Some(&b'%') {
                    return Err(bad());
                }
                vi += 1;
                continue;
            }
            other => {
                return Err(format!(
                    "time format directive %{} is not supported (use %Y %m %d %H %M %S)",
                    other.map(String::from).unwrap_or_default()
                ));
            }
        };
        let digits: String = v[vi..]
            .iter()
            .take(width)
            .take_while(|b| b.is_ascii_digit())
            .map(|&b| b as char)
            .collect();
        if digits.is_empty() {
            return Err(bad());
        }
        vi += digits.len();
        out[slot] = digits.parse().map_err(|_| bad())?;
    }
    if vi != v.len() {
        return Err(bad());
    }
    let [_, mo, d, h, mi, s] = out;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 61 {
        return Err(bad());
    }
    Ok(out)
}

fn time_spec(
    value: Option<String>,
    format: &str,
    default: TimeSpec,
) -> Result<TimeSpec, ModuleError> {
    match value.as_deref() {
        None => Ok(default),
        Some("preserve") => Ok(TimeSpec::Preserve),
        Some("now") => Ok(TimeSpec::Now),
        Some(v) => strptime(v, format)
            .map(TimeSpec::At)
            .map_err(ModuleError::Args),
    }
}

/// `touch -t` text for a broken-down time: `CCYYMMDDhhmm.SS`.
fn touch_stamp(t: &[i32; 6]) -> String {
    format!(
        "{:04}{:02}{:02}{:02}{:02}.{:02}",
        t[0], t[1], t[2], t[3], t[4], t[5]
    )
}

/// `date -d` text for a broken-down time.
fn date_text(t: &[i32; 6]) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t[0], t[1], t[2], t[3], t[4], t[5]
    )
}

/// Ansible's name for the kind of thing at a path.
fn prev_state(st: &FileState) -> &'static str {
    match &st.lstat {
        None => "absent",
        Some(s) => match s.kind {
            Kind::Link => "link",
            Kind::Dir => "directory",
            Kind::File if s.nlink > 1 => "hard",
            _ => "file",
        },
    }
}

/// The path and each missing-able ancestor, top first (`a/b/c` -> `a`, `a/b`, `a/b/c`).
fn ancestors(path: &str) -> Vec<String> {
    let abs = path.starts_with('/');
    let mut cur = String::new();
    let mut out = Vec::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        if abs || !cur.is_empty() {
            cur.push('/');
        }
        cur.push_str(part);
        out.push(cur.clone());
    }
    out
}

/// One entry below a directory (lstat + name).
#[derive(Clone, Debug, PartialEq, Eq)]
struct TreeEntry {
    stat: Stat,
    name: String,
}

/// What the extra part of the query reported.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Extra {
    /// Index (in [`ancestors`]) of the first missing ancestor.
    missing: Option<usize>,
    /// Entries below the directory.
    tree: Vec<TreeEntry>,
    /// The directory has entries (link conversion).
    nonempty: bool,
    /// Requested times as epoch seconds on the target.
    epoch_m: Option<i64>,
    epoch_a: Option<i64>,
}

fn parse_extra(text: &str) -> Result<Extra, String> {
    let mut e = Extra::default();
    for line in text.lines() {
        let (k, v) = line.split_once('=').unwrap_or((line, ""));
        match k {
            "missing" => e.missing = v.parse().ok(),
            "nonempty" => e.nonempty = true,
            "epoch_m" => e.epoch_m = v.trim().parse().ok(),
            "epoch_a" => e.epoch_a = v.trim().parse().ok(),
            "tree" => {
                // STAT_FORMAT has 11 fields; the name (which may contain '|') follows.
                let mut idx = 0;
                let mut cut = None;
                for (i, ch) in v.char_indices() {
                    if ch == '|' {
                        idx += 1;
                        if idx == 11 {
                            cut = Some(i);
                            break;
                        }
                    }
                }
                let Some(cut) = cut else { continue };
                if let Some(stat) = parse_stat_fields(&v[..cut]) {
                    e.tree.push(TreeEntry {
                        stat,
                        name: v[cut + 1..].to_string(),
                    });
                }
            }
            _ => {}
        }
    }
    Ok(e)
}

/// What the module needs to know, from the parameters.
struct Params {
    path: String,
    state: Option<String>,
    recurse: bool,
    src: Option<String>,
    force: bool,
    want: Wanted,
    mtime: Option<String>,
    atime: Option<String>,
    mtime_format: String,
    atime_format: String,
}

impl Params {
    fn from_args(a: &Args<'_>) -> Result<Self, ModuleError> {
        let want = Wanted {
            mode: a.mode("mode")?,
            owner: a.str("owner")?,
            group: a.str("group")?,
        };
        if want.mode == Some(ModeArg::Preserve) {
            return Err(ModuleError::Args(
                "file: mode=preserve is only valid for copy and template".into(),
            ));
        }
        Ok(Params {
            path: a.req_str("path")?,
            state: a.str("state")?,
            recurse: a.bool("recurse", false)?,
            src: a.str("src")?,
            force: a.bool("force", false)?,
            want,
            mtime: a.str("modification_time")?,
            atime: a.str("access_time")?,
            mtime_format: a
                .str("modification_time_format")?
                .unwrap_or_else(|| "%Y%m%d%H%M.%S".into()),
            atime_format: a
                .str("access_time_format")?
                .unwrap_or_else(|| "%Y%m%d%H%M.%S".into()),
        })
    }

    /// The link source as seen from the target's cwd.
    fn abs_src(&self, state: &str) -> Option<String> {
        let src = self.src.as_ref()?;
        if state == "link" && !src.starts_with('/') {
            Some(format!(
                "{}/{src}",
                parent_dir(&self.path).trim_end_matches('/')
            ))
        } else {
            Some(src.clone())
        }
    }
}

/// The one query script of the file module.
fn query_script(p: &Params, path: &str, src_q: Option<&str>, dir_child: Option<String>) -> String {
    let opts = QueryOpts {
        sha1: false,
        ..QueryOpts::default()
    };
    let path_opts = QueryOpts {
        sha1: false,
        dir_child,
        ..QueryOpts::default()
    };
    let mut items: Vec<(&str, &QueryOpts)> = vec![(path, &path_opts)];
    if let Some(s) = src_q {
        items.push((s, &opts));
    }
    let mut s = query_files_script(&items);
    s.push_str(&part_separator());
    let state = p.state.as_deref();
    if matches!(state, Some("directory")) || (state.is_none() && p.recurse) {
        s.push_str("i=0\nfor a in");
        for anc in ancestors(path) {
            s.push(' ');
            s.push_str(&quote(&anc));
        }
        s.push_str("; do if [ ! -e \"$a\" ]; then echo missing=$i; break; fi; i=$((i+1)); done\n");
    }
    if p.recurse || state == Some("absent") {
        let follow = if state == Some("absent") {
            "[ -L \"$P\" ] && P="
        } else {
            "[ -L \"$P\" ] && P=$(readlink -f -- \"$P\")"
        };
        s.push_str(&format!(
            "P={}\n{follow}\nif [ -n \"$P\" ] && [ -d \"$P\" ] && [ ! -L \"$P\" ]; then find \"$P\" -mindepth 1 -exec stat -c 'tree={STAT_FORMAT}|%n' -- {{}} +; fi\n",
            quote(path)
        ));
    }
    if state == Some("link") {
        s.push_str(&format!(
            "P={}\nif [ -d \"$P\" ] && [ ! -L \"$P\" ] && [ -n \"$(ls -A -- \"$P\")\" ]; then echo nonempty; fi\n",
            quote(path)
        ));
    }
    for (key, value, format) in [
        ("epoch_m", &p.mtime, &p.mtime_format),
        ("epoch_a", &p.atime, &p.atime_format),
    ] {
        if let Some(v) = value.as_deref().filter(|v| *v != "now" && *v != "preserve")
            && let Ok(t) = strptime(v, format)
        {
            s.push_str(&format!(
                "printf '{key}=%s\\n' \"$(date -d {} +%s)\"\n",
                quote(&date_text(&t))
            ));
        }
    }
    s.push_str("true\n");
    s
}

/// The time part of a plan: the diff and the touch command for `path`.
fn plan_times(
    path: &str,
    cur: Option<&Stat>,
    mtime: &TimeSpec,
    atime: &TimeSpec,
    extra: &Extra,
) -> (Vec<Diff>, Vec<String>) {
    let mut diffs = Vec::new();
    let mut cmds = Vec::new();
    for (flag, spec, cur_val, want_epoch, name) in [
        ("-m", mtime, cur.map(|s| s.mtime), extra.epoch_m, "mtime"),
        ("-a", atime, cur.map(|s| s.atime), extra.epoch_a, "atime"),
    ] {
        match spec {
            TimeSpec::Preserve => {}
            TimeSpec::Now => {
                cmds.push(
                    Sh::new("touch")
                        .arg("-c")
                        .arg(flag)
                        .arg("--")
                        .arg(path)
                        .build(),
                );
            }
            TimeSpec::At(t) => {
                if cur_val.is_some() && cur_val == want_epoch {
                    continue;
                }
                diffs.push(Diff::attr(
                    path,
                    name,
                    &cur_val.map(|v| v.to_string()).unwrap_or_default(),
                    &want_epoch
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| date_text(t)),
                ));
                cmds.push(
                    Sh::new("touch")
                        .arg("-c")
                        .arg(flag)
                        .arg("-t")
                        .arg(touch_stamp(t))
                        .arg("--")
                        .arg(path)
                        .build(),
                );
            }
        }
    }
    (diffs, cmds)
}

fn base_result(key: &str, path: &str, state: &str) -> ResultMap {
    let mut r = ResultMap::new();
    r.insert(key.into(), path.into());
    r.insert("state".into(), state.into());
    r
}

fn failed(msg: String, path: &str, state: &str) -> ModuleError {
    ModuleError::Failed {
        msg,
        result: base_result("path", path, state),
    }
}

/// Assembles a plan from its pieces.
fn finish_plan(diff: Vec<Diff>, steps: Vec<Step>, result: ResultMap) -> Plan {
    if steps.is_empty() {
        Plan::Unchanged { result }
    } else {
        Plan::Change {
            diff,
            steps,
            result,
        }
    }
}

/// The script applying attributes to a path just created (owner/group/mode as requested).
fn new_attr_script(path: &str, want: &Wanted, mode: u32) -> String {
    let change = AttrChange {
        mode: want.mode.as_ref().map(|_| chmod_octal(mode)),
        owner: want.owner.clone(),
        group: want.group.clone(),
        recurse: false,
        no_deref: false,
    };
    atomic::attr_script(path, &change)
}

/// Plans attributes (and times) of an existing followed target, adding to diff/steps.
#[allow(clippy::too_many_arguments)]
fn existing_attrs(
    ctx: &TaskCtx<'_>,
    target: &str,
    stat: &Stat,
    want: &Wanted,
    times: (&TimeSpec, &TimeSpec),
    extra: &Extra,
    diff: &mut Vec<Diff>,
    steps: &mut Vec<Step>,
) -> Result<AttrPlan, ModuleError> {
    let attrs = plan_attrs(target, Some(stat), None, want, stat.kind == Kind::Dir, None)?;
    diff.extend(attrs.diffs.iter().cloned());
    steps.extend(atomic::attr_steps(ctx, target, &attrs.change));
    let (tdiff, tcmds) = plan_times(target, Some(stat), times.0, times.1, extra);
    diff.extend(tdiff);
    if !tcmds.is_empty() {
        steps.push(ctx.step(format!("set times of {target}"), tcmds.join(" && ")));
    }
    Ok(attrs)
}

/// Recursive attribute changes below a directory: the diff of entries that change and the
/// chmod/chown arguments needed.
fn plan_recursive(
    root: &str,
    entries: &[TreeEntry],
    want: &Wanted,
) -> Result<(Option<Diff>, AttrChange), ModuleError> {
    let mut before = String::new();
    let mut after = String::new();
    let mut change = AttrChange {
        recurse: true,
        ..Default::default()
    };
    let mut sorted: Vec<&TreeEntry> = entries.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    for e in sorted {
        let s = &e.stat;
        let mut b = Vec::new();
        let mut a = Vec::new();
        if s.kind != Kind::Link
            && let Some(m) = &want.mode
        {
            let new = m
                .resolve(s.mode, s.kind == Kind::Dir)
                .map_err(|e| ModuleError::Args(format!("mode: {e}")))?;
            if new != s.mode {
                b.push(format!("mode {}", mode_string(s.mode)));
                a.push(format!("mode {}", mode_string(new)));
                change.mode = Some(match m {
                    ModeArg::Symbolic(sym) => canonical_symbolic(sym),
                    _ => chmod_octal(new),
                });
            }
        }
        if let Some(o) = &want.owner
            && !same_principal(o, s.uid, &s.owner)
        {
            b.push(format!("owner {}", s.owner));
            a.push(format!("owner {o}"));
            change.owner = Some(o.clone());
        }
        if let Some(g) = &want.group
            && !same_principal(g, s.gid, &s.group)
        {
            b.push(format!("group {}", s.group));
            a.push(format!("group {g}"));
            change.group = Some(g.clone());
        }
        if !b.is_empty() {
            before.push_str(&format!("{}: {}\n", e.name, b.join(", ")));
            after.push_str(&format!("{}: {}\n", e.name, a.join(", ")));
        }
    }
    let diff =
        (!before.is_empty()).then(|| Diff::new(&format!("{root} (recursive)"), before, after));
    Ok((diff, change))
}

#[async_trait::async_trait]
impl Module for File {
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }

    async fn plan(&self, ctx: &TaskCtx<'_>, args: &ResultMap) -> Result<Plan, ModuleError> {
        let a = Args::parse(&SPEC, args)?;
        let p = Params::from_args(&a)?;
        if let Some(s) = p.state.as_deref() {
            if p.recurse && s != "directory" {
                return Err(ModuleError::Args(
                    "file: recurse option requires state to be 'directory'".into(),
                ));
            }
            if p.src.is_some() && s != "link" && s != "hard" {
                return Err(ModuleError::Args(
                    "file: src option requires state to be 'link' or 'hard'".into(),
                ));
            }
        } else if p.src.is_some() {
            return Err(ModuleError::Args(
                "file: src option requires state to be 'link' or 'hard'".into(),
            ));
        }
        let state_hint = p.state.clone().unwrap_or_default();
        let src_q = p.abs_src(&state_hint);
        // A hard link into an existing directory goes inside it, under src's basename.
        let dir_child = match (state_hint.as_str(), &p.src) {
            ("hard", Some(src)) => Some(base_name(src).to_string()),
            _ => None,
        };
        let script = query_script(&p, &p.path, src_q.as_deref(), dir_child.clone());
        let out = ctx.query(script).await?;
        if !out.success() {
            return Err(ModuleError::failed(format!(
                "cannot inspect {}: {}",
                p.path,
                out.stderr_str().trim()
            )));
        }
        let n = if src_q.is_some() { 3 } else { 2 };
        let inspect_err =
            |e: String| ModuleError::failed(format!("cannot inspect {}: {e}", p.path));
        let parts = split_parts(&out.stdout, n).map_err(inspect_err)?;
        let opts = QueryOpts::default();
        let parse = |b: &[u8]| parse_query(b, &opts).map_err(inspect_err);
        let st = parse(parts[0])?;
        let path = match (&dir_child, st.into_dir) {
            (Some(c), true) => format!("{}/{c}", p.path.trim_end_matches('/')),
            _ => p.path.clone(),
        };
        let src_st = if src_q.is_some() {
            Some(parse(parts[1])?)
        } else {
            None
        };
        let extra = parse_extra(&String::from_utf8_lossy(parts[n - 1])).map_err(inspect_err)?;

        let prev = prev_state(&st);
        let state = match p.state.as_deref() {
            Some(s) => s.to_string(),
            None if prev != "absent" => prev.to_string(),
            None if p.recurse => "directory".into(),
            None => "file".into(),
        };
        if p.recurse && state != "directory" {
            return Err(ModuleError::Args(
                "file: recurse option requires state to be 'directory'".into(),
            ));
        }
        let default_time = if state == "touch" {
            TimeSpec::Now
        } else {
            TimeSpec::Preserve
        };
        let mtime = time_spec(p.mtime.clone(), &p.mtime_format, default_time.clone())?;
        let atime = time_spec(p.atime.clone(), &p.atime_format, default_time)?;
        let plan_ctx = PlanCtx {
            ctx,
            p: &p,
            path: &path,
            st: &st,
            src_st: src_st.as_ref(),
            extra: &extra,
            prev,
            mtime: &mtime,
            atime: &atime,
        };
        match state.as_str() {
            "file" => plan_ctx.file(),
            "directory" => plan_ctx.directory(),
            "absent" => plan_ctx.absent(),
            "touch" => plan_ctx.touch(),
            "link" => plan_ctx.link(),
            "hard" => plan_ctx.hard(),
            other => Err(ModuleError::Args(format!("file: unknown state {other:?}"))),
        }
    }
}

/// Everything the per-state planners share.
struct PlanCtx<'a, 'c> {
    ctx: &'a TaskCtx<'c>,
    p: &'a Params,
    path: &'a str,
    st: &'a FileState,
    src_st: Option<&'a FileState>,
    extra: &'a Extra,
    prev: &'static str,
    mtime: &'a TimeSpec,
    atime: &'a TimeSpec,
}

impl PlanCtx<'_, '_> {
    /// The followed target of the path (its realpath when it is a symlink).
    fn followed(&self) -> (String, Option<&Stat>) {
        match (&self.st.realpath, self.st.is_link()) {
            (Some(rp), true) => (rp.clone(), self.st.stat.as_ref()),
            _ => (self.path.to_string(), self.st.stat.as_ref()),
        }
    }

    fn file(&self) -> Result<Plan, ModuleError> {
        let (target, stat) = self.followed();
        let Some(stat) = stat.filter(|s| s.kind != Kind::Dir) else {
            let what = match self.st.stat.as_ref().map(|s| s.kind) {
                Some(Kind::Dir) => "directory",
                _ => "absent",
            };
            return Err(failed(
                format!("file ({}) is {what}, cannot continue", self.path),
                self.path,
                what,
            ));
        };
        let mut diff = Vec::new();
        let mut steps = Vec::new();
        let attrs = existing_attrs(
            self.ctx,
            &target,
            stat,
            &self.p.want,
            (self.mtime, self.atime),
            self.extra,
            &mut diff,
            &mut steps,
        )?;
        let mut result = base_result("path", &target, "file");
        result.insert("size".into(), stat.size.into());
        attrs_result(&mut result, &attrs);
        Ok(finish_plan(diff, steps, result))
    }

    fn directory(&self) -> Result<Plan, ModuleError> {
        let (target, stat) = self.followed();
        let mut diff = Vec::new();
        let mut steps = Vec::new();
        let mut result = base_result("path", &target, "directory");
        match stat {
            None => {
                if self.st.is_link() {
                    return Err(failed(
                        format!("{} is a symlink to a missing target", self.path),
                        self.path,
                        "link",
                    ));
                }
                let ancestors = ancestors(self.path);
                let first = self
                    .extra
                    .missing
                    .unwrap_or(ancestors.len().saturating_sub(1));
                let creator: Option<&Creator> = self.st.creator.as_ref();
                let attrs = plan_attrs(&target, None, creator, &self.p.want, true, None)?;
                let mut script = String::new();
                for dir in &ancestors[first.min(ancestors.len())..] {
                    let mode = match &self.p.want.mode {
                        Some(m) => m
                            .resolve(creator.map(Creator::dir_mode).unwrap_or(0o755), true)
                            .map_err(|e| ModuleError::Args(format!("mode: {e}")))?,
                        None => attrs.mode,
                    };
                    // Another writer may create the same parent at the same moment: that is
                    // fine, as long as a directory is there afterwards.
                    let exists = Sh::new("[").arg("-d").arg(dir).raw("]").build();
                    let set = new_attr_script(dir, &self.p.want, mode);
                    let line = if self.p.want.mode.is_some()
                        && self.p.want.owner.is_none()
                        && self.p.want.group.is_none()
                    {
                        // Only a mode to set: `mkdir -m` sets it as chmod would, in the same
                        // process; a directory another writer created gets the chmod.
                        let mk = Sh::new("mkdir")
                            .arg("-m")
                            .arg(chmod_octal(mode))
                            .arg("--")
                            .arg(dir)
                            .build();
                        format!("{{ {mk} 2>/dev/null || {{ {exists} && {set}; }} || {mk}; }}")
                    } else {
                        let mk = Sh::new("mkdir").arg("--").arg(dir).build();
                        let mut line = format!("{{ {mk} 2>/dev/null || {exists} || {mk}; }}");
                        if !set.is_empty() {
                            line.push_str(" && ");
                            line.push_str(&set);
                        }
                        line
                    };
                    script.push_str(&line);
                    script.push_str(" || exit 1\n");
                }
                diff.push(Diff::attr(&target, "state", "absent", "directory"));
                steps.push(self.ctx.step(format!("create directory {target}"), script));
                attrs_result(&mut result, &attrs);
                let (tdiff, tcmds) = plan_times(&target, None, self.mtime, self.atime, self.extra);
                diff.extend(tdiff);
                if !tcmds.is_empty() {
                    steps.push(
                        self.ctx
                            .step(format!("set times of {target}"), tcmds.join(" && ")),
                    );
                }
            }
            Some(s) if s.kind != Kind::Dir => {
                return Err(failed(
                    format!("{} already exists as a {}", self.path, self.prev),
                    self.path,
                    self.prev,
                ));
            }
            Some(s) => {
                let attrs = existing_attrs(
                    self.ctx,
                    &target,
                    s,
                    &self.p.want,
                    (self.mtime, self.atime),
                    self.extra,
                    &mut diff,
                    &mut steps,
                )?;
                attrs_result(&mut result, &attrs);
                if self.p.recurse {
                    let (rdiff, mut change) =
                        plan_recursive(&target, &self.extra.tree, &self.p.want)?;
                    if let Some(d) = rdiff {
                        diff.push(d);
                        // The recursive command covers the directory itself too.
                        if change.mode.is_none() {
                            change.mode = attrs.change.mode.clone();
                        }
                        if change.owner.is_none() {
                            change.owner = attrs.change.owner.clone();
                        }
                        if change.group.is_none() {
                            change.group = attrs.change.group.clone();
                        }
                        if !attrs.change.is_empty() {
                            steps.retain(|st| {
                                !st.describe.starts_with("set mode")
                                    && !st.describe.starts_with("set owner")
                                    && !st.describe.starts_with("set group")
                            });
                        }
                        steps.insert(
                            0,
                            self.ctx.step(
                                format!("set attributes below {target}"),
                                atomic::attr_script(&target, &change),
                            ),
                        );
                    }
                }
            }
        }
        Ok(finish_plan(diff, steps, result))
    }

    fn absent(&self) -> Result<Plan, ModuleError> {
        let result = base_result("path", self.path, "absent");
        if !self.st.exists() {
            return Ok(Plan::Unchanged { result });
        }
        let is_dir = self.prev == "directory";
        let diff = if is_dir {
            let mut names: Vec<String> = self
                .extra
                .tree
                .iter()
                .map(|e| {
                    if e.stat.kind == Kind::Dir {
                        format!("{}/", e.name)
                    } else {
                        e.name.clone()
                    }
                })
                .collect();
            names.push(format!("{}/", self.path.trim_end_matches('/')));
            names.sort();
            let before: String = names.iter().map(|n| format!("{n}\n")).collect();
            Diff::new(self.path, before, "")
        } else {
            Diff::attr(self.path, "state", self.prev, "absent")
        };
        let script = Sh::new("rm")
            .arg(if is_dir { "-rf" } else { "-f" })
            .arg("--")
            .arg(self.path)
            .build();
        let step = self.ctx.step(format!("remove {}", self.path), script);
        Ok(finish_plan(vec![diff], vec![step], result))
    }

    fn touch(&self) -> Result<Plan, ModuleError> {
        let mut diff = Vec::new();
        let mut steps = Vec::new();
        let mut result = base_result("dest", self.path, "file");
        if !self.st.exists() {
            if !self.st.parent_is_dir {
                return Err(failed(
                    format!(
                        "Error, could not touch target: directory {} does not exist",
                        parent_dir(self.path)
                    ),
                    self.path,
                    "absent",
                ));
            }
            let attrs = plan_attrs(
                self.path,
                None,
                self.st.creator.as_ref(),
                &self.p.want,
                false,
                None,
            )?;
            let mut script = Sh::new("touch").arg("--").arg(self.path).build();
            let set = new_attr_script(self.path, &self.p.want, attrs.mode);
            if !set.is_empty() {
                script.push_str(" && ");
                script.push_str(&set);
            }
            let explicit = |t: &TimeSpec| {
                if matches!(t, TimeSpec::At(_)) {
                    t.clone()
                } else {
                    TimeSpec::Preserve
                }
            };
            let (_, tcmds) = plan_times(
                self.path,
                None,
                &explicit(self.mtime),
                &explicit(self.atime),
                self.extra,
            );
            for c in tcmds {
                script.push_str(" && ");
                script.push_str(&c);
            }
            diff.push(Diff::attr(self.path, "state", "absent", "file"));
            steps.push(self.ctx.step(format!("create {}", self.path), script));
            attrs_result(&mut result, &attrs);
            result.insert("size".into(), 0.into());
            return Ok(finish_plan(diff, steps, result));
        }
        let (target, stat) = self.followed();
        let Some(stat) = stat else {
            return Err(failed(
                format!("{} is a symlink to a missing target", self.path),
                self.path,
                "link",
            ));
        };
        let attrs = existing_attrs(
            self.ctx,
            &target,
            stat,
            &self.p.want,
            (self.mtime, self.atime),
            self.extra,
            &mut diff,
            &mut steps,
        )?;
        if matches!(self.mtime, TimeSpec::Now) || matches!(self.atime, TimeSpec::Now) {
            diff.push(Diff::attr(self.path, "state", self.prev, "touch"));
        }
        result.insert("state".into(), stat.kind.state_name().into());
        result.insert("size".into(), stat.size.into());
        attrs_result(&mut result, &attrs);
        Ok(finish_plan(diff, steps, result))
    }

    fn link(&self) -> Result<Plan, ModuleError> {
        let src = match (&self.p.src, self.st.is_link()) {
            (Some(s), _) => s.clone(),
            (None, true) => self.st.link_target.clone().unwrap_or_default(),
            (None, false) => {
                return Err(failed(
                    "src is required for creating new symlinks".into(),
                    self.path,
                    self.prev,
                ));
            }
        };
        let src_exists = self.src_st.is_some_and(|s| s.stat.is_some());
        if !self.p.force && self.p.src.is_some() && !src_exists {
            return Err(failed(
                format!(
                    "src file does not exist, use \"force=yes\" if you really want to create the link: {}",
                    self.p.abs_src("link").unwrap_or_default()
                ),
                self.path,
                self.prev,
            ));
        }
        match self.prev {
            "directory" if !self.p.force => {
                return Err(failed(
                    format!(
                        "refusing to convert from directory to symlink for {}",
                        self.path
                    ),
                    self.path,
                    self.prev,
                ));
            }
            "directory" if self.extra.nonempty => {
                return Err(failed(
                    format!(
                        "the directory {} is not empty, refusing to convert it",
                        self.path
                    ),
                    self.path,
                    self.prev,
                ));
            }
            "file" | "hard" if !self.p.force => {
                return Err(failed(
                    format!(
                        "refusing to convert from {} to symlink for {}",
                        self.prev, self.path
                    ),
                    self.path,
                    self.prev,
                ));
            }
            _ => {}
        }
        let mut diff = Vec::new();
        let mut steps = Vec::new();
        let relink = match self.prev {
            "link" => {
                let old = self.st.link_target.clone().unwrap_or_default();
                if old != src {
                    diff.push(Diff::attr(self.path, "src", &old, &src));
                    true
                } else {
                    false
                }
            }
            _ => {
                diff.push(Diff::attr(self.path, "state", self.prev, "link"));
                true
            }
        };
        if relink {
            let ln = Sh::new("ln")
                .arg("-sfn")
                .arg("--")
                .arg(&src)
                .arg(self.path)
                .build();
            let script = if self.prev == "directory" {
                format!(
                    "{} && {ln}",
                    Sh::new("rmdir").arg("--").arg(self.path).build()
                )
            } else {
                ln
            };
            steps.push(
                self.ctx
                    .step(format!("link {} -> {src}", self.path), script),
            );
        }
        let mut result = base_result("dest", self.path, "link");
        result.insert("src".into(), src.clone().into());
        // Attributes apply to the link's target (followed), when it exists.
        let target_stat = if relink {
            self.src_st.and_then(|s| s.stat.as_ref())
        } else {
            self.st.stat.as_ref()
        };
        if let Some(ts) = target_stat {
            let attrs = plan_attrs(
                self.path,
                Some(ts),
                None,
                &self.p.want,
                ts.kind == Kind::Dir,
                None,
            )?;
            diff.extend(attrs.diffs.iter().cloned());
            steps.extend(atomic::attr_steps(self.ctx, self.path, &attrs.change));
            attrs_result(&mut result, &attrs);
            let (tdiff, tcmds) =
                plan_times(self.path, Some(ts), self.mtime, self.atime, self.extra);
            diff.extend(tdiff);
            if !tcmds.is_empty() {
                steps.push(
                    self.ctx
                        .step(format!("set times of {}", self.path), tcmds.join(" && ")),
                );
            }
        }
        Ok(finish_plan(diff, steps, result))
    }

    fn hard(&self) -> Result<Plan, ModuleError> {
        let src_stat = self.src_st.and_then(|s| s.stat.as_ref());
        let Some(src) = self.p.src.clone() else {
            if self.prev == "hard" {
                return self.file();
            }
            return Err(failed(
                "src is required for creating new hardlinks".into(),
                self.path,
                self.prev,
            ));
        };
        let Some(src_stat) = src_stat else {
            return Err(failed("src does not exist".into(), self.path, self.prev));
        };
        let same_inode = self
            .st
            .stat
            .as_ref()
            .is_some_and(|s| s.inode == src_stat.inode && s.dev == src_stat.dev);
        let mut diff = Vec::new();
        let mut steps = Vec::new();
        let relink = match self.prev {
            "absent" => true,
            "link" => {
                let old = self.st.link_target.clone().unwrap_or_default();
                diff.push(Diff::attr(self.path, "src", &old, &src));
                true
            }
            "hard" | "file" if same_inode => false,
            "hard" | "file" | "directory" if !self.p.force => {
                let msg = if self.prev == "file" {
                    "Cannot link, file exists at destination".to_string()
                } else {
                    "Cannot link, different hard link exists at destination".to_string()
                };
                return Err(failed(msg, self.path, self.prev));
            }
            "directory" => {
                return Err(failed(
                    format!("Cannot link: {} is a directory", self.path),
                    self.path,
                    self.prev,
                ));
            }
            _ => true,
        };
        if relink {
            if self.prev != "link" {
                diff.push(Diff::attr(self.path, "state", self.prev, "hard"));
            }
            steps.push(
                self.ctx.step(
                    format!("hard link {} to {src}", self.path),
                    Sh::new("ln")
                        .arg("-f")
                        .arg("--")
                        .arg(&src)
                        .arg(self.path)
                        .build(),
                ),
            );
        }
        let mut result = base_result("dest", self.path, "hard");
        result.insert("src".into(), src.into());
        let attrs = plan_attrs(self.path, Some(src_stat), None, &self.p.want, false, None)?;
        diff.extend(attrs.diffs.iter().cloned());
        steps.extend(atomic::attr_steps(self.ctx, self.path, &attrs.change));
        attrs_result(&mut result, &attrs);
        let (tdiff, tcmds) = plan_times(
            self.path,
            Some(src_stat),
            self.mtime,
            self.atime,
            self.extra,
        );
        diff.extend(tdiff);
        if !tcmds.is_empty() {
            steps.push(
                self.ctx
                    .step(format!("set times of {}", self.path), tcmds.join(" && ")),
            );
        }
        Ok(finish_plan(diff, steps, result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strptime_subset() {
        assert_eq!(
            strptime("202401021530.45", "%Y%m%d%H%M.%S").unwrap(),
            [2024, 1, 2, 15, 30, 45]
        );
        assert_eq!(
            strptime("2024-01-02 03:04", "%Y-%m-%d %H:%M").unwrap(),
            [2024, 1, 2, 3, 4, 0]
        );
        assert!(strptime("2024-13-02", "%Y-%m-%d").is_err());
        assert!(strptime("20240102", "%Y%m%d%H").is_err());
        assert!(strptime("x", "%b").unwrap_err().contains("not supported"));
        assert_eq!(touch_stamp(&[2024, 1, 2, 3, 4, 5]), "202401020304.05");
    }

    #[test]
    fn ancestors_top_first() {
        assert_eq!(ancestors("/a/b/c/"), vec!["/a", "/a/b", "/a/b/c"]);
        assert_eq!(ancestors("a/b"), vec!["a", "a/b"]);
    }

    #[test]
    fn extra_parses_tree_names_with_bars() {
        let e = parse_extra(
            "missing=2\nnonempty\nepoch_m=17\ntree=81a4|0|0|root|root|1|2|3|4|1|5|/x/a|b\ntree=short\n",
        )
        .unwrap();
        assert_eq!(e.missing, Some(2));
        assert!(e.nonempty);
        assert_eq!(e.epoch_m, Some(17));
        assert_eq!(e.tree.len(), 1);
        assert_eq!(e.tree[0].name, "/x/a|b");
    }

    #[test]
    fn recursive_plan_resolves_symbolic_modes_per_entry() {
        let entry = |kind: &str, mode: &str, name: &str| TreeEntry {
            stat: parse_stat_fields(&format!("{kind}{mode}|0|0|root|root|1|1|1|1|1|1")).unwrap(),
            name: name.into(),
        };
        let entries = vec![
            entry("8", "1a4", "/d/f"), // 0644 file
            entry("4", "1ed", "/d/s"), // 0755 dir
            entry("a", "1ff", "/d/l"), // link
        ];
        let want = Wanted {
            mode: Some(ModeArg::Symbolic("u=rwX,g=rX,o=".into())),
            owner: None,
            group: None,
        };
        let (diff, change) = plan_recursive("/d", &entries, &want).unwrap();
        let diff = diff.unwrap();
        assert_eq!(diff.before, "/d/f: mode 0644\n/d/s: mode 0755\n");
        assert_eq!(diff.after, "/d/f: mode 0640\n/d/s: mode 0750\n");
        assert_eq!(change.mode.as_deref(), Some("u=rwX,g=rX,o="));
        let want = Wanted {
            mode: Some(ModeArg::Octal(0o644)),
            owner: None,
            group: None,
        };
        let (diff, _) = plan_recursive("/d", &entries[..1], &want).unwrap();
        assert!(diff.is_none());
    }
}

#[cfg(test)]
mod host_tests {
    use super::*;
    use crate::modules::testutil::{Harness, ids_of, is_root, mode_of};
    use serde_json::json;
    use std::os::unix::fs::MetadataExt;

    #[tokio::test]
    async fn directories_are_created_with_parents_and_modes() {
        let h = Harness::new();
        let dir = h.path("a/b'$(x)/c");
        let applied = h
            .converge(
                &File,
                &json!({"path": dir, "state": "directory", "mode": "0750"}),
            )
            .await;
        assert_eq!(applied.diff[0].before, "state: absent\n");
        assert_eq!(applied.diff[0].after, "state: directory\n");
        assert_eq!(mode_of(&dir), 0o750);
        assert_eq!(
            mode_of(&h.path("a")),
            0o750,
            "created parents get the mode too"
        );
        assert_eq!(applied.result["mode"], "0750");
        // Default state on an existing directory: attributes only.
        let applied = h
            .converge(&File, &json!({"path": dir, "mode": "u=rwx,g=,o="}))
            .await;
        assert_eq!(mode_of(&dir), 0o700);
        assert_eq!(applied.result["state"], "directory");
        // A file in the way fails.
        let f = h.path("plain");
        std::fs::write(&f, "x").unwrap();
        let err = h
            .apply(&File, &json!({"path": f, "state": "directory"}))
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("already exists as a file"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn recursive_modes_and_owners() {
        let h = Harness::new();
        let root = h.path("tree");
        std::fs::create_dir_all(format!("{root}/sub")).unwrap();
        std::fs::write(format!("{root}/f"), "x").unwrap();
        std::fs::write(format!("{root}/sub/g"), "y").unwrap();
        std::fs::set_permissions(
            format!("{root}/sub/g"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        std::os::unix::fs::symlink("f", format!("{root}/l")).unwrap();
        let mut args =
            json!({"path": root, "state": "directory", "recurse": true, "mode": "u=rwX,g=rX,o="});
        if is_root() {
            args["owner"] = json!("nobody");
        }
        let applied = h.converge(&File, &args).await;
        assert_eq!(mode_of(&root), 0o750);
        assert_eq!(mode_of(&format!("{root}/f")), 0o640);
        assert_eq!(mode_of(&format!("{root}/sub")), 0o750);
        assert_eq!(mode_of(&format!("{root}/sub/g")), 0o750);
        let rec = applied
            .diff
            .iter()
            .find(|d| d.before_header.contains("(recursive)"))
            .unwrap();
        assert!(rec.before.contains("/sub/g: mode 0755"), "{}", rec.before);
        if is_root() {
            assert_eq!(ids_of(&format!("{root}/sub/g")).0, 65534);
            assert_eq!(
                ids_of(&format!("{root}/l")).0,
                65534,
                "links are chowned themselves"
            );
            assert_eq!(ids_of(&root).0, 65534);
        }
        // Octal recursive.
        h.converge(
            &File,
            &json!({"path": root, "state": "directory", "recurse": true, "mode": "0700"}),
        )
        .await;
        assert_eq!(mode_of(&format!("{root}/sub/g")), 0o700);
    }

    #[tokio::test]
    async fn absent_lists_what_goes() {
        let h = Harness::new();
        let root = h.path("gone");
        std::fs::create_dir_all(format!("{root}/d")).unwrap();
        std::fs::write(format!("{root}/d/x"), "x").unwrap();
        let applied = h
            .converge(&File, &json!({"path": root, "state": "absent"}))
            .await;
        assert_eq!(
            applied.diff[0].before,
            format!("{root}/\n{root}/d/\n{root}/d/x\n")
        );
        assert!(!std::path::Path::new(&root).exists());
        let f = h.path("file");
        std::fs::write(&f, "x").unwrap();
        let applied = h
            .converge(&File, &json!({"path": f, "state": "absent"}))
            .await;
        assert_eq!(applied.diff[0].after, "state: absent\n");
    }

    #[tokio::test]
    async fn touch_semantics() {
        let h = Harness::new();
        let f = h.path("t");
        let args = json!({"path": f, "state": "touch", "mode": "0600"});
        let applied = h.apply(&File, &args).await.unwrap();
        assert!(applied.changed);
        assert_eq!(mode_of(&f), 0o600);
        // Touch always changes (times), like Ansible...
        assert!(h.apply(&File, &args).await.unwrap().changed);
        // ...unless both times are preserved.
        let keep = json!({"path": f, "state": "touch", "mode": "0600",
            "modification_time": "preserve", "access_time": "preserve"});
        h.assert_unchanged(&File, &keep).await;
        // Explicit times converge.
        let at = json!({"path": f, "state": "touch", "modification_time": "202001021530.45",
            "access_time": "202001021530.45"});
        h.converge(&File, &at).await;
        let meta = std::fs::metadata(&f).unwrap();
        let out = std::process::Command::new("date")
            .args(["-d", "2020-01-02 15:30:45", "+%s"])
            .output()
            .unwrap();
        let want: i64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        assert_eq!(meta.mtime(), want);
        let err = h
            .apply(
                &File,
                &json!({"path": h.path("no/dir/t"), "state": "touch"}),
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }

    #[tokio::test]
    async fn symlinks() {
        let h = Harness::new();
        let target = h.path("target file");
        std::fs::write(&target, "x").unwrap();
        let link = h.path("link");
        let applied = h
            .converge(
                &File,
                &json!({"path": link, "src": "target file", "state": "link"}),
            )
            .await;
        assert_eq!(
            std::fs::read_link(&link).unwrap().to_str(),
            Some("target file")
        );
        assert_eq!(applied.result["src"], "target file");
        // Missing source without force fails; with force the link dangles.
        let err = h
            .apply(
                &File,
                &json!({"path": link, "src": "nowhere", "state": "link"}),
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("src file does not exist"), "{err}");
        let applied = h
            .converge(
                &File,
                &json!({"path": link, "src": "nowhere", "state": "link", "force": true}),
            )
            .await;
        assert_eq!(applied.diff[0].before, "src: target file\n");
        // A file is not replaced without force.
        let f = h.path("regular");
        std::fs::write(&f, "x").unwrap();
        let err = h
            .apply(&File, &json!({"path": f, "src": &target, "state": "link"}))
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("refusing to convert from file"),
            "{err}"
        );
        h.converge(
            &File,
            &json!({"path": f, "src": &target, "state": "link", "force": true}),
        )
        .await;
        assert!(
            std::fs::symlink_metadata(&f)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        // Mode applies to the target.
        h.converge(
            &File,
            &json!({"path": f, "src": &target, "state": "link", "mode": "0604"}),
        )
        .await;
        assert_eq!(mode_of(&target), 0o604);
        // Links to directories are replaced, not entered.
        let d = h.path("dir");
        std::fs::create_dir(&d).unwrap();
        let dl = h.path("dirlink");
        h.converge(&File, &json!({"path": dl, "src": &d, "state": "link"}))
            .await;
        h.converge(&File, &json!({"path": dl, "src": &target, "state": "link"}))
            .await;
        assert_eq!(
            std::fs::read_link(&dl).unwrap().to_str(),
            Some(target.as_str())
        );
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn hard_links_and_plain_file_state() {
        let h = Harness::new();
        let src = h.path("orig");
        std::fs::write(&src, "data").unwrap();
        let hl = h.path("hl");
        h.converge(&File, &json!({"path": hl, "src": src, "state": "hard"}))
            .await;
        let (a, b) = (
            std::fs::metadata(&src).unwrap(),
            std::fs::metadata(&hl).unwrap(),
        );
        assert_eq!(a.ino(), b.ino());
        // Into a directory: dir/basename(src).
        let d = h.path("d");
        std::fs::create_dir(&d).unwrap();
        let applied = h
            .converge(&File, &json!({"path": d, "src": src, "state": "hard"}))
            .await;
        assert_eq!(applied.result["dest"], format!("{d}/orig"));
        assert_eq!(
            std::fs::metadata(format!("{d}/orig")).unwrap().ino(),
            a.ino()
        );
        // state=file: attributes of an existing file; a missing one fails.
        h.converge(
            &File,
            &json!({"path": src, "state": "file", "mode": "0611"}),
        )
        .await;
        assert_eq!(mode_of(&src), 0o611);
        let err = h
            .apply(&File, &json!({"path": h.path("missing"), "state": "file"}))
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("is absent, cannot continue"),
            "{err}"
        );
        let err = h
            .apply(
                &File,
                &json!({"path": src, "recurse": true, "state": "file"}),
            )
            .await;
        assert!(
            err.unwrap_err()
                .to_string()
                .contains("recurse option requires")
        );
    }
}
