//! `get_url`: downloads a URL on the target (curl, else wget) into a file or directory, with
//! an optional checksum, owner/group/mode. The download lands in a 0600 temp file next to the
//! destination, is verified, then renamed over it: a failed or wrong download never touches
//! the old file. Planning only reads (stat, checksum; with `force` a streamed checksum).

use std::time::Duration;

use serde_json::Value;

use super::http::{
    BodySink, HttpRequest, is_url, parse_response, prelude, request_script, standalone_script,
    stdin_config, url_basename,
};
use crate::core::{
    Diff, ExecOutput, ExecRequest, Module, ModuleError, ModuleSpec, ParamKind, ParamSpec, Plan,
    ResultMap, Secret, TaskCtx, quote,
};
use crate::modules::args::{Args, Rules, value_to_string};
use crate::modules::files::atomic::{
    self, AttrPlan, FileState, QueryOpts, Wanted, attrs_result, chmod_octal, parent_dir,
    parse_query, plan_attrs, query_file_script, split_parts,
};

/// The `get_url` module.
pub struct GetUrl;

/// Parameters of `get_url`.
pub static SPEC: ModuleSpec = ModuleSpec {
    name: "get_url",
    doc: "Downloads a file from HTTP, HTTPS or FTP on the target, optionally checking its checksum.",
    params: &[
        ParamSpec::new("url", ParamKind::Str, "The URL to download.").required(),
        ParamSpec::new(
            "dest",
            ParamKind::Path,
            "File to write, or an existing directory (the URL's file name is used).",
        )
        .required(),
        ParamSpec::new(
            "checksum",
            ParamKind::Str,
            "algorithm:hex (sha1, sha224, sha256, sha384, sha512, md5) or algorithm:URL of a checksum file.",
        ),
        ParamSpec::new(
            "force",
            ParamKind::Bool,
            "Download even when dest exists (changed only if the content differs); default no.",
        )
        .aliases(&["thirsty"]),
        ParamSpec::new(
            "timeout",
            ParamKind::Int,
            "Seconds the request may take (default 10).",
        ),
        ParamSpec::new("headers", ParamKind::Dict, "Extra request headers."),
        ParamSpec::new(
            "url_username",
            ParamKind::Str,
            "User for HTTP basic authentication.",
        )
        .aliases(&["username"]),
        ParamSpec::new(
            "url_password",
            ParamKind::Str,
            "Password for HTTP basic authentication (sent on stdin, never on argv).",
        )
        .aliases(&["password"]),
        ParamSpec::new(
            "force_basic_auth",
            ParamKind::Bool,
            "Accepted for compatibility: credentials are always sent up front.",
        ),
        ParamSpec::new(
            "validate_certs",
            ParamKind::Bool,
            "Verify TLS certificates (default yes).",
        ),
        ParamSpec::new("owner", ParamKind::Str, "Owner name or uid of the file."),
        ParamSpec::new("group", ParamKind::Str, "Group name or gid of the file."),
        ParamSpec::new(
            "mode",
            ParamKind::Mode,
            "Mode of the file (\"0644\" or symbolic).",
        ),
    ],
    free_form: false,
};

/// Argument rules of `get_url`.
pub const RULES: Rules = Rules::NONE;

/// Exit status of the download step when the server did not answer 200.
const EXIT_HTTP: i32 = 4;
/// Exit status of the download step when the checksum did not match.
const EXIT_CHECKSUM: i32 = 5;

/// A checksum algorithm the target's coreutils can compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Algo {
    /// Ansible's name (`sha256`).
    pub name: &'static str,
    /// The coreutils program (`sha256sum`).
    pub program: &'static str,
    /// Length of the hex digest.
    pub hex_len: usize,
}

const ALGOS: &[Algo] = &[
    Algo {
        name: "md5",
        program: "md5sum",
        hex_len: 32,
    },
    Algo {
        name: "sha1",
        program: "sha1sum",
        hex_len: 40,
    },
    Algo {
        name: "sha224",
        program: "sha224sum",
        hex_len: 56,
    },
    Algo {
        name: "sha256",
        program: "sha256sum",
        hex_len: 64,
    },
    Algo {
        name: "sha384",
        program: "sha384sum",
        hex_len: 96,
    },
    Algo {
        name: "sha512",
        program: "sha512sum",
        hex_len: 128,
    },
];

