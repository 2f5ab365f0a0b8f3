//! Host key verification against OpenSSH `known_hosts` files: plain, wildcard and hashed (`|1|`)
//! host patterns, `[host]:port` entries, `@revoked` and `@cert-authority` markers, and recording
//! new keys for the accept-new policy. It decides trust; it never opens connections.

use std::fmt;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use russh::keys::{HashAlg, PublicKey};
use sha1::Sha1;

/// What to do with a server key that is not in known_hosts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HostKeyPolicy {
    /// Refuse unknown keys (the default).
    #[default]
    Strict,
    /// Record unknown keys in the first known_hosts file; a changed key is still refused.
    AcceptNew,
    /// Do not check host keys at all (explicit opt-out).
    Off,
}

impl HostKeyPolicy {
    /// Parses `strict`/`yes`, `accept-new` or `off`/`no` (as `--host-key-checking` takes them).
    pub fn parse(s: &str) -> Option<HostKeyPolicy> {
        match s.trim().to_ascii_lowercase().as_str() {
            "strict" | "yes" | "true" => Some(HostKeyPolicy::Strict),
            "accept-new" | "accept_new" => Some(HostKeyPolicy::AcceptNew),
            "off" | "no" | "false" => Some(HostKeyPolicy::Off),
            _ => None,
        }
    }
}

/// Why a server key is not trusted; the message names the host, the key and the fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostKeyRejection(
    /// What is wrong and how to fix it.
    pub String,
);

