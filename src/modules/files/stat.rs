//! `stat`: reports facts about a path with Ansible's result names (`stat.exists`, `stat.mode`,
//! `stat.checksum`...), from one read-only command. Never changes anything.

use serde_json::{Map, Value};

use crate::core::{
    Module, ModuleError, ModuleSpec, ParamKind, ParamSpec, Plan, ResultMap, TaskCtx, quote,
};
use crate::modules::args::{Args, Rules, mode_string};

/// The `stat` module.
pub struct Stat;

/// Parameters of `stat`.
pub static SPEC: ModuleSpec = ModuleSpec {
    name: "stat",
    doc: "Retrieves facts about a file or directory (never changes anything).",
    params: &[
        ParamSpec::new("path", ParamKind::Path, "The path to inspect.")
            .required()
            .aliases(&["dest", "name"]),
        ParamSpec::new(
            "follow",
            ParamKind::Bool,
            "Follow a final symlink (default no).",
        ),
        ParamSpec::new(
            "get_checksum",
            ParamKind::Bool,
            "Compute the checksum of a readable regular file (default yes).",
        ),
        ParamSpec::new(
            "checksum_algorithm",
            ParamKind::Str,
            "sha1 (default), sha224, sha256, sha384, sha512 or md5.",
        )
        .aliases(&["checksum", "checksum_algo"])
        .choices(&["md5", "sha1", "sha224", "sha256", "sha384", "sha512"]),
        ParamSpec::new(
            "get_attributes",
            ParamKind::Bool,
            "Accepted for compatibility; file attributes are not reported.",
        ),
    ],
    free_form: false,
};

/// Argument rules of `stat`.
pub const RULES: Rules = Rules::NONE;

/// The `stat -c` format the stat module prints.
const FORMAT: &str = "%f|%u|%g|%U|%G|%s|%X|%Y|%Z|%i|%d|%h|%b|%B|%t|%T";

/// The query script.
pub fn stat_script(path: &str, follow: bool, checksum: Option<&str>) -> String {
    let (test, flag) = if follow {
        ("[ -e \"$p\" ]", "-L ")
    } else {
        ("[ -L \"$p\" ] || [ -e \"$p\" ]", "")
    };
    let mut s = format!("p={}\nif {test}; then\n", quote(path));
    s.push_str(&format!(
        "  stat {flag}-c 'stat={FORMAT}' -- \"$p\" || exit 1\n"
    ));
    if !follow {
        s.push_str(
            "  if [ -L \"$p\" ]; then printf 'lnk_source=%s\\n' \"$(readlink -f -- \"$p\")\"; printf 'lnk_target=%s\\n' \"$(readlink -- \"$p\")\"; fi\n",
        );
    }
    s.push_str("  [ -r \"$p\" ] && echo readable\n  [ -w \"$p\" ] && echo writeable\n  [ -x \"$p\" ] && echo executable\n");
    if let Some(algo) = checksum {
        let tool = format!("{algo}sum");
        s.push_str(&format!(
            "  if [ -f \"$p\" ] && [ -r \"$p\" ]; then if command -v {tool} >/dev/null 2>&1; then printf 'checksum=%s\\n' \"$({tool} < \"$p\")\"; else echo nochecksum; fi; fi\n"
        ));
    }
    s.push_str("else\n  echo absent\nfi\n");
    s
}

/// Parses the query output into Ansible's `stat` dictionary.
pub fn parse_stat(path: &str, out: &str) -> Result<Map<String, Value>, String> {
    let mut m = Map::new();
    let mut readable = false;
    let mut writeable = false;
    let mut executable = false;
    let mut seen = false;
    for line in out.lines() {
        let (k, v) = line.split_once('=').unwrap_or((line, ""));
        match k {
            "absent" => {
                m.insert("exists".into(), false.into());
                return Ok(m);
            }
            "stat" => {
                seen = true;
                let f: Vec<&str> = v.split('|').collect();
                if f.len() != 16 {
                    return Err(format!("unexpected stat output {line:?}"));
                }
                let num = |i: usize| -> Result<u64, String> {
                    f[i].parse()
                        .map_err(|_| format!("unexpected stat output {line:?}"))
                };
                let hex = |i: usize| -> Result<u64, String> {
                    u64::from_str_radix(f[i], 16)
                        .map_err(|_| format!("unexpected stat output {line:?}"))
                };
                let raw = hex(0)? as u32;
                let ft = raw & 0o170000;
                let mode = raw & 0o7777;
                m.insert("exists".into(), true.into());
                m.insert("path".into(), path.into());
                m.insert("mode".into(), mode_string(mode).into());
                for (key, t) in [
                    ("isdir", 0o040000),
                    ("ischr", 0o020000),
                    ("isblk", 0o060000),
                    ("isreg", 0o100000),
                    ("isfifo", 0o010000),
                    ("islnk", 0o120000),
                    ("issock", 0o140000),
                ] {
                    m.insert(key.into(), (ft == t).into());
                }
                m.insert("uid".into(), num(1)?.into());
                m.insert("gid".into(), num(2)?.into());
                if f[3] != "UNKNOWN" {
                    m.insert("pw_name".into(), f[3].into());
                }
                if f[4] != "UNKNOWN" {
                    m.insert("gr_name".into(), f[4].into());
                }
                m.insert("size".into(), num(5)?.into());
                m.insert("atime".into(), num(6)?.into());
                m.insert("mtime".into(), num(7)?.into());
                m.insert("ctime".into(), num(8)?.into());
                m.insert("inode".into(), num(9)?.into());
                m.insert("dev".into(), num(10)?.into());
                m.insert("nlink".into(), num(11)?.into());
                m.insert("blocks".into(), num(12)?.into());
                m.insert("block_size".into(), num(13)?.into());
                let (major, minor) = (hex(14)?, hex(15)?);
                let rdev = (minor & 0xff)
                    | ((major & 0xfff) << 8)
                    | ((minor & !0xff) << 12)
                    | ((major & !0xfff) << 32);
                m.insert("device_type".into(), rdev.into());
                for (key, bit) in [
                    ("rusr", 0o400),
                    ("wusr", 0o200),
                    ("xusr", 0o100),
                    ("rgrp", 0o040),
                    ("wgrp", 0o020),
                    ("xgrp", 0o010),
                    ("roth", 0o004),
                    ("woth", 0o002),
                    ("xoth", 0o001),
                    ("isuid", 0o4000),
                    ("isgid", 0o2000),
                ] {
                    m.insert(key.into(), (mode & bit != 0).into());
                }
            }
            "lnk_source" | "lnk_target" => {
                m.insert(k.into(), v.into());
            }
            "readable" => readable = true,
            "writeable" => writeable = true,
            "executable" => executable = true,
            "checksum" => {
                if let Some(h) = v.split_whitespace().next() {
                    m.insert("checksum".into(), h.into());
                }
            }
            "nochecksum" => {}
            _ => return Err(format!("unexpected output line {line:?}")),
        }
    }
    if !seen {
        return Err("no stat output".into());
    }
    m.insert("readable".into(), readable.into());
    m.insert("writeable".into(), writeable.into());
    m.insert("executable".into(), executable.into());
    Ok(m)
}

