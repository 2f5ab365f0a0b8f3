//! The one file writer every file-writing module uses (temp file in the destination
//! directory, owner/mode, validate, optional backup, atomic rename), the owner/mode-only
//! change step, and the one-command stat-like query of a path with its pure parser.
//! It builds shell text only through `quote`/`Sh`; file contents travel on stdin.

use crate::core::{
    Diff, ExecOutput, ExecRequest, ModuleError, ResultMap, Sh, Step, TaskCtx, quote,
};
use crate::modules::args::{ModeArg, mode_string};

/// Owner, group and mode to give a written file. `None` keeps the existing file's value (or
/// the default for a new file: the remote user, its group, `0666 & ~umask`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileAttrs {
    /// Permission bits (`0o644`).
    pub mode: Option<u32>,
    /// Owner name or numeric uid.
    pub owner: Option<String>,
    /// Group name or numeric gid.
    pub group: Option<String>,
}

/// Where the new content of a file comes from.
#[derive(Clone, Debug)]
pub enum Source {
    /// Bytes sent on the command's stdin.
    Stdin(Vec<u8>),
    /// Another file on the target (`remote_src`).
    RemoteFile(String),
}

/// Everything the writer needs besides the content.
#[derive(Clone, Debug)]
pub struct WriteSpec<'a> {
    /// The file to replace or create.
    pub dest: &'a str,
    /// Owner/group/mode to set.
    pub attrs: &'a FileAttrs,
    /// Keep a timestamped copy of the old file (`dest.PID.YYYY-MM-DD@HH:MM:SS~`).
    pub backup: bool,
    /// A command with `%s` run on the temp file before it replaces `dest`.
    pub validate: Option<&'a str>,
    /// Create missing parent directories first (`lineinfile create=yes`).
    pub create_parent: bool,
}

/// Exit status of the writer when `validate` rejected the new content.
pub const EXIT_VALIDATE: i32 = 3;

/// The directory part of a path (`/a/b` -> `/a`, `b` -> `.`, `/b` -> `/`).
pub fn parent_dir(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rfind('/') {
        Some(0) => "/",
        Some(i) => &trimmed[..i],
        None => ".",
    }
}

/// The last component of a path (`/a/b/` -> `b`).
pub fn base_name(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rfind('/') {
        Some(i) => &trimmed[i + 1..],
        None => trimmed,
    }
}

/// Builds the shell words of a `validate` command with every `%s` replaced by the temp file
/// (`"$t"`), each literal piece quoted. Fails when `%s` is missing, like Ansible.
pub fn validate_command(validate: &str) -> Result<String, ModuleError> {
    if !validate.contains("%s") {
        return Err(ModuleError::Args(format!(
            "validate must contain %s (the file to check): {validate:?}"
        )));
    }
    let words = crate::modules::commands::split_args(validate).map_err(ModuleError::Args)?;
    let mut out = String::new();
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let pieces: Vec<&str> = w.split("%s").collect();
        for (j, piece) in pieces.iter().enumerate() {
            if j > 0 {
                out.push_str("\"$t\"");
            }
            if !piece.is_empty() {
                out.push_str(&quote(piece));
            }
        }
    }
    Ok(out)
}

/// The chown argument for an owner and/or group (`user:group`, `user`, `:group`).
fn chown_spec(owner: Option<&str>, group: Option<&str>) -> Option<String> {
    match (owner, group) {
        (None, None) => None,
        (Some(o), None) => Some(o.to_string()),
        (None, Some(g)) => Some(format!(":{g}")),
        (Some(o), Some(g)) => Some(format!("{o}:{g}")),
    }
}

/// A mode as a chmod argument that also clears setuid/setgid on directories (GNU chmod keeps
/// them for 4-digit modes on directories).
pub fn chmod_octal(mode: u32) -> String {
    format!("0{:04o}", mode & 0o7777)
}

/// The shell script that writes `spec.dest` atomically from stdin or from a remote file.
/// On any failure (disk full, validate, chown) the old file is untouched and the temp file is
/// removed. Prints `backup_file=PATH` last when a backup was made.
///
/// It starts as few processes as it can (each costs the target about a millisecond of CPU):
/// the temp file is created by the shell itself (`set -C`, i.e. `O_EXCL`, under a umask
/// giving it its final mode when nothing else needs setting, else 0600 like `mktemp`), one
/// `stat` checks the written size and reads the old file's owner and mode, and chown/chmod
/// run only when they change something. Typical: `cat`, `stat`, `mv`.
pub fn write_script(spec: &WriteSpec<'_>, source: &Source) -> Result<String, ModuleError> {
    write_script_hinted(spec, source, None)
}

