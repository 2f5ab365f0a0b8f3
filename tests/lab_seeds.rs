//! The seed layouts on the namespace lab (root only; skips with the reason otherwise): each
//! playbook of playbooks/ runs unchanged with its inventory's group_vars, mapped onto lab
//! hosts; check mode first, then it converges, the second run changes nothing, and the result
//! is checked from outside as its users would: requests through the load balancer, which
//! ports answer from where, Prometheus targets, replication.

// The shared harness re-exports the loopback lab, which these tests do not use.
#[allow(unused_imports)]
mod support;

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use support::netlab::{NetLab, Recap, assert_changed, ok, recap};

/// The repository root (playbooks/, inventories/, roles/).
fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A seed playbook mapped onto lab hosts: `work/inventory/hosts.ini` with the seed's groups
/// (each host at its lab address) and the seed inventory's group_vars copied beside it.
struct Seed {
    work: tempfile::TempDir,
    playbook: PathBuf,
}

impl Seed {
    /// `groups`: (group, [(inventory name, lab host index)]).
    fn new(lab: &NetLab, seed: &str, groups: &[(&str, &[(&str, usize)])], extra: &str) -> Seed {
        let work = tempfile::tempdir().expect("tempdir");
        let inv = work.path().join("inventory");
        std::fs::create_dir_all(inv.join("group_vars")).expect("inventory dir");
        let src = repo().join("inventories").join(seed).join("group_vars");
        for entry in std::fs::read_dir(&src).expect("seed group_vars") {
            let entry = entry.expect("dir entry");
            std::fs::copy(entry.path(), inv.join("group_vars").join(entry.file_name()))
                .expect("copy group_vars");
        }
        let mut text = String::new();
        for (group, hosts) in groups {
            text.push_str(&format!("[{group}]\n"));
            for (name, i) in *hosts {
                text.push_str(&format!("{name} ansible_host={}\n", NetLab::ip(*i)));
            }
            text.push('\n');
        }
        text.push_str(&format!(
            "[all:vars]\nansible_user=root\nansible_ssh_private_key_file={}\n\
             # The lab's mirror has the light nginx flavour.\nnginx_package=nginx-light\n\
             # Scrape often: the test waits for Prometheus to see every target.\n\
             prometheus_scrape_interval=3s\n{extra}",
            lab.key().display()
        ));
        std::fs::write(inv.join("hosts.ini"), text).expect("write inventory");
        Seed {
            work,
            playbook: repo().join("playbooks").join(format!("{seed}.yml")),
        }
    }

    fn run(&self, lab: &NetLab, extra: &[&str]) -> (Recap, String) {
        let inv = self.work.path().join("inventory/hosts.ini");
        let mut args = vec!["-i", inv.to_str().expect("utf-8 path")];
        args.extend_from_slice(extra);
        // `playbook` is absolute; the inventory path replaces the lab's own.
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_shipshape"))
            .arg("playbook")
            .arg(&self.playbook)
            .args(["--output", "jsonl", "--known-hosts"])
            .arg(lab.known_hosts())
            .args(&args)
            .current_dir(self.work.path())
            .env("NO_COLOR", "1")
            .output()
            .expect("run shipshape");
        let text = ok(&format!("{} {extra:?}", self.playbook.display()), out);
        (recap(&text), text)
    }
}

/// Whether a TCP connection from the controller (10.213.0.1, in no inventory group) to
/// `host:port` is accepted within half a second.
fn open_from_controller(i: usize, port: u16) -> bool {
    let addr: SocketAddr = format!("{}:{port}", NetLab::ip(i))
        .parse()
        .expect("address");
    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
}

/// Whether lab host `from` can open `to:port` (bash's /dev/tcp, 2 s limit).
fn open_from(lab: &NetLab, from: usize, to: usize, port: u16) -> bool {
    let out = lab.ssh(
        from,
        &format!(
            "timeout 2 bash -c 'exec 3<>/dev/tcp/{}/{port}' 2>/dev/null && echo open || echo closed",
            NetLab::ip(to)
        ),
    );
    String::from_utf8_lossy(&out.stdout).trim() == "open"
}