impl fmt::Display for HostKeyRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One known_hosts entry that matched the host.
#[derive(Debug)]
struct Entry {
    marker: Marker,
    key: Option<PublicKey>,
    file: PathBuf,
    line: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Marker {
    None,
    Revoked,
    CertAuthority,
}

/// The name a host has in known_hosts: `host` on port 22, `[host]:port` otherwise.
pub(crate) fn host_entry_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// Checks `key` offered by `host:port` against `files` under `policy`. With
/// [`HostKeyPolicy::AcceptNew`] an unknown key is appended to the first file.
pub fn verify_host_key(
    host: &str,
    port: u16,
    key: &PublicKey,
    files: &[PathBuf],
    policy: HostKeyPolicy,
) -> Result<(), HostKeyRejection> {
    if policy == HostKeyPolicy::Off {
        return Ok(());
    }
    let name = host_entry_name(host, port);
    let mut entries = Vec::new();
    for file in files {
        collect_matches(file, &name, &mut entries);
    }
    let fingerprint = key.fingerprint(HashAlg::Sha256);
    let algo = key.algorithm();
    let algo = algo.as_str();

    if let Some(e) = entries
        .iter()
        .find(|e| e.marker == Marker::Revoked && e.key.as_ref().is_some_and(|k| same_key(k, key)))
    {
        return Err(HostKeyRejection(format!(
            "the {algo} host key of {name} ({fingerprint}) is marked @revoked in {}:{}; \
             refusing to connect",
            e.file.display(),
            e.line
        )));
    }
    let plain: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.marker == Marker::None)
        .collect();
    if plain
        .iter()
        .any(|e| e.key.as_ref().is_some_and(|k| same_key(k, key)))
    {
        return Ok(());
    }
    if let Some(old) = plain.iter().find(|e| {
        e.key
            .as_ref()
            .is_some_and(|k| k.algorithm().as_str() == algo)
    }) {
        let first = files
            .first()
            .map(|f| format!(" -f {}", f.display()))
            .unwrap_or_default();
        return Err(HostKeyRejection(format!(
            "HOST KEY CHANGED for {name}: the server offers {algo} key {fingerprint}, but {}:{} \
             records another {algo} key. This can be a man-in-the-middle attack, or the host was \
             reinstalled. If the change is expected, remove the old entry with \
             `ssh-keygen -R '{name}'{first}` and connect again",
            old.file.display(),
            old.line,
        )));
    }
    let ca = entries.iter().find(|e| e.marker == Marker::CertAuthority);
    let only_ca = plain.is_empty() && ca.is_some();
    if policy == HostKeyPolicy::AcceptNew && !only_ca {
        let Some(target) = files.first() else {
            return Err(HostKeyRejection(format!(
                "host key of {name} ({algo} {fingerprint}) is unknown and no known_hosts file \
                 is configured to record it in"
            )));
        };
        return append_entry(target, &name, key).map_err(|e| {
            HostKeyRejection(format!(
                "cannot record the host key of {name} in {}: {e}",
                target.display()
            ))
        });
    }
    let keyscan = if port == 22 {
        format!("ssh-keyscan {host}")
    } else {
        format!("ssh-keyscan -p {port} {host}")
    };
    let file = files
        .first()
        .map(|f| f.display().to_string())
        .unwrap_or_else(|| "~/.ssh/known_hosts".to_string());
    let searched = if files.is_empty() {
        "no known_hosts file configured".to_string()
    } else {
        format!(
            "not in {}",
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    if let (true, Some(e)) = (only_ca, ca) {
        return Err(HostKeyRejection(format!(
            "host key of {name} ({algo} {fingerprint}) is unknown: only @cert-authority entries \
             match it ({}:{}), and host certificates are not supported; verify the key, then add \
             it with `{keyscan} >> {file}`",
            e.file.display(),
            e.line
        )));
    }
    Err(HostKeyRejection(format!(
        "host key of {name} is unknown ({algo} key {fingerprint}; {searched}). Verify it, then \
         add it with `{keyscan} >> {file}`, or run with --host-key-checking accept-new"
    )))
}

fn same_key(a: &PublicKey, b: &PublicKey) -> bool {
    a.key_data() == b.key_data()
}

/// Appends the entries of `file` whose host patterns match `name`. Unreadable files and
/// malformed lines are skipped, as OpenSSH does.
fn collect_matches(file: &Path, name: &str, out: &mut Vec<Entry>) {
    let Ok(text) = std::fs::read(file) else {
        return;
    };
    let text = String::from_utf8_lossy(&text);
    for (idx, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let Some(mut first) = fields.next() else {
            continue;
        };
        let marker = match first {
            "@revoked" => Marker::Revoked,
            "@cert-authority" => Marker::CertAuthority,
            m if m.starts_with('@') => continue,
            _ => Marker::None,
        };
        if marker != Marker::None {
            match fields.next() {
                Some(f) => first = f,
                None => continue,
            }
        }
        if !hosts_match(first, name) {
            continue;
        }
        let (Some(_algo), Some(b64)) = (fields.next(), fields.next()) else {
            continue;
        };
        let key = russh::keys::parse_public_key_base64(b64).ok();
        if key.is_none() && marker != Marker::CertAuthority {
            continue;
        }
        out.push(Entry {
            marker,
            key,
            file: file.to_path_buf(),
            line: idx + 1,
        });
    }
}

/// Whether a comma-separated host pattern list matches `name`: any positive pattern matches
/// and no negated (`!`) pattern does.
fn hosts_match(patterns: &str, name: &str) -> bool {
    let mut matched = false;
    for pat in patterns.split(',') {
        if let Some(neg) = pat.strip_prefix('!') {
            if pattern_match(neg, name) {
                return false;
            }
        } else if pat.starts_with("|1|") {
            if hashed_match(pat, name) {
                matched = true;
            }
        } else if pattern_match(pat, name) {
            matched = true;
        }
    }
    matched
}

/// `|1|base64(salt)|base64(hmac_sha1(salt, name))`.
fn hashed_match(pat: &str, name: &str) -> bool {
    let mut parts = pat.split('|').skip(2);
    let (Some(salt), Some(hash)) = (parts.next(), parts.next()) else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (BASE64.decode(salt), BASE64.decode(hash)) else {
        return false;
    };
    let Ok(mut mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(&salt) else {
        return false;
    };
    mac.update(name.as_bytes());
    mac.verify_slice(&hash).is_ok()
}

/// OpenSSH wildcard matching (`*` any run, `?` one character), case-insensitive. Runs for
/// every pattern of every known_hosts line on every connection, so it never allocates for
/// ASCII input (host names and addresses are ASCII).
fn pattern_match(pat: &str, name: &str) -> bool {
    if pat.is_ascii() && name.is_ascii() {
        if !pat.contains(['*', '?']) {
            return pat.eq_ignore_ascii_case(name);
        }
        return wildcard_match(pat.as_bytes(), name.as_bytes(), |a, b| {
            a.eq_ignore_ascii_case(b)
        });
    }
    let p: Vec<char> = pat.chars().map(|c| c.to_ascii_lowercase()).collect();
    let n: Vec<char> = name.chars().map(|c| c.to_ascii_lowercase()).collect();
    wildcard_match(&p, &n, |a, b| a == b)
}

/// The `*`/`?` matcher over any symbols, with backtracking to the last `*`.
fn wildcard_match<T: Copy + PartialEq + From<u8>>(
    p: &[T],
    n: &[T],
    eq: impl Fn(&T, &T) -> bool,
) -> bool {
    let (star_sym, any_sym) = (T::from(b'*'), T::from(b'?'));
    let (mut pi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == any_sym || eq(&p[pi], &n[ni])) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == star_sym {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == star_sym {
        pi += 1;
    }
    pi == p.len()
}

/// Appends `name key` to `file` with one `O_APPEND` write, so concurrent writers never
/// interleave within a line.
fn append_entry(file: &Path, name: &str, key: &PublicKey) -> std::io::Result<()> {
    if let Some(parent) = file.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)?;
    }
    let openssh = key
        .to_openssh()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    // Keep only "algo base64": the comment of a server key is meaningless.
    let mut parts = openssh.split_whitespace();
    let (Some(algo), Some(b64)) = (parts.next(), parts.next()) else {
        return Err(std::io::Error::other("cannot encode the key"));
    };
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(file)?;
    let mut line = String::new();
    if f.seek(SeekFrom::End(-1)).is_ok() {
        let mut last = [0u8; 1];
        if f.read_exact(&mut last).is_ok() && last[0] != b'\n' {
            line.push('\n');
        }
    }
    line.push_str(&format!("{name} {algo} {b64}\n"));
    f.write_all(line.as_bytes())?;
    f.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ";
    const K2: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIA6rWI3G1sz07DnfFlrouTcysQlj2P+jpNSOEWD9OJ3X";
    const K3: &str = "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBC3fJCm4Elenh5EBpwUYeBnxYSmCEayah+KmaMcARwCUpVfnLle/+CD2aiog6UvNKGPqO6o8mnRruPYV0HZR1pc=";

    fn key(b64: &str) -> PublicKey {
        russh::keys::parse_public_key_base64(b64).expect("test key parses")
    }

    fn hashed(name: &str) -> String {
        let salt = [7u8; 20];
        let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(&salt).expect("any key length");
        mac.update(name.as_bytes());
        let hash = mac.finalize().into_bytes();
        format!("|1|{}|{}", BASE64.encode(salt), BASE64.encode(hash))
    }

    fn file_with(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("known_hosts");
        std::fs::write(&path, text).expect("write known_hosts");
        (dir, path)
    }

    #[test]
    fn patterns() {
        assert!(pattern_match("[127.0.0.*]:2222", "[127.0.0.5]:2222"));
        assert!(!pattern_match("[127.0.0.*]:2222", "[127.0.0.5]:2223"));
        assert!(pattern_match("web?.example.com", "WEB1.example.com"));
        assert!(!pattern_match("web?.example.com", "web12.example.com"));
        assert!(pattern_match("*", "anything"));
        assert!(pattern_match("Host.Example.COM", "host.example.com"));
        assert!(!pattern_match("host.example.co", "host.example.com"));
        assert!(pattern_match("*a*b", "xxaxxb"));
        assert!(!pattern_match("*a*b", "xxaxxbc"));
        // Non-ASCII names: `?` is one character, not one byte.
        assert!(pattern_match("h?st", "h\u{e9}st"));
        assert!(!pattern_match("h?st", "h\u{e9}\u{e9}st"));
        assert!(hosts_match("a,b,c", "b"));
        assert!(!hosts_match(
            "*.example.com,!bad.example.com",
            "bad.example.com"
        ));
        assert!(hosts_match(
            "*.example.com,!bad.example.com",
            "ok.example.com"
        ));
        assert!(hosts_match(&hashed("[10.0.0.1]:2200"), "[10.0.0.1]:2200"));
        assert!(!hosts_match(&hashed("[10.0.0.1]:2200"), "10.0.0.1"));
    }

    #[test]
    fn known_key_plain_hashed_and_port_forms() {
        let text = format!(
            "# comment\n\n[h1]:2222 ssh-ed25519 {K1}\nh2 ssh-ed25519 {K1} c\n{} ssh-ed25519 {K2}\n",
            hashed("h3")
        );
        let (_d, path) = file_with(&text);
        let files = vec![path];
        let strict = HostKeyPolicy::Strict;
        assert!(verify_host_key("h1", 2222, &key(K1), &files, strict).is_ok());
        assert!(verify_host_key("h2", 22, &key(K1), &files, strict).is_ok());
        assert!(verify_host_key("h3", 22, &key(K2), &files, strict).is_ok());
        // h1 on port 22 is another entry name: unknown.
        let err = verify_host_key("h1", 22, &key(K1), &files, strict).expect_err("unknown");
        assert!(err.0.contains("unknown"), "{err}");
        assert!(err.0.contains("ssh-keyscan h1 >>"), "{err}");
    }

    #[test]
    fn unknown_key_names_fingerprint_and_fix() {
        let (_d, path) = file_with("");
        let err = verify_host_key("10.1.1.1", 2200, &key(K1), &[path], HostKeyPolicy::Strict)
            .expect_err("unknown");
        let fp = key(K1).fingerprint(HashAlg::Sha256).to_string();
        assert!(err.0.contains(&fp), "{err}");
        assert!(err.0.contains("[10.1.1.1]:2200"), "{err}");
        assert!(err.0.contains("ssh-keyscan -p 2200 10.1.1.1 >>"), "{err}");
        assert!(err.0.contains("--host-key-checking accept-new"), "{err}");
    }

    #[test]
    fn changed_key_refused_even_with_accept_new() {
        let (_d, path) = file_with(&format!("x ssh-ed25519 {K2}\n[h]:2222 ssh-ed25519 {K2}\n"));
        for policy in [HostKeyPolicy::Strict, HostKeyPolicy::AcceptNew] {
            let err = verify_host_key("h", 2222, &key(K1), std::slice::from_ref(&path), policy)
                .expect_err("changed");
            assert!(err.0.contains("HOST KEY CHANGED"), "{err}");
            assert!(err.0.contains(&format!("{}:2", path.display())), "{err}");
            assert!(err.0.contains("ssh-keygen -R '[h]:2222'"), "{err}");
        }
        // Nothing was appended.
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text.lines().count(), 2);
        assert!(verify_host_key("h", 2222, &key(K1), &[path], HostKeyPolicy::Off).is_ok());
    }

    #[test]
    fn revoked_and_cert_authority() {
        let (_d, path) = file_with(&format!(
            "@revoked * ssh-ed25519 {K1}\n@cert-authority *.lan ssh-ed25519 {K2}\n"
        ));
        let files = vec![path];
        let err = verify_host_key("any", 22, &key(K1), &files, HostKeyPolicy::AcceptNew)
            .expect_err("revoked");
        assert!(err.0.contains("@revoked"), "{err}");
        let err = verify_host_key("a.lan", 22, &key(K2), &files, HostKeyPolicy::Strict)
            .expect_err("only CA");
        assert!(err.0.contains("@cert-authority"), "{err}");
    }

    #[test]
    fn accept_new_appends_once_and_then_matches() {
        let (_d, path) = file_with("h ssh-ed25519 AAAA-broken-key-without-newline");
        let files = vec![path.clone()];
        verify_host_key("new", 2022, &key(K1), &files, HostKeyPolicy::AcceptNew).expect("recorded");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(
            text.ends_with(&format!("\n[new]:2022 ssh-ed25519 {K1}\n")),
            "{text}"
        );
        verify_host_key("new", 2022, &key(K1), &files, HostKeyPolicy::Strict).expect("known now");
        // Another key type of a known host counts as new, not changed.
        let err = verify_host_key("new", 2022, &key(K3), &files, HostKeyPolicy::Strict)
            .expect_err("unknown type");
        assert!(err.0.contains("is unknown"), "{err}");
        verify_host_key("new", 2022, &key(K3), &files, HostKeyPolicy::AcceptNew)
            .expect("recorded next to the ed25519 key");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(
            text.ends_with(&format!("[new]:2022 ecdsa-sha2-nistp256 {K3}\n")),
            "{text}"
        );
    }

    #[test]
    fn accept_new_creates_missing_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join("known_hosts");
        verify_host_key(
            "n",
            22,
            &key(K2),
            std::slice::from_ref(&path),
            HostKeyPolicy::AcceptNew,
        )
        .expect("recorded");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            format!("n ssh-ed25519 {K2}\n")
        );
    }

    #[test]
    fn policy_parse() {
        assert_eq!(
            HostKeyPolicy::parse("accept-new"),
            Some(HostKeyPolicy::AcceptNew)
        );
        assert_eq!(HostKeyPolicy::parse("Strict"), Some(HostKeyPolicy::Strict));
        assert_eq!(HostKeyPolicy::parse("off"), Some(HostKeyPolicy::Off));
        assert_eq!(HostKeyPolicy::parse("maybe"), None);
    }
}
