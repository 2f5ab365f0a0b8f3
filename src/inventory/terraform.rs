//! Terraform hand-off: a state file (`terraform.tfstate`, format version 4) or the saved JSON
//! of `terraform output -json`, read as an inventory source. The mapping is documented in
//! docs/terraform.md; this file owns it and must stay in step with that page. Values of
//! sensitive outputs never appear in a warning or an error.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use minijinja::Value;
use serde_json::Value as Json;

use super::{Inventory, InventoryError, yaml_inv};
use crate::yaml::Location;

/// What a JSON source holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A Terraform state file.
    State,
    /// `terraform output -json`.
    Outputs,
}

/// The resource types read from a state file, and where each keeps its name, addresses and
/// labels/tags. Other managed resources are read only through the generic fallback.
struct TypeSpec {
    ty: &'static str,
    /// Attributes tried in order for the host name ("tags.Name" = the `Name` tag).
    name: &'static [&'static str],
    /// Attribute paths tried in order for the public IPv4.
    public: &'static [&'static str],
    /// Attribute paths tried in order for the private IPv4.
    private: &'static [&'static str],
    /// Attributes holding labels/tags (a map, a list of strings, or a `;`/`,` string).
    labels: &'static [&'static str],
}

const TYPES: [TypeSpec; 11] = [
    TypeSpec {
        ty: "hcloud_server",
        name: &["name"],
        public: &["ipv4_address"],
        private: &["network.*.ip"],
        labels: &["labels"],
    },
    TypeSpec {
        ty: "aws_instance",
        name: &["tags.Name"],
        public: &["public_ip"],
        private: &["private_ip"],
        labels: &["tags"],
    },
    TypeSpec {
        ty: "google_compute_instance",
        name: &["name"],
        public: &["network_interface.*.access_config.*.nat_ip"],
        private: &["network_interface.*.network_ip"],
        labels: &["labels"],
    },
    TypeSpec {
        ty: "digitalocean_droplet",
        name: &["name"],
        public: &["ipv4_address"],
        private: &["ipv4_address_private"],
        labels: &["tags"],
    },
    TypeSpec {
        ty: "openstack_compute_instance_v2",
        name: &["name"],
        public: &["access_ip_v4", "network.*.floating_ip"],
        private: &["network.*.fixed_ip_v4"],
        labels: &["metadata", "tags"],
    },
    TypeSpec {
        ty: "azurerm_linux_virtual_machine",
        name: &["name", "computer_name"],
        public: &["public_ip_address", "public_ip_addresses.*"],
        private: &["private_ip_address", "private_ip_addresses.*"],
        labels: &["tags"],
    },
    TypeSpec {
        ty: "libvirt_domain",
        name: &["name"],
        public: &[],
        private: &["network_interface.*.addresses.*"],
        labels: &[],
    },
    TypeSpec {
        ty: "vsphere_virtual_machine",
        name: &["name"],
        public: &[],
        private: &["default_ip_address", "guest_ip_addresses.*"],
        labels: &[],
    },
    TypeSpec {
        ty: "proxmox_vm_qemu",
        name: &["name"],
        public: &["ssh_host", "default_ipv4_address"],
        private: &[],
        labels: &["tags"],
    },
    TypeSpec {
        ty: "linode_instance",
        name: &["label"],
        public: &["ip_address", "ipv4.*"],
        private: &["private_ip_address"],
        labels: &["tags"],
    },
    TypeSpec {
        ty: "vultr_instance",
        name: &["label", "hostname"],
        public: &["main_ip"],
        private: &["internal_ip"],
        labels: &["tags"],
    },
];

/// The generic fallback: a managed resource of another type with one of these attributes.
const GENERIC: TypeSpec = TypeSpec {
    ty: "",
    name: &["name", "label", "tags.Name"],
    public: &["ipv4_address", "public_ip", "access_ip_v4"],
    private: &["private_ip", "ipv4_address_private", "private_ip_address"],
    labels: &["labels", "tags"],
};

/// Resource types that carry a `public_ip`-like attribute but are not machines.
fn not_a_machine(ty: &str) -> bool {
    ty.ends_with("_ip")
        || ty.contains("eip")
        || ty.contains("floating")
        || ty.contains("nat_gateway")
        || ty.contains("load_balancer")
        || ty.ends_with("_lb")
        || ty.contains("_address")
        || ty.contains("network_interface")
}

