//! `apt_repository`: one-line apt sources (`deb [signed-by=...] URI suite comp`) present in
//! /etc/apt/sources.list.d/FILENAME.list or absent from every .list file, then (by default)
//! `apt-get update` when something changed. One read-only query reads all .list files; files
//! are rewritten with the shared atomic writer. It never uses apt-key.

use serde_json::Value;

use crate::core::{
    Diff, ExecOutput, Module, ModuleError, ModuleSpec, ParamKind, ParamSpec, Plan, ResultMap, Sh,
    TaskCtx,
};
use crate::modules::args::{Args, ModeArg, Rules, mode_string};
use crate::modules::files::atomic::{
    AttrChange, FileAttrs, Source, WriteSpec, attr_steps, chmod_octal, write_step,
};

use super::apt::{update_failure, update_script};

/// The `apt_repository` module.
pub struct AptRepository;

const PARAMS: &[ParamSpec] = &[
    ParamSpec::new(
        "repo",
        ParamKind::Str,
        "The source line: `deb [options] URI suite [components]`.",
    )
    .required(),
    ParamSpec::new("state", ParamKind::Str, "present (default) or absent.")
        .choices(&["present", "absent"]),
    ParamSpec::new(
        "filename",
        ParamKind::Str,
        "File name in sources.list.d without .list (default: derived from the URI).",
    ),
    ParamSpec::new(
        "update_cache",
        ParamKind::Bool,
        "Run apt-get update after a change (default yes).",
    )
    .aliases(&["update-cache"]),
    ParamSpec::new(
        "mode",
        ParamKind::Mode,
        "Mode of the written file (default 0644).",
    ),
];

/// Parameters of `apt_repository`.
pub static SPEC: ModuleSpec = ModuleSpec {
    name: "apt_repository",
    doc: "Adds or removes a one-line apt source in sources.list.d, then updates the cache.",
    params: PARAMS,
    free_form: false,
};

/// No extra argument rules.
pub const RULES: Rules = Rules::NONE;

/// The main sources file and the directory of .list files.
const MAIN_LIST: &str = "/etc/apt/sources.list";
const LIST_DIR: &str = "/etc/apt/sources.list.d";

/// A repo line with its whitespace collapsed (options in brackets kept as written), or `None`
/// when it is not a `deb`/`deb-src` line.
pub fn normalize(line: &str) -> Option<String> {
    let t = line.trim();
    let words: Vec<&str> = t.split_whitespace().collect();
    match words.first() {
        Some(&"deb") | Some(&"deb-src") if words.len() >= 3 => Some(words.join(" ")),
        _ => None,
    }
}

/// Parses one line of a .list file: its normalized source and whether it is enabled.
pub fn parse_line(line: &str) -> Option<(String, bool)> {
    let t = line.trim();
    let (body, enabled) = match t.strip_prefix('#') {
        Some(rest) => (rest, false),
        None => (t, true),
    };
    // A trailing comment is not part of the source.
    let body = body.split(" #").next().unwrap_or(body);
    normalize(body).map(|s| (s, enabled))
}

/// The file name Ansible derives from a repo line: the first of host/path, non-alphanumerics
/// turned into `_` (`deb http://10.213.0.1:8080/extras lab main` -> `10_213_0_1_8080_extras`).
pub fn suggest_filename(repo: &str) -> String {
    let mut line = String::new();
    let mut depth = 0;
    for c in repo.chars() {
        match c {
            '[' => depth += 1,
            ']' if depth > 0 => depth -= 1,
            _ if depth == 0 => line.push(c),
            _ => {}
        }
    }
    let parts: Vec<&str> = line
        .split_whitespace()
        .filter(|p| *p != "deb" && *p != "deb-src")
        .collect();
    let first = parts.first().copied().unwrap_or("");
    let first = first.split_once("://").map_or(first, |(_, r)| r);
    let first = first.rsplit_once('@').map_or(first, |(_, r)| r);
    first
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("_")
}

/// One .list file as read from the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListFile {
    /// Its path.
    pub path: String,
    /// Its mode.
    pub mode: u32,
    /// Its content.
    pub content: String,
}

/// The read-only query: every .list file with its mode and exact byte count.
pub fn query_script() -> String {
    format!(
        "for f in {MAIN_LIST} {LIST_DIR}/*.list; do [ -f \"$f\" ] || continue; \
printf '==file %s %s %s\\n' \"$(stat -c %a -- \"$f\")\" \"$(wc -c < \"$f\")\" \"$f\"; cat -- \"$f\"; done\n"
    )
}

