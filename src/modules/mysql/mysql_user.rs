//! `mysql_user`: accounts present (native password, privileges in Ansible's `priv` format)
//! or absent. Reads mysql.user and SHOW GRANTS, then grants and revokes only the difference.
//! The password is compared as its native hash and sent only as that hash; it never appears
//! in diffs, results, step descriptions or errors.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{
    Conn, account, is_mariadb, mysql_params, quote_ident, quote_str, run_queries, section, sql_step,
};
use crate::core::{
    Diff, ExecOutput, Module, ModuleError, ModuleSpec, ParamKind, ParamSpec, Plan, ResultMap,
    Secret, TaskCtx,
};
use crate::modules::args::{Args, Rules, value_to_string};

/// The `mysql_user` module.
pub struct MysqlUser;

/// Parameters of `mysql_user`.
pub static SPEC: ModuleSpec = ModuleSpec {
    name: "mysql_user",
    doc: "Adds or removes a MySQL/MariaDB user and its privileges.",
    params: mysql_params![
        ParamSpec::new("name", ParamKind::Str, "The user name.")
            .required()
            .aliases(&["user"]),
        ParamSpec::new(
            "host",
            ParamKind::Str,
            "The host part of the account (default localhost)."
        ),
        ParamSpec::new(
            "host_all",
            ParamKind::Bool,
            "Apply to every existing host of the user (not when creating)."
        ),
        ParamSpec::new(
            "password",
            ParamKind::Str,
            "The password (plain, or the native hash with encrypted=yes); never shown."
        ),
        ParamSpec::new(
            "encrypted",
            ParamKind::Bool,
            "The password is already a native hash (*HEX)."
        ),
        ParamSpec::new(
            "update_password",
            ParamKind::Str,
            "always (default) or on_create."
        )
        .choices(&["always", "on_create"]),
        ParamSpec::new(
            "priv",
            ParamKind::Raw,
            "Privileges: `db.table:PRIV1,PRIV2/db2.*:ALL` or a mapping."
        ),
        ParamSpec::new(
            "append_privs",
            ParamKind::Bool,
            "Add the privileges without revoking others (default no)."
        ),
        ParamSpec::new("state", ParamKind::Str, "present (default) or absent.")
            .choices(&["present", "absent"]),
    ],
    free_form: false,
};

/// Argument rules of `mysql_user`.
pub const RULES: Rules = Rules::NONE;

/// A grant object: `db.table` where either may be `*`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Obj {
    /// Database name (unquoted), or `*`.
    pub db: String,
    /// Table name (unquoted), or `*`.
    pub table: String,
}

impl Obj {
    /// `*.*`.
    pub fn global() -> Obj {
        Obj {
            db: "*".into(),
            table: "*".into(),
        }
    }

    /// The object as written in SQL.
    pub fn sql(&self) -> String {
        let part = |p: &str| {
            if p == "*" {
                "*".to_string()
            } else {
                quote_ident(p)
            }
        };
        format!("{}.{}", part(&self.db), part(&self.table))
    }

    /// The object as written in `priv` (`app.*`).
    pub fn display(&self) -> String {
        format!("{}.{}", self.db, self.table)
    }
}

/// Privileges per object; `GRANT` stands for WITH GRANT OPTION. USAGE is never stored.
pub type Privs = BTreeMap<Obj, BTreeSet<String>>;

/// Privileges both servers know (MariaDB's aliases are mapped by [`normalize_priv`]).
const KNOWN: &[&str] = &[
    "ALL PRIVILEGES",
    "ALTER",
    "ALTER ROUTINE",
    "BINLOG ADMIN",
    "BINLOG MONITOR",
    "BINLOG REPLAY",
    "CONNECTION ADMIN",
    "CREATE",
    "CREATE ROLE",
    "CREATE ROUTINE",
    "CREATE TABLESPACE",
    "CREATE TEMPORARY TABLES",
    "CREATE USER",
    "CREATE VIEW",
    "DELETE",
    "DELETE HISTORY",
    "DROP",
    "DROP ROLE",
    "EVENT",
    "EXECUTE",
    "FEDERATED ADMIN",
    "FILE",
    "GRANT",
    "INDEX",
    "INSERT",
    "LOCK TABLES",
    "PROCESS",
    "READ_ONLY ADMIN",
    "REFERENCES",
    "RELOAD",
    "REPLICATION CLIENT",
    "REPLICATION MASTER ADMIN",
    "REPLICATION SLAVE",
    "REPLICATION SLAVE ADMIN",
    "SELECT",
    "SET USER",
    "SHOW DATABASES",
    "SHOW VIEW",
    "SHUTDOWN",
    "SLAVE MONITOR",
    "SUPER",
    "TRIGGER",
    "UPDATE",
    "USAGE",
];

