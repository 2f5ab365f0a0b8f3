//! `mysql_replication`: reads primary/replica status and changes the replica's primary,
//! starts, stops or resets replication. CHANGE MASTER runs only when SHOW SLAVE STATUS
//! differs from the request; the primary's password never appears in results or diffs.

use serde_json::Value;

use super::{Conn, mysql_params, quote_str, run_queries, section, sql_step};
use crate::core::{
    Diff, ExecOutput, Module, ModuleError, ModuleSpec, ParamKind, ParamSpec, Plan, ResultMap,
    Secret, TaskCtx,
};
use crate::modules::args::{Args, Rules};

/// The `mysql_replication` module.
pub struct MysqlReplication;

/// One status row: (column, value) pairs, in the server's order.
pub type Status = Vec<(String, Option<String>)>;

/// Accepted modes, Ansible's old names included.
const MODES: &[&str] = &[
    "getprimary",
    "getreplica",
    "changeprimary",
    "stopreplica",
    "startreplica",
    "resetreplica",
    "resetreplicaall",
    "getmaster",
    "getslave",
    "changemaster",
    "stopslave",
    "startslave",
    "resetslave",
    "resetslaveall",
];

/// Parameters of `mysql_replication`.
pub static SPEC: ModuleSpec = ModuleSpec {
    name: "mysql_replication",
    doc: "Reads and changes MySQL/MariaDB replication (primary and replica status).",
    params: mysql_params![
        ParamSpec::new("mode", ParamKind::Str, "What to do (default getreplica).").choices(MODES),
        ParamSpec::new(
            "primary_host",
            ParamKind::Str,
            "The primary's host (changeprimary)."
        )
        .aliases(&["master_host"]),
        ParamSpec::new(
            "primary_user",
            ParamKind::Str,
            "The replication user (changeprimary)."
        )
        .aliases(&["master_user"]),
        ParamSpec::new(
            "primary_password",
            ParamKind::Str,
            "The replication user's password; never shown."
        )
        .aliases(&["master_password"]),
        ParamSpec::new("primary_port", ParamKind::Int, "The primary's port.")
            .aliases(&["master_port"]),
        ParamSpec::new(
            "primary_connect_retry",
            ParamKind::Int,
            "Seconds between connection retries."
        )
        .aliases(&["master_connect_retry"]),
        ParamSpec::new(
            "primary_log_file",
            ParamKind::Str,
            "The primary's binary log file to start from."
        )
        .aliases(&["master_log_file"]),
        ParamSpec::new(
            "primary_log_pos",
            ParamKind::Int,
            "The position in that file."
        )
        .aliases(&["master_log_pos"]),
        ParamSpec::new(
            "primary_use_gtid",
            ParamKind::Str,
            "MariaDB GTID mode: slave_pos, current_pos or disabled."
        )
        .aliases(&["master_use_gtid"])
        .choices(&["current_pos", "replica_pos", "slave_pos", "disabled"]),
        ParamSpec::new(
            "connection_name",
            ParamKind::Str,
            "MariaDB multi-source connection name."
        ),
    ],
    free_form: false,
};

/// Argument rules of `mysql_replication`.
pub const RULES: Rules = Rules::NONE;

/// The canonical (new) name of a mode.
pub fn canonical_mode(m: &str) -> &str {
    match m {
        "getmaster" => "getprimary",
        "getslave" => "getreplica",
        "changemaster" => "changeprimary",
        "stopslave" => "stopreplica",
        "startslave" => "startreplica",
        "resetslave" => "resetreplica",
        "resetslaveall" => "resetreplicaall",
        other => other,
    }
}

/// What changeprimary asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangePrimary {
    /// MASTER_HOST.
    pub host: Option<String>,
    /// MASTER_USER.
    pub user: Option<String>,
    /// MASTER_PASSWORD.
    pub password: Option<Secret>,
    /// MASTER_PORT.
    pub port: Option<i64>,
    /// MASTER_CONNECT_RETRY.
    pub connect_retry: Option<i64>,
    /// MASTER_LOG_FILE.
    pub log_file: Option<String>,
    /// MASTER_LOG_POS.
    pub log_pos: Option<i64>,
    /// MASTER_USE_GTID.
    pub use_gtid: Option<String>,
}