/// [`write_script`] given the mode the planning query saw on the existing file (kept for the
/// callers that know it; the script compares with the file as it is when it runs).
pub fn write_script_hinted(
    spec: &WriteSpec<'_>,
    source: &Source,
    _existing_mode: Option<u32>,
) -> Result<String, ModuleError> {
    let dest = spec.dest;
    let dir = parent_dir(dest);
    let mut s = String::new();
    s.push_str(&format!("d={}\n", quote(dest)));
    if spec.create_parent {
        s.push_str(&format!(
            "{} || exit 1\n",
            Sh::new("mkdir").arg("-p").arg("--").arg(dir).build()
        ));
    }
    // The temp file is created 0600 (umask 077), like mktemp's, whatever the final mode:
    // nobody else can read a half-written file; chown/chmod give it its final owner and mode
    // just before the rename (only when they differ).
    s.push_str("e=\n[ -e \"$d\" ] && e=1\nu=077\n");
    // O_EXCL create; a name taken by anything (even a symlink or fifo placed there) is
    // skipped, and only a regular file that is not a symlink is accepted.
    let tmp_prefix = format!("{}/.shipshape.", dir.trim_end_matches('/'));
    s.push_str(&format!(
        "t=\ntrap '[ -z \"$t\" ] || rm -f -- \"$t\"' EXIT\ntrap 'exit 129' HUP INT TERM PIPE\n\
         i=0\n\
         while c={}\"$$.$i\"; ! {{ ( [ -z \"$u\" ] || umask \"$u\"; set -C; : > \"$c\" ) 2>/dev/null && [ -f \"$c\" ] && [ ! -L \"$c\" ]; }}; do\n\
         \x20 if [ -e \"$c\" ] || [ -L \"$c\" ]; then i=$((i + 1)); [ \"$i\" -lt 100 ] && continue; fi\n\
         \x20 printf 'shipshape: cannot create a temporary file in %s\\n' {} >&2; exit 1\n\
         done\nt=$c\n",
        quote(&tmp_prefix),
        quote(dir)
    ));
    let fail_write = format!(
        "{{ printf 'shipshape: writing %s failed (old file left untouched)\\n' {} >&2; exit 1; }}",
        quote(dest)
    );
    // One stat: [the source,] the temp file and, when there is one, the old file.
    let stat_fmt = "'%s %u:%g %a'";
    match source {
        Source::Stdin(content) => {
            s.push_str(&format!("cat > \"$t\" || {fail_write}\n"));
            s.push_str(&format!(
                "set -- $(stat -L -c {stat_fmt} -- \"$t\" ${{e:+\"$d\"}} 2>/dev/null)\n"
            ));
            // A short write (a full disk on close, a broken pipe) must not replace the file.
            s.push_str(&format!("[ \"$1\" = {} ] || {fail_write}\n", content.len()));
        }
        Source::RemoteFile(src) => {
            s.push_str(&format!(
                "{} > \"$t\" || {fail_write}\n",
                Sh::new("cat").arg("--").arg(src).build()
            ));
            s.push_str(&format!(
                "set -- $(stat -L -c {stat_fmt} -- {} \"$t\" ${{e:+\"$d\"}} 2>/dev/null)\n\
                 w=$1\nshift 3\n[ \"$1\" = \"$w\" ] || {fail_write}\n",
                quote(src)
            ));
        }
    }
    // $2/$3: the temp file's owner and mode; $5/$6: the old file's (gone: treated as absent).
    s.push_str("[ $# -eq 6 ] || e=\n");
    // Keep the existing file's owner/group where none is requested (best effort, as a
    // non-root user may not be able to).
    if spec.attrs.owner.is_none() || spec.attrs.group.is_none() {
        s.push_str(
            "if [ -n \"$e\" ] && [ \"$5\" != \"$2\" ]; then chown -- \"$5\" \"$t\" 2>/dev/null || :; fi\n",
        );
    }
    if let Some(spec_chown) = chown_spec(spec.attrs.owner.as_deref(), spec.attrs.group.as_deref()) {
        s.push_str(&format!(
            "chown -- {} \"$t\" || exit 1\n",
            quote(&spec_chown)
        ));
    }
    // chown clears setuid/setgid bits, so the mode is compared with what the temp file had
    // only when no chown ran (a mode with such bits never matches a fresh file anyway).
    match spec.attrs.mode {
        Some(m) => s.push_str(&format!(
            "[ \"$3\" = {:o} ] || chmod {} \"$t\" || exit 1\n",
            m & 0o7777,
            chmod_octal(m)
        )),
        None => s.push_str(
            "if [ -n \"$e\" ]; then m=$6; else m=$(printf '%o' $((0666 & ~0$(umask)))); fi\n\
             [ \"$3\" = \"$m\" ] || chmod \"0$m\" \"$t\" || exit 1\n",
        ),
    }
    if let Some(v) = spec.validate {
        let cmd = validate_command(v)?;
        s.push_str(&format!(
            "if ! v_out=$({cmd} 2>&1); then printf 'shipshape: validation failed (%s), %s left untouched:\\n%s\\n' {} {} \"$v_out\" >&2; exit {EXIT_VALIDATE}; fi\n",
            quote(v),
            quote(dest)
        ));
    }
    if spec.backup {
        s.push_str(
            "b=\nif [ -e \"$d\" ]; then b=\"$d.$$.$(date +%Y-%m-%d@%H:%M:%S)~\"; \
             cp -p -- \"$d\" \"$b\" || { echo 'shipshape: backup failed' >&2; exit 1; }; fi\n",
        );
    }
    s.push_str("mv -f -- \"$t\" \"$d\" || exit 1\nt=\n");
    if spec.backup {
        s.push_str("[ -z \"$b\" ] || printf 'backup_file=%s\\n' \"$b\"\n");
    }
    Ok(s)
}

/// A step writing `content` to `dest` atomically (see [`write_script`]).
pub fn write_file_step(
    ctx: &TaskCtx<'_>,
    dest: &str,
    content: Vec<u8>,
    attrs: &FileAttrs,
    backup: bool,
    validate: Option<&str>,
) -> Result<Step, ModuleError> {
    let spec = WriteSpec {
        dest,
        attrs,
        backup,
        validate,
        create_parent: false,
    };
    write_step(ctx, &spec, Source::Stdin(content))
}

/// A step writing from any [`Source`] with the full [`WriteSpec`].
pub fn write_step(
    ctx: &TaskCtx<'_>,
    spec: &WriteSpec<'_>,
    source: Source,
) -> Result<Step, ModuleError> {
    write_step_hinted(ctx, spec, source, None)
}

/// [`write_step`] with the existing file's mode as the query saw it (see
/// [`write_script_hinted`]).
pub fn write_step_hinted(
    ctx: &TaskCtx<'_>,
    spec: &WriteSpec<'_>,
    source: Source,
    existing_mode: Option<u32>,
) -> Result<Step, ModuleError> {
    let script = write_script_hinted(spec, &source, existing_mode)?;
    let (req, what) = match source {
        Source::Stdin(content) => {
            let n = content.len();
            (
                ExecRequest::new(script).stdin(content),
                format!("{n} bytes"),
            )
        }
        Source::RemoteFile(src) => (ExecRequest::new(script), format!("the content of {src}")),
    };
    Ok(ctx.step_with(format!("write {} with {what}", spec.dest), req))
}

