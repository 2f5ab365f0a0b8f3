//! `lineinfile`: ensures one line is present (replacing the last regexp match, or inserting
//! after/before a pattern) or absent, with Ansible's exact semantics, computed locally from
//! the content fetched by the one query and written back through the atomic writer.

use super::atomic::{
    self, ContentLimit, FileState, QueryOpts, Source, Wanted, WriteSpec, attrs_result, diff_text,
    plan_attrs, query_file,
};
use crate::core::{
    Diff, ExecOutput, Module, ModuleError, ModuleSpec, ParamKind, ParamSpec, Plan, ResultMap,
    TaskCtx,
};
use crate::modules::args::{Args, Rules};
use crate::modules::pyregex::{self, readlines, rstrip_newlines, search_line};

/// The `lineinfile` module.
pub struct LineInFile;

/// Parameters of `lineinfile`.
pub static SPEC: ModuleSpec = ModuleSpec {
    name: "lineinfile",
    doc: "Ensures a particular line is in a file, or replaces an existing line using a regex.",
    params: &[
        ParamSpec::new("path", ParamKind::Path, "The file to edit.").required().aliases(&["dest", "destfile", "name"]),
        ParamSpec::new("state", ParamKind::Str, "present (default) or absent.").choices(&["present", "absent"]),
        ParamSpec::new("regexp", ParamKind::Str, "Python regex; the last matching line is replaced (present) or all are removed (absent).").aliases(&["regex"]),
        ParamSpec::new("search_string", ParamKind::Str, "Literal text; like regexp but matched as a substring."),
        ParamSpec::new("line", ParamKind::Str, "The line to put in the file (state=present).").aliases(&["value"]),
        ParamSpec::new("backrefs", ParamKind::Bool, "Expand \\1/\\g<name> in line from the regexp match; no match leaves the file unchanged."),
        ParamSpec::new("insertafter", ParamKind::Str, "EOF (default) or a regex: insert after the last matching line."),
        ParamSpec::new("insertbefore", ParamKind::Str, "BOF or a regex: insert before the last matching line."),
        ParamSpec::new("firstmatch", ParamKind::Bool, "Use the first match of regexp/insertafter/insertbefore instead of the last."),
        ParamSpec::new("create", ParamKind::Bool, "Create the file (and its directory) when missing."),
        ParamSpec::new("backup", ParamKind::Bool, "Keep a timestamped copy of the file before changing it."),
        ParamSpec::new("validate", ParamKind::Str, "Command checking the new file before it replaces the old (%s is the file)."),
        ParamSpec::new("owner", ParamKind::Str, "Owner name or uid of the file."),
        ParamSpec::new("group", ParamKind::Str, "Group name or gid of the file."),
        ParamSpec::new("mode", ParamKind::Mode, "Mode of the file."),
        ParamSpec::new("unsafe_writes", ParamKind::Bool, "Accepted for compatibility; writes are always atomic."),
    ],
    free_form: false,
};

/// Argument rules of `lineinfile`.
pub const RULES: Rules = Rules {
    exclusive: &[
        &["insertafter", "insertbefore"],
        &["regexp", "search_string"],
        &["backrefs", "search_string"],
    ],
    one_of: &[],
};

/// The line-selection parameters.
#[derive(Clone, Debug, Default)]
pub struct LineParams {
    /// `regexp:`.
    pub regexp: Option<String>,
    /// `search_string:`.
    pub search_string: Option<String>,
    /// `line:`.
    pub line: Option<String>,
    /// `insertafter:`.
    pub insertafter: Option<String>,
    /// `insertbefore:`.
    pub insertbefore: Option<String>,
    /// `backrefs:`.
    pub backrefs: bool,
    /// `firstmatch:`.
    pub firstmatch: bool,
}

/// The outcome of editing the lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edit {
    /// The new content.
    pub content: Vec<u8>,
    /// Whether it differs from the old.
    pub changed: bool,
    /// Ansible's message (`line added`, `line replaced`, `2 line(s) removed`).
    pub msg: String,
    /// Lines removed (state=absent).
    pub found: usize,
}

