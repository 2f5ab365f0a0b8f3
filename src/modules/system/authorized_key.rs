//! `authorized_key` (ansible.posix): SSH public keys present in or absent from a user's
//! authorized_keys file. One read-only query (the user's passwd entry, the key file's
//! directory and content); keys are matched by type and blob like Ansible, so a changed
//! option or comment rewrites the line. It never fetches keys from URLs.

use serde_json::Value;

use crate::core::{Diff, Module, ModuleError, ModuleSpec, ParamKind, ParamSpec, Plan, ResultMap};
use crate::core::{Sh, TaskCtx, quote};
use crate::modules::args::{Args, Rules};
use crate::modules::files::atomic::{FileAttrs, Source, WriteSpec, check_outputs, write_step};

/// The `authorized_key` module.
pub struct AuthorizedKey;

/// Parameters of `authorized_key`.
pub static SPEC: ModuleSpec = ModuleSpec {
    name: "authorized_key",
    doc: "Adds or removes SSH authorized keys of a user.",
    params: &[
        ParamSpec::new("user", ParamKind::Str, "The user whose keys are managed.").required(),
        ParamSpec::new(
            "key",
            ParamKind::Str,
            "The SSH public key(s), one per line (lines starting with # are ignored).",
        )
        .required(),
        ParamSpec::new(
            "path",
            ParamKind::Path,
            "The authorized_keys file (default ~user/.ssh/authorized_keys).",
        ),
        ParamSpec::new(
            "manage_dir",
            ParamKind::Bool,
            "Create the key file's directory (mode 0700, owned by the user) (default yes).",
        ),
        ParamSpec::new("state", ParamKind::Str, "present (default) or absent.")
            .choices(&["present", "absent"]),
        ParamSpec::new(
            "exclusive",
            ParamKind::Bool,
            "Remove every other key from the file (default no).",
        ),
        ParamSpec::new(
            "key_options",
            ParamKind::Str,
            "Options prepended to the key (`no-port-forwarding,from=\"10.0.0.1\"`).",
        ),
        ParamSpec::new("comment", ParamKind::Str, "Replaces the key's comment."),
    ],
    free_form: false,
};

/// Argument rules of `authorized_key`.
pub const RULES: Rules = Rules::NONE;

/// The SSH2 key types Ansible recognises at the start of a key (after options).
const KEY_TYPES: &[&str] = &[
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp384-cert-v01@openssh.com",
    "ecdsa-sha2-nistp521",
    "ecdsa-sha2-nistp521-cert-v01@openssh.com",
    "sk-ssh-ed25519@openssh.com",
    "sk-ssh-ed25519-cert-v01@openssh.com",
    "ssh-ed25519",
    "ssh-ed25519-cert-v01@openssh.com",
    "ssh-dss",
    "ssh-rsa",
    "ssh-xmss@openssh.com",
    "ssh-xmss-cert-v01@openssh.com",
    "rsa-sha2-256",
    "rsa-sha2-512",
    "ssh-rsa-cert-v01@openssh.com",
    "rsa-sha2-256-cert-v01@openssh.com",
    "rsa-sha2-512-cert-v01@openssh.com",
    "ssh-dss-cert-v01@openssh.com",
];

/// Key options in order (`from="a,b"`, `no-pty`); a flag has no value. Duplicates are kept
/// (several `permitopen=` are valid).
pub type KeyOptions = Vec<(String, Option<String>)>;

/// One parsed key line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshKey {
    /// Options before the key type.
    pub options: KeyOptions,
    /// The key type (`ssh-ed25519`).
    pub kind: String,
    /// The base64 blob.
    pub blob: String,
    /// Everything after the blob, joined by single spaces ("" when none).
    pub comment: String,
}

impl SshKey {
    /// The key as one authorized_keys line (no newline).
    pub fn line(&self) -> String {
        let mut s = String::new();
        if !self.options.is_empty() {
            s.push_str(&render_options(&self.options));
            s.push(' ');
        }
        s.push_str(&self.kind);
        s.push(' ');
        s.push_str(&self.blob);
        if !self.comment.is_empty() {
            s.push(' ');
            s.push_str(&self.comment);
        }
        s
    }

