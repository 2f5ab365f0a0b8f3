//! Ansible Vault compatibility: `$ANSIBLE_VAULT;1.1;AES256` (and 1.2 with a vault id) files
//! and `!vault` values. PBKDF2-HMAC-SHA256 (10000 rounds) derives an AES-256-CTR key, an
//! HMAC-SHA256 key and the counter; the HMAC is checked before anything is decrypted.
//! Decrypted values are registered as secrets so that reporters can redact them.

use std::sync::{Mutex, OnceLock};

use aes::Aes256;
use ctr::Ctr128BE;
use ctr::cipher::{KeyIvInit, StreamCipher};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::core::Secret;

/// Why a vault text could not be decrypted or encrypted.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The text is not a vault envelope.
    #[error("not an Ansible Vault text: {0}")]
    Format(String),
    /// No password was given (`--vault-password-file`, `--ask-vault-pass`, ...).
    #[error(
        "this file or value is vault-encrypted and no vault password was given (use --vault-password-file FILE, --ask-vault-pass, or SHIPSHAPE_VAULT_PASSWORD)"
    )]
    NoPassword,
    /// No password matched the HMAC.
    #[error("the vault password is wrong (HMAC check failed)")]
    WrongPassword,
    /// The plaintext is not UTF-8 text.
    #[error("the decrypted vault content is not UTF-8 text")]
    NotText,
}

const ROUNDS: u32 = 10_000;
const HEADER: &str = "$ANSIBLE_VAULT;";

/// Whether `text` starts with a vault header.
pub fn is_vault(text: &str) -> bool {
    text.trim_start().starts_with(HEADER)
}

fn derive(password: &[u8], salt: &[u8]) -> ([u8; 32], [u8; 32], [u8; 16]) {
    let mut material = [0u8; 80];
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, ROUNDS, &mut material);
    let mut key = [0u8; 32];
    let mut mac_key = [0u8; 32];
    let mut iv = [0u8; 16];
    key.copy_from_slice(&material[..32]);
    mac_key.copy_from_slice(&material[32..64]);
    iv.copy_from_slice(&material[64..]);
    (key, mac_key, iv)
}

fn hmac(key: &[u8], data: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac
}

fn unhex(s: &str) -> Result<Vec<u8>, VaultError> {
    hex::decode(s.trim()).map_err(|e| VaultError::Format(format!("bad hex: {e}")))
}

/// Decrypts a vault envelope with the first matching password.
pub fn decrypt(text: &str, passwords: &[Secret]) -> Result<String, VaultError> {
    let text = text.trim();
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let fields: Vec<&str> = header.trim().split(';').collect();
    if fields.len() < 3 || fields[0] != "$ANSIBLE_VAULT" || !matches!(fields[1], "1.1" | "1.2") {
        return Err(VaultError::Format(format!("unsupported header '{header}'")));
    }
    if fields[2] != "AES256" {
        return Err(VaultError::Format(format!(
            "unsupported cipher '{}'",
            fields[2]
        )));
    }
    let body: String = lines.map(str::trim).collect();
    let inner =
        String::from_utf8(unhex(&body)?).map_err(|_| VaultError::Format("bad envelope".into()))?;
    let mut parts = inner.split('\n');
    let (salt, tag, data) = match (parts.next(), parts.next(), parts.next()) {
        (Some(s), Some(h), Some(d)) => (unhex(s)?, unhex(h)?, unhex(d)?),
        _ => {
            return Err(VaultError::Format(
                "envelope needs salt, hmac and data".into(),
            ));
        }
    };
    if passwords.is_empty() {
        return Err(VaultError::NoPassword);
    }
    for pw in passwords {
        let (key, mac_key, iv) = derive(pw.expose().as_bytes(), &salt);
        if hmac(&mac_key, &data).verify_slice(&tag).is_err() {
            continue;
        }
        let mut plain = data.clone();
        let mut cipher = Ctr128BE::<Aes256>::new(&key.into(), &iv.into());
        cipher.apply_keystream(&mut plain);
        // PKCS#7 padding.
        if let Some(&pad) = plain.last()
            && (1..=16).contains(&pad)
            && plain.len() >= pad as usize
            && plain[plain.len() - pad as usize..]
                .iter()
                .all(|&b| b == pad)
        {
            plain.truncate(plain.len() - pad as usize);
        }
        let text = String::from_utf8(plain).map_err(|_| VaultError::NotText)?;
        register_secret(&text);
        return Ok(text);
    }
    Err(VaultError::WrongPassword)
}

