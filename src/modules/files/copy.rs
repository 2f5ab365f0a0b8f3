//! `copy`: puts a file (from `content`, a controller `src` file or directory, or a file on the
//! target with `remote_src`) in place with owner/group/mode, comparing SHA-1 checksums from one
//! query. Writes go through the shared atomic writer; it never edits files in place.

use std::path::Path;

use serde_json::Value;

use super::atomic::{
    self, ContentLimit, Creator, DIFF_LIMIT, FileState, Kind, QueryOpts, STAT_FORMAT, Source, Stat,
    Wanted, WriteSpec, attrs_result, base_name, check_outputs, diff_text, parent_dir, plan_attrs,
    query_file, query_files, sha1_hex,
};
use crate::core::{
    Diff, ExecOutput, Module, ModuleError, ModuleSpec, ParamKind, ParamSpec, Plan, ResultMap, Sh,
    Step, TaskCtx, quote,
};
use crate::modules::args::{Args, ModeArg, Rules, mode_string, value_to_string};

/// The `copy` module.
pub struct Copy;

/// Parameters of `copy`.
pub static SPEC: ModuleSpec = ModuleSpec {
    name: "copy",
    doc: "Copies a file or directory from the controller (or content, or a file on the target) to the target.",
    params: &[
        ParamSpec::new(
            "dest",
            ParamKind::Path,
            "Where to put the file; a directory (or a path ending in /) receives src's basename.",
        )
        .required(),
        ParamSpec::new(
            "src",
            ParamKind::Path,
            "File or directory on the controller (role files/ first); a trailing / copies a directory's contents.",
        ),
        ParamSpec::new(
            "content",
            ParamKind::Raw,
            "The file's content instead of src (lists/dicts are written as JSON).",
        ),
        ParamSpec::new("owner", ParamKind::Str, "Owner name or uid of the file."),
        ParamSpec::new("group", ParamKind::Str, "Group name or gid of the file."),
        ParamSpec::new(
            "mode",
            ParamKind::Mode,
            "Mode of the file: \"0644\", u=rw,g=r,o=r, or preserve (the source's mode).",
        ),
        ParamSpec::new(
            "directory_mode",
            ParamKind::Mode,
            "Mode of directories created by a recursive copy.",
        ),
        ParamSpec::new(
            "backup",
            ParamKind::Bool,
            "Keep a timestamped copy of the file being replaced.",
        ),
        ParamSpec::new(
            "force",
            ParamKind::Bool,
            "Replace a file whose content differs (default yes); no: only create.",
        )
        .aliases(&["thirsty"]),
        ParamSpec::new(
            "validate",
            ParamKind::Str,
            "Command checking the new file before it replaces dest (%s is the file).",
        ),
        ParamSpec::new(
            "remote_src",
            ParamKind::Bool,
            "src is a file on the target, not the controller.",
        ),
        ParamSpec::new(
            "follow",
            ParamKind::Bool,
            "When dest is a symlink, write to the file it points to (default: replace the link).",
        ),
        ParamSpec::new(
            "local_follow",
            ParamKind::Bool,
            "Follow symlinks in a controller src (default yes).",
        ),
        ParamSpec::new(
            "checksum",
            ParamKind::Str,
            "Expected SHA-1 of the source; a mismatch fails the task.",
        ),
        ParamSpec::new(
            "decrypt",
            ParamKind::Bool,
            "Accepted for compatibility (vault files are decrypted by the controller).",
        ),
        ParamSpec::new(
            "unsafe_writes",
            ParamKind::Bool,
            "Accepted for compatibility; writes are always atomic.",
        ),
    ],
    free_form: false,
};

/// Argument rules of `copy`.
pub const RULES: Rules = Rules {
    exclusive: &[&["content", "src"]],
    one_of: &[&["content", "src"]],
};

/// One file to put in place (shared by copy and template).
#[derive(Clone, Debug)]
pub(crate) struct FileJob {
    /// `dest:` as given.
    pub dest: String,
    /// The new content.
    pub content: Vec<u8>,
    /// `src:` as given, for the result.
    pub src_label: Option<String>,
    /// The name used when dest is a directory (src's basename); `None` for `content`.
    pub into_dir_name: Option<String>,
    /// Requested owner/group/mode.
    pub want: Wanted,
    /// The source file's mode, for `mode: preserve`.
    pub preserve_mode: Option<u32>,
    /// `backup:`.
    pub backup: bool,
    /// `force:`.
    pub force: bool,
    /// `validate:`.
    pub validate: Option<String>,
    /// `follow:`.
    pub follow: bool,
}