/// The backup path a writer step printed, if any.
pub fn backup_from_output(out: &ExecOutput) -> Option<String> {
    let text = out.stdout_str();
    let idx = text.rfind("backup_file=")?;
    let rest = &text[idx + "backup_file=".len()..];
    Some(rest.strip_suffix('\n').unwrap_or(rest).to_string())
}

/// Checks the outputs of applied steps: the first failure becomes a `Failed` error carrying
/// rc and stderr; otherwise returns the backup path any writer step printed.
pub fn check_outputs(outputs: &[ExecOutput]) -> Result<Option<String>, ModuleError> {
    if let Some(o) = outputs.iter().find(|o| !o.success()) {
        let stderr = o.stderr_str();
        let mut result = ResultMap::new();
        result.insert("rc".into(), o.status.into());
        result.insert("stderr".into(), stderr.clone().into());
        result.insert("stdout".into(), o.stdout_str().into());
        let msg = if o.status == EXIT_VALIDATE && stderr.contains("validation failed") {
            format!("failed to validate: {}", stderr.trim())
        } else if stderr.trim().is_empty() {
            format!("command failed with rc={}", o.status)
        } else {
            stderr.trim().to_string()
        };
        return Err(ModuleError::Failed { msg, result });
    }
    Ok(outputs.iter().rev().find_map(backup_from_output))
}

/// An owner/group/mode change of an existing path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttrChange {
    /// chmod argument (`00644` or a symbolic mode for recursive changes).
    pub mode: Option<String>,
    /// New owner.
    pub owner: Option<String>,
    /// New group.
    pub group: Option<String>,
    /// Apply to everything under a directory.
    pub recurse: bool,
    /// Change a symlink itself (`chown -h`), not its target.
    pub no_deref: bool,
}

impl AttrChange {
    /// Whether nothing would change.
    pub fn is_empty(&self) -> bool {
        self.mode.is_none() && self.owner.is_none() && self.group.is_none()
    }
}

/// The shell text applying an [`AttrChange`] to `path` (chown before chmod: chown clears
/// setuid bits).
pub fn attr_script(path: &str, change: &AttrChange) -> String {
    let mut parts = Vec::new();
    if let Some(spec) = chown_spec(change.owner.as_deref(), change.group.as_deref()) {
        let mut sh = Sh::new("chown");
        if change.recurse {
            sh = sh.arg("-R");
        }
        if change.no_deref || change.recurse {
            sh = sh.arg("-h");
        }
        parts.push(sh.arg("--").arg(spec).arg(path).build());
    }
    if let Some(m) = &change.mode {
        let mut sh = Sh::new("chmod");
        if change.recurse {
            sh = sh.arg("-R");
        }
        parts.push(sh.arg(m).arg("--").arg(path).build());
    }
    parts.join(" && ")
}

/// The steps (none or one) applying an [`AttrChange`] to `path`.
pub fn attr_steps(ctx: &TaskCtx<'_>, path: &str, change: &AttrChange) -> Vec<Step> {
    if change.is_empty() {
        return Vec::new();
    }
    let mut what = Vec::new();
    if let Some(m) = &change.mode {
        what.push(format!("mode {m}"));
    }
    if let Some(o) = &change.owner {
        what.push(format!("owner {o}"));
    }
    if let Some(g) = &change.group {
        what.push(format!("group {g}"));
    }
    vec![ctx.step(
        format!("set {} of {path}", what.join(", ")),
        attr_script(path, change),
    )]
}

/// How much of a regular file's content the query returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentLimit {
    /// None.
    Skip,
    /// The content if it has at most this many bytes.
    UpTo(u64),
    /// All of it.
    All,
}

/// The content limit used for diffs of copy/template.
pub const DIFF_LIMIT: u64 = 256 * 1024;

/// What [`query_file_script`] asks for besides the stat line.
#[derive(Clone, Debug)]
pub struct QueryOpts {
    /// Compute the SHA-1 of a regular file.
    pub sha1: bool,
    /// Return the content.
    pub content: ContentLimit,
    /// When the path is a directory, query `path/child` instead (copy into a directory).
    pub dir_child: Option<String>,
}

impl Default for QueryOpts {
    fn default() -> Self {
        QueryOpts {
            sha1: true,
            content: ContentLimit::Skip,
            dir_child: None,
        }
    }
}

/// The kind of a filesystem object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Link,
    /// A device, fifo or socket.
    Other,
}

impl Kind {
    /// The kind of a raw `st_mode`.
    pub fn from_mode(raw: u32) -> Kind {
        match raw & 0o170000 {
            0o100000 => Kind::File,
            0o040000 => Kind::Dir,
            0o120000 => Kind::Link,
            _ => Kind::Other,
        }
    }

    /// Ansible's state name for it.
    pub fn state_name(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Dir => "directory",
            Kind::Link => "link",
            Kind::Other => "file",
        }
    }
}

/// The stat fields of one path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stat {
    /// Object kind.
    pub kind: Kind,
    /// Permission bits (`0o7777` part).
    pub mode: u32,
    /// Owner uid.
    pub uid: u32,
    /// Group gid.
    pub gid: u32,
    /// Owner name (`UNKNOWN` when unnamed).
    pub owner: String,
    /// Group name.
    pub group: String,
    /// Size in bytes.
    pub size: u64,
    /// Modification time (seconds since the epoch).
    pub mtime: i64,
    /// Inode number.
    pub inode: u64,
    /// Device number.
    pub dev: u64,
    /// Hard link count.
    pub nlink: u64,
    /// Access time (seconds since the epoch).
    pub atime: i64,
}

/// The `stat -c` format that [`parse_stat_fields`] reads.
pub const STAT_FORMAT: &str = "%f|%u|%g|%U|%G|%s|%Y|%i|%d|%h|%X";