/// Splits on commas outside parentheses.
fn split_top(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out.into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// One privilege in canonical form: keyword upper-cased and single-spaced, aliases mapped to
/// what the server shows, column lists sorted without quotes (`SELECT (a, b)`).
pub fn normalize_priv(p: &str, mariadb: bool) -> Result<String, String> {
    let (kw, cols) = match p.find('(') {
        Some(i) => {
            let inner = p[i + 1..]
                .strip_suffix(')')
                .ok_or_else(|| format!("unbalanced parentheses in privilege {p:?}"))?;
            let mut cols: Vec<String> = inner
                .split(',')
                .map(|c| c.trim().trim_matches('`').to_string())
                .filter(|c| !c.is_empty())
                .collect();
            if cols.is_empty() {
                return Err(format!("empty column list in privilege {p:?}"));
            }
            cols.sort();
            (&p[..i], Some(cols))
        }
        None => (p, None),
    };
    let mut kw = kw
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_uppercase();
    if kw == "ALL" {
        kw = "ALL PRIVILEGES".into();
    }
    if mariadb {
        kw = match kw.as_str() {
            "REPLICATION CLIENT" => "BINLOG MONITOR".into(),
            "REPLICA MONITOR" => "SLAVE MONITOR".into(),
            "REPLICATION REPLICA" => "REPLICATION SLAVE".into(),
            _ => kw,
        };
    }
    let dynamic = kw.contains('_')
        && kw
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b == b'_' || b == b' ');
    let known = KNOWN.contains(&kw.as_str())
        || ["REPLICA MONITOR", "REPLICATION REPLICA"].contains(&kw.as_str());
    if !known && !dynamic {
        return Err(format!("unknown privilege {p:?}"));
    }
    Ok(match cols {
        Some(c) => format!("{kw} ({})", c.join(", ")),
        None => kw,
    })
}

/// Reads one name of an object (`*`, a backticked name or a bare name) up to `stop`.
fn take_name<'a>(s: &'a str, stop: &[char]) -> Result<(String, &'a str), String> {
    if let Some(rest) = s.strip_prefix('`') {
        let mut name = String::new();
        let mut chars = rest.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c == '`' {
                if matches!(chars.peek(), Some((_, '`'))) {
                    chars.next();
                    name.push('`');
                    continue;
                }
                return Ok((name, &rest[i + 1..]));
            }
            name.push(c);
        }
        return Err(format!("unterminated backtick in {s:?}"));
    }
    let end = s.find(stop).unwrap_or(s.len());
    let name = s[..end].trim();
    if name.is_empty() {
        return Err(format!("missing name in {s:?}"));
    }
    Ok((name.trim_matches(['\'', '"']).to_string(), &s[end..]))
}

/// Parses `db.table` (with optional backticks).
pub fn parse_obj(s: &str) -> Result<Obj, String> {
    let s = s.trim();
    let (db, rest) = take_name(s, &['.'])?;
    let rest = rest
        .strip_prefix('.')
        .ok_or_else(|| format!("object {s:?} is not of the form db.table"))?;
    let (table, rest) = take_name(rest.trim(), &[])?;
    if !rest.trim().is_empty() {
        return Err(format!("unexpected text after object {s:?}"));
    }
    Ok(Obj { db, table })
}

fn add_privs(out: &mut Privs, obj: Obj, items: &[String], mariadb: bool) -> Result<(), String> {
    if items.is_empty() {
        return Err(format!("no privileges given for {}", obj.display()));
    }
    let set = out.entry(obj).or_default();
    for p in items {
        let n = normalize_priv(p, mariadb)?;
        if n != "USAGE" {
            set.insert(n);
        }
    }
    Ok(())
}