/// Ensures the line is present (Ansible's `present()`).
pub fn present(content: &[u8], p: &LineParams) -> Result<Edit, String> {
    let mut lines = readlines(content);
    let line = p.line.as_deref().unwrap_or("").as_bytes().to_vec();
    let bre_m = p
        .regexp
        .as_deref()
        .map(|r| pyregex::compile(r, ""))
        .transpose()?;
    let ins_after = p.insertafter.as_deref();
    let ins_before = p.insertbefore.as_deref();
    let bre_ins = match (ins_after, ins_before) {
        (Some(a), _) if a != "BOF" && a != "EOF" => Some(pyregex::compile(a, "")?),
        (None, Some(b)) if b != "BOF" => Some(pyregex::compile(b, "")?),
        _ => None,
    };
    let mut index0: Option<usize> = None;
    let mut index1: Option<usize> = None;
    let mut matched = false;
    let mut exact = false;
    if let Some(re) = &bre_m {
        for (n, l) in lines.iter().enumerate() {
            if search_line(re, l).is_some() {
                index0 = Some(n);
                matched = true;
                if p.firstmatch {
                    break;
                }
            }
        }
    }
    if let Some(s) = &p.search_string {
        for (n, l) in lines.iter().enumerate() {
            if contains(l, s.as_bytes()) {
                index0 = Some(n);
                matched = true;
                if p.firstmatch {
                    break;
                }
            }
        }
    }
    if !matched {
        for (n, l) in lines.iter().enumerate() {
            if rstrip_newlines(l) == line.as_slice() {
                index0 = Some(n);
                exact = true;
            } else if let Some(re) = &bre_ins
                && search_line(re, l).is_some()
            {
                if ins_after.is_some() {
                    index1 = Some(n + 1);
                    if p.firstmatch {
                        break;
                    }
                }
                if ins_before.is_some() {
                    index1 = Some(n);
                    if p.firstmatch {
                        break;
                    }
                }
            }
        }
    }
    let _ = exact;
    let with_nl = |mut l: Vec<u8>| {
        l.push(b'\n');
        l
    };
    let mut msg = String::new();
    let mut changed = false;
    if let Some(i0) = index0 {
        let mut new_line = match (&bre_m, p.backrefs && matched) {
            (Some(re), true) => {
                let caps = search_line(re, &lines[i0]).ok_or("regexp match vanished")?;
                pyregex::expand(&line, re, &caps)?
            }
            _ => line.clone(),
        };
        if !new_line.ends_with(b"\n") {
            new_line.push(b'\n');
        }
        if lines[i0] != new_line {
            lines[i0] = new_line;
            msg = "line replaced".into();
            changed = true;
        }
    } else if p.backrefs {
        // No match: nothing safe to write without the groups.
    } else if ins_before == Some("BOF") || ins_after == Some("BOF") {
        lines.insert(0, with_nl(line.clone()));
        msg = "line added".into();
        changed = true;
    } else if ins_after == Some("EOF") || index1.is_none() {
        ensure_last_newline(&mut lines, true);
        lines.push(with_nl(line.clone()));
        msg = "line added".into();
        changed = true;
    } else if let (Some(_), Some(i1)) = (ins_after, index1) {
        if lines.len() == i1 {
            if rstrip_newlines(&lines[i1 - 1]) != line.as_slice() {
                // Ansible appends without ending an unterminated last line, gluing the two
                // lines together; end it first.
                ensure_last_newline(&mut lines, false);
                lines.push(with_nl(line.clone()));
                msg = "line added".into();
                changed = true;
            }
        } else if rstrip_newlines(&lines[i1]) != line.as_slice() {
            lines.insert(i1, with_nl(line.clone()));
            msg = "line added".into();
            changed = true;
        }
    } else if let Some(i1) = index1 {
        lines.insert(i1, with_nl(line.clone()));
        msg = "line added".into();
        changed = true;
    }
    Ok(Edit {
        content: lines.concat(),
        changed,
        msg,
        found: 0,
    })
}

