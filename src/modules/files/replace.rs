//! `replace`: replaces every match of a Python regex (MULTILINE) in a file, optionally only
//! between `after` and `before` patterns, computed locally from the content fetched by the one
//! query and written back through the atomic writer.

use regex::bytes::Regex;

use super::lineinfile::{EditedFile, missing, plan_edit, query_for_edit, wanted};
use crate::core::{
    ExecOutput, Module, ModuleError, ModuleSpec, ParamKind, ParamSpec, Plan, ResultMap, TaskCtx,
};
use crate::modules::args::{Args, Rules};
use crate::modules::pyregex;

/// The `replace` module.
pub struct Replace;

/// Parameters of `replace`.
pub static SPEC: ModuleSpec = ModuleSpec {
    name: "replace",
    doc: "Replaces all matches of a regular expression in a file.",
    params: &[
        ParamSpec::new("path", ParamKind::Path, "The file to edit.")
            .required()
            .aliases(&["dest", "destfile", "name"]),
        ParamSpec::new(
            "regexp",
            ParamKind::Str,
            "Python regex (MULTILINE) to replace.",
        )
        .required(),
        ParamSpec::new(
            "replace",
            ParamKind::Str,
            "Replacement text; \\1 and \\g<name> refer to groups (default empty).",
        ),
        ParamSpec::new(
            "after",
            ParamKind::Str,
            "Only replace after the first match of this regex (DOTALL).",
        ),
        ParamSpec::new(
            "before",
            ParamKind::Str,
            "Only replace before the last match of this regex (DOTALL).",
        ),
        ParamSpec::new(
            "backup",
            ParamKind::Bool,
            "Keep a timestamped copy of the file before changing it.",
        ),
        ParamSpec::new(
            "validate",
            ParamKind::Str,
            "Command checking the new file before it replaces the old (%s is the file).",
        ),
        ParamSpec::new(
            "encoding",
            ParamKind::Str,
            "Character encoding of the file; only utf-8 is supported.",
        ),
        ParamSpec::new("owner", ParamKind::Str, "Owner name or uid of the file."),
        ParamSpec::new("group", ParamKind::Str, "Group name or gid of the file."),
        ParamSpec::new("mode", ParamKind::Mode, "Mode of the file."),
        ParamSpec::new(
            "unsafe_writes",
            ParamKind::Bool,
            "Accepted for compatibility; writes are always atomic.",
        ),
    ],
    free_form: false,
};

/// Argument rules of `replace`.
pub const RULES: Rules = Rules::NONE;

/// Python's `re.subn`: replaces every match (empty matches next to a previous non-empty one
/// included, as in Python 3.7+) and counts them.
pub fn subn(re: &Regex, template: &[u8], hay: &[u8]) -> Result<(Vec<u8>, usize), String> {
    let mut out = Vec::with_capacity(hay.len());
    let mut copied = 0;
    let mut pos = 0;
    let mut count = 0;
    let mut must_advance = false;
    while pos <= hay.len() {
        let Some(caps) = re.captures_at(hay, pos) else {
            break;
        };
        let m = caps.get(0).ok_or("regex match without a group 0")?;
        if must_advance && m.start() == pos && m.end() == pos {
            if pos >= hay.len() {
                break;
            }
            pos += utf8_len(hay[pos]);
            must_advance = false;
            continue;
        }
        out.extend_from_slice(&hay[copied..m.start()]);
        out.extend(pyregex::expand(template, re, &caps)?);
        copied = m.end();
        count += 1;
        must_advance = m.start() == m.end();
        pos = m.end();
    }
    out.extend_from_slice(&hay[copied.min(hay.len())..]);
    Ok((out, count))
}

fn utf8_len(lead: u8) -> usize {
    match lead {
        0xf0..=0xf7 => 4,
        0xe0..=0xef => 3,
        0xc0..=0xdf => 2,
        _ => 1,
    }
}

/// The outcome of [`replace_in`]: the new content, Ansible's message, whether it changed.
pub type Replaced = (Vec<u8>, String, bool);

/// Ansible's replace on `contents`.
pub fn replace_in(
    contents: &[u8],
    regexp: &str,
    replace: &str,
    after: Option<&str>,
    before: Option<&str>,
) -> Result<Replaced, String> {
    let after = after.filter(|s| !s.is_empty());
    let before = before.filter(|s| !s.is_empty());
    let shown = match (after, before) {
        (Some(a), Some(b)) => Some(format!("{a}(?P<subsection>.*?){b}")),
        (Some(a), None) => Some(format!("{a}(?P<subsection>.*)")),
        (None, Some(b)) => Some(format!("(?P<subsection>.*){b}")),
        (None, None) => None,
    };
    let (section, range) = match shown {
        Some(shown) => {
            let re = pyregex::compile(&shown, "s")?;
            let Some(sub) = re.captures(contents).and_then(|c| c.name("subsection")) else {
                return Ok((
                    contents.to_vec(),
                    format!(
                        "Pattern for before/after params did not match the given file: {shown}"
                    ),
                    false,
                ));
            };
            (&contents[sub.range()], Some(sub.range()))
        }
        None => (contents, None),
    };
    let re = pyregex::compile(regexp, "m")?;
    let (new_section, count) = subn(&re, replace.as_bytes(), section)?;
    if count == 0 || new_section == section {
        return Ok((contents.to_vec(), String::new(), false));
    }
    let result = match range {
        Some(r) => [&contents[..r.start], &new_section[..], &contents[r.end..]].concat(),
        None => new_section,
    };
    Ok((result, format!("{count} replacements made"), true))
}