/// The `checksum:` parameter, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChecksumArg {
    /// A digest given inline.
    Hex(Algo, String),
    /// A checksum file to fetch.
    Url(Algo, String),
}

impl ChecksumArg {
    /// Parses `algorithm:value`.
    pub fn parse(s: &str) -> Result<ChecksumArg, String> {
        let (name, value) = s.split_once(':').ok_or_else(|| {
            format!("checksum {s:?} must be algorithm:digest (e.g. sha256:0123...)")
        })?;
        let name = name.trim().to_ascii_lowercase();
        let algo = *ALGOS.iter().find(|a| a.name == name).ok_or_else(|| {
            format!(
                "checksum algorithm {name:?} is not supported (use one of: {})",
                ALGOS.iter().map(|a| a.name).collect::<Vec<_>>().join(", ")
            )
        })?;
        let value = value.trim();
        if is_url(value) {
            return Ok(ChecksumArg::Url(algo, value.to_string()));
        }
        check_hex(algo, value).map(|h| ChecksumArg::Hex(algo, h))
    }

    /// The algorithm.
    pub fn algo(&self) -> Algo {
        match self {
            ChecksumArg::Hex(a, _) | ChecksumArg::Url(a, _) => *a,
        }
    }
}

fn check_hex(algo: Algo, value: &str) -> Result<String, String> {
    let v = value.to_ascii_lowercase();
    if v.len() != algo.hex_len || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "checksum {value:?} is not a {} digest ({} hex digits)",
            algo.name, algo.hex_len
        ));
    }
    Ok(v)
}

/// Finds the digest of `filename` in a checksum file (`HEX  name` or `HEX *name` lines; a
/// file with a single digest line matches any name).
pub fn digest_from_list(text: &str, filename: &str, algo: Algo) -> Result<String, String> {
    let lines: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| !f.is_empty() && !f[0].starts_with('#'))
        .collect();
    for f in &lines {
        if let [hex, name, ..] = f[..] {
            let name = name.trim_start_matches('*').trim_start_matches("./");
            if name == filename || name.rsplit('/').next() == Some(filename) {
                return check_hex(algo, hex);
            }
        }
    }
    if lines.len() == 1 && lines[0].len() <= 2 {
        return check_hex(algo, lines[0][0]);
    }
    Err(format!(
        "unable to find a checksum for file {filename:?} in the checksum file"
    ))
}

/// Everything the plan decided about one download.
struct Job {
    url: String,
    path: String,
    req: HttpRequest,
    expected: Option<(Algo, String)>,
    attrs: AttrPlan,
    timeout: u64,
}

/// The script downloading into a temp file next to the destination, verifying it and
/// renaming it into place. Prints `status_code=`, `checksum_src=` and `size=` lines.
fn download_script(job: &Job) -> String {
    let dir = parent_dir(&job.path);
    let mut s = prelude();
    s.push_str(&format!("d={}\n", quote(&job.path)));
    s.push_str(&format!(
        "tmp=$(mktemp {}) || {{ printf 'shipshape: cannot create a temporary file in %s\\n' {} >&2; exit 1; }}\n",
        quote(&format!("{}/.shipshape.XXXXXXXXXX", dir.trim_end_matches('/'))),
        quote(dir)
    ));
    s.push_str(&request_script(&job.req, &BodySink::Var("tmp")));
    s.push_str("printf 'status_code=%s\\n' \"$hcode\"\n");
    s.push_str(&format!(
        "if [ \"$hrc\" -ne 0 ]; then printf 'shipshape: Request failed: %s\\n' \"$(cat \"$ht/e\")\" >&2; exit {EXIT_HTTP}; fi\n"
    ));
    if job.url.to_ascii_lowercase().starts_with("http") {
        s.push_str(&format!(
            "if [ \"$hcode\" != 200 ]; then printf 'shipshape: Request failed: HTTP %s (%s)\\n' \"$hcode\" {} >&2; exit {EXIT_HTTP}; fi\n",
            quote(&job.url)
        ));
    }
    if let Some((algo, hex)) = &job.expected {
        s.push_str(&format!(
            "got=$({} < \"$tmp\" | cut -d' ' -f1)\n\
             if [ \"$got\" != {hex} ]; then printf 'shipshape: The checksum for %s did not match %s; it was %s.\\n' {} {hex} \"$got\" >&2; exit {EXIT_CHECKSUM}; fi\n",
            algo.program,
            quote(&job.path)
        ));
    }
    s.push_str("printf 'checksum_src=%s\\n' \"$(sha1sum < \"$tmp\" | cut -d' ' -f1)\"\n");
    s.push_str("printf 'size=%s\\n' \"$(wc -c < \"$tmp\")\"\n");
    let a = &job.attrs.attrs;
    if a.owner.is_none() || a.group.is_none() {
        s.push_str(
            "if [ -e \"$d\" ]; then chown -- \"$(stat -L -c %u:%g -- \"$d\")\" \"$tmp\" 2>/dev/null || :; fi\n",
        );
    }
    let chown = match (&a.owner, &a.group) {
        (None, None) => None,
        (Some(o), None) => Some(o.clone()),
        (None, Some(g)) => Some(format!(":{g}")),
        (Some(o), Some(g)) => Some(format!("{o}:{g}")),
    };
    if let Some(c) = chown {
        s.push_str(&format!("chown -- {} \"$tmp\" || exit 1\n", quote(&c)));
    }
    if let Some(m) = a.mode {
        s.push_str(&format!("chmod {} \"$tmp\" || exit 1\n", chmod_octal(m)));
    }
    s.push_str("mv -f -- \"$tmp\" \"$d\" || exit 1\ntmp=\n");
    s
}