/// Whether `text` (from `file`) is a Terraform source, and which kind. `.tfstate` files are
/// states by name; other files are recognised by their JSON shape only.
pub(crate) fn detect(file: &Path, text: &str) -> Option<Kind> {
    let name = file.file_name()?.to_string_lossy();
    let by_name = name.ends_with(".tfstate") || name.ends_with(".tfstate.backup");
    if !by_name && !text.trim_start().starts_with('{') {
        return None;
    }
    let json: Json = serde_json::from_str(text).ok()?;
    let obj = json.as_object()?;
    if by_name
        || (obj.contains_key("terraform_version")
            && obj.contains_key("resources")
            && obj.contains_key("version"))
    {
        return Some(Kind::State);
    }
    let is_output = |v: &Json| {
        v.as_object().is_some_and(|o| {
            o.contains_key("value")
                && o.contains_key("type")
                && o.get("sensitive").is_some_and(Json::is_boolean)
        })
    };
    (!obj.is_empty() && obj.values().all(is_output)).then_some(Kind::Outputs)
}

/// Adds what a Terraform source describes to `inv`.
pub(crate) fn load(
    inv: &mut Inventory,
    file: &Path,
    text: &str,
    kind: Kind,
) -> Result<(), InventoryError> {
    let json: Json = serde_json::from_str(text).map_err(|e| {
        InventoryError::invalid(
            Location {
                file: std::sync::Arc::new(file.to_path_buf()),
                line: e.line().max(1),
                col: e.column().max(1),
            },
            format!("invalid JSON: {e}"),
        )
    })?;
    match kind {
        Kind::State => load_state(inv, file, &json),
        Kind::Outputs => {
            let outputs = json.as_object().cloned().unwrap_or_default();
            for (name, output) in &outputs {
                load_output(inv, file, name, output)?;
            }
            Ok(())
        }
    }
}

fn invalid(file: &Path, message: String) -> InventoryError {
    InventoryError::invalid(Location::file_start(file), message)
}

fn load_state(inv: &mut Inventory, file: &Path, state: &Json) -> Result<(), InventoryError> {
    match state.get("version").and_then(Json::as_u64) {
        Some(4) => {}
        Some(v) => {
            return Err(invalid(
                file,
                format!(
                    "Terraform state format version {v} is not supported (version 4 is: Terraform 0.12 and later)"
                ),
            ));
        }
        None => {
            return Err(invalid(
                file,
                "not a Terraform state file (no \"version\")".into(),
            ));
        }
    }
    let loc = Location::file_start(file);
    let resources = state
        .get("resources")
        .and_then(Json::as_array)
        .cloned()
        .unwrap_or_default();
    for res in &resources {
        if res.get("mode").and_then(Json::as_str) != Some("managed") {
            continue;
        }
        let ty = res.get("type").and_then(Json::as_str).unwrap_or_default();
        let res_name = res.get("name").and_then(Json::as_str).unwrap_or_default();
        let spec = match TYPES.iter().find(|t| t.ty == ty) {
            Some(s) => s,
            None if !not_a_machine(ty) => &GENERIC,
            None => continue,
        };
        let module = res.get("module").and_then(Json::as_str);
        let instances = res
            .get("instances")
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default();
        // Instances of a generic type count only when they carry a known address attribute.
        let hosts: Vec<Machine> = instances
            .iter()
            .filter_map(|i| Machine::read(spec, res_name, module, ty, i))
            .filter(|m| !spec.ty.is_empty() || m.generic_match)
            .collect();
        let mut names: Vec<String> = hosts.iter().map(|m| m.base_name.clone()).collect();
        let unique = {
            let mut sorted = names.clone();
            sorted.sort();
            sorted.dedup();
            sorted.len() == names.len()
        };
        if !unique {
            for (n, m) in names.iter_mut().zip(&hosts) {
                if let Some(k) = &m.index {
                    *n = format!("{n}-{k}");
                }
            }
        }
        for (name, m) in names.into_iter().zip(hosts) {
            let Some(address) = m.public.clone().or_else(|| m.private.clone()) else {
                inv.warn(format!(
                    "{}: {}: no IPv4 address in the state (not created yet, or no network?): skipped",
                    file.display(),
                    m.address
                ));
                continue;
            };
            // The resource's group and the label groups, except one that would only repeat
            // the host's own name (a group and a host of one name make patterns ambiguous).
            let group = group_name(res_name);
            let mut placed = false;
            for g in std::iter::once(&group).chain(&m.groups) {
                if *g != name {
                    inv.add_host(&name, g, None, Some(&loc));
                    placed = true;
                }
            }
            if !placed {
                inv.add_host(&name, "ungrouped", None, Some(&loc));
            }
            inv.set_host_var(&name, "ansible_host", Value::from(address));
            inv.set_host_var(&name, "terraform_address", Value::from(m.address.clone()));
            if let Some(p) = m.public {
                inv.set_host_var(&name, "public_ipv4", Value::from(p));
            }
            if let Some(p) = m.private {
                inv.set_host_var(&name, "private_ipv4", Value::from(p));
            }
        }
    }
    // An `ansible_inventory` output in the state is read as in `terraform output -json`.
    if let Some(output) = state
        .get("outputs")
        .and_then(|o| o.get("ansible_inventory"))
    {
        load_output(inv, file, "ansible_inventory", output)?;
    }
    Ok(())
}

