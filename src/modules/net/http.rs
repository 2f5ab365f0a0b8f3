//! The one HTTP client every net module uses: a shell fragment that runs `curl` (or `wget`
//! when curl is missing) on the target, and the pure parser of what it prints. Options,
//! headers, body and credentials travel in a config file fed on stdin (never on argv), and
//! the fragment prints the status line, headers and (optionally) the body in one output.

use crate::core::{Secret, quote};

/// One HTTP request to make from the target.
#[derive(Clone, Debug)]
pub struct HttpRequest {
    /// The URL (http, https or ftp).
    pub url: String,
    /// Method (`GET`, `POST`, `HEAD`...), upper case.
    pub method: String,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// Request body.
    pub body: Option<String>,
    /// Seconds the whole request may take.
    pub timeout: u64,
    /// Verify TLS certificates.
    pub validate_certs: bool,
    /// Follow redirects.
    pub follow_redirects: bool,
    /// Basic-auth user and password.
    pub auth: Option<(String, Secret)>,
}

impl HttpRequest {
    /// A GET of `url` with the defaults of Ansible's url helpers (timeout 10 s, verified
    /// certificates, redirects followed).
    pub fn get(url: &str) -> Self {
        HttpRequest {
            url: url.to_string(),
            method: "GET".into(),
            headers: Vec::new(),
            body: None,
            timeout: 10,
            validate_certs: true,
            follow_redirects: true,
            auth: None,
        }
    }
}

/// Where the response body goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodySink {
    /// Printed after the headers (see [`parse_response`]).
    Capture,
    /// Thrown away.
    Discard,
    /// Into the file named by this shell variable (set by the caller's script, e.g. `tmp`).
    Var(&'static str),
}

/// The line separating the stdin config of curl from that of wget.
const WGET_SPLIT: &str = "#==shipshape-wget==";
const META: &str = "==shipshape-http==";
const ERR: &str = "==shipshape-http-err==";
const HEADERS: &str = "==shipshape-http-headers==";
const BODY: &str = "==shipshape-http-body==";

/// Quotes a value for a curl config file (`"..."` with backslash escapes).
pub fn curl_config_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The bytes fed on stdin: the curl config, then the wgetrc (credentials only) after a
/// separator line. Contains the password: never log it.
pub fn stdin_config(req: &HttpRequest) -> Vec<u8> {
    let mut c = String::new();
    c.push_str("silent\nshow-error\n");
    c.push_str(&format!("url = {}\n", curl_config_quote(&req.url)));
    if req.method == "HEAD" {
        c.push_str("head\n");
    } else if req.method != "GET" {
        c.push_str(&format!("request = {}\n", curl_config_quote(&req.method)));
    }
    for (k, v) in &req.headers {
        c.push_str(&format!(
            "header = {}\n",
            curl_config_quote(&format!("{k}: {v}"))
        ));
    }
    if let Some(b) = &req.body {
        c.push_str(&format!("data-binary = {}\n", curl_config_quote(b)));
    }
    c.push_str(&format!("max-time = {}\n", req.timeout.max(1)));
    if !req.validate_certs {
        c.push_str("insecure\n");
    }
    if req.follow_redirects {
        c.push_str("location\nmax-redirs = 50\n");
    }
    if let Some((user, pass)) = &req.auth {
        c.push_str(&format!(
            "user = {}\n",
            curl_config_quote(&format!("{user}:{}", pass.expose()))
        ));
    }
    c.push_str(WGET_SPLIT);
    c.push('\n');
    if let Some((user, pass)) = &req.auth {
        let clean = |s: &str| s.replace(['\n', '\r'], "");
        c.push_str(&format!(
            "user = {}\npassword = {}\nauth_no_challenge = on\n",
            clean(user),
            clean(pass.expose())
        ));
    }
    c.into_bytes()
}