/// Parses one line printed with [`STAT_FORMAT`].
pub fn parse_stat_fields(line: &str) -> Option<Stat> {
    let f: Vec<&str> = line.trim_end().split('|').collect();
    if f.len() != 11 {
        return None;
    }
    let raw = u32::from_str_radix(f[0], 16).ok()?;
    Some(Stat {
        kind: Kind::from_mode(raw),
        mode: raw & 0o7777,
        uid: f[1].parse().ok()?,
        gid: f[2].parse().ok()?,
        owner: f[3].to_string(),
        group: f[4].to_string(),
        size: f[5].parse().ok()?,
        mtime: f[6].parse().ok()?,
        inode: f[7].parse().ok()?,
        dev: f[8].parse().ok()?,
        nlink: f[9].parse().ok()?,
        atime: f[10].parse().ok()?,
    })
}

/// Who creates new files on the target, and with which umask.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Creator {
    /// User name of the remote (possibly become) user.
    pub user: String,
    /// Its primary group name.
    pub group: String,
    /// Its umask.
    pub umask: u32,
}

impl Creator {
    /// The mode a new file gets without an explicit one.
    pub fn file_mode(&self) -> u32 {
        0o666 & !self.umask
    }
    /// The mode a new directory gets without an explicit one.
    pub fn dir_mode(&self) -> u32 {
        0o777 & !self.umask
    }
}

/// The shell line printing `creator_id=UMASK|<output of id>`, read by [`parse_creator_id`]: one
/// `id` process instead of `id -un` and `id -gn`.
pub const CREATOR_LINE: &str = "printf 'creator_id=%s|%s\\n' \"$(umask)\" \"$(LC_ALL=C id)\"\n";

/// Parses the value of a `creator_id=` line: the umask, then `id`'s
/// `uid=0(root) gid=0(root) [euid=..(..)] [egid=..(..)] groups=...` (effective ids win, as
/// `id -un`/`id -gn` print them; a number stands for a name the host does not know).
pub fn parse_creator_id(value: &str) -> Option<Creator> {
    let (umask, id) = value.split_once('|')?;
    let field = |key: &str| -> Option<String> {
        let v = id
            .split_whitespace()
            .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))?;
        match v.split_once('(') {
            Some((_, rest)) => rest.strip_suffix(')').map(str::to_string),
            None => Some(v.to_string()),
        }
    };
    Some(Creator {
        user: field("euid").or_else(|| field("uid"))?,
        group: field("egid").or_else(|| field("gid"))?,
        umask: u32::from_str_radix(umask.trim(), 8).unwrap_or(0o022),
    })
}

/// The state of one path as the query saw it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileState {
    /// Whether the queried path was a directory and `dir_child` was queried instead.
    pub into_dir: bool,
    /// The path itself (not following a final symlink); `None` when nothing is there.
    pub lstat: Option<Stat>,
    /// The path followed through symlinks; `None` when absent or a dangling link.
    pub stat: Option<Stat>,
    /// The target of a symlink as stored in it.
    pub link_target: Option<String>,
    /// The canonical path of a symlink's target.
    pub realpath: Option<String>,
    /// SHA-1 of the (followed) regular file, when asked and readable.
    pub sha1: Option<String>,
    /// Content of the (followed) regular file, when asked and within the limit.
    pub content: Option<Vec<u8>>,
    /// Whether the content was skipped for being over the limit.
    pub too_large: bool,
    /// Whether the parent directory exists.
    pub parent_is_dir: bool,
    /// The remote user's defaults for new files (reported when the path is absent).
    pub creator: Option<Creator>,
}

impl FileState {
    /// Whether anything (even a dangling link) is at the path.
    pub fn exists(&self) -> bool {
        self.lstat.is_some()
    }
    /// Whether the path is (or links to) a regular file.
    pub fn is_file(&self) -> bool {
        self.stat.as_ref().is_some_and(|s| s.kind == Kind::File)
    }
    /// Whether the path is (or links to) a directory.
    pub fn is_dir(&self) -> bool {
        self.stat.as_ref().is_some_and(|s| s.kind == Kind::Dir)
    }
    /// Whether the path itself is a symlink.
    pub fn is_link(&self) -> bool {
        self.lstat.as_ref().is_some_and(|s| s.kind == Kind::Link)
    }
}

/// The shell script that prints the state of `path` in one command (see [`parse_query`]).
pub fn query_file_script(path: &str, opts: &QueryOpts) -> String {
    let mut s = format!("p={}\n", quote(path));
    if let Some(child) = &opts.dir_child {
        s.push_str(&format!(
            "if [ -d \"$p\" ]; then p=\"${{p%/}}\"/{}; echo into_dir; fi\n",
            quote(child)
        ));
    }
    s.push_str(
        "case $p in */*) dir=${p%/*}; [ -n \"$dir\" ] || dir=/ ;; *) dir=. ;; esac\n\
         [ -d \"$dir\" ] && echo parent=dir\n",
    );
    s.push_str("if [ -L \"$p\" ] || [ -e \"$p\" ]; then\n");
    s.push_str(&format!(
        "  stat -c 'lstat={STAT_FORMAT}' -- \"$p\" || exit 1\n"
    ));
    s.push_str(&format!(
        "  if [ -L \"$p\" ]; then\n    [ -e \"$p\" ] && stat -L -c 'stat={STAT_FORMAT}' -- \"$p\"\n    printf 'realpath=%s\\n' \"$(readlink -f -- \"$p\")\"\n    printf 'link=%s\\n' \"$(readlink -- \"$p\")\"\n  fi\n"
    ));
    if opts.sha1 {
        s.push_str(
            "  if [ -f \"$p\" ] && [ -r \"$p\" ]; then printf 'sha1=%s\\n' \"$(sha1sum < \"$p\")\"; fi\n",
        );
    }
    s.push_str("else\n  echo absent\n  ");
    s.push_str(CREATOR_LINE);
    s.push_str("fi\n");
    match opts.content {
        ContentLimit::Skip => {}
        ContentLimit::UpTo(n) => s.push_str(&format!(
            "if [ -f \"$p\" ] && [ -r \"$p\" ]; then echo content; head -c {} -- \"$p\"; fi\n",
            n + 1
        )),
        ContentLimit::All => {
            s.push_str("if [ -f \"$p\" ] && [ -r \"$p\" ]; then echo content; cat -- \"$p\"; fi\n")
        }
    }
    s
}