/// One machine of a state file, before naming.
struct Machine {
    base_name: String,
    index: Option<String>,
    /// `type.name[index]`, with the module path when there is one.
    address: String,
    public: Option<String>,
    private: Option<String>,
    groups: Vec<String>,
    /// For the generic fallback: whether one of its address attributes is present.
    generic_match: bool,
}

impl Machine {
    fn read(
        spec: &TypeSpec,
        res_name: &str,
        module: Option<&str>,
        ty: &str,
        instance: &Json,
    ) -> Option<Machine> {
        let attrs = instance.get("attributes")?;
        let index = instance.get("index_key").and_then(|k| match k {
            Json::String(s) => Some(s.clone()),
            Json::Number(n) => Some(n.to_string()),
            _ => None,
        });
        let index_text = match instance.get("index_key") {
            Some(Json::String(s)) => format!("[\"{s}\"]"),
            Some(Json::Number(n)) => format!("[{n}]"),
            _ => String::new(),
        };
        let address = match module {
            Some(m) => format!("{m}.{ty}.{res_name}{index_text}"),
            None => format!("{ty}.{res_name}{index_text}"),
        };
        let name_attr = spec
            .name
            .iter()
            .flat_map(|p| lookup(attrs, p))
            .find_map(|v| {
                v.as_str()
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
            });
        let base_name = match (name_attr, &index) {
            (Some(n), _) => n,
            (None, Some(i)) => format!("{res_name}-{i}"),
            (None, None) => res_name.to_string(),
        };
        let first_ipv4 = |paths: &[&str]| {
            paths
                .iter()
                .flat_map(|p| lookup(attrs, p))
                .filter_map(Json::as_str)
                .map(|s| s.split('/').next().unwrap_or(s).trim())
                .find(|s| s.parse::<std::net::Ipv4Addr>().is_ok())
                .map(String::from)
        };
        let public = first_ipv4(spec.public);
        let private = first_ipv4(spec.private).filter(|p| Some(p) != public.as_ref());
        let generic_match = GENERIC
            .public
            .iter()
            .any(|p| lookup(attrs, p).iter().any(|v| v.is_string()));
        let mut groups = Vec::new();
        for attr in spec.labels {
            for v in lookup(attrs, attr) {
                for g in groups_from_labels(v) {
                    if !groups.contains(&g) {
                        groups.push(g);
                    }
                }
            }
        }
        Some(Machine {
            base_name,
            index,
            address,
            public,
            private,
            groups,
            generic_match,
        })
    }
}

/// Values at a dotted attribute path; `*` walks every item of a list.
fn lookup<'a>(root: &'a Json, path: &str) -> Vec<&'a Json> {
    let mut cur: Vec<&Json> = vec![root];
    for part in path.split('.') {
        let mut next = Vec::new();
        for v in cur {
            if part == "*" {
                if let Some(items) = v.as_array() {
                    next.extend(items.iter());
                }
            } else if let Some(child) = v.get(part) {
                next.push(child);
            }
        }
        cur = next;
    }
    cur.into_iter().filter(|v| !v.is_null()).collect()
}