/// Parses `priv` in Ansible's string form (`db.table:PRIV1,PRIV2/db2.*:ALL`) or mapping
/// form (`{"db.table": "PRIV1,PRIV2"}` or a list of privileges).
pub fn parse_priv(v: &Value, mariadb: bool) -> Result<Privs, String> {
    let mut out = Privs::new();
    match v {
        Value::Object(m) => {
            for (k, val) in m {
                let obj = parse_obj(k)?;
                let items = match val {
                    Value::Array(a) => a
                        .iter()
                        .map(|i| value_to_string(i).ok_or_else(|| format!("bad privilege {i}")))
                        .collect::<Result<Vec<_>, _>>()?,
                    other => split_top(
                        &value_to_string(other)
                            .ok_or_else(|| format!("bad privileges for {k}: {other}"))?,
                    ),
                };
                add_privs(&mut out, obj, &items, mariadb)?;
            }
        }
        other => {
            let s = value_to_string(other)
                .ok_or_else(|| "expected a string or a mapping".to_string())?;
            for item in s.split('/').map(str::trim).filter(|i| !i.is_empty()) {
                let (obj, privs) = item
                    .rsplit_once(':')
                    .ok_or_else(|| format!("{item:?} is not of the form db.table:PRIV1,PRIV2"))?;
                add_privs(&mut out, parse_obj(obj)?, &split_top(privs), mariadb)?;
            }
            if out.is_empty() {
                return Err("no privileges given".into());
            }
        }
    }
    Ok(out)
}

/// Finds `needle` outside backticks, quotes and parentheses.
fn find_top(s: &str, needle: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut depth = 0i32;
    for (i, c) in s.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '`' | '\'' | '"' => quote = Some(c),
                '(' => depth += 1,
                ')' => depth -= 1,
                _ if depth == 0 && s[i..].starts_with(needle) => return Some(i),
                _ => {}
            },
        }
    }
    None
}

/// Parses SHOW GRANTS lines into privileges per object (role, proxy and routine grants are
/// left alone). Never keeps the password hash a line may carry.
pub fn parse_grants(lines: &[String]) -> Result<Privs, String> {
    let mut out = Privs::new();
    for line in lines {
        let Some(rest) = line.strip_prefix("GRANT ") else {
            continue;
        };
        let Some(on) = find_top(rest, " ON ") else {
            continue; // a role grant
        };
        let privs = &rest[..on];
        let after = &rest[on + 4..];
        if after.starts_with("FUNCTION ") || after.starts_with("PROCEDURE ") || privs == "PROXY" {
            continue;
        }
        let to = find_top(after, " TO ")
            .ok_or_else(|| "unexpected SHOW GRANTS line (no TO)".to_string())?;
        let obj = parse_obj(&after[..to])?;
        let tail = &after[to..];
        let set = out.entry(obj).or_default();
        for p in split_top(privs) {
            // The server's own names: no alias mapping, no validation.
            let n = normalize_priv(&p, false).unwrap_or_else(|_| p.to_ascii_uppercase());
            if n != "USAGE" {
                set.insert(n);
            }
        }
        if find_top(tail, " WITH GRANT OPTION").is_some() || tail.contains(" WITH GRANT OPTION") {
            set.insert("GRANT".into());
        }
    }
    Ok(out)
}

/// A privilege as written in SQL (column names quoted).
fn priv_sql(p: &str) -> String {
    match p.find(" (") {
        Some(i) => {
            let cols = p[i + 2..].trim_end_matches(')');
            let cols: Vec<String> = cols.split(", ").map(quote_ident).collect();
            format!("{} ({})", &p[..i], cols.join(", "))
        }
        None => p.to_string(),
    }
}

/// The REVOKE and GRANT statements that turn `cur` into `want` for `acct`.
pub fn grant_statements(cur: &Privs, want: &Privs, append: bool, acct: &str) -> Vec<String> {
    let mut sql = Vec::new();
    let empty = BTreeSet::new();
    let objs: BTreeSet<&Obj> = cur.keys().chain(want.keys()).collect();
    for obj in objs {
        let c = cur.get(obj).unwrap_or(&empty);
        let Some(w) = want.get(obj) else {
            if !append && !c.is_empty() {
                push_revoke(&mut sql, obj, c, acct);
            }
            continue;
        };
        if !append {
            let revoke: BTreeSet<String> = c.difference(w).cloned().collect();
            push_revoke(&mut sql, obj, &revoke, acct);
        }
        let add: BTreeSet<String> = w.difference(c).cloned().collect();
        if !add.is_empty() {
            let with_grant = add.contains("GRANT");
            let privs: Vec<String> = add
                .iter()
                .filter(|p| *p != "GRANT")
                .map(|p| priv_sql(p))
                .collect();
            let privs = if privs.is_empty() {
                "USAGE".to_string()
            } else {
                privs.join(", ")
            };
            sql.push(format!(
                "GRANT {privs} ON {} TO {acct}{}",
                obj.sql(),
                if with_grant { " WITH GRANT OPTION" } else { "" }
            ));
        }
    }
    sql
}