/// Encrypts `plain` as a `$ANSIBLE_VAULT;1.1;AES256` envelope (80-column lines, as Ansible).
pub fn encrypt(plain: &str, password: &Secret) -> Result<String, VaultError> {
    let mut salt = [0u8; 32];
    getrandom::fill(&mut salt).map_err(|e| VaultError::Format(format!("no randomness: {e}")))?;
    let (key, mac_key, iv) = derive(password.expose().as_bytes(), &salt);
    let mut data = plain.as_bytes().to_vec();
    let pad = 16 - (data.len() % 16);
    data.extend(std::iter::repeat_n(pad as u8, pad));
    let mut cipher = Ctr128BE::<Aes256>::new(&key.into(), &iv.into());
    cipher.apply_keystream(&mut data);
    let tag = hmac(&mac_key, &data).finalize().into_bytes();
    let inner = format!(
        "{}\n{}\n{}",
        hex::encode(salt),
        hex::encode(tag),
        hex::encode(&data)
    );
    let body = hex::encode(inner.as_bytes());
    let mut out = String::from("$ANSIBLE_VAULT;1.1;AES256\n");
    for chunk in body.as_bytes().chunks(80) {
        out.push_str(std::str::from_utf8(chunk).expect("hex is ASCII"));
        out.push('\n');
    }
    Ok(out)
}

fn passwords() -> &'static Mutex<Vec<Secret>> {
    static P: OnceLock<Mutex<Vec<Secret>>> = OnceLock::new();
    P.get_or_init(|| Mutex::new(Vec::new()))
}

fn secrets() -> &'static Mutex<Vec<String>> {
    static S: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    S.get_or_init(|| Mutex::new(Vec::new()))
}

/// Sets the vault passwords of this run (from the command line).
pub fn set_passwords(list: Vec<Secret>) {
    if let Ok(mut p) = passwords().lock() {
        *p = list;
    }
}

/// Decrypts with the run's passwords.
pub fn decrypt_with_run_passwords(text: &str) -> Result<String, VaultError> {
    let list = passwords().lock().map(|p| p.clone()).unwrap_or_default();
    let r = decrypt(text, &list);
    if matches!(r, Err(VaultError::NoPassword))
        && let Ok(mut n) = needed().lock()
        && n.is_none()
    {
        *n = Some("an inline !vault value".to_string());
    }
    r
}

fn needed() -> &'static Mutex<Option<String>> {
    static N: OnceLock<Mutex<Option<String>>> = OnceLock::new();
    N.get_or_init(|| Mutex::new(None))
}

/// What needed a vault password when none was given, if anything did.
pub fn needed_without_password() -> Option<String> {
    needed().lock().ok().and_then(|n| n.clone())
}

/// Whether vault passwords were given for this run.
pub fn has_passwords() -> bool {
    passwords().lock().map(|p| !p.is_empty()).unwrap_or(false)
}

/// Decrypts `text` if it is a vault file, else returns it unchanged. Every value of a
/// decrypted YAML file is registered as a secret.
pub fn maybe_decrypt(text: String) -> Result<String, VaultError> {
    if is_vault(&text) {
        let plain = decrypt_with_run_passwords(&text)?;
        register_yaml_secrets(&plain);
        Ok(plain)
    } else {
        Ok(text)
    }
}