fn request_of(a: &Args<'_>, url: &str, timeout: u64) -> Result<HttpRequest, ModuleError> {
    let mut req = HttpRequest::get(url);
    req.timeout = timeout;
    req.validate_certs = a.bool("validate_certs", true)?;
    if let Some(Value::Object(h)) = a.value("headers") {
        for (k, v) in h {
            req.headers
                .push((k.clone(), value_to_string(v).unwrap_or_default()));
        }
    }
    if let Some(user) = a.str("url_username")? {
        let pass = a.str("url_password")?.unwrap_or_default();
        req.auth = Some((user, Secret::new(pass)));
    }
    Ok(req)
}

async fn fetch_checksum_file(
    ctx: &TaskCtx<'_>,
    base: &HttpRequest,
    sum_url: &str,
    filename: &str,
    algo: Algo,
) -> Result<String, ModuleError> {
    let mut req = base.clone();
    req.url = sum_url.to_string();
    let out = run_query(ctx, &req, &BodySink::Capture, "").await?;
    let r = parse_response(&out.stdout, sum_url).map_err(|e| {
        ModuleError::failed(format!(
            "get_url: cannot fetch checksum file {sum_url}: {e}: {}",
            out.stderr_str().trim()
        ))
    })?;
    if r.status != 200 && !(r.status < 0 && r.rc == 0) {
        return Err(ModuleError::failed(format!(
            "get_url: cannot fetch checksum file {sum_url}: {}",
            r.describe()
        )));
    }
    let text = String::from_utf8_lossy(r.body.as_deref().unwrap_or_default()).into_owned();
    digest_from_list(&text, filename, algo)
        .map_err(|e| ModuleError::failed(format!("get_url: {e} {sum_url}")))
}

/// Runs one request as a read-only query (with `extra` shell after it).
pub(crate) async fn run_query(
    ctx: &TaskCtx<'_>,
    req: &HttpRequest,
    sink: &BodySink,
    extra: &str,
) -> Result<ExecOutput, ModuleError> {
    let mut script = standalone_script(req, sink);
    script.push_str(extra);
    let mut er = ExecRequest::new(script).stdin(stdin_config(req));
    er.timeout = Some(Duration::from_secs(req.timeout + 30));
    let out = ctx.query_with(er).await?;
    if out.status == 127 {
        return Err(ModuleError::failed(
            out.stderr_str()
                .trim()
                .trim_start_matches("shipshape: ")
                .to_string(),
        ));
    }
    Ok(out)
}

fn attr_only_plan(
    ctx: &TaskCtx<'_>,
    path: &str,
    attrs: &AttrPlan,
    mut result: ResultMap,
) -> Result<Plan, ModuleError> {
    attrs_result(&mut result, attrs);
    if attrs.change.is_empty() {
        return Ok(Plan::Unchanged { result });
    }
    Ok(Plan::Change {
        diff: attrs.diffs.clone(),
        steps: atomic::attr_steps(ctx, path, &attrs.change),
        result,
    })
}