/// Ends the last line with a newline: as a separate element (`separate`, Ansible's EOF
/// branch) or appended to it.
fn ensure_last_newline(lines: &mut Vec<Vec<u8>>, separate: bool) {
    if let Some(last) = lines.last_mut()
        && !matches!(last.last(), Some(b'\n' | b'\r'))
    {
        if separate {
            lines.push(b"\n".to_vec());
        } else {
            last.push(b'\n');
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// Removes every matching line (Ansible's `absent()`).
pub fn absent(content: &[u8], p: &LineParams) -> Result<Edit, String> {
    let lines = readlines(content);
    let re = p
        .regexp
        .as_deref()
        .map(|r| pyregex::compile(r, ""))
        .transpose()?;
    let line = p.line.as_deref().unwrap_or("").as_bytes();
    let mut found = 0;
    let kept: Vec<Vec<u8>> = lines
        .into_iter()
        .filter(|l| {
            let m = if let Some(re) = &re {
                search_line(re, l).is_some()
            } else if let Some(s) = &p.search_string {
                contains(l, s.as_bytes())
            } else {
                rstrip_newlines(l) == line
            };
            if m {
                found += 1;
            }
            !m
        })
        .collect();
    Ok(Edit {
        content: kept.concat(),
        changed: found > 0,
        msg: if found > 0 {
            format!("{found} line(s) removed")
        } else {
            String::new()
        },
        found,
    })
}

/// Appends Ansible's attribute message to a module message.
pub(crate) fn attr_msg(msg: &str) -> String {
    if msg.is_empty() {
        "ownership, perms or SE linux context changed".into()
    } else {
        format!("{msg} and ownership, perms or SE linux context changed")
    }
}

/// How a line-editing module wants the file written.
pub(crate) struct EditedFile<'a> {
    /// The path as given (the edited file is its realpath).
    pub path: &'a str,
    /// What the query saw.
    pub st: &'a FileState,
    /// The new content, when it changed.
    pub new_content: Option<Vec<u8>>,
    /// Requested attributes.
    pub want: &'a Wanted,
    /// `backup:`.
    pub backup: bool,
    /// `validate:`.
    pub validate: Option<&'a str>,
    /// The module's message so far.
    pub msg: String,
}

/// Shared tail of lineinfile/blockinfile/replace: diff, write or attribute steps, result.
pub(crate) fn plan_edit(ctx: &TaskCtx<'_>, e: EditedFile<'_>) -> Result<Plan, ModuleError> {
    let target = match (&e.st.realpath, e.st.is_link()) {
        (Some(rp), true) => rp.clone(),
        _ => e.path.to_string(),
    };
    let attrs = plan_attrs(
        &target,
        e.st.stat.as_ref(),
        e.st.creator.as_ref(),
        e.want,
        false,
        None,
    )?;
    let mut result = ResultMap::new();
    let mut diff = Vec::new();
    let mut steps = Vec::new();
    let mut msg = e.msg;
    if let Some(new) = e.new_content {
        let before = e.st.content.as_deref().unwrap_or_default();
        match (diff_text(before), diff_text(&new)) {
            (Some(b), Some(a)) => diff.push(Diff::new(&target, b, a)),
            _ => diff.push(Diff::attr(
                &target,
                "checksum",
                &atomic::sha1_hex(before),
                &atomic::sha1_hex(&new),
            )),
        }
        if e.st.exists() {
            diff.extend(attrs.diffs.iter().cloned());
            if !attrs.change.is_empty() {
                msg = attr_msg(&msg);
            }
        }
        let spec = WriteSpec {
            dest: &target,
            attrs: &attrs.attrs,
            backup: e.backup,
            validate: e.validate,
            create_parent: !e.st.parent_is_dir,
        };
        steps.push(atomic::write_step_hinted(
            ctx,
            &spec,
            Source::Stdin(new),
            e.st.stat.as_ref().map(|s| s.mode),
        )?);
    } else if !attrs.change.is_empty() {
        diff.extend(attrs.diffs.iter().cloned());
        steps.extend(atomic::attr_steps(ctx, &target, &attrs.change));
        msg = attr_msg(&msg);
    }
    result.insert("msg".into(), msg.into());
    attrs_result(&mut result, &attrs);
    Ok(if steps.is_empty() {
        Plan::Unchanged { result }
    } else {
        Plan::Change {
            diff,
            steps,
            result,
        }
    })
}

/// The query every line-editing module runs: stat + full content.
pub(crate) async fn query_for_edit(
    ctx: &TaskCtx<'_>,
    path: &str,
) -> Result<FileState, ModuleError> {
    let opts = QueryOpts {
        sha1: false,
        content: ContentLimit::All,
        dir_child: None,
    };
    let st = query_file(ctx, path, &opts).await?;
    if st.is_dir() {
        return Err(ModuleError::Failed {
            msg: format!("Path {path} is a directory !"),
            result: [("rc".to_string(), 256.into())].into_iter().collect(),
        });
    }
    if st.exists() && st.content.is_none() {
        return Err(ModuleError::failed(format!("cannot read {path}")));
    }
    Ok(st)
}

/// The error for a missing file (rc 257 like Ansible).
pub(crate) fn missing(msg: String) -> ModuleError {
    ModuleError::Failed {
        msg,
        result: [("rc".to_string(), 257.into())].into_iter().collect(),
    }
}

/// Reads the attribute parameters every file-editing module has.
pub(crate) fn wanted(a: &Args<'_>) -> Result<Wanted, ModuleError> {
    Ok(Wanted {
        mode: a.mode("mode")?,
        owner: a.str("owner")?,
        group: a.str("group")?,
    })
}

#[async_trait::async_trait]
impl Module for LineInFile {
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }

    async fn plan(&self, ctx: &TaskCtx<'_>, args: &ResultMap) -> Result<Plan, ModuleError> {
        let a = Args::parse(&SPEC, args)?;
        let path = a.req_str("path")?;
        let state = a.choice("state", "present")?;
        let p = LineParams {
            regexp: a.str("regexp")?,
            search_string: a.str("search_string")?,
            line: a.str("line")?,
            insertafter: a.str("insertafter")?,
            insertbefore: a.str("insertbefore")?,
            backrefs: a.bool("backrefs", false)?,
            firstmatch: a.bool("firstmatch", false)?,
        };
        if state == "present" {
            if p.backrefs && p.regexp.is_none() {
                return Err(ModuleError::Args(
                    "lineinfile: regexp is required with backrefs=true".into(),
                ));
            }
            if p.line.is_none() {
                return Err(ModuleError::Args(
                    "lineinfile: line is required with state=present".into(),
                ));
            }
        } else if p.regexp.is_none() && p.search_string.is_none() && p.line.is_none() {
            return Err(ModuleError::Args(
                "lineinfile: one of line, search_string, or regexp is required with state=absent"
                    .into(),
            ));
        }
        // Compile early so a bad pattern fails before touching the host.
        for r in [&p.regexp, &p.insertafter, &p.insertbefore]
            .into_iter()
            .flatten()
        {
            if !(r == "EOF" || r == "BOF") {
                pyregex::compile(r, "").map_err(ModuleError::Args)?;
            }
        }
        let st = query_for_edit(ctx, &path).await?;
        let mut base = ResultMap::new();
        base.insert("backup".into(), "".into());
        if !st.exists() {
            if state == "absent" {
                base.insert("msg".into(), "file not present".into());
                return Ok(Plan::Unchanged { result: base });
            }
            if !a.bool("create", false)? {
                return Err(missing(format!("Destination {path} does not exist !")));
            }
        }
        let content = st.content.clone().unwrap_or_default();
        let edit = if state == "present" {
            present(&content, &p)
        } else {
            absent(&content, &p)
        }
        .map_err(ModuleError::Args)?;
        let want = wanted(&a)?;
        let validate = a.str("validate")?;
        let plan = plan_edit(
            ctx,
            EditedFile {
                path: &path,
                st: &st,
                new_content: edit.changed.then(|| edit.content.clone()),
                want: &want,
                backup: a.bool("backup", false)?,
                validate: validate.as_deref(),
                msg: edit.msg.clone(),
            },
        )?;
        Ok(match plan {
            Plan::Unchanged { mut result } => {
                merge(&mut result, base, state == "absent", edit.found);
                Plan::Unchanged { result }
            }
            Plan::Change {
                diff,
                steps,
                mut result,
            } => {
                merge(&mut result, base, state == "absent", edit.found);
                Plan::Change {
                    diff,
                    steps,
                    result,
                }
            }
        })
    }

    fn finish(&self, result: &mut ResultMap, outputs: &[ExecOutput]) -> Result<(), ModuleError> {
        super::copy::finish_write(result, outputs, "backup")
    }
}

fn merge(result: &mut ResultMap, base: ResultMap, absent: bool, found: usize) {
    for (k, v) in base {
        result.entry(k).or_insert(v);
    }
    if absent {
        result.insert("found".into(), found.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Case {
        name: &'static str,
        before: &'static str,
        params: LineParams,
        after: &'static str,
        msg: &'static str,
    }

    fn lp(regexp: Option<&str>, line: &str) -> LineParams {
        LineParams {
            regexp: regexp.map(str::to_string),
            line: Some(line.to_string()),
            ..Default::default()
        }
    }

    #[test]
    fn present_cases_match_ansible() {
        let cases = vec![
            Case {
                name: "last match replaced",
                before: "a=1\nb=2\na=3\n",
                params: lp(Some("^a="), "a=9"),
                after: "a=1\nb=2\na=9\n",
                msg: "line replaced",
            },
            Case {
                name: "firstmatch replaces first",
                before: "a=1\nb=2\na=3\n",
                params: LineParams {
                    firstmatch: true,
                    ..lp(Some("^a="), "a=9")
                },
                after: "a=9\nb=2\na=3\n",
                msg: "line replaced",
            },
            Case {
                name: "no match appends",
                before: "x\n",
                params: lp(Some("^y"), "y=1"),
                after: "x\ny=1\n",
                msg: "line added",
            },
            Case {
                name: "append ends unterminated file",
                before: "x",
                params: lp(None, "y"),
                after: "x\ny\n",
                msg: "line added",
            },
            Case {
                name: "present line unchanged",
                before: "a\nb\n",
                params: lp(None, "b"),
                after: "a\nb\n",
                msg: "",
            },
            Case {
                name: "matching line equal unchanged",
                before: "a=9\n",
                params: lp(Some("^a="), "a=9"),
                after: "a=9\n",
                msg: "",
            },
            Case {
                name: "match without newline is rewritten",
                before: "a=1",
                params: lp(Some("^a="), "a=1"),
                after: "a=1\n",
                msg: "line replaced",
            },
            Case {
                name: "dollar matches before newline",
                before: "k = v\n",
                params: lp(Some("^k = v$"), "k = w"),
                after: "k = w\n",
                msg: "line replaced",
            },
            Case {
                name: "insertafter last match",
                before: "a\n[s]\nb\n[s]\nc\n",
                params: LineParams {
                    insertafter: Some(r"^\[s\]".into()),
                    ..lp(None, "new")
                },
                after: "a\n[s]\nb\n[s]\nnew\nc\n",
                msg: "line added",
            },
            Case {
                name: "insertafter firstmatch",
                before: "a\n[s]\nb\n[s]\nc\n",
                params: LineParams {
                    insertafter: Some(r"^\[s\]".into()),
                    firstmatch: true,
                    ..lp(None, "new")
                },
                after: "a\n[s]\nnew\nb\n[s]\nc\n",
                msg: "line added",
            },
            Case {
                name: "insertafter at end",
                before: "a\nb\n",
                params: LineParams {
                    insertafter: Some("^b".into()),
                    ..lp(None, "c")
                },
                after: "a\nb\nc\n",
                msg: "line added",
            },
            Case {
                name: "insertafter at unterminated end",
                before: "a\nb",
                params: LineParams {
                    insertafter: Some("^b".into()),
                    ..lp(None, "c")
                },
                after: "a\nb\nc\n",
                msg: "line added",
            },
            Case {
                name: "insertafter no match goes to EOF",
                before: "a\n",
                params: LineParams {
                    insertafter: Some("^zzz".into()),
                    ..lp(None, "c")
                },
                after: "a\nc\n",
                msg: "line added",
            },
            Case {
                name: "insertafter ignored when regexp matches",
                before: "a\nk=1\nb\n",
                params: LineParams {
                    insertafter: Some("^a".into()),
                    ..lp(Some("^k="), "k=2")
                },
                after: "a\nk=2\nb\n",
                msg: "line replaced",
            },
            Case {
                name: "insertafter regexp no match inserts",
                before: "a\nb\n",
                params: LineParams {
                    insertafter: Some("^a".into()),
                    ..lp(Some("^k="), "k=2")
                },
                after: "a\nk=2\nb\n",
                msg: "line added",
            },
            Case {
                name: "insertbefore last match",
                before: "a\nb\na\n",
                params: LineParams {
                    insertbefore: Some("^a".into()),
                    ..lp(None, "x")
                },
                after: "a\nb\nx\na\n",
                msg: "line added",
            },
            Case {
                name: "insertbefore firstmatch",
                before: "a\nb\na\n",
                params: LineParams {
                    insertbefore: Some("^a".into()),
                    firstmatch: true,
                    ..lp(None, "x")
                },
                after: "x\na\nb\na\n",
                msg: "line added",
            },
            Case {
                name: "insertbefore BOF",
                before: "a\n",
                params: LineParams {
                    insertbefore: Some("BOF".into()),
                    ..lp(None, "x")
                },
                after: "x\na\n",
                msg: "line added",
            },
            Case {
                name: "insertafter BOF",
                before: "a\n",
                params: LineParams {
                    insertafter: Some("BOF".into()),
                    ..lp(None, "x")
                },
                after: "x\na\n",
                msg: "line added",
            },
            Case {
                name: "existing line wins over insertbefore",
                before: "a\nx\n",
                params: LineParams {
                    insertbefore: Some("^a".into()),
                    ..lp(None, "x")
                },
                after: "a\nx\n",
                msg: "",
            },
            Case {
                name: "backrefs no match unchanged",
                before: "a\n",
                params: LineParams {
                    backrefs: true,
                    ..lp(Some("^port=(\\d+)"), "port=\\1")
                },
                after: "a\n",
                msg: "",
            },
            Case {
                name: "backrefs expand",
                before: "port=80\n",
                params: LineParams {
                    backrefs: true,
                    ..lp(Some(r"^port=(?P<p>\d+)$"), r"port=\g<p>0 # \1")
                },
                after: "port=800 # 80\n",
                msg: "line replaced",
            },
            Case {
                name: "no backrefs keeps text literal",
                before: "port=80\n",
                params: lp(Some(r"^port=(\d+)"), r"port=\1"),
                after: "port=\\1\n",
                msg: "line replaced",
            },
            Case {
                name: "search_string replaces",
                before: "foo bar\nbaz\n",
                params: LineParams {
                    search_string: Some("bar".into()),
                    line: Some("X".into()),
                    ..Default::default()
                },
                after: "X\nbaz\n",
                msg: "line replaced",
            },
            Case {
                name: "empty file",
                before: "",
                params: lp(Some("^a"), "a=1"),
                after: "a=1\n",
                msg: "line added",
            },
            Case {
                name: "crlf line is rewritten with the line",
                before: "a\r\n",
                params: lp(None, "a"),
                after: "a\n",
                msg: "line replaced",
            },
        ];
        for c in cases {
            let e = present(c.before.as_bytes(), &c.params)
                .unwrap_or_else(|e| panic!("{}: {e}", c.name));
            assert_eq!(
                String::from_utf8_lossy(&e.content),
                c.after,
                "case: {}",
                c.name
            );
            assert_eq!(e.msg, c.msg, "case: {}", c.name);
            assert_eq!(e.changed, c.before != c.after, "case: {}", c.name);
        }
    }

    #[test]
    fn absent_cases_match_ansible() {
        let e = absent(b"a\nb\na\n", &lp(Some("^a$"), "")).unwrap();
        assert_eq!(
            (e.content.as_slice(), e.found, e.msg.as_str()),
            (&b"b\n"[..], 2, "2 line(s) removed")
        );
        let p = LineParams {
            line: Some("a".into()),
            ..Default::default()
        };
        assert_eq!(absent(b"a\r\nb\na", &p).unwrap().content, b"b\n");
        let p = LineParams {
            search_string: Some("x".into()),
            ..Default::default()
        };
        let e = absent(b"axb\nc\n", &p).unwrap();
        assert_eq!(e.content, b"c\n");
        let e = absent(b"c\n", &p).unwrap();
        assert!(!e.changed && e.msg.is_empty());
    }

    #[test]
    fn bad_patterns_are_errors() {
        assert!(
            present(b"", &lp(Some("(?=x)"), "x"))
                .unwrap_err()
                .contains("lookahead")
        );
    }
}

#[cfg(test)]
mod host_tests {
    use super::*;
    use crate::modules::testutil::{Harness, mode_of, read};
    use serde_json::json;

    #[tokio::test]
    async fn edits_converge_with_backup_and_validate() {
        let h = Harness::new();
        let f = h.path("sshd_config");
        std::fs::write(&f, "Port 22\nPermitRootLogin yes\n").unwrap();
        let args = json!({"path": f, "regexp": "^PermitRootLogin", "line": "PermitRootLogin no", "backup": true});
        let applied = h.converge(&LineInFile, &args).await;
        assert_eq!(read(&f), "Port 22\nPermitRootLogin no\n");
        assert_eq!(applied.result["msg"], "line replaced");
        assert_eq!(
            read(applied.result["backup"].as_str().unwrap()),
            "Port 22\nPermitRootLogin yes\n"
        );
        assert_eq!(applied.diff[0].before, "Port 22\nPermitRootLogin yes\n");

        let bad = json!({"path": f, "line": "garbage", "validate": "sh -c '! grep -q garbage \"$1\"' _ %s"});
        let err = h.apply(&LineInFile, &bad).await.unwrap_err();
        assert!(err.to_string().contains("failed to validate"), "{err}");
        assert_eq!(read(&f), "Port 22\nPermitRootLogin no\n");

        let absent = json!({"path": f, "regexp": "^Port", "state": "absent"});
        let applied = h.converge(&LineInFile, &absent).await;
        assert_eq!(applied.result["found"], 1);
        assert_eq!(read(&f), "PermitRootLogin no\n");
    }

    #[tokio::test]
    async fn create_missing_and_attributes() {
        let h = Harness::new();
        let f = h.path("new/dir/conf");
        let err = h
            .apply(&LineInFile, &json!({"path": f, "line": "x"}))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
        let args = json!({"path": f, "line": "a 'b' $(c)", "create": true, "mode": "0600"});
        h.converge(&LineInFile, &args).await;
        assert_eq!(read(&f), "a 'b' $(c)\n");
        assert_eq!(mode_of(&f), 0o600);
        let args = json!({"path": f, "line": "a 'b' $(c)", "mode": "0644"});
        let applied = h.converge(&LineInFile, &args).await;
        assert_eq!(
            applied.result["msg"],
            "ownership, perms or SE linux context changed"
        );
        let absent = json!({"path": h.path("nope"), "line": "x", "state": "absent"});
        let r = h.assert_unchanged(&LineInFile, &absent).await;
        assert_eq!(r["msg"], "file not present");
    }

    #[tokio::test]
    async fn symlinked_files_are_edited_through_the_link() {
        let h = Harness::new();
        let real = h.path("real");
        std::fs::write(&real, "a\n").unwrap();
        let link = h.path("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        h.converge(&LineInFile, &json!({"path": link, "line": "b"}))
            .await;
        assert_eq!(read(&real), "a\nb\n");
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }
}
