//! `blockinfile`: inserts, updates or removes a block of lines between marker lines, with
//! Ansible's exact output format, computed locally from the content fetched by the one query.

use super::lineinfile::{EditedFile, missing, plan_edit, query_for_edit, wanted};
use crate::core::{
    ExecOutput, Module, ModuleError, ModuleSpec, ParamKind, ParamSpec, Plan, ResultMap, TaskCtx,
};
use crate::modules::args::{Args, Rules};
use crate::modules::pyregex::{self, search_line, splitlines_keepends};

/// The `blockinfile` module.
pub struct BlockInFile;

/// Parameters of `blockinfile`.
pub static SPEC: ModuleSpec = ModuleSpec {
    name: "blockinfile",
    doc: "Inserts, updates or removes a block of lines surrounded by marker lines.",
    params: &[
        ParamSpec::new("path", ParamKind::Path, "The file to edit.")
            .required()
            .aliases(&["dest", "destfile", "name"]),
        ParamSpec::new("state", ParamKind::Str, "present (default) or absent.")
            .choices(&["present", "absent"]),
        ParamSpec::new(
            "block",
            ParamKind::Str,
            "The text between the markers; empty removes the block.",
        )
        .aliases(&["content"]),
        ParamSpec::new(
            "marker",
            ParamKind::Str,
            "Marker line template; {mark} becomes marker_begin/marker_end (default \"# {mark} ANSIBLE MANAGED BLOCK\").",
        ),
        ParamSpec::new(
            "marker_begin",
            ParamKind::Str,
            "Replaces {mark} in the opening marker (default BEGIN).",
        ),
        ParamSpec::new(
            "marker_end",
            ParamKind::Str,
            "Replaces {mark} in the closing marker (default END).",
        ),
        ParamSpec::new(
            "insertafter",
            ParamKind::Str,
            "EOF (default) or a regex: a new block goes after the last matching line.",
        ),
        ParamSpec::new(
            "insertbefore",
            ParamKind::Str,
            "BOF or a regex: a new block goes before the last matching line.",
        ),
        ParamSpec::new("create", ParamKind::Bool, "Create the file when missing."),
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
            "append_newline",
            ParamKind::Bool,
            "Add a blank line after the block unless one is there.",
        ),
        ParamSpec::new(
            "prepend_newline",
            ParamKind::Bool,
            "Add a blank line before the block unless one is there.",
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

/// Argument rules of `blockinfile`.
pub const RULES: Rules = Rules {
    exclusive: &[&["insertafter", "insertbefore"]],
    one_of: &[],
};

/// The block parameters.
#[derive(Clone, Debug)]
pub struct BlockParams {
    /// `block:`.
    pub block: String,
    /// `marker:`.
    pub marker: String,
    /// `marker_begin:`.
    pub marker_begin: String,
    /// `marker_end:`.
    pub marker_end: String,
    /// `insertafter:`.
    pub insertafter: Option<String>,
    /// `insertbefore:`.
    pub insertbefore: Option<String>,
    /// `state: present`.
    pub present: bool,
    /// `append_newline:`.
    pub append_newline: bool,
    /// `prepend_newline:`.
    pub prepend_newline: bool,
}

impl Default for BlockParams {
    fn default() -> Self {
        BlockParams {
            block: String::new(),
            marker: "# {mark} ANSIBLE MANAGED BLOCK".into(),
            marker_begin: "BEGIN".into(),
            marker_end: "END".into(),
            insertafter: None,
            insertbefore: None,
            present: true,
            append_newline: false,
            prepend_newline: false,
        }
    }
}

/// The new content (`None` original = no file) and Ansible's message; unchanged when the
/// content equals the original.
pub fn edit_block(original: Option<&[u8]>, p: &BlockParams) -> Result<(Vec<u8>, String), String> {
    let mut lines = original.map(splitlines_keepends).unwrap_or_default();
    let insertafter = match (&p.insertafter, &p.insertbefore) {
        (None, None) => Some("EOF".to_string()),
        (a, _) => a.clone(),
    };
    let insertre = match (insertafter.as_deref(), p.insertbefore.as_deref()) {
        (Some(a), _) if a != "EOF" => Some(pyregex::compile(a, "")?),
        (None, Some(b)) if b != "BOF" => Some(pyregex::compile(b, "")?),
        _ => None,
    };
    let mk = |m: &str| {
        let mut v = p.marker.replace("{mark}", m).into_bytes();
        v.push(b'\n');
        v
    };
    let marker0 = mk(&p.marker_begin);
    let marker1 = mk(&p.marker_end);
    let mut blocklines: Vec<Vec<u8>> = Vec::new();
    if p.present && !p.block.is_empty() {
        let mut block = p.block.clone().into_bytes();
        if !block.ends_with(b"\n") {
            block.push(b'\n');
        }
        blocklines.push(marker0.clone());
        blocklines.extend(splitlines_keepends(&block));
        blocklines.push(marker1.clone());
    }
    let mut n0: Option<usize> = None;
    let mut n1: Option<usize> = None;
    for (i, line) in lines.iter().enumerate() {
        if *line == marker0 {
            n0 = Some(i);
        }
        if *line == marker1 {
            n1 = Some(i);
        }
    }
    let mut at = match (n0, n1) {
        (Some(a), Some(b)) if a < b => {
            lines.drain(a..=b);
            a
        }
        (Some(a), Some(b)) => {
            lines.drain(b..=a);
            b
        }
        _ => {
            if let Some(re) = &insertre {
                let mut found = None;
                for (i, line) in lines.iter().enumerate() {
                    if search_line(re, line).is_some() {
                        found = Some(i);
                    }
                }
                match found {
                    None => lines.len(),
                    Some(i) if insertafter.is_some() => i + 1,
                    Some(i) => i,
                }
            } else if p.insertbefore.is_some() {
                0
            } else {
                lines.len()
            }
        }
    };
    if at > 0 && !lines[at - 1].ends_with(b"\n") {
        lines[at - 1].push(b'\n');
    }
    if p.prepend_newline && p.present && at != 0 && lines[at - 1] != b"\n" {
        lines.insert(at, b"\n".to_vec());
        at += 1;
    }
    let nblock = blocklines.len();
    lines.splice(at..at, blocklines);
    if p.append_newline && p.present {
        let after = at + nblock;
        if after < lines.len() && lines[after] != b"\n" {
            lines.insert(after, b"\n".to_vec());
        }
    }
    let result = lines.concat();
    let msg = if original == Some(result.as_slice()) {
        ""
    } else if original.is_none() {
        "File created"
    } else if nblock == 0 {
        "Block removed"
    } else {
        "Block inserted"
    };
    Ok((result, msg.to_string()))
}

#[async_trait::async_trait]
impl Module for BlockInFile {
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }

    async fn plan(&self, ctx: &TaskCtx<'_>, args: &ResultMap) -> Result<Plan, ModuleError> {
        let a = Args::parse(&SPEC, args)?;
        let path = a.req_str("path")?;
        let d = BlockParams::default();
        let p = BlockParams {
            block: a.str("block")?.unwrap_or_default(),
            marker: a.str("marker")?.unwrap_or(d.marker),
            marker_begin: a.str("marker_begin")?.unwrap_or(d.marker_begin),
            marker_end: a.str("marker_end")?.unwrap_or(d.marker_end),
            insertafter: a.str("insertafter")?,
            insertbefore: a.str("insertbefore")?,
            present: a.choice("state", "present")? == "present",
            append_newline: a.bool("append_newline", false)?,
            prepend_newline: a.bool("prepend_newline", false)?,
        };
        // A bad pattern fails before touching the host.
        edit_block(Some(b""), &p).map_err(ModuleError::Args)?;
        let st = query_for_edit(ctx, &path).await?;
        if !st.exists() {
            if !p.present {
                let mut result = ResultMap::new();
                result.insert("msg".into(), format!("File {path} not present").into());
                return Ok(Plan::Unchanged { result });
            }
            if !a.bool("create", false)? {
                return Err(missing(format!("Path {path} does not exist !")));
            }
        }
        let original = if st.exists() {
            Some(st.content.clone().unwrap_or_default())
        } else {
            None
        };
        let (content, msg) = edit_block(original.as_deref(), &p).map_err(ModuleError::Args)?;
        let changed = original.as_deref() != Some(content.as_slice());
        let want = wanted(&a)?;
        let validate = a.str("validate")?;
        plan_edit(
            ctx,
            EditedFile {
                path: &path,
                st: &st,
                new_content: changed.then_some(content),
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

    const B: &str = "# BEGIN ANSIBLE MANAGED BLOCK\n";
    const E: &str = "# END ANSIBLE MANAGED BLOCK\n";

    fn run(original: Option<&str>, p: &BlockParams) -> (String, String) {
        let (c, m) = edit_block(original.map(str::as_bytes), p).unwrap();
        (String::from_utf8(c).unwrap(), m)
    }

    fn bp(block: &str) -> BlockParams {
        BlockParams {
            block: block.into(),
            ..Default::default()
        }
    }

    #[test]
    fn block_cases_match_ansible() {
        let cases: Vec<(&str, Option<String>, BlockParams, String, &str)> = vec![
            (
                "append at EOF",
                Some("a\n".into()),
                bp("x\ny"),
                format!("a\n{B}x\ny\n{E}"),
                "Block inserted",
            ),
            (
                "unterminated last line",
                Some("a".into()),
                bp("x"),
                format!("a\n{B}x\n{E}"),
                "Block inserted",
            ),
            (
                "block newline not doubled",
                Some("".into()),
                bp("x\n"),
                format!("{B}x\n{E}"),
                "Block inserted",
            ),
            (
                "replace in place",
                Some(format!("a\n{B}old\n{E}b\n")),
                bp("new"),
                format!("a\n{B}new\n{E}b\n"),
                "Block inserted",
            ),
            (
                "same block unchanged",
                Some(format!("a\n{B}x\n{E}")),
                bp("x"),
                format!("a\n{B}x\n{E}"),
                "",
            ),
            (
                "BOF",
                Some("a\n".into()),
                BlockParams {
                    insertbefore: Some("BOF".into()),
                    ..bp("x")
                },
                format!("{B}x\n{E}a\n"),
                "Block inserted",
            ),
            (
                "insertafter last match",
                Some("k\na\nk\nb\n".into()),
                BlockParams {
                    insertafter: Some("^k".into()),
                    ..bp("x")
                },
                format!("k\na\nk\n{B}x\n{E}b\n"),
                "Block inserted",
            ),
            (
                "insertbefore last match",
                Some("k\na\nk\nb\n".into()),
                BlockParams {
                    insertbefore: Some("^k$".into()),
                    ..bp("x")
                },
                format!("k\na\n{B}x\n{E}k\nb\n"),
                "Block inserted",
            ),
            (
                "insertafter no match goes to EOF",
                Some("a\n".into()),
                BlockParams {
                    insertafter: Some("^zz".into()),
                    ..bp("x")
                },
                format!("a\n{B}x\n{E}"),
                "Block inserted",
            ),
            (
                "existing block stays put despite insertbefore",
                Some(format!("a\n{B}x\n{E}b\n")),
                BlockParams {
                    insertbefore: Some("BOF".into()),
                    ..bp("y")
                },
                format!("a\n{B}y\n{E}b\n"),
                "Block inserted",
            ),
            (
                "absent removes",
                Some(format!("a\n{B}x\n{E}b\n")),
                BlockParams {
                    present: false,
                    ..bp("x")
                },
                "a\nb\n".into(),
                "Block removed",
            ),
            (
                "empty block removes",
                Some(format!("a\n{B}x\n{E}")),
                bp(""),
                "a\n".into(),
                "Block removed",
            ),
            (
                "reversed markers",
                Some(format!("a\n{E}x\n{B}b\n")),
                bp("y"),
                format!("a\n{B}y\n{E}b\n"),
                "Block inserted",
            ),
            (
                "lone begin marker is kept",
                Some(format!("{B}a\n")),
                bp("y"),
                format!("{B}a\n{B}y\n{E}"),
                "Block inserted",
            ),
            (
                "custom markers",
                Some("<a/>\n".into()),
                BlockParams {
                    marker: "<!-- {mark} -->".into(),
                    marker_begin: "start".into(),
                    marker_end: "stop".into(),
                    ..bp("<b/>")
                },
                "<a/>\n<!-- start -->\n<b/>\n<!-- stop -->\n".into(),
                "Block inserted",
            ),
            (
                "blank lines around",
                Some("a\nb\n".into()),
                BlockParams {
                    insertafter: Some("^a".into()),
                    prepend_newline: true,
                    append_newline: true,
                    ..bp("x")
                },
                format!("a\n\n{B}x\n{E}\nb\n"),
                "Block inserted",
            ),
            (
                "blank lines not doubled",
                Some("a\n\nb\n".into()),
                BlockParams {
                    insertafter: Some("^a".into()),
                    prepend_newline: false,
                    append_newline: true,
                    ..bp("x")
                },
                format!("a\n{B}x\n{E}\nb\n"),
                "Block inserted",
            ),
            (
                "new file",
                None,
                bp("x"),
                format!("{B}x\n{E}"),
                "File created",
            ),
            (
                "crlf lines kept",
                Some("a\r\nb\r\n".into()),
                bp("x"),
                format!("a\r\nb\r\n{B}x\n{E}"),
                "Block inserted",
            ),
        ];
        for (name, original, p, want, msg) in cases {
            let (got, m) = run(original.as_deref(), &p);
            assert_eq!(got, want, "case: {name}");
            assert_eq!(m, msg, "case: {name}");
        }
    }
}

#[cfg(test)]
mod host_tests {
    use super::*;
    use crate::modules::testutil::{Harness, read};
    use serde_json::json;

    #[tokio::test]
    async fn blocks_converge() {
        let h = Harness::new();
        let f = h.path("hosts");
        std::fs::write(&f, "127.0.0.1 localhost\n").unwrap();
        let args = json!({"path": f, "block": "10.0.0.1 a\n10.0.0.2 b'$(x)\n", "backup": true});
        let applied = h.converge(&BlockInFile, &args).await;
        assert_eq!(
            read(&f),
            "127.0.0.1 localhost\n# BEGIN ANSIBLE MANAGED BLOCK\n10.0.0.1 a\n10.0.0.2 b'$(x)\n# END ANSIBLE MANAGED BLOCK\n"
        );
        assert_eq!(applied.result["msg"], "Block inserted");
        assert_eq!(
            read(applied.result["backup_file"].as_str().unwrap()),
            "127.0.0.1 localhost\n"
        );
        let args = json!({"path": f, "state": "absent"});
        h.converge(&BlockInFile, &args).await;
        assert_eq!(read(&f), "127.0.0.1 localhost\n");
        let created = h.path("created");
        let args = json!({"path": created, "content": "x", "create": true});
        let applied = h.converge(&BlockInFile, &args).await;
        assert_eq!(applied.result["msg"], "File created");
        let err = h
            .apply(&BlockInFile, &json!({"path": h.path("nope"), "block": "x"}))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }
}
