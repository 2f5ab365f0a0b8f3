//! `nftables` (also `shipshape.nftables`; Ansible has no builtin one): puts a ruleset file in
//! place and loads it so that only the tables the ruleset declares are replaced, atomically,
//! in one nft transaction. It never flushes the whole ruleset, so tables it does not declare
//! (Docker's `ip nat`/`ip filter`, fail2ban's...) survive. It owns the ruleset scan, the file
//! it writes and the record of what it loaded; it must not touch any other table.

use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value;

use crate::core::{
    Diff, ExecOutput, ExecRequest, Module, ModuleError, ModuleSpec, ParamKind, ParamSpec, Plan,
    ResultMap, Sh, TaskCtx, quote,
};
use crate::modules::args::{Args, Rules};
use crate::modules::files::atomic::{
    self, ContentLimit, DIFF_LIMIT, FileAttrs, FileState, QueryOpts, Source, WriteSpec,
    part_separator, query_file_script, sha1_hex, split_parts,
};
use crate::modules::files::copy::{content_diff, finish_write};

/// The `nftables` module.
pub struct Nftables;

/// Parameters of `nftables`.
pub static SPEC: ModuleSpec = ModuleSpec {
    name: "nftables",
    doc: "Writes an nftables ruleset (validated with `nft -c` first) and loads it replacing only \
          the tables it declares, atomically; other tables (Docker's) are kept. Also callable \
          as shipshape.nftables. `flush ruleset` is rejected.",
    params: &[
        ParamSpec::new(
            "content",
            ParamKind::Str,
            "The ruleset text (usually from a template lookup).",
        ),
        ParamSpec::new(
            "src",
            ParamKind::Path,
            "A ruleset template on the controller (role templates/ first), rendered like `template`.",
        ),
        ParamSpec::new(
            "dest",
            ParamKind::Path,
            "The ruleset file to write (default /etc/nftables.conf).",
        )
        .aliases(&["path"]),
        ParamSpec::new(
            "apply",
            ParamKind::Bool,
            "Load the ruleset into the kernel (default yes); no: only write the file.",
        ),
        ParamSpec::new(
            "backup",
            ParamKind::Bool,
            "Keep a timestamped copy of the file being replaced.",
        ),
    ],
    free_form: false,
};

/// Argument rules of `nftables`: exactly one of content and src.
pub const RULES: Rules = Rules {
    exclusive: &[&["content", "src"]],
    one_of: &[&["content", "src"]],
};

/// The default ruleset file (what Debian's nftables.service loads at boot).
pub const DEFAULT_DEST: &str = "/etc/nftables.conf";

/// Where the record of each loaded ruleset is kept (one file per dest).
pub const STATE_DIR: &str = "/var/lib/shipshape/nftables";

/// The address families nft knows; a table without one is in `ip`.
const FAMILIES: &[&str] = &["ip", "ip6", "inet", "arp", "bridge", "netdev"];

/// Why `flush ruleset` is refused.
const FLUSH_MSG: &str = "the ruleset contains `flush ruleset`, which would also delete tables \
    this module does not manage (Docker's ip nat/ip filter, fail2ban's...). Remove it: the \
    module already replaces every table the ruleset declares atomically (it deletes and \
    recreates them in the same transaction)";

/// One table: its family and name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableRef {
    /// `ip`, `ip6`, `inet`, `arp`, `bridge` or `netdev`.
    pub family: String,
    /// The table's name.
    pub name: String,
}

impl TableRef {
    /// `inet filter`.
    pub fn label(&self) -> String {
        format!("{} {}", self.family, self.name)
    }
}