/// Registers every scalar value (not the keys) of a decrypted YAML document as a secret.
pub fn register_yaml_secrets(text: &str) {
    fn walk(n: &crate::yaml::Node) {
        use crate::yaml::NodeValue;
        match &n.value {
            NodeValue::Seq(items) => items.iter().for_each(walk),
            NodeValue::Map(entries) => entries.iter().for_each(|(_, v)| walk(v)),
            _ => {
                if let Some(s) = n.scalar_string() {
                    register_secret(&s);
                }
            }
        }
    }
    if let Ok(docs) = crate::yaml::parse_all(text, std::path::Path::new("vault")) {
        docs.iter().for_each(walk);
    }
}

/// Remembers a secret value so that [`redact`] hides it. Very short values (under 4
/// characters) are not registered: hiding every "a" would garble all output.
pub fn register_secret(value: &str) {
    let value = value.trim_end_matches('\n');
    if value.chars().count() < 4 {
        return;
    }
    if let Ok(mut s) = secrets().lock()
        && !s.iter().any(|x| x == value)
    {
        s.push(value.to_string());
        // Longest first, so a secret containing another is hidden whole.
        s.sort_by_key(|x| std::cmp::Reverse(x.len()));
    }
}

/// Replaces every registered secret in `text` with `********`.
pub fn redact(text: &str) -> String {
    let Ok(list) = secrets().lock() else {
        return text.to_string();
    };
    let mut out = text.to_string();
    for s in list.iter() {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "********");
        }
    }
    out
}

/// Redacts every string inside a JSON value.
pub fn redact_json(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) => {
            let r = redact(s);
            if r != *s {
                *s = r;
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_json),
        serde_json::Value::Object(map) => map.values_mut().for_each(redact_json),
        _ => {}
    }
}

/// Whether any secret is registered (so callers can skip redaction work).
pub fn has_secrets() -> bool {
    secrets().lock().map(|s| !s.is_empty()).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_password() {
        let pw = Secret::new("correct horse");
        let env = encrypt("db_password: s3cr3t-value\n", &pw).unwrap();
        assert!(env.starts_with("$ANSIBLE_VAULT;1.1;AES256\n"));
        assert!(env.lines().skip(1).all(|l| l.len() <= 80));
        assert_eq!(
            decrypt(&env, std::slice::from_ref(&pw)).unwrap(),
            "db_password: s3cr3t-value\n"
        );
        assert!(matches!(
            decrypt(&env, &[Secret::new("nope")]),
            Err(VaultError::WrongPassword)
        ));
        assert!(matches!(decrypt(&env, &[]), Err(VaultError::NoPassword)));
        assert!(matches!(
            decrypt("hello", &[pw]),
            Err(VaultError::Format(_))
        ));
    }

    /// Produced by `ansible-vault encrypt_string` (ansible-core 2.19) with the password
    /// `ansible`: decrypting it proves compatibility with real Ansible output.
    const ANSIBLE_INLINE: &str = "$ANSIBLE_VAULT;1.1;AES256
          39346334373365626136363432613833373030316365373665396334663965643339306532643232
          3862653632623630646232616337383239323562663563660a616136626439383638393833346532
          33636639333533643535303230326233333235396365303766306538663438623062303963346663
          3266333062386661620a353536326531313563386639323630313837363830343436356462393563
          37343938373863656361373266663064623166396636626239666337366538376666";

    #[test]
    fn decrypts_real_ansible_output() {
        let plain = decrypt(
            ANSIBLE_INLINE,
            &[Secret::new("other"), Secret::new("ansible")],
        )
        .unwrap();
        assert_eq!(plain, "inline-secret-99");
        let file = include_str!("../../tests/fixtures/vault-file.yml");
        let plain = decrypt(file, &[Secret::new("ansible")]).unwrap();
        assert_eq!(plain, "secret_value: \"topsecret-42\"\n");
    }

    #[test]
    fn secrets_are_redacted() {
        register_secret("hunter2-hunter2");
        assert_eq!(redact("pw=hunter2-hunter2;"), "pw=********;");
        register_secret("ab");
        assert_eq!(redact("ab"), "ab", "too short to register");
    }
}
