//! The MySQL/MariaDB modules (collection `community.mysql`) and their shared client: it runs
//! the target's `mysql` client in batch mode with credentials in a 0600 option file that a
//! trap removes on every path; secrets travel on stdin, never on a command line.

pub mod mysql_db;
pub mod mysql_replication;
pub mod mysql_user;

use crate::core::{ExecRequest, ModuleError, ResultMap, Secret, Step, TaskCtx, quote};
use crate::modules::args::Args;

/// The full parameter list of a MySQL module: its own parameters followed by the connection
/// parameters every `community.mysql` module accepts.
macro_rules! mysql_params {
    ($($p:expr),* $(,)?) => {
        &[
            $($p,)*
            ParamSpec::new("login_user", ParamKind::Str, "The user to connect as (default: the config file's or the OS user).")
                .aliases(&["login_username"]),
            ParamSpec::new("login_password", ParamKind::Str, "The password to connect with; never shown."),
            ParamSpec::new("login_host", ParamKind::Str, "The host to connect to (default localhost, the unix socket)."),
            ParamSpec::new("login_port", ParamKind::Int, "The TCP port to connect to (default 3306)."),
            ParamSpec::new("login_unix_socket", ParamKind::Str, "The unix socket to connect through."),
            ParamSpec::new("config_file", ParamKind::Path, "The client option file read when it exists (default ~/.my.cnf)."),
            ParamSpec::new("connect_timeout", ParamKind::Int, "Seconds to wait for the connection (default 30)."),
        ]
    };
}
pub(crate) use mysql_params;

/// The line that ends the option file on the client's stdin; the SQL follows it.
const END_OF_OPTIONS: &str = "--shipshape-end-of-options--";

/// The marker result that starts each query's output.
const SECTION: &str = "__shipshape_section__";

/// How to reach the server: the `login_*` parameters and the option file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Conn {
    /// `login_user`.
    pub user: Option<String>,
    /// `login_password`.
    pub password: Option<Secret>,
    /// `login_host`.
    pub host: Option<String>,
    /// `login_port`.
    pub port: Option<i64>,
    /// `login_unix_socket`.
    pub socket: Option<String>,
    /// `config_file` as given (`~/` is the target user's home).
    pub config_file: String,
    /// `connect_timeout` in seconds.
    pub connect_timeout: i64,
}

impl Conn {
    /// The connection parameters of a task.
    pub fn from_args(a: &Args<'_>) -> Result<Conn, ModuleError> {
        Ok(Conn {
            user: a.str("login_user")?,
            password: a.str("login_password")?.map(Secret::new),
            host: a.str("login_host")?,
            port: a.int("login_port")?,
            socket: a.str("login_unix_socket")?,
            config_file: a
                .str("config_file")?
                .unwrap_or_else(|| "~/.my.cnf".to_string()),
            connect_timeout: a.int("connect_timeout")?.unwrap_or(30),
        })
    }

    /// The `[client]` lines this connection adds after the config file (secrets included:
    /// they only ever travel on stdin).
    pub fn option_lines(&self) -> String {
        let mut s = String::from("[client]\n");
        let mut put = |k: &str, v: &str| s.push_str(&format!("{k}={}\n", option_value(v)));
        if let Some(u) = &self.user {
            put("user", u);
        }
        if let Some(p) = &self.password {
            put("password", p.expose());
        }
        if let Some(h) = &self.host {
            put("host", h);
        }
        if let Some(p) = self.port {
            put("port", &p.to_string());
        }
        if let Some(sock) = &self.socket {
            put("socket", sock);
        }
        s
    }

    /// The shell script that runs the client on `stdin` (option lines, end marker, SQL).
    pub fn script(&self) -> String {
        let cfg = match self.config_file.strip_prefix("~/") {
            Some(rest) => format!("\"$HOME\"/{}", quote(rest)),
            None => quote(&self.config_file),
        };
        format!(
            "umask 077\n\
             if command -v mysql >/dev/null 2>&1; then m=mysql\n\
             elif command -v mariadb >/dev/null 2>&1; then m=mariadb\n\
             else echo 'the mysql client is not installed on the target' >&2; exit 127; fi\n\
             d=$(mktemp -d) || exit 1\n\
             trap 'rm -rf \"$d\"' EXIT\n\
             trap 'exit 129' HUP INT TERM PIPE\n\
             cfg={cfg}\n\
             if [ -f \"$cfg\" ]; then printf '!include %s\\n' \"$cfg\"; fi > \"$d/my.cnf\" || exit 1\n\
             while IFS= read -r l; do [ \"$l\" = {end} ] && break; printf '%s\\n' \"$l\"; done >> \"$d/my.cnf\" || exit 1\n\
             \"$m\" --defaults-file=\"$d/my.cnf\" --connect-timeout={timeout} -B\n",
            end = quote(END_OF_OPTIONS),
            timeout = self.connect_timeout.max(1),
        )
    }