/// Plans putting one file in place.
pub(crate) async fn plan_file(ctx: &TaskCtx<'_>, job: &FileJob) -> Result<Plan, ModuleError> {
    let trailing = job.dest.ends_with('/');
    let (query_path, dir_child, create_parent) = if trailing {
        match &job.into_dir_name {
            Some(n) => (format!("{}{n}", job.dest), None, true),
            None => {
                return Err(ModuleError::Args(format!(
                    "can not use content with a dir as dest: {}",
                    job.dest
                )));
            }
        }
    } else {
        (job.dest.clone(), job.into_dir_name.clone(), false)
    };
    let opts = QueryOpts {
        sha1: true,
        content: if ctx.diff {
            ContentLimit::UpTo(DIFF_LIMIT)
        } else {
            ContentLimit::Skip
        },
        dir_child: dir_child.clone(),
    };
    let st = query_file(ctx, &query_path, &opts).await?;
    let path = match (&dir_child, st.into_dir) {
        (Some(child), true) => format!("{}/{child}", query_path.trim_end_matches('/')),
        _ => query_path.clone(),
    };
    if st.is_dir() {
        return Err(ModuleError::failed(if job.into_dir_name.is_none() {
            format!("can not use content with a dir as dest: {path}")
        } else {
            format!("{path} is a directory; cannot replace it with a file")
        }));
    }
    if !st.parent_is_dir && !create_parent {
        // Check mode: an earlier task may create the directory; predict the new file (with
        // its diff) instead of failing. A real run still refuses.
        if ctx.check {
            return plan_file_from_state(ctx, job, &path, &st, true);
        }
        return Err(ModuleError::failed(format!(
            "Destination directory {} does not exist",
            parent_dir(&path)
        )));
    }
    plan_file_from_state(ctx, job, &path, &st, create_parent)
}

/// The decision part of [`plan_file`], from an already queried state.
fn plan_file_from_state(
    ctx: &TaskCtx<'_>,
    job: &FileJob,
    path: &str,
    st: &FileState,
    create_parent: bool,
) -> Result<Plan, ModuleError> {
    let target = match (&st.realpath, job.follow && st.is_link()) {
        (Some(rp), true) => rp.clone(),
        _ => path.to_string(),
    };
    let new_sha1 = sha1_hex(&job.content);
    let mut result = ResultMap::new();
    result.insert("dest".into(), target.clone().into());
    if let Some(src) = &job.src_label {
        result.insert("src".into(), src.clone().into());
    }
    if st.exists() && !job.force {
        result.insert("msg".into(), "file already exists".into());
        return Ok(Plan::Unchanged { result });
    }
    let same = st.is_file() && st.sha1.as_deref() == Some(new_sha1.as_str());
    let attrs = plan_attrs(
        &target,
        st.stat.as_ref(),
        st.creator.as_ref(),
        &job.want,
        false,
        job.preserve_mode,
    )?;
    result.insert("checksum".into(), new_sha1.clone().into());
    result.insert("size".into(), job.content.len().into());
    result.insert("state".into(), "file".into());
    attrs_result(&mut result, &attrs);
    if same {
        if attrs.change.is_empty() {
            return Ok(Plan::Unchanged { result });
        }
        let steps = atomic::attr_steps(ctx, &target, &attrs.change);
        return Ok(Plan::Change {
            diff: attrs.diffs,
            steps,
            result,
        });
    }
    let mut diff = vec![content_diff(&target, st, &job.content, &new_sha1)];
    diff.extend(attrs.diffs.iter().cloned());
    let spec = WriteSpec {
        dest: &target,
        attrs: &attrs.attrs,
        backup: job.backup,
        validate: job.validate.as_deref(),
        create_parent,
    };
    let step = atomic::write_step_hinted(
        ctx,
        &spec,
        Source::Stdin(job.content.clone()),
        st.stat.as_ref().map(|s| s.mode),
    )?;
    Ok(Plan::Change {
        diff,
        steps: vec![step],
        result,
    })
}

/// The content diff of a file: text before/after when both are known, else the checksums.
pub(crate) fn content_diff(path: &str, st: &FileState, new: &[u8], new_sha1: &str) -> Diff {
    let before = if !st.exists() {
        Some(String::new())
    } else {
        st.content.as_deref().and_then(diff_text)
    };
    let after = if new.len() as u64 <= DIFF_LIMIT {
        diff_text(new)
    } else {
        None
    };
    match (before, after) {
        (Some(b), Some(a)) => Diff::new(path, b, a),
        _ => Diff::attr(
            path,
            "checksum",
            st.sha1.as_deref().unwrap_or("(absent)"),
            new_sha1,
        ),
    }
}

/// The registered result of a file-writing plan once applied: adds `backup_file`.
pub(crate) fn finish_write(
    result: &mut ResultMap,
    outputs: &[ExecOutput],
    backup_key: &str,
) -> Result<(), ModuleError> {
    if let Some(b) = check_outputs(outputs)? {
        result.insert(backup_key.into(), b.into());
    }
    Ok(())
}