/// Shell text that sets up `$ht` (a private temp dir removed on exit together with the file
/// named by `$tmp`, if any) and splits the stdin config into `$ht/curlrc` and `$ht/wgetrc`.
/// Every script using [`request_script`] starts with it.
pub fn prelude() -> String {
    format!(
        "tmp=\nht=$(mktemp -d) || {{ echo 'shipshape: cannot create a temporary directory' >&2; exit 1; }}\n\
         trap 'rm -rf -- \"$ht\"; [ -z \"$tmp\" ] || rm -f -- \"$tmp\"' EXIT\n\
         trap 'exit 129' HUP INT TERM PIPE\n\
         cat > \"$ht/in\" || exit 1\n\
         sed '/^{WGET_SPLIT}$/,$d' \"$ht/in\" > \"$ht/curlrc\" || exit 1\n\
         sed '1,/^{WGET_SPLIT}$/d' \"$ht/in\" > \"$ht/wgetrc\" || exit 1\n\
         rm -f -- \"$ht/in\"\n"
    )
}

/// Shell text running the request and printing its outcome (see [`parse_response`]). Sets
/// `$hcode` to the status (`000` when no response came). The body section is printed only
/// for [`BodySink::Capture`], so a caller may print more lines after it otherwise.
pub fn request_script(req: &HttpRequest, sink: &BodySink) -> String {
    let out = match sink {
        BodySink::Capture => "\"$ht/b\"".to_string(),
        BodySink::Discard => "/dev/null".to_string(),
        BodySink::Var(v) => format!("\"${v}\""),
    };
    let mut wget = format!(
        "wget --config=\"$ht/wgetrc\" -S --tries=1 --timeout={} --content-on-error -O {out}",
        req.timeout.max(1)
    );
    if req.method != "GET" {
        wget.push_str(&format!(" --method={}", quote(&req.method)));
    }
    if let Some(b) = &req.body {
        // wget has no config key for the body: it goes through a file, never argv.
        wget = format!(
            "printf '%s' {} > \"$ht/body\" && {wget} --body-file=\"$ht/body\"",
            quote(b)
        );
    }
    for (k, v) in &req.headers {
        wget.push_str(&format!(" --header={}", quote(&format!("{k}: {v}"))));
    }
    if !req.validate_certs {
        wget.push_str(" --no-check-certificate");
    }
    if !req.follow_redirects {
        wget.push_str(" --max-redirect=0");
    }
    wget.push_str(&format!(" -- {}", quote(&req.url)));
    let mut s = String::new();
    s.push_str(&format!(
        "if command -v curl >/dev/null 2>&1; then\n\
         \x20 htool=curl\n\
         \x20 curl -K \"$ht/curlrc\" -D \"$ht/h\" -o {out} -w '%{{http_code}}|%{{num_redirects}}|%{{content_type}}|%{{url_effective}}\\n' > \"$ht/w\" 2> \"$ht/e\"\n\
         \x20 hrc=$?\n\
         \x20 hcode=$(cut -d'|' -f1 \"$ht/w\")\n\
         elif command -v wget >/dev/null 2>&1; then\n\
         \x20 htool=wget\n\
         \x20 {wget} 2> \"$ht/e\"\n\
         \x20 hrc=$?\n\
         \x20 sed -n 's/^  //p' \"$ht/e\" > \"$ht/h\"\n\
         \x20 : > \"$ht/w\"\n\
         \x20 hcode=$(sed -n 's/^HTTP\\/[0-9.]* \\([0-9][0-9][0-9]\\).*/\\1/p' \"$ht/h\" | tail -n 1)\n\
         else\n\
         \x20 echo 'shipshape: neither curl nor wget is installed on the target' >&2; exit 127\n\
         fi\n\
         [ -n \"$hcode\" ] || hcode=000\n\
         [ -f \"$ht/h\" ] || : > \"$ht/h\"\n\
         printf '{META} tool=%s rc=%s\\n' \"$htool\" \"$hrc\"\n\
         cat \"$ht/w\"\n\
         echo {ERR}\n\
         grep -v '^  ' \"$ht/e\" | grep -v '^--' | grep -v '^$' || :\n\
         echo {HEADERS}\n\
         tr -d '\\r' < \"$ht/h\"\n\
         echo\n"
    ));
    if *sink == BodySink::Capture {
        s.push_str(&format!("echo {BODY}\n[ -f \"$ht/b\" ] && cat \"$ht/b\"\n"));
    }
    s
}

/// A whole script making one request with a captured or discarded body.
pub fn standalone_script(req: &HttpRequest, sink: &BodySink) -> String {
    let mut s = prelude();
    s.push_str(&request_script(req, sink));
    s
}