    /// A request that runs `sql` with this connection.
    pub fn request(&self, sql: &str) -> ExecRequest {
        let stdin = format!("{}{END_OF_OPTIONS}\n{sql}", self.option_lines());
        ExecRequest::new(self.script()).stdin(stdin)
    }

    /// The secrets to keep out of messages.
    pub fn secrets(&self) -> Vec<String> {
        self.password
            .iter()
            .map(|p| p.expose().to_string())
            .collect()
    }
}

/// A value of an option file line: double-quoted with the escapes the client reads back.
pub fn option_value(v: &str) -> String {
    let mut s = String::from("\"");
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

/// An SQL identifier in backticks (embedded backticks doubled).
pub fn quote_ident(s: &str) -> String {
    format!("`{}`", s.replace('`', "``"))
}

/// An SQL string literal, safe with and without `NO_BACKSLASH_ESCAPES` for every character
/// but the backslash, which is escaped for the default mode.
pub fn quote_str(s: &str) -> String {
    let mut out = String::from("'");
    for c in s.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\x1a' => out.push_str("\\Z"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// `'user'@'host'`, as account names are written in SQL.
pub fn account(user: &str, host: &str) -> String {
    format!("{}@{}", quote_str(user), quote_str(host))
}

/// One query's result: its name, column names and rows (`None` for SQL NULL).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Section {
    /// The name the query was given.
    pub name: String,
    /// Column names (empty when the query returned no row).
    pub columns: Vec<String>,
    /// Rows of values.
    pub rows: Vec<Vec<Option<String>>>,
}

impl Section {
    /// The rows as column-name maps.
    pub fn records(&self) -> Vec<Vec<(&str, Option<&str>)>> {
        self.rows
            .iter()
            .map(|r| {
                self.columns
                    .iter()
                    .map(String::as_str)
                    .zip(r.iter().map(|v| v.as_deref()))
                    .collect()
            })
            .collect()
    }

    /// The first value of every row.
    pub fn first_column(&self) -> Vec<String> {
        self.rows
            .iter()
            .filter_map(|r| r.first().cloned().flatten())
            .collect()
    }
}

/// The SQL of several named queries, each preceded by a marker so their outputs can be told
/// apart (a query without rows prints nothing in batch mode).
pub fn batch_sql(queries: &[(&str, String)]) -> String {
    let mut sql = String::new();
    for (name, q) in queries {
        sql.push_str(&format!(
            "SELECT {} AS {};\n{};\n",
            quote_str(name),
            quote_ident(SECTION),
            q.trim_end().trim_end_matches(';')
        ));
    }
    sql
}

/// Undoes the batch mode escapes of one value; `NULL` is `None`.
pub fn unescape_value(v: &str) -> Option<String> {
    if v == "NULL" {
        return None;
    }
    let mut out = String::with_capacity(v.len());
    let mut it = v.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('0') => out.push('\0'),
            Some('\\') => out.push('\\'),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    Some(out)
}

/// Splits the batch output of [`batch_sql`] into its sections.
pub fn parse_sections(out: &str) -> Result<Vec<Section>, String> {
    let mut sections: Vec<Section> = Vec::new();
    let mut lines = out.lines().peekable();
    while let Some(line) = lines.next() {
        if line == SECTION {
            let name = lines
                .next()
                .ok_or_else(|| "truncated client output".to_string())?;
            sections.push(Section {
                name: name.to_string(),
                ..Default::default()
            });
            if let Some(next) = lines.peek()
                && *next != SECTION
            {
                let header = lines.next().unwrap_or_default();
                if let Some(s) = sections.last_mut() {
                    s.columns = header.split('\t').map(str::to_string).collect();
                }
            }
            continue;
        }
        let Some(s) = sections.last_mut() else {
            return Err(format!("unexpected client output {line:?}"));
        };
        s.rows
            .push(line.split('\t').map(unescape_value).collect::<Vec<_>>());
    }
    Ok(sections)
}

/// The section named `name`, empty when it is missing.
pub fn section<'a>(sections: &'a [Section], name: &str) -> &'a Section {
    static EMPTY: Section = Section {
        name: String::new(),
        columns: Vec::new(),
        rows: Vec::new(),
    };
    sections.iter().find(|s| s.name == name).unwrap_or(&EMPTY)
}

