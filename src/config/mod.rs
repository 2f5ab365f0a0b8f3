//! Configuration: the settings shipshape takes from `ansible.cfg` (or `shipshape.toml`), the
//! `ANSIBLE_*` environment and its defaults, each with the place it came from. The command
//! line is applied on top by `cli` (`Setting::or_cli`). Reads files and the environment only.
//!
//! Precedence (highest first): command line > environment > config file > default.
//! One config file is read, the first found of: `$ANSIBLE_CONFIG` (a file, or a directory
//! holding ansible.cfg), `./shipshape.toml`, `./ansible.cfg` (skipped with a warning when the
//! current directory is world-writable, as Ansible does), `~/.ansible.cfg`,
//! `/etc/ansible/ansible.cfg`. Unknown sections and keys are warnings naming file:line;
//! invalid values are errors naming file:line (or the environment variable).

mod ini;
mod toml_file;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::transport::HostKeyPolicy;

/// A config file or environment value that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file exists but could not be read.
    #[error("{}: cannot read: {message}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// The operating system's reason.
        message: String,
    },
    /// A syntax error or an invalid value in a config file.
    #[error("{}:{line}: {message}", file.display())]
    Invalid {
        /// The file.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// An environment variable with an invalid value.
    #[error("environment variable {var}: {message}")]
    Env {
        /// The variable.
        var: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// Where a setting's value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// shipshape's built-in default.
    Default,
    /// An environment variable.
    Env(&'static str),
    /// A line of a config file.
    File {
        /// The config file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
    },
    /// A command-line option.
    CommandLine,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => write!(f, "default"),
            Origin::Env(var) => write!(f, "env {var}"),
            Origin::File { path, line } => write!(f, "{}:{line}", path.display()),
            Origin::CommandLine => write!(f, "command line"),
        }
    }
}

/// One effective value and its origin.
#[derive(Clone, Debug, PartialEq)]
pub struct Setting<T> {
    /// The value.
    pub value: T,
    /// Where it came from.
    pub origin: Origin,
}

impl<T> Setting<T> {
    fn default(value: T) -> Self {
        Setting {
            value,
            origin: Origin::Default,
        }
    }

    /// The command-line value when one was given (it wins), else this setting.
    pub fn or_cli(self, cli: Option<T>) -> Setting<T> {
        match cli {
            Some(value) => Setting {
                value,
                origin: Origin::CommandLine,
            },
            None => self,
        }
    }
}

/// A value as a config file holds it, before its setting's type is applied.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum RawValue {
    /// ansible.cfg values, TOML strings/integers/booleans.
    Text(String),
    /// A TOML list of strings.
    List(Vec<String>),
}

/// One `key = value` of a config file (a section with no keys has one entry with an empty
/// key, so that unknown empty sections are reported too).
#[derive(Clone, Debug)]
pub(crate) struct RawEntry {
    pub(crate) section: String,
    pub(crate) section_line: usize,
    pub(crate) key: String,
    pub(crate) value: RawValue,
    pub(crate) line: usize,
}

/// A supported setting: name in `shipshape config`, file section and key, environment.
struct Key {
    section: &'static str,
    key: &'static str,
    env: &'static str,
}

const INVENTORY: Key = Key {
    section: "defaults",
    key: "inventory",
    env: "ANSIBLE_INVENTORY",
};
const FORKS: Key = Key {
    section: "defaults",
    key: "forks",
    env: "ANSIBLE_FORKS",
};
const REMOTE_USER: Key = Key {
    section: "defaults",
    key: "remote_user",
    env: "ANSIBLE_REMOTE_USER",
};
const PRIVATE_KEY_FILE: Key = Key {
    section: "defaults",
    key: "private_key_file",
    env: "ANSIBLE_PRIVATE_KEY_FILE",
};
const ROLES_PATH: Key = Key {
    section: "defaults",
    key: "roles_path",
    env: "ANSIBLE_ROLES_PATH",
};
const HOST_KEY_CHECKING: Key = Key {
    section: "defaults",
    key: "host_key_checking",
    env: "ANSIBLE_HOST_KEY_CHECKING",
};
const TIMEOUT: Key = Key {
    section: "defaults",
    key: "timeout",
    env: "ANSIBLE_TIMEOUT",
};
const VAULT_PASSWORD_FILE: Key = Key {
    section: "defaults",
    key: "vault_password_file",
    env: "ANSIBLE_VAULT_PASSWORD_FILE",
};
const BECOME: Key = Key {
    section: "privilege_escalation",
    key: "become",
    env: "ANSIBLE_BECOME",
};
const BECOME_USER: Key = Key {
    section: "privilege_escalation",
    key: "become_user",
    env: "ANSIBLE_BECOME_USER",
};
const BECOME_ASK_PASS: Key = Key {
    section: "privilege_escalation",
    key: "become_ask_pass",
    env: "ANSIBLE_BECOME_ASK_PASS",
};
const BECOME_METHOD: Key = Key {
    section: "privilege_escalation",
    key: "become_method",
    env: "ANSIBLE_BECOME_METHOD",
};