fn change_from(a: &Args<'_>) -> Result<ChangePrimary, ModuleError> {
    Ok(ChangePrimary {
        host: a.str("primary_host")?,
        user: a.str("primary_user")?,
        password: a.str("primary_password")?.map(Secret::new),
        port: a.int("primary_port")?,
        connect_retry: a.int("primary_connect_retry")?,
        log_file: a.str("primary_log_file")?,
        log_pos: a.int("primary_log_pos")?,
        use_gtid: a.str("primary_use_gtid")?.map(|g| {
            if g == "replica_pos" {
                "slave_pos".into()
            } else {
                g
            }
        }),
    })
}

/// `CHANGE MASTER ['name'] TO ...`: the statement, and the same with the password masked.
pub fn change_sql(c: &ChangePrimary, conn_name: Option<&str>) -> (String, String) {
    let mut parts: Vec<(String, String)> = Vec::new();
    let mut masked_pw = None;
    if let Some(h) = &c.host {
        parts.push(("MASTER_HOST".into(), quote_str(h)));
    }
    if let Some(u) = &c.user {
        parts.push(("MASTER_USER".into(), quote_str(u)));
    }
    if let Some(p) = &c.password {
        masked_pw = Some(parts.len());
        parts.push(("MASTER_PASSWORD".into(), quote_str(p.expose())));
    }
    if let Some(p) = c.port {
        parts.push(("MASTER_PORT".into(), p.to_string()));
    }
    if let Some(r) = c.connect_retry {
        parts.push(("MASTER_CONNECT_RETRY".into(), r.to_string()));
    }
    if let Some(f) = &c.log_file {
        parts.push(("MASTER_LOG_FILE".into(), quote_str(f)));
    }
    if let Some(p) = c.log_pos {
        parts.push(("MASTER_LOG_POS".into(), p.to_string()));
    }
    if let Some(g) = &c.use_gtid {
        let g = if g == "disabled" { "no" } else { g.as_str() };
        parts.push(("MASTER_USE_GTID".into(), g.to_string()));
    }
    let head = match conn_name {
        Some(n) => format!("CHANGE MASTER {} TO ", quote_str(n)),
        None => "CHANGE MASTER TO ".to_string(),
    };
    let join = |mask: bool| {
        let body: Vec<String> = parts
            .iter()
            .enumerate()
            .map(|(i, (k, v))| {
                if mask && Some(i) == masked_pw {
                    format!("{k}='********'")
                } else {
                    format!("{k}={v}")
                }
            })
            .collect();
        format!("{head}{}", body.join(", "))
    };
    (join(false), join(true))
}

/// The first row of a status section as (column, value) pairs.
pub fn status_row(columns: &[String], rows: &[Vec<Option<String>>]) -> Status {
    match rows.first() {
        Some(r) => columns.iter().cloned().zip(r.iter().cloned()).collect(),
        None => Vec::new(),
    }
}

fn field<'a>(row: &'a [(String, Option<String>)], name: &str) -> Option<&'a str> {
    row.iter()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.as_deref())
}

/// Whether the replica already follows what changeprimary asks (the password cannot be read
/// back, so it is not compared; log coordinates count as reached once executed past them).
pub fn change_needed(c: &ChangePrimary, status: &[(String, Option<String>)]) -> bool {
    if status.is_empty() {
        return true;
    }
    let same = |want: Option<String>, key: &str| {
        want.is_none_or(|w| field(status, key) == Some(w.as_str()))
    };
    if !same(c.host.clone(), "Master_Host")
        || !same(c.user.clone(), "Master_User")
        || !same(c.port.map(|p| p.to_string()), "Master_Port")
        || !same(c.connect_retry.map(|p| p.to_string()), "Connect_Retry")
    {
        return true;
    }
    if let Some(g) = &c.use_gtid {
        let want = match g.as_str() {
            "disabled" => "no",
            other => other,
        };
        let cur = field(status, "Using_Gtid").unwrap_or("No");
        if !cur.eq_ignore_ascii_case(want) {
            return true;
        }
    }
    if let Some(f) = &c.log_file {
        let cur_file = field(status, "Relay_Master_Log_File").unwrap_or("");
        let cur_pos: i64 = field(status, "Exec_Master_Log_Pos")
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        let want_pos = c.log_pos.unwrap_or(4);
        if (cur_file, cur_pos) < (f.as_str(), want_pos) {
            return true;
        }
    }
    false
}

/// A status value as Ansible returns it: numbers as numbers, NULL as null.
fn json_value(v: &Option<String>) -> Value {
    match v {
        None => Value::Null,
        Some(s) => match s.parse::<i64>() {
            Ok(n) if !s.starts_with('0') || s == "0" => Value::from(n),
            _ => Value::from(s.as_str()),
        },
    }
}

