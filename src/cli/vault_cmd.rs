//! Vault passwords from the command line, and the `shipshape vault` subcommand.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use super::Failure;
use super::args::{VaultAction, VaultArgs, VaultPasswordArgs};
use crate::core::Secret;
use crate::report::ExitCode;

/// Reads a password file; an executable file is run and its standard output used.
fn read_password_file(path: &Path) -> Result<Secret, String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let text = if meta.permissions().mode() & 0o111 != 0 {
        let out = std::process::Command::new(path)
            .output()
            .map_err(|e| format!("{}: cannot run: {e}", path.display()))?;
        if !out.status.success() {
            return Err(format!("{}: exited with {}", path.display(), out.status));
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    } else {
        std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?
    };
    let pw = text.trim_end_matches(['\n', '\r']).to_string();
    if pw.is_empty() {
        return Err(format!("{}: the vault password is empty", path.display()));
    }
    Ok(Secret::new(pw))
}

/// Collects the vault passwords of a run: files, the configured `vault_password_file`
/// (`ANSIBLE_VAULT_PASSWORD_FILE` or ansible.cfg), `SHIPSHAPE_VAULT_PASSWORD`, and the prompt.
/// Registers them for decryption.
pub fn load_passwords(
    a: &VaultPasswordArgs,
    configured: Option<&Path>,
) -> Result<Vec<Secret>, Failure> {
    let bad = |m: String| Failure::new(ExitCode::BadOptions, format!("vault password: {m}"));
    let mut list = Vec::new();
    for f in &a.vault_password_file {
        list.push(read_password_file(f).map_err(bad)?);
    }
    if let Some(f) = configured {
        list.push(read_password_file(f).map_err(bad)?);
    }
    if let Ok(p) = std::env::var("SHIPSHAPE_VAULT_PASSWORD")
        && !p.is_empty()
    {
        list.push(Secret::new(p));
    }
    if a.ask_vault_pass {
        let p = super::prompt_password("Vault password: ").map_err(|e| bad(e.to_string()))?;
        list.push(Secret::new(p));
    }
    for pw in &list {
        crate::vault::register_secret(pw.expose());
    }
    crate::vault::set_passwords(list.clone());
    Ok(list)
}

/// The decryption hook the inventory loader uses for encrypted vars files.
pub fn inventory_decryptor() -> crate::inventory::Decryptor {
    Arc::new(|path: &Path, text: &str| {
        let plain = crate::vault::decrypt_with_run_passwords(text)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        crate::vault::register_yaml_secrets(&plain);
        Ok(plain)
    })
}

/// Before connecting: vault content was met (inline values, or vars files named without
/// variables) but no password was given. Returns the first such place.
pub fn missing_password(playbooks: &[crate::playbook::Playbook]) -> Option<String> {
    if crate::vault::has_passwords() {
        return None;
    }
    if let Some(what) = crate::vault::needed_without_password() {
        return Some(what);
    }
    for pb in playbooks {
        for play in &pb.plays {
            for (file, loc) in &play.vars_files {
                if file.contains("{{") {
                    continue;
                }
                let path = pb.dir.join(file);
                if std::fs::read_to_string(&path).is_ok_and(|t| crate::vault::is_vault(&t)) {
                    return Some(format!(
                        "{loc}: vars file {} is vault-encrypted",
                        path.display()
                    ));
                }
            }
        }
    }
    None
}

/// `shipshape vault ...`.
pub fn run(a: VaultArgs, configured_password_file: Option<&Path>) -> Result<i32, Failure> {
    let passwords = load_passwords(&a.passwords, configured_password_file)?;
    let err = |m: String| Failure::new(ExitCode::Error, m);
    let first = || {
        passwords.first().cloned().ok_or_else(|| {
            Failure::new(
                ExitCode::BadOptions,
                "no vault password: use --vault-password-file FILE, --ask-vault-pass or SHIPSHAPE_VAULT_PASSWORD",
            )
        })
    };
    match a.action {
        VaultAction::Encrypt { files } => {
            let pw = first()?;
            for f in files {
                let text = std::fs::read_to_string(&f)
                    .map_err(|e| err(format!("{}: {e}", f.display())))?;
                if crate::vault::is_vault(&text) {
                    return Err(err(format!("{} is already encrypted", f.display())));
                }
                let env = crate::vault::encrypt(&text, &pw).map_err(|e| err(e.to_string()))?;
                write_atomic(&f, &env).map_err(err)?;
                eprintln!("Encryption successful: {}", f.display());
            }
        }
        VaultAction::Decrypt { files } => {
            for f in files {
                let text = std::fs::read_to_string(&f)
                    .map_err(|e| err(format!("{}: {e}", f.display())))?;
                let plain = crate::vault::decrypt(&text, &passwords)
                    .map_err(|e| err(format!("{}: {e}", f.display())))?;
                write_atomic(&f, &plain).map_err(err)?;
                eprintln!("Decryption successful: {}", f.display());
            }
        }
        VaultAction::View { files } => {
            for f in files {
                let text = std::fs::read_to_string(&f)
                    .map_err(|e| err(format!("{}: {e}", f.display())))?;
                let plain = crate::vault::decrypt(&text, &passwords)
                    .map_err(|e| err(format!("{}: {e}", f.display())))?;
                print!("{plain}");
            }
        }
        VaultAction::EncryptString { value, name } => {
            let pw = first()?;
            let value = match value {
                Some(v) => v,
                None => {
                    let mut s = String::new();
                    std::io::stdin()
                        .read_to_string(&mut s)
                        .map_err(|e| err(format!("stdin: {e}")))?;
                    s
                }
            };
            let env = crate::vault::encrypt(&value, &pw).map_err(|e| err(e.to_string()))?;
            let indented: String = env.lines().map(|l| format!("  {l}\n")).collect();
            match name {
                Some(n) => print!("{n}: !vault |\n{indented}"),
                None => print!("!vault |\n{indented}"),
            }
        }
    }
    Ok(0)
}

/// Replaces a file through a temp file and rename, keeping its permissions.
fn write_atomic(path: &Path, text: &str) -> Result<(), String> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.shipshape-tmp",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(&tmp, meta.permissions());
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("{}: {e}", path.display())
    })
}
