//! `deb822_repository`: one apt source as /etc/apt/sources.list.d/SLUG.sources (deb822
//! format, fields in Ansible's order) and its signing key in /etc/apt/keyrings/SLUG.asc|gpg.
//! A key URL is fetched by the target itself (curl or wget) during the read-only query; files
//! are written by the shared atomic writer. It never uses apt-key and never updates the cache.

use base64::Engine;
use serde_json::Value;

use crate::core::{
    Diff, ExecOutput, Module, ModuleError, ModuleSpec, ParamKind, ParamSpec, Plan, ResultMap, Sh,
    TaskCtx, quote,
};
use crate::modules::args::{Args, ModeArg, Rules, mode_string};
use crate::modules::files::atomic::{
    AttrChange, ContentLimit, QueryOpts, attr_steps, check_outputs, chmod_octal, diff_text,
    query_files, sha1_hex,
};

/// The `deb822_repository` module.
pub struct Deb822Repository;

/// Where the sources files live.
pub const SOURCES_DIR: &str = "/etc/apt/sources.list.d";
/// Where downloaded signing keys are stored.
pub const KEYRINGS_DIR: &str = "/etc/apt/keyrings";

/// The deb822 fields, in the order Ansible writes them (its parameters, alphabetically).
const FIELDS: &[(&str, ParamKind)] = &[
    ("allow_downgrade_to_insecure", ParamKind::Bool),
    ("allow_insecure", ParamKind::Bool),
    ("allow_weak", ParamKind::Bool),
    ("architectures", ParamKind::List),
    ("by_hash", ParamKind::Bool),
    ("check_date", ParamKind::Bool),
    ("check_valid_until", ParamKind::Bool),
    ("components", ParamKind::List),
    ("date_max_future", ParamKind::Int),
    ("enabled", ParamKind::Bool),
    ("inrelease_path", ParamKind::Str),
    ("languages", ParamKind::List),
    ("name", ParamKind::Str),
    ("pdiffs", ParamKind::Bool),
    ("signed_by", ParamKind::Str),
    ("suites", ParamKind::List),
    ("targets", ParamKind::List),
    ("trusted", ParamKind::Bool),
    ("types", ParamKind::List),
    ("uris", ParamKind::List),
];

const PARAMS: &[ParamSpec] = &[
    ParamSpec::new(
        "name",
        ParamKind::Str,
        "Repository name; the file is named after it.",
    )
    .required(),
    ParamSpec::new(
        "types",
        ParamKind::List,
        "deb and/or deb-src (default deb).",
    ),
    ParamSpec::new("uris", ParamKind::List, "Repository URIs."),
    ParamSpec::new("suites", ParamKind::List, "Suites (bookworm, lab, ...)."),
    ParamSpec::new(
        "components",
        ParamKind::List,
        "Components (main, contrib, ...).",
    ),
    ParamSpec::new(
        "signed_by",
        ParamKind::Str,
        "Key URL (fetched by the target), keyring path, fingerprints or an armored key.",
    ),
    ParamSpec::new("architectures", ParamKind::List, "Architectures to fetch."),
    ParamSpec::new("enabled", ParamKind::Bool, "Whether apt uses the source."),
    ParamSpec::new(
        "trusted",
        ParamKind::Bool,
        "Trust the source without signatures.",
    ),
    ParamSpec::new(
        "allow_insecure",
        ParamKind::Bool,
        "Allow an unsigned repository.",
    ),
    ParamSpec::new(
        "allow_weak",
        ParamKind::Bool,
        "Allow weak signature algorithms.",
    ),
    ParamSpec::new(
        "allow_downgrade_to_insecure",
        ParamKind::Bool,
        "Allow a signed repository to become unsigned.",
    ),
    ParamSpec::new("by_hash", ParamKind::Bool, "Use by-hash index downloads."),
    ParamSpec::new(
        "check_date",
        ParamKind::Bool,
        "Check the Release file's date.",
    ),
    ParamSpec::new("check_valid_until", ParamKind::Bool, "Check Valid-Until."),
    ParamSpec::new(
        "date_max_future",
        ParamKind::Int,
        "Seconds a Release may be dated ahead.",
    ),
    ParamSpec::new(
        "inrelease_path",
        ParamKind::Str,
        "Path of the InRelease file.",
    ),
    ParamSpec::new("languages", ParamKind::List, "Translation languages."),
    ParamSpec::new("pdiffs", ParamKind::Bool, "Use index diffs."),
    ParamSpec::new("targets", ParamKind::List, "Download targets."),
    ParamSpec::new("state", ParamKind::Str, "present (default) or absent.")
        .choices(&["present", "absent"]),
    ParamSpec::new(
        "mode",
        ParamKind::Mode,
        "Mode of the sources file (default 0644).",
    ),
];

