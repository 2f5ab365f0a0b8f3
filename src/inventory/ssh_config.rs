//! `~/.ssh/config`, read as OpenSSH does for the settings shipshape uses: `Host` blocks with
//! `*`/`?` patterns and `!negation`, `Match all|host|originalhost`, the first value of a setting
//! wins, `Include` (globs, relative to `~/.ssh`), `~` and `%h`/`%r`/`%p`/`%d`/`%u`/`%%` tokens.

use std::path::{Path, PathBuf};

/// How deep `Include` may nest (OpenSSH's limit too).
const MAX_INCLUDE_DEPTH: usize = 16;

/// A parsed ssh client configuration.
#[derive(Clone, Debug, Default)]
pub struct SshConfig {
    entries: Vec<Entry>,
    home: Option<PathBuf>,
    warnings: Vec<String>,
}

/// OpenSSH's `StrictHostKeyChecking` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StrictHostKeyChecking {
    /// `yes`: unknown host keys are refused.
    Yes,
    /// `no`/`off`: unknown keys are accepted and recorded.
    No,
    /// `accept-new`: unknown keys are accepted, changed keys refused.
    AcceptNew,
    /// `ask` (OpenSSH's default): interactive; treated as `yes` without a terminal.
    Ask,
}

/// The settings that apply to one host alias.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SshHostConfig {
    /// `HostName`, tokens expanded (`None`: connect to the alias itself).
    pub hostname: Option<String>,
    /// `User`.
    pub user: Option<String>,
    /// `Port`.
    pub port: Option<u16>,
    /// Every `IdentityFile` that applies, in order, `~` and tokens expanded.
    pub identity_files: Vec<PathBuf>,
    /// `IdentitiesOnly`.
    pub identities_only: Option<bool>,
    /// `ProxyJump` (`None` also when set to `none`).
    pub proxy_jump: Option<String>,
    /// `StrictHostKeyChecking`.
    pub strict_host_key_checking: Option<StrictHostKeyChecking>,
    /// `UserKnownHostsFile` (OpenSSH accepts several; new keys go to the first).
    pub user_known_hosts_file: Vec<PathBuf>,
    /// `ConnectTimeout` in seconds.
    pub connect_timeout: Option<u64>,
}

#[derive(Clone, Debug)]
enum Condition {
    /// `Host p1 p2 !p3`.
    Host(Vec<String>),
    /// `Match ...`: every criterion must hold.
    Match(Vec<Criterion>),
}

#[derive(Clone, Debug)]
enum Criterion {
    All,
    Host(String, bool),
    OriginalHost(String, bool),
    /// A criterion we cannot evaluate (`exec`, `user`, `canonical`...): never matches.
    Unsupported,
}

#[derive(Clone, Debug)]
struct Entry {
    conditions: Vec<Condition>,
    keyword: String,
    args: Vec<String>,
}

impl SshConfig {
    /// Parses configuration text; `Include`s are resolved relative to `~/.ssh`.
    pub fn parse(text: &str) -> SshConfig {
        let home = home_dir();
        let mut cfg = SshConfig {
            entries: Vec::new(),
            home: home.clone(),
            warnings: Vec::new(),
        };
        let base = home.map(|h| h.join(".ssh")).unwrap_or_default();
        cfg.parse_text(text, &base, &[], 0);
        cfg
    }

    /// Reads and parses a configuration file (a missing file is an empty configuration).
    pub fn parse_file(path: &Path) -> SshConfig {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        SshConfig::parse(&text)
    }

    /// `~/.ssh/config` if it exists, else an empty configuration.
    pub fn load_default() -> SshConfig {
        match home_dir() {
            Some(home) => SshConfig::parse_file(&home.join(".ssh").join("config")),
            None => SshConfig::default(),
        }
    }

