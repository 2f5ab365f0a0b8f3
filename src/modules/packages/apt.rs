//! `apt` (and `package` on Debian): Debian packages present, absent or at their latest
//! version. One read-only query (cache age + one `dpkg-query`) decides which packages differ,
//! `apt-get -s` simulates exactly what would change (with dependencies), and one
//! noninteractive `apt-get` step applies it. It never calls `apt-key` and never runs Python.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::core::{
    Diff, ExecOutput, Module, ModuleError, ModuleSpec, ParamKind, ParamSpec, Plan, ResultMap, Sh,
    TaskCtx, quote,
};
use crate::modules::args::{Args, Rules};

/// The `apt` module under one of its names (`apt`, `package`).
pub struct Apt {
    spec: &'static ModuleSpec,
}

impl Apt {
    /// The apt module under the name and parameters of `spec`.
    pub const fn new(spec: &'static ModuleSpec) -> Apt {
        Apt { spec }
    }
}

/// Where apt records the last successful `apt-get update` (Debian's APT::Update hook).
pub const UPDATE_STAMP: &str = "/var/lib/apt/periodic/update-success-stamp";
/// The package lists directory, whose mtime is the cache age when no stamp exists.
pub const LISTS_DIR: &str = "/var/lib/apt/lists";

/// The parameter list of `apt`, with extra parameters appended (`package` adds `use`).
macro_rules! apt_params {
    ($($extra:expr),* $(,)?) => {
        &[
            ParamSpec::new(
                "name",
                ParamKind::List,
                "Package names, optionally pinned (`hello=2.10-3`); a list or comma-separated.",
            )
            .aliases(&["pkg", "package"]),
            ParamSpec::new("state", ParamKind::Str, "present (default), absent or latest.")
                .choices(&["present", "absent", "latest"]),
            ParamSpec::new(
                "update_cache",
                ParamKind::Bool,
                "Run `apt-get update` first (subject to cache_valid_time).",
            )
            .aliases(&["update-cache"]),
            ParamSpec::new(
                "cache_valid_time",
                ParamKind::Int,
                "Skip the update when the cache is younger than this many seconds.",
            ),
            ParamSpec::new("purge", ParamKind::Bool, "Also remove configuration files (absent)."),
            ParamSpec::new(
                "autoremove",
                ParamKind::Bool,
                "Remove packages installed as dependencies that nothing needs any more.",
            ),
            ParamSpec::new(
                "install_recommends",
                ParamKind::Bool,
                "Install recommended packages (default: apt's configuration).",
            )
            .aliases(&["install-recommends"]),
            ParamSpec::new(
                "force_apt_get",
                ParamKind::Bool,
                "Accepted for compatibility: apt-get is always used.",
            ),
            ParamSpec::new(
                "default_release",
                ParamKind::Str,
                "Target release for installs (`apt-get -t`).",
            )
            .aliases(&["default-release"]),
            ParamSpec::new(
                "allow_downgrade",
                ParamKind::Bool,
                "Allow installing a pinned version older than the installed one.",
            )
            .aliases(&["allow-downgrade", "allow_downgrades", "allow-downgrades"]),
            ParamSpec::new(
                "deb",
                ParamKind::Str,
                "A .deb file on the target, or a URL the target downloads it from.",
            ),
            ParamSpec::new(
                "lock_timeout",
                ParamKind::Int,
                "Seconds to wait for the dpkg lock (default 60).",
            ),
            ParamSpec::new(
                "dpkg_options",
                ParamKind::Str,
                "dpkg options, comma-separated (default force-confdef,force-confold).",
            ),
            $($extra),*
        ]
    };
}

pub(crate) use apt_params;

const APT_PARAMS: &[ParamSpec] = apt_params!();

/// Parameters of `apt`.
pub static SPEC_APT: ModuleSpec = ModuleSpec {
    name: "apt",
    doc: "Manages Debian packages with apt-get: present, absent or latest, with cache updates.",
    params: APT_PARAMS,
    free_form: false,
};

/// `apt`.
pub static APT: Apt = Apt { spec: &SPEC_APT };

/// Argument rules of `apt`: something to do must be given.
pub const RULES: Rules = Rules {
    exclusive: &[],
    one_of: &[&["name", "deb", "update_cache", "autoremove"]],
};

/// The wanted package state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Installed (any version unless pinned).
    Present,
    /// Not installed.
    Absent,
    /// Installed at the candidate version.
    Latest,
}

/// One requested package: `name` or `name=version`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PkgSpec {
    /// Package name (may carry `:arch`).
    pub name: String,
    /// Pinned version.
    pub version: Option<String>,
}

