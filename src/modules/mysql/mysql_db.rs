//! `mysql_db`: databases present (with their character set and collation) or absent, read
//! from information_schema; changed with CREATE/ALTER/DROP DATABASE. No dump or import.

use serde_json::Value;

use super::{Conn, mysql_params, quote_ident, quote_str, run_queries, section, sql_step};
use crate::core::{
    Diff, ExecOutput, Module, ModuleError, ModuleSpec, ParamKind, ParamSpec, Plan, ResultMap,
    TaskCtx,
};
use crate::modules::args::{Args, Rules};

/// The `mysql_db` module.
pub struct MysqlDb;

/// Parameters of `mysql_db`.
pub static SPEC: ModuleSpec = ModuleSpec {
    name: "mysql_db",
    doc: "Creates or removes MySQL/MariaDB databases.",
    params: mysql_params![
        ParamSpec::new("name", ParamKind::List, "The database name(s).")
            .required()
            .aliases(&["db"]),
        ParamSpec::new("state", ParamKind::Str, "present (default) or absent.")
            .choices(&["present", "absent"]),
        ParamSpec::new(
            "encoding",
            ParamKind::Str,
            "The character set of the database."
        ),
        ParamSpec::new(
            "collation",
            ParamKind::Str,
            "The collation of the database."
        ),
    ],
    free_form: false,
};

/// Argument rules of `mysql_db`.
pub const RULES: Rules = Rules::NONE;

/// A database as information_schema reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbInfo {
    /// Name.
    pub name: String,
    /// Default character set.
    pub encoding: String,
    /// Default collation.
    pub collation: String,
}

/// What the task wants.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WantDb {
    /// The databases.
    pub names: Vec<String>,
    /// Present or absent.
    pub present: bool,
    /// Wanted character set.
    pub encoding: Option<String>,
    /// Wanted collation.
    pub collation: Option<String>,
}

fn want_from(a: &Args<'_>) -> Result<WantDb, ModuleError> {
    let names = a.list("name")?.unwrap_or_default();
    if names.is_empty() {
        return Err(ModuleError::Args(
            "mysql_db: parameter 'name': at least one database name is required".into(),
        ));
    }
    if names.iter().any(|n| n == "all") {
        return Err(ModuleError::Args(
            "mysql_db: parameter 'name': 'all' is only valid with state=dump or import, which this module does not support".into(),
        ));
    }
    Ok(WantDb {
        names,
        present: a.choice("state", "present")? == "present",
        encoding: a.str("encoding")?.filter(|s| !s.is_empty()),
        collation: a.str("collation")?.filter(|s| !s.is_empty()),
    })
}

/// The read-only query: every database with its character set and collation.
pub fn db_query() -> Vec<(&'static str, String)> {
    vec![(
        "dbs",
        "SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME".to_string(),
    )]
}

/// Parses the rows of [`db_query`].
pub fn parse_dbs(rows: &[Vec<Option<String>>]) -> Vec<DbInfo> {
    rows.iter()
        .filter_map(|r| match r.as_slice() {
            [Some(n), e, c, ..] => Some(DbInfo {
                name: n.clone(),
                encoding: e.clone().unwrap_or_default(),
                collation: c.clone().unwrap_or_default(),
            }),
            _ => None,
        })
        .collect()
}

fn charset_clause(want: &WantDb) -> String {
    let mut s = String::new();
    if let Some(e) = &want.encoding {
        s.push_str(&format!(" CHARACTER SET {}", quote_str(e)));
    }
    if let Some(c) = &want.collation {
        s.push_str(&format!(" COLLATE {}", quote_str(c)));
    }
    s
}

/// The statements to run and the database listing after them.
pub fn decide_db(want: &WantDb, cur: &[DbInfo]) -> Vec<String> {
    let mut sql = Vec::new();
    for n in &want.names {
        let existing = cur.iter().find(|d| d.name == *n);
        match (want.present, existing) {
            (true, None) => sql.push(format!(
                "CREATE DATABASE {}{}",
                quote_ident(n),
                charset_clause(want)
            )),
            (true, Some(d)) => {
                let enc_differs = want
                    .encoding
                    .as_ref()
                    .is_some_and(|e| !e.eq_ignore_ascii_case(&d.encoding));
                let col_differs = want
                    .collation
                    .as_ref()
                    .is_some_and(|c| !c.eq_ignore_ascii_case(&d.collation));
                if enc_differs || col_differs {
                    sql.push(format!(
                        "ALTER DATABASE {}{}",
                        quote_ident(n),
                        charset_clause(want)
                    ));
                }
            }
            (false, Some(_)) => sql.push(format!("DROP DATABASE {}", quote_ident(n))),
            (false, None) => {}
        }
    }
    sql
}

fn listing(dbs: &[DbInfo]) -> String {
    dbs.iter()
        .map(|d| format!("{} ({}, {})\n", d.name, d.encoding, d.collation))
        .collect()
}

/// The database listing after the change (for the diff).
fn after_listing(want: &WantDb, cur: &[DbInfo]) -> Vec<DbInfo> {
    let mut after: Vec<DbInfo> = cur
        .iter()
        .filter(|d| want.present || !want.names.contains(&d.name))
        .cloned()
        .collect();
    if want.present {
        for n in &want.names {
            let enc = want.encoding.clone();
            let col = want.collation.clone();
            match after.iter_mut().find(|d| d.name == *n) {
                Some(d) => {
                    if let Some(e) = enc {
                        d.encoding = e;
                    }
                    if let Some(c) = col {
                        d.collation = c;
                    }
                }
                None => after.push(DbInfo {
                    name: n.clone(),
                    encoding: enc.unwrap_or_else(|| "(server default)".into()),
                    collation: col.unwrap_or_else(|| "(server default)".into()),
                }),
            }
        }
        after.sort_by(|a, b| a.name.cmp(&b.name));
    }
    after
}

