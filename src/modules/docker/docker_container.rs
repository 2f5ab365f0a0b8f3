//! `docker_container` (community.docker): a container created, started, stopped or removed
//! with the docker CLI. One read-only query inspects the container and its image; the wanted
//! spec is compared field by field with `docker inspect` (only what the task sets), and the
//! container is recreated only on a real difference, which the diff names. A new container is
//! created under a temporary name first, so a failing create leaves the old one running.
//! Environment values travel in a 0600 env file fed on stdin, never on a command line.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{
    Change, Probe, changes_diff, check_name, docker, field_names, finish_inspect, map_at, object,
    probe, str_at, string_map, strings_at,
};
use crate::core::{
    Diff, ExecOutput, ExecRequest, Module, ModuleError, ModuleSpec, ParamKind, ParamSpec, Plan,
    ResultMap, TaskCtx, quote,
};
use crate::modules::args::{Args, Rules, as_int, value_to_string};
use crate::modules::commands::split_args;

/// The `docker_container` module.
pub struct DockerContainer;

const NAME: &str = "docker_container";

/// Parameters of `docker_container`.
pub static SPEC: ModuleSpec = ModuleSpec {
    name: NAME,
    doc: "Creates, recreates, starts, stops or removes a Docker container with the docker CLI.",
    params: &[
        ParamSpec::new("name", ParamKind::Str, "Container name.").required(),
        ParamSpec::new(
            "image",
            ParamKind::Str,
            "Image (`name:tag`); needed to create the container.",
        ),
        ParamSpec::new(
            "command",
            ParamKind::Raw,
            "Command: a string (split like a shell) or a list.",
        ),
        ParamSpec::new(
            "entrypoint",
            ParamKind::Raw,
            "Entrypoint: a list (or a string split like a shell).",
        ),
        ParamSpec::new(
            "env",
            ParamKind::Dict,
            "Environment variables (values are strings).",
        ),
        ParamSpec::new(
            "published_ports",
            ParamKind::List,
            "Ports: `8080:80`, `127.0.0.1:8080:80/tcp`, `80`.",
        )
        .aliases(&["ports"]),
        ParamSpec::new(
            "volumes",
            ParamKind::List,
            "Volumes: `/host:/ctr[:ro]`, `named:/ctr`, `/ctr`.",
        ),
        ParamSpec::new(
            "mounts",
            ParamKind::Raw,
            "List of {source, target, type (bind/volume/tmpfs), read_only}.",
        ),
        ParamSpec::new(
            "networks",
            ParamKind::Raw,
            "List of {name, aliases, ipv4_address}; the first one is the network_mode.",
        ),
        ParamSpec::new(
            "network_mode",
            ParamKind::Str,
            "bridge, host, none, container:NAME or a network name.",
        ),
        ParamSpec::new(
            "restart_policy",
            ParamKind::Str,
            "no, always, on-failure or unless-stopped (YAML `no` is accepted unquoted).",
        ),
        ParamSpec::new(
            "restart_retries",
            ParamKind::Int,
            "Retries with restart_policy=on-failure.",
        ),
        ParamSpec::new("labels", ParamKind::Dict, "Labels of the container."),
        ParamSpec::new(
            "state",
            ParamKind::Str,
            "started (default), stopped, present (created) or absent.",
        )
        .choices(&["started", "stopped", "present", "absent"]),
        ParamSpec::new(
            "recreate",
            ParamKind::Bool,
            "Recreate the container even when it matches.",
        ),
        ParamSpec::new(
            "restart",
            ParamKind::Bool,
            "Restart a matching running container.",
        ),
        ParamSpec::new(
            "pull",
            ParamKind::Str,
            "missing (default): pull the image when absent; never: fail when absent.",
        ),
        ParamSpec::new("user", ParamKind::Str, "User (`name`, `uid[:gid]`)."),
        ParamSpec::new("working_dir", ParamKind::Str, "Working directory."),
        ParamSpec::new("hostname", ParamKind::Str, "Container host name."),
        ParamSpec::new(
            "healthcheck",
            ParamKind::Dict,
            "{test, interval, timeout, retries, start_period}.",
        ),
    ],
    free_form: false,
};

/// Argument rules of `docker_container`.
pub const RULES: Rules = Rules::NONE;

/// Wanted run state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Started,
    Stopped,
    Present,
    Absent,
}

/// One published port: `ip:host:container/proto`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Port {
    /// `80/tcp`.
    pub container: String,
    /// Host address ("" for all).
    pub ip: String,
    /// Host port ("" for a random one).
    pub host: String,
}

impl Port {
    /// Parses `8080:80`, `127.0.0.1:8080:80/tcp`, `127.0.0.1::80`, `80/udp`.
    pub fn parse(spec: &str) -> Result<Port, String> {
        let bad = |why: &str| format!("published port {spec:?}: {why}");
        let (rest, proto) = match spec.rsplit_once('/') {
            Some((r, p)) if ["tcp", "udp", "sctp"].contains(&p) => (r, p),
            Some(_) => return Err(bad("protocol must be tcp, udp or sctp")),
            None => (spec, "tcp"),
        };
        if rest.contains('[') || rest.contains('-') {
            return Err(bad("port ranges and IPv6 addresses are not supported"));
        }
        let parts: Vec<&str> = rest.split(':').collect();
        let (ip, host, container) = match parts.as_slice() {
            [c] => ("", "", *c),
            [h, c] => ("", *h, *c),
            [ip, h, c] => (*ip, *h, *c),
            _ => return Err(bad("expected [ip:][host_port:]container_port[/proto]")),
        };
        let is_port = |p: &str| p.parse::<u16>().is_ok_and(|n| n > 0);
        if !is_port(container) || !(host.is_empty() || is_port(host)) {
            return Err(bad("ports must be numbers from 1 to 65535"));
        }
        if !ip.is_empty() && ip.parse::<std::net::Ipv4Addr>().is_err() {
            return Err(bad("the host address must be an IPv4 address"));
        }
        Ok(Port {
            container: format!("{container}/{proto}"),
            ip: if ip == "0.0.0.0" {
                String::new()
            } else {
                ip.to_string()
            },
            host: host.to_string(),
        })
    }

    /// The `-p` argument.
    fn flag(&self) -> String {
        match (self.ip.as_str(), self.host.as_str()) {
            ("", "") => self.container.clone(),
            ("", h) => format!("{h}:{}", self.container),
            (ip, h) => format!("{ip}:{h}:{}", self.container),
        }
    }

    fn text(ports: &BTreeSet<Port>) -> String {
        if ports.is_empty() {
            return "(none)".to_string();
        }
        ports.iter().map(Port::flag).collect::<Vec<_>>().join(", ")
    }
}

/// The port bindings of a container (`HostConfig.PortBindings`).
fn current_ports(c: &Value) -> BTreeSet<Port> {
    let mut out = BTreeSet::new();
    if let Some(Value::Object(m)) = c.pointer("/HostConfig/PortBindings") {
        for (container, binds) in m {
            for b in binds.as_array().into_iter().flatten() {
                let ip = str_at(b, "/HostIp");
                out.insert(Port {
                    container: container.clone(),
                    ip: if ip == "0.0.0.0" {
                        String::new()
                    } else {
                        ip.to_string()
                    },
                    host: str_at(b, "/HostPort").to_string(),
                });
            }
        }
    }
    out
}