impl PkgSpec {
    /// Parses `hello` or `hello=2.10-3`, rejecting what cannot be a Debian package name.
    pub fn parse(s: &str) -> Result<PkgSpec, String> {
        let s = s.trim();
        let (name, version) = match s.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim().to_string())),
            None => (s, None),
        };
        let base = name.split(':').next().unwrap_or("");
        let name_ok = base.len() >= 2
            && base
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b))
            && base.as_bytes()[0].is_ascii_alphanumeric();
        if !name_ok {
            return Err(format!("{s:?} is not a valid package name"));
        }
        if let Some(v) = &version
            && (v.is_empty()
                || !v
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+-.~:*".contains(&b)))
        {
            return Err(format!("{s:?} has an invalid version"));
        }
        Ok(PkgSpec {
            name: name.to_string(),
            version,
        })
    }

    /// The package name without `:arch` (as dpkg-query prints it).
    pub fn base(&self) -> &str {
        self.name.split(':').next().unwrap_or(&self.name)
    }

    /// The apt-get argument (`hello` or `hello=2.10-3`).
    pub fn arg(&self) -> String {
        match &self.version {
            Some(v) => format!("{}={v}", self.name),
            None => self.name.clone(),
        }
    }

    /// Whether an installed `version` satisfies the pin (a trailing `*` is a prefix match).
    pub fn matches(&self, version: &str) -> bool {
        match &self.version {
            None => true,
            Some(p) => match p.strip_suffix('*') {
                Some(prefix) => version.starts_with(prefix),
                None => p == version,
            },
        }
    }
}

/// Everything the task asks for, typed.
#[derive(Clone, Debug)]
pub struct AptParams {
    /// Requested packages.
    pub pkgs: Vec<PkgSpec>,
    /// Wanted state.
    pub state: State,
    /// `update_cache`.
    pub update_cache: bool,
    /// `cache_valid_time` in seconds (0: always update).
    pub cache_valid_time: i64,
    /// `purge`.
    pub purge: bool,
    /// `autoremove`.
    pub autoremove: bool,
    /// `install_recommends` (None: apt's default).
    pub install_recommends: Option<bool>,
    /// `default_release`.
    pub default_release: Option<String>,
    /// `allow_downgrade`.
    pub allow_downgrade: bool,
    /// `deb`: a path or URL on the target.
    pub deb: Option<String>,
    /// `lock_timeout`.
    pub lock_timeout: i64,
    /// dpkg options without the leading `--`.
    pub dpkg_options: Vec<String>,
}

impl AptParams {
    /// Reads and checks the arguments of `module`.
    pub fn from_args(module: &str, a: &Args<'_>) -> Result<AptParams, ModuleError> {
        let bad = |arg: &str, msg: String| ModuleError::Args(format!("{module}: {arg}: {msg}"));
        let pkgs = a
            .list("name")?
            .unwrap_or_default()
            .iter()
            .map(|s| PkgSpec::parse(s).map_err(|e| bad("name", e)))
            .collect::<Result<Vec<_>, _>>()?;
        let state = match a.choice("state", "present")?.as_str() {
            "present" => State::Present,
            "absent" => State::Absent,
            "latest" => State::Latest,
            other => return Err(bad("state", format!("unsupported state {other:?}"))),
        };
        if state == State::Latest
            && let Some(p) = pkgs.iter().find(|p| p.version.is_some())
        {
            return Err(bad(
                "name",
                format!(
                    "version pins are not allowed with state=latest ({})",
                    p.arg()
                ),
            ));
        }
        let dpkg_options = a
            .str("dpkg_options")?
            .unwrap_or_else(|| "force-confdef,force-confold".into())
            .split(',')
            .map(|o| o.trim().trim_start_matches('-').to_string())
            .filter(|o| !o.is_empty())
            .collect::<Vec<_>>();
        if let Some(o) = dpkg_options.iter().find(|o| {
            !o.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-=_".contains(&b))
        }) {
            return Err(bad("dpkg_options", format!("invalid option {o:?}")));
        }
        let deb = a.str("deb")?;
        if deb.is_some() && state != State::Present {
            return Err(bad("deb", "only works with state=present".into()));
        }
        if let Some(d) = &deb
            && !d.contains("://")
            && !d.starts_with('/')
        {
            return Err(bad(
                "deb",
                format!("{d:?} must be an absolute path or a URL"),
            ));
        }
        let cache_valid_time = a.int("cache_valid_time")?.unwrap_or(0);
        let lock_timeout = a.int("lock_timeout")?.unwrap_or(60);
        if cache_valid_time < 0 || lock_timeout < 0 {
            return Err(bad(
                "cache_valid_time/lock_timeout",
                "must not be negative".into(),
            ));
        }
        Ok(AptParams {
            pkgs,
            state,
            // Ansible: cache_valid_time implies update_cache.
            update_cache: a.bool("update_cache", false)? || a.has("cache_valid_time"),
            cache_valid_time,
            purge: a.bool("purge", false)?,
            autoremove: a.bool("autoremove", false)?,
            install_recommends: if a.has("install_recommends") {
                Some(a.bool("install_recommends", true)?)
            } else {
                None
            },
            default_release: a.str("default_release")?,
            allow_downgrade: a.bool("allow_downgrade", false)?,
            deb,
            lock_timeout,
            dpkg_options,
        })
    }

    /// Whether anything besides the cache update is asked for.
    pub fn has_package_work(&self) -> bool {
        !self.pkgs.is_empty() || self.deb.is_some() || self.autoremove
    }
}

/// The environment every apt-get runs with: no prompts, C locale for parseable output.
const APT_ENV: &str = "DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true LC_ALL=C";