/// The parameters shared by copy and template that describe the dest's attributes.
pub(crate) fn wanted(a: &Args<'_>) -> Result<Wanted, ModuleError> {
    Ok(Wanted {
        mode: a.mode("mode")?,
        owner: a.str("owner")?,
        group: a.str("group")?,
    })
}

#[cfg(unix)]
fn local_mode(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o7777
}

/// A regular file or directory found under a controller source directory.
#[derive(Clone, Debug)]
struct LocalEntry {
    rel: String,
    is_dir: bool,
    mode: u32,
    path: std::path::PathBuf,
}

/// Lists a controller directory recursively (sorted, parents first; symlinks followed).
fn walk_local(root: &Path, follow: bool) -> Result<Vec<LocalEntry>, ModuleError> {
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let rd = std::fs::read_dir(&dir)
            .map_err(|e| ModuleError::failed(format!("cannot read {}: {e}", dir.display())))?;
        let mut names: Vec<_> = rd
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let mut subdirs = Vec::new();
        for name in names {
            let p = dir.join(&name);
            let meta = if follow {
                std::fs::metadata(&p)
            } else {
                std::fs::symlink_metadata(&p)
            }
            .map_err(|e| ModuleError::failed(format!("cannot read {}: {e}", p.display())))?;
            let r = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            if meta.is_dir() {
                out.push(LocalEntry {
                    rel: r.clone(),
                    is_dir: true,
                    mode: local_mode(&meta),
                    path: p.clone(),
                });
                subdirs.push((p, r));
            } else if meta.is_file() {
                out.push(LocalEntry {
                    rel: r,
                    is_dir: false,
                    mode: local_mode(&meta),
                    path: p,
                });
            }
        }
        stack.extend(subdirs.into_iter().rev());
    }
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}

/// The state of one path in a tree query.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TreeItem {
    /// Followed stat; `None` when absent.
    pub stat: Option<Stat>,
    /// Whether a dangling symlink is there.
    pub dangling: bool,
    /// SHA-1 of a regular file.
    pub sha1: Option<String>,
}

/// One script printing the state of many paths: `N|<stat>`, `N|absent`, `N|sha1=...`.
pub(crate) fn tree_query_script(paths: &[String]) -> String {
    let mut s = format!(
        "q() {{\n  if [ -L \"$2\" ] || [ -e \"$2\" ]; then\n    if s=$(stat -L -c '{STAT_FORMAT}' -- \"$2\" 2>/dev/null); then printf '%s|%s\\n' \"$1\" \"$s\"; else printf '%s|dangling\\n' \"$1\"; fi\n    if [ -f \"$2\" ] && [ -r \"$2\" ]; then printf '%s|sha1=%s\\n' \"$1\" \"$(sha1sum < \"$2\")\"; fi\n  else printf '%s|absent\\n' \"$1\"; fi\n}}\n"
    );
    s.push_str(atomic::CREATOR_LINE);
    for (i, p) in paths.iter().enumerate() {
        s.push_str(&format!("q {i} {}\n", quote(p)));
    }
    s
}

/// Parses [`tree_query_script`] output into one item per path and the creator.
pub(crate) fn parse_tree(
    stdout: &str,
    n: usize,
) -> Result<(Vec<TreeItem>, Option<Creator>), String> {
    let mut items = vec![TreeItem::default(); n];
    let mut creator = None;
    for line in stdout.lines() {
        if let Some(c) = line.strip_prefix("creator_id=") {
            creator = atomic::parse_creator_id(c);
            continue;
        }
        if let Some(c) = line.strip_prefix("creator=") {
            let f: Vec<&str> = c.split('|').collect();
            if let [user, group, umask] = f[..] {
                creator = Some(Creator {
                    user: user.into(),
                    group: group.into(),
                    umask: u32::from_str_radix(umask.trim(), 8).unwrap_or(0o022),
                });
            }
            continue;
        }
        let (idx, rest) = line
            .split_once('|')
            .ok_or_else(|| format!("unexpected line {line:?}"))?;
        let i: usize = idx
            .parse()
            .map_err(|_| format!("unexpected line {line:?}"))?;
        let item = items
            .get_mut(i)
            .ok_or_else(|| format!("unexpected index in {line:?}"))?;
        if rest == "absent" {
        } else if rest == "dangling" {
            item.dangling = true;
        } else if let Some(h) = rest.strip_prefix("sha1=") {
            item.sha1 = h.split_whitespace().next().map(str::to_string);
        } else {
            item.stat = Some(
                atomic::parse_stat_fields(rest).ok_or_else(|| format!("bad stat in {line:?}"))?,
            );
        }
    }
    Ok((items, creator))
}