/// Parses the output of [`query_file_script`].
pub fn parse_query(stdout: &[u8], opts: &QueryOpts) -> Result<FileState, String> {
    let mut st = FileState::default();
    let mut pos = 0;
    while pos < stdout.len() {
        let end = stdout[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|i| pos + i)
            .unwrap_or(stdout.len());
        let line = String::from_utf8_lossy(&stdout[pos..end]).into_owned();
        pos = end + 1;
        if line == "content" {
            let body = stdout.get(pos..).unwrap_or_default().to_vec();
            match opts.content {
                ContentLimit::UpTo(n) if body.len() as u64 > n => st.too_large = true,
                _ => st.content = Some(body),
            }
            break;
        }
        let (key, value) = line.split_once('=').unwrap_or((line.as_str(), ""));
        match key {
            "into_dir" => st.into_dir = true,
            "parent" => st.parent_is_dir = value == "dir",
            "absent" => {}
            "lstat" => {
                let s =
                    parse_stat_fields(value).ok_or_else(|| format!("bad stat line {line:?}"))?;
                if s.kind != Kind::Link {
                    st.stat = Some(s.clone());
                }
                st.lstat = Some(s);
            }
            "stat" => {
                st.stat = Some(
                    parse_stat_fields(value).ok_or_else(|| format!("bad stat line {line:?}"))?,
                )
            }
            "link" => st.link_target = Some(value.to_string()),
            "realpath" => st.realpath = Some(value.to_string()).filter(|s| !s.is_empty()),
            "sha1" => {
                let h = value.split_whitespace().next().unwrap_or("");
                if h.len() == 40 {
                    st.sha1 = Some(h.to_string());
                }
            }
            "creator_id" => st.creator = parse_creator_id(value),
            "creator" => {
                let f: Vec<&str> = value.split('|').collect();
                if let [user, group, umask] = f[..] {
                    st.creator = Some(Creator {
                        user: user.to_string(),
                        group: group.to_string(),
                        umask: u32::from_str_radix(umask.trim(), 8).unwrap_or(0o022),
                    });
                }
            }
            _ => return Err(format!("unexpected query output line {line:?}")),
        }
    }
    Ok(st)
}

/// Runs the query for `path` and parses it.
pub async fn query_file(
    ctx: &TaskCtx<'_>,
    path: &str,
    opts: &QueryOpts,
) -> Result<FileState, ModuleError> {
    let out = ctx.query(query_file_script(path, opts)).await?;
    if !out.success() {
        return Err(ModuleError::failed(format!(
            "cannot inspect {path}: {}",
            out.stderr_str().trim()
        )));
    }
    parse_query(&out.stdout, opts)
        .map_err(|e| ModuleError::failed(format!("cannot inspect {path}: {e}")))
}

/// The line separating the parts of [`query_files_script`] output.
const NEXT: &str = "==shipshape-next==";

/// One script querying several paths (each as [`query_file_script`]); only the last may ask
/// for content.
pub fn query_files_script(items: &[(&str, &QueryOpts)]) -> String {
    let mut s = String::new();
    for (i, (path, opts)) in items.iter().enumerate() {
        s.push_str("(\n");
        s.push_str(&query_file_script(path, opts));
        s.push_str(")\n");
        if i + 1 < items.len() {
            s.push_str(&part_separator());
        }
    }
    s
}

/// The shell line that ends one part of a multi-part query (prints the part's status).
pub fn part_separator() -> String {
    format!("echo \"{NEXT} $?\"\n")
}

/// Splits multi-part query output into `n` parts at the first `n - 1` separator lines
/// (only the last part may contain arbitrary bytes). Fails when a part's status is not 0.
pub fn split_parts(stdout: &[u8], n: usize) -> Result<Vec<&[u8]>, String> {
    let mut parts = Vec::with_capacity(n);
    let mut rest = stdout;
    let marker = format!("{NEXT} ");
    for i in 0..n.saturating_sub(1) {
        let at = find_line_start(rest, marker.as_bytes())
            .ok_or_else(|| "query output is missing a part".to_string())?;
        let line_end = rest[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|p| at + p)
            .unwrap_or(rest.len());
        let status = String::from_utf8_lossy(&rest[at + marker.len()..line_end]).into_owned();
        if status.trim() != "0" {
            return Err(format!("query part {} failed", i + 1));
        }
        parts.push(&rest[..at]);
        rest = rest.get(line_end + 1..).unwrap_or_default();
    }
    parts.push(rest);
    Ok(parts)
}

/// Parses the output of [`query_files_script`].
pub fn parse_queries(stdout: &[u8], opts: &[&QueryOpts]) -> Result<Vec<FileState>, String> {
    split_parts(stdout, opts.len())?
        .into_iter()
        .zip(opts)
        .map(|(part, o)| parse_query(part, o))
        .collect()
}

fn find_line_start(hay: &[u8], needle: &[u8]) -> Option<usize> {
    (0..hay.len()).find(|&i| (i == 0 || hay[i - 1] == b'\n') && hay[i..].starts_with(needle))
}