    /// What was skipped while reading (unreadable includes, includes nested too deeply).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    fn parse_text(&mut self, text: &str, base: &Path, outer: &[Condition], depth: usize) {
        let mut current: Vec<Condition> = outer.to_vec();
        for raw in text.lines() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (keyword, rest) = split_keyword(line);
            let keyword = keyword.to_ascii_lowercase();
            let args = split_args(rest);
            match keyword.as_str() {
                "host" => {
                    current = outer.to_vec();
                    current.push(Condition::Host(args));
                }
                "match" => {
                    current = outer.to_vec();
                    current.push(Condition::Match(parse_match(&args)));
                }
                "include" => {
                    if depth >= MAX_INCLUDE_DEPTH {
                        self.warnings
                            .push(format!("Include nested too deeply: {}", args.join(" ")));
                        continue;
                    }
                    for arg in args {
                        let expanded = self.expand_tilde(&arg);
                        let path = if Path::new(&expanded).is_absolute() {
                            PathBuf::from(expanded)
                        } else {
                            base.join(expanded)
                        };
                        let mut files: Vec<PathBuf> = glob::glob(&path.to_string_lossy())
                            .map(|paths| paths.filter_map(Result::ok).collect())
                            .unwrap_or_default();
                        files.sort();
                        for file in files {
                            match std::fs::read_to_string(&file) {
                                Ok(text) => self.parse_text(&text, base, &current, depth + 1),
                                Err(e) => self
                                    .warnings
                                    .push(format!("{}: cannot read: {e}", file.display())),
                            }
                        }
                    }
                }
                _ => self.entries.push(Entry {
                    conditions: current.clone(),
                    keyword,
                    args,
                }),
            }
        }
    }

    fn expand_tilde(&self, path: &str) -> String {
        match (path.strip_prefix('~'), &self.home) {
            (Some(rest), Some(home)) if rest.is_empty() || rest.starts_with('/') => {
                format!("{}{rest}", home.display())
            }
            _ => path.to_string(),
        }
    }

    /// The settings for `alias` (what `ssh -G alias` would report for these keywords).
    pub fn lookup(&self, alias: &str) -> SshHostConfig {
        let mut out = SshHostConfig::default();
        let mut hostname: Option<String> = None;
        let mut proxy_set = false;
        let mut known_set = false;
        for entry in &self.entries {
            let target = hostname.as_deref().unwrap_or(alias);
            if !entry.conditions.iter().all(|c| c.matches(alias, target)) {
                continue;
            }
            let Some(first) = entry.args.first() else {
                continue;
            };
            match entry.keyword.as_str() {
                "hostname" if hostname.is_none() => {
                    hostname = Some(expand_percent(first, &[('h', alias)]));
                }
                "user" if out.user.is_none() => out.user = Some(first.clone()),
                "port" if out.port.is_none() => out.port = first.parse().ok(),
                "identityfile" => out.identity_files.push(PathBuf::from(first)),
                "identitiesonly" if out.identities_only.is_none() => {
                    out.identities_only = yes_no(first);
                }
                "proxyjump" if !proxy_set => {
                    proxy_set = true;
                    out.proxy_jump = (!first.eq_ignore_ascii_case("none")).then(|| first.clone());
                }
                "stricthostkeychecking" if out.strict_host_key_checking.is_none() => {
                    out.strict_host_key_checking = match first.to_ascii_lowercase().as_str() {
                        "yes" | "true" => Some(StrictHostKeyChecking::Yes),
                        "no" | "false" | "off" => Some(StrictHostKeyChecking::No),
                        "accept-new" => Some(StrictHostKeyChecking::AcceptNew),
                        "ask" => Some(StrictHostKeyChecking::Ask),
                        _ => None,
                    };
                }
                "userknownhostsfile" if !known_set => {
                    known_set = true;
                    out.user_known_hosts_file = entry.args.iter().map(PathBuf::from).collect();
                }
                "connecttimeout" if out.connect_timeout.is_none() => {
                    out.connect_timeout = first.parse().ok();
                }
                _ => {}
            }
        }
        out.hostname = hostname;
        let host = out.hostname.clone().unwrap_or_else(|| alias.to_string());
        let local_user = std::env::var("USER").unwrap_or_default();
        let remote_user = out.user.clone().unwrap_or_else(|| local_user.clone());
        let port = out.port.unwrap_or(22).to_string();
        let home = self
            .home
            .as_ref()
            .map(|h| h.display().to_string())
            .unwrap_or_default();
        let tokens = [
            ('h', host.as_str()),
            ('n', alias),
            ('r', remote_user.as_str()),
            ('p', port.as_str()),
            ('d', home.as_str()),
            ('u', local_user.as_str()),
        ];
        let expand = |paths: &[PathBuf]| -> Vec<PathBuf> {
            paths
                .iter()
                .map(|p| {
                    let path = self.expand_tilde(&p.to_string_lossy());
                    PathBuf::from(expand_percent(&path, &tokens))
                })
                .collect()
        };
        out.identity_files = expand(&out.identity_files);
        out.user_known_hosts_file = expand(&out.user_known_hosts_file);
        out
    }
}

impl Condition {
    fn matches(&self, alias: &str, target: &str) -> bool {
        match self {
            Condition::Host(patterns) => host_patterns_match(patterns, alias),
            Condition::Match(criteria) => criteria.iter().all(|c| match c {
                Criterion::All => true,
                Criterion::Host(list, negate) => pattern_list_match(list, target) != *negate,
                Criterion::OriginalHost(list, negate) => pattern_list_match(list, alias) != *negate,
                Criterion::Unsupported => false,
            }),
        }
    }
}