/// Splits ruleset text into its top-level statements (the words before a `{`, a `;` or the
/// end of a line, outside blocks), skipping comments and keeping quoted words whole.
pub fn top_level_statements(text: &str) -> Result<Vec<Vec<String>>, String> {
    let mut out = Vec::new();
    let mut stmt: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut depth = 0usize;
    let mut line = 1usize;
    let mut chars = text.chars().peekable();
    let end_word = |word: &mut String, stmt: &mut Vec<String>, depth: usize| {
        if !word.is_empty() {
            if depth == 0 {
                stmt.push(std::mem::take(word));
            } else {
                word.clear();
            }
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '#' => {
                end_word(&mut word, &mut stmt, depth);
                for n in chars.by_ref() {
                    if n == '\n' {
                        line += 1;
                        break;
                    }
                }
                if depth == 0 && !stmt.is_empty() {
                    out.push(std::mem::take(&mut stmt));
                }
            }
            '"' => {
                let mut closed = false;
                for n in chars.by_ref() {
                    if n == '"' {
                        closed = true;
                        break;
                    }
                    if n == '\n' {
                        line += 1;
                    }
                    word.push(n);
                }
                if !closed {
                    return Err(format!("unterminated string starting on line {line}"));
                }
            }
            '\\' if chars.peek() == Some(&'\n') => {
                chars.next();
                line += 1;
                end_word(&mut word, &mut stmt, depth);
            }
            '{' => {
                end_word(&mut word, &mut stmt, depth);
                if depth == 0 && !stmt.is_empty() {
                    out.push(std::mem::take(&mut stmt));
                }
                depth += 1;
            }
            '}' => {
                end_word(&mut word, &mut stmt, depth);
                if depth == 0 {
                    return Err(format!("unbalanced '}}' on line {line}"));
                }
                depth -= 1;
            }
            ';' | '\n' => {
                end_word(&mut word, &mut stmt, depth);
                if c == '\n' {
                    line += 1;
                }
                if depth == 0 && !stmt.is_empty() {
                    out.push(std::mem::take(&mut stmt));
                }
            }
            c if c.is_whitespace() => end_word(&mut word, &mut stmt, depth),
            c => word.push(c),
        }
    }
    end_word(&mut word, &mut stmt, depth);
    if depth != 0 {
        return Err(format!("{depth} unclosed '{{' at the end of the ruleset"));
    }
    if !stmt.is_empty() {
        out.push(stmt);
    }
    Ok(out)
}

/// A table named by the words after `table` (`inet filter`, or `filter` for family ip).
fn table_ref(words: &[String]) -> Result<TableRef, String> {
    let (family, name) = match words {
        [f, n, ..] if FAMILIES.contains(&f.as_str()) => (f.as_str(), n.as_str()),
        [n, ..] => ("ip", n.as_str()),
        [] => return Err("a table statement names no table".to_string()),
    };
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c));
    if !valid {
        return Err(format!(
            "table name {name:?} is not a plain nft identifier (variables are not supported in table names)"
        ));
    }
    Ok(TableRef {
        family: family.to_string(),
        name: name.to_string(),
    })
}

/// The tables a ruleset declares, in order. Fails on `flush ruleset`, on `include` (the
/// module must see every table it replaces) and on a top-level command that changes a table
/// the ruleset does not declare (it would pile up in that table on every load).
pub fn scan_ruleset(text: &str) -> Result<Vec<TableRef>, String> {
    let stmts = top_level_statements(text)?;
    let mut tables: Vec<TableRef> = Vec::new();
    let mut refs: Vec<(String, TableRef)> = Vec::new();
    for s in &stmts {
        let verb = s[0].as_str();
        let kind = s.get(1).map(String::as_str).unwrap_or("");
        match verb {
            "flush" if kind == "ruleset" => return Err(FLUSH_MSG.to_string()),
            "include" => {
                return Err(
                    "`include` is not supported: the module must see every table it replaces; \
                     render the included rules into the content instead"
                        .to_string(),
                );
            }
            "table" => {
                let t = table_ref(&s[1..])?;
                if !tables.contains(&t) {
                    tables.push(t);
                }
            }
            "add" | "create" if kind == "table" => {
                let t = table_ref(&s[2..])?;
                if !tables.contains(&t) {
                    tables.push(t);
                }
            }
            "add" | "create" | "insert" | "replace" | "delete" | "destroy" | "flush" | "reset" => {
                // `add ct helper FAMILY TABLE NAME`: one more word before the table.
                let skip = if kind == "ct" { 3 } else { 2 };
                let t = table_ref(s.get(skip..).unwrap_or_default())?;
                refs.push((s.join(" "), t));
            }
            _ => {}
        }
    }
    for (stmt, t) in refs {
        if !tables.contains(&t) {
            return Err(format!(
                "`{stmt}` changes table {} which the ruleset does not declare; declare it with \
                 `table {} {{ ... }}` so that it is replaced as a whole",
                t.label(),
                t.label()
            ));
        }
    }
    if tables.is_empty() {
        return Err("the ruleset declares no table (`table FAMILY NAME { ... }`)".to_string());
    }
    Ok(tables)
}