/// Plans a recursive copy of a controller directory.
async fn plan_tree(
    ctx: &TaskCtx<'_>,
    a: &Args<'_>,
    src: &str,
    local: &Path,
) -> Result<Plan, ModuleError> {
    let dest = a.req_str("dest")?;
    let follow_local = a.bool("local_follow", true)?;
    let root = if src.ends_with('/') {
        dest.trim_end_matches('/').to_string()
    } else {
        format!("{}/{}", dest.trim_end_matches('/'), base_name(src))
    };
    let root = if root.is_empty() {
        "/".to_string()
    } else {
        root
    };
    let entries = walk_local(local, follow_local)?;
    let want = wanted(a)?;
    let dir_mode = a.mode("directory_mode")?;
    let join = |rel: &str| format!("{}/{rel}", root.trim_end_matches('/'));
    let mut paths = vec![root.clone()];
    paths.extend(entries.iter().map(|e| join(&e.rel)));
    let out = ctx.query(tree_query_script(&paths)).await?;
    if !out.success() {
        return Err(ModuleError::failed(format!(
            "cannot inspect {root}: {}",
            out.stderr_str().trim()
        )));
    }
    let (items, creator) = parse_tree(&out.stdout_str(), paths.len())
        .map_err(|e| ModuleError::failed(format!("cannot inspect {root}: {e}")))?;

    let mut mkdirs: Vec<String> = Vec::new();
    let mut steps: Vec<Step> = Vec::new();
    let mut diffs: Vec<Diff> = Vec::new();
    let mut before_list = String::new();
    let mut after_list = String::new();
    let new_dir_mode = {
        let default = creator.as_ref().map(Creator::dir_mode).unwrap_or(0o755);
        match &dir_mode {
            Some(m) => m
                .resolve(default, true)
                .map_err(|e| ModuleError::Args(format!("directory_mode: {e}")))?,
            None => default,
        }
    };
    let check_dir = |path: &str, item: &TreeItem| -> Result<bool, ModuleError> {
        match &item.stat {
            Some(s) if s.kind == Kind::Dir => Ok(false),
            Some(_) => Err(ModuleError::failed(format!(
                "{path} exists and is not a directory"
            ))),
            None if item.dangling => {
                Err(ModuleError::failed(format!("{path} is a dangling symlink")))
            }
            None => Ok(true),
        }
    };
    if check_dir(&root, &items[0])? {
        mkdirs.push(root.clone());
    }
    let mut write_steps = Vec::new();
    let mut file_count = 0usize;
    for (entry, item) in entries.iter().zip(&items[1..]) {
        let path = join(&entry.rel);
        if entry.is_dir {
            if check_dir(&path, item)? {
                mkdirs.push(path);
            }
            continue;
        }
        file_count += 1;
        let content = std::fs::read(&entry.path).map_err(|e| {
            ModuleError::failed(format!("cannot read {}: {e}", entry.path.display()))
        })?;
        let sha = sha1_hex(&content);
        if let Some(s) = &item.stat
            && s.kind == Kind::Dir
        {
            return Err(ModuleError::failed(format!(
                "{path} is a directory; cannot replace it with a file"
            )));
        }
        let short = &sha[..8];
        after_list.push_str(&format!("{}  sha1:{short}\n", entry.rel));
        if let Some(old) = &item.sha1 {
            before_list.push_str(&format!(
                "{}  sha1:{}\n",
                entry.rel,
                &old[..8.min(old.len())]
            ));
        }
        let same = item.stat.is_some() && item.sha1.as_deref() == Some(sha.as_str());
        let attrs = plan_attrs(
            &path,
            item.stat.as_ref(),
            creator.as_ref(),
            &want,
            false,
            Some(entry.mode),
        )?;
        if same {
            diffs.extend(attrs.diffs.iter().cloned());
            steps.extend(atomic::attr_steps(ctx, &path, &attrs.change));
        } else {
            if item.stat.is_some() {
                diffs.extend(attrs.diffs.iter().cloned());
            }
            let spec = WriteSpec {
                dest: &path,
                attrs: &attrs.attrs,
                backup: false,
                validate: None,
                create_parent: false,
            };
            write_steps.push(atomic::write_step(ctx, &spec, Source::Stdin(content))?);
        }
    }
    let mut result = ResultMap::new();
    result.insert("dest".into(), root.clone().into());
    result.insert("src".into(), src.into());
    result.insert("files".into(), file_count.into());
    if mkdirs.is_empty() && steps.is_empty() && write_steps.is_empty() {
        return Ok(Plan::Unchanged { result });
    }
    let mut all_steps = Vec::new();
    if !mkdirs.is_empty() {
        let mode = new_dir_mode;
        let mut script = String::new();
        for d in &mkdirs {
            let mut line = Sh::new("mkdir").arg("--").arg(d).build();
            if want.owner.is_some() || want.group.is_some() {
                let change = atomic::AttrChange {
                    owner: want.owner.clone(),
                    group: want.group.clone(),
                    ..Default::default()
                };
                line.push_str(" && ");
                line.push_str(&atomic::attr_script(d, &change));
            }
            line.push_str(&format!(
                " && {}",
                Sh::new("chmod")
                    .arg(atomic::chmod_octal(mode))
                    .arg("--")
                    .arg(d)
                    .build()
            ));
            script.push_str(&line);
            script.push_str(" || exit 1\n");
        }
        let first_missing_parent = parent_dir(&mkdirs[0]).to_string();
        script.insert_str(
            0,
            &format!(
                "{} || exit 1\n",
                Sh::new("mkdir")
                    .arg("-p")
                    .arg("--")
                    .arg(&first_missing_parent)
                    .build()
            ),
        );
        diffs.insert(
            0,
            Diff::new(
                &root,
                "",
                mkdirs
                    .iter()
                    .map(|d| format!("{d}/ (directory, mode {})\n", mode_string(mode)))
                    .collect::<String>(),
            ),
        );
        all_steps.push(ctx.step(format!("create {} directories", mkdirs.len()), script));
    }
    if before_list != after_list {
        diffs.push(Diff::new(&root, before_list, after_list));
    }
    all_steps.extend(write_steps);
    all_steps.extend(steps);
    Ok(Plan::Change {
        diff: diffs,
        steps: all_steps,
        result,
    })
}