/// Every supported setting, in `shipshape config` order.
const KEYS: [&Key; 12] = [
    &INVENTORY,
    &FORKS,
    &REMOTE_USER,
    &PRIVATE_KEY_FILE,
    &ROLES_PATH,
    &HOST_KEY_CHECKING,
    &TIMEOUT,
    &VAULT_PASSWORD_FILE,
    &BECOME,
    &BECOME_USER,
    &BECOME_ASK_PASS,
    &BECOME_METHOD,
];

/// Keys accepted and ignored because they change nothing in shipshape: (section, key, why).
const NO_EFFECT: [(&str, &str, &str); 10] = [
    (
        "defaults",
        "interpreter_python",
        "no Python is used on the targets",
    ),
    (
        "defaults",
        "local_tmp",
        "no module files are built on the controller",
    ),
    (
        "defaults",
        "retry_files_enabled",
        "no retry files are written",
    ),
    ("defaults", "nocows", "no cowsay"),
    (
        "ssh_connection",
        "pipelining",
        "no module files are copied: every task already runs without temp files",
    ),
    (
        "ssh_connection",
        "ssh_args",
        "one connection per host is kept for the whole run (only -o Control* options are accepted)",
    ),
    (
        "ssh_connection",
        "control_path",
        "one connection per host is kept for the whole run",
    ),
    (
        "ssh_connection",
        "control_path_dir",
        "one connection per host is kept for the whole run",
    ),
    (
        "ssh_connection",
        "transfer_method",
        "files travel over the open session (stdin/SFTP)",
    ),
    (
        "ssh_connection",
        "scp_if_ssh",
        "files travel over the open session (stdin/SFTP)",
    ),
];

/// Sections shipshape reads; keys in other sections are reported once per section.
const SECTIONS: [&str; 3] = ["defaults", "privilege_escalation", "ssh_connection"];

/// A key accepted with no effect, for `shipshape config`.
#[derive(Clone, Debug, PartialEq)]
pub struct Ignored {
    /// `section.key`.
    pub name: String,
    /// The value as written.
    pub value: String,
    /// Where.
    pub origin: Origin,
    /// Why it changes nothing.
    pub why: &'static str,
}

/// The effective settings (environment > config file > default), each with its origin.
#[derive(Clone, Debug)]
pub struct Config {
    /// The config file read, if any.
    pub file: Option<PathBuf>,
    /// `[defaults] inventory`: inventory sources (comma-separated).
    pub inventory: Setting<Vec<String>>,
    /// `[defaults] forks`.
    pub forks: Setting<usize>,
    /// `[defaults] remote_user`.
    pub remote_user: Setting<Option<String>>,
    /// `[defaults] private_key_file`.
    pub private_key_file: Setting<Option<PathBuf>>,
    /// `[defaults] roles_path` (':'-separated).
    pub roles_path: Setting<Vec<PathBuf>>,
    /// `[defaults] host_key_checking` (True = strict, False = off; also strict/accept-new/off).
    pub host_key_checking: Setting<HostKeyPolicy>,
    /// `[defaults] timeout`: SSH connect timeout in seconds.
    pub timeout: Setting<u64>,
    /// `[defaults] vault_password_file`.
    pub vault_password_file: Setting<Option<PathBuf>>,
    /// `[privilege_escalation] become`.
    pub become_: Setting<bool>,
    /// `[privilege_escalation] become_user` (None = root).
    pub become_user: Setting<Option<String>>,
    /// `[privilege_escalation] become_ask_pass`.
    pub become_ask_pass: Setting<bool>,
    /// `[privilege_escalation] become_method` (only sudo).
    pub become_method: Setting<String>,
    /// Keys accepted with no effect.
    pub ignored: Vec<Ignored>,
    /// Warnings for the user (unknown keys and sections, unsafe choices), each naming where.
    pub warnings: Vec<String>,
}