/// The ruleset file as written: a header, then for every declared table `table F N {}` and
/// `delete table F N` (so one `nft -f` replaces exactly those tables, even at boot when they
/// do not exist yet), then the content without its `#!` line.
pub struct Composed {
    /// The file's text.
    pub text: String,
    /// How many lines come before the first line of the content's body.
    pub header_lines: usize,
    /// The content line number of the body's first line (2 when a `#!` line was dropped).
    pub first_content_line: usize,
}

/// Builds the file for `content` declaring `tables`.
pub fn compose(content: &str, tables: &[TableRef]) -> Composed {
    let mut text = String::from(
        "#!/usr/sbin/nft -f\n\
         # Managed by shipshape (nftables module). Loading this file replaces only the tables\n\
         # declared below, in one transaction; every other table (Docker's...) is kept.\n",
    );
    for t in tables {
        let l = t.label();
        text.push_str(&format!("table {l} {{}}\ndelete table {l}\n"));
    }
    text.push_str("# ---- ruleset ----\n");
    let header_lines = text.lines().count();
    let (body, first_content_line) = match content.strip_prefix("#!") {
        Some(rest) => (rest.split_once('\n').map(|(_, b)| b).unwrap_or(""), 2),
        None => (content, 1),
    };
    text.push_str(body);
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Composed {
        text,
        header_lines,
        first_content_line,
    }
}

/// nft's error text with the temp file's `PATH:LINE:` locations turned into lines of the
/// task's content (`ruleset line N:`), so the message points at the user's text.
pub fn rewrite_nft_errors(out: &str, tmp: &str, c: &Composed) -> String {
    if tmp.is_empty() {
        return out.to_string();
    }
    let re = Regex::new(&format!(r"{}:(\d+):", regex::escape(tmp))).expect("escaped path");
    re.replace_all(out, |caps: &regex::Captures<'_>| {
        let n: usize = caps[1].parse().unwrap_or(0);
        if n > c.header_lines {
            format!(
                "ruleset line {}:",
                n - c.header_lines + c.first_content_line - 1
            )
        } else {
            format!("shipshape header line {n}:")
        }
    })
    .into_owned()
}