/// Parameters of `deb822_repository`.
pub static SPEC: ModuleSpec = ModuleSpec {
    name: "deb822_repository",
    doc: "Adds or removes a deb822 apt source (.sources file) and its signing key.",
    params: PARAMS,
    free_form: false,
};

/// No extra argument rules.
pub const RULES: Rules = Rules::NONE;

/// The file-name slug of a repository name, as Ansible makes it.
pub fn slug(name: &str) -> String {
    let mut dashed = String::new();
    let mut in_run = false;
    for c in name.to_lowercase().chars() {
        if c == '_' || c.is_whitespace() {
            if !in_run {
                dashed.push('-');
            }
            in_run = true;
        } else {
            dashed.push(c);
            in_run = false;
        }
    }
    dashed
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
        .collect()
}

/// The deb822 field name of a parameter (`signed_by` -> `Signed-By`).
pub fn field_name(param: &str) -> String {
    match param {
        "name" => "X-Repolib-Name".into(),
        "uris" => "URIs".into(),
        _ => param
            .split('_')
            .map(|w| {
                let mut c = w.chars();
                match c.next() {
                    Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                    None => String::new(),
                }
            })
            .collect::<Vec<_>>()
            .join("-"),
    }
}

/// A multi-line value as deb822 continuation lines (empty lines become ` .`).
fn multiline(v: &str) -> String {
    let lines: Vec<String> = v
        .trim()
        .lines()
        .map(|l| {
            let t = l.trim();
            format!("    {}", if t.is_empty() { "." } else { t })
        })
        .collect();
    format!("\n{}", lines.join("\n"))
}

/// Renders the sources file from the fields (`signed_by` already resolved to its value).
pub fn render(fields: &[(String, String)]) -> String {
    let mut s = String::new();
    for (k, v) in fields {
        if v.contains('\n') {
            s.push_str(&format!("{k}:{}\n", multiline(v)));
        } else {
            s.push_str(&format!("{k}: {v}\n"));
        }
    }
    s
}

/// Whether a signed_by value is a URL to fetch.
fn is_url(v: &str) -> bool {
    v.split_once("://").is_some_and(|(scheme, _)| {
        !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    })
}