/// Where [`Config::load_from`] looks: the environment, the current directory and home.
pub struct Context<'a> {
    /// Reads an environment variable.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// The current directory (for ./ansible.cfg and ./shipshape.toml).
    pub cwd: PathBuf,
    /// The home directory (for ~/.ansible.cfg and `~` in paths).
    pub home: Option<PathBuf>,
    /// The system-wide config file (`/etc/ansible/ansible.cfg`).
    pub system_file: PathBuf,
}

impl Config {
    /// Loads the configuration of this process (its environment, current directory, HOME).
    pub fn load() -> Result<Config, ConfigError> {
        let env = |k: &str| std::env::var(k).ok();
        Config::load_from(&Context {
            env: &env,
            cwd: PathBuf::from("."),
            home: std::env::var_os("HOME").map(PathBuf::from),
            system_file: PathBuf::from("/etc/ansible/ansible.cfg"),
        })
    }

    /// Loads the configuration seen from `ctx`.
    pub fn load_from(ctx: &Context<'_>) -> Result<Config, ConfigError> {
        let mut warnings = Vec::new();
        let file = find_file(ctx, &mut warnings);
        let entries = match &file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
                    file: path.clone(),
                    message: e.to_string(),
                })?;
                if path.extension().is_some_and(|e| e == "toml") {
                    toml_file::parse(path, &text)?
                } else {
                    ini::parse(path, &text)?
                }
            }
            None => Vec::new(),
        };
        let mut r = Resolver {
            ctx,
            file: file.clone(),
            entries,
            warnings,
        };
        let hkc = r.resolve(&HOST_KEY_CHECKING, HostKeyPolicy::Strict, |v, _| {
            parse_host_key_checking(one(v)?)
        })?;
        let config = Config {
            inventory: r.resolve(&INVENTORY, Vec::new(), |v, base| {
                Ok(list(v, ',')
                    .into_iter()
                    .map(|s| resolve_path(&s, base, ctx).to_string_lossy().into_owned())
                    .collect())
            })?,
            forks: r.resolve(&FORKS, 50, |v, _| positive(one(v)?).map(|n| n as usize))?,
            remote_user: r.resolve(&REMOTE_USER, None, |v, _| Ok(non_empty(one(v)?)))?,
            private_key_file: r.resolve(&PRIVATE_KEY_FILE, None, |v, base| {
                Ok(non_empty(one(v)?).map(|s| resolve_path(&s, base, ctx)))
            })?,
            roles_path: r.resolve(&ROLES_PATH, Vec::new(), |v, base| {
                Ok(list(v, ':')
                    .into_iter()
                    .map(|s| resolve_path(&s, base, ctx))
                    .collect())
            })?,
            host_key_checking: hkc,
            timeout: r.resolve(&TIMEOUT, 10, |v, _| positive(one(v)?))?,
            vault_password_file: r.resolve(&VAULT_PASSWORD_FILE, None, |v, base| {
                Ok(non_empty(one(v)?).map(|s| resolve_path(&s, base, ctx)))
            })?,
            become_: r.resolve(&BECOME, false, |v, _| boolean(one(v)?))?,
            become_user: r.resolve(&BECOME_USER, None, |v, _| Ok(non_empty(one(v)?)))?,
            become_ask_pass: r.resolve(&BECOME_ASK_PASS, false, |v, _| boolean(one(v)?))?,
            become_method: r.resolve(&BECOME_METHOD, "sudo".to_string(), |v, _| {
                let m = one(v)?.trim().to_string();
                if m == "sudo" {
                    Ok(m)
                } else {
                    Err(format!(
                        "become_method '{m}' is not supported: shipshape becomes with sudo only"
                    ))
                }
            })?,
            ignored: Vec::new(),
            warnings: Vec::new(),
            file,
        };
        let (ignored, warnings) = r.leftovers();
        Ok(Config {
            ignored,
            warnings,
            ..config
        })
    }

    /// The warning for host key checking turned off by the config file or the environment
    /// (`host_key_checking = False`), given the effective setting.
    pub fn host_key_warning(setting: &Setting<HostKeyPolicy>) -> Option<String> {
        let from_config = matches!(setting.origin, Origin::File { .. } | Origin::Env(_));
        (setting.value == HostKeyPolicy::Off && from_config).then(|| {
            format!(
                "{}: host_key_checking is False: host keys are NOT checked (shipshape's \
                 --host-key-checking off); prefer --host-key-checking accept-new for new hosts",
                setting.origin
            )
        })
    }

    /// Every supported setting as (name, value shown, origin), in a stable order.
    pub fn rows(&self) -> Vec<(String, String, &Origin)> {
        let path = |p: &Option<PathBuf>| {
            p.as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "(none)".into())
        };
        let name = |k: &Key| format!("{}.{}", k.section, k.key);
        vec![
            (
                name(&INVENTORY),
                if self.inventory.value.is_empty() {
                    "(none: only the implicit localhost)".into()
                } else {
                    self.inventory.value.join(",")
                },
                &self.inventory.origin,
            ),
            (
                name(&FORKS),
                self.forks.value.to_string(),
                &self.forks.origin,
            ),
            (
                name(&REMOTE_USER),
                self.remote_user
                    .value
                    .clone()
                    .unwrap_or_else(|| "(none: the inventory's, ~/.ssh/config's or $USER)".into()),
                &self.remote_user.origin,
            ),
            (
                name(&PRIVATE_KEY_FILE),
                path(&self.private_key_file.value),
                &self.private_key_file.origin,
            ),
            (
                name(&ROLES_PATH),
                if self.roles_path.value.is_empty() {
                    "(none: ./roles only)".into()
                } else {
                    self.roles_path
                        .value
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(":")
                },
                &self.roles_path.origin,
            ),
            (
                name(&HOST_KEY_CHECKING),
                match self.host_key_checking.value {
                    HostKeyPolicy::Strict => "strict",
                    HostKeyPolicy::AcceptNew => "accept-new",
                    HostKeyPolicy::Off => "off",
                }
                .into(),
                &self.host_key_checking.origin,
            ),
            (
                name(&TIMEOUT),
                self.timeout.value.to_string(),
                &self.timeout.origin,
            ),
            (
                name(&VAULT_PASSWORD_FILE),
                path(&self.vault_password_file.value),
                &self.vault_password_file.origin,
            ),
            (
                name(&BECOME),
                self.become_.value.to_string(),
                &self.become_.origin,
            ),
            (
                name(&BECOME_USER),
                self.become_user
                    .value
                    .clone()
                    .unwrap_or_else(|| "root".into()),
                &self.become_user.origin,
            ),
            (
                name(&BECOME_ASK_PASS),
                self.become_ask_pass.value.to_string(),
                &self.become_ask_pass.origin,
            ),
            (
                name(&BECOME_METHOD),
                self.become_method.value.clone(),
                &self.become_method.origin,
            ),
        ]
    }

    /// The text of `shipshape config`: the file read, every setting with its value and
    /// origin, the keys accepted with no effect.
    pub fn render(&self) -> String {
        let mut out = format!(
            "config file: {}\n\n",
            self.file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "(none found)".into())
        );
        let rows = self.rows();
        let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
        for (name, value, origin) in rows {
            out.push_str(&format!("{name:<width$} = {value}  ({origin})\n"));
        }
        if !self.ignored.is_empty() {
            out.push_str("\naccepted, no effect in shipshape:\n");
            for i in &self.ignored {
                out.push_str(&format!(
                    "{} = {}  ({}): {}\n",
                    i.name, i.value, i.origin, i.why
                ));
            }
        }
        out
    }
}