#[async_trait::async_trait]
impl Module for Stat {
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }

    async fn plan(&self, ctx: &TaskCtx<'_>, args: &ResultMap) -> Result<Plan, ModuleError> {
        let a = Args::parse(&SPEC, args)?;
        let path = a.req_str("path")?;
        let follow = a.bool("follow", false)?;
        let algo = a.choice("checksum_algorithm", "sha1")?;
        let checksum = a.bool("get_checksum", true)?.then_some(algo.as_str());
        let out = ctx.query(stat_script(&path, follow, checksum)).await?;
        if !out.success() {
            return Err(ModuleError::failed(format!(
                "cannot stat {path}: {}",
                out.stderr_str().trim()
            )));
        }
        let stat = parse_stat(&path, &out.stdout_str())
            .map_err(|e| ModuleError::failed(format!("cannot stat {path}: {e}")))?;
        let mut result = ResultMap::new();
        result.insert("stat".into(), Value::Object(stat));
        Ok(Plan::Unchanged { result })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_output() {
        let m = parse_stat(
            "/etc/x",
            "stat=81ed|0|0|root|UNKNOWN|10|1|2|3|4|5|1|8|4096|0|0\nreadable\nexecutable\nchecksum=abc  -\n",
        )
        .unwrap();
        assert_eq!(m["mode"], "0755");
        assert_eq!(m["isreg"], true);
        assert_eq!(m["isdir"], false);
        assert_eq!(m["pw_name"], "root");
        assert!(!m.contains_key("gr_name"));
        assert_eq!(m["xoth"], true);
        assert_eq!(m["writeable"], false);
        assert_eq!(m["checksum"], "abc");
        assert_eq!(m["mtime"], 2);
        let m = parse_stat("/x", "stat=2190|0|0|root|root|0|1|2|3|4|5|1|0|4096|1|3\n").unwrap();
        assert_eq!(m["ischr"], true);
        assert_eq!(m["device_type"], 259);
        assert_eq!(parse_stat("/x", "absent\n").unwrap()["exists"], false);
        assert!(parse_stat("/x", "stat=1|2\n").is_err());
    }
}

#[cfg(test)]
mod host_tests {
    use super::*;
    use crate::modules::files::atomic::sha1_hex;
    use crate::modules::testutil::Harness;
    use serde_json::json;

    async fn stat_of(h: &Harness, args: Value) -> Map<String, Value> {
        let r = h.assert_unchanged(&Stat, &args).await;
        r["stat"].as_object().unwrap().clone()
    }

    #[tokio::test]
    async fn reports_files_links_and_absence() {
        let h = Harness::new();
        let f = h.path("f $x");
        std::fs::write(&f, "hello").unwrap();
        std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
        let s = stat_of(&h, json!({"path": f})).await;
        assert_eq!(s["exists"], true);
        assert_eq!(s["mode"], "0640");
        assert_eq!(s["size"], 5);
        assert_eq!(s["checksum"], sha1_hex(b"hello"));
        assert_eq!(s["readable"], true);
        let s = stat_of(&h, json!({"path": f, "checksum_algorithm": "sha256"})).await;
        assert_eq!(
            s["checksum"],
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        let l = h.path("l");
        std::os::unix::fs::symlink(&f, &l).unwrap();
        let s = stat_of(&h, json!({"path": l})).await;
        assert_eq!(s["islnk"], true);
        assert_eq!(s["lnk_target"], f.as_str());
        let s = stat_of(&h, json!({"path": l, "follow": true})).await;
        assert_eq!(s["isreg"], true);
        let s = stat_of(&h, json!({"path": h.path("none")})).await;
        assert_eq!(s["exists"], false);
        assert_eq!(s.len(), 1);
        let s = stat_of(&h, json!({"path": h.path(""), "get_checksum": false})).await;
        assert_eq!(s["isdir"], true);
    }
}