fn running(status: &[(String, Option<String>)]) -> (bool, bool) {
    let io = matches!(
        field(status, "Slave_IO_Running").or(field(status, "Replica_IO_Running")),
        Some("Yes" | "Connecting" | "Preparing")
    );
    let sql =
        field(status, "Slave_SQL_Running").or(field(status, "Replica_SQL_Running")) == Some("Yes");
    (io, sql)
}

fn status_text(status: &[(String, Option<String>)]) -> String {
    const KEYS: &[&str] = &[
        "Master_Host",
        "Master_User",
        "Master_Port",
        "Connect_Retry",
        "Master_Log_File",
        "Using_Gtid",
        "Slave_IO_Running",
        "Slave_SQL_Running",
    ];
    if status.is_empty() {
        return "replica: not configured\n".into();
    }
    KEYS.iter()
        .filter_map(|k| field(status, k).map(|v| format!("{k}: {v}\n")))
        .collect()
}

#[async_trait::async_trait]
impl Module for MysqlReplication {
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }

    async fn plan(&self, ctx: &TaskCtx<'_>, args: &ResultMap) -> Result<Plan, ModuleError> {
        let a = Args::parse(&SPEC, args)?;
        let mode = canonical_mode(&a.choice("mode", "getreplica")?).to_string();
        let change = change_from(&a)?;
        if mode != "changeprimary" && change != ChangePrimary::default() {
            return Err(ModuleError::Args(format!(
                "mysql_replication: primary_* parameters are only used with mode=changeprimary, not {mode}"
            )));
        }
        if mode == "changeprimary" && change == ChangePrimary::default() {
            return Err(ModuleError::Args(
                "mysql_replication: mode=changeprimary needs at least one primary_* parameter"
                    .into(),
            ));
        }
        let conn_name = a.str("connection_name")?;
        let conn = Conn::from_args(&a)?;
        let slave_status = match &conn_name {
            Some(n) => format!("SHOW SLAVE {} STATUS", quote_str(n)),
            None => "SHOW SLAVE STATUS".into(),
        };
        let sections = run_queries(
            ctx,
            &conn,
            "mysql_replication",
            &[
                ("primary", "SHOW MASTER STATUS".into()),
                ("replica", slave_status),
            ],
        )
        .await?;
        let p = section(&sections, "primary");
        let primary = status_row(&p.columns, &p.rows);
        let r = section(&sections, "replica");
        let replica = status_row(&r.columns, &r.rows);
        let mut result = ResultMap::new();
        let name_sql = conn_name
            .as_deref()
            .map(|n| format!(" {}", quote_str(n)))
            .unwrap_or_default();
        let (sql, masked): (String, String) = match mode.as_str() {
            "getprimary" => {
                for (k, v) in &primary {
                    result.insert(k.clone(), json_value(v));
                }
                result.insert("Is_Primary".into(), Value::Bool(!primary.is_empty()));
                result.insert("Is_Master".into(), Value::Bool(!primary.is_empty()));
                return Ok(Plan::Unchanged { result });
            }
            "getreplica" => {
                for (k, v) in &replica {
                    result.insert(k.clone(), json_value(v));
                }
                result.insert("Is_Replica".into(), Value::Bool(!replica.is_empty()));
                result.insert("Is_Slave".into(), Value::Bool(!replica.is_empty()));
                return Ok(Plan::Unchanged { result });
            }
            "changeprimary" => {
                if !change_needed(&change, &replica) {
                    result.insert("queries".into(), Value::Array(Vec::new()));
                    return Ok(Plan::Unchanged { result });
                }
                change_sql(&change, conn_name.as_deref())
            }
            "startreplica" | "stopreplica" => {
                if replica.is_empty() {
                    return Err(ModuleError::failed(format!(
                        "mysql_replication: {mode}: the server is not a replica (no primary configured)"
                    )));
                }
                let (io, sqlr) = running(&replica);
                let start = mode == "startreplica";
                if (start && io && sqlr) || (!start && !io && !sqlr) {
                    result.insert("queries".into(), Value::Array(Vec::new()));
                    return Ok(Plan::Unchanged { result });
                }
                let s = format!("{} SLAVE{name_sql}", if start { "START" } else { "STOP" });
                (s.clone(), s)
            }
            _ => {
                if replica.is_empty() {
                    result.insert("queries".into(), Value::Array(Vec::new()));
                    return Ok(Plan::Unchanged { result });
                }
                let all = if mode == "resetreplicaall" {
                    " ALL"
                } else {
                    ""
                };
                let s = format!("RESET SLAVE{name_sql}{all}");
                (s.clone(), s)
            }
        };
        result.insert(
            "queries".into(),
            Value::from(vec![Value::from(masked.clone())]),
        );
        let before = status_text(&replica);
        let diff = vec![Diff::new("replication", before, format!("{masked}\n"))];
        let step = sql_step(ctx, &conn, &masked, &format!("{sql};\n"));
        Ok(Plan::Change {
            diff,
            steps: vec![step],
            result,
        })
    }

    fn finish(&self, _result: &mut ResultMap, outputs: &[ExecOutput]) -> Result<(), ModuleError> {
        super::step_failure("mysql_replication", outputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::mysql::parse_sections;

    const STATUS: &str = "__shipshape_section__\nprimary\nFile\tPosition\tBinlog_Do_DB\tBinlog_Ignore_DB\nmysql-bin.000002\t1234\t\t\n\
__shipshape_section__\nreplica\nSlave_IO_State\tMaster_Host\tMaster_User\tMaster_Port\tConnect_Retry\tMaster_Log_File\tRead_Master_Log_Pos\tRelay_Log_File\tRelay_Log_Pos\tRelay_Master_Log_File\tSlave_IO_Running\tSlave_SQL_Running\tExec_Master_Log_Pos\tSeconds_Behind_Master\tUsing_Gtid\n\
Waiting for master to send event\t10.213.0.11\trepl\t3306\t60\tmysql-bin.000001\t900\trelay.000002\t555\tmysql-bin.000001\tYes\tYes\t900\t0\tSlave_Pos\n";

    fn statuses() -> (Status, Status) {
        let s = parse_sections(STATUS).unwrap();
        let p = section(&s, "primary");
        let r = section(&s, "replica");
        (
            status_row(&p.columns, &p.rows),
            status_row(&r.columns, &r.rows),
        )
    }

    #[test]
    fn parses_status_into_ansible_values() {
        let (p, r) = statuses();
        assert_eq!(field(&p, "File"), Some("mysql-bin.000002"));
        assert_eq!(json_value(&Some("1234".into())), Value::from(1234));
        assert_eq!(json_value(&Some("000123".into())), Value::from("000123"));
        assert_eq!(json_value(&None), Value::Null);
        assert_eq!(running(&r), (true, true));
        assert!(status_text(&r).contains("Master_Host: 10.213.0.11"));
    }

    #[test]
    fn changes_the_primary_only_when_status_differs() {
        let (_, r) = statuses();
        let c = ChangePrimary {
            host: Some("10.213.0.11".into()),
            user: Some("repl".into()),
            password: Some(Secret::new("Repl-pw1")),
            port: Some(3306),
            use_gtid: Some("slave_pos".into()),
            ..Default::default()
        };
        assert!(!change_needed(&c, &r));
        assert!(change_needed(&c, &[]));
        let other = ChangePrimary {
            host: Some("10.213.0.13".into()),
            ..c.clone()
        };
        assert!(change_needed(&other, &r));
        let filepos = ChangePrimary {
            use_gtid: None,
            log_file: Some("mysql-bin.000001".into()),
            log_pos: Some(800),
            ..c.clone()
        };
        assert!(!change_needed(&filepos, &r));
        let later = ChangePrimary {
            log_file: Some("mysql-bin.000003".into()),
            ..filepos
        };
        assert!(change_needed(&later, &r));
        let gtid_off = ChangePrimary {
            use_gtid: Some("disabled".into()),
            ..c.clone()
        };
        assert!(change_needed(&gtid_off, &r));
        let (sql, masked) = change_sql(&c, None);
        assert_eq!(
            sql,
            "CHANGE MASTER TO MASTER_HOST='10.213.0.11', MASTER_USER='repl', MASTER_PASSWORD='Repl-pw1', MASTER_PORT=3306, MASTER_USE_GTID=slave_pos"
        );
        assert!(!masked.contains("Repl-pw1") && masked.contains("MASTER_PASSWORD='********'"));
        let (sql, _) = change_sql(
            &ChangePrimary {
                host: Some("h'x".into()),
                ..Default::default()
            },
            Some("a"),
        );
        assert_eq!(sql, "CHANGE MASTER 'a' TO MASTER_HOST='h''x'");
    }

    #[test]
    fn modes_have_their_old_names() {
        assert_eq!(canonical_mode("changemaster"), "changeprimary");
        assert_eq!(canonical_mode("getslave"), "getreplica");
        assert_eq!(canonical_mode("startreplica"), "startreplica");
        for m in MODES {
            assert!(!canonical_mode(m).contains("slave") && !canonical_mode(m).contains("master"));
        }
    }
}