/// `apt-get` with the task's options (`-s` to simulate, else `-y`).
pub fn apt_get(p: &AptParams, simulate: bool) -> Sh {
    let mut sh = Sh::new("apt-get")
        .arg(if simulate { "-s" } else { "-y" })
        .arg("-q")
        .arg("-o")
        .arg(format!("DPkg::Lock::Timeout={}", p.lock_timeout));
    for o in &p.dpkg_options {
        sh = sh.arg("-o").arg(format!("Dpkg::Options::=--{o}"));
    }
    match p.install_recommends {
        Some(true) => sh = sh.arg("-o").arg("APT::Install-Recommends=yes"),
        Some(false) => sh = sh.arg("--no-install-recommends"),
        None => {}
    }
    if let Some(r) = &p.default_release {
        sh = sh.arg("-t").arg(r);
    }
    if p.allow_downgrade {
        sh = sh.arg("--allow-downgrades");
    }
    sh
}

/// The shell text that refreshes the package lists, records the success stamp and prints
/// `stamp=EPOCH`. A source that failed (`Err:`, a GPG error, a failed fetch) fails it even
/// when apt-get exits 0 and falls back to old lists, as Ansible's cache update does.
pub fn update_script(lock_timeout: i64) -> String {
    format!(
        "o=$(mktemp) && e=$(mktemp) || exit 1\ntrap 'rm -f -- \"$o\" \"$e\"' EXIT\n\
{APT_ENV} {} >\"$o\" 2>\"$e\"; rc=$?\ncat -- \"$o\"; cat -- \"$e\" >&2\n\
if [ \"$rc\" -eq 0 ] && grep -qE '^(Err:|E:|W: (GPG error|Failed to fetch|Some index files failed))' -- \"$o\" \"$e\"; then rc=100; fi\n\
[ \"$rc\" -eq 0 ] || exit \"$rc\"\n\
mkdir -p /var/lib/apt/periodic && touch {UPDATE_STAMP} || :\necho \"stamp=$(date +%s)\"\n",
        Sh::new("apt-get")
            .arg("update")
            .arg("-q")
            .arg("-o")
            .arg(format!("DPkg::Lock::Timeout={lock_timeout}"))
            .build()
    )
}

/// The `W:`/`E:` lines of apt's output, for failure messages.
pub fn apt_messages(out: &ExecOutput) -> String {
    let text = format!("{}\n{}", out.stdout_str(), out.stderr_str());
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("E:") || l.starts_with("W:") || l.starts_with("Err:"))
        .collect();
    if lines.is_empty() {
        out.stderr_str().trim().to_string()
    } else {
        lines.join("; ")
    }
}

/// The failure of `apt-get update`, with its messages and output.
pub fn update_failure(out: &ExecOutput) -> ModuleError {
    let mut result = ResultMap::new();
    result.insert("rc".into(), out.status.into());
    result.insert("stdout".into(), out.stdout_str().into());
    result.insert("stderr".into(), out.stderr_str().into());
    ModuleError::Failed {
        msg: format!("Failed to update apt cache: {}", apt_messages(out)),
        result,
    }
}

/// The stamp an update script printed.
pub fn stamp_of(out: &ExecOutput) -> Option<i64> {
    out.stdout_str()
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("stamp=")?.trim().parse().ok())
}

/// What the read-only query found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    /// The target's clock.
    pub now: i64,
    /// The newest of the update stamp and the lists directory mtime.
    pub cache_mtime: Option<i64>,
    /// dpkg's view: package -> (status letter, version).
    pub dpkg: BTreeMap<String, (char, String)>,
    /// `Package`/`Version` of the `deb` file.
    pub deb: Option<(String, String)>,
}

impl Facts {
    /// The installed version of `pkg`, if it is installed (or triggers are pending).
    pub fn installed(&self, pkg: &str) -> Option<&str> {
        match self.dpkg.get(pkg) {
            Some(('i' | 'W' | 't', v)) => Some(v),
            _ => None,
        }
    }

    /// Whether anything of `pkg` is on disk (with `purge`: also left configuration files).
    pub fn on_disk(&self, pkg: &str, purge: bool) -> Option<&str> {
        match self.dpkg.get(pkg) {
            Some(('n', _)) | None => None,
            Some(('c', v)) => purge.then_some(v.as_str()),
            Some((_, v)) => Some(v),
        }
    }
}

/// The shell text that downloads `url` into `$deb` (a temp dir removed on exit).
fn fetch_deb_script(url: &str) -> String {
    format!(
        "u={}\ntd=$(mktemp -d) || exit 1\ntrap 'rm -rf -- \"$td\"' EXIT\ndeb=\"$td/package.deb\"\n\
         if command -v curl >/dev/null 2>&1; then curl -fsSL -o \"$deb\" -- \"$u\"; \
         elif command -v wget >/dev/null 2>&1; then wget -q -O \"$deb\" -- \"$u\"; \
         else echo 'neither curl nor wget is installed' >&2; exit 2; fi || {{ echo \"cannot download $u\" >&2; exit 2; }}\n",
        quote(url)
    )
}

/// The shell text that sets `$deb` to the package file (downloading a URL).
fn deb_prelude(deb: &str) -> String {
    if deb.contains("://") {
        fetch_deb_script(deb)
    } else {
        format!("deb={}\n", quote(deb))
    }
}