/// What the target got back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpResponse {
    /// `curl` or `wget`.
    pub tool: String,
    /// The tool's exit status.
    pub rc: i32,
    /// HTTP status; `-1` when no response came (connection refused, DNS, timeout).
    pub status: i64,
    /// Reason phrase of the final status line (`Not Found`).
    pub reason: String,
    /// The final URL (after redirects).
    pub url: String,
    /// Whether redirects were followed.
    pub redirected: bool,
    /// Headers of the final response, in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The tool's error message (stderr).
    pub error: String,
    /// The body, when captured.
    pub body: Option<Vec<u8>>,
    /// Lines printed after the headers when the body was not captured (caller's own output).
    pub tail: String,
}

impl HttpResponse {
    /// A header of the final response (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The Content-Type, without parameters.
    pub fn mime(&self) -> String {
        self.header("content-type")
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    }

    /// A one-line description of the outcome (`HTTP 404 Not Found`, or the tool's error).
    pub fn describe(&self) -> String {
        if self.status < 0 {
            let e = self.error.trim();
            if e.is_empty() {
                format!("Request failed ({} exited {})", self.tool, self.rc)
            } else {
                format!("Request failed: {e}")
            }
        } else {
            format!("HTTP {} {}", self.status, self.reason)
                .trim_end()
                .to_string()
        }
    }
}

fn find_marker(hay: &[u8], marker: &str, from: usize) -> Option<usize> {
    let m = marker.as_bytes();
    (from..hay.len()).find(|&i| (i == 0 || hay[i - 1] == b'\n') && hay[i..].starts_with(m))
}