/// Plans a copy of a file on the target (`remote_src: yes`).
async fn plan_remote(ctx: &TaskCtx<'_>, a: &Args<'_>, src: &str) -> Result<Plan, ModuleError> {
    let dest = a.req_str("dest")?;
    let want = wanted(a)?;
    let trailing = dest.ends_with('/');
    let (query_path, dir_child) = if trailing {
        (format!("{dest}{}", base_name(src)), None)
    } else {
        (dest.clone(), Some(base_name(src).to_string()))
    };
    let src_opts = QueryOpts {
        sha1: true,
        content: ContentLimit::Skip,
        dir_child: None,
    };
    let dest_opts = QueryOpts {
        sha1: true,
        content: ContentLimit::Skip,
        dir_child: dir_child.clone(),
    };
    let states = query_files(ctx, &[(src, &src_opts), (&query_path, &dest_opts)]).await?;
    let (sst, dst) = (&states[0], &states[1]);
    if !sst.exists() {
        return Err(ModuleError::failed(format!("Source {src} not found")));
    }
    if sst.is_dir() {
        return Err(ModuleError::failed(format!(
            "remote_src with a directory src ({src}) is not supported; copy files one by one"
        )));
    }
    let (Some(sstat), Some(src_sha)) = (&sst.stat, &sst.sha1) else {
        return Err(ModuleError::failed(format!(
            "Source {src} is not a readable regular file"
        )));
    };
    let path = match (&dir_child, dst.into_dir) {
        (Some(c), true) => format!("{}/{c}", query_path.trim_end_matches('/')),
        _ => query_path.clone(),
    };
    if dst.is_dir() {
        return Err(ModuleError::failed(format!(
            "{path} is a directory; cannot replace it with a file"
        )));
    }
    if !dst.parent_is_dir && !trailing {
        return Err(ModuleError::failed(format!(
            "Destination directory {} does not exist",
            parent_dir(&path)
        )));
    }
    let follow = a.bool("follow", false)?;
    let target = match (&dst.realpath, follow && dst.is_link()) {
        (Some(rp), true) => rp.clone(),
        _ => path.clone(),
    };
    let mut result = ResultMap::new();
    result.insert("dest".into(), target.clone().into());
    result.insert("src".into(), src.into());
    if dst.exists() && !a.bool("force", true)? {
        result.insert("msg".into(), "file already exists".into());
        return Ok(Plan::Unchanged { result });
    }
    let attrs = plan_attrs(
        &target,
        dst.stat.as_ref(),
        dst.creator.as_ref(),
        &want,
        false,
        Some(sstat.mode),
    )?;
    result.insert("checksum".into(), src_sha.clone().into());
    result.insert("size".into(), sstat.size.into());
    result.insert("state".into(), "file".into());
    attrs_result(&mut result, &attrs);
    let same = dst.is_file() && dst.sha1.as_deref() == Some(src_sha.as_str());
    if same {
        if attrs.change.is_empty() {
            return Ok(Plan::Unchanged { result });
        }
        return Ok(Plan::Change {
            diff: attrs.diffs.clone(),
            steps: atomic::attr_steps(ctx, &target, &attrs.change),
            result,
        });
    }
    let mut diff = vec![Diff::attr(
        &target,
        "checksum",
        dst.sha1.as_deref().unwrap_or("(absent)"),
        src_sha,
    )];
    diff.extend(attrs.diffs.iter().cloned());
    let validate = a.str("validate")?;
    let spec = WriteSpec {
        dest: &target,
        attrs: &attrs.attrs,
        backup: a.bool("backup", false)?,
        validate: validate.as_deref(),
        create_parent: trailing,
    };
    let step = atomic::write_step(ctx, &spec, Source::RemoteFile(src.to_string()))?;
    Ok(Plan::Change {
        diff,
        steps: vec![step],
        result,
    })
}