fn push_revoke(sql: &mut Vec<String>, obj: &Obj, set: &BTreeSet<String>, acct: &str) {
    let privs: Vec<String> = set
        .iter()
        .filter(|p| *p != "GRANT")
        .map(|p| priv_sql(p))
        .collect();
    if !privs.is_empty() {
        sql.push(format!(
            "REVOKE {} ON {} FROM {acct}",
            privs.join(", "),
            obj.sql()
        ));
    }
    if set.contains("GRANT") {
        sql.push(format!("REVOKE GRANT OPTION ON {} FROM {acct}", obj.sql()));
    }
}

/// The native password hash: `*` and the upper-case hex of SHA1(SHA1(password)).
pub fn native_hash(password: &str) -> String {
    use sha1::Digest;
    if password.is_empty() {
        return String::new();
    }
    let inner = sha1::Sha1::digest(password.as_bytes());
    let outer = sha1::Sha1::digest(inner);
    format!("*{}", hex::encode_upper(outer))
}

/// One existing account of the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// Host part.
    pub host: String,
    /// Authentication plugin (empty on old servers).
    pub plugin: String,
    /// The stored hash (native: `*HEX`).
    pub hash: String,
}

/// Parses the mysql.user rows (any column set holding Host, plugin, authentication_string
/// and, on old servers, Password).
pub fn parse_accounts(columns: &[String], rows: &[Vec<Option<String>>]) -> Vec<Account> {
    let col = |name: &str| columns.iter().position(|c| c.eq_ignore_ascii_case(name));
    let (h, p, a, pw) = (
        col("Host"),
        col("plugin"),
        col("authentication_string"),
        col("Password"),
    );
    let get = |r: &[Option<String>], i: Option<usize>| {
        i.and_then(|i| r.get(i).cloned().flatten())
            .unwrap_or_default()
    };
    rows.iter()
        .map(|r| {
            let plugin = get(r, p);
            let auth = get(r, a);
            let old = get(r, pw);
            // Old servers keep the native hash in Password with an empty plugin.
            let hash = if plugin.is_empty() && !old.is_empty() {
                old
            } else {
                auth
            };
            Account {
                host: get(r, h),
                plugin,
                hash,
            }
        })
        .collect()
}

/// What the task wants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WantUser {
    /// User name.
    pub name: String,
    /// Host part.
    pub host: String,
    /// Every existing host.
    pub host_all: bool,
    /// The native hash of the wanted password.
    pub hash: Option<Secret>,
    /// Whether to change the password of an existing account.
    pub update_always: bool,
    /// Wanted privileges.
    pub privs: Option<Privs>,
    /// Only add privileges.
    pub append: bool,
    /// Present or absent.
    pub present: bool,
}

fn want_from(a: &Args<'_>, mariadb: bool) -> Result<WantUser, ModuleError> {
    let err = |p: &str, m: String| ModuleError::Args(format!("mysql_user: parameter '{p}': {m}"));
    let hash = match a.str("password")? {
        None => None,
        Some(pw) if a.bool("encrypted", false)? => {
            let ok = pw.is_empty()
                || (pw.len() == 41
                    && pw.starts_with('*')
                    && pw[1..].bytes().all(|b| b.is_ascii_hexdigit()));
            if !ok {
                return Err(err(
                    "password",
                    "with encrypted=yes it must be a native hash (* and 40 hex digits)".into(),
                ));
            }
            Some(Secret::new(pw.to_ascii_uppercase()))
        }
        Some(pw) => Some(Secret::new(native_hash(&pw))),
    };
    let privs = match a.value("priv") {
        None => None,
        Some(v) => Some(parse_priv(v, mariadb).map_err(|e| err("priv", e))?),
    };
    Ok(WantUser {
        name: a.req_str("name")?,
        host: a.str("host")?.unwrap_or_else(|| "localhost".into()),
        host_all: a.bool("host_all", false)?,
        hash,
        update_always: a.choice("update_password", "always")? == "always",
        privs,
        append: a.bool("append_privs", false)?,
        present: a.choice("state", "present")? == "present",
    })
}