/// Parses the output of [`request_script`] (possibly preceded and followed by the caller's
/// own lines).
pub fn parse_response(stdout: &[u8], requested_url: &str) -> Result<HttpResponse, String> {
    let start = find_marker(stdout, META, 0).ok_or("no HTTP result in the output")?;
    let err_at = find_marker(stdout, ERR, start).ok_or("truncated HTTP result")?;
    let hdr_at = find_marker(stdout, HEADERS, err_at).ok_or("truncated HTTP result")?;
    let body_at = find_marker(stdout, BODY, hdr_at);
    let text = |a: usize, b: usize| String::from_utf8_lossy(&stdout[a..b]).into_owned();
    let line_end = |at: usize| {
        stdout[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|p| at + p + 1)
            .unwrap_or(stdout.len())
    };
    let mut r = HttpResponse::default();
    let meta = text(start, err_at);
    let mut lines = meta.lines();
    let first = lines.next().unwrap_or("");
    for word in first.split_whitespace().skip(1) {
        if let Some(t) = word.strip_prefix("tool=") {
            r.tool = t.to_string();
        } else if let Some(rc) = word.strip_prefix("rc=") {
            r.rc = rc.parse().unwrap_or(-1);
        }
    }
    let write_out = lines.next().unwrap_or("").to_string();
    r.error = text(line_end(err_at), hdr_at).trim().to_string();
    let headers_end = body_at.unwrap_or(stdout.len());
    let header_text = text(line_end(hdr_at), headers_end);
    // The last response block (after redirects and `100 Continue`) is the final one; for
    // wget the tail of the caller's output follows the headers.
    let mut blocks: Vec<Vec<&str>> = Vec::new();
    let mut tail = Vec::new();
    let mut in_block = false;
    for line in header_text.lines() {
        if line.starts_with("HTTP/") {
            blocks.push(vec![line]);
            in_block = true;
        } else if line.is_empty() {
            in_block = false;
        } else if in_block {
            if let Some(b) = blocks.last_mut() {
                b.push(line);
            }
        } else {
            tail.push(line);
        }
    }
    r.tail = tail.join("\n");
    if let Some(b) = body_at {
        r.body = Some(stdout[line_end(b)..].to_vec());
    }
    if let Some(last) = blocks.last() {
        let mut parts = last[0].splitn(3, ' ');
        parts.next();
        r.status = parts.next().and_then(|c| c.parse().ok()).unwrap_or(-1);
        r.reason = parts.next().unwrap_or("").trim().to_string();
        for h in &last[1..] {
            if let Some((k, v)) = h.split_once(':') {
                r.headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
    } else {
        r.status = -1;
    }
    let w: Vec<&str> = write_out.splitn(4, '|').collect();
    if r.tool == "curl" && w.len() == 4 {
        let code: i64 = w[0].parse().unwrap_or(0);
        r.status = if code == 0 { -1 } else { code };
        r.redirected = w[1].parse::<u64>().unwrap_or(0) > 0;
        r.url = if w[3].is_empty() {
            requested_url.to_string()
        } else {
            w[3].to_string()
        };
    } else {
        r.redirected = blocks.len() > 1
            && blocks[..blocks.len() - 1]
                .iter()
                .any(|b| b[0].split(' ').nth(1).is_some_and(|c| c.starts_with('3')));
        let location = blocks[..blocks.len().saturating_sub(1)]
            .iter()
            .flat_map(|b| b[1..].iter())
            .filter_map(|h| h.split_once(':'))
            .filter(|(k, _)| k.trim().eq_ignore_ascii_case("location"))
            .map(|(_, v)| v.trim().to_string())
            .next_back();
        r.url = match location {
            Some(l) if l.contains("://") => l,
            _ => requested_url.to_string(),
        };
    }
    if r.status < 0 && r.rc == 0 {
        return Err("the HTTP client printed no status".into());
    }
    Ok(r)
}

/// Percent-encodes a form value (`application/x-www-form-urlencoded`).
pub fn form_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The last path component of a URL, without query or fragment (`""` when none).
pub fn url_basename(url: &str) -> String {
    let no_frag = url.split('#').next().unwrap_or("");
    let no_query = no_frag.split('?').next().unwrap_or("");
    let path = match no_query.split_once("://") {
        Some((_, rest)) => rest.split_once('/').map(|(_, p)| p).unwrap_or(""),
        None => no_query,
    };
    path.rsplit('/').next().unwrap_or("").to_string()
}

/// Whether `url` has a scheme the target's clients can fetch.
pub fn is_url(s: &str) -> bool {
    ["http://", "https://", "ftp://"]
        .iter()
        .any(|p| s.len() > p.len() && s[..p.len()].eq_ignore_ascii_case(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curl_config_escapes_and_hides_nothing_on_argv() {
        assert_eq!(curl_config_quote("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
        let mut req = HttpRequest::get("http://h/x y");
        req.auth = Some(("bob".into(), Secret::new("p$ss'w\"d")));
        req.method = "POST".into();
        req.body = Some("{\"a\": 1}".into());
        req.headers.push(("X-Tok".into(), "v".into()));
        let cfg = String::from_utf8(stdin_config(&req)).unwrap();
        assert!(cfg.contains("url = \"http://h/x y\"\n"), "{cfg}");
        assert!(cfg.contains("request = \"POST\"\n"), "{cfg}");
        assert!(cfg.contains("user = \"bob:p$ss'w\\\"d\"\n"), "{cfg}");
        assert!(cfg.contains("data-binary = \"{\\\"a\\\": 1}\"\n"), "{cfg}");
        assert!(cfg.contains("location\n"), "{cfg}");
        let (curl, wget) = cfg.split_once(WGET_SPLIT).unwrap();
        assert!(curl.contains("header = \"X-Tok: v\""));
        assert!(wget.contains("password = p$ss'w\"d\n"), "{wget}");
        let script = standalone_script(&req, &BodySink::Capture);
        assert!(!script.contains("p$ss"), "{script}");
    }

    #[test]
    fn parses_curl_output_with_redirects() {
        let out = b"==shipshape-http== tool=curl rc=0\n200|1|text/html|http://h/new/\n==shipshape-http-err==\n==shipshape-http-headers==\nHTTP/1.1 301 Moved Permanently\nLocation: http://h/new/\n\nHTTP/1.1 200 OK\nServer: nginx/1.22.1\nContent-Type: text/html\nContent-Length: 5\n\n==shipshape-http-body==\nhello";
        let r = parse_response(out, "http://h/new").unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.reason, "OK");
        assert!(r.redirected);
        assert_eq!(r.url, "http://h/new/");
        assert_eq!(r.header("server"), Some("nginx/1.22.1"));
        assert_eq!(r.mime(), "text/html");
        assert_eq!(r.body.as_deref(), Some(&b"hello"[..]));
    }

    #[test]
    fn parses_refused_connections_and_wget() {
        let out = b"==shipshape-http== tool=curl rc=7\n000|0||http://10.0.0.9/\n==shipshape-http-err==\ncurl: (7) Failed to connect to 10.0.0.9 port 80 after 0 ms: Couldn't connect to server\n==shipshape-http-headers==\n";
        let r = parse_response(out, "http://10.0.0.9/").unwrap();
        assert_eq!(r.status, -1);
        assert!(
            r.describe().contains("Couldn't connect"),
            "{}",
            r.describe()
        );
        let out = b"==shipshape-http== tool=wget rc=8\n==shipshape-http-err==\n==shipshape-http-headers==\nHTTP/1.1 302 Found\nLocation: http://h/b\n\nHTTP/1.1 404 Not Found\nContent-Type: application/json\nstatus_code=404\n";
        let r = parse_response(out, "http://h/a").unwrap();
        assert_eq!(r.status, 404);
        assert!(r.redirected);
        assert_eq!(r.url, "http://h/b");
        assert_eq!(r.mime(), "application/json");
        assert_eq!(r.describe(), "HTTP 404 Not Found");
    }

    #[test]
    fn url_helpers() {
        assert_eq!(url_basename("http://h:8080/files/a.tgz?x=1#f"), "a.tgz");
        assert_eq!(url_basename("http://h"), "");
        assert_eq!(form_encode("a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
        assert!(is_url("HTTPS://x/y") && !is_url("/tmp/x") && !is_url("http://"));
    }
}

#[cfg(test)]
mod host_tests {
    use super::*;
    use crate::modules::net::testserver::Server;
    use std::io::Write;
    use std::process::{Command, Stdio};

    /// Runs a request script locally with `path` as PATH (to hide curl) and parses it.
    fn run(req: &HttpRequest, sink: &BodySink, path: &str) -> HttpResponse {
        let script = format!(
            "PATH={}\nexport PATH\n{}",
            quote(path),
            standalone_script(req, sink)
        );
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(&stdin_config(req))
            .unwrap();
        let out = child.wait_with_output().unwrap();
        parse_response(&out.stdout, &req.url)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
    }

    #[test]
    fn curl_and_wget_agree() {
        let srv = Server::start(vec![
            ("/a", 200, "application/json", b"{\"x\": 1}".to_vec()),
            ("/r", 302, "", b"/a".to_vec()),
        ]);
        let has = |t: &str| {
            Command::new("sh")
                .arg("-c")
                .arg(format!("command -v {t}"))
                .output()
                .unwrap()
                .status
                .success()
        };
        let bin = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir("/usr/bin").unwrap().flatten() {
            if entry.file_name() != "curl" {
                let _ =
                    std::os::unix::fs::symlink(entry.path(), bin.path().join(entry.file_name()));
            }
        }
        let mut paths = Vec::new();
        if has("curl") {
            paths.push(("curl", std::env::var("PATH").unwrap()));
        }
        if has("wget") {
            paths.push(("wget", bin.path().display().to_string()));
        }
        for (tool, path) in paths {
            let mut req = HttpRequest::get(&format!("{}/r", srv.base()));
            req.auth = Some(("u".into(), Secret::new("p")));
            let r = run(&req, &BodySink::Capture, &path);
            assert_eq!(r.tool, tool);
            assert_eq!(r.status, 200, "{tool}: {r:?}");
            assert!(r.redirected, "{tool}");
            assert_eq!(r.mime(), "application/json", "{tool}");
            assert_eq!(r.body.as_deref(), Some(&b"{\"x\": 1}"[..]), "{tool}");
            req.url = format!("{}/echo", srv.base());
            req.method = "PUT".into();
            req.body = Some("data 'q'".into());
            let r = run(&req, &BodySink::Capture, &path);
            let j: serde_json::Value = serde_json::from_slice(r.body.as_deref().unwrap()).unwrap();
            assert_eq!(j["method"], "PUT", "{tool}");
            assert_eq!(j["body"], "data 'q'", "{tool}");
            assert_eq!(j["headers"]["authorization"], "Basic dTpw", "{tool}");
            req.url = format!("{}/none", srv.base());
            req.method = "GET".into();
            req.body = None;
            let r = run(&req, &BodySink::Discard, &path);
            assert_eq!(r.status, 404, "{tool}");
            req.url = "http://127.0.0.1:9/".into();
            let r = run(&req, &BodySink::Discard, &path);
            assert_eq!(r.status, -1, "{tool}: {r:?}");
        }
    }
}