/// The read-only query: clock, cache age, dpkg state of `pkgs`, and the `deb` file's fields.
pub fn query_script(pkgs: &[&str], deb: Option<&str>) -> String {
    let mut s = String::from("echo \"now=$(date +%s)\"\n");
    // Without any downloaded package index the cache is empty, however recent its stamp.
    s.push_str(&format!(
        "if ls {LISTS_DIR}/*_Packages* >/dev/null 2>&1; then for f in {UPDATE_STAMP} {LISTS_DIR}; do [ -e \"$f\" ] && echo \"mtime=$(stat -c %Y -- \"$f\")\"; done; fi\n"
    ));
    if !pkgs.is_empty() {
        s.push_str(&format!(
            "{} 2>/dev/null | sed 's/^/pkg=/'\n",
            Sh::new("dpkg-query")
                .arg("-W")
                .arg("-f")
                .arg("${Package}\t${db:Status-Abbrev}\t${Version}\n")
                .arg("--")
                .args(pkgs)
                .build()
        ));
    }
    if let Some(d) = deb {
        s.push_str("(\n");
        s.push_str(&deb_prelude(d));
        s.push_str(
            "[ -f \"$deb\" ] || { echo \"no such file: $deb\" >&2; exit 2; }\n\
             printf 'deb=%s\\t%s\\n' \"$(dpkg-deb -f \"$deb\" Package)\" \"$(dpkg-deb -f \"$deb\" Version)\"\n) || exit 2\n",
        );
    }
    s
}

/// Parses [`query_script`] output.
pub fn parse_facts(out: &str) -> Result<Facts, String> {
    let mut f = Facts::default();
    for line in out.lines() {
        if let Some(v) = line.strip_prefix("now=") {
            f.now = v.trim().parse().map_err(|_| format!("bad clock {v:?}"))?;
        } else if let Some(v) = line.strip_prefix("mtime=") {
            let m: i64 = v.trim().parse().map_err(|_| format!("bad mtime {v:?}"))?;
            f.cache_mtime = Some(f.cache_mtime.map_or(m, |c| c.max(m)));
        } else if let Some(v) = line.strip_prefix("pkg=") {
            let cols: Vec<&str> = v.split('\t').collect();
            if let [name, status, version] = cols[..] {
                let st = status.chars().nth(1).unwrap_or('n');
                // dpkg-query lists known-but-never-installed packages with an empty version.
                f.dpkg
                    .insert(name.to_string(), (st, version.trim().to_string()));
            } else {
                return Err(format!("unexpected dpkg-query line {v:?}"));
            }
        } else if let Some(v) = line.strip_prefix("deb=") {
            let (p, ver) = v.split_once('\t').unwrap_or((v, ""));
            if p.is_empty() {
                return Err("the deb file has no Package field".into());
            }
            f.deb = Some((p.to_string(), ver.to_string()));
        } else if !line.trim().is_empty() {
            return Err(format!("unexpected query output {line:?}"));
        }
    }
    Ok(f)
}

/// What apt would do to one package.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    /// Newly installed at a version (unknown before a cache update in check mode).
    Install(String, Option<String>),
    /// From one version to another (upgrade or downgrade).
    Upgrade(String, String, String),
    /// Removed (with its version).
    Remove(String, String),
    /// Removed with its configuration files.
    Purge(String, String),
}

impl Action {
    fn name(&self) -> &str {
        match self {
            Action::Install(n, _)
            | Action::Upgrade(n, _, _)
            | Action::Remove(n, _)
            | Action::Purge(n, _) => n,
        }
    }
}

/// Parses the `Inst`/`Remv`/`Purg` lines of `apt-get -s`.
pub fn parse_simulation(out: &str) -> Vec<Action> {
    let mut acts = Vec::new();
    for line in out.lines() {
        let mut words = line.splitn(3, ' ');
        let (Some(kind), Some(name)) = (words.next(), words.next()) else {
            continue;
        };
        let rest = words.next().unwrap_or("");
        let old = rest
            .strip_prefix('[')
            .and_then(|r| r.split_once(']'))
            .map(|(v, _)| v.to_string());
        let new = rest
            .find('(')
            .map(|i| &rest[i + 1..])
            .and_then(|r| r.split_whitespace().next())
            .map(|v| v.trim_end_matches(')').to_string());
        let name = name.to_string();
        match kind {
            "Inst" => match (old, new) {
                (Some(o), Some(n)) => acts.push(Action::Upgrade(name, o, n)),
                (None, n) => acts.push(Action::Install(name, n)),
                (Some(o), None) => acts.push(Action::Upgrade(name, o.clone(), o)),
            },
            "Remv" => acts.push(Action::Remove(name, old.unwrap_or_default())),
            "Purg" => acts.push(Action::Purge(name, old.unwrap_or_default())),
            _ => {}
        }
    }
    acts.sort_by(|a, b| a.name().cmp(b.name()));
    acts
}