/// The ports every scan tries.
const SCAN: &[u16] = &[22, 80, 443, 3306, 8000, 8404, 9090, 9100];

/// Scans `SCAN` on host `i` from the controller and compares with the expected open ports.
fn assert_scan(i: usize, expect_open: &[u16]) {
    let open: Vec<u16> = SCAN
        .iter()
        .copied()
        .filter(|p| open_from_controller(i, *p))
        .collect();
    assert_eq!(open, expect_open, "ports open on lab{i} from outside");
}

/// Prometheus on `mon` reports `n` node targets up (scrapes every 15 s: waits up to 40 s).
fn wait_targets_up(lab: &NetLab, mon: usize, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let out = lab.ssh(
            mon,
            "curl -s 'http://127.0.0.1:9090/api/v1/query?query=up%7Bjob%3D%22node%22%7D'",
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let up = text.matches(r#""1"]"#).count();
        if up == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus reports {up} of {n} node targets up: {text}"
        );
        std::thread::sleep(Duration::from_secs(2));
    }
}

fn no_failures(stats: &Recap, out: &str) {
    for (host, s) in stats {
        assert_eq!(
            s["failed"].as_u64().unwrap_or(0),
            0,
            "{host} failed:\n{out}"
        );
        assert_eq!(s["unreachable"].as_u64().unwrap_or(0), 0, "{host}:\n{out}");
    }
}

/// Which web server answered through the load balancer, for `n` requests.
fn through_lb(lab: &NetLab, from: usize, lb: usize, n: usize) -> Vec<String> {
    let text = ok(
        "requests through the load balancer",
        lab.ssh(
            from,
            &format!(
                "for i in $(seq {n}); do curl -s --max-time 3 http://{}/; done",
                NetLab::ip(lb)
            ),
        ),
    );
    text.lines()
        .filter_map(|l| l.split("served by ").nth(1))
        .map(|s| s.trim_end_matches("</p>").to_string())
        .collect()
}