/// Groups from labels/tags: `ansible_groups` (a list separated by `,`, `;` or spaces) and
/// `role` (one group), keys in any case. Labels may be a map, a list of `key=value` /
/// `key:value` strings, or one string of such items separated by `;` or `,` (Proxmox).
fn groups_from_labels(labels: &Json) -> Vec<String> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    let split_pair = |s: &str| {
        s.split_once(['=', ':'])
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
    };
    match labels {
        Json::Object(map) => {
            for (k, v) in map {
                if let Some(v) = v.as_str() {
                    pairs.push((k.clone(), v.to_string()));
                }
            }
        }
        Json::Array(items) => {
            pairs.extend(items.iter().filter_map(Json::as_str).filter_map(split_pair))
        }
        Json::String(s) => pairs.extend(s.split([';', ',']).filter_map(split_pair)),
        _ => {}
    }
    let mut out = Vec::new();
    for (k, v) in pairs {
        let k = k.to_ascii_lowercase();
        let items: Vec<&str> = match k.as_str() {
            "ansible_groups" => v.split([',', ';', ' ']).collect(),
            "role" => vec![v.as_str()],
            _ => continue,
        };
        for item in items.into_iter().map(str::trim).filter(|s| !s.is_empty()) {
            let g = group_name(item);
            if !out.contains(&g) {
                out.push(g);
            }
        }
    }
    out
}

/// A valid Ansible group name: characters other than letters, digits and `_` become `_`,
/// and a leading digit gets a `_` prefix.
fn group_name(s: &str) -> String {
    let mut g: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if g.starts_with(|c: char| c.is_ascii_digit()) || g.is_empty() {
        g.insert(0, '_');
    }
    g
}

/// Whether `s` can be an SSH address: an IP address, or a DNS name with a dot.
fn is_address(s: &str) -> bool {
    if s.parse::<IpAddr>().is_ok() {
        return true;
    }
    s.contains('.')
        && !s.starts_with('.')
        && !s.ends_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        && s.chars().any(|c| c.is_ascii_alphabetic())
}

/// One output of `terraform output -json` (or of a state's `outputs`).
fn load_output(
    inv: &mut Inventory,
    file: &Path,
    name: &str,
    output: &Json,
) -> Result<(), InventoryError> {
    let value = output.get("value").unwrap_or(&Json::Null);
    let sensitive = output
        .get("sensitive")
        .and_then(Json::as_bool)
        .unwrap_or(false);
    let loc = Location::file_start(file);
    // Messages never show a value: a sensitive output's value must not leak.
    let skip = |inv: &mut Inventory, why: &str| {
        inv.warn(format!(
            "{}: output '{name}'{}: {why}: skipped",
            file.display(),
            if sensitive { " (sensitive)" } else { "" }
        ));
    };
    if name == "ansible_inventory" {
        return load_inventory_output(inv, file, value, sensitive);
    }
    let group = group_name(name);
    match value {
        Json::Object(map) => {
            if map.is_empty() {
                inv.add_group(&group, Some(&loc));
                return Ok(());
            }
            let entries: Option<IndexMap<&str, &str>> = map
                .iter()
                .map(|(k, v)| {
                    v.as_str()
                        .filter(|s| is_address(s))
                        .map(|s| (k.as_str(), s))
                })
                .collect();
            let Some(entries) = entries else {
                // Only a map that looks partly like hosts is worth a warning.
                if map.values().any(|v| v.as_str().is_some_and(is_address)) {
                    skip(inv, "not a map of host name to address");
                }
                return Ok(());
            };
            for (host, address) in entries {
                inv.add_host(host, &group, None, Some(&loc));
                inv.set_host_var(host, "ansible_host", Value::from(address));
            }
        }
        Json::Array(items) => {
            let addresses: Option<Vec<&str>> = items
                .iter()
                .map(|v| v.as_str().filter(|s| is_address(s)))
                .collect();
            let Some(addresses) = addresses else {
                if items.iter().any(|v| v.as_str().is_some_and(is_address)) {
                    skip(inv, "not a list of addresses");
                }
                return Ok(());
            };
            inv.add_group(&group, Some(&loc));
            for address in addresses {
                inv.add_host(address, &group, None, Some(&loc));
            }
        }
        Json::String(s) if s.parse::<IpAddr>().is_ok() => {
            inv.add_host(s, &group, None, Some(&loc));
        }
        // Other outputs (a region, a password, a count...) are not about hosts.
        _ => {}
    }
    Ok(())
}