#[async_trait::async_trait]
impl Module for GetUrl {
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }

    async fn plan(&self, ctx: &TaskCtx<'_>, args: &ResultMap) -> Result<Plan, ModuleError> {
        let a = Args::parse(&SPEC, args)?;
        let url = a.req_str("url")?;
        if !is_url(&url) {
            return Err(ModuleError::Args(format!(
                "get_url: url {url:?} must start with http://, https:// or ftp://"
            )));
        }
        let dest = a.req_str("dest")?;
        let force = a.bool("force", false)?;
        let timeout = match a.int("timeout")? {
            None => 10,
            Some(t) if t > 0 => t as u64,
            Some(t) => {
                return Err(ModuleError::Args(format!(
                    "get_url: timeout must be positive (got {t})"
                )));
            }
        };
        let checksum = a
            .str("checksum")?
            .filter(|c| !c.trim().is_empty())
            .map(|c| ChecksumArg::parse(&c))
            .transpose()
            .map_err(|e| ModuleError::Args(format!("get_url: {e}")))?;
        let want = Wanted {
            mode: a.mode("mode")?,
            owner: a.str("owner")?,
            group: a.str("group")?,
        };
        let req = request_of(&a, &url, timeout)?;
        let filename = url_basename(&url);

        // One query: the destination's state and, with a checksum, its digest.
        let opts = QueryOpts {
            sha1: true,
            content: atomic::ContentLimit::Skip,
            dir_child: (!filename.is_empty()).then(|| filename.clone()),
        };
        let mut script = format!("(\n{})\n", query_file_script(&dest, &opts));
        script.push_str(&atomic::part_separator());
        script.push_str(&format!("p={}\n", quote(&dest)));
        if !filename.is_empty() {
            script.push_str(&format!(
                "if [ -d \"$p\" ]; then p=\"${{p%/}}\"/{}; fi\n",
                quote(&filename)
            ));
        }
        if let Some(c) = &checksum {
            script.push_str(&format!(
                "if [ -f \"$p\" ] && [ -r \"$p\" ]; then printf 'sum=%s\\n' \"$({} < \"$p\" | cut -d' ' -f1)\"; fi\n",
                c.algo().program
            ));
        }
        let out = ctx.query(script).await?;
        let parts = split_parts(&out.stdout, 2).map_err(|e| {
            ModuleError::failed(format!(
                "get_url: cannot inspect {dest}: {e}: {}",
                out.stderr_str().trim()
            ))
        })?;
        let st: FileState = parse_query(parts[0], &opts)
            .map_err(|e| ModuleError::failed(format!("get_url: cannot inspect {dest}: {e}")))?;
        let dest_sum = String::from_utf8_lossy(parts[1])
            .lines()
            .find_map(|l| l.strip_prefix("sum=").map(str::to_string));
        let path = if st.into_dir {
            format!("{}/{filename}", dest.trim_end_matches('/'))
        } else {
            dest.clone()
        };
        if st.is_dir() {
            return Err(ModuleError::failed(if filename.is_empty() {
                format!("get_url: dest {dest} is a directory and url {url} names no file")
            } else {
                format!("get_url: {path} is a directory")
            }));
        }
        if dest.ends_with('/') && !st.into_dir {
            return Err(ModuleError::failed(format!(
                "get_url: Destination directory {dest} does not exist"
            )));
        }
        if !st.parent_is_dir {
            return Err(ModuleError::failed(format!(
                "get_url: Destination {} does not exist",
                parent_dir(&path)
            )));
        }
        let expected = match &checksum {
            None => None,
            Some(ChecksumArg::Hex(algo, hex)) => Some((*algo, hex.clone())),
            Some(ChecksumArg::Url(algo, sum_url)) => {
                let name = if filename.is_empty() {
                    url_basename(&path)
                } else {
                    filename.clone()
                };
                Some((
                    *algo,
                    fetch_checksum_file(ctx, &req, sum_url, &name, *algo).await?,
                ))
            }
        };
        let attrs = plan_attrs(
            &path,
            st.stat.as_ref(),
            st.creator.as_ref(),
            &want,
            false,
            None,
        )?;
        let mut result = ResultMap::new();
        result.insert("dest".into(), path.clone().into());
        result.insert("url".into(), url.clone().into());
        result.insert("state".into(), "file".into());
        if let Some(sum) = &st.sha1 {
            result.insert("checksum_dest".into(), sum.clone().into());
        }
        if st.is_file() {
            let matches = match (&expected, &dest_sum) {
                (Some((_, want)), Some(have)) => Some(want == have),
                _ => None,
            };
            let mut skip = match matches {
                Some(m) => m,
                None => !force,
            };
            if !skip && force && expected.is_none() {
                // Compare the content without keeping it: checksum a temp copy.
                let remote = remote_sha1(ctx, &req).await?;
                skip = st.sha1.as_deref() == Some(remote.as_str());
            }
            if skip {
                result.insert("msg".into(), "file already exists".into());
                if let Some(s) = &st.sha1 {
                    result.insert("checksum_src".into(), s.clone().into());
                }
                if let Some(s) = &st.stat {
                    result.insert("size".into(), s.size.into());
                }
                return attr_only_plan(ctx, &path, &attrs, result);
            }
        }
        attrs_result(&mut result, &attrs);
        let before = match &st.sha1 {
            Some(s) => format!("file (sha1 {s})"),
            None => "absent".to_string(),
        };
        let mut diff = vec![Diff::attr(
            &path,
            "content",
            &before,
            &format!("downloaded from {url}"),
        )];
        diff.extend(attrs.diffs.iter().cloned());
        let job = Job {
            url: url.clone(),
            path: path.clone(),
            req,
            expected,
            attrs,
            timeout,
        };
        let mut er = ExecRequest::new(download_script(&job)).stdin(stdin_config(&job.req));
        er.timeout = Some(Duration::from_secs(job.timeout + 60));
        let step = ctx.step_with(format!("download {url} to {path}"), er);
        Ok(Plan::Change {
            diff,
            steps: vec![step],
            result,
        })
    }

    fn finish(&self, result: &mut ResultMap, outputs: &[ExecOutput]) -> Result<(), ModuleError> {
        let Some(last) = outputs.last() else {
            return Ok(());
        };
        let text = last.stdout_str();
        let mut status = None;
        for line in text.lines() {
            if let Some(v) = line.strip_prefix("status_code=") {
                status = v.trim().parse::<i64>().ok();
            } else if let Some(v) = line.strip_prefix("checksum_src=") {
                result.insert("checksum_src".into(), v.trim().into());
            } else if let Some(v) = line.strip_prefix("size=")
                && let Ok(n) = v.trim().parse::<u64>()
            {
                result.insert("size".into(), n.into());
            }
        }
        if let Some(s) = status {
            result.insert("status_code".into(), s.into());
        }
        match outputs.iter().find(|o| !o.success()) {
            None => {
                let size = result.get("size").and_then(Value::as_u64).unwrap_or(0);
                result.insert("msg".into(), format!("OK ({size} bytes)").into());
                Ok(())
            }
            Some(o) => {
                let stderr = o.stderr_str();
                let msg = stderr
                    .lines()
                    .filter_map(|l| l.strip_prefix("shipshape: "))
                    .collect::<Vec<_>>()
                    .join("; ");
                let msg = if msg.is_empty() {
                    format!("get_url failed (rc={}): {}", o.status, stderr.trim())
                } else {
                    msg
                };
                let mut r = result.clone();
                r.insert("rc".into(), o.status.into());
                r.insert("msg".into(), msg.clone().into());
                Err(ModuleError::Failed { msg, result: r })
            }
        }
    }
}