/// The human summary of a simulation (apt's own lines, without Inst/Conf/Remv and the
/// "Reading..." noise), Ansible's `diff.prepared`.
pub fn prepared_text(out: &str) -> String {
    out.lines()
        .filter(|l| {
            !["Inst ", "Conf ", "Remv ", "Purg ", "Reading ", "Building "]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The packages diff: `name version` lines before and after.
pub fn actions_diff(acts: &[Action]) -> Diff {
    let (mut before, mut after) = (String::new(), String::new());
    for a in acts {
        match a {
            Action::Install(n, v) => {
                after.push_str(&format!("{n} {}\n", v.as_deref().unwrap_or("(candidate)")))
            }
            Action::Upgrade(n, o, v) => {
                before.push_str(&format!("{n} {o}\n"));
                after.push_str(&format!("{n} {v}\n"));
            }
            Action::Remove(n, o) => before.push_str(&format!("{n} {o}\n")),
            Action::Purge(n, o) => before.push_str(&format!("{n} {o} (with configuration)\n")),
        }
    }
    Diff {
        before_header: "before: installed packages".into(),
        after_header: "after: installed packages".into(),
        before,
        after,
    }
}

/// A one-line summary: `install hello 2.10-3, upgrade shipshape-demo 1.0 -> 1.1`.
pub fn actions_summary(acts: &[Action]) -> String {
    acts.iter()
        .map(|a| match a {
            Action::Install(n, Some(v)) => format!("install {n} {v}"),
            Action::Install(n, None) => format!("install {n}"),
            Action::Upgrade(n, o, v) => format!("upgrade {n} {o} -> {v}"),
            Action::Remove(n, o) => format!("remove {n} {o}"),
            Action::Purge(n, o) => format!("purge {n} {o}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The apt-get operation a plan needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// `apt-get install ARGS` (package args; `$deb` for the deb file).
    Install(Vec<String>),
    /// `apt-get remove ARGS`.
    Remove(Vec<String>),
    /// `apt-get autoremove`.
    AutoRemove,
    /// Nothing.
    Nothing,
}

/// Decides from dpkg's state which packages must be passed to apt-get.
pub fn decide(p: &AptParams, f: &Facts) -> Op {
    match p.state {
        State::Present | State::Latest => {
            let mut args: Vec<String> = p
                .pkgs
                .iter()
                .filter(|s| match (p.state, f.installed(s.base())) {
                    (State::Latest, _) | (_, None) => true,
                    (_, Some(v)) => !s.matches(v),
                })
                .map(PkgSpec::arg)
                .collect();
            if let (Some(_), Some((name, ver))) = (&p.deb, &f.deb)
                && f.installed(name) != Some(ver.as_str())
            {
                args.push("$deb".into());
            }
            if !args.is_empty() {
                Op::Install(args)
            } else if p.autoremove {
                Op::AutoRemove
            } else {
                Op::Nothing
            }
        }
        State::Absent => {
            let args: Vec<String> = p
                .pkgs
                .iter()
                .filter(|s| f.on_disk(s.base(), p.purge).is_some_and(|v| s.matches(v)))
                .map(|s| s.name.clone())
                .collect();
            if !args.is_empty() {
                Op::Remove(args)
            } else if p.autoremove {
                Op::AutoRemove
            } else {
                Op::Nothing
            }
        }
    }
}

/// The apt-get command line of `op` (simulated or real), after the deb prelude if any.
pub fn op_script(p: &AptParams, op: &Op, simulate: bool) -> String {
    let mut sh = apt_get(p, simulate);
    let mut words: Vec<&str> = Vec::new();
    match op {
        Op::Install(args) => {
            sh = sh.arg("install");
            if p.autoremove {
                sh = sh.arg("--auto-remove");
            }
            words.extend(args.iter().map(String::as_str));
        }
        Op::Remove(args) => {
            sh = sh.arg("remove");
            if p.purge {
                sh = sh.arg("--purge");
            }
            if p.autoremove {
                sh = sh.arg("--auto-remove");
            }
            words.extend(args.iter().map(String::as_str));
        }
        Op::AutoRemove => {
            sh = sh.arg("autoremove");
            if p.purge {
                sh = sh.arg("--purge");
            }
        }
        Op::Nothing => {}
    }
    let mut cmd = format!("{APT_ENV} {}", sh.build());
    let has_deb = words.contains(&"$deb");
    for w in words {
        cmd.push(' ');
        if w == "$deb" {
            cmd.push_str("\"$deb\"");
        } else {
            cmd.push_str(&quote(w));
        }
    }
    match (&p.deb, has_deb) {
        (Some(d), true) => format!("{}{cmd}\n", deb_prelude(d)),
        _ => format!("{cmd}\n"),
    }
}

/// The package names apt-get says it cannot find (`E: Unable to locate package X`,
/// `E: Version 'V' for 'X' was not found`).
pub fn missing_packages(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| {
            if let Some(n) = l.strip_prefix("E: Unable to locate package ") {
                return Some(n.trim().to_string());
            }
            if let Some(rest) = l.strip_prefix("E: Version '") {
                let (v, rest) = rest.split_once("' for '")?;
                let (n, _) = rest.split_once('\'')?;
                return Some(format!("{n}={v}"));
            }
            if let Some(rest) = l.strip_prefix("E: Package '") {
                return rest.split_once('\'').map(|(n, _)| n.to_string());
            }
            None
        })
        .collect()
}

fn cache_result(result: &mut ResultMap, updated: bool, time: Option<i64>) {
    result.insert("cache_updated".into(), updated.into());
    result.insert("cache_update_time".into(), time.unwrap_or(0).into());
}

impl Apt {
    async fn plan_apt(&self, ctx: &TaskCtx<'_>, p: &AptParams) -> Result<Plan, ModuleError> {
        let module = self.spec.name;
        let names: Vec<&str> = p.pkgs.iter().map(|s| s.base()).collect();
        let out = ctx.query(query_script(&names, p.deb.as_deref())).await?;
        if !out.success() {
            return Err(ModuleError::failed(format!(
                "{module}: cannot inspect the host: {}",
                out.stderr_str().trim()
            )));
        }
        let mut f = parse_facts(&out.stdout_str())
            .map_err(|e| ModuleError::failed(format!("{module}: {e}")))?;
        let update_due = p.update_cache
            && (p.cache_valid_time == 0
                || f.cache_mtime
                    .is_none_or(|m| m + p.cache_valid_time <= f.now));
        let mut result = ResultMap::new();
        cache_result(&mut result, false, f.cache_mtime);
        if !p.has_package_work() {
            // Only a cache update: it is the change (Ansible reports changed=cache_updated).
            if !update_due {
                return Ok(Plan::Unchanged { result });
            }
            cache_result(&mut result, true, Some(f.now));
            let diff = Diff::attr(
                "apt cache",
                "updated",
                &f.cache_mtime
                    .map_or("never".to_string(), |m| format!("{}s ago", f.now - m)),
                "now",
            );
            let step = ctx.step("apt-get update", update_script(p.lock_timeout));
            return Ok(Plan::Change {
                diff: vec![diff],
                steps: vec![step],
                result,
            });
        }
        let mut pending_update = false;
        if update_due {
            if ctx.check {
                pending_update = true;
                cache_result(&mut result, true, Some(f.now));
            } else {
                // The lists must be fresh to plan `latest` and unknown names exactly; a cache
                // refresh changes no managed state (Ansible does the same before planning).
                let up = ctx.query(update_script(p.lock_timeout)).await?;
                if !up.success() {
                    return Err(update_failure(&up));
                }
                f.cache_mtime = stamp_of(&up).or(Some(f.now));
                cache_result(&mut result, true, f.cache_mtime);
            }
        }
        let op = decide(p, &f);
        if op == Op::Nothing {
            return Ok(Plan::Unchanged { result });
        }
        let sim = ctx.query(op_script(p, &op, true)).await?;
        let acts = if sim.success() {
            parse_simulation(&sim.stdout_str())
        } else {
            let missing = missing_packages(&sim.stderr_str());
            match &op {
                Op::Install(args) if pending_update && !missing.is_empty() => {
                    // Check mode before the cache update: the refreshed lists may have them.
                    args.iter()
                        .filter(|a| *a != "$deb")
                        .map(|a| match a.split_once('=') {
                            Some((n, v)) => Action::Install(n.to_string(), Some(v.to_string())),
                            None => Action::Install(a.clone(), None),
                        })
                        .collect()
                }
                _ => {
                    let mut r = ResultMap::new();
                    r.insert("rc".into(), sim.status.into());
                    r.insert("stdout".into(), sim.stdout_str().into());
                    r.insert("stderr".into(), sim.stderr_str().into());
                    let msg = if missing.is_empty() {
                        format!("{module}: apt-get cannot plan this: {}", apt_messages(&sim))
                    } else {
                        let quoted: Vec<String> =
                            missing.iter().map(|m| format!("'{m}'")).collect();
                        format!(
                            "{module}: No package matching {} is available",
                            quoted.join(", ")
                        )
                    };
                    return Err(ModuleError::Failed { msg, result: r });
                }
            }
        };
        if acts.is_empty() {
            return Ok(Plan::Unchanged { result });
        }
        let summary = actions_summary(&acts);
        let mut prepared = prepared_text(&sim.stdout_str());
        if pending_update {
            result.insert(
                "msg".into(),
                format!("would {summary} (planned before the cache update)").into(),
            );
            if !sim.success() {
                prepared = format!("would {summary} after the cache update");
            }
        }
        result.insert("diff".into(), json!({ "prepared": prepared }));
        let step = ctx.step(format!("apt-get: {summary}"), op_script(p, &op, false));
        Ok(Plan::Change {
            diff: vec![actions_diff(&acts)],
            steps: vec![step],
            result,
        })
    }
}

#[async_trait::async_trait]
impl Module for Apt {
    fn spec(&self) -> &'static ModuleSpec {
        self.spec
    }

    async fn plan(&self, ctx: &TaskCtx<'_>, args: &ResultMap) -> Result<Plan, ModuleError> {
        let a = Args::parse(self.spec, args)?;
        if self.spec.name == "package" {
            super::package::check_use(&a)?;
        }
        let p = AptParams::from_args(self.spec.name, &a)?;
        self.plan_apt(ctx, &p).await
    }

    fn finish(&self, result: &mut ResultMap, outputs: &[ExecOutput]) -> Result<(), ModuleError> {
        let Some(out) = outputs.last() else {
            return Ok(());
        };
        result.insert("stdout".into(), out.stdout_str().into());
        result.insert("stderr".into(), out.stderr_str().into());
        let lines: Vec<Value> = out.stdout_str().lines().map(|l| l.into()).collect();
        result.insert("stdout_lines".into(), Value::Array(lines));
        if let Some(t) = stamp_of(out) {
            result.insert("cache_update_time".into(), t.into());
        }
        if out.success() {
            return Ok(());
        }
        result.insert("rc".into(), out.status.into());
        let what = if out.stdout_str().contains("stamp=") || result.get("diff").is_none() {
            "Failed to update apt cache"
        } else {
            "apt-get failed"
        };
        Err(ModuleError::Failed {
            msg: format!(
                "{}: {what} (rc={}): {}",
                self.spec.name,
                out.status,
                apt_messages(out)
            ),
            result: std::mem::take(result),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(v: Value) -> Result<AptParams, ModuleError> {
        let m = v.as_object().cloned().unwrap();
        let a = Args::parse(&SPEC_APT, &m)?;
        AptParams::from_args("apt", &a)
    }

    #[test]
    fn names_and_pins_parse() {
        assert_eq!(
            PkgSpec::parse("hello=2.10-3").unwrap(),
            PkgSpec {
                name: "hello".into(),
                version: Some("2.10-3".into())
            }
        );
        let p = PkgSpec::parse("libc6:amd64").unwrap();
        assert_eq!(p.base(), "libc6");
        assert!(PkgSpec::parse("x").is_err());
        assert!(PkgSpec::parse("Hello").is_err());
        assert!(PkgSpec::parse("a;rm -rf /").is_err());
        assert!(PkgSpec::parse("hello=").is_err());
        assert!(PkgSpec::parse("hello=1 2").is_err());
        let glob = PkgSpec::parse("demo=1.*").unwrap();
        assert!(glob.matches("1.1") && !glob.matches("2.0"));
        let p = params(json!({"pkg": "hello,tree=2.1.0-1", "state": "latest"}));
        assert!(
            p.unwrap_err()
                .to_string()
                .contains("not allowed with state=latest")
        );
        let p = params(json!({"name": ["hello"], "cache_valid_time": 3600})).unwrap();
        assert!(p.update_cache && p.state == State::Present);
        assert_eq!(p.dpkg_options, vec!["force-confdef", "force-confold"]);
        assert!(params(json!({"name": "hello", "state": "installed"})).is_err());
        assert!(params(json!({"deb": "relative.deb"})).is_err());
        assert!(params(json!({"name": "hello", "dpkg_options": "x;y"})).is_err());
    }

    #[test]
    fn query_output_parses() {
        let out = "now=1700000100\nmtime=1700000000\nmtime=1700000050\n\
pkg=hello\tii \t2.10-3\npkg=tree\trc \t2.1.0-1\npkg=jq\tun \t\n\
deb=shipshape-demo\t1.1\n";
        let f = parse_facts(out).unwrap();
        assert_eq!(f.now, 1700000100);
        assert_eq!(f.cache_mtime, Some(1700000050));
        assert_eq!(f.installed("hello"), Some("2.10-3"));
        assert_eq!(f.installed("tree"), None);
        assert_eq!(f.on_disk("tree", false), None);
        assert_eq!(f.on_disk("tree", true), Some("2.1.0-1"));
        assert_eq!(f.on_disk("jq", true), None);
        assert_eq!(f.deb, Some(("shipshape-demo".into(), "1.1".into())));
        assert!(parse_facts("garbage\n").is_err());
    }

    const SIM: &str = "Reading package lists...
Building dependency tree...
Reading state information...
The following packages will be upgraded:
  shipshape-demo
The following NEW packages will be installed:
  hello
1 upgraded, 1 newly installed, 1 to remove and 0 not upgraded.
Remv tree [2.1.0-1]
Inst shipshape-demo [1.0] (1.1 lab:lab [all])
Inst hello (2.10-3 Debian:12.15/oldstable [amd64])
Conf shipshape-demo (1.1 lab:lab [all])
Conf hello (2.10-3 Debian:12.15/oldstable [amd64])
";

    #[test]
    fn simulation_parses_into_a_diff() {
        let acts = parse_simulation(SIM);
        assert_eq!(
            acts,
            vec![
                Action::Install("hello".into(), Some("2.10-3".into())),
                Action::Upgrade("shipshape-demo".into(), "1.0".into(), "1.1".into()),
                Action::Remove("tree".into(), "2.1.0-1".into()),
            ]
        );
        let d = actions_diff(&acts);
        assert_eq!(d.before, "shipshape-demo 1.0\ntree 2.1.0-1\n");
        assert_eq!(d.after, "hello 2.10-3\nshipshape-demo 1.1\n");
        assert_eq!(
            actions_summary(&acts),
            "install hello 2.10-3, upgrade shipshape-demo 1.0 -> 1.1, remove tree 2.1.0-1"
        );
        let prep = prepared_text(SIM);
        assert!(
            prep.starts_with("The following packages will be upgraded:"),
            "{prep}"
        );
        assert!(!prep.contains("Inst"));
        assert_eq!(
            parse_simulation("Purg tree [2.1.0-1]\n"),
            vec![Action::Purge("tree".into(), "2.1.0-1".into())]
        );
        assert!(parse_simulation("0 upgraded, 0 newly installed\n").is_empty());
    }

    #[test]
    fn decides_only_what_differs() {
        let f = parse_facts(
            "now=1\npkg=hello\tii \t2.10-3\npkg=shipshape-demo\tii \t1.0\npkg=tree\trc \t2.1.0-1\n",
        )
        .unwrap();
        let p = params(json!({"name": ["hello", "tree", "shipshape-demo=1.0"]})).unwrap();
        assert_eq!(decide(&p, &f), Op::Install(vec!["tree".into()]));
        let p = params(json!({"name": ["hello", "shipshape-demo=1.0"]})).unwrap();
        assert_eq!(decide(&p, &f), Op::Nothing);
        let p = params(json!({"name": "shipshape-demo=1.1"})).unwrap();
        assert_eq!(
            decide(&p, &f),
            Op::Install(vec!["shipshape-demo=1.1".into()])
        );
        let p = params(json!({"name": "shipshape-demo", "state": "latest"})).unwrap();
        assert_eq!(decide(&p, &f), Op::Install(vec!["shipshape-demo".into()]));
        let p = params(json!({"name": ["tree", "jq"], "state": "absent"})).unwrap();
        assert_eq!(decide(&p, &f), Op::Nothing);
        let p =
            params(json!({"name": ["tree", "hello"], "state": "absent", "purge": true})).unwrap();
        assert_eq!(
            decide(&p, &f),
            Op::Remove(vec!["tree".into(), "hello".into()])
        );
        let p = params(json!({"name": "hello=9", "state": "absent"})).unwrap();
        assert_eq!(decide(&p, &f), Op::Nothing);
        let p = params(json!({"autoremove": true})).unwrap();
        assert_eq!(decide(&p, &f), Op::AutoRemove);
    }

    #[test]
    fn commands_are_noninteractive_and_quoted() {
        let p = params(json!({
            "name": "hello", "install_recommends": false, "default_release": "lab",
            "lock_timeout": 5, "allow_downgrade": true
        }))
        .unwrap();
        let s = op_script(&p, &Op::Install(vec!["hello=2.10-3".into()]), false);
        assert_eq!(
            s,
            "DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true LC_ALL=C apt-get -y -q \
-o DPkg::Lock::Timeout=5 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
--no-install-recommends -t lab --allow-downgrades install hello=2.10-3\n"
        );
        let p = params(json!({"deb": "http://h/x y.deb"})).unwrap();
        let s = op_script(&p, &Op::Install(vec!["$deb".into()]), true);
        assert!(s.starts_with("u='http://h/x y.deb'\n"), "{s}");
        assert!(s.ends_with("install \"$deb\"\n"), "{s}");
        let p = params(json!({"name": "tree", "state": "absent", "purge": "yes"})).unwrap();
        assert!(op_script(&p, &Op::Remove(vec!["tree".into()]), true)
            .ends_with("apt-get -s -q -o DPkg::Lock::Timeout=60 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold remove --purge tree\n"));
    }

    #[test]
    fn update_script_fails_on_a_failed_source() {
        let script = update_script(5).replace(
            &format!("{APT_ENV} apt-get update -q -o DPkg::Lock::Timeout=5"),
            "{ printf 'Err:2 http://x lab InRelease\\n'; echo 'W: GPG error: x' >&2; }",
        );
        assert!(!script.contains("apt-get update"), "{script}");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(100), "{script}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("GPG error"));
        assert!(!String::from_utf8_lossy(&out.stdout).contains("stamp="));
    }

    #[test]
    fn apt_errors_name_the_package() {
        let e =
            "E: Unable to locate package no-such-pkg\nE: Version '9.9' for 'hello' was not found\n";
        assert_eq!(missing_packages(e), vec!["no-such-pkg", "hello=9.9"]);
        let out = ExecOutput {
            status: 100,
            stdout: b"Err:1 http://x lab InRelease\n".to_vec(),
            stderr: b"W: GPG error: http://x lab InRelease: NO_PUBKEY 1234\nE: The repository 'http://x lab InRelease' is not signed.\n".to_vec(),
        };
        let msg = update_failure(&out).to_string();
        assert!(
            msg.starts_with("Failed to update apt cache: Err:1"),
            "{msg}"
        );
        assert!(msg.contains("is not signed"), "{msg}");
    }

    #[test]
    fn query_script_runs_locally() {
        // dpkg-query on this (Debian) machine: bash is installed, the fake name is not.
        if std::process::Command::new("dpkg-query")
            .arg("--version")
            .output()
            .is_err()
        {
            return;
        }
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(query_script(&["bash", "no-such-pkg-x"], None))
            .output()
            .unwrap();
        let f = parse_facts(&String::from_utf8_lossy(&out.stdout)).unwrap();
        assert!(f.installed("bash").is_some(), "{f:?}");
        assert!(f.installed("no-such-pkg-x").is_none());
        assert!(f.now > 0);
    }
}