/// A volume: a bind or named volume (`src:dst[:mode]`), or an anonymous one (`/dst`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bind {
    /// Host path or volume name ("" for an anonymous volume).
    pub source: String,
    /// Path in the container.
    pub target: String,
    /// Mode flags other than the default `rw`, sorted (`ro`, `z`...).
    pub mode: Vec<String>,
}

impl Bind {
    /// Parses `/host:/ctr:ro`, `named:/ctr`, `/ctr`.
    pub fn parse(spec: &str) -> Result<Bind, String> {
        let parts: Vec<&str> = spec.split(':').collect();
        let (source, target, mode) = match parts.as_slice() {
            [t] => ("", *t, ""),
            [s, t] => (*s, *t, ""),
            [s, t, m] => (*s, *t, *m),
            _ => return Err(format!("volume {spec:?}: expected source:target[:mode]")),
        };
        if !target.starts_with('/') || source.starts_with('-') {
            return Err(format!(
                "volume {spec:?}: the container path must be absolute"
            ));
        }
        let mut mode: Vec<String> = mode
            .split(',')
            .filter(|m| !m.is_empty() && *m != "rw")
            .map(str::to_string)
            .collect();
        mode.sort();
        Ok(Bind {
            source: source.to_string(),
            target: target.to_string(),
            mode,
        })
    }

    fn flag(&self) -> String {
        let mut s = if self.source.is_empty() {
            self.target.clone()
        } else {
            format!("{}:{}", self.source, self.target)
        };
        if !self.mode.is_empty() {
            s.push(':');
            s.push_str(&self.mode.join(","));
        }
        s
    }

    fn text(binds: &BTreeSet<Bind>) -> String {
        if binds.is_empty() {
            return "(none)".to_string();
        }
        binds.iter().map(Bind::flag).collect::<Vec<_>>().join(", ")
    }
}

/// The volumes of a container: `HostConfig.Binds` plus anonymous `Config.Volumes` that the
/// image does not declare.
fn current_binds(c: &Value, image: Option<&Value>) -> BTreeSet<Bind> {
    let mut out: BTreeSet<Bind> = strings_at(c, "/HostConfig/Binds")
        .iter()
        .filter_map(|b| Bind::parse(b).ok())
        .collect();
    let image_vols = image
        .map(|i| map_at(i, "/Config/Volumes"))
        .unwrap_or_default();
    if let Some(Value::Object(m)) = c.pointer("/Config/Volumes") {
        for k in m.keys().filter(|k| !image_vols.contains_key(*k)) {
            out.insert(Bind {
                source: String::new(),
                target: k.clone(),
                mode: Vec::new(),
            });
        }
    }
    out
}

/// One `--mount`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Mount {
    /// bind, volume or tmpfs.
    pub kind: String,
    /// Host path or volume name ("" for tmpfs).
    pub source: String,
    /// Path in the container.
    pub target: String,
    /// Read-only.
    pub read_only: bool,
}

impl Mount {
    fn flag(&self) -> String {
        let mut s = format!("type={}", self.kind);
        if !self.source.is_empty() {
            s.push_str(&format!(",source={}", self.source));
        }
        s.push_str(&format!(",target={}", self.target));
        if self.read_only {
            s.push_str(",readonly");
        }
        s
    }

    fn text(mounts: &BTreeSet<Mount>) -> String {
        if mounts.is_empty() {
            return "(none)".to_string();
        }
        mounts
            .iter()
            .map(Mount::flag)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn current_mounts(c: &Value) -> BTreeSet<Mount> {
    c.pointer("/HostConfig/Mounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|m| Mount {
            kind: str_at(m, "/Type").to_string(),
            source: str_at(m, "/Source").to_string(),
            target: str_at(m, "/Target").to_string(),
            read_only: m
                .pointer("/ReadOnly")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
        .collect()
}

/// One network to attach.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Net {
    /// Network name.
    pub name: String,
    /// Extra DNS names on that network.
    pub aliases: Vec<String>,
    /// Fixed IPv4 address.
    pub ipv4: Option<String>,
}

/// A healthcheck as `docker inspect` shows it (`Config.Healthcheck`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Health {
    /// `["CMD-SHELL", "..."]` or `["NONE"]`.
    pub test: Option<Vec<String>>,
    /// Nanoseconds.
    pub interval: Option<i64>,
    /// Nanoseconds.
    pub timeout: Option<i64>,
    /// Nanoseconds.
    pub start_period: Option<i64>,
    /// Consecutive failures before unhealthy.
    pub retries: Option<i64>,
}

/// Parses a duration like Ansible's healthcheck options: `1m30s`, `500ms`, `2h`, `10`
/// (seconds); returns nanoseconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let t = s.trim();
    if let Ok(n) = t.parse::<i64>() {
        return Ok(n * 1_000_000_000);
    }
    let mut total: i64 = 0;
    let mut num = String::new();
    let mut chars = t.chars().peekable();
    let bad = || format!("invalid duration {s:?} (use e.g. 30s, 1m30s, 500ms)");
    if t.is_empty() {
        return Err(bad());
    }
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        while let Some(n) = chars.peek().filter(|n| n.is_ascii_alphabetic()) {
            unit.push(*n);
            chars.next();
        }
        let n: i64 = num.parse().map_err(|_| bad())?;
        num.clear();
        let mult: i64 = match unit.as_str() {
            "us" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "d" => 86_400_000_000_000,
            _ => return Err(bad()),
        };
        total = n
            .checked_mul(mult)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
    }
    if !num.is_empty() {
        return Err(bad());
    }
    Ok(total)
}

/// The parsed task.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Want {
    name: String,
    image: Option<String>,
    command: Option<Vec<String>>,
    entrypoint: Option<Vec<String>>,
    env: Option<BTreeMap<String, String>>,
    ports: Option<BTreeSet<Port>>,
    binds: Option<BTreeSet<Bind>>,
    mounts: Option<BTreeSet<Mount>>,
    networks: Option<Vec<Net>>,
    network_mode: Option<String>,
    restart_policy: Option<String>,
    restart_retries: Option<i64>,
    labels: Option<BTreeMap<String, String>>,
    state: State,
    recreate: bool,
    restart: bool,
    pull_never: bool,
    user: Option<String>,
    working_dir: Option<String>,
    hostname: Option<String>,
    health: Option<Health>,
}

fn arg_err(param: &str, msg: impl std::fmt::Display) -> ModuleError {
    ModuleError::Args(format!("{NAME}: parameter '{param}': {msg}"))
}

/// A string or list parameter as argv words (`command`, `entrypoint`).
fn words(param: &str, v: Option<&Value>) -> Result<Option<Vec<String>>, ModuleError> {
    match v {
        None => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                value_to_string(i).ok_or_else(|| arg_err(param, format!("{i} is not a scalar")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(v) => {
            let s = value_to_string(v)
                .ok_or_else(|| arg_err(param, format!("expected a string or a list, got {v}")))?;
            split_args(&s).map(Some).map_err(|e| arg_err(param, e))
        }
    }
}

fn dict_list<'v>(
    param: &str,
    v: &'v Value,
) -> Result<Vec<&'v serde_json::Map<String, Value>>, ModuleError> {
    let Value::Array(items) = v else {
        return Err(arg_err(
            param,
            format!("expected a list of mappings, got {v}"),
        ));
    };
    items
        .iter()
        .map(|i| {
            i.as_object()
                .ok_or_else(|| arg_err(param, format!("expected a mapping, got {i}")))
        })
        .collect()
}