    /// Whether two keys are the same key (type and blob), whatever their options or comment.
    pub fn same_key(&self, other: &SshKey) -> bool {
        self.kind == other.kind && self.blob == other.blob
    }
}

/// Splits an options string on commas outside double or single quotes, as Ansible does.
pub fn parse_options(options: &str) -> KeyOptions {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut quote_char: Option<char> = None;
    for ch in options.chars() {
        match (quote_char, ch) {
            (None, ',') => parts.push(std::mem::take(&mut cur)),
            (None, '"' | '\'') => {
                quote_char = Some(ch);
                cur.push(ch);
            }
            (Some(q), c) if c == q => {
                quote_char = None;
                cur.push(ch);
            }
            _ => cur.push(ch),
        }
    }
    parts.push(cur);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (p, None),
        })
        .collect()
}

/// Joins options back into `a,b=c` form.
pub fn render_options(options: &KeyOptions) -> String {
    options
        .iter()
        .map(|(k, v)| match v {
            Some(v) => format!("{k}={v}"),
            None => k.clone(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Parses one key line: optional options, a known key type, the blob and a comment. `None`
/// for comments, blank lines and anything without a known key type and a base64 blob.
pub fn parse_key(line: &str) -> Option<SshKey> {
    let line = line.replace("\\#", "#");
    let parts: Vec<&str> = line.split_whitespace().collect();
    if parts.first().is_none_or(|p| p.starts_with('#')) {
        return None;
    }
    let idx = parts.iter().position(|p| KEY_TYPES.contains(p))?;
    let blob = parts.get(idx + 1)?;
    let base64 = |b: &str| {
        !b.is_empty()
            && b.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/' || c == b'=')
    };
    if !base64(blob) {
        return None;
    }
    let options = if idx > 0 {
        parse_options(&parts[..idx].join(" "))
    } else {
        Vec::new()
    };
    Some(SshKey {
        options,
        kind: parts[idx].to_string(),
        blob: blob.to_string(),
        comment: parts[idx + 2..].join(" "),
    })
}

/// The keys a task asks for (from `key`, `key_options`, `comment`).
pub fn wanted_keys(
    key: &str,
    key_options: Option<&str>,
    comment: Option<&str>,
) -> Result<Vec<SshKey>, String> {
    if key.starts_with("http://") || key.starts_with("https://") {
        return Err(
            "authorized_key: parameter 'key': fetching keys from a URL is not \
                    supported; give the key text (e.g. with the file or url lookup)"
                .into(),
        );
    }
    let mut keys = Vec::new();
    for l in key.lines().map(str::trim) {
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let mut k = parse_key(l).ok_or_else(|| {
            format!("authorized_key: parameter 'key': invalid key specified: {l}")
        })?;
        if let Some(o) = key_options {
            k.options = parse_options(o);
        }
        if let Some(c) = comment {
            k.comment = c.to_string();
        }
        keys.push(k);
    }
    if keys.is_empty() {
        return Err("authorized_key: parameter 'key': no key given".into());
    }
    Ok(keys)
}

/// The edited file: new content, or `None` when nothing changes.
pub fn edit_keys(current: &str, want: &[SshKey], present: bool, exclusive: bool) -> Option<String> {
    // Each line of the file with the key parsed from it, if any.
    let mut lines: Vec<(String, Option<SshKey>)> = current
        .lines()
        .map(|l| (l.to_string(), parse_key(l)))
        .collect();
    let mut changed = false;
    for w in want {
        let pos = lines
            .iter()
            .position(|(_, k)| k.as_ref().is_some_and(|k| k.same_key(w)));
        match (present, pos) {
            (true, Some(i)) => {
                if lines[i].1.as_ref() != Some(w) {
                    // Like Ansible: the changed key moves to the end.
                    lines.remove(i);
                    lines.push((w.line(), Some(w.clone())));
                    changed = true;
                }
            }
            (true, None) => {
                lines.push((w.line(), Some(w.clone())));
                changed = true;
            }
            (false, Some(_)) => {
                lines.retain(|(_, k)| !k.as_ref().is_some_and(|k| k.same_key(w)));
                changed = true;
            }
            (false, None) => {}
        }
    }
    if present && exclusive {
        let before = lines.len();
        lines.retain(|(_, k)| {
            k.as_ref()
                .is_some_and(|k| want.iter().any(|w| w.same_key(k)))
        });
        changed |= lines.len() != before;
    }
    // Remove duplicates of a wanted key left from before (a key listed twice).
    let mut seen: Vec<SshKey> = Vec::new();
    let before = lines.len();
    lines.retain(|(_, k)| match k {
        Some(k) if want.iter().any(|w| w.same_key(k)) => {
            if seen.iter().any(|s| s.same_key(k)) {
                false
            } else {
                seen.push(k.clone());
                true
            }
        }
        _ => true,
    });
    changed |= lines.len() != before;
    if !changed {
        return None;
    }
    let mut out = String::new();
    for (l, _) in lines {
        out.push_str(&l);
        out.push('\n');
    }
    Some(out)
}

/// What the query found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyFileState {
    /// The user's uid.
    pub uid: u32,
    /// The user's primary gid.
    pub gid: u32,
    /// The key file path (default or given).
    pub keyfile: String,
    /// Mode, uid of the key file's directory when it exists.
    pub dir: Option<(u32, u32)>,
    /// Content of the key file when it exists.
    pub content: Option<String>,
}

/// The read-only query: the passwd entry, the key file path, its directory and content.
pub fn key_query(user: &str, path: Option<&str>) -> String {
    let p = match path {
        Some(p) => quote(p),
        None => "\"$h/.ssh/authorized_keys\"".to_string(),
    };
    format!(
        "u={}\ne=$(getent passwd \"$u\") || {{ printf 'authorized_key: user %s does not exist\\n' \"$u\" >&2; exit 3; }}\n\
         printf 'passwd=%s\\n' \"$e\"\nh=$(printf '%s\\n' \"$e\" | cut -d: -f6)\np={p}\n\
         printf 'keyfile=%s\\n' \"$p\"\nd=${{p%/*}}; [ -n \"$d\" ] || d=/\n\
         if [ -d \"$d\" ]; then printf 'dir=%s\\n' \"$(stat -c '%a|%u' -- \"$d\")\"; fi\n\
         if [ -e \"$p\" ]; then [ -f \"$p\" ] || {{ printf 'authorized_key: %s is not a regular file\\n' \"$p\" >&2; exit 4; }}\n\
         echo content; cat -- \"$p\" || exit 5; fi\n",
        quote(user)
    )
}

/// Parses the query output.
pub fn parse_key_query(out: &str) -> Result<KeyFileState, String> {
    let mut st = KeyFileState::default();
    let mut rest = out;
    let mut have_passwd = false;
    while !rest.is_empty() {
        let (line, tail) = rest.split_once('\n').unwrap_or((rest, ""));
        rest = tail;
        if line == "content" {
            st.content = Some(rest.to_string());
            break;
        }
        match line.split_once('=') {
            Some(("passwd", v)) => {
                let f: Vec<&str> = v.split(':').collect();
                let bad = || format!("unexpected getent passwd output {v:?}");
                if f.len() != 7 {
                    return Err(bad());
                }
                st.uid = f[2].parse().map_err(|_| bad())?;
                st.gid = f[3].parse().map_err(|_| bad())?;
                have_passwd = true;
            }
            Some(("keyfile", v)) => st.keyfile = v.to_string(),
            Some(("dir", v)) => {
                let bad = || format!("unexpected directory stat {v:?}");
                let (m, u) = v.split_once('|').ok_or_else(bad)?;
                st.dir = Some((
                    u32::from_str_radix(m, 8).map_err(|_| bad())?,
                    u.parse().map_err(|_| bad())?,
                ));
            }
            _ => return Err(format!("unexpected query output line {line:?}")),
        }
    }
    if !have_passwd || st.keyfile.is_empty() {
        return Err(format!("incomplete query output {out:?}"));
    }
    Ok(st)
}

#[async_trait::async_trait]
impl Module for AuthorizedKey {
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }

    async fn plan(&self, ctx: &TaskCtx<'_>, args: &ResultMap) -> Result<Plan, ModuleError> {
        let a = Args::parse(&SPEC, args)?;
        let user = a.req_str("user")?;
        if user.is_empty() || user.starts_with('-') || user.contains(['/', ':', '\n']) {
            return Err(ModuleError::Args(format!(
                "authorized_key: parameter 'user': invalid user name {user:?}"
            )));
        }
        let key = a.req_str("key")?;
        let key_options = a.str("key_options")?;
        let comment = a.str("comment")?;
        let path = a.str("path")?;
        if let Some(p) = &path
            && !p.starts_with('/')
        {
            return Err(ModuleError::Args(format!(
                "authorized_key: parameter 'path': {p:?} must be an absolute path"
            )));
        }
        let manage_dir = a.bool("manage_dir", true)?;
        let exclusive = a.bool("exclusive", false)?;
        let state = a.choice("state", "present")?;
        let want = wanted_keys(&key, key_options.as_deref(), comment.as_deref())
            .map_err(ModuleError::Args)?;

        let out = ctx.query(key_query(&user, path.as_deref())).await?;
        if !out.success() {
            return Err(ModuleError::failed(format!(
                "authorized_key: {}",
                out.stderr_str()
                    .trim()
                    .trim_start_matches("authorized_key: ")
            )));
        }
        let st = parse_key_query(&out.stdout_str())
            .map_err(|e| ModuleError::failed(format!("authorized_key: {e}")))?;

        let mut result = ResultMap::new();
        result.insert("user".into(), user.clone().into());
        result.insert("key".into(), key.clone().into());
        result.insert("keyfile".into(), st.keyfile.clone().into());
        result.insert(
            "path".into(),
            path.clone().map(Value::from).unwrap_or(Value::Null),
        );
        result.insert("manage_dir".into(), manage_dir.into());
        result.insert("state".into(), state.clone().into());
        result.insert("exclusive".into(), exclusive.into());
        result.insert(
            "key_options".into(),
            key_options.map(Value::from).unwrap_or(Value::Null),
        );
        result.insert(
            "comment".into(),
            comment.map(Value::from).unwrap_or(Value::Null),
        );

        let before = st.content.clone().unwrap_or_default();
        let Some(after) = edit_keys(&before, &want, state == "present", exclusive) else {
            return Ok(Plan::Unchanged { result });
        };
        let dir = crate::modules::files::atomic::parent_dir(&st.keyfile).to_string();
        let mut steps = Vec::new();
        if manage_dir {
            let owner = format!("{}:{}", st.uid, st.gid);
            let script = match st.dir {
                None => Sh::new("mkdir")
                    .args(["-m", "0700", "--", &dir])
                    .then("&&", Sh::new("chown").args(["--", &owner, &dir]))
                    .build(),
                Some(_) => Sh::new("chown")
                    .args(["--", &owner, &dir])
                    .then("&&", Sh::new("chmod").args(["0700", "--", &dir]))
                    .build(),
            };
            steps.push(ctx.step(format!("directory {dir}: mode 0700, owner {owner}"), script));
        }
        let attrs = FileAttrs {
            mode: Some(0o600),
            owner: Some(st.uid.to_string()),
            group: Some(st.gid.to_string()),
        };
        let spec = WriteSpec {
            dest: &st.keyfile,
            attrs: &attrs,
            backup: false,
            validate: None,
            create_parent: !manage_dir && st.dir.is_none(),
        };
        steps.push(write_step(
            ctx,
            &spec,
            Source::Stdin(after.clone().into_bytes()),
        )?);
        Ok(Plan::Change {
            diff: vec![Diff::new(&st.keyfile, before, after)],
            steps,
            result,
        })
    }

    fn finish(
        &self,
        _result: &mut ResultMap,
        outputs: &[crate::core::ExecOutput],
    ) -> Result<(), ModuleError> {
        check_outputs(outputs).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOmS0xv4xxNWOBkT3bI9yR9n0O5/0fHg2e5W7qQ4Lbdb";
    const RSA: &str = "AAAAB3NzaC1yc2EAAAADAQABAAABAQC7";

    #[test]
    fn parses_key_lines_with_options_and_comments() {
        let k = parse_key(&format!("ssh-ed25519 {ED} bob@laptop")).unwrap();
        assert_eq!(
            (k.kind.as_str(), k.blob.as_str(), k.comment.as_str()),
            ("ssh-ed25519", ED, "bob@laptop")
        );
        assert!(k.options.is_empty());
        let k = parse_key(&format!(
            "from=\"10.0.0.1,10.0.0.2\",no-pty,command=\"echo a b\" ssh-rsa {RSA} a b  c"
        ))
        .unwrap();
        assert_eq!(
            k.options,
            vec![
                (
                    "from".to_string(),
                    Some("\"10.0.0.1,10.0.0.2\"".to_string())
                ),
                ("no-pty".to_string(), None),
                ("command".to_string(), Some("\"echo a b\"".to_string())),
            ]
        );
        assert_eq!(k.comment, "a b c");
        assert_eq!(
            k.line(),
            format!("from=\"10.0.0.1,10.0.0.2\",no-pty,command=\"echo a b\" ssh-rsa {RSA} a b c")
        );
        assert!(parse_key("# ssh-rsa AAAA").is_none());
        assert!(parse_key("").is_none());
        assert!(parse_key("ssh-rsa").is_none());
        assert!(parse_key("ssh-rsa not*base64").is_none());
        assert!(parse_key("ssh-foo AAAA").is_none());
    }

    #[test]
    fn wanted_keys_apply_options_and_comment_and_reject_bad_keys() {
        let ks = wanted_keys(
            &format!("# mine\nssh-ed25519 {ED} old\n\nssh-rsa {RSA}\n"),
            Some("no-pty"),
            Some("new comment"),
        )
        .unwrap();
        assert_eq!(ks.len(), 2);
        assert_eq!(ks[0].line(), format!("no-pty ssh-ed25519 {ED} new comment"));
        let e = wanted_keys("ssh-rsa", None, None).unwrap_err();
        assert!(e.contains("invalid key specified"), "{e}");
        assert!(wanted_keys("https://github.com/x.keys", None, None).is_err());
        assert!(wanted_keys("# only a comment", None, None).is_err());
    }

    #[test]
    fn edits_match_by_type_and_blob() {
        let ed = parse_key(&format!("ssh-ed25519 {ED} me")).unwrap();
        let rsa = parse_key(&format!("ssh-rsa {RSA} other")).unwrap();
        let file = format!("# keys\nssh-rsa {RSA} other\nssh-ed25519 {ED} me\n");
        // Present and identical: unchanged.
        assert_eq!(
            edit_keys(&file, std::slice::from_ref(&ed), true, false),
            None
        );
        // Absent ignores options and comment.
        let mut ed_other = ed.clone();
        ed_other.comment = "x".into();
        assert_eq!(
            edit_keys(&file, std::slice::from_ref(&ed_other), false, false).unwrap(),
            format!("# keys\nssh-rsa {RSA} other\n")
        );
        // A changed comment rewrites the line (moved to the end, as Ansible does).
        let mut ed_opt = ed.clone();
        ed_opt.options = parse_options("no-pty");
        assert_eq!(
            edit_keys(&file, std::slice::from_ref(&ed_opt), true, false).unwrap(),
            format!("# keys\nssh-rsa {RSA} other\nno-pty ssh-ed25519 {ED} me\n")
        );
        // New key appended; file without a final newline.
        assert_eq!(
            edit_keys(
                &format!("ssh-rsa {RSA} other"),
                std::slice::from_ref(&ed),
                true,
                false
            )
            .unwrap(),
            format!("ssh-rsa {RSA} other\nssh-ed25519 {ED} me\n")
        );
        assert_eq!(
            edit_keys("", std::slice::from_ref(&ed), true, false).unwrap(),
            format!("ssh-ed25519 {ED} me\n")
        );
        // Exclusive removes every other line, comments included.
        assert_eq!(
            edit_keys(&file, std::slice::from_ref(&ed), true, true).unwrap(),
            format!("ssh-ed25519 {ED} me\n")
        );
        assert_eq!(
            edit_keys(
                &format!("ssh-ed25519 {ED} me\n"),
                std::slice::from_ref(&ed),
                true,
                true
            ),
            None
        );
        // A duplicate of a wanted key is removed.
        assert_eq!(
            edit_keys(
                &format!("ssh-ed25519 {ED} me\nssh-ed25519 {ED} me\n"),
                &[ed],
                true,
                false
            )
            .unwrap(),
            format!("ssh-ed25519 {ED} me\n")
        );
        assert_eq!(edit_keys("", &[rsa], false, false), None);
    }

    #[test]
    fn parses_the_query() {
        let out = "passwd=deploy:x:1001:1002::/home/deploy:/bin/sh\n\
                   keyfile=/home/deploy/.ssh/authorized_keys\ndir=700|1001\ncontent\nssh-rsa AAAA x\n";
        let st = parse_key_query(out).unwrap();
        assert_eq!((st.uid, st.gid), (1001, 1002));
        assert_eq!(st.keyfile, "/home/deploy/.ssh/authorized_keys");
        assert_eq!(st.dir, Some((0o700, 1001)));
        assert_eq!(st.content.as_deref(), Some("ssh-rsa AAAA x\n"));
        let st = parse_key_query(
            "passwd=deploy:x:1001:1002::/home/deploy:/bin/sh\nkeyfile=/home/deploy/.ssh/authorized_keys\n",
        )
        .unwrap();
        assert_eq!((st.dir, st.content), (None, None));
        assert!(parse_key_query("keyfile=/x\n").is_err());
        assert!(parse_key_query("passwd=a:b\nkeyfile=/x\n").is_err());
        assert!(key_query("bob", None).contains("\"$h/.ssh/authorized_keys\""));
        assert!(key_query("bob", Some("/etc/ssh/keys/a b")).contains("p='/etc/ssh/keys/a b'"));
    }
}

#[cfg(test)]
mod host_tests {
    use super::*;
    use crate::modules::testutil::{Harness, ids_of, is_root, mode_of, read};
    use serde_json::json;

    #[tokio::test]
    async fn writes_keys_with_owner_and_mode() {
        if !is_root() {
            return;
        }
        let h = Harness::new();
        let path = h.path("ssh/keys");
        let key =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOmS0xv4xxNWOBkT3bI9yR9n0O5/0fHg2e5W7qQ4Lbdb me";
        let args = json!({"user": "nobody", "key": key, "path": path});
        let r = h.converge(&AuthorizedKey, &args).await;
        assert_eq!(r.result["keyfile"], path);
        assert_eq!(read(&path), format!("{key}\n"));
        assert_eq!(mode_of(&path), 0o600);
        assert_eq!(mode_of(&h.path("ssh")), 0o700);
        assert_eq!(ids_of(&path).0, 65534);
        h.converge(
            &AuthorizedKey,
            &json!({"user": "nobody", "key": key, "path": path, "state": "absent"}),
        )
        .await;
        assert_eq!(read(&path), "");
        let e = h
            .plan(
                &AuthorizedKey,
                &json!({"user": "no-such-user-x", "key": key}),
                false,
            )
            .await
            .unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
    }
}
