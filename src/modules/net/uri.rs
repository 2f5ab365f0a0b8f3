//! `uri`: makes an HTTP request from the target (curl, else wget) and checks its status. Like
//! Ansible it never reports changed. Safe methods (GET, HEAD, OPTIONS) also run in check
//! mode; other methods are not sent in check mode. Retries come from the task's `until:`.

use serde_json::Value;

use super::get_url::run_query;
use super::http::{BodySink, HttpRequest, form_encode, is_url, parse_response};
use crate::core::{
    Module, ModuleError, ModuleSpec, ParamKind, ParamSpec, Plan, ResultMap, Secret, TaskCtx,
};
use crate::modules::args::{Args, Rules, as_int, value_to_string};

/// The `uri` module.
pub struct Uri;

/// Parameters of `uri`.
pub static SPEC: ModuleSpec = ModuleSpec {
    name: "uri",
    doc: "Makes an HTTP request from the target and checks the response status.",
    params: &[
        ParamSpec::new("url", ParamKind::Str, "The URL to request.").required(),
        ParamSpec::new("method", ParamKind::Str, "HTTP method (default GET)."),
        ParamSpec::new(
            "body",
            ParamKind::Raw,
            "Request body: text, or data encoded per body_format.",
        ),
        ParamSpec::new(
            "body_format",
            ParamKind::Str,
            "raw (default), json (data serialised, Content-Type set) or form-urlencoded.",
        )
        .choices(&["raw", "json", "form-urlencoded"]),
        ParamSpec::new("headers", ParamKind::Dict, "Extra request headers."),
        ParamSpec::new(
            "status_code",
            ParamKind::Raw,
            "Accepted status code or list of codes (default 200).",
        ),
        ParamSpec::new(
            "return_content",
            ParamKind::Bool,
            "Return the body as `content` (default no; JSON bodies are always in `json`).",
        ),
        ParamSpec::new(
            "timeout",
            ParamKind::Int,
            "Seconds the request may take (default 30).",
        ),
        ParamSpec::new(
            "validate_certs",
            ParamKind::Bool,
            "Verify TLS certificates (default yes).",
        ),
        ParamSpec::new(
            "follow_redirects",
            ParamKind::Str,
            "safe (default: GET/HEAD only), all/yes, or none/no.",
        )
        .choices(&["safe", "all", "yes", "none", "no", "urllib2"]),
        ParamSpec::new(
            "url_username",
            ParamKind::Str,
            "User for HTTP basic authentication.",
        )
        .aliases(&["user"]),
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
    ],
    free_form: false,
};

/// Argument rules of `uri`.
pub const RULES: Rules = Rules::NONE;

/// Parses `status_code`: an int, a numeric string, a comma list or a list of those.
pub fn parse_status_codes(v: Option<&Value>) -> Result<Vec<i64>, String> {
    let Some(v) = v else {
        return Ok(vec![200]);
    };
    let items: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    let mut out = Vec::new();
    for i in items {
        let text = value_to_string(i).unwrap_or_default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let code = as_int(&Value::String(part.to_string()))
                .ok_or_else(|| format!("status_code {part:?} is not a number"))?;
            out.push(code);
        }
    }
    if out.is_empty() {
        return Err("status_code is empty".into());
    }
    Ok(out)
}