/// Finds the config file (see the module docs for the order).
fn find_file(ctx: &Context<'_>, warnings: &mut Vec<String>) -> Option<PathBuf> {
    if let Some(v) = (ctx.env)("ANSIBLE_CONFIG").filter(|v| !v.is_empty()) {
        let mut p = resolve_path(&v, None, ctx);
        if p.is_dir() {
            p = p.join("ansible.cfg");
        }
        if p.is_file() {
            return Some(p);
        }
        warnings.push(format!(
            "ANSIBLE_CONFIG names {}, which is not a readable file: ignored",
            p.display()
        ));
    }
    let local_toml = ctx.cwd.join("shipshape.toml");
    if local_toml.is_file() {
        return Some(local_toml);
    }
    let local = ctx.cwd.join("ansible.cfg");
    if local.is_file() {
        if world_writable(&ctx.cwd) {
            warnings.push(format!(
                "the current directory {} is world-writable: its ansible.cfg is ignored (as Ansible does)",
                ctx.cwd.display()
            ));
        } else {
            return Some(local);
        }
    }
    if let Some(home) = &ctx.home {
        let p = home.join(".ansible.cfg");
        if p.is_file() {
            return Some(p);
        }
    }
    ctx.system_file.is_file().then(|| ctx.system_file.clone())
}