/// `Host` semantics: some positive pattern matches and no negated one does.
fn host_patterns_match(patterns: &[String], host: &str) -> bool {
    let mut positive = false;
    for p in patterns {
        match p.strip_prefix('!') {
            Some(neg) if wildcard_match(neg, host) => return false,
            Some(_) => {}
            None => positive |= wildcard_match(p, host),
        }
    }
    positive
}

/// A comma-separated pattern list (`Match host a,b,!c`).
fn pattern_list_match(list: &str, host: &str) -> bool {
    let patterns: Vec<String> = list.split(',').map(String::from).collect();
    host_patterns_match(&patterns, host)
}

fn parse_match(args: &[String]) -> Vec<Criterion> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (negate, name) = match arg.strip_prefix('!') {
            Some(n) => (true, n),
            None => (false, arg.as_str()),
        };
        match name.to_ascii_lowercase().as_str() {
            "all" => out.push(Criterion::All),
            "host" => match it.next() {
                Some(list) => out.push(Criterion::Host(list.clone(), negate)),
                None => out.push(Criterion::Unsupported),
            },
            "originalhost" => match it.next() {
                Some(list) => out.push(Criterion::OriginalHost(list.clone(), negate)),
                None => out.push(Criterion::Unsupported),
            },
            "canonical" | "final" => out.push(Criterion::Unsupported),
            _ => {
                let _ = it.next();
                out.push(Criterion::Unsupported);
            }
        }
    }
    out
}

/// `*` and `?` wildcards, case-insensitive (host names are).
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn yes_no(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "yes" | "true" => Some(true),
        "no" | "false" => Some(false),
        _ => None,
    }
}

/// Splits `Keyword value`, `Keyword=value` or `Keyword = value`.
fn split_keyword(line: &str) -> (&str, &str) {
    let end = line
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(line.len());
    let (keyword, rest) = line.split_at(end);
    let rest = rest.trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest).trim_start();
    (keyword, rest)
}

/// Arguments separated by whitespace; double or single quotes group.
fn split_args(rest: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut in_arg = false;
    for c in rest.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_arg = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_arg {
                    out.push(std::mem::take(&mut cur));
                    in_arg = false;
                }
            }
            (None, '#') if !in_arg => break,
            (None, c) => {
                cur.push(c);
                in_arg = true;
            }
        }
    }
    if in_arg {
        out.push(cur);
    }
    out
}

/// Replaces `%x` tokens; `%%` is a percent sign; unknown tokens stay as written.
fn expand_percent(text: &str, tokens: &[(char, &str)]) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some(t) => match tokens.iter().find(|(k, _)| *k == t) {
                Some((_, v)) => out.push_str(v),
                None => {
                    out.push('%');
                    out.push(t);
                }
            },
            None => out.push('%'),
        }
    }
    out
}

fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> SshConfig {
        let mut c = SshConfig::parse(text);
        c.home = Some(PathBuf::from("/home/me"));
        c
    }

    const CONFIG: &str = "\
# A typical ~/.ssh/config
Host bastion
    HostName bastion.example.com
    User jump

Host web-* !web-legacy
    HostName %h.internal
    ProxyJump bastion
    IdentityFile ~/.ssh/web_%r@%h:%p
    Port 2222

Host web-legacy
    HostName 10.0.0.9
    ProxyJump none

Host db?
    User=postgres
    StrictHostKeyChecking accept-new
    UserKnownHostsFile ~/.ssh/known_db /etc/ssh/known_%h

Host *
    User deploy
    Port 22
    IdentityFile ~/.ssh/id_ed25519
    ProxyJump fallback
    StrictHostKeyChecking yes
    IdentitiesOnly yes
    ConnectTimeout 7