/// Replaces every secret in `msg` and cuts the echo of SQL text in syntax errors.
pub fn redact(msg: &str, secrets: &[String]) -> String {
    let mut m = msg.to_string();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        m = m.replace(s.as_str(), "********");
    }
    m.lines()
        .map(|l| match l.find(" near '") {
            Some(i) => format!("{} near (SQL text hidden)", &l[..i]),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs read-only `queries` on the server and returns their sections.
pub async fn run_queries(
    ctx: &TaskCtx<'_>,
    conn: &Conn,
    module: &str,
    queries: &[(&str, String)],
) -> Result<Vec<Section>, ModuleError> {
    let out = ctx.query_with(conn.request(&batch_sql(queries))).await?;
    if !out.success() {
        return Err(ModuleError::failed(format!(
            "{module}: unable to query the server (rc={}): {}",
            out.status,
            redact(out.stderr_str().trim(), &conn.secrets())
        )));
    }
    parse_sections(&out.stdout_str()).map_err(|e| ModuleError::failed(format!("{module}: {e}")))
}

/// A step that runs `sql` (changes) on the server; `describe` must hold no secret.
pub fn sql_step(ctx: &TaskCtx<'_>, conn: &Conn, describe: &str, sql: &str) -> Step {
    ctx.step_with(describe.to_string(), conn.request(sql))
}

/// The failure of an applied step, with secrets and SQL echoes removed.
pub fn step_failure(module: &str, outputs: &[crate::core::ExecOutput]) -> Result<(), ModuleError> {
    match outputs.iter().find(|o| !o.success()) {
        Some(o) => Err(ModuleError::Failed {
            msg: format!(
                "{module}: the server refused the change (rc={}): {}",
                o.status,
                redact(o.stderr_str().trim(), &[])
            ),
            result: ResultMap::new(),
        }),
        None => Ok(()),
    }
}

/// Whether the server is MariaDB, from `SELECT VERSION()`.
pub fn is_mariadb(version: &str) -> bool {
    version.to_ascii_lowercase().contains("mariadb")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_sql_and_option_values() {
        assert_eq!(quote_ident("we`ird"), "`we``ird`");
        assert_eq!(quote_str("it's a\\b\n"), "'it''s a\\\\b\\n'");
        assert_eq!(account("app", "%"), "'app'@'%'");
        assert_eq!(option_value("a\"b#c\\d e'f"), "\"a\\\"b#c\\\\d e'f\"");
    }

    #[test]
    fn the_password_is_never_in_the_script() {
        let conn = Conn {
            user: Some("app".into()),
            password: Some(Secret::new("s3cret pw")),
            config_file: "~/.my.cnf".into(),
            connect_timeout: 30,
            ..Default::default()
        };
        let req = conn.request("SELECT 1;");
        assert!(!req.script.contains("s3cret"));
        assert!(
            req.script.contains("cfg=\"$HOME\"/.my.cnf"),
            "{}",
            req.script
        );
        let stdin = String::from_utf8(req.stdin).unwrap();
        assert_eq!(
            stdin,
            format!("[client]\nuser=\"app\"\npassword=\"s3cret pw\"\n{END_OF_OPTIONS}\nSELECT 1;")
        );
        assert!(!format!("{conn:?}").contains("s3cret"));
    }

    #[test]
    fn parses_batch_sections() {
        let out = "__shipshape_section__\nversion\nVERSION()\n10.11.18-MariaDB-0+deb12u1\n\
                   __shipshape_section__\nempty\n\
                   __shipshape_section__\nrows\nx\ty\na\\tb\\nc\\\\d\tNULL\n\t\n";
        let s = parse_sections(out).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(
            section(&s, "version").first_column(),
            vec!["10.11.18-MariaDB-0+deb12u1"]
        );
        assert!(section(&s, "empty").rows.is_empty());
        let rows = section(&s, "rows");
        assert_eq!(rows.columns, vec!["x", "y"]);
        assert_eq!(rows.rows[0], vec![Some("a\tb\nc\\d".to_string()), None]);
        assert_eq!(rows.rows[1], vec![Some(String::new()), Some(String::new())]);
        assert!(section(&s, "missing").rows.is_empty());
        assert!(parse_sections("stray\n").is_err());
        let sql = batch_sql(&[("v", "SELECT VERSION();".into())]);
        assert_eq!(
            sql,
            "SELECT 'v' AS `__shipshape_section__`;\nSELECT VERSION();\n"
        );
    }

    #[test]
    fn redacts_secrets_and_sql_echoes() {
        let m = redact(
            "ERROR 1064 (42000) at line 1: You have an error near 'MASTER_PASSWORD='pw'' at line 1\nx pw",
            &["pw".into()],
        );
        assert_eq!(
            m,
            "ERROR 1064 (42000) at line 1: You have an error near (SQL text hidden)\nx ********"
        );
    }
}