fn world_writable(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(dir).is_ok_and(|m| m.permissions().mode() & 0o002 != 0)
}

/// Resolves settings one by one, remembering which file entries were used.
struct Resolver<'a> {
    ctx: &'a Context<'a>,
    file: Option<PathBuf>,
    entries: Vec<RawEntry>,
    warnings: Vec<String>,
}

impl Resolver<'_> {
    /// Environment, then file, then `default`; `parse` gets the raw value and the directory
    /// relative paths are resolved against (the config file's; None = as given).
    fn resolve<T>(
        &mut self,
        key: &Key,
        default: T,
        parse: impl Fn(&RawValue, Option<&Path>) -> Result<T, String>,
    ) -> Result<Setting<T>, ConfigError> {
        if let Some(v) = (self.ctx.env)(key.env).filter(|v| !v.is_empty()) {
            let value = parse(&RawValue::Text(v), None).map_err(|message| ConfigError::Env {
                var: key.env,
                message,
            })?;
            return Ok(Setting {
                value,
                origin: Origin::Env(key.env),
            });
        }
        let Some(file) = &self.file else {
            return Ok(Setting::default(default));
        };
        let Some(entry) = self
            .entries
            .iter()
            .find(|e| e.section == key.section && e.key == key.key)
        else {
            return Ok(Setting::default(default));
        };
        let base = file
            .parent()
            .filter(|p| !p.as_os_str().is_empty() && *p != Path::new("."));
        let value =
            parse(&unquote(&entry.value), base).map_err(|message| ConfigError::Invalid {
                file: file.clone(),
                line: entry.line,
                message: format!("{}: {message}", key.key),
            })?;
        Ok(Setting {
            value,
            origin: Origin::File {
                path: file.clone(),
                line: entry.line,
            },
        })
    }

    /// Entries not used by a supported setting: the no-effect ones, and warnings for the rest.
    fn leftovers(self) -> (Vec<Ignored>, Vec<String>) {
        let mut ignored = Vec::new();
        let mut warnings = self.warnings;
        let Some(file) = self.file else {
            return (ignored, warnings);
        };
        let mut reported_sections: Vec<usize> = Vec::new();
        for e in &self.entries {
            let origin = Origin::File {
                path: file.clone(),
                line: e.line,
            };
            if !SECTIONS.contains(&e.section.as_str()) {
                if !reported_sections.contains(&e.section_line) {
                    reported_sections.push(e.section_line);
                    warnings.push(format!(
                        "{}:{}: section [{}] is not used by shipshape: ignored",
                        file.display(),
                        e.section_line,
                        e.section
                    ));
                }
                continue;
            }
            if e.key.is_empty()
                || KEYS
                    .iter()
                    .any(|k| k.section == e.section && k.key == e.key)
            {
                continue;
            }
            let value = match unquote(&e.value) {
                RawValue::Text(t) => t,
                RawValue::List(l) => l.join(","),
            };
            if let Some((_, _, why)) = NO_EFFECT
                .iter()
                .find(|(s, k, _)| *s == e.section && *k == e.key)
            {
                if e.key == "ssh_args" && !only_control_options(&value) {
                    warnings.push(format!(
                        "{origin}: [ssh_connection] ssh_args = {value}: not supported, ignored \
                         (put SSH options in ~/.ssh/config, which shipshape reads)"
                    ));
                    continue;
                }
                ignored.push(Ignored {
                    name: format!("{}.{}", e.section, e.key),
                    value,
                    origin,
                    why,
                });
                continue;
            }
            warnings.push(format!(
                "{origin}: unknown key '{}' in [{}]: ignored (shipshape does not support it)",
                e.key, e.section
            ));
        }
        (ignored, warnings)
    }
}