/// Parses [`query_script`] output.
pub fn parse_files(out: &[u8]) -> Result<Vec<ListFile>, String> {
    let mut files = Vec::new();
    let mut pos = 0;
    while pos < out.len() {
        let end = out[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|i| pos + i)
            .ok_or("truncated query output")?;
        let header = String::from_utf8_lossy(&out[pos..end]).into_owned();
        let rest = header
            .strip_prefix("==file ")
            .ok_or_else(|| format!("unexpected query output {header:?}"))?;
        let mut f = rest.splitn(3, ' ');
        let (Some(mode), Some(len), Some(path)) = (f.next(), f.next(), f.next()) else {
            return Err(format!("bad file header {header:?}"));
        };
        let mode = u32::from_str_radix(mode, 8).map_err(|_| format!("bad mode in {header:?}"))?;
        let len: usize = len
            .trim()
            .parse()
            .map_err(|_| format!("bad size in {header:?}"))?;
        let body = out
            .get(end + 1..end + 1 + len)
            .ok_or_else(|| format!("{path}: truncated content"))?;
        files.push(ListFile {
            path: path.to_string(),
            mode,
            content: String::from_utf8_lossy(body).into_owned(),
        });
        pos = end + 1 + len;
    }
    Ok(files)
}

/// The new content of `file` without any line whose source is `source`.
pub fn without_source(content: &str, source: &str) -> Option<String> {
    let mut out = String::new();
    let mut removed = false;
    for line in content.split_inclusive('\n') {
        if parse_line(line).is_some_and(|(s, _)| s == source) {
            removed = true;
        } else {
            out.push_str(line);
        }
    }
    removed.then_some(out)
}

/// The new content of the target file with `source` enabled (an existing commented line is
/// uncommented in place, else the line is appended).
pub fn with_source(content: &str, source: &str) -> String {
    let mut out = String::new();
    let mut done = false;
    for line in content.split_inclusive('\n') {
        if !done && parse_line(line).is_some_and(|(s, en)| s == source && !en) {
            out.push_str(source);
            out.push('\n');
            done = true;
        } else {
            out.push_str(line);
        }
    }
    if !done {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(source);
        out.push('\n');
    }
    out
}