";

    #[test]
    fn first_value_wins_and_identity_files_accumulate() {
        let c = cfg(CONFIG);
        let web = c.lookup("web-1");
        assert_eq!(web.hostname.as_deref(), Some("web-1.internal"));
        assert_eq!(web.user.as_deref(), Some("deploy"));
        assert_eq!(web.port, Some(2222));
        assert_eq!(web.proxy_jump.as_deref(), Some("bastion"));
        assert_eq!(
            web.identity_files,
            [
                PathBuf::from("/home/me/.ssh/web_deploy@web-1.internal:2222"),
                PathBuf::from("/home/me/.ssh/id_ed25519"),
            ]
        );
        assert_eq!(web.identities_only, Some(true));
        assert_eq!(web.connect_timeout, Some(7));
    }

    #[test]
    fn negated_patterns_exclude_a_host() {
        let c = cfg(CONFIG);
        let legacy = c.lookup("web-legacy");
        assert_eq!(legacy.hostname.as_deref(), Some("10.0.0.9"));
        // `ProxyJump none` is a value too: it blocks the `Host *` fallback.
        assert_eq!(legacy.proxy_jump, None);
        assert_eq!(legacy.port, Some(22));
    }

    #[test]
    fn question_mark_equals_sign_and_several_known_hosts_files() {
        let c = cfg(CONFIG);
        let db = c.lookup("db1");
        assert_eq!(db.user.as_deref(), Some("postgres"));
        assert_eq!(
            db.strict_host_key_checking,
            Some(StrictHostKeyChecking::AcceptNew)
        );
        assert_eq!(
            db.user_known_hosts_file,
            [
                PathBuf::from("/home/me/.ssh/known_db"),
                PathBuf::from("/etc/ssh/known_db1")
            ]
        );
        let other = c.lookup("db12");
        assert_eq!(
            other.user.as_deref(),
            Some("deploy"),
            "db? matches one character"
        );
        assert_eq!(
            other.strict_host_key_checking,
            Some(StrictHostKeyChecking::Yes)
        );
        assert_eq!(other.hostname, None);
    }

    #[test]
    fn match_blocks() {
        let c = cfg("Host short\n  HostName long.example.com\n\
             Match host *.example.com\n  User matched\n\
             Match originalhost short exec true\n  Port 1\n\
             Match all\n  Port 2\n");
        let s = c.lookup("short");
        assert_eq!(
            s.user.as_deref(),
            Some("matched"),
            "Match host sees the HostName"
        );
        assert_eq!(
            s.port,
            Some(2),
            "exec is never evaluated, so that block is skipped"
        );
    }

    #[test]
    fn includes_are_relative_and_conditional() {
        let dir = tempfile::tempdir().expect("tempdir");
        let inc = dir.path().join("conf.d");
        std::fs::create_dir(&inc).expect("mkdir");
        std::fs::write(inc.join("10-a.conf"), "Host a\n  User from-include\n").expect("write");
        std::fs::write(inc.join("20-b.conf"), "Port 4000\n").expect("write");
        let text = format!(
            "Include {}/*.conf\nHost b\n  Include {}/20-b.conf\nHost *\n  User fallback\n",
            inc.display(),
            inc.display()
        );
        let c = cfg(&text);
        assert_eq!(c.lookup("a").user.as_deref(), Some("from-include"));
        // 20-b.conf applies to every host when included at top level...
        assert_eq!(c.lookup("a").port, Some(4000));
        assert_eq!(c.lookup("zzz").user.as_deref(), Some("fallback"));
    }

    #[test]
    fn include_inside_a_host_block_applies_to_that_host_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("only-b.conf");
        std::fs::write(&f, "Port 4000\n").expect("write");
        let c = cfg(&format!("Host b\n  Include {}\n", f.display()));
        assert_eq!(c.lookup("b").port, Some(4000));
        assert_eq!(c.lookup("a").port, None);
    }

    #[test]
    fn self_include_does_not_loop_forever() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("loop.conf");
        std::fs::write(&f, format!("Include {}\nUser u\n", f.display())).expect("write");
        let c = SshConfig::parse(&format!("Include {}\n", f.display()));
        assert_eq!(c.lookup("x").user.as_deref(), Some("u"));
        assert!(!c.warnings().is_empty());
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*.example.com", "a.example.com"));
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("a*b*c", "aXXbYYc"));
        assert!(!wildcard_match("a*b*c", "aXXbYY"));
        assert!(wildcard_match("WEB?", "web1"));
        assert!(host_patterns_match(&["*".into(), "!x".into()], "y"));
        assert!(!host_patterns_match(&["*".into(), "!x".into()], "x"));
        assert!(
            !host_patterns_match(&["!x".into()], "y"),
            "a negation alone matches nothing"
        );
    }

    #[test]
    fn quoted_arguments_and_comments() {
        let c = cfg("Host x\n  IdentityFile \"/path with spaces/key\" # comment\n");
        assert_eq!(
            c.lookup("x").identity_files,
            [PathBuf::from("/path with spaces/key")]
        );
        assert_eq!(split_keyword("Port=22"), ("Port", "22"));
        assert_eq!(split_keyword("Port = 22"), ("Port", "22"));
    }
}