/// The `ansible_inventory` output: a YAML inventory structure, or a string holding one
/// (Terraform's `yamlencode`/`jsonencode`).
fn load_inventory_output(
    inv: &mut Inventory,
    file: &Path,
    value: &Json,
    sensitive: bool,
) -> Result<(), InventoryError> {
    let text = match value {
        Json::String(s) => s.clone(),
        Json::Object(_) => value.to_string(),
        _ => {
            return Err(invalid(
                file,
                "output 'ansible_inventory' must be an inventory mapping (or a YAML/JSON string of one)"
                    .into(),
            ));
        }
    };
    let pseudo = PathBuf::from(format!("{}#ansible_inventory", file.display()));
    let node = crate::yaml::parse(&text, &pseudo).map_err(|e| {
        if sensitive {
            invalid(
                file,
                "output 'ansible_inventory' (sensitive) is not valid YAML/JSON".into(),
            )
        } else {
            InventoryError::from(e)
        }
    })?;
    yaml_inv::parse(inv, &node).map_err(|e| {
        if sensitive {
            invalid(
                file,
                "output 'ansible_inventory' (sensitive) is not a valid inventory".into(),
            )
        } else {
            e
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn detects_states_and_outputs() {
        let p = Path::new("x.json");
        assert_eq!(
            detect(
                p,
                r#"{"version":4,"terraform_version":"1.9.0","resources":[]}"#
            ),
            Some(Kind::State)
        );
        assert_eq!(
            detect(Path::new("terraform.tfstate"), "{}"),
            Some(Kind::State)
        );
        assert_eq!(
            detect(
                p,
                r#"{"a":{"sensitive":false,"type":"string","value":"x"}}"#
            ),
            Some(Kind::Outputs)
        );
        assert_eq!(detect(p, r#"{"all":{"hosts":{"a":null}}}"#), None);
        assert_eq!(detect(Path::new("hosts"), "[web]\na\n"), None);
        assert_eq!(detect(p, "{}"), None);
    }

    #[test]
    fn labels_give_groups() {
        assert_eq!(
            groups_from_labels(&json!({"role": "web", "ansible_groups": "prod, eu;x", "env": "p"})),
            vec!["web", "prod", "eu", "x"]
        );
        assert_eq!(
            groups_from_labels(&json!(["Role:db", "plain", "ansible_groups=a,b"])),
            vec!["db", "a", "b"]
        );
        assert_eq!(groups_from_labels(&json!("role=mon;x=y")), vec!["mon"]);
        assert_eq!(group_name("web-servers"), "web_servers");
        assert_eq!(group_name("1st"), "_1st");
    }

    #[test]
    fn addresses() {
        assert!(is_address("10.0.0.1"));
        assert!(is_address("2001:db8::1"));
        assert!(is_address("web.example.com"));
        assert!(!is_address("eu-central"));
        assert!(!is_address("1.2"));
        assert!(!is_address("s3cret pass"));
    }

    #[test]
    fn lookup_walks_lists() {
        let v = json!({"network_interface": [{"access_config": [{"nat_ip": "1.2.3.4"}], "network_ip": "10.0.0.2"}]});
        let got: Vec<&Json> = lookup(&v, "network_interface.*.access_config.*.nat_ip");
        assert_eq!(got, vec![&json!("1.2.3.4")]);
    }

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/terraform")
            .join(name)
    }

    fn var(inv: &Inventory, host: &str, key: &str) -> String {
        inv.host_vars(host)
            .get(key)
            .map(|v| v.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn seed_001_state_gives_three_hosts_and_their_groups() {
        let inv = Inventory::load(&[fixture("seed001.tfstate")]).expect("loads");
        let hosts: Vec<&str> = inv.hosts().map(|h| h.name.as_str()).collect();
        assert_eq!(hosts, vec!["backend", "database", "monitoring"]);
        assert_eq!(var(&inv, "backend", "ansible_host"), "20.61.10.11");
        assert_eq!(var(&inv, "backend", "private_ipv4"), "10.0.1.4");
        assert_eq!(
            var(&inv, "database", "terraform_address"),
            "azurerm_linux_virtual_machine.vm[\"database\"]"
        );
        assert_eq!(
            inv.group_hosts("vm"),
            vec!["backend", "database", "monitoring"]
        );
        assert_eq!(inv.group_hosts("web"), vec!["backend"]);
        assert_eq!(inv.group_hosts("monitored"), vec!["backend", "database"]);
        assert!(inv.group("database").is_none());
        // The public IP resources and the data source are not hosts; no output leaks.
        assert!(inv.host("backend-pip").is_none());
        let json = inv.to_list_json().to_string();
        assert!(!json.contains("Sup3r"), "{json}");
        assert!(inv.warnings().is_empty(), "{:?}", inv.warnings());
    }

    #[test]
    fn cloud_types_counts_modules_and_fallback() {
        let inv = Inventory::load(&[fixture("clouds.tfstate")]).expect("loads");
        let hosts: Vec<&str> = inv.hosts().map(|h| h.name.as_str()).collect();
        assert_eq!(
            hosts,
            vec![
                "web-1", "web-2", "worker-a", "worker-b", "db-main", "node-0", "node-1", "edge-par"
            ]
        );
        assert_eq!(var(&inv, "web-2", "ansible_host"), "203.0.113.11");
        assert_eq!(inv.group_hosts("frontend"), vec!["web-1", "web-2"]);
        // No public address: the private one.
        assert_eq!(var(&inv, "worker-b", "ansible_host"), "172.31.0.8");
        assert_eq!(
            var(&inv, "worker-a", "terraform_address"),
            "module.workers.aws_instance.worker[\"a\"]"
        );
        assert_eq!(inv.group_hosts("workers"), vec!["worker-a", "worker-b"]);
        assert_eq!(var(&inv, "db-main", "ansible_host"), "34.77.1.2");
        assert_eq!(var(&inv, "db-main", "private_ipv4"), "10.128.0.5");
        assert_eq!(inv.group_hosts("database"), vec!["db-main"]);
        assert_eq!(var(&inv, "node-0", "ansible_host"), "192.168.122.50");
        assert_eq!(inv.group_hosts("edge"), vec!["edge-par"]);
        assert!(inv.host("198.51.100.99").is_none());
        let w = inv.warnings().join("\n");
        assert!(
            w.contains("digitalocean_droplet.pending: no IPv4 address"),
            "{w}"
        );
    }

    #[test]
    fn outputs_give_groups_and_never_leak_sensitive_values() {
        let inv = Inventory::load(&[fixture("outputs.json")]).expect("loads");
        assert_eq!(inv.group_hosts("web_servers"), vec!["web-1", "web-2"]);
        assert_eq!(var(&inv, "web-1", "ansible_host"), "203.0.113.10");
        assert_eq!(inv.group_hosts("db_ips"), vec!["10.0.1.5"]);
        assert!(inv.group("region").is_none());
        assert!(inv.group("db_password").is_none());
        assert_eq!(inv.group_hosts("monitoring"), vec!["mon-1"]);
        assert_eq!(var(&inv, "mon-1", "ansible_user"), "ops");
        assert_eq!(var(&inv, "web-1", "ansible_user"), "deploy");
        let everything = format!("{}{:?}", inv.to_list_json(), inv.warnings());
        assert!(!everything.contains("Sup3r"), "{everything}");
        assert!(!everything.contains("glsa_"), "{everything}");
        assert!(!everything.contains("temporary"), "{everything}");
        assert_eq!(inv.warnings().len(), 1, "{:?}", inv.warnings());
        assert!(
            inv.warnings()
                .iter()
                .any(|w| w
                    .contains("output 'bastion' (sensitive): not a map of host name to address")),
            "{:?}",
            inv.warnings()
        );
    }

    #[test]
    fn state_and_ini_sources_merge() {
        let dir = tempfile::tempdir().expect("tmp");
        let ini = dir.path().join("extra.ini");
        std::fs::write(&ini, "[all:vars]\nansible_user=azureuser\n[web]\nbackend http_port=8080\n[db:children]\ndatabase_grp\n[database_grp]\ndatabase\n")
            .expect("write");
        let inv = Inventory::load(&[fixture("seed001.tfstate"), ini]).expect("loads");
        assert_eq!(inv.hosts().count(), 3);
        assert_eq!(var(&inv, "backend", "http_port"), "8080");
        assert_eq!(var(&inv, "backend", "ansible_host"), "20.61.10.11");
        assert_eq!(var(&inv, "monitoring", "ansible_user"), "azureuser");
        assert_eq!(inv.group_hosts("db"), vec!["database"]);
        assert!(
            inv.group_names("database")
                .contains(&"monitored".to_string())
        );
    }

    #[test]
    fn old_state_versions_are_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("old.tfstate");
        std::fs::write(&p, r#"{"version": 3, "modules": []}"#).expect("write");
        let e = Inventory::load(&[p]).expect_err("v3");
        assert!(e.to_string().contains("version 3 is not supported"), "{e}");
    }
}