fn field_str(
    param: &str,
    m: &serde_json::Map<String, Value>,
    key: &str,
) -> Result<Option<String>, ModuleError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => value_to_string(v)
            .map(Some)
            .ok_or_else(|| arg_err(param, format!("{key}: expected a string, got {v}"))),
    }
}

fn parse_networks(v: &Value) -> Result<Vec<Net>, ModuleError> {
    let p = "networks";
    dict_list(p, v)?
        .into_iter()
        .map(|m| {
            if let Some(k) = m
                .keys()
                .find(|k| !["name", "aliases", "ipv4_address"].contains(&k.as_str()))
            {
                return Err(arg_err(
                    p,
                    format!("unknown key {k:?} (accepted: name, aliases, ipv4_address)"),
                ));
            }
            let name =
                field_str(p, m, "name")?.ok_or_else(|| arg_err(p, "every network needs a name"))?;
            check_name(NAME, p, &name)?;
            let aliases = match m.get("aliases") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|x| {
                        value_to_string(x)
                            .ok_or_else(|| arg_err(p, format!("alias {x} is not a string")))
                    })
                    .collect::<Result<_, _>>()?,
                Some(other) => {
                    return Err(arg_err(p, format!("aliases must be a list, got {other}")));
                }
            };
            let ipv4 = field_str(p, m, "ipv4_address")?;
            if let Some(ip) = &ipv4
                && ip.parse::<std::net::Ipv4Addr>().is_err()
            {
                return Err(arg_err(
                    p,
                    format!("ipv4_address {ip:?} is not an IPv4 address"),
                ));
            }
            Ok(Net {
                name,
                aliases,
                ipv4,
            })
        })
        .collect()
}

fn parse_mounts(v: &Value) -> Result<BTreeSet<Mount>, ModuleError> {
    let p = "mounts";
    dict_list(p, v)?
        .into_iter()
        .map(|m| {
            if let Some(k) = m
                .keys()
                .find(|k| !["source", "target", "type", "read_only"].contains(&k.as_str()))
            {
                return Err(arg_err(
                    p,
                    format!("unknown key {k:?} (accepted: source, target, type, read_only)"),
                ));
            }
            let kind = field_str(p, m, "type")?.unwrap_or_else(|| "volume".to_string());
            if !["bind", "volume", "tmpfs"].contains(&kind.as_str()) {
                return Err(arg_err(
                    p,
                    format!("type {kind:?} is not one of bind, volume, tmpfs"),
                ));
            }
            let target = field_str(p, m, "target")?
                .ok_or_else(|| arg_err(p, "every mount needs a target"))?;
            let source = field_str(p, m, "source")?.unwrap_or_default();
            for s in [&source, &target] {
                if s.contains([',', '"', '=']) {
                    return Err(arg_err(
                        p,
                        format!("{s:?}: commas, quotes and '=' are not supported"),
                    ));
                }
            }
            let read_only = match m.get("read_only") {
                None | Some(Value::Null) => false,
                Some(v) => crate::modules::args::parse_bool(v)
                    .ok_or_else(|| arg_err(p, format!("read_only: expected a boolean, got {v}")))?,
            };
            Ok(Mount {
                kind,
                source,
                target,
                read_only,
            })
        })
        .collect()
}

fn parse_health(v: &Value) -> Result<Health, ModuleError> {
    let p = "healthcheck";
    let Value::Object(m) = v else {
        return Err(arg_err(p, format!("expected a mapping, got {v}")));
    };
    let mut h = Health::default();
    for (k, val) in m {
        if val.is_null() {
            continue;
        }
        let dur = || {
            value_to_string(val)
                .ok_or_else(|| arg_err(p, format!("{k}: expected a duration")))
                .and_then(|s| parse_duration(&s).map_err(|e| arg_err(p, format!("{k}: {e}"))))
        };
        match k.as_str() {
            "test" => {
                let words = words(p, Some(val))?.unwrap_or_default();
                let test = match words.first().map(String::as_str) {
                    _ if val.is_string() => {
                        vec![
                            "CMD-SHELL".to_string(),
                            value_to_string(val).unwrap_or_default(),
                        ]
                    }
                    Some("NONE") => vec!["NONE".to_string()],
                    Some("CMD-SHELL") => vec!["CMD-SHELL".to_string(), words[1..].join(" ")],
                    Some("CMD") => vec![
                        "CMD-SHELL".to_string(),
                        words[1..]
                            .iter()
                            .map(|w| quote(w))
                            .collect::<Vec<_>>()
                            .join(" "),
                    ],
                    _ => {
                        return Err(arg_err(
                            p,
                            "test must be a string or a list starting with CMD, CMD-SHELL or NONE",
                        ));
                    }
                };
                h.test = Some(test);
            }
            "interval" => h.interval = Some(dur()?),
            "timeout" => h.timeout = Some(dur()?),
            "start_period" => h.start_period = Some(dur()?),
            "retries" => {
                h.retries =
                    Some(as_int(val).ok_or_else(|| arg_err(p, "retries: expected an integer"))?)
            }
            other => {
                return Err(arg_err(
                    p,
                    format!(
                        "unknown key {other:?} (accepted: test, interval, timeout, start_period, retries)"
                    ),
                ));
            }
        }
    }
    Ok(h)
}

/// `restart_policy`, where an unquoted YAML `no` (a boolean false) means "no", as in Ansible.
fn restart_policy(v: Option<&Value>) -> Result<Option<String>, ModuleError> {
    let Some(v) = v else { return Ok(None) };
    let s = match v {
        Value::Bool(false) => "no".to_string(),
        other => value_to_string(other).unwrap_or_default(),
    };
    const CHOICES: [&str; 4] = ["no", "always", "on-failure", "unless-stopped"];
    if CHOICES.contains(&s.as_str()) {
        Ok(Some(s))
    } else {
        Err(arg_err(
            "restart_policy",
            format!("value {s:?} is not one of: {}", CHOICES.join(", ")),
        ))
    }
}