/// Renders an account's state for the diff (the password only as "set").
fn render(acct: &str, present: bool, password: &str, privs: Option<&Privs>) -> String {
    if !present {
        return String::new();
    }
    let mut s = format!("user: {acct}\npassword: {password}\n");
    if let Some(p) = privs {
        s.push_str("privileges:\n");
        if !p.contains_key(&Obj::global()) {
            s.push_str("  *.*: USAGE\n");
        }
        for (obj, set) in p {
            let list = if set.is_empty() {
                "USAGE".to_string()
            } else {
                set.iter().cloned().collect::<Vec<_>>().join(",")
            };
            s.push_str(&format!("  {}: {list}\n", obj.display()));
        }
    }
    s
}

/// The SQL and diff of one account.
pub fn decide_account(
    want: &WantUser,
    host: &str,
    cur: Option<(&Account, &Privs)>,
    mariadb: bool,
) -> (Vec<String>, Option<Diff>) {
    let acct = account(&want.name, host);
    let shown = format!("{}@{}", want.name, host);
    let identified = |h: &str| {
        if mariadb {
            format!(" IDENTIFIED BY PASSWORD {}", quote_str(h))
        } else {
            format!(" IDENTIFIED WITH mysql_native_password AS {}", quote_str(h))
        }
    };
    let mut sql = Vec::new();
    match (want.present, cur) {
        (false, None) => (sql, None),
        (false, Some((_, p))) => {
            sql.push(format!("DROP USER {acct}"));
            let before = render(&shown, true, "********", Some(p));
            (sql, Some(Diff::new(&shown, before, "")))
        }
        (true, None) => {
            let pw = want.hash.as_ref().map(|h| identified(h.expose()));
            sql.push(format!("CREATE USER {acct}{}", pw.unwrap_or_default()));
            let empty = Privs::new();
            if let Some(p) = &want.privs {
                sql.extend(grant_statements(&empty, p, false, &acct));
            }
            let pw_shown = if want.hash.is_some() {
                "********"
            } else {
                "(none)"
            };
            let after = render(&shown, true, pw_shown, want.privs.as_ref().or(Some(&empty)));
            (sql, Some(Diff::new(&shown, "", after)))
        }
        (true, Some((a, p))) => {
            let mut pw_after = "********";
            if let Some(h) = &want.hash
                && want.update_always
            {
                let native = a.plugin.is_empty() || a.plugin == "mysql_native_password";
                if !native || !a.hash.eq_ignore_ascii_case(h.expose()) {
                    sql.push(format!("ALTER USER {acct}{}", identified(h.expose())));
                    pw_after = "******** (changed)";
                }
            }
            let mut after_privs = p.clone();
            if let Some(w) = &want.privs {
                let grants = grant_statements(p, w, want.append, &acct);
                if !grants.is_empty() {
                    if want.append {
                        for (o, s) in w {
                            after_privs
                                .entry(o.clone())
                                .or_default()
                                .extend(s.iter().cloned());
                        }
                    } else {
                        after_privs = w.clone();
                    }
                }
                sql.extend(grants);
            }
            if sql.is_empty() {
                return (sql, None);
            }
            let before = render(&shown, true, "********", Some(p));
            let after = render(&shown, true, pw_after, Some(&after_privs));
            (sql, Some(Diff::new(&shown, before, after)))
        }
    }
}

/// The first query: server version and the user's accounts.
fn accounts_query(name: &str) -> Vec<(&'static str, String)> {
    vec![
        ("version", "SELECT VERSION()".into()),
        (
            "accounts",
            format!(
                "SELECT * FROM mysql.user WHERE User = {} ORDER BY Host",
                quote_str(name)
            ),
        ),
    ]
}

