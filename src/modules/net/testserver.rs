//! A tiny HTTP/1.1 server on 127.0.0.1 for the net modules' host tests: fixed routes, a
//! redirect kind, and `/echo` that answers the request back as JSON.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

/// A route: path, status, content type, body (for 301/302 the body is the Location).
pub type Route = (&'static str, u16, &'static str, Vec<u8>);

/// A running server (its thread lives as long as the test process).
pub struct Server {
    port: u16,
}

impl Server {
    /// Starts serving `routes`.
    pub fn start(routes: Vec<Route>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut first = String::new();
                if reader.read_line(&mut first).is_err() {
                    continue;
                }
                let mut headers = Vec::new();
                let mut len = 0usize;
                loop {
                    let mut l = String::new();
                    if reader.read_line(&mut l).unwrap_or(0) == 0 || l.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = l.trim().split_once(':') {
                        if k.eq_ignore_ascii_case("content-length") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                    }
                }
                let mut body = vec![0u8; len];
                let _ = reader.read_exact(&mut body);
                let mut words = first.split_whitespace();
                let method = words.next().unwrap_or("").to_string();
                let path = words.next().unwrap_or("").to_string();
                let (status, ctype, payload, location) = if path == "/echo" {
                    let h: serde_json::Map<String, serde_json::Value> = headers
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone().into()))
                        .collect();
                    let v = serde_json::json!({
                        "method": method,
                        "body": String::from_utf8_lossy(&body),
                        "headers": h,
                    });
                    (200, "application/json", v.to_string().into_bytes(), None)
                } else {
                    match routes.iter().find(|r| r.0 == path) {
                        Some((_, s @ (301 | 302), _, loc)) => (
                            *s,
                            "text/plain",
                            Vec::new(),
                            Some(String::from_utf8_lossy(loc).into_owned()),
                        ),
                        Some((_, s, c, b)) => (*s, *c, b.clone(), None),
                        None => (404, "text/plain", b"not found\n".to_vec(), None),
                    }
                };
                let reason = match status {
                    200 => "OK",
                    301 => "Moved Permanently",
                    302 => "Found",
                    404 => "Not Found",
                    _ => "Other",
                };
                let mut resp = format!(
                    "HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n",
                    payload.len()
                );
                if let Some(l) = location {
                    resp.push_str(&format!("Location: {l}\r\n"));
                }
                resp.push_str("\r\n");
                let _ = stream.write_all(resp.as_bytes());
                if method != "HEAD" {
                    let _ = stream.write_all(&payload);
                }
            }
        });
        Server { port }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}