#[async_trait::async_trait]
impl Module for MysqlDb {
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }

    async fn plan(&self, ctx: &TaskCtx<'_>, args: &ResultMap) -> Result<Plan, ModuleError> {
        let a = Args::parse(&SPEC, args)?;
        let want = want_from(&a)?;
        let conn = Conn::from_args(&a)?;
        let sections = run_queries(ctx, &conn, "mysql_db", &db_query()).await?;
        let cur = parse_dbs(&section(&sections, "dbs").rows);
        let sql = decide_db(&want, &cur);
        let mut result = ResultMap::new();
        result.insert("db".into(), want.names.join(" ").into());
        result.insert(
            "db_list".into(),
            Value::from(
                want.names
                    .iter()
                    .map(|n| Value::from(n.as_str()))
                    .collect::<Vec<_>>(),
            ),
        );
        result.insert(
            "executed_commands".into(),
            Value::from(
                sql.iter()
                    .map(|s| Value::from(s.as_str()))
                    .collect::<Vec<_>>(),
            ),
        );
        if sql.is_empty() {
            return Ok(Plan::Unchanged { result });
        }
        let diff = vec![Diff::new(
            "mysql databases",
            listing(&cur),
            listing(&after_listing(&want, &cur)),
        )];
        let script = sql.iter().map(|s| format!("{s};\n")).collect::<String>();
        let step = sql_step(ctx, &conn, &sql.join("; "), &script);
        Ok(Plan::Change {
            diff,
            steps: vec![step],
            result,
        })
    }

    fn finish(&self, _result: &mut ResultMap, outputs: &[ExecOutput]) -> Result<(), ModuleError> {
        super::step_failure("mysql_db", outputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cur() -> Vec<DbInfo> {
        let out = "__shipshape_section__\ndbs\nSCHEMA_NAME\tDEFAULT_CHARACTER_SET_NAME\tDEFAULT_COLLATION_NAME\n\
                   app\tutf8mb4\tutf8mb4_general_ci\ninformation_schema\tutf8mb3\tutf8mb3_general_ci\n\
                   mysql\tutf8mb4\tutf8mb4_general_ci\nwe`ird\tlatin1\tlatin1_swedish_ci\n";
        let s = super::super::parse_sections(out).unwrap();
        parse_dbs(&section(&s, "dbs").rows)
    }

    fn want(names: &[&str]) -> WantDb {
        WantDb {
            names: names.iter().map(|s| s.to_string()).collect(),
            present: true,
            ..Default::default()
        }
    }

    #[test]
    fn parses_databases() {
        let c = cur();
        assert_eq!(c.len(), 4);
        assert_eq!(
            c[3],
            DbInfo {
                name: "we`ird".into(),
                encoding: "latin1".into(),
                collation: "latin1_swedish_ci".into()
            }
        );
    }

    #[test]
    fn decides_statements() {
        let c = cur();
        assert!(decide_db(&want(&["app"]), &c).is_empty());
        assert_eq!(
            decide_db(&want(&["app", "new`db"]), &c),
            vec!["CREATE DATABASE `new``db`"]
        );
        let w = WantDb {
            encoding: Some("utf8mb4".into()),
            collation: Some("utf8mb4_bin".into()),
            ..want(&["app", "x"])
        };
        assert_eq!(
            decide_db(&w, &c),
            vec![
                "ALTER DATABASE `app` CHARACTER SET 'utf8mb4' COLLATE 'utf8mb4_bin'",
                "CREATE DATABASE `x` CHARACTER SET 'utf8mb4' COLLATE 'utf8mb4_bin'"
            ]
        );
        let w = WantDb {
            encoding: Some("UTF8MB4".into()),
            ..want(&["app"])
        };
        assert!(decide_db(&w, &c).is_empty());
        let w = WantDb {
            present: false,
            ..want(&["we`ird", "gone"])
        };
        assert_eq!(decide_db(&w, &c), vec!["DROP DATABASE `we``ird`"]);
        let after = listing(&after_listing(&w, &c));
        assert!(
            !after.contains("we`ird") && after.contains("app ("),
            "{after}"
        );
    }

    #[test]
    fn rejects_bad_arguments() {
        let bad = |v: serde_json::Value| {
            let m = v.as_object().cloned().unwrap();
            match Args::parse(&SPEC, &m).and_then(|a| want_from(&a)) {
                Ok(_) => panic!("accepted {v}"),
                Err(e) => e.to_string(),
            }
        };
        assert!(bad(json!({"name": "x", "state": "dump"})).contains("not one of"));
        assert!(bad(json!({"name": "all"})).contains("dump"));
        assert!(bad(json!({"name": "x", "target": "/tmp/x.sql"})).contains("unknown parameter"));
        let m = json!({"db": ["a", "b"], "login_user": "root", "login_port": "3307"});
        let m = m.as_object().cloned().unwrap();
        let a = Args::parse(&SPEC, &m).unwrap();
        assert_eq!(want_from(&a).unwrap().names, vec!["a", "b"]);
        assert_eq!(Conn::from_args(&a).unwrap().port, Some(3307));
    }
}