fn parse(a: &Args<'_>) -> Result<Want, ModuleError> {
    let name = a.req_str("name")?;
    check_name(NAME, "name", &name)?;
    let image = a.str("image")?;
    if let Some(i) = &image {
        check_name(NAME, "image", i)?;
    }
    let state = match a.choice("state", "started")?.as_str() {
        "stopped" => State::Stopped,
        "present" => State::Present,
        "absent" => State::Absent,
        _ => State::Started,
    };
    let env = string_map(NAME, "env", a.value("env"))?;
    for (k, v) in env.iter().flatten() {
        if k.is_empty()
            || k.contains(['=', '\n'])
            || k.chars().any(char::is_whitespace)
            || v.contains('\n')
        {
            return Err(arg_err(
                "env",
                format!("{k:?}: names need no '=' or spaces; values no newlines"),
            ));
        }
    }
    let ports = a
        .list("published_ports")?
        .map(|l| {
            l.iter()
                .map(|p| Port::parse(p))
                .collect::<Result<BTreeSet<_>, _>>()
        })
        .transpose()
        .map_err(|e| arg_err("published_ports", e))?;
    let binds = a
        .list("volumes")?
        .map(|l| {
            l.iter()
                .map(|b| Bind::parse(b))
                .collect::<Result<BTreeSet<_>, _>>()
        })
        .transpose()
        .map_err(|e| arg_err("volumes", e))?;
    let pull_never = match a
        .str("pull")?
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("missing") | Some("false") | Some("no") => false,
        Some("never") => true,
        Some(other) => {
            return Err(arg_err(
                "pull",
                format!("{other:?} is not supported (never or missing; there is no pull=always)"),
            ));
        }
    };
    let networks = a.value("networks").map(parse_networks).transpose()?;
    let network_mode = a.str("network_mode")?;
    if let Some(m) = &network_mode {
        check_name(NAME, "network_mode", m)?;
    }
    let restart_retries = a.int("restart_retries")?;
    if restart_retries.is_some_and(|r| r < 0) {
        return Err(arg_err("restart_retries", "must not be negative"));
    }
    Ok(Want {
        name,
        image,
        command: words("command", a.value("command"))?,
        entrypoint: words("entrypoint", a.value("entrypoint"))?,
        env,
        ports,
        binds,
        mounts: a.value("mounts").map(parse_mounts).transpose()?,
        networks,
        network_mode,
        restart_policy: restart_policy(a.value("restart_policy"))?,
        restart_retries,
        labels: string_map(NAME, "labels", a.value("labels"))?,
        state,
        recreate: a.bool("recreate", false)?,
        restart: a.bool("restart", false)?,
        pull_never,
        user: a.str("user")?,
        working_dir: a.str("working_dir")?,
        hostname: a.str("hostname")?,
        health: a.value("healthcheck").map(parse_health).transpose()?,
    })
}

impl Want {
    /// The network mode the container is created with: network_mode, else the first network.
    fn mode(&self) -> Option<&str> {
        self.network_mode.as_deref().or_else(|| {
            self.networks
                .as_ref()
                .and_then(|n| n.first())
                .map(|n| n.name.as_str())
        })
    }
}

fn list_text(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn env_map(list: &[String]) -> BTreeMap<String, String> {
    list.iter()
        .map(|e| match e.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (e.clone(), String::new()),
        })
        .collect()
}

fn env_changes(
    want: &BTreeMap<String, String>,
    c: &Value,
    image: Option<&Value>,
) -> Option<Change> {
    let have = env_map(&strings_at(c, "/Config/Env"));
    let from_image = image
        .map(|i| env_map(&strings_at(i, "/Config/Env")))
        .unwrap_or_default();
    let mut before = Vec::new();
    let mut after = Vec::new();
    for (k, v) in want {
        if have.get(k) != Some(v) {
            before.push(match have.get(k) {
                Some(h) => format!("{k}={h}"),
                None => format!("{k} (unset)"),
            });
            after.push(format!("{k}={v}"));
        }
    }
    // Set earlier by a task, now dropped from it (the image's own variables are kept).
    for (k, v) in &have {
        if !want.contains_key(k) && from_image.get(k) != Some(v) && !from_image.contains_key(k) {
            before.push(format!("{k}={v}"));
            after.push(format!("{k} (unset)"));
        }
    }
    (!before.is_empty()).then(|| Change::new("env", before.join(", "), after.join(", ")))
}

fn net_text(n: &Net) -> String {
    let mut s = n.name.clone();
    if !n.aliases.is_empty() {
        s.push_str(&format!(" aliases={}", n.aliases.join(",")));
    }
    if let Some(ip) = &n.ipv4 {
        s.push_str(&format!(" ipv4={ip}"));
    }
    s
}