/// The SHA-1 of what the URL serves now, computed on the target without keeping the body.
async fn remote_sha1(ctx: &TaskCtx<'_>, req: &HttpRequest) -> Result<String, ModuleError> {
    let extra = "printf 'sum=%s\\n' \"$(sha1sum < \"$tmp\" | cut -d' ' -f1)\"\n";
    let mut script = prelude();
    script.push_str("tmp=$(mktemp) || exit 1\n");
    script.push_str(&request_script(req, &BodySink::Var("tmp")));
    script.push_str(extra);
    let mut er = ExecRequest::new(script).stdin(stdin_config(req));
    er.timeout = Some(Duration::from_secs(req.timeout + 30));
    let out = ctx.query_with(er).await?;
    let r = parse_response(&out.stdout, &req.url).map_err(|e| {
        ModuleError::failed(format!(
            "get_url: cannot check {}: {e}: {}",
            req.url,
            out.stderr_str().trim()
        ))
    })?;
    if r.status != 200 && !(r.url.starts_with("ftp") && r.rc == 0) {
        return Err(ModuleError::failed(format!(
            "get_url: Request failed: {} ({})",
            r.describe(),
            req.url
        )));
    }
    r.tail
        .lines()
        .find_map(|l| l.strip_prefix("sum="))
        .map(str::to_string)
        .ok_or_else(|| ModuleError::failed(format!("get_url: cannot checksum {}", req.url)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_argument_parses() {
        let h = "A".repeat(64);
        assert_eq!(
            ChecksumArg::parse(&format!("sha256:{h}")).unwrap(),
            ChecksumArg::Hex(ALGOS[3], "a".repeat(64))
        );
        assert!(matches!(
            ChecksumArg::parse("sha1:http://h/SHA1SUMS").unwrap(),
            ChecksumArg::Url(a, u) if a.name == "sha1" && u == "http://h/SHA1SUMS"
        ));
        assert!(
            ChecksumArg::parse("sha256:abc")
                .unwrap_err()
                .contains("64 hex")
        );
        assert!(
            ChecksumArg::parse("crc32:00")
                .unwrap_err()
                .contains("not supported")
        );
        assert!(
            ChecksumArg::parse("deadbeef")
                .unwrap_err()
                .contains("algorithm:")
        );
    }

    #[test]
    fn checksum_files_are_searched_by_name() {
        let a = ALGOS[3];
        let x = "1".repeat(64);
        let y = "2".repeat(64);
        let list = format!("# sums\n{x}  other.tgz\n{y} *./app.tgz\n");
        assert_eq!(digest_from_list(&list, "app.tgz", a).unwrap(), y);
        assert!(digest_from_list(&list, "nope", a).is_err());
        assert_eq!(digest_from_list(&format!("{x}\n"), "any", a).unwrap(), x);
    }
}

#[cfg(test)]
mod host_tests {
    use super::*;
    use crate::modules::net::testserver::Server;
    use crate::modules::testutil::{Harness, mode_of, read};
    use serde_json::json;

    fn sha256(data: &[u8]) -> String {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(data))
    }

    #[tokio::test]
    async fn downloads_verifies_and_converges() {
        let srv = Server::start(vec![
            ("/f/app.txt", 200, "text/plain", b"hello app\n".to_vec()),
            (
                "/f/SUMS",
                200,
                "text/plain",
                format!("{}  app.txt\n", sha256(b"hello app\n")).into_bytes(),
            ),
        ]);
        let h = Harness::new();
        let dest = h.path("app.txt");
        let url = format!("{}/f/app.txt", srv.base());
        let args = json!({"url": url, "dest": dest, "checksum": format!("sha256:{}", sha256(b"hello app\n")), "mode": "0640"});
        let applied = h.converge(&GetUrl, &args).await;
        assert_eq!(read(&dest), "hello app\n");
        assert_eq!(mode_of(&dest), 0o640);
        assert_eq!(applied.result["status_code"], 200);
        assert_eq!(applied.result["size"], 10);
        // A directory dest uses the URL's file name; a checksum URL works.
        let dir = h.path("d");
        std::fs::create_dir(&dir).unwrap();
        let args =
            json!({"url": url, "dest": dir, "checksum": format!("sha256:{}/f/SUMS", srv.base())});
        h.converge(&GetUrl, &args).await;
        assert_eq!(read(&format!("{dir}/app.txt")), "hello app\n");
        // force=no and no checksum: an existing file is left alone.
        std::fs::write(&dest, "local edit\n").unwrap();
        h.assert_unchanged(&GetUrl, &json!({"url": url, "dest": dest}))
            .await;
        // force=yes: changed only when the content differs.
        h.converge(&GetUrl, &json!({"url": url, "dest": dest, "force": true}))
            .await;
        assert_eq!(read(&dest), "hello app\n");
        // Wrong checksum: fails, old file intact, no temp file left.
        std::fs::write(&dest, "old\n").unwrap();
        let err = h
            .apply(
                &GetUrl,
                &json!({"url": url, "dest": dest, "checksum": format!("sha256:{}", "0".repeat(64))}),
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("did not match"), "{err}");
        assert_eq!(read(&dest), "old\n");
        let leftovers: Vec<_> = std::fs::read_dir(h.path(""))
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(".shipshape"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        // 404: a clear failure naming the status.
        let err = h
            .apply(
                &GetUrl,
                &json!({"url": format!("{}/missing", srv.base()), "dest": h.path("m")}),
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("HTTP 404"), "{err}");
        assert!(!std::path::Path::new(&h.path("m")).exists());
    }
}