/// The read-only fetch of a key URL on the target, printed as base64.
pub fn fetch_script(url: &str) -> String {
    format!(
        "u={}\nif command -v curl >/dev/null 2>&1; then k=$(curl -fsSL --max-time 60 -- \"$u\" | base64 -w0) && [ -n \"$k\" ]; \
elif command -v wget >/dev/null 2>&1; then k=$(wget -q -T 60 -O - -- \"$u\" | base64 -w0) && [ -n \"$k\" ]; \
else echo 'neither curl nor wget is installed' >&2; exit 2; fi || {{ echo \"cannot download $u\" >&2; exit 1; }}\nprintf '%s\\n' \"$k\"\n",
        quote(url)
    )
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

#[async_trait::async_trait]
impl Module for Deb822Repository {
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }

    async fn plan(&self, ctx: &TaskCtx<'_>, args: &ResultMap) -> Result<Plan, ModuleError> {
        let a = Args::parse(&SPEC, args)?;
        let bad = |arg: &str, msg: String| {
            ModuleError::Args(format!("deb822_repository: parameter '{arg}': {msg}"))
        };
        let name = a.req_str("name")?;
        let slug = slug(&name);
        if slug.is_empty() {
            return Err(bad("name", format!("{name:?} gives an empty file name")));
        }
        let dest = format!("{SOURCES_DIR}/{slug}.sources");
        let key_paths = [
            format!("{KEYRINGS_DIR}/{slug}.asc"),
            format!("{KEYRINGS_DIR}/{slug}.gpg"),
        ];
        let mode = match a.mode("mode")? {
            None => 0o644,
            Some(ModeArg::Octal(m)) => m,
            Some(other) => other.resolve(0o644, false).map_err(|e| bad("mode", e))?,
        };
        let state = a.choice("state", "present")?;
        let present = state == "present";
        let types = a.list("types")?.unwrap_or_else(|| vec!["deb".into()]);
        if let Some(t) = types.iter().find(|t| *t != "deb" && *t != "deb-src") {
            return Err(bad("types", format!("{t:?} is not one of: deb, deb-src")));
        }
        for required in ["uris", "suites"] {
            if present && !a.has(required) {
                return Err(bad(required, "is required with state=present".into()));
            }
        }
        let key_opts = QueryOpts {
            sha1: true,
            content: ContentLimit::Skip,
            dir_child: None,
        };
        let dest_opts = QueryOpts {
            sha1: true,
            content: ContentLimit::All,
            dir_child: None,
        };
        let st = query_files(
            ctx,
            &[
                (key_paths[0].as_str(), &key_opts),
                (key_paths[1].as_str(), &key_opts),
                (dest.as_str(), &dest_opts),
            ],
        )
        .await?;
        let (keys, src) = (&st[..2], &st[2]);
        let mut result = ResultMap::new();
        result.insert("dest".into(), dest.clone().into());
        let mut diffs = Vec::new();
        let mut steps = Vec::new();

        if !present {
            result.insert("repo".into(), Value::Null);
            let mut key_filename = Value::Null;
            let mut gone = Vec::new();
            if src.exists() {
                let before = src
                    .content
                    .as_deref()
                    .and_then(diff_text)
                    .unwrap_or_default();
                diffs.push(Diff::new(&dest, before, ""));
                gone.push(dest.clone());
            }
            for (k, path) in keys.iter().zip(&key_paths) {
                if k.exists() {
                    diffs.push(Diff::attr(path, "state", "file", "absent"));
                    gone.push(path.clone());
                    key_filename = path.clone().into();
                }
            }
            result.insert("key_filename".into(), key_filename);
            if gone.is_empty() {
                return Ok(Plan::Unchanged { result });
            }
            let cmd = Sh::new("rm").arg("-f").arg("--").args(&gone).build();
            steps.push(ctx.step(format!("remove {}", gone.join(", ")), cmd));
            return Ok(Plan::Change {
                diff: diffs,
                steps,
                result,
            });
        }

        let mut key_filename: Option<String> = None;
        let mut fields = Vec::new();
        for (param, kind) in FIELDS {
            let value = match (*param, kind) {
                ("types", _) => Some(types.join(" ")),
                (_, ParamKind::Bool) => {
                    if a.has(param) {
                        Some(yes_no(a.bool(param, false)?))
                    } else {
                        None
                    }
                }
                (_, ParamKind::List) => a.list(param)?.map(|l| l.join(" ")),
                (_, ParamKind::Int) => a.int(param)?.map(|i| i.to_string()),
                ("signed_by", _) => match a.str(param)? {
                    Some(v) if is_url(&v) => {
                        let out = ctx.query(fetch_script(&v)).await?;
                        let key = fetched_key(&out).map_err(|e| {
                            ModuleError::failed(format!(
                                "deb822_repository: Could not fetch signed_by key {v}: {e}"
                            ))
                        })?;
                        let armored = key
                            .windows(36)
                            .any(|w| w == b"-----BEGIN PGP PUBLIC KEY BLOCK-----");
                        let (path, cur) = if armored {
                            (&key_paths[0], &keys[0])
                        } else {
                            (&key_paths[1], &keys[1])
                        };
                        if cur.sha1.as_deref() != Some(sha1_hex(&key).as_str()) {
                            let before = if cur.exists() { "(previous key)\n" } else { "" };
                            let after = diff_text(&key).unwrap_or_else(|| {
                                format!("(binary keyring, {} bytes)\n", key.len())
                            });
                            diffs.push(Diff::new(path, before, after));
                            steps.push(super::write_apt_file(ctx, path, 0o644, key)?);
                        }
                        key_filename = Some(path.clone());
                        Some(path.clone())
                    }
                    other => other,
                },
                _ => a.str(param)?,
            };
            if let Some(v) = value {
                fields.push((field_name(param), v));
            }
        }
        let repo = render(&fields);
        result.insert("repo".into(), repo.clone().into());
        result.insert(
            "key_filename".into(),
            key_filename.map_or(Value::Null, Value::from),
        );
        let current = src.content.as_deref();
        if current != Some(repo.as_bytes()) {
            let before = current.and_then(diff_text).unwrap_or_default();
            diffs.push(Diff::new(&dest, before, repo.clone()));
            steps.push(super::write_apt_file(ctx, &dest, mode, repo.into_bytes())?);
        } else if let Some(cur) = src.stat.as_ref().filter(|s| s.mode != mode) {
            diffs.push(Diff::attr(
                &dest,
                "mode",
                &mode_string(cur.mode),
                &mode_string(mode),
            ));
            let change = AttrChange {
                mode: Some(chmod_octal(mode)),
                ..AttrChange::default()
            };
            steps.extend(attr_steps(ctx, &dest, &change));
        }
        result.insert("mode".into(), mode_string(mode).into());
        if steps.is_empty() {
            return Ok(Plan::Unchanged { result });
        }
        Ok(Plan::Change {
            diff: diffs,
            steps,
            result,
        })
    }

    fn finish(&self, _result: &mut ResultMap, outputs: &[ExecOutput]) -> Result<(), ModuleError> {
        check_outputs(outputs).map(|_| ())
    }
}