/// JSON as Python's `json.dumps` writes it (`", "` and `": "` separators, ASCII only).
pub(crate) fn python_json(v: &Value) -> String {
    match v {
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(python_json).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{}: {}", python_json_str(k), python_json(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::String(s) => python_json_str(s),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

fn python_json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The `content:` parameter as bytes (lists and dicts as JSON, like Ansible).
fn content_bytes(v: &Value) -> Result<Vec<u8>, ModuleError> {
    match v {
        Value::Array(_) | Value::Object(_) => Ok(python_json(v).into_bytes()),
        other => value_to_string(other)
            .map(String::into_bytes)
            .ok_or_else(|| ModuleError::Args("content: unsupported value".into())),
    }
}

#[async_trait::async_trait]
impl Module for Copy {
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }

    async fn plan(&self, ctx: &TaskCtx<'_>, args: &ResultMap) -> Result<Plan, ModuleError> {
        let a = Args::parse(&SPEC, args)?;
        let dest = a.req_str("dest")?;
        if dest.is_empty() {
            return Err(ModuleError::Args("copy: dest must not be empty".into()));
        }
        let checksum = a.str("checksum")?;
        if let Some(src) = a.str("src")? {
            if a.bool("remote_src", false)? {
                return plan_remote(ctx, &a, &src).await;
            }
            let local = ctx.controller.find_file("files", &src)?;
            let meta = std::fs::metadata(&local).map_err(|e| {
                ModuleError::failed(format!("cannot read {}: {e}", local.display()))
            })?;
            if meta.is_dir() {
                return plan_tree(ctx, &a, &src, &local).await;
            }
            let content = std::fs::read(&local).map_err(|e| {
                ModuleError::failed(format!("cannot read {}: {e}", local.display()))
            })?;
            if let Some(want) = &checksum
                && !want.eq_ignore_ascii_case(&sha1_hex(&content))
            {
                return Err(ModuleError::failed(format!(
                    "Copied file does not match the expected checksum ({want})"
                )));
            }
            let job = FileJob {
                dest,
                content,
                src_label: Some(src.clone()),
                into_dir_name: Some(base_name(&src).to_string()),
                want: wanted(&a)?,
                preserve_mode: Some(local_mode(&meta)),
                backup: a.bool("backup", false)?,
                force: a.bool("force", true)?,
                validate: a.str("validate")?,
                follow: a.bool("follow", false)?,
            };
            return plan_file(ctx, &job).await;
        }
        let content = content_bytes(a.value("content").unwrap_or(&Value::Null))?;
        if a.mode("mode")? == Some(ModeArg::Preserve) {
            return Err(ModuleError::Args(
                "copy: mode=preserve needs src, not content".into(),
            ));
        }
        let job = FileJob {
            dest,
            content,
            src_label: None,
            into_dir_name: None,
            want: wanted(&a)?,
            preserve_mode: None,
            backup: a.bool("backup", false)?,
            force: a.bool("force", true)?,
            validate: a.str("validate")?,
            follow: a.bool("follow", false)?,
        };
        plan_file(ctx, &job).await
    }

    fn finish(&self, result: &mut ResultMap, outputs: &[ExecOutput]) -> Result<(), ModuleError> {
        finish_write(result, outputs, "backup_file")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_output_parses() {
        let out = "creator=root|root|0022\n0|41ed|0|0|root|root|4096|1|2|3|2|1\n1|absent\n\
2|81a4|0|0|root|root|3|1|2|3|1|1\n2|sha1=abc  -\n3|dangling\n";
        let (items, creator) = parse_tree(out, 4).unwrap();
        assert_eq!(creator.unwrap().umask, 0o022);
        assert_eq!(items[0].stat.as_ref().unwrap().kind, Kind::Dir);
        assert!(items[1].stat.is_none() && !items[1].dangling);
        assert_eq!(items[2].sha1.as_deref(), Some("abc"));
        assert!(items[3].dangling);
        assert!(parse_tree("9|absent\n", 2).is_err());
        assert!(parse_tree("nonsense\n", 2).is_err());
    }

    #[test]
    fn content_values_become_bytes() {
        assert_eq!(content_bytes(&serde_json::json!("a\n")).unwrap(), b"a\n");
        assert_eq!(content_bytes(&serde_json::json!(42)).unwrap(), b"42");
        assert_eq!(
            content_bytes(&serde_json::json!({"a": [1, 2]})).unwrap(),
            br#"{"a": [1, 2]}"#
        );
        assert_eq!(
            python_json(&serde_json::json!({"k": ["é\"\n", null, true, 1.5]})),
            r#"{"k": ["\u00e9\"\n", null, true, 1.5]}"#
        );
    }
}

#[cfg(test)]
mod host_tests {
    use super::*;
    use crate::modules::testutil::{Harness, ids_of, is_root, mode_of, read};
    use serde_json::json;

    fn leftovers(dir: &str) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".shipshape"))
            .collect()
    }

    #[tokio::test]
    async fn content_converges_with_mode_and_backup() {
        let h = Harness::new();
        let dest = h.path("motd");
        let args = json!({"dest": dest, "content": "hello\n", "mode": "0640"});
        let applied = h.converge(&Copy, &args).await;
        assert_eq!(read(&dest), "hello\n");
        assert_eq!(mode_of(&dest), 0o640);
        assert_eq!(applied.result["mode"], "0640");
        assert_eq!(applied.result["checksum"], sha1_hex(b"hello\n"));
        assert_eq!(applied.result["size"], 6);
        assert_eq!(applied.diff[0].after, "hello\n");

        // Changed content with a backup of the old file.
        let args = json!({"dest": dest, "content": "bye\n", "mode": 416, "backup": "yes"});
        let applied = h.converge(&Copy, &args).await;
        assert_eq!(read(&dest), "bye\n");
        let backup = applied.result["backup_file"].as_str().unwrap().to_string();
        assert!(
            backup.starts_with(&format!("{dest}.")) && backup.ends_with('~'),
            "{backup}"
        );
        assert_eq!(read(&backup), "hello\n");
        assert_eq!(applied.diff[0].before, "hello\n");

        // Mode only: an attribute diff, content untouched.
        let args = json!({"dest": dest, "content": "bye\n", "mode": "u=rw,g=,o="});
        let applied = h.converge(&Copy, &args).await;
        assert_eq!(mode_of(&dest), 0o600);
        assert_eq!(applied.diff.len(), 1);
        assert_eq!(applied.diff[0].before, "mode: 0640\n");
        assert_eq!(applied.diff[0].after, "mode: 0600\n");
        assert!(leftovers(&h.path("")).is_empty());
    }

    #[tokio::test]
    async fn new_file_mode_follows_umask_and_existing_mode_is_kept() {
        let h = Harness::new();
        let dest = h.path("plain");
        let applied = h
            .converge(&Copy, &json!({"dest": dest, "content": "x"}))
            .await;
        let m = mode_of(&dest);
        assert_eq!(applied.result["mode"], mode_string(m));
        std::fs::set_permissions(&dest, std::os::unix::fs::PermissionsExt::from_mode(0o604))
            .unwrap();
        h.converge(&Copy, &json!({"dest": dest, "content": "y"}))
            .await;
        assert_eq!(mode_of(&dest), 0o604);
    }

    #[tokio::test]
    async fn owner_and_group_change() {
        if !is_root() {
            eprintln!("skipped: owner changes need root");
            return;
        }
        let h = Harness::new();
        let dest = h.path("owned");
        let args = json!({"dest": dest, "content": "x", "owner": "nobody", "group": "nogroup"});
        h.converge(&Copy, &args).await;
        assert_eq!(ids_of(&dest), (65534, 65534));
        let args = json!({"dest": dest, "content": "x", "owner": "root", "group": "0"});
        let applied = h.converge(&Copy, &args).await;
        assert_eq!(ids_of(&dest), (0, 0));
        assert_eq!(applied.diff.len(), 2, "{:?}", applied.diff);
        // Rewriting content keeps the owner that is there.
        std::os::unix::fs::chown(&dest, Some(65534), Some(65534)).unwrap();
        h.converge(&Copy, &json!({"dest": dest, "content": "new"}))
            .await;
        assert_eq!(ids_of(&dest), (65534, 65534));
    }

    #[tokio::test]
    async fn validate_failure_leaves_the_old_file() {
        let h = Harness::new();
        let dest = h.path("sudoers");
        std::fs::write(&dest, "good\n").unwrap();
        let args = json!({"dest": dest, "content": "bad\n", "validate": "grep -q good %s"});
        let err = h.apply(&Copy, &args).await.unwrap_err();
        assert!(err.to_string().contains("failed to validate"), "{err}");
        assert_eq!(read(&dest), "good\n");
        assert!(leftovers(&h.path("")).is_empty());
        let args = json!({"dest": dest, "content": "good too\n", "validate": "grep -q good %s"});
        h.converge(&Copy, &args).await;
        assert_eq!(read(&dest), "good too\n");
    }

    #[tokio::test]
    async fn metacharacters_reach_the_file_literally() {
        let h = Harness::new();
        let dest = h.path("a b'$(touch pwned)`touch pwned2`;*.txt");
        let content = "$(touch pwned3) 'q' \"dq\" `x` \\n %s\n\0binary";
        let args = json!({"dest": dest, "content": content, "backup": true});
        h.converge(&Copy, &args).await;
        assert_eq!(read(&dest), content);
        let names: Vec<_> = std::fs::read_dir(h.path("")).unwrap().collect();
        assert_eq!(names.len(), 1, "{names:?}");
        assert!(!Path::new("pwned").exists() && !Path::new("pwned3").exists());
    }

    #[tokio::test]
    async fn src_files_and_directories() {
        let h = Harness::new();
        let files = h.controller.base.join("files");
        std::fs::create_dir_all(files.join("tree/sub")).unwrap();
        std::fs::write(files.join("one.conf"), "one\n").unwrap();
        std::fs::write(files.join("tree/a.txt"), "a\n").unwrap();
        std::fs::write(files.join("tree/sub/b.txt"), "b\n").unwrap();

        // Into an existing directory: dest/basename.
        let dir = h.path("etc");
        std::fs::create_dir(&dir).unwrap();
        let applied = h
            .converge(&Copy, &json!({"src": "one.conf", "dest": dir}))
            .await;
        assert_eq!(read(&format!("{dir}/one.conf")), "one\n");
        assert_eq!(applied.result["dest"], format!("{dir}/one.conf"));
        // A trailing slash creates the directory.
        let newdir = h.path("new/deeper/");
        h.converge(&Copy, &json!({"src": "one.conf", "dest": newdir}))
            .await;
        assert_eq!(read(&format!("{newdir}one.conf")), "one\n");
        // A missing parent without the slash fails.
        let err = h
            .apply(&Copy, &json!({"src": "one.conf", "dest": h.path("nope/x")}))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");

        // Directory without trailing slash: copied as dest/tree/...
        let out = h.path("out");
        let args = json!({"src": "tree", "dest": out, "directory_mode": "0750", "mode": "0600"});
        let applied = h.converge(&Copy, &args).await;
        assert_eq!(read(&format!("{out}/tree/sub/b.txt")), "b\n");
        assert_eq!(mode_of(&format!("{out}/tree/sub")), 0o750);
        assert_eq!(mode_of(&format!("{out}/tree/a.txt")), 0o600);
        let listing = applied
            .diff
            .iter()
            .find(|d| d.after.contains("a.txt  sha1:"))
            .unwrap();
        assert_eq!(listing.before, "");
        // With the slash: the contents.
        let flat = h.path("flat");
        h.converge(&Copy, &json!({"src": "tree/", "dest": flat}))
            .await;
        assert_eq!(read(&format!("{flat}/a.txt")), "a\n");
        // One changed file: only it is rewritten.
        std::fs::write(files.join("tree/a.txt"), "A\n").unwrap();
        let applied = h
            .converge(&Copy, &json!({"src": "tree/", "dest": flat}))
            .await;
        assert_eq!(read(&format!("{flat}/a.txt")), "A\n");
        let listing = &applied.diff[0];
        assert!(listing.before.contains("a.txt  sha1:"), "{listing:?}");
    }

    #[tokio::test]
    async fn remote_src_force_and_follow() {
        let h = Harness::new();
        let src = h.path("src.txt");
        std::fs::write(&src, "remote\n").unwrap();
        let dest = h.path("dst.txt");
        let applied = h
            .converge(
                &Copy,
                &json!({"src": src, "dest": dest, "remote_src": true, "mode": "0600"}),
            )
            .await;
        assert_eq!(read(&dest), "remote\n");
        assert_eq!(applied.result["checksum"], sha1_hex(b"remote\n"));
        // force=no never replaces an existing file.
        let plan = h
            .plan(
                &Copy,
                &json!({"dest": dest, "content": "other", "force": false}),
                false,
            )
            .await
            .unwrap();
        assert!(matches!(plan, Plan::Unchanged { .. }));
        // follow=yes writes through a symlink; the default replaces the link.
        let real = h.path("real.txt");
        std::fs::write(&real, "old").unwrap();
        let link = h.path("link.txt");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        h.converge(
            &Copy,
            &json!({"dest": link, "content": "via link", "follow": true}),
        )
        .await;
        assert_eq!(read(&real), "via link");
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        h.converge(&Copy, &json!({"dest": link, "content": "replaced"}))
            .await;
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_file()
        );
        assert_eq!(read(&real), "via link");
    }

    #[tokio::test]
    async fn full_disk_leaves_the_old_file() {
        if !is_root() {
            eprintln!("skipped: mounting a tmpfs needs root");
            return;
        }
        let h = Harness::new();
        let mnt = h.path("small");
        std::fs::create_dir(&mnt).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs", &mnt])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            eprintln!("skipped: cannot mount a tmpfs here");
            return;
        }
        let dest = format!("{mnt}/data");
        std::fs::write(&dest, "precious\n").unwrap();
        let big = "x".repeat(200 * 1024);
        let res = h.apply(&Copy, &json!({"dest": dest, "content": big})).await;
        let kept = read(&dest);
        let left = leftovers(&mnt);
        let _ = std::process::Command::new("umount").arg(&mnt).status();
        let err = res.unwrap_err();
        assert!(err.to_string().contains("old file left untouched"), "{err}");
        assert_eq!(kept, "precious\n");
        assert!(left.is_empty(), "{left:?}");
    }
}