#[async_trait::async_trait]
impl Module for Replace {
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }

    async fn plan(&self, ctx: &TaskCtx<'_>, args: &ResultMap) -> Result<Plan, ModuleError> {
        let a = Args::parse(&SPEC, args)?;
        let path = a.req_str("path")?;
        if let Some(enc) = a.str("encoding")?
            && !matches!(
                enc.to_ascii_lowercase().replace('_', "-").as_str(),
                "utf-8" | "utf8"
            )
        {
            return Err(ModuleError::Args(format!(
                "replace: encoding {enc:?} is not supported (only utf-8)"
            )));
        }
        let regexp = a.req_str("regexp")?;
        let replacement = a.str("replace")?.unwrap_or_default();
        let after = a.str("after")?;
        let before = a.str("before")?;
        // A bad pattern fails before touching the host.
        replace_in(
            b"",
            &regexp,
            &replacement,
            after.as_deref(),
            before.as_deref(),
        )
        .map_err(ModuleError::Args)?;
        let st = query_for_edit(ctx, &path).await?;
        if !st.exists() {
            return Err(missing(format!("Path {path} does not exist !")));
        }
        let content = st.content.clone().unwrap_or_default();
        let (new, msg, changed) = replace_in(
            &content,
            &regexp,
            &replacement,
            after.as_deref(),
            before.as_deref(),
        )
        .map_err(ModuleError::Args)?;
        let want = wanted(&a)?;
        let validate = a.str("validate")?;
        plan_edit(
            ctx,
            EditedFile {
                path: &path,
                st: &st,
                new_content: changed.then_some(new),
                want: &want,
                backup: a.bool("backup", false)?,
                validate: validate.as_deref(),
                msg,
            },
        )
    }

    fn finish(&self, result: &mut ResultMap, outputs: &[ExecOutput]) -> Result<(), ModuleError> {
        super::copy::finish_write(result, outputs, "backup_file")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(
        c: &str,
        re: &str,
        rep: &str,
        after: Option<&str>,
        before: Option<&str>,
    ) -> (String, String) {
        let (out, msg, _) = replace_in(c.as_bytes(), re, rep, after, before).unwrap();
        (String::from_utf8(out).unwrap(), msg)
    }

    #[test]
    fn replace_cases_match_ansible() {
        assert_eq!(
            r("a=1\nb=1\n", "=1$", "=2", None, None),
            ("a=2\nb=2\n".into(), "2 replacements made".into())
        );
        assert_eq!(
            r(
                "host old\n",
                r"^(host) (\w+)$",
                r"\1 new # was \2",
                None,
                None
            )
            .0,
            "host new # was old\n"
        );
        assert_eq!(
            r("x=1\n", r"^(?P<k>\w+)=", r"\g<k>: ", None, None).0,
            "x: 1\n"
        );
        assert_eq!(
            r("abc\n", "z", "y", None, None),
            ("abc\n".into(), String::new())
        );
        // Replacing a match with itself is no change.
        assert_eq!(
            r("abc\n", "b", "b", None, None),
            ("abc\n".into(), String::new())
        );
        // Sections.
        let c = "a\n[s]\na\n[e]\na\n";
        assert_eq!(
            r(c, "^a$", "b", Some(r"\[s\]"), None).0,
            "a\n[s]\nb\n[e]\nb\n"
        );
        assert_eq!(
            r(c, "^a$", "b", None, Some(r"\[e\]")).0,
            "b\n[s]\nb\n[e]\na\n"
        );
        assert_eq!(
            r(c, "^a$", "b", Some(r"\[s\]"), Some(r"\[e\]")).0,
            "a\n[s]\nb\n[e]\na\n"
        );
        let (out, msg) = r(c, "a", "b", Some("nomatch"), None);
        assert_eq!(out, c);
        assert!(
            msg.starts_with("Pattern for before/after params did not match"),
            "{msg}"
        );
        // Python 3.7 empty-match semantics.
        assert_eq!(r("abxd", "x*", "-", None, None).0, "-a-b--d-");
        assert_eq!(r("a\nb\n", "^", ">", None, None).0, ">a\n>b\n>");
        assert_eq!(r("é\n", "", "|", None, None).0, "|é|\n|");
    }
}

#[cfg(test)]
mod host_tests {
    use super::*;
    use crate::modules::testutil::{Harness, read};
    use serde_json::json;

    #[tokio::test]
    async fn replaces_converge() {
        let h = Harness::new();
        let f = h.path("conf");
        std::fs::write(&f, "listen 80;\nlisten 8080;\n").unwrap();
        let args = json!({"path": f, "regexp": r"^listen (\d+);$", "replace": r"listen \1 ssl;", "backup": true});
        let applied = h.converge(&Replace, &args).await;
        assert_eq!(read(&f), "listen 80 ssl;\nlisten 8080 ssl;\n");
        assert_eq!(applied.result["msg"], "2 replacements made");
        assert!(applied.result["backup_file"].as_str().is_some());
        let err = h
            .apply(&Replace, &json!({"path": h.path("nope"), "regexp": "x"}))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
        let err = h
            .apply(&Replace, &json!({"path": f, "regexp": "(?<=x)y"}))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("lookbehind"), "{err}");
    }
}