#[async_trait::async_trait]
impl Module for MysqlUser {
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }

    async fn plan(&self, ctx: &TaskCtx<'_>, args: &ResultMap) -> Result<Plan, ModuleError> {
        let a = Args::parse(&SPEC, args)?;
        // Validate everything (the priv syntax included) before touching the server.
        want_from(&a, true)?;
        let conn = Conn::from_args(&a)?;
        let name = a.req_str("name")?;
        let first = run_queries(ctx, &conn, "mysql_user", &accounts_query(&name)).await?;
        let version = section(&first, "version")
            .first_column()
            .into_iter()
            .next()
            .unwrap_or_default();
        let mariadb = is_mariadb(&version);
        let want = want_from(&a, mariadb)?;
        let acc = section(&first, "accounts");
        let accounts = parse_accounts(&acc.columns, &acc.rows);
        let hosts: Vec<String> = if want.host_all {
            if accounts.is_empty() && want.present {
                return Err(ModuleError::Args(
                    "mysql_user: parameter 'host_all': cannot be used when creating a user".into(),
                ));
            }
            accounts.iter().map(|a| a.host.clone()).collect()
        } else {
            vec![want.host.clone()]
        };
        let existing: Vec<&Account> = accounts
            .iter()
            .filter(|a| hosts.contains(&a.host))
            .collect();
        let grant_queries: Vec<(String, String)> = existing
            .iter()
            .map(|a| {
                (
                    format!("grants {}", a.host),
                    format!("SHOW GRANTS FOR {}", account(&name, &a.host)),
                )
            })
            .collect();
        let grants = if grant_queries.is_empty() {
            Vec::new()
        } else {
            let q: Vec<(&str, String)> = grant_queries
                .iter()
                .map(|(n, q)| (n.as_str(), q.clone()))
                .collect();
            run_queries(ctx, &conn, "mysql_user", &q).await?
        };
        let mut sql = Vec::new();
        let mut diff = Vec::new();
        for host in &hosts {
            let cur = match existing.iter().find(|a| a.host == *host) {
                Some(acct) => {
                    let lines = section(&grants, &format!("grants {host}")).first_column();
                    let privs = parse_grants(&lines).map_err(|e| {
                        ModuleError::failed(format!("mysql_user: {name}@{host}: {e}"))
                    })?;
                    Some((*acct, privs))
                }
                None => None,
            };
            let (s, d) = decide_account(&want, host, cur.as_ref().map(|(a, p)| (*a, p)), mariadb);
            sql.extend(s);
            diff.extend(d);
        }
        let mut result = ResultMap::new();
        result.insert("user".into(), Value::from(name.clone()));
        let msg = match (want.present, sql.is_empty(), existing.is_empty()) {
            (_, true, _) => "User unchanged",
            (true, false, true) => "User added",
            (true, false, false) => "User updated",
            (false, false, _) => "User deleted",
        };
        result.insert("msg".into(), msg.into());
        if want.hash.is_some() {
            result.insert("password".into(), "NOT_LOGGING_PASSWORD".into());
        }
        if sql.is_empty() {
            return Ok(Plan::Unchanged { result });
        }
        let describe = format!(
            "{} statement(s) for user {name} ({})",
            sql.len(),
            hosts.join(", ")
        );
        let script: String = sql.iter().map(|s| format!("{s};\n")).collect();
        let step = sql_step(ctx, &conn, &describe, &script);
        Ok(Plan::Change {
            diff,
            steps: vec![step],
            result,
        })
    }

    fn finish(&self, _result: &mut ResultMap, outputs: &[ExecOutput]) -> Result<(), ModuleError> {
        super::step_failure("mysql_user", outputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(db: &str, t: &str) -> Obj {
        Obj {
            db: db.into(),
            table: t.into(),
        }
    }

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn native_hash_matches_the_server() {
        // Values from MariaDB 10.11's PASSWORD().
        assert_eq!(
            native_hash("a\"b#c\\d e'f;g"),
            "*7B88484AF3172F7A16DA844DBF473EBBAE3138E0"
        );
        assert_eq!(native_hash(""), "");
    }

    #[test]
    fn parses_priv_strings_and_mappings() {
        let p = parse_priv(&json!("app.*:ALL/*.*:replication client,select"), true).unwrap();
        assert_eq!(p[&obj("app", "*")], set(&["ALL PRIVILEGES"]));
        assert_eq!(p[&Obj::global()], set(&["BINLOG MONITOR", "SELECT"]));
        let p = parse_priv(&json!("`we``ird`.`t`:SELECT (b,`a`),INSERT,GRANT"), false).unwrap();
        assert_eq!(
            p[&obj("we`ird", "t")],
            set(&["GRANT", "INSERT", "SELECT (a, b)"])
        );
        let p = parse_priv(&json!({"app.*": "SELECT,INSERT", "*.*": ["USAGE"]}), true).unwrap();
        assert_eq!(p[&obj("app", "*")], set(&["INSERT", "SELECT"]));
        assert!(p[&Obj::global()].is_empty());
        for bad in [
            json!("app.*ALL"),
            json!("app:ALL"),
            json!("app.*:"),
            json!("app.*:SELEKT"),
            json!("app.*:SELECT (a"),
            json!(""),
            json!({"app.*": {"x": 1}}),
            json!(["app.*:ALL"]),
        ] {
            assert!(parse_priv(&bad, true).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_show_grants_output() {
        let lines: Vec<String> = [
            "GRANT USAGE ON *.* TO `app`@`10.213.0.12` IDENTIFIED BY PASSWORD '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19'",
            "GRANT ALL PRIVILEGES ON `app`.* TO `app`@`10.213.0.12`",
            "GRANT SELECT (`a`, `b`), INSERT ON `we``ird`.`t` TO `app`@`10.213.0.12` WITH GRANT OPTION",
            "GRANT PROXY ON ''@'%' TO 'root'@'localhost' WITH GRANT OPTION",
            "GRANT `role1` TO `app`@`10.213.0.12`",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let p = parse_grants(&lines).unwrap();
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[&Obj::global()].is_empty());
        assert_eq!(p[&obj("app", "*")], set(&["ALL PRIVILEGES"]));
        assert_eq!(
            p[&obj("we`ird", "t")],
            set(&["GRANT", "INSERT", "SELECT (a, b)"])
        );
        assert!(!format!("{p:?}").contains("2470C0"));
        let root = vec![
            "GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` IDENTIFIED VIA mysql_native_password USING 'invalid' OR unix_socket WITH GRANT OPTION".to_string(),
        ];
        assert_eq!(
            parse_grants(&root).unwrap()[&Obj::global()],
            set(&["ALL PRIVILEGES", "GRANT"])
        );
    }

    #[test]
    fn grants_and_revokes_only_the_difference() {
        let acct = "'app'@'%'";
        let cur = parse_priv(
            &json!("*.*:USAGE/app.*:SELECT,INSERT/old.*:ALL,GRANT"),
            true,
        )
        .unwrap();
        let want = parse_priv(&json!("app.*:SELECT,UPDATE/new.t:SELECT (c)"), true).unwrap();
        assert_eq!(
            grant_statements(&cur, &want, false, acct),
            vec![
                "REVOKE INSERT ON `app`.* FROM 'app'@'%'",
                "GRANT UPDATE ON `app`.* TO 'app'@'%'",
                "GRANT SELECT (`c`) ON `new`.`t` TO 'app'@'%'",
                "REVOKE ALL PRIVILEGES ON `old`.* FROM 'app'@'%'",
                "REVOKE GRANT OPTION ON `old`.* FROM 'app'@'%'",
            ]
        );
        assert_eq!(
            grant_statements(&cur, &want, true, acct),
            vec![
                "GRANT UPDATE ON `app`.* TO 'app'@'%'",
                "GRANT SELECT (`c`) ON `new`.`t` TO 'app'@'%'",
            ]
        );
        assert!(grant_statements(&cur, &cur, false, acct).is_empty());
        let w = parse_priv(&json!("old.*:ALL,GRANT/app.*:SELECT,INSERT,GRANT"), true).unwrap();
        assert_eq!(
            grant_statements(&cur, &w, false, acct),
            vec!["GRANT USAGE ON `app`.* TO 'app'@'%' WITH GRANT OPTION"]
        );
    }

    fn want() -> WantUser {
        WantUser {
            name: "app".into(),
            host: "10.213.0.12".into(),
            host_all: false,
            hash: Some(Secret::new(native_hash("Secret1"))),
            update_always: true,
            privs: Some(parse_priv(&json!("app.*:ALL"), true).unwrap()),
            append: false,
            present: true,
        }
    }

    #[test]
    fn decides_accounts_without_showing_the_password() {
        let h = "10.213.0.12";
        let hash = native_hash("Secret1");
        let (sql, diff) = decide_account(&want(), h, None, true);
        assert_eq!(
            sql,
            vec![
                format!("CREATE USER 'app'@'10.213.0.12' IDENTIFIED BY PASSWORD '{hash}'"),
                "GRANT ALL PRIVILEGES ON `app`.* TO 'app'@'10.213.0.12'".to_string(),
            ]
        );
        let d = diff.unwrap();
        assert_eq!(
            d.after,
            "user: app@10.213.0.12\npassword: ********\nprivileges:\n  *.*: USAGE\n  app.*: ALL PRIVILEGES\n"
        );
        let acct = Account {
            host: h.into(),
            plugin: "mysql_native_password".into(),
            hash: hash.clone(),
        };
        let privs = parse_priv(&json!("app.*:ALL"), true).unwrap();
        let (sql, diff) = decide_account(&want(), h, Some((&acct, &privs)), true);
        assert!(sql.is_empty() && diff.is_none());
        let other = WantUser {
            hash: Some(Secret::new(native_hash("Other2"))),
            ..want()
        };
        let (sql, diff) = decide_account(&other, h, Some((&acct, &privs)), false);
        assert_eq!(sql.len(), 1);
        assert!(sql[0].starts_with(
            "ALTER USER 'app'@'10.213.0.12' IDENTIFIED WITH mysql_native_password AS '*"
        ));
        let d = diff.unwrap();
        assert!(
            d.after.contains("password: ******** (changed)"),
            "{}",
            d.after
        );
        let on_create = WantUser {
            update_always: false,
            ..other
        };
        assert!(
            decide_account(&on_create, h, Some((&acct, &privs)), true)
                .0
                .is_empty()
        );
        let socket = Account {
            plugin: "unix_socket".into(),
            hash: String::new(),
            ..acct.clone()
        };
        assert_eq!(
            decide_account(&want(), h, Some((&socket, &privs)), true)
                .0
                .len(),
            1
        );
        let gone = WantUser {
            present: false,
            ..want()
        };
        let (sql, diff) = decide_account(&gone, h, Some((&acct, &privs)), true);
        assert_eq!(sql, vec!["DROP USER 'app'@'10.213.0.12'"]);
        assert_eq!(diff.unwrap().after, "");
        assert!(decide_account(&gone, h, None, true).0.is_empty());
    }

    #[test]
    fn parses_accounts_of_new_and_old_servers() {
        let cols: Vec<String> = [
            "Host",
            "User",
            "Password",
            "plugin",
            "authentication_string",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let rows = vec![
            vec![
                Some("%".into()),
                Some("app".into()),
                Some("*ABC".into()),
                Some("mysql_native_password".into()),
                Some("*ABC".into()),
            ],
            vec![
                Some("localhost".into()),
                Some("app".into()),
                Some("*DEF".into()),
                Some(String::new()),
                Some(String::new()),
            ],
        ];
        let a = parse_accounts(&cols, &rows);
        assert_eq!(a[0].hash, "*ABC");
        assert_eq!(a[1].hash, "*DEF");
        assert_eq!(a[1].host, "localhost");
    }

    #[test]
    fn rejects_bad_arguments_before_connecting() {
        let bad = |v: serde_json::Value| {
            let m = v.as_object().cloned().unwrap();
            match Args::parse(&SPEC, &m).and_then(|a| want_from(&a, true)) {
                Ok(_) => panic!("accepted {v}"),
                Err(e) => e.to_string(),
            }
        };
        let e = bad(json!({"name": "app", "password": "pw1", "priv": "app.*ALL"}));
        assert!(
            e.contains("mysql_user: parameter 'priv'") && e.contains("db.table:PRIV"),
            "{e}"
        );
        assert!(!e.contains("pw1"));
        assert!(
            bad(json!({"name": "a", "password": "x", "encrypted": true})).contains("native hash")
        );
        assert!(
            bad(json!({"name": "a", "update_password": "on_new_username"})).contains("not one of")
        );
        assert!(bad(json!({"name": "a", "check_implicit_admin": true})).contains("unknown"));
        let m = json!({"user": "a", "password": "x"});
        let m = m.as_object().cloned().unwrap();
        let w = want_from(&Args::parse(&SPEC, &m).unwrap(), true).unwrap();
        assert_eq!(w.host, "localhost");
        assert!(!format!("{w:?}").contains(&native_hash("x")));
    }
}