/// Runs one query for several paths and parses it.
pub async fn query_files(
    ctx: &TaskCtx<'_>,
    items: &[(&str, &QueryOpts)],
) -> Result<Vec<FileState>, ModuleError> {
    let out = ctx.query(query_files_script(items)).await?;
    let names: Vec<&str> = items.iter().map(|(p, _)| *p).collect();
    if !out.success() {
        return Err(ModuleError::failed(format!(
            "cannot inspect {}: {}",
            names.join(", "),
            out.stderr_str().trim()
        )));
    }
    let opts: Vec<&QueryOpts> = items.iter().map(|(_, o)| *o).collect();
    parse_queries(&out.stdout, &opts).map_err(|e| {
        ModuleError::failed(format!(
            "cannot inspect {}: {e}: {}",
            names.join(", "),
            out.stderr_str().trim()
        ))
    })
}

/// The SHA-1 of bytes as lowercase hex (what `sha1sum` prints).
pub fn sha1_hex(data: &[u8]) -> String {
    use sha1::Digest;
    hex::encode(sha1::Sha1::digest(data))
}

/// Requested owner/group/mode of a path (module parameters).
#[derive(Clone, Debug, Default)]
pub struct Wanted {
    /// `mode:`.
    pub mode: Option<ModeArg>,
    /// `owner:`.
    pub owner: Option<String>,
    /// `group:`.
    pub group: Option<String>,
}

/// Whether `want` (a name or a numeric id) names the same owner as (`id`, `name`).
pub fn same_principal(want: &str, id: u32, name: &str) -> bool {
    match want.parse::<u32>() {
        Ok(n) => n == id,
        Err(_) => want == name,
    }
}

/// The attribute part of a plan: diffs and the change for an existing path, and the values
/// the path has afterwards (for the registered result).
#[derive(Clone, Debug, Default)]
pub struct AttrPlan {
    /// Attribute diffs (`mode: 0644 -> 0600`).
    pub diffs: Vec<Diff>,
    /// The change to apply to an existing path (empty when in order or new).
    pub change: AttrChange,
    /// The attributes to give a newly written file (resolved mode, requested owner/group).
    pub attrs: FileAttrs,
    /// Mode afterwards.
    pub mode: u32,
    /// Owner afterwards (name or id as known).
    pub owner: String,
    /// Group afterwards.
    pub group: String,
    /// Numeric ids afterwards, when known.
    pub ids: Option<(u32, u32)>,
}

/// Compares requested attributes with the current [`Stat`] of `path` (or the defaults of
/// `creator` for a path that does not exist yet).
pub fn plan_attrs(
    path: &str,
    current: Option<&Stat>,
    creator: Option<&Creator>,
    want: &Wanted,
    is_dir: bool,
    preserve_mode: Option<u32>,
) -> Result<AttrPlan, ModuleError> {
    let mode_err = |e: String| ModuleError::Args(format!("mode: {e}"));
    let mut plan = AttrPlan::default();
    match current {
        Some(cur) => {
            let mode = match &want.mode {
                Some(ModeArg::Preserve) => preserve_mode.unwrap_or(cur.mode),
                Some(m) => m.resolve(cur.mode, is_dir).map_err(mode_err)?,
                None => cur.mode,
            };
            if mode != cur.mode {
                plan.diffs.push(Diff::attr(
                    path,
                    "mode",
                    &mode_string(cur.mode),
                    &mode_string(mode),
                ));
                plan.change.mode = Some(chmod_octal(mode));
            }
            plan.mode = mode;
            plan.owner = cur.owner.clone();
            plan.group = cur.group.clone();
            plan.ids = Some((cur.uid, cur.gid));
            if let Some(o) = &want.owner
                && !same_principal(o, cur.uid, &cur.owner)
            {
                plan.diffs.push(Diff::attr(path, "owner", &cur.owner, o));
                plan.change.owner = Some(o.clone());
                plan.owner = o.clone();
                plan.ids = None;
            }
            if let Some(g) = &want.group
                && !same_principal(g, cur.gid, &cur.group)
            {
                plan.diffs.push(Diff::attr(path, "group", &cur.group, g));
                plan.change.group = Some(g.clone());
                plan.group = g.clone();
                plan.ids = None;
            }
        }
        None => {
            let default = match creator {
                Some(c) if is_dir => c.dir_mode(),
                Some(c) => c.file_mode(),
                None if is_dir => 0o755,
                None => 0o644,
            };
            plan.mode = match &want.mode {
                Some(ModeArg::Preserve) => preserve_mode.unwrap_or(default),
                Some(m) => m.resolve(default, is_dir).map_err(mode_err)?,
                None => default,
            };
            plan.owner = want
                .owner
                .clone()
                .or_else(|| creator.map(|c| c.user.clone()))
                .unwrap_or_default();
            plan.group = want
                .group
                .clone()
                .or_else(|| creator.map(|c| c.group.clone()))
                .unwrap_or_default();
        }
    }
    plan.attrs = FileAttrs {
        mode: Some(plan.mode),
        owner: want.owner.clone(),
        group: want.group.clone(),
    };
    Ok(plan)
}

/// Adds `mode`, `owner`, `group` (and `uid`/`gid` when known) to a result.
pub fn attrs_result(result: &mut ResultMap, plan: &AttrPlan) {
    result.insert("mode".into(), mode_string(plan.mode).into());
    result.insert("owner".into(), plan.owner.clone().into());
    result.insert("group".into(), plan.group.clone().into());
    if let Some((u, g)) = plan.ids {
        result.insert("uid".into(), u.into());
        result.insert("gid".into(), g.into());
    }
}