/// Decodes the key a [`fetch_script`] printed.
pub fn fetched_key(out: &ExecOutput) -> Result<Vec<u8>, String> {
    if !out.success() {
        return Err(out.stderr_str().trim().to_string());
    }
    let text = out.stdout_str();
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| format!("bad download output: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_and_field_names_follow_ansible() {
        assert_eq!(slug("Lab Extras_repo"), "lab-extras-repo");
        assert_eq!(slug("docker.com!"), "dockercom");
        assert_eq!(field_name("signed_by"), "Signed-By");
        assert_eq!(field_name("uris"), "URIs");
        assert_eq!(field_name("name"), "X-Repolib-Name");
        assert_eq!(
            field_name("allow_downgrade_to_insecure"),
            "Allow-Downgrade-To-Insecure"
        );
        assert!(is_url("http://10.213.0.1:8080/k.asc"));
        assert!(!is_url("/usr/share/keyrings/k.gpg"));
    }

    #[test]
    fn renders_fields_and_inline_keys() {
        let fields = vec![
            ("Components".to_string(), "main".to_string()),
            ("X-Repolib-Name".to_string(), "extras".to_string()),
            (
                "Signed-By".to_string(),
                "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nabc\n-----END PGP PUBLIC KEY BLOCK-----\n"
                    .to_string(),
            ),
            ("Suites".to_string(), "lab".to_string()),
        ];
        assert_eq!(
            render(&fields),
            "Components: main\nX-Repolib-Name: extras\nSigned-By:\n    -----BEGIN PGP PUBLIC KEY BLOCK-----\n    .\n    abc\n    -----END PGP PUBLIC KEY BLOCK-----\nSuites: lab\n"
        );
    }

    #[test]
    fn fetched_keys_decode() {
        let out = ExecOutput {
            status: 0,
            stdout: b"aGVsbG8=\n".to_vec(),
            stderr: Vec::new(),
        };
        assert_eq!(fetched_key(&out).unwrap(), b"hello");
        let out = ExecOutput {
            status: 1,
            stdout: Vec::new(),
            stderr: b"cannot download http://x/k\n".to_vec(),
        };
        assert_eq!(fetched_key(&out).unwrap_err(), "cannot download http://x/k");
    }

    #[tokio::test]
    async fn rejects_bad_arguments_before_querying() {
        let h = crate::modules::testutil::Harness::new();
        let e = h
            .plan(
                &Deb822Repository,
                &serde_json::json!({"name": "x", "uris": "http://h/", "suites": "s", "types": "rpm"}),
                true,
            )
            .await
            .unwrap_err();
        assert!(e.to_string().contains("'types'"), "{e}");
        let e = h
            .plan(
                &Deb822Repository,
                &serde_json::json!({"name": "x", "suites": "s"}),
                true,
            )
            .await
            .unwrap_err();
        assert!(e.to_string().contains("'uris'"), "{e}");
    }
}