/// The request body and the Content-Type it implies.
pub fn encode_body(
    body: Option<&Value>,
    format: &str,
) -> Result<(Option<String>, Option<&'static str>), String> {
    let Some(body) = body else {
        return Ok((None, None));
    };
    match format {
        "json" => {
            let text = match body {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            Ok((Some(text), Some("application/json")))
        }
        "form-urlencoded" => {
            let pairs: Vec<(String, String)> =
                match body {
                    Value::String(s) => {
                        return Ok((Some(s.clone()), Some("application/x-www-form-urlencoded")));
                    }
                    Value::Object(m) => m
                        .iter()
                        .map(|(k, v)| (k.clone(), value_to_string(v).unwrap_or_default()))
                        .collect(),
                    Value::Array(items) => items
                        .iter()
                        .map(|i| match i {
                            Value::Array(p) if p.len() == 2 => Ok((
                                value_to_string(&p[0]).unwrap_or_default(),
                                value_to_string(&p[1]).unwrap_or_default(),
                            )),
                            _ => Err("form-urlencoded body lists must hold [key, value] pairs"
                                .to_string()),
                        })
                        .collect::<Result<_, _>>()?,
                    other => return Err(format!("cannot form-encode {other}")),
                };
            let text = pairs
                .iter()
                .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
                .collect::<Vec<_>>()
                .join("&");
            Ok((Some(text), Some("application/x-www-form-urlencoded")))
        }
        _ => match body {
            Value::String(s) => Ok((Some(s.clone()), None)),
            other => Ok((Some(other.to_string()), None)),
        },
    }
}

fn codes_text(codes: &[i64]) -> String {
    format!(
        "[{}]",
        codes
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    )
}

#[async_trait::async_trait]
impl Module for Uri {
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }

    async fn plan(&self, ctx: &TaskCtx<'_>, args: &ResultMap) -> Result<Plan, ModuleError> {
        let a = Args::parse(&SPEC, args)?;
        let bad = |m: String| ModuleError::Args(format!("uri: {m}"));
        let url = a.req_str("url")?;
        if !is_url(&url) {
            return Err(bad(format!(
                "url {url:?} must start with http://, https:// or ftp://"
            )));
        }
        let method = a
            .str("method")?
            .unwrap_or_else(|| "GET".into())
            .to_ascii_uppercase();
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(bad(format!("method {method:?} is not an HTTP method")));
        }
        let codes = parse_status_codes(a.value("status_code")).map_err(bad)?;
        let format = a.choice("body_format", "raw")?;
        let (body, ctype) = encode_body(a.value("body"), &format).map_err(bad)?;
        let timeout = match a.int("timeout")? {
            None => 30,
            Some(t) if t > 0 => t as u64,
            Some(t) => return Err(bad(format!("timeout must be positive (got {t})"))),
        };
        let safe = matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS");
        let follow = match a.choice("follow_redirects", "safe")?.as_str() {
            "all" | "yes" => true,
            "none" | "no" => false,
            _ => safe,
        };
        let mut req = HttpRequest::get(&url);
        req.method = method.clone();
        req.timeout = timeout;
        req.validate_certs = a.bool("validate_certs", true)?;
        req.follow_redirects = follow;
        req.body = body;
        if let Some(Value::Object(h)) = a.value("headers") {
            for (k, v) in h {
                req.headers
                    .push((k.clone(), value_to_string(v).unwrap_or_default()));
            }
        }
        if let Some(ct) = ctype
            && !req
                .headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            req.headers.push(("Content-Type".into(), ct.into()));
        }
        if let Some(user) = a.str("url_username")? {
            let pass = a.str("url_password")?.unwrap_or_default();
            req.auth = Some((user, Secret::new(pass)));
        }
        let return_content = a.bool("return_content", false)?;
        let mut result = ResultMap::new();
        result.insert("url".into(), url.clone().into());
        if ctx.check && !safe {
            result.insert(
                "msg".into(),
                format!("check mode: the {method} request to {url} was not sent").into(),
            );
            return Ok(Plan::Unchanged { result });
        }
        let sink = if method == "HEAD" {
            BodySink::Discard
        } else {
            BodySink::Capture
        };
        let started = std::time::Instant::now();
        let out = run_query(ctx, &req, &sink, "").await?;
        let elapsed = started.elapsed().as_secs();
        let r = parse_response(&out.stdout, &url).map_err(|e| {
            ModuleError::failed(format!(
                "uri: request to {url} did not complete: {e}: {}",
                out.stderr_str().trim()
            ))
        })?;
        result.insert("status".into(), r.status.into());
        result.insert("url".into(), r.url.clone().into());
        result.insert("redirected".into(), r.redirected.into());
        for (k, v) in &r.headers {
            result.insert(k.to_ascii_lowercase().replace('-', "_"), v.clone().into());
        }
        let body = r.body.clone().unwrap_or_default();
        let mime = r.mime();
        if !body.is_empty()
            && (mime == "application/json" || mime.ends_with("+json"))
            && let Ok(j) = serde_json::from_slice::<Value>(&body)
        {
            result.insert("json".into(), j);
        }
        if return_content {
            result.insert(
                "content".into(),
                String::from_utf8_lossy(&body).into_owned().into(),
            );
        }
        result.insert("elapsed".into(), elapsed.into());
        if r.status < 0 {
            let msg = format!(
                "Status code was -1 and not {}: {} (url: {url})",
                codes_text(&codes),
                r.describe()
            );
            result.insert("msg".into(), msg.clone().into());
            return Err(ModuleError::Failed { msg, result });
        }
        if !codes.contains(&r.status) {
            let msg = format!(
                "Status code was {} and not {}: {} (url: {url})",
                r.status,
                codes_text(&codes),
                r.describe()
            );
            result.insert("msg".into(), msg.clone().into());
            return Err(ModuleError::Failed { msg, result });
        }
        let len = r
            .header("content-length")
            .map(str::to_string)
            .unwrap_or_else(|| body.len().to_string());
        result.insert("msg".into(), format!("OK ({len} bytes)").into());
        Ok(Plan::Unchanged { result })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_codes_parse() {
        assert_eq!(parse_status_codes(None).unwrap(), vec![200]);
        assert_eq!(parse_status_codes(Some(&json!(404))).unwrap(), vec![404]);
        assert_eq!(
            parse_status_codes(Some(&json!([200, "201", "301,302"]))).unwrap(),
            vec![200, 201, 301, 302]
        );
        assert!(parse_status_codes(Some(&json!("ok"))).is_err());
    }

    #[test]
    fn bodies_encode() {
        let (b, ct) = encode_body(Some(&json!({"a": 1})), "json").unwrap();
        assert_eq!(b.as_deref(), Some("{\"a\":1}"));
        assert_eq!(ct, Some("application/json"));
        let (b, _) = encode_body(Some(&json!({"q": "a b", "x": "&"})), "form-urlencoded").unwrap();
        assert_eq!(b.as_deref(), Some("q=a+b&x=%26"));
        let (b, ct) = encode_body(Some(&json!("raw text")), "raw").unwrap();
        assert_eq!((b.as_deref(), ct), (Some("raw text"), None));
    }
}