#[async_trait::async_trait]
impl Module for AptRepository {
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }

    async fn plan(&self, ctx: &TaskCtx<'_>, args: &ResultMap) -> Result<Plan, ModuleError> {
        let a = Args::parse(&SPEC, args)?;
        let bad = |arg: &str, msg: String| {
            ModuleError::Args(format!("apt_repository: parameter '{arg}': {msg}"))
        };
        let repo = a.req_str("repo")?;
        let source = normalize(&repo).ok_or_else(|| {
            bad(
                "repo",
                format!(
                    "{repo:?} is not a source line (deb|deb-src [options] URI suite [components])"
                ),
            )
        })?;
        if source.starts_with("deb [") && !source.contains(']') {
            return Err(bad(
                "repo",
                format!("{repo:?} has an unclosed [options] list"),
            ));
        }
        let name = match a.str("filename")? {
            Some(f) => f,
            None => suggest_filename(&source),
        };
        if name.is_empty() || name.contains('/') {
            return Err(bad(
                "filename",
                format!("{name:?} is not a valid file name"),
            ));
        }
        let dest = format!("{LIST_DIR}/{name}.list");
        let mode = match a.mode("mode")? {
            None => 0o644,
            Some(ModeArg::Octal(m)) => m,
            Some(other) => other.resolve(0o644, false).map_err(|e| bad("mode", e))?,
        };
        let present = a.choice("state", "present")? == "present";
        let update = a.bool("update_cache", true)?;

        let out = ctx.query(query_script()).await?;
        let files = parse_files(&out.stdout).map_err(|e| {
            ModuleError::failed(format!(
                "apt_repository: cannot read the apt sources: {e} {}",
                out.stderr_str().trim()
            ))
        })?;
        let mut diffs = Vec::new();
        let mut steps = Vec::new();
        let mut result = ResultMap::new();
        result.insert("repo".into(), repo.clone().into());
        let (mut added, mut removed) = (Vec::<Value>::new(), Vec::<Value>::new());
        let keep = FileAttrs::default();
        if present {
            let enabled_somewhere = files.iter().any(|f| {
                f.content
                    .lines()
                    .any(|l| parse_line(l) == Some((source.clone(), true)))
            });
            let current = files.iter().find(|f| f.path == dest);
            if !enabled_somewhere {
                let before = current.map(|f| f.content.clone()).unwrap_or_default();
                let after = with_source(&before, &source);
                diffs.push(Diff::new(&dest, before, after.clone()));
                steps.push(super::write_apt_file(ctx, &dest, mode, after.into_bytes())?);
                added.push(dest.clone().into());
            } else if let Some(f) = current.filter(|f| f.mode != mode) {
                diffs.push(Diff::attr(
                    &dest,
                    "mode",
                    &mode_string(f.mode),
                    &mode_string(mode),
                ));
                let change = AttrChange {
                    mode: Some(chmod_octal(mode)),
                    ..AttrChange::default()
                };
                steps.extend(attr_steps(ctx, &dest, &change));
            }
        } else {
            for f in &files {
                let Some(after) = without_source(&f.content, &source) else {
                    continue;
                };
                diffs.push(Diff::new(&f.path, f.content.clone(), after.clone()));
                removed.push(f.path.clone().into());
                if after.trim().is_empty() && f.path != MAIN_LIST {
                    let cmd = Sh::new("rm").arg("-f").arg("--").arg(&f.path).build();
                    steps.push(ctx.step(format!("remove {}", f.path), cmd));
                } else {
                    let spec = WriteSpec {
                        dest: &f.path,
                        attrs: &keep,
                        backup: false,
                        validate: None,
                        create_parent: false,
                    };
                    steps.push(write_step(ctx, &spec, Source::Stdin(after.into_bytes()))?);
                }
            }
        }
        result.insert("sources_added".into(), Value::Array(added));
        result.insert("sources_removed".into(), Value::Array(removed));
        if steps.is_empty() {
            return Ok(Plan::Unchanged { result });
        }
        if update {
            steps.push(ctx.step("apt-get update", update_script(60)));
        }
        Ok(Plan::Change {
            diff: diffs,
            steps,
            result,
        })
    }

    fn finish(&self, result: &mut ResultMap, outputs: &[ExecOutput]) -> Result<(), ModuleError> {
        let Some(failed) = outputs.iter().find(|o| !o.success()) else {
            return Ok(());
        };
        let is_update = failed.stdout_str().contains("Reading package lists")
            || failed.stderr_str().contains("E: ")
            || failed.stderr_str().contains("W: ");
        let _ = result;
        if is_update {
            return Err(update_failure(failed));
        }
        crate::modules::files::atomic::check_outputs(outputs).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_follow_ansible() {
        assert_eq!(
            suggest_filename("deb [signed-by=/k.asc] http://10.213.0.1:8080/extras lab main"),
            "10_213_0_1_8080_extras"
        );
        assert_eq!(
            suggest_filename("deb http://user:pw@dl.google.com/linux/chrome/deb/ stable main"),
            "dl_google_com_linux_chrome_deb"
        );
    }

    #[test]
    fn lines_parse_and_edit() {
        assert_eq!(
            parse_line("#  deb  http://x/  lab main # note"),
            Some(("deb http://x/ lab main".into(), false))
        );
        assert_eq!(parse_line("# just a comment"), None);
        let src = "deb http://x/ lab main";
        assert_eq!(
            with_source("# deb http://x/   lab main\ndeb http://y/ s c", src),
            "deb http://x/ lab main\ndeb http://y/ s c"
        );
        assert_eq!(with_source("", src), "deb http://x/ lab main\n");
        assert_eq!(
            without_source("deb http://y/ s c\ndeb  http://x/ lab main\n", src).as_deref(),
            Some("deb http://y/ s c\n")
        );
        assert_eq!(without_source("deb http://y/ s c\n", src), None);
    }

    #[test]
    fn query_output_parses_exact_bytes() {
        let out = b"==file 644 11 /etc/apt/sources.list\ndeb h s c\n\n==file 600 5 /etc/apt/sources.list.d/a b.list\nabcde";
        let f = parse_files(out).unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].content, "deb h s c\n\n");
        assert_eq!(f[1].path, "/etc/apt/sources.list.d/a b.list");
        assert_eq!(f[1].mode, 0o600);
        assert_eq!(f[1].content, "abcde");
        assert!(parse_files(b"==file 644 99 /x\nshort").is_err());
        assert!(parse_files(b"junk\n").is_err());
    }

    #[tokio::test]
    async fn bad_lines_fail_before_querying() {
        let h = crate::modules::testutil::Harness::new();
        let e = h
            .plan(
                &AptRepository,
                &serde_json::json!({"repo": "ppa:foo/bar"}),
                true,
            )
            .await
            .unwrap_err();
        assert!(e.to_string().contains("'repo'"), "{e}");
    }
}