/// Whether `ssh_args` holds only connection-sharing options (`-o ControlMaster=...`,
/// `-o ControlPersist=...`, `-o ControlPath=...`), which change nothing here.
fn only_control_options(args: &str) -> bool {
    let mut words = args.split_whitespace();
    while let Some(w) = words.next() {
        let opt = if w == "-o" {
            match words.next() {
                Some(o) => o,
                None => return false,
            }
        } else if let Some(o) = w.strip_prefix("-o") {
            o
        } else {
            return false;
        };
        let name = opt
            .split(['=', ' '])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        if !matches!(
            name.as_str(),
            "controlmaster" | "controlpersist" | "controlpath"
        ) {
            return false;
        }
    }
    true
}

/// Removes one pair of matching surrounding quotes (Ansible unquotes ini values).
fn unquote(v: &RawValue) -> RawValue {
    match v {
        RawValue::Text(t) => {
            let t = t.trim();
            let inner = ['"', '\'']
                .iter()
                .find_map(|q| t.strip_prefix(*q).and_then(|s| s.strip_suffix(*q)))
                .filter(|_| t.len() >= 2);
            RawValue::Text(inner.unwrap_or(t).to_string())
        }
        RawValue::List(l) => RawValue::List(l.clone()),
    }
}

/// The single text of a scalar setting.
fn one(v: &RawValue) -> Result<&str, String> {
    match v {
        RawValue::Text(t) => Ok(t),
        RawValue::List(_) => Err("expected a single value, found a list".into()),
    }
}

/// Items of a list setting: a TOML list, or text split on `sep` (and newlines).
fn list(v: &RawValue, sep: char) -> Vec<String> {
    match v {
        RawValue::Text(t) => t
            .split([sep, '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        RawValue::List(l) => l
            .iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
    }
}

fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// A positive integer.
fn positive(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ if s.contains('#') => Err(format!(
            "'{s}' is not a positive integer (in ansible.cfg only ';' starts an inline comment)"
        )),
        _ => Err(format!("'{s}' is not a positive integer")),
    }
}

/// Ansible's booleans: yes/no, true/false, on/off, 1/0, y/n, t/f (any case).
fn boolean(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" | "1" | "y" | "t" => Ok(true),
        "no" | "false" | "off" | "0" | "n" | "f" => Ok(false),
        _ => Err(format!("'{s}' is not a boolean (use True or False)")),
    }
}

/// Ansible's booleans (True = strict, False = off), or shipshape's strict/accept-new/off.
fn parse_host_key_checking(s: &str) -> Result<HostKeyPolicy, String> {
    if let Ok(b) = boolean(s) {
        return Ok(if b {
            HostKeyPolicy::Strict
        } else {
            HostKeyPolicy::Off
        });
    }
    HostKeyPolicy::parse(s)
        .ok_or_else(|| format!("'{s}' is not a boolean nor one of strict, accept-new, off"))
}

/// Expands `~`, `$VAR` and `${VAR}`, then makes a relative path relative to `base`.
fn resolve_path(s: &str, base: Option<&Path>, ctx: &Context<'_>) -> PathBuf {
    let s = s.trim();
    let expanded = expand_vars(s, ctx);
    let p = match (expanded.strip_prefix('~'), &ctx.home) {
        (Some(rest), Some(home)) if rest.is_empty() || rest.starts_with('/') => {
            home.join(rest.trim_start_matches('/'))
        }
        _ => PathBuf::from(&expanded),
    };
    match base {
        Some(b) if p.is_relative() => b.join(p),
        _ => p,
    }
}

/// `$VAR` and `${VAR}` from the environment; unknown variables are left as written.
fn expand_vars(s: &str, ctx: &Context<'_>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, len) = if let Some(inner) = after.strip_prefix('{') {
            match inner.find('}') {
                Some(end) => (&inner[..end], end + 2),
                None => ("", 0),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        match (ctx.env)(name).filter(|_| !name.is_empty()) {
            Some(v) => out.push_str(&v),
            None => out.push_str(&rest[i..i + 1 + len]),
        }
        rest = &rest[i + 1 + len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests;