/// A table listing with what changes by itself removed (counter and quota values, set
/// element timeouts), blank lines and trailing spaces dropped.
pub fn normalize_listing(text: &str) -> String {
    static RES: OnceLock<[Regex; 3]> = OnceLock::new();
    let res = RES.get_or_init(|| {
        [
            Regex::new(r"packets \d+ bytes \d+").expect("static regex"),
            Regex::new(r" used \d+ [a-z]*bytes").expect("static regex"),
            Regex::new(r" expires [0-9dhms]+").expect("static regex"),
        ]
    });
    let mut out = String::new();
    for line in text.lines() {
        let l = res[0].replace_all(line, "packets 0 bytes 0");
        let l = res[1].replace_all(&l, "");
        let l = res[2].replace_all(&l, "");
        let l = l.trim_end();
        if !l.is_empty() {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

/// The shell lines that print the live listing of `tables` (a `# missing table` line for a
/// table that is not loaded).
pub fn list_tables_script(tables: &[TableRef]) -> String {
    tables
        .iter()
        .map(|t| {
            format!(
                "{} 2>/dev/null || echo {}\n",
                Sh::new("nft")
                    .arg("list")
                    .arg("table")
                    .arg(&t.family)
                    .arg(&t.name)
                    .build(),
                quote(&format!("# missing table {}", t.label()))
            )
        })
        .collect()
}

/// The record file of `dest` under [`STATE_DIR`].
pub fn state_path(dest: &str) -> String {
    format!(
        "{STATE_DIR}/{}.applied",
        dest.trim_start_matches('/').replace('/', "_")
    )
}

/// The first line of a record: the SHA-256 of the file that was loaded.
fn record_header(sha: &str) -> String {
    format!("# shipshape nftables sha256={sha}")
}

/// The SHA-256 of bytes as lowercase hex.
fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// The one read-only query: validation of the new file (fed on stdin) with `nft -c`, the live
/// listing of the tables, the record of the last load, and the state of dest.
pub fn query_script(dest: &str, tables: &[TableRef]) -> String {
    let mut s = String::new();
    s.push_str(
        "(\nif ! command -v nft >/dev/null 2>&1; then echo nft=missing; cat >/dev/null; exit 0; fi\n\
         t=$(mktemp) || exit 1\ntrap 'rm -f -- \"$t\"' EXIT\ncat > \"$t\" || exit 1\n\
         printf 'tmp=%s\\n' \"$t\"\n\
         if out=$(nft -c -f \"$t\" 2>&1); then echo valid; else echo invalid; printf '%s\\n' \"$out\"; fi\n)\n",
    );
    s.push_str(&part_separator());
    s.push_str("(\n");
    s.push_str(&list_tables_script(tables));
    s.push_str("exit 0\n)\n");
    s.push_str(&part_separator());
    s.push_str(&format!(
        "(\ns={}\nif [ -f \"$s\" ]; then cat -- \"$s\"; fi\nexit 0\n)\n",
        quote(&state_path(dest))
    ));
    s.push_str(&part_separator());
    s.push_str("(\n");
    s.push_str(&query_file_script(dest, &dest_opts()));
    s.push_str(")\n");
    s
}

fn dest_opts() -> QueryOpts {
    QueryOpts {
        sha1: true,
        content: ContentLimit::UpTo(DIFF_LIMIT),
        dir_child: None,
    }
}

/// What `nft -c` said about the new file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Validation {
    /// nft is not installed.
    NftMissing,
    /// The ruleset loads.
    Valid,
    /// nft refused it, with its message (temp file locations still raw) and the temp path.
    Invalid {
        /// nft's output.
        message: String,
        /// The temp file nft read.
        tmp: String,
    },
}

/// Everything the query found.
#[derive(Clone, Debug)]
pub struct NftState {
    /// The validation of the new file.
    pub validation: Validation,
    /// The live listing of the managed tables.
    pub live: String,
    /// The record of the last load: its SHA-256 and the listing taken right after it.
    pub record: Option<(String, String)>,
    /// The state of dest.
    pub dest: FileState,
}

/// Parses the output of [`query_script`].
pub fn parse_state(stdout: &[u8]) -> Result<NftState, String> {
    let parts = split_parts(stdout, 4)?;
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let v = text(parts[0]);
    let mut tmp = String::new();
    let mut validation = None;
    let mut rest = Vec::new();
    for line in v.lines() {
        if validation.is_some() {
            rest.push(line);
            continue;
        }
        if let Some(t) = line.strip_prefix("tmp=") {
            tmp = t.to_string();
        } else if line == "nft=missing" {
            validation = Some(Validation::NftMissing);
        } else if line == "valid" {
            validation = Some(Validation::Valid);
        } else if line == "invalid" {
            validation = Some(Validation::Invalid {
                message: String::new(),
                tmp: String::new(),
            });
        } else {
            return Err(format!("unexpected validation output {line:?}"));
        }
    }
    let validation = match validation {
        Some(Validation::Invalid { .. }) => Validation::Invalid {
            message: rest.join("\n").trim().to_string(),
            tmp,
        },
        Some(v) => v,
        None => return Err("the validation printed nothing".to_string()),
    };
    let record_text = text(parts[2]);
    let record = match record_text.split_once('\n') {
        Some((head, body)) => head
            .strip_prefix("# shipshape nftables sha256=")
            .map(|sha| (sha.trim().to_string(), body.to_string())),
        None => None,
    };
    Ok(NftState {
        validation,
        live: text(parts[1]),
        record,
        dest: atomic::parse_query(parts[3], &dest_opts())?,
    })
}

/// What must change, and why.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    /// The file must be written.
    pub write: bool,
    /// The ruleset must be loaded.
    pub load: bool,
    /// Why, in words.
    pub reasons: Vec<String>,
}

/// Decides from the query whether to write dest and whether to load it. The live tables
/// count as loaded from this file when the record of the last load names this file's hash
/// and its listing still equals the live one (counters aside).
pub fn decide(st: &NftState, composed: &str, apply: bool) -> Decision {
    let mut d = Decision::default();
    let same_file = st.dest.is_file()
        && st.dest.sha1.as_deref() == Some(sha1_hex(composed.as_bytes()).as_str());
    if !same_file {
        d.write = true;
        d.reasons.push(if st.dest.exists() {
            "the ruleset file differs".to_string()
        } else {
            "the ruleset file is missing".to_string()
        });
    }
    if !apply {
        return d;
    }
    let want_sha = sha256_hex(composed.as_bytes());
    match &st.record {
        None => {
            d.load = true;
            d.reasons
                .push("no record of this ruleset being loaded by shipshape".to_string());
        }
        Some((sha, _)) if *sha != want_sha => {
            d.load = true;
            if same_file {
                d.reasons
                    .push("the loaded ruleset is not the one in the file".to_string());
            }
        }
        Some((_, listing)) => {
            if normalize_listing(listing) != normalize_listing(&st.live) {
                d.load = true;
                d.reasons.push(
                    "the live tables differ from what was loaded (changed or flushed since)"
                        .to_string(),
                );
            }
        }
    }
    if d.write {
        d.load = true;
    }
    d
}

/// The step script loading dest and recording the live listing of its tables.
pub fn load_script(dest: &str, tables: &[TableRef], sha: &str) -> String {
    let state = state_path(dest);
    format!(
        "{} || exit 1\n{} || exit 1\ns={}\n{{ echo {}\n{}}} > \"$s.tmp\" && mv -f -- \"$s.tmp\" \"$s\"\n",
        Sh::new("nft").arg("-f").arg(dest).build(),
        Sh::new("mkdir").arg("-p").arg("--").arg(STATE_DIR).build(),
        quote(&state),
        quote(&record_header(sha)),
        list_tables_script(tables)
    )
}

#[async_trait::async_trait]
impl Module for Nftables {
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }

    async fn plan(&self, ctx: &TaskCtx<'_>, args: &ResultMap) -> Result<Plan, ModuleError> {
        let a = Args::parse(&SPEC, args)?;
        let dest = a.str("dest")?.unwrap_or_else(|| DEFAULT_DEST.to_string());
        let content = match (a.str("content")?, a.str("src")?) {
            (Some(c), _) => c,
            (None, Some(src)) => {
                let local = ctx.controller.find_file("templates", &src)?;
                ctx.controller.render_template(&local)?
            }
            (None, None) => {
                return Err(ModuleError::Args(
                    "nftables: one of these parameters is required: content, src".to_string(),
                ));
            }
        };
        let apply = a.bool("apply", true)?;
        let backup = a.bool("backup", false)?;
        let tables = scan_ruleset(&content)
            .map_err(|e| ModuleError::Args(format!("nftables: parameter 'content': {e}")))?;
        let composed = compose(&content, &tables);
        let req = ExecRequest::new(query_script(&dest, &tables)).stdin(composed.text.clone());
        let out = ctx.query_with(req).await?;
        if !out.success() {
            return Err(ModuleError::failed(format!(
                "nftables: cannot inspect the host: {}",
                out.stderr_str().trim()
            )));
        }
        let st =
            parse_state(&out.stdout).map_err(|e| ModuleError::failed(format!("nftables: {e}")))?;
        match &st.validation {
            Validation::Valid => {}
            Validation::NftMissing => {
                return Err(ModuleError::failed(
                    "nftables: nft is not installed on the host (install the nftables package)",
                ));
            }
            Validation::Invalid { message, tmp } => {
                return Err(ModuleError::failed(format!(
                    "nftables: the ruleset is invalid (nft -c -f refused it); {dest} and the live \
                     ruleset are left untouched:\n{}",
                    rewrite_nft_errors(message, tmp, &composed)
                )));
            }
        }
        if st.dest.is_dir() {
            return Err(ModuleError::failed(format!(
                "nftables: {dest} is a directory"
            )));
        }
        if !st.dest.parent_is_dir {
            return Err(ModuleError::failed(format!(
                "nftables: destination directory {} does not exist",
                atomic::parent_dir(&dest)
            )));
        }
        let d = decide(&st, &composed.text, apply);
        let mut result = ResultMap::new();
        result.insert("dest".into(), dest.clone().into());
        result.insert(
            "tables".into(),
            Value::Array(tables.iter().map(|t| t.label().into()).collect()),
        );
        result.insert("applied".into(), (apply && d.load).into());
        if !d.write && !d.load {
            result.insert(
                "msg".into(),
                "ruleset file and live tables up to date".into(),
            );
            return Ok(Plan::Unchanged { result });
        }
        result.insert("reason".into(), d.reasons.join("; ").into());
        let mut diff = Vec::new();
        let mut steps = Vec::new();
        let bytes = composed.text.as_bytes();
        if d.write {
            diff.push(content_diff(&dest, &st.dest, bytes, &sha1_hex(bytes)));
            let attrs = FileAttrs::default();
            let spec = WriteSpec {
                dest: &dest,
                attrs: &attrs,
                backup,
                validate: Some("nft -c -f %s"),
                create_parent: false,
            };
            steps.push(atomic::write_step(
                ctx,
                &spec,
                Source::Stdin(bytes.to_vec()),
            )?);
        }
        if d.load {
            let labels: Vec<String> = tables.iter().map(TableRef::label).collect();
            let after = match &st.record {
                Some((sha, listing)) if !d.write && *sha == sha256_hex(bytes) => {
                    normalize_listing(listing)
                }
                _ => composed.text.clone(),
            };
            diff.push(Diff {
                before_header: format!("live tables: {}", labels.join(", ")),
                after_header: format!("loaded from {dest}"),
                before: normalize_listing(&st.live),
                after,
            });
            steps.push(ctx.step(
                format!("load {dest} (replaces tables {})", labels.join(", ")),
                load_script(&dest, &tables, &sha256_hex(bytes)),
            ));
        }
        Ok(Plan::Change {
            diff,
            steps,
            result,
        })
    }

    fn finish(&self, result: &mut ResultMap, outputs: &[ExecOutput]) -> Result<(), ModuleError> {
        finish_write(result, outputs, "backup_file")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the query prints between parts.
    const SEP: &str = "==shipshape-next== 0\n";

    const RULESET: &str = r#"#!/usr/sbin/nft -f
define web_client = 10.213.0.12

table inet filter {
  chain input {
    type filter hook input priority 0; policy drop;
    ct state established,related accept  # replies
    iif "lo" accept
    tcp dport 22 accept
    ip saddr $web_client tcp dport 80 accept
  }
}
table ip6 "nat" { }
add rule inet filter input counter
"#;

    fn t(f: &str, n: &str) -> TableRef {
        TableRef {
            family: f.into(),
            name: n.into(),
        }
    }

    #[test]
    fn scans_declared_tables() {
        assert_eq!(
            scan_ruleset(RULESET).unwrap(),
            vec![t("inet", "filter"), t("ip6", "nat")]
        );
        assert_eq!(
            scan_ruleset("table filter {\n}\nadd table bridge br; table ip filter { }").unwrap(),
            vec![t("ip", "filter"), t("bridge", "br")]
        );
        // Words inside blocks and comments never count as declarations.
        assert_eq!(
            scan_ruleset("table inet f { chain c { } # table ip x {\n}\n").unwrap(),
            vec![t("inet", "f")]
        );
    }

    #[test]
    fn refuses_what_would_touch_other_tables() {
        let e = scan_ruleset("flush ruleset\ntable inet filter { }\n").unwrap_err();
        assert!(e.contains("flush ruleset") && e.contains("Docker"), "{e}");
        let e = scan_ruleset("table inet f {}; flush ruleset").unwrap_err();
        assert!(e.contains("flush ruleset"), "{e}");
        let e = scan_ruleset("table inet f {}\nadd rule ip filter INPUT accept\n").unwrap_err();
        assert!(
            e.contains("table ip filter which the ruleset does not declare"),
            "{e}"
        );
        let e = scan_ruleset("include \"/etc/nft.d/*.nft\"\n").unwrap_err();
        assert!(e.contains("include"), "{e}");
        assert!(
            scan_ruleset("define x = 1\n")
                .unwrap_err()
                .contains("no table")
        );
        assert!(
            scan_ruleset("table inet f {\n")
                .unwrap_err()
                .contains("unclosed")
        );
        assert!(scan_ruleset("}\n").unwrap_err().contains("unbalanced"));
        assert!(
            scan_ruleset("table inet $t {}")
                .unwrap_err()
                .contains("identifier")
        );
        assert!(scan_ruleset("table inet f { comment \"x").is_err());
        // flush of a declared table is fine.
        assert!(scan_ruleset("table inet f {}\nflush table inet f\n").is_ok());
    }

    #[test]
    fn composes_a_file_that_replaces_only_its_tables() {
        let tables = scan_ruleset(RULESET).unwrap();
        let c = compose(RULESET, &tables);
        assert!(c.text.starts_with("#!/usr/sbin/nft -f\n"));
        assert!(c.text.contains(
            "table inet filter {}\ndelete table inet filter\ntable ip6 nat {}\ndelete table ip6 nat\n"
        ));
        assert!(!c.text.contains("flush"));
        assert_eq!(c.text.matches("#!/usr/sbin/nft").count(), 1);
        assert!(c.text.ends_with("add rule inet filter input counter\n"));
        assert_eq!(c.first_content_line, 2);
        let body_start = c
            .text
            .lines()
            .position(|l| l.starts_with("define"))
            .unwrap();
        assert_eq!(body_start, c.header_lines);
        // nft reports the composed file's line 13 -> the content's line 3 (define is line 2).
        let msg = format!(
            "/tmp/tmp.Ab:{}:5-9: Error: syntax error\n/tmp/tmp.Ab:2:1: x",
            c.header_lines + 2
        );
        let r = rewrite_nft_errors(&msg, "/tmp/tmp.Ab", &c);
        assert!(r.starts_with("ruleset line 3:5-9: Error"), "{r}");
        assert!(r.contains("shipshape header line 2:"), "{r}");
        let plain = compose("table ip x {}", &[t("ip", "x")]);
        assert_eq!(plain.first_content_line, 1);
        assert!(plain.text.ends_with("table ip x {}\n"));
    }

    const LISTING: &str = "table inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n\t\tct state established,related accept\n\t\ttcp dport 22 counter packets 12 bytes 720 accept\n\t}\n\tset seen {\n\t\ttype ipv4_addr\n\t\tflags timeout\n\t\telements = { 10.0.0.1 timeout 1m expires 48s }\n\t}\n}\n";

    #[test]
    fn listings_compare_without_counters() {
        let later = LISTING
            .replace("packets 12 bytes 720", "packets 99 bytes 5940")
            .replace("expires 48s", "expires 2s");
        assert_eq!(normalize_listing(LISTING), normalize_listing(&later));
        let changed = LISTING.replace("dport 22", "dport 2222");
        assert_ne!(normalize_listing(LISTING), normalize_listing(&changed));
    }

    fn state(record: Option<(&str, &str)>, live: &str, dest: Option<&str>) -> NftState {
        let mut out = String::from("tmp=/tmp/x\nvalid\n");
        out.push_str(SEP);
        out.push_str(live);
        out.push_str(SEP);
        if let Some((sha, l)) = record {
            out.push_str(&format!("{}\n{l}", record_header(sha)));
        }
        out.push_str(SEP);
        out.push_str("parent=dir\n");
        match dest {
            Some(text) => {
                out.push_str(&format!(
                    "lstat=81a4|0|0|root|root|{}|1|2|3|1|4\nsha1={}  -\ncontent\n{text}",
                    text.len(),
                    sha1_hex(text.as_bytes())
                ));
            }
            None => out.push_str("absent\ncreator=root|root|0022\n"),
        }
        parse_state(out.as_bytes()).unwrap()
    }

    #[test]
    fn decides_from_file_record_and_live_tables() {
        let file = "table inet filter {}\n";
        let sha = sha256_hex(file.as_bytes());
        // Up to date: same file, record of this file, live equals record (counters moved).
        let live = LISTING.replace("packets 12", "packets 13");
        let d = decide(&state(Some((&sha, LISTING)), &live, Some(file)), file, true);
        assert_eq!(d, Decision::default());
        // New host: no file, no record.
        let d = decide(
            &state(None, "# missing table inet filter\n", None),
            file,
            true,
        );
        assert!(d.write && d.load, "{d:?}");
        assert!(d.reasons[0].contains("missing"));
        // apply: no -> only the file counts.
        let d = decide(&state(None, "", Some(file)), file, false);
        assert_eq!(d, Decision::default());
        // Someone flushed the table: reload only.
        let d = decide(
            &state(
                Some((&sha, LISTING)),
                "# missing table inet filter\n",
                Some(file),
            ),
            file,
            true,
        );
        assert!(!d.write && d.load, "{d:?}");
        assert!(d.reasons[0].contains("live tables differ"), "{d:?}");
        // The file was edited by hand: rewrite and reload.
        let d = decide(
            &state(Some((&sha, LISTING)), LISTING, Some("x\n")),
            file,
            true,
        );
        assert!(d.write && d.load);
        // No record although the file matches (loaded by something else): reload.
        let d = decide(&state(None, LISTING, Some(file)), file, true);
        assert!(!d.write && d.load);
    }

    #[test]
    fn parses_validation_failures_and_missing_nft() {
        let mut out = String::from("tmp=/tmp/tmp.Q\ninvalid\n/tmp/tmp.Q:9:1-3: Error: bad\n\n");
        for _ in 0..3 {
            out.push_str(SEP);
        }
        out.push_str("parent=dir\nabsent\ncreator=root|root|0022\n");
        let st = parse_state(out.as_bytes()).unwrap();
        assert_eq!(
            st.validation,
            Validation::Invalid {
                message: "/tmp/tmp.Q:9:1-3: Error: bad".into(),
                tmp: "/tmp/tmp.Q".into()
            }
        );
        assert!(st.record.is_none());
        let out = out.replace(
            "tmp=/tmp/tmp.Q\ninvalid\n/tmp/tmp.Q:9:1-3: Error: bad\n",
            "nft=missing\n",
        );
        assert_eq!(
            parse_state(out.as_bytes()).unwrap().validation,
            Validation::NftMissing
        );
        assert!(parse_state(b"garbage").is_err());
    }

    #[test]
    fn scripts_quote_and_record() {
        let tables = vec![t("inet", "filter")];
        let s = load_script("/etc/my rules.conf", &tables, "abc");
        assert!(
            s.starts_with("nft -f '/etc/my rules.conf' || exit 1\n"),
            "{s}"
        );
        assert!(s.contains(
            "nft list table inet filter 2>/dev/null || echo '# missing table inet filter'"
        ));
        assert!(s.contains("'# shipshape nftables sha256=abc'"));
        assert_eq!(
            state_path("/etc/nftables.conf"),
            "/var/lib/shipshape/nftables/etc_nftables.conf.applied"
        );
        let q = query_script("/etc/nftables.conf", &tables);
        assert!(q.contains("nft -c -f \"$t\""));
        assert!(!q.contains("nft -f"));
    }
}