fn current_nets(c: &Value) -> Vec<Net> {
    match c.pointer("/NetworkSettings/Networks") {
        Some(Value::Object(m)) => m
            .iter()
            .map(|(name, n)| Net {
                name: name.clone(),
                aliases: strings_at(n, "/Aliases"),
                ipv4: Some(str_at(n, "/IPAMConfig/IPv4Address"))
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn mode_eq(a: &str, b: &str) -> bool {
    let norm = |m: &str| {
        if m == "default" || m.is_empty() {
            "bridge".to_string()
        } else {
            m.to_string()
        }
    };
    norm(a) == norm(b)
}

fn health_from(c: &Value) -> Health {
    let int = |p: &str| c.pointer(p).and_then(Value::as_i64);
    Health {
        test: c
            .pointer("/Config/Healthcheck/Test")
            .map(|_| strings_at(c, "/Config/Healthcheck/Test")),
        interval: int("/Config/Healthcheck/Interval"),
        timeout: int("/Config/Healthcheck/Timeout"),
        start_period: int("/Config/Healthcheck/StartPeriod"),
        retries: int("/Config/Healthcheck/Retries"),
    }
}

fn health_text(h: &Health, like: &Health) -> String {
    let mut parts = Vec::new();
    if like.test.is_some() {
        parts.push(format!(
            "test={}",
            list_text(h.test.as_deref().unwrap_or_default())
        ));
    }
    for (k, want, have) in [
        ("interval", like.interval, h.interval),
        ("timeout", like.timeout, h.timeout),
        ("start_period", like.start_period, h.start_period),
        ("retries", like.retries, h.retries),
    ] {
        if want.is_some() {
            parts.push(format!(
                "{k}={}",
                have.map_or("(unset)".to_string(), |v| v.to_string())
            ));
        }
    }
    parts.join(" ")
}

/// Records a change of `field` when `have` and `want` differ.
fn cmp(out: &mut Vec<Change>, field: &str, have: String, want: String) {
    if have != want {
        out.push(Change::new(field, have, want));
    }
}

/// Every field of the task that differs from the container (fields the task leaves unset are
/// not compared; `image_id` is the wanted image's id when it is on the host).
fn differences(w: &Want, c: &Value, image: Option<&Value>) -> Vec<Change> {
    let mut out = Vec::new();
    if let Some(img) = &w.image {
        let have = str_at(c, "/Image").to_string();
        match image {
            Some(i) => {
                let id = str_at(i, "/Id").to_string();
                if have != id {
                    out.push(Change::new("image", have, format!("{id} ({img})")));
                }
            }
            None => out.push(Change::new("image", have, format!("{img} (to be pulled)"))),
        }
    }
    match (&w.entrypoint, &w.command) {
        (Some(ep), cmd) => {
            let mut have = strings_at(c, "/Config/Entrypoint");
            have.extend(strings_at(c, "/Config/Cmd"));
            let mut want = ep.clone();
            want.extend(cmd.iter().flatten().cloned());
            cmp(&mut out, "entrypoint", list_text(&have), list_text(&want));
        }
        (None, Some(cmd)) => cmp(
            &mut out,
            "command",
            list_text(&strings_at(c, "/Config/Cmd")),
            list_text(cmd),
        ),
        (None, None) => {}
    }
    if let Some(env) = &w.env
        && let Some(ch) = env_changes(env, c, image)
    {
        out.push(ch);
    }
    if let Some(ports) = &w.ports {
        cmp(
            &mut out,
            "published_ports",
            Port::text(&current_ports(c)),
            Port::text(ports),
        );
    }
    if let Some(binds) = &w.binds {
        cmp(
            &mut out,
            "volumes",
            Bind::text(&current_binds(c, image)),
            Bind::text(binds),
        );
    }
    if let Some(mounts) = &w.mounts {
        cmp(
            &mut out,
            "mounts",
            Mount::text(&current_mounts(c)),
            Mount::text(mounts),
        );
    }
    if let Some(mode) = w.mode() {
        let have = str_at(c, "/HostConfig/NetworkMode");
        if !mode_eq(have, mode) {
            out.push(Change::new("network_mode", have, mode));
        }
    }
    if let Some(nets) = &w.networks {
        let have = current_nets(c);
        let missing: Vec<&Net> = nets
            .iter()
            .filter(|n| {
                !have.iter().any(|h| {
                    h.name == n.name
                        && n.aliases.iter().all(|a| h.aliases.contains(a))
                        && (n.ipv4.is_none() || n.ipv4 == h.ipv4)
                })
            })
            .collect();
        if !missing.is_empty() {
            let before = missing
                .iter()
                .map(|n| match have.iter().find(|h| h.name == n.name) {
                    Some(h) => net_text(h),
                    None => format!("{} (not connected)", n.name),
                })
                .collect::<Vec<_>>()
                .join("; ");
            let after = missing
                .iter()
                .map(|n| net_text(n))
                .collect::<Vec<_>>()
                .join("; ");
            out.push(Change::new("networks", before, after));
        }
    }
    if let Some(policy) = &w.restart_policy {
        let have = str_at(c, "/HostConfig/RestartPolicy/Name");
        cmp(
            &mut out,
            "restart_policy",
            if have.is_empty() {
                "no".into()
            } else {
                have.into()
            },
            policy.clone(),
        );
    }
    if let Some(r) = w.restart_retries {
        let have = c
            .pointer("/HostConfig/RestartPolicy/MaximumRetryCount")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        cmp(&mut out, "restart_retries", have.to_string(), r.to_string());
    }
    if let Some(labels) = &w.labels
        && let Some(ch) = super::label_changes(labels, &map_at(c, "/Config/Labels"))
    {
        out.push(ch);
    }
    for (field, pointer, want) in [
        ("user", "/Config/User", &w.user),
        ("working_dir", "/Config/WorkingDir", &w.working_dir),
        ("hostname", "/Config/Hostname", &w.hostname),
    ] {
        if let Some(want) = want {
            cmp(
                &mut out,
                field,
                str_at(c, pointer).to_string(),
                want.clone(),
            );
        }
    }
    if let Some(h) = &w.health {
        let have = health_from(c);
        let same = (h.test.is_none() || h.test == have.test)
            && (h.interval.is_none() || h.interval == have.interval)
            && (h.timeout.is_none() || h.timeout == have.timeout)
            && (h.start_period.is_none() || h.start_period == have.start_period)
            && (h.retries.is_none() || h.retries == have.retries);
        if !same {
            out.push(Change::new(
                "healthcheck",
                health_text(&have, h),
                health_text(h, h),
            ));
        }
    }
    out
}

/// The `docker create` command for `w` under the name `as_name`, reading the environment
/// from the env file `$f`; then `docker network connect` for the other networks.
fn create_cmds(w: &Want, image: &str, as_name: &str) -> Vec<String> {
    let mut c = docker().arg("create").arg("--name").arg(as_name);
    let mut args: Vec<String> = Vec::new();
    if let Some(ep) = &w.entrypoint {
        c = c
            .arg("--entrypoint")
            .arg(ep.first().map(String::as_str).unwrap_or(""));
        args.extend(ep.iter().skip(1).cloned());
    }
    if w.env.as_ref().is_some_and(|e| !e.is_empty()) {
        c = c.arg("--env-file").raw("\"$f\"");
    }
    for p in w.ports.iter().flatten() {
        c = c.arg("--publish").arg(p.flag());
    }
    for b in w.binds.iter().flatten() {
        c = c.arg("--volume").arg(b.flag());
    }
    for m in w.mounts.iter().flatten() {
        c = c.arg("--mount").arg(m.flag());
    }
    if let Some(mode) = w.mode() {
        c = c.arg("--network").arg(mode);
    }
    if let Some(first) = w
        .networks
        .as_ref()
        .and_then(|n| n.first())
        .filter(|n| Some(n.name.as_str()) == w.mode())
    {
        for a in &first.aliases {
            c = c.arg("--network-alias").arg(a);
        }
        if let Some(ip) = &first.ipv4 {
            c = c.arg("--ip").arg(ip);
        }
    }
    if let Some(p) = &w.restart_policy {
        let v = match w.restart_retries {
            Some(r) if p == "on-failure" => format!("{p}:{r}"),
            _ => p.clone(),
        };
        c = c.arg("--restart").arg(v);
    }
    for (k, v) in w.labels.iter().flatten() {
        c = c.arg("--label").arg(format!("{k}={v}"));
    }
    for (flag, v) in [
        ("--user", &w.user),
        ("--workdir", &w.working_dir),
        ("--hostname", &w.hostname),
    ] {
        if let Some(v) = v {
            c = c.arg(flag).arg(v);
        }
    }
    if let Some(h) = &w.health {
        match h.test.as_deref() {
            Some([none]) if none == "NONE" => c = c.arg("--no-healthcheck"),
            Some([_, cmd]) => c = c.arg("--health-cmd").arg(cmd),
            _ => {}
        }
        for (flag, v) in [
            ("--health-interval", h.interval),
            ("--health-timeout", h.timeout),
            ("--health-start-period", h.start_period),
        ] {
            if let Some(ns) = v {
                c = c.arg(flag).arg(format!("{ns}ns"));
            }
        }
        if let Some(r) = h.retries {
            c = c.arg("--health-retries").arg(r.to_string());
        }
    }
    c = c.arg(image);
    args.extend(w.command.iter().flatten().cloned());
    c = c.args(&args);
    let mut cmds = vec![c.build()];
    for n in w.networks.iter().flatten() {
        if Some(n.name.as_str()) == w.mode() {
            continue;
        }
        let mut nc = docker().arg("network").arg("connect");
        for a in &n.aliases {
            nc = nc.arg("--alias").arg(a);
        }
        if let Some(ip) = &n.ipv4 {
            nc = nc.arg("--ip").arg(ip);
        }
        cmds.push(nc.arg(&n.name).arg(as_name).build());
    }
    cmds
}

/// The env file contents fed on stdin (`KEY=value` lines).
fn env_file(w: &Want) -> String {
    w.env
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect()
}

/// One shell step that creates the container under a temporary name (the env file is a 0600
/// temp file filled from stdin and removed on every path), then swaps it for the old one.
fn recreate_script(w: &Want, image: &str, exists: bool) -> String {
    let tmp = format!("{}__shipshape_new", w.name);
    let rm_tmp = docker().arg("rm").arg("--force").arg(&tmp).build();
    let create = create_cmds(w, image, &tmp).join(" && ");
    let mut s = String::new();
    s.push_str("f=$(mktemp) || exit 1\n");
    s.push_str("trap 'rm -f \"$f\"' EXIT\n");
    s.push_str("chmod 600 \"$f\" && cat > \"$f\" || exit 1\n");
    // A leftover from an interrupted run goes first; a failed create removes its own.
    s.push_str(&format!("{rm_tmp} >/dev/null 2>&1\n"));
    s.push_str(&format!(
        "if ! {{ {create}; }} >/dev/null; then {rm_tmp} >/dev/null 2>&1; exit 1; fi\n"
    ));
    if exists {
        s.push_str(&format!(
            "{} >/dev/null || exit 1\n",
            docker().arg("rm").arg("--force").arg(&w.name)
        ));
    }
    s.push_str(&docker().arg("rename").arg(&tmp).arg(&w.name).build());
    s.push('\n');
    s
}

fn state_word(c: Option<&Value>) -> &'static str {
    match c {
        None => "absent",
        Some(c) if c.pointer("/State/Running").and_then(Value::as_bool) == Some(true) => "started",
        Some(_) => "stopped",
    }
}

/// What the plan does.
#[derive(Debug, Default)]
struct Decision {
    steps: Vec<(String, ExecRequest)>,
    diff: Vec<Diff>,
    msg: Option<String>,
}

/// A step that runs `script` as is, described by itself.
fn cmd(script: String) -> (String, ExecRequest) {
    (script.clone(), ExecRequest::new(script))
}

fn decide(w: &Want, c: Option<&Value>, image: Option<&Value>) -> Result<Decision, ModuleError> {
    let what = format!("container {}", w.name);
    let mut d = Decision::default();
    let before = state_word(c);
    if w.state == State::Absent {
        if c.is_some() {
            d.steps
                .push(cmd(docker().arg("rm").arg("--force").arg(&w.name).build()));
            d.diff.push(Diff::attr(&what, "state", before, "absent"));
        }
        return Ok(d);
    }
    let changes = match c {
        Some(c) => differences(w, c, image),
        None => Vec::new(),
    };
    let create = c.is_none() || !changes.is_empty() || w.recreate;
    if create {
        let img = w.image.as_deref().ok_or_else(|| {
            ModuleError::Args(format!(
                "{NAME}: parameter 'image' is required to create container {}",
                w.name
            ))
        })?;
        if image.is_none() {
            if w.pull_never {
                return Err(ModuleError::failed(format!(
                    "{NAME}: image {img} is not on the host and pull is never; container {} left as it was",
                    w.name
                )));
            }
            d.steps.push(cmd(docker().arg("pull").arg(img).build()));
        }
        let describe = if c.is_some() {
            format!("recreate container {} from {img}", w.name)
        } else {
            format!("create container {} from {img}", w.name)
        };
        d.steps.push((
            describe,
            ExecRequest::new(recreate_script(w, img, c.is_some())).stdin(env_file(w)),
        ));
        match c {
            None => d
                .diff
                .push(Diff::attr(&what, "state", "absent", after_word(w.state))),
            Some(_) => {
                let mut changes = changes;
                if changes.is_empty() {
                    changes.push(Change::new("recreate", "", "yes"));
                }
                d.msg = Some(format!(
                    "container {} recreated: {} differ",
                    w.name,
                    field_names(&changes)
                ));
                d.diff.push(changes_diff(&what, &changes));
            }
        }
        if w.state == State::Started {
            d.steps
                .push(cmd(docker().arg("start").arg(&w.name).build()));
        }
        return Ok(d);
    }
    let running = before == "started";
    match w.state {
        State::Started if !running => {
            d.steps
                .push(cmd(docker().arg("start").arg(&w.name).build()));
            d.diff.push(Diff::attr(&what, "state", before, "started"));
        }
        State::Started if w.restart => {
            d.steps
                .push(cmd(docker().arg("restart").arg(&w.name).build()));
            d.diff.push(Diff::attr(&what, "state", before, "restarted"));
        }
        State::Stopped if running => {
            d.steps.push(cmd(docker().arg("stop").arg(&w.name).build()));
            d.diff.push(Diff::attr(&what, "state", before, "stopped"));
        }
        _ => {}
    }
    Ok(d)
}

fn after_word(s: State) -> &'static str {
    match s {
        State::Started => "started",
        State::Stopped | State::Present => "stopped",
        State::Absent => "absent",
    }
}

#[async_trait::async_trait]
impl Module for DockerContainer {
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }

    async fn plan(&self, ctx: &TaskCtx<'_>, args: &ResultMap) -> Result<Plan, ModuleError> {
        let a = Args::parse(&SPEC, args)?;
        let w = parse(&a)?;
        let mut probes = vec![Probe::Inspect("container", w.name.clone())];
        if let (Some(img), false) = (&w.image, w.state == State::Absent) {
            probes.push(Probe::Inspect("image", img.clone()));
        }
        let found = probe(ctx, NAME, &probes).await?;
        let cur = object(&found, 0);
        let image = object(&found, 1);
        let d = decide(&w, cur, image)?;
        let mut result = ResultMap::new();
        if d.steps.is_empty() {
            result.insert(
                "container".into(),
                cur.cloned().unwrap_or(Value::Object(Default::default())),
            );
            return Ok(Plan::Unchanged { result });
        }
        result.insert("container".into(), Value::Object(Default::default()));
        if let Some(m) = d.msg {
            result.insert("msg".into(), m.into());
        }
        let mut steps: Vec<_> = d
            .steps
            .into_iter()
            .map(|(describe, r)| ctx.step_with(describe, r))
            .collect();
        if w.state != State::Absent {
            let inspect = docker()
                .arg("container")
                .arg("inspect")
                .arg(&w.name)
                .build();
            steps.push(ctx.step(inspect.clone(), inspect));
        }
        Ok(Plan::Change {
            diff: d.diff,
            steps,
            result,
        })
    }

    fn finish(&self, result: &mut ResultMap, outputs: &[ExecOutput]) -> Result<(), ModuleError> {
        finish_inspect(NAME, "container", result, outputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `docker container inspect web` on Debian bookworm's docker.io 20.10 (trimmed), created
    /// with `--network appnet --network-alias webby -p 8080:80 -p 127.0.0.1:8081:81/tcp
    /// -v appdata:/data -v /tmp:/hosttmp:ro -e GREETING=hello --restart unless-stopped
    /// -l app=web --health-cmd 'cat /www/index.html' --health-interval 30s labbox:1
    /// /bin/httpd -f -p 80 -h /www`.
    const WEB: &str = r#"[
    {
        "Id": "6616ebf90e353500632a0de187550bc59683dc0a11e0bc2d4fe608c6d21662f6",
        "Path": "/bin/httpd",
        "Args": ["-f", "-p", "80", "-h", "/www"],
        "State": {"Status": "running", "Running": true, "Pid": 447,
                  "Health": {"Status": "starting", "FailingStreak": 0, "Log": []}},
        "Image": "sha256:15f447181c270357f9540922e9f334228ddc765c7b84eb5069f0a233d616c991",
        "Name": "/web",
        "HostConfig": {
            "Binds": ["appdata:/data", "/tmp:/hosttmp:ro"],
            "NetworkMode": "appnet",
            "PortBindings": {
                "80/tcp": [{"HostIp": "", "HostPort": "8080"}],
                "81/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8081"}]
            },
            "RestartPolicy": {"Name": "unless-stopped", "MaximumRetryCount": 0}
        },
        "Config": {
            "Hostname": "6616ebf90e35",
            "User": "",
            "ExposedPorts": {"80/tcp": {}, "81/tcp": {}},
            "Env": ["GREETING=hello"],
            "Cmd": ["/bin/httpd", "-f", "-p", "80", "-h", "/www"],
            "Healthcheck": {"Test": ["CMD-SHELL", "cat /www/index.html"], "Interval": 30000000000},
            "Image": "labbox:1",
            "Volumes": null,
            "WorkingDir": "",
            "Entrypoint": null,
            "Labels": {"app": "web"}
        },
        "NetworkSettings": {
            "Networks": {
                "appnet": {
                    "IPAMConfig": null,
                    "Aliases": ["webby", "6616ebf90e35"],
                    "Gateway": "172.30.0.1",
                    "IPAddress": "172.30.0.2"
                }
            }
        }
    }
]"#;

    /// `docker image inspect labbox:1` of an image made by `docker import`.
    const IMAGE: &str = r#"[{"Id": "sha256:15f447181c270357f9540922e9f334228ddc765c7b84eb5069f0a233d616c991",
        "RepoTags": ["labbox:1"], "Config": {"Env": null, "Cmd": null, "Entrypoint": null, "Labels": null}}]"#;

    fn web() -> Value {
        serde_json::from_str::<Value>(WEB).unwrap()[0].clone()
    }

    fn image() -> Value {
        serde_json::from_str::<Value>(IMAGE).unwrap()[0].clone()
    }

    fn want(v: Value) -> Result<Want, ModuleError> {
        let m = v.as_object().cloned().unwrap();
        parse(&Args::parse(&SPEC, &m)?)
    }

    fn web_task() -> Value {
        json!({
            "name": "web",
            "image": "labbox:1",
            "command": "/bin/httpd -f -p 80 -h /www",
            "env": {"GREETING": "hello"},
            "published_ports": ["8080:80", "127.0.0.1:8081:81/tcp"],
            "volumes": ["appdata:/data", "/tmp:/hosttmp:ro"],
            "networks": [{"name": "appnet", "aliases": ["webby"]}],
            "restart_policy": "unless-stopped",
            "labels": {"app": "web"},
            "healthcheck": {"test": "cat /www/index.html", "interval": "30s"},
        })
    }

    #[test]
    fn parses_ports_and_volumes() {
        let p = Port::parse("127.0.0.1:8080:80/tcp").unwrap();
        assert_eq!(
            (p.ip.as_str(), p.host.as_str(), p.container.as_str()),
            ("127.0.0.1", "8080", "80/tcp")
        );
        assert_eq!(Port::parse("8080:80").unwrap().flag(), "8080:80/tcp");
        assert_eq!(
            Port::parse("0.0.0.0:8080:80").unwrap().flag(),
            "8080:80/tcp"
        );
        assert_eq!(Port::parse("53/udp").unwrap().flag(), "53/udp");
        assert_eq!(
            Port::parse("127.0.0.1::80").unwrap().flag(),
            "127.0.0.1::80/tcp"
        );
        for bad in [
            "80/xyz",
            "8000-8001:80",
            "a:80",
            "1:2:3:4",
            "99999",
            "[::1]:80:80",
            "nohost:1:2",
        ] {
            assert!(Port::parse(bad).is_err(), "{bad}");
        }
        let b = Bind::parse("/host:/ctr:rw").unwrap();
        assert_eq!(b, Bind::parse("/host:/ctr").unwrap());
        assert_eq!(Bind::parse("/h:/c:z,ro").unwrap().flag(), "/h:/c:ro,z");
        assert_eq!(Bind::parse("/data").unwrap().source, "");
        assert!(Bind::parse("named:rel").is_err());
        assert_eq!(parse_duration("1m30s").unwrap(), 90_000_000_000);
        assert_eq!(parse_duration("500ms").unwrap(), 500_000_000);
        assert_eq!(parse_duration("10").unwrap(), 10_000_000_000);
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn parses_and_rejects_arguments() {
        let w = want(json!({"name": "c", "image": "i", "command": ["sh", "-c", "echo 'a b'"]}))
            .unwrap();
        assert_eq!(w.command.unwrap(), vec!["sh", "-c", "echo 'a b'"]);
        let w = want(json!({"name": "c", "command": "sh -c 'echo a b'", "pull": false})).unwrap();
        assert_eq!(w.command.unwrap(), vec!["sh", "-c", "echo a b"]);
        assert!(!w.pull_never);
        assert_eq!(w.state, State::Started);
        let err = |v: Value| want(v).unwrap_err().to_string();
        assert!(err(json!({"name": "c", "pull": "always"})).contains("'pull'"));
        assert!(err(json!({"name": "c", "env": {"A": true}})).contains("quote it"));
        assert!(err(json!({"name": "c", "env": {"A B": "1"}})).contains("'env'"));
        assert!(
            err(json!({"name": "c", "published_ports": ["80:80/xyz"]})).contains("published_ports")
        );
        assert!(
            err(json!({"name": "c", "networks": [{"name": "n", "alias": ["x"]}]}))
                .contains("unknown key \"alias\"")
        );
        assert!(
            err(json!({"name": "c", "networks": [{"aliases": ["x"]}]})).contains("needs a name")
        );
        assert!(
            err(json!({"name": "c", "networks": [{"name": "n", "ipv4_address": "x"}]}))
                .contains("IPv4")
        );
        assert!(
            err(json!({"name": "c", "mounts": [{"target": "/t", "type": "nfs"}]})).contains("type")
        );
        assert!(
            err(json!({"name": "c", "healthcheck": {"test": "x", "interval": "soon"}}))
                .contains("interval")
        );
        assert!(err(json!({"name": "c", "restart_policy": "sometimes"})).contains("not one of"));
        let w = want(json!({"name": "c", "restart_policy": false})).unwrap();
        assert_eq!(w.restart_policy.as_deref(), Some("no"));
        assert!(err(json!({"name": "-c"})).contains("not a valid Docker name"));
        assert!(err(json!({"name": "c", "imgae": "x"})).contains("did you mean 'image'"));
    }

    #[test]
    fn matching_container_is_unchanged() {
        let w = want(web_task()).unwrap();
        assert_eq!(differences(&w, &web(), Some(&image())), vec![]);
        let d = decide(&w, Some(&web()), Some(&image())).unwrap();
        assert!(d.steps.is_empty(), "{:?}", d.steps);
        // The short form with only a name and the image also matches.
        let w = want(json!({"name": "web", "image": "labbox:1"})).unwrap();
        assert!(
            decide(&w, Some(&web()), Some(&image()))
                .unwrap()
                .steps
                .is_empty()
        );
    }

    #[test]
    fn each_real_difference_is_named() {
        let cases: Vec<(Value, &str, &str, &str)> = vec![
            (
                json!({"env": {"GREETING": "changed"}}),
                "env",
                "GREETING=hello",
                "GREETING=changed",
            ),
            (
                json!({"env": {}}),
                "env",
                "GREETING=hello",
                "GREETING (unset)",
            ),
            (
                json!({"published_ports": ["9090:80"]}),
                "published_ports",
                "8080:80/tcp, 127.0.0.1:8081:81/tcp",
                "9090:80/tcp",
            ),
            (
                json!({"volumes": ["appdata:/data"]}),
                "volumes",
                "/tmp:/hosttmp:ro, appdata:/data",
                "appdata:/data",
            ),
            (
                json!({"command": ["/bin/sleep", "100"]}),
                "command",
                "[\"/bin/httpd\",\"-f\",\"-p\",\"80\",\"-h\",\"/www\"]",
                "[\"/bin/sleep\",\"100\"]",
            ),
            (
                json!({"restart_policy": "always"}),
                "restart_policy",
                "unless-stopped",
                "always",
            ),
            (
                json!({"labels": {"app": "api"}}),
                "labels",
                "app=web",
                "app=api",
            ),
            (
                json!({"networks": [{"name": "appnet", "aliases": ["web2"]}]}),
                "networks",
                "appnet aliases=webby,6616ebf90e35",
                "appnet aliases=web2",
            ),
            (
                json!({"network_mode": "host"}),
                "network_mode",
                "appnet",
                "host",
            ),
            (json!({"user": "1000"}), "user", "", "1000"),
            (
                json!({"healthcheck": {"interval": "10s"}}),
                "healthcheck",
                "interval=30000000000",
                "interval=10000000000",
            ),
        ];
        for (extra, field, before, after) in cases {
            let mut task = json!({"name": "web", "image": "labbox:1"});
            for (k, v) in extra.as_object().unwrap() {
                task[k] = v.clone();
            }
            let w = want(task.clone()).unwrap();
            let ch = differences(&w, &web(), Some(&image()));
            assert_eq!(ch, vec![Change::new(field, before, after)], "{task}");
            let d = decide(&w, Some(&web()), Some(&image())).unwrap();
            assert!(
                d.steps[0].0.starts_with("recreate container web"),
                "{:?}",
                d.steps
            );
            assert_eq!(d.steps[1].0, "docker start web");
            assert_eq!(d.diff[0].before_header, "before: container web");
            assert!(d.msg.unwrap().contains(field));
        }
        let other = json!({"Id": "sha256:other"});
        let w = want(json!({"name": "web", "image": "labbox:1"})).unwrap();
        assert_eq!(differences(&w, &web(), Some(&other))[0].field, "image");
    }

    #[test]
    fn decides_states_and_missing_images() {
        let w = want(json!({"name": "web", "image": "nosuch:1", "pull": "never"})).unwrap();
        let e = decide(&w, Some(&web()), None).unwrap_err();
        assert!(
            e.to_string()
                .contains("image nosuch:1 is not on the host and pull is never"),
            "{e}"
        );
        let w = want(json!({"name": "web", "image": "nosuch:1"})).unwrap();
        let d = decide(&w, None, None).unwrap();
        assert_eq!(d.steps[0].0, "docker pull nosuch:1");
        assert_eq!(d.diff[0].after, "state: started\n");
        let w = want(json!({"name": "web", "state": "absent"})).unwrap();
        let d = decide(&w, Some(&web()), None).unwrap();
        assert_eq!(d.steps[0].0, "docker rm --force web");
        assert_eq!(d.diff[0].before, "state: started\n");
        assert!(decide(&w, None, None).unwrap().steps.is_empty());
        let w = want(json!({"name": "web", "image": "labbox:1", "state": "stopped"})).unwrap();
        assert_eq!(
            decide(&w, Some(&web()), Some(&image())).unwrap().steps[0].0,
            "docker stop web"
        );
        let mut stopped = web();
        stopped["State"]["Running"] = json!(false);
        let w = want(json!({"name": "web", "image": "labbox:1"})).unwrap();
        assert_eq!(
            decide(&w, Some(&stopped), Some(&image())).unwrap().steps[0].0,
            "docker start web"
        );
        let w = want(json!({"name": "web", "image": "labbox:1", "restart": true})).unwrap();
        assert_eq!(
            decide(&w, Some(&web()), Some(&image())).unwrap().steps[0].0,
            "docker restart web"
        );
        let w =
            want(json!({"name": "web", "image": "labbox:1", "recreate": true, "state": "present"}))
                .unwrap();
        let d = decide(&w, Some(&web()), Some(&image())).unwrap();
        assert_eq!(d.steps.len(), 1);
        let w = want(json!({"name": "new"})).unwrap();
        assert!(
            decide(&w, None, None)
                .unwrap_err()
                .to_string()
                .contains("'image' is required")
        );
    }

    #[test]
    fn create_command_quotes_and_orders_arguments() {
        let mut task = web_task();
        task["networks"] = json!([{"name": "appnet", "aliases": ["webby"], "ipv4_address": "172.30.0.9"}, {"name": "backnet", "aliases": ["w b"]}]);
        task["entrypoint"] = json!(["/bin/sh", "-c"]);
        task["command"] = json!(["echo $HOME; touch /x"]);
        let w = want(task).unwrap();
        let cmds = create_cmds(&w, "labbox:1", "web__shipshape_new");
        assert_eq!(
            cmds[0],
            "docker create --name web__shipshape_new --entrypoint /bin/sh --env-file \"$f\" \
             --publish 8080:80/tcp --publish 127.0.0.1:8081:81/tcp --volume /tmp:/hosttmp:ro \
             --volume appdata:/data --network appnet --network-alias webby --ip 172.30.0.9 \
             --restart unless-stopped --label app=web --health-cmd 'cat /www/index.html' \
             --health-interval 30000000000ns labbox:1 -c 'echo $HOME; touch /x'"
        );
        assert_eq!(
            cmds[1],
            "docker network connect --alias 'w b' backnet web__shipshape_new"
        );
        assert_eq!(env_file(&w), "GREETING=hello\n");
    }

    /// Runs the recreate step with a fake `docker` that logs its arguments and the env file.
    #[test]
    fn recreate_script_swaps_containers_and_removes_the_env_file() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let fake = dir.path().join("docker");
        std::fs::write(
            &fake,
            format!(
                "#!/bin/sh\necho \"$*\" >> {log}\nfor a; do case \"$a\" in /*tmp*) [ -f \"$a\" ] && cat \"$a\" >> {log};; esac; done\n[ \"$1 $2 $3\" = \"create --name fail__shipshape_new\" ] && exit 125\nexit 0\n",
                log = log.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let run = |w: &Want| {
            let mut child = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(recreate_script(w, "labbox:1", true))
                .env("PATH", format!("{}:/usr/bin:/bin", dir.path().display()))
                .env("TMPDIR", dir.path())
                .stdin(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(env_file(w).as_bytes())
                .unwrap();
            child.wait().unwrap()
        };
        let w = want(json!({"name": "web", "image": "labbox:1", "env": {"SECRET": "s3cr'et $x"}}))
            .unwrap();
        assert!(run(&w).success());
        let text = std::fs::read_to_string(&log).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "rm --force web__shipshape_new");
        assert!(
            lines[1].starts_with("create --name web__shipshape_new --env-file /"),
            "{text}"
        );
        assert!(!lines[1].contains("s3cr"), "secret on argv: {text}");
        assert_eq!(lines[2], "SECRET=s3cr'et $x");
        assert_eq!(lines[3], "rm --force web");
        assert_eq!(lines[4], "rename web__shipshape_new web");
        // The env file is gone.
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left.len(), 2, "{left:?}");
        // A failing create leaves the old container alone.
        std::fs::remove_file(&log).unwrap();
        let w = want(json!({"name": "fail", "image": "labbox:1"})).unwrap();
        assert!(!run(&w).success());
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(!text.contains("rm --force fail\n"), "{text}");
        assert!(!text.contains("rename"), "{text}");
    }
}