/// Text for a diff side: the content when it is text, else a one-line note.
pub fn diff_text(content: &[u8]) -> Option<String> {
    if content.contains(&0) {
        return None;
    }
    String::from_utf8(content.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split() {
        assert_eq!(parent_dir("/a/b"), "/a");
        assert_eq!(parent_dir("/b"), "/");
        assert_eq!(parent_dir("b"), ".");
        assert_eq!(parent_dir("a/b/"), "a");
        assert_eq!(base_name("/a/b/"), "b");
        assert_eq!(base_name("b"), "b");
    }

    #[test]
    fn validate_words_are_quoted_around_the_temp_file() {
        assert_eq!(
            validate_command("visudo -cf %s").unwrap(),
            "visudo -cf \"$t\""
        );
        assert_eq!(
            validate_command("sh -c 'test -s %s'").unwrap(),
            "sh -c 'test -s '\"$t\""
        );
        assert_eq!(
            validate_command("check --file=%s.x $(id)").unwrap(),
            "check --file=\"$t\".x '$(id)'"
        );
        assert!(validate_command("visudo -c").is_err());
    }

    #[test]
    fn stat_lines_parse() {
        let s = parse_stat_fields("81a4|0|0|root|root|12|1700000000|42|2049|1|1700000001").unwrap();
        assert_eq!(s.kind, Kind::File);
        assert_eq!(s.mode, 0o644);
        assert_eq!(s.size, 12);
        let d = parse_stat_fields("43ed|1|2|a|b|4096|1|2|3|4|5").unwrap();
        assert_eq!(d.kind, Kind::Dir);
        assert_eq!(d.mode, 0o1755);
        assert!(parse_stat_fields("81a4|0|0").is_none());
        assert!(parse_stat_fields("zz|0|0|a|b|1|1|1|1|1|1").is_none());
    }

    #[test]
    fn query_output_parses() {
        let opts = QueryOpts {
            sha1: true,
            content: ContentLimit::UpTo(14),
            dir_child: Some("x".into()),
        };
        let out = b"into_dir\nparent=dir\nlstat=a1ff|0|0|root|root|5|1|2|3|1|9\n\
stat=81a4|0|0|root|root|5|1|2|3|1|9\nrealpath=/real/x\nlink=../real/x\n\
sha1=da39a3ee5e6b4b0d3255bfef95601890afd80709  -\ncontent\nhello\nlstat=no";
        let st = parse_query(out, &opts).unwrap();
        assert!(st.into_dir && st.parent_is_dir && st.is_link() && st.is_file());
        assert_eq!(st.link_target.as_deref(), Some("../real/x"));
        assert_eq!(st.realpath.as_deref(), Some("/real/x"));
        assert_eq!(
            st.sha1.as_deref(),
            Some("da39a3ee5e6b4b0d3255bfef95601890afd80709")
        );
        assert_eq!(st.content.as_deref(), Some(&b"hello\nlstat=no"[..]));

        let st = parse_query(b"absent\ncreator=bob|staff|0027\n", &opts).unwrap();
        assert!(!st.exists() && !st.parent_is_dir);
        let c = st.creator.unwrap();
        assert_eq!(
            (c.user.as_str(), c.umask, c.file_mode(), c.dir_mode()),
            ("bob", 0o027, 0o640, 0o750)
        );

        let st = parse_query(
            b"parent=dir\nlstat=81a4|0|0|r|r|5|1|2|3|1|9\ncontent\n0123456789ABCDEF",
            &opts,
        )
        .unwrap();
        assert!(st.too_large && st.content.is_none());
        assert!(parse_query(b"garbage\n", &opts).is_err());
    }

    #[test]
    fn attr_plans_compare_names_and_ids() {
        let cur = parse_stat_fields("81a4|0|0|root|root|5|1|2|3|1|9").unwrap();
        let want = Wanted {
            mode: Some(ModeArg::Symbolic("g+w".into())),
            owner: Some("0".into()),
            group: Some("nogroup".into()),
        };
        let p = plan_attrs("/f", Some(&cur), None, &want, false, None).unwrap();
        assert_eq!(p.mode, 0o664);
        assert_eq!(p.change.mode.as_deref(), Some("00664"));
        assert_eq!(p.change.owner, None);
        assert_eq!(p.change.group.as_deref(), Some("nogroup"));
        assert_eq!(p.diffs.len(), 2);
        let creator = Creator {
            user: "u".into(),
            group: "g".into(),
            umask: 0o077,
        };
        let p = plan_attrs("/f", None, Some(&creator), &Wanted::default(), false, None).unwrap();
        assert_eq!(
            (p.mode, p.owner.as_str(), p.group.as_str()),
            (0o600, "u", "g")
        );
        assert!(p.diffs.is_empty() && p.change.is_empty());
    }

    #[test]
    fn attr_script_orders_chown_before_chmod() {
        let c = AttrChange {
            mode: Some("00600".into()),
            owner: Some("nobody".into()),
            group: None,
            recurse: true,
            no_deref: false,
        };
        assert_eq!(
            attr_script("/a b", &c),
            "chown -R -h -- nobody '/a b' && chmod -R 00600 -- '/a b'"
        );
    }

    #[test]
    fn sha1_matches_sha1sum() {
        assert_eq!(sha1_hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    }

    /// Runs a writer script with the local `sh` (the target's shell), content on stdin.
    fn run_writer(spec: &WriteSpec<'_>, source: Source, stdin: &[u8]) -> std::process::Output {
        use std::io::Write as _;
        let script = write_script(spec, &source).expect("script builds");
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("sh runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin)
            .expect("write stdin");
        child.wait_with_output().expect("sh finishes")
    }

    fn mode_of(p: &std::path::Path) -> u32 {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(p).expect("stat").permissions().mode() & 0o7777
    }

    fn leftovers(dir: &std::path::Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".shipshape."))
            .collect()
    }

    #[test]
    fn writer_script_runs_modes_sizes_validate_backup() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("f");
        let dest = f.to_str().expect("utf-8");
        let spec = |attrs: &'static FileAttrs| WriteSpec {
            dest,
            attrs,
            backup: false,
            validate: None,
            create_parent: false,
        };
        static M640: FileAttrs = FileAttrs {
            mode: Some(0o640),
            owner: None,
            group: None,
        };
        static M755: FileAttrs = FileAttrs {
            mode: Some(0o755),
            owner: None,
            group: None,
        };
        static NONE: FileAttrs = FileAttrs {
            mode: None,
            owner: None,
            group: None,
        };
        // New file: the mode without a chmod, the content, no temp file left.
        let out = run_writer(&spec(&M640), Source::Stdin(b"one\n".to_vec()), b"one\n");
        assert!(out.status.success(), "{out:?}");
        assert_eq!(std::fs::read(&f).expect("read"), b"one\n");
        assert_eq!(mode_of(&f), 0o640);
        // Existing file, a mode with x bits.
        let out = run_writer(&spec(&M755), Source::Stdin(b"two\n".to_vec()), b"two\n");
        assert!(out.status.success(), "{out:?}");
        assert_eq!(mode_of(&f), 0o755);
        // No mode: the existing file's mode is kept.
        let out = run_writer(&spec(&NONE), Source::Stdin(b"three\n".to_vec()), b"three\n");
        assert!(out.status.success(), "{out:?}");
        assert_eq!(mode_of(&f), 0o755);
        assert_eq!(std::fs::read(&f).expect("read"), b"three\n");
        // A short stdin (a broken transfer) leaves the old file alone.
        let out = run_writer(&spec(&M640), Source::Stdin(b"four\n".to_vec()), b"fo");
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("writing"));
        assert_eq!(std::fs::read(&f).expect("read"), b"three\n");
        assert_eq!(mode_of(&f), 0o755);
        // Validation failure: untouched, exit code 3.
        let mut v = spec(&M640);
        v.validate = Some("grep -q ok %s");
        let out = run_writer(&v, Source::Stdin(b"bad\n".to_vec()), b"bad\n");
        assert_eq!(out.status.code(), Some(EXIT_VALIDATE));
        assert_eq!(std::fs::read(&f).expect("read"), b"three\n");
        // Backup of the old file, printed last.
        let mut b = spec(&M640);
        b.backup = true;
        let out = run_writer(&b, Source::Stdin(b"ok\n".to_vec()), b"ok\n");
        assert!(out.status.success(), "{out:?}");
        let backup = String::from_utf8_lossy(&out.stdout);
        let backup = backup
            .trim()
            .strip_prefix("backup_file=")
            .expect("backup line");
        assert_eq!(std::fs::read(backup).expect("backup"), b"three\n");
        assert_eq!(mode_of(&f), 0o640);
        // A taken temp name (even a dangling symlink) is skipped.
        let pidless = dir.path().join("g");
        let gdest = pidless.to_str().expect("utf-8");
        let mut g = spec(&NONE);
        g.dest = gdest;
        let script = write_script(&g, &Source::Stdin(b"x".to_vec())).expect("script");
        assert!(script.contains("set -C"));
        // Remote source, new file without mode: 0666 & ~umask.
        let out = run_writer(&g, Source::RemoteFile(dest.to_string()), b"");
        assert!(out.status.success(), "{out:?}");
        assert_eq!(std::fs::read(&pidless).expect("read"), b"ok\n");
        let umask = {
            let o = std::process::Command::new("sh")
                .args(["-c", "umask"])
                .output()
                .expect("umask");
            u32::from_str_radix(String::from_utf8_lossy(&o.stdout).trim(), 8).expect("octal")
        };
        assert_eq!(mode_of(&pidless), 0o666 & !umask);
        assert!(
            leftovers(dir.path()).is_empty(),
            "{:?}",
            leftovers(dir.path())
        );
    }

    #[test]
    fn writer_keeps_the_mode_whatever_the_hint_and_creates_its_temp_file_0600() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("f");
        std::fs::write(&f, "old\n").expect("write");
        std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .expect("chmod");
        let attrs = FileAttrs::default();
        let spec = WriteSpec {
            dest: f.to_str().expect("utf-8"),
            attrs: &attrs,
            backup: false,
            validate: None,
            create_parent: false,
        };
        for hint in [Some(0o644), Some(0o640), None] {
            let script =
                write_script_hinted(&spec, &Source::Stdin(b"x".to_vec()), hint).expect("script");
            assert!(script.contains("\nu=077\n"), "{script}");
        }
        for hint in [Some(0o644), Some(0o600), None] {
            let script =
                write_script_hinted(&spec, &Source::Stdin(b"new\n".to_vec()), hint).expect("s");
            let out = std::process::Command::new("sh")
                .args(["-c", &script])
                .stdin(std::fs::File::open("/dev/null").expect("null"))
                .output()
                .expect("sh");
            // Empty stdin: a short write, refused.
            assert!(!out.status.success());
            let mut child = std::process::Command::new("sh")
                .args(["-c", &script])
                .stdin(std::process::Stdio::piped())
                .spawn()
                .expect("sh");
            use std::io::Write as _;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(b"new\n")
                .expect("write");
            assert!(child.wait().expect("wait").success());
            assert_eq!(mode_of(&f), 0o644, "hint {hint:?}");
            assert_eq!(std::fs::read(&f).expect("read"), b"new\n");
        }
    }

    #[test]
    fn creator_from_one_id() {
        let c = parse_creator_id("0022|uid=0(root) gid=0(root) groups=0(root)").unwrap();
        assert_eq!(
            (c.user.as_str(), c.group.as_str(), c.umask),
            ("root", "root", 0o022)
        );
        let c = parse_creator_id(
            "0077|uid=1000(bob) gid=1000(bob) euid=0(root) egid=4(adm) groups=1000(bob)",
        )
        .unwrap();
        assert_eq!(
            (c.user.as_str(), c.group.as_str(), c.umask),
            ("root", "adm", 0o077)
        );
        let c = parse_creator_id("0002|uid=1234 gid=1234 groups=1234").unwrap();
        assert_eq!(c.user, "1234");
        let st = parse_query(
            b"parent=dir\nabsent\ncreator_id=0022|uid=0(root) gid=0(root) groups=0(root)\n",
            &QueryOpts::default(),
        )
        .unwrap();
        assert_eq!(st.creator.unwrap().group, "root");
    }
}