#[cfg(test)]
mod host_tests {
    use super::*;
    use crate::modules::net::testserver::Server;
    use crate::modules::testutil::Harness;
    use serde_json::json;

    #[tokio::test]
    async fn requests_check_status_and_parse_json() {
        let srv = Server::start(vec![
            ("/ok", 200, "text/plain", b"fine\n".to_vec()),
            ("/old", 302, "", b"/ok".to_vec()),
        ]);
        let h = Harness::new();
        let r = h
            .assert_unchanged(
                &Uri,
                &json!({"url": format!("{}/old", srv.base()), "return_content": true}),
            )
            .await;
        assert_eq!(r["status"], 200);
        assert_eq!(r["content"], "fine\n");
        assert_eq!(r["redirected"], true);
        assert_eq!(r["content_type"], "text/plain");
        let r = h
            .assert_unchanged(
                &Uri,
                &json!({"url": format!("{}/old", srv.base()), "follow_redirects": "none", "status_code": [301, 302]}),
            )
            .await;
        assert_eq!(r["status"], 302);
        assert_eq!(r["location"], "/ok");
        let r = h
            .assert_unchanged(
                &Uri,
                &json!({"url": format!("{}/echo", srv.base()), "method": "POST", "body_format": "json",
                        "body": {"k": "v"}, "url_username": "u", "url_password": "p'w"}),
            )
            .await;
        assert_eq!(r["json"]["method"], "POST");
        assert_eq!(r["json"]["body"], "{\"k\":\"v\"}");
        assert_eq!(r["json"]["headers"]["content-type"], "application/json");
        assert_eq!(r["json"]["headers"]["authorization"], "Basic dTpwJ3c=");
        assert!(r.get("content").is_none());
        h.assert_unchanged(
            &Uri,
            &json!({"url": format!("{}/nope", srv.base()), "status_code": 404}),
        )
        .await;
        let url = format!("{}/nope", srv.base());
        let err = h.apply(&Uri, &json!({"url": url})).await.unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("Status code was 404 and not [200]") && text.contains(&url),
            "{text}"
        );
        // Check mode does not send unsafe methods.
        let plan = h
            .plan(
                &Uri,
                &json!({"url": format!("{}/echo", srv.base()), "method": "DELETE"}),
                true,
            )
            .await
            .unwrap();
        assert!(
            matches!(plan, Plan::Unchanged { result } if result["msg"].as_str().unwrap().contains("not sent"))
        );
        // Connection refused: status -1 with the URL.
        let err = h
            .apply(&Uri, &json!({"url": "http://127.0.0.1:9/", "timeout": 3}))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("Status code was -1"), "{err}");
    }
}