/// HAProxy marks a back end up after two passing checks (2 s apart): waits until both answer.
fn wait_both_backends(lab: &NetLab, from: usize, lb: usize, names: [&str; 2]) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let seen = through_lb(lab, from, lb, 4);
        if names.iter().all(|n| seen.iter().any(|s| s == n)) {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "only {seen:?} answer through the LB"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[test]
fn haproxy_web_seed_converges_and_serves_through_the_load_balancer() {
    let Some(lab) = NetLab::up(5) else { return };
    let t0 = Instant::now();
    let seed = Seed::new(
        &lab,
        "haproxy-web",
        &[
            ("lb", &[("lb1", 1)]),
            ("web", &[("web1", 2), ("web2", 3)]),
            ("db", &[("db1", 4)]),
            ("monitoring", &[("mon1", 5)]),
        ],
        "",
    );
    // Alertmanager with a Discord receiver too (the webhook is never called here).
    let pw = [
        "-e",
        "vault_mysql_app_password=Lab-App-Secret-1",
        "-e",
        "prometheus_alertmanager_enabled=true",
        "-e",
        "prometheus_alertmanager_discord_webhook_url=https://discord.invalid/api/webhooks/1/x",
    ];

    let (stats, check) = seed.run(&lab, &[&["--check"][..], &pw[..]].concat());
    no_failures(&stats, &check);
    for (host, s) in &stats {
        assert!(
            s["changed"].as_u64().unwrap_or(0) > 0,
            "check on {host}:\n{check}"
        );
    }
    assert!(
        !open_from_controller(1, 8404),
        "check mode started haproxy's stats page"
    );
    let t_check = t0.elapsed();

    let (stats, first) = seed.run(&lab, &pw);
    no_failures(&stats, &first);
    let t_first = t0.elapsed();
    let (stats, second) = seed.run(&lab, &pw);
    assert_changed(&stats, 0, &second);
    let t_second = t0.elapsed();

    // Through the load balancer, every web server in turn, and the API behind nginx.
    let seen = wait_both_backends(&lab, 5, 1, ["web1", "web2"]);
    assert!(
        seen.windows(2).all(|w| w[0] != w[1]),
        "round robin: {seen:?}"
    );
    let api = ok(
        "API through the LB",
        lab.ssh(5, "curl -s --max-time 3 http://10.213.0.11/api/hello"),
    );
    assert!(
        api.contains(r#""app": "app""#) && api.contains(r#""path": "/hello""#),
        "{api}"
    );

    // MySQL: from the web servers only; the app account logs in from web1.
    assert!(open_from(&lab, 2, 4, 3306), "3306 from web1");
    assert!(open_from(&lab, 3, 4, 3306), "3306 from web2");
    assert!(!open_from(&lab, 1, 4, 3306), "3306 from the load balancer");
    assert!(!open_from(&lab, 5, 4, 3306), "3306 from monitoring");
    let login = lab.ssh(
        2,
        "mysql -h 10.213.0.14 -u app -pLab-App-Secret-1 app -N -e 'select 42'",
    );
    assert_eq!(ok("app login from web1", login).trim(), "42");

    // Monitoring: node exporter on every host, reachable from the monitoring host only.
    wait_targets_up(&lab, 5, 5);
    let metrics = ok(
        "node exporter from monitoring",
        lab.ssh(
            5,
            "curl -s --max-time 3 http://10.213.0.12:9100/metrics | grep -c '^node_cpu'",
        ),
    );
    assert!(metrics.trim().parse::<u32>().unwrap_or(0) > 0, "{metrics}");
    assert!(!open_from(&lab, 1, 2, 9100), "9100 from the load balancer");
    let am = ok(
        "alertmanager",
        lab.ssh(
            5,
            "curl -s --max-time 3 http://127.0.0.1:9093/api/v2/status",
        ),
    );
    assert!(
        am.contains("discord"),
        "alertmanager has the Discord receiver: {am}"
    );
    assert!(open_from(&lab, 5, 1, 8404), "haproxy stats from monitoring");

    // A scan from outside (the controller is in no group) matches each allow-list.
    assert_scan(1, &[22, 80]);
    assert_scan(2, &[22]);
    assert_scan(3, &[22]);
    assert_scan(4, &[22]);
    assert_scan(5, &[22, 9090]);
    eprintln!(
        "lab_seeds haproxy-web: check {:.1} s, first run {:.1} s, second run {:.1} s, whole test {:.1} s",
        t_check.as_secs_f64(),
        (t_first - t_check).as_secs_f64(),
        (t_second - t_first).as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
}

#[test]
fn ha_mysql_seed_replicates_and_balances_through_both_load_balancers() {
    let Some(lab) = NetLab::up(6) else { return };
    let t0 = Instant::now();
    let seed = Seed::new(
        &lab,
        "ha-mysql",
        &[
            ("lb", &[("lb1", 1), ("lb2", 2)]),
            ("web", &[("web1", 3), ("web2", 4)]),
            ("db_primary", &[("db1", 5)]),
            ("db_replica", &[("db2", 6)]),
        ],
        "[db:children]\ndb_primary\ndb_replica\n",
    );
    let pw = [
        "-e",
        "vault_mysql_app_password=Lab-App-Secret-2",
        "-e",
        "vault_mysql_replication_password=Lab-Repl-Secret-3",
    ];
    let (stats, check) = seed.run(&lab, &[&["--check"][..], &pw[..]].concat());
    no_failures(&stats, &check);
    let (stats, first) = seed.run(&lab, &pw);
    no_failures(&stats, &first);
    let t_first = t0.elapsed();
    let (stats, second) = seed.run(&lab, &pw);
    assert_changed(&stats, 0, &second);

    // Both load balancers reach both web servers.
    for lb in [1, 2] {
        wait_both_backends(&lab, 3, lb, ["web1", "web2"]);
    }
    // A write on the primary reaches the replica; the replica is read-only for the app.
    let primary = |sql: &str| {
        lab.ssh(
            3,
            &format!("mysql -h 10.213.0.15 -u app -pLab-App-Secret-2 app -N -e \"{sql}\""),
        )
    };
    ok(
        "write on the primary from web1",
        primary("CREATE TABLE IF NOT EXISTS t (v INT); INSERT INTO t VALUES (7)"),
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let out = lab.ssh(
            4,
            "mysql -h 10.213.0.16 -u app -pLab-App-Secret-2 app -N -e 'SELECT SUM(v) FROM t' 2>&1",
        );
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if text == "7" {
            break;
        }
        assert!(Instant::now() < deadline, "replica answers {text:?}");
        std::thread::sleep(Duration::from_millis(500));
    }
    let denied = lab.ssh(
        4,
        "mysql -h 10.213.0.16 -u app -pLab-App-Secret-2 app -e 'INSERT INTO t VALUES (1)' 2>&1",
    );
    assert!(!denied.status.success(), "the replica accepted a write");
    // 3306 from the web servers (and the other database), never from the load balancers.
    assert!(open_from(&lab, 3, 5, 3306) && open_from(&lab, 4, 6, 3306));
    assert!(!open_from(&lab, 1, 5, 3306) && !open_from(&lab, 2, 6, 3306));
    assert_scan(1, &[22, 80]);
    assert_scan(3, &[22]);
    assert_scan(5, &[22]);
    eprintln!(
        "lab_seeds ha-mysql: first run {:.1} s, whole test {:.1} s",
        t_first.as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
}

/// The `after` text of the diffs of tasks named `task` on `host` in a jsonl run.
fn rendered(out: &str, host: &str, task: &str) -> String {
    out.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "host_result" && e["host"] == host)
        .filter(|e| e["task"].as_str().is_some_and(|t| t.ends_with(task)))
        .flat_map(|e| {
            e["diffs"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|d| d["after"].as_str().map(str::to_string))
        })
        .collect()
}

#[test]
fn traefik_stack_seed_converges_what_the_lab_can_run_and_plans_the_rest() {
    // No Traefik binary, Grafana image or Telegraf package is reachable here: those roles run
    // in check mode with --diff (their rendered configuration is checked); everything else
    // converges for real.
    let Some(lab) = NetLab::up(6) else { return };
    let seed = Seed::new(
        &lab,
        "traefik-stack",
        &[
            ("lb", &[("lb1", 1)]),
            ("front", &[("front1", 2)]),
            ("back", &[("back1", 3), ("back2", 4)]),
            ("db", &[("db1", 5)]),
            ("monitoring", &[("mon1", 6)]),
        ],
        "",
    );
    let skip = ["--skip-tags", "traefik,grafana,telegraf"];
    let (stats, first) = seed.run(&lab, &skip);
    no_failures(&stats, &first);
    let (stats, second) = seed.run(&lab, &skip);
    assert_changed(&stats, 0, &second);
    // InfluxDB answers the servers that send metrics, not the outside.
    assert!(open_from(&lab, 3, 6, 8086), "8086 from a back end");
    assert!(!open_from_controller(6, 8086), "8086 from outside");
    let dbs = ok(
        "influx databases",
        lab.ssh(6, "influx -execute 'SHOW DATABASES' -format csv"),
    );
    assert!(dbs.contains("telegraf"), "{dbs}");
    // The API back ends answer through nginx on port 80 (from the load balancer only).
    let api = ok(
        "API from the load balancer",
        lab.ssh(
            1,
            "curl -s --max-time 3 -H 'Host: api.foobar.com' http://10.213.0.13/x",
        ),
    );
    assert!(api.contains(r#""host": "lab3""#), "{api}");
    assert!(
        !open_from_controller(3, 80),
        "back end port 80 from outside"
    );

    let plan = [
        "--check",
        "--diff",
        "--tags",
        "traefik,grafana,telegraf",
        "-e",
        "vault_traefik_release_sha256=0000000000000000000000000000000000000000000000000000000000000000",
        "-e",
        "vault_grafana_admin_password=Lab-Grafana-Secret",
        "-e",
        r#"{"vault_traefik_dashboard_users": ["admin:$apr1$x$y"]}"#,
        // InfluxData's repository is out of reach: the lab's signed extras repository
        // stands in for it (the package itself is not there: check mode predicts it).
        "-e",
        "telegraf_repo_url=http://10.213.0.1:8080/extras",
        "-e",
        "telegraf_repo_suite=lab",
        "-e",
        "telegraf_repo_key_url=http://10.213.0.1:8080/lab-archive-keyring.asc",
    ];
    let (stats, check) = seed.run(&lab, &plan);
    no_failures(&stats, &check);
    let services = rendered(
        &check,
        "lb1",
        "dynamic configuration (routers and services from the inventory)",
    );
    for url in [
        "http://10.213.0.12:80",
        "http://10.213.0.13:80",
        "http://10.213.0.14:80",
        "http://10.213.0.16:3000",
    ] {
        assert!(services.contains(url), "{url} missing from:\n{services}");
    }
    assert!(services.contains("certResolver: letsencrypt"), "{services}");
    let static_cfg = rendered(&check, "lb1", "static configuration");
    assert!(static_cfg.contains("to: websecure"), "{static_cfg}");
    let datasources = rendered(&check, "mon1", "data sources");
    assert!(
        datasources.contains("uid: prometheus") && datasources.contains("uid: influxdb"),
        "{datasources}"
    );
    let telegraf = rendered(
        &check,
        "back1",
        "Telegraf configuration (checked with telegraf --test before it is installed)",
    );
    assert!(telegraf.contains("http://10.213.0.16:8086"), "{telegraf}");
    assert!(
        !check.contains("Lab-Grafana-Secret"),
        "a no_log value leaked"
    );
}

#[test]
fn lostops_seed_converges_its_hosts_and_plans_the_containers() {
    // Seed 001 runs MySQL 8, Traefik, Prometheus and Grafana in Docker; no registry is
    // reachable here, so those roles are planned (check mode, rendered configuration) while
    // the firewall, node exporter, Docker and the app converge for real.
    let Some(lab) = NetLab::up(3) else { return };
    let seed = Seed::new(
        &lab,
        "lostops",
        &[
            ("backend", &[("backend", 1)]),
            ("database", &[("database", 2)]),
            ("monitoring", &[("monitoring", 3)]),
        ],
        "",
    );
    let real = ["--tags", "firewall,node_exporter,docker,app"];
    let (stats, first) = seed.run(&lab, &real);
    no_failures(&stats, &first);
    let (stats, second) = seed.run(&lab, &real);
    assert_changed(&stats, 0, &second);
    let docker = ok(
        "docker on the database host",
        lab.ssh(2, "docker info --format '{{.LoggingDriver}}'"),
    );
    assert_eq!(docker.trim(), "json-file");
    // MySQL's published port is filtered before Docker's chains: from the backend only.
    let table = ok(
        "firewall table",
        lab.ssh(2, "nft list table inet shipshape_firewall"),
    );
    assert!(
        table.contains("ip saddr 10.213.0.11") && table.contains("ct original proto-dst 3306"),
        "{table}"
    );
    let tables = ok("tables", lab.ssh(2, "nft list tables"));
    assert!(
        tables.contains("table ip nat"),
        "Docker's tables kept: {tables}"
    );
    assert!(open_from(&lab, 3, 1, 9100), "node exporter from monitoring");
    assert!(
        !open_from(&lab, 2, 1, 9100),
        "node exporter from the database host"
    );

    let plan = [
        "--check",
        "--diff",
        "--tags",
        "mysql,traefik,prometheus,grafana",
        "-e",
        "vault_mysql_root_password=Lab-Root-Secret",
        "-e",
        "vault_grafana_admin_password=Lab-Grafana-Secret",
    ];
    let (stats, check) = seed.run(&lab, &plan);
    no_failures(&stats, &check);
    let prom = rendered(
        &check,
        "monitoring",
        "prometheus configuration (checked with promtool)",
    );
    for target in ["10.213.0.11:9100", "10.213.0.12:9100", "10.213.0.13:9100"] {
        assert!(prom.contains(target), "{target} missing from:\n{prom}");
    }
    let routes = rendered(
        &check,
        "backend",
        "dynamic configuration (routers and services from the inventory)",
    );
    assert!(routes.contains("http://10.213.0.11:8000"), "{routes}");
    for secret in ["Lab-Root-Secret", "Lab-Grafana-Secret"] {
        assert!(!check.contains(secret), "{secret} leaked");
    }
}
