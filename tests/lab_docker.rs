//! Namespace lab test of the Docker modules (root only; skips with the reason otherwise): on
//! lab1 the `shipshape` binary starts dockerd, loads an image from a `docker save` archive,
//! creates a network and a volume and runs a busybox web container; check mode predicts it
//! all and changes nothing, lab2 fetches the page through the published port, a second run
//! changes nothing, an env change recreates the container (new id, diff naming env), a missing
//! image fails clearly without touching the running container, and state=absent removes it all.

// The shared harness re-exports the loopback lab, which this test does not use.
#[allow(unused_imports)]
mod support;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use support::netlab::{NetLab, assert_changed, ok};

/// Prepares the host: dockerd running, and a `docker save` archive of a tiny image made from
/// the lab's static busybox (the lab has no registry).
const PREP: &str = r#"- hosts: lab1
  gather_facts: false
  tasks:
    - name: docker runs
      service: name=docker state=started
    - name: rootfs tarball on the host
      copy: src=img.tar dest=/root/img.tar
    - name: a docker save archive of labbox:1
      shell: >-
        i=0; until docker version >/dev/null 2>&1; do i=$((i+1)); [ $i -lt 30 ] || exit 1; sleep 1; done;
        docker import /root/img.tar labbox:1 && docker save -o /root/labbox.tar labbox:1 && docker rmi labbox:1
      args:
        creates: /root/labbox.tar
"#;

const SITE: &str = r#"- hosts: lab1
  gather_facts: false
  vars:
    greeting: hello
    subnet: 172.30.0.0/24
  tasks:
    - name: docker runs
      service: name=docker state=started
    - name: image loaded from the archive
      community.docker.docker_image:
        name: labbox
        tag: "1"
        source: load
        load_path: /root/labbox.tar
    - name: app network
      community.docker.docker_network:
        name: appnet
        ipam_config:
          - subnet: "{{ subnet }}"
    - name: back network
      community.docker.docker_network:
        name: backnet
        internal: true
        ipam_config:
          - subnet: 172.29.0.0/24
            gateway: 172.29.0.1
        labels:
          tier: back
    - name: app volume
      community.docker.docker_volume:
        volume_name: appdata
    - name: web container
      community.docker.docker_container:
        name: web
        image: labbox:1
        command: /bin/httpd -f -p 80 -h /www
        published_ports:
          - "8080:80"
        networks:
          - name: appnet
            aliases: [www]
          - name: backnet
            aliases: [web-back]
            ipv4_address: 172.29.0.10
        volumes:
          - appdata:/data
        env:
          GREETING: "{{ greeting }}"
        restart_policy: unless-stopped
        labels:
          app: web
        healthcheck:
          test: cat /www/index.html
          interval: 30s
        pull: never
"#;

const BAD: &str = r#"- hosts: lab1
  gather_facts: false
  tasks:
    - name: image that is not there
      community.docker.docker_image:
        name: nosuch
        tag: "1"
        source: local
      ignore_errors: true
    - name: container from a missing image
      community.docker.docker_container:
        name: web
        image: nosuch:1
        pull: never
"#;

const ABSENT: &str = r#"- hosts: lab1
  gather_facts: false
  tasks:
    - community.docker.docker_container: name=web state=absent
    - community.docker.docker_network: name=appnet state=absent
    - community.docker.docker_network: name=backnet state=absent
    - community.docker.docker_volume: name=appdata state=absent
    - community.docker.docker_image: name=labbox:1 state=absent
"#;

/// A `busybox` rootfs tarball for `docker import`: /bin/busybox with applet links and a page.
fn build_rootfs_tar(work: &Path) {
    let root = work.join("rootfs");
    std::fs::create_dir_all(root.join("bin")).expect("mkdir bin");
    std::fs::create_dir_all(root.join("www")).expect("mkdir www");
    std::fs::copy(
        "/var/cache/shipshape-lab/bin/busybox",
        root.join("bin/busybox"),
    )
    .expect("copy busybox");
    for applet in ["sh", "httpd", "sleep", "echo", "cat"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).expect("symlink");
    }
    std::fs::write(root.join("www/index.html"), "hello from labbox\n").expect("page");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(work.join("img.tar"))
        .arg(".")
        .status()
        .expect("run tar");
    assert!(st.success(), "tar failed");
}

fn curl_page(lab: &NetLab) -> String {
    ok(
        "curl from lab2",
        lab.ssh(
            2,
            "for i in 1 2 3 4 5 6 7 8 9 10; do curl -sf --max-time 3 http://10.213.0.11:8080/ && exit 0; sleep 1; done; exit 1",
        ),
    )
}

fn on_lab1(lab: &NetLab, what: &str, cmd: &str) -> String {
    ok(what, lab.ssh(1, cmd)).trim().to_string()
}

/// The `host_result` events of a run whose task name is `task`.
fn results<'a>(out: &'a str, task: &'a str) -> impl Iterator<Item = serde_json::Value> + 'a {
    out.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(move |e| e["event"] == "host_result" && e["task"] == task)
}

#[test]
fn docker_modules_run_a_web_container_idempotently() {
    if !Path::new("/var/cache/shipshape-lab/bin/busybox").exists() {
        support::netlab::skip("lab_docker: no /var/cache/shipshape-lab/bin/busybox");
        return;
    }
    let Some(lab) = NetLab::up(2) else { return };
    let work = tempfile::tempdir().expect("tempdir");
    let w = work.path();
    build_rootfs_tar(w);
    for (file, text) in [
        ("prep.yml", PREP),
        ("site.yml", SITE),
        ("bad.yml", BAD),
        ("absent.yml", ABSENT),
    ] {
        std::fs::write(w.join(file), text).expect("write playbook");
    }
    let t = Instant::now();
    let (_, prep) = lab.converge(w, "prep.yml", &[]);
    eprintln!("prep (dockerd start, image archive): {:?}", t.elapsed());
    assert!(
        on_lab1(&lab, "archive", "ls -l /root/labbox.tar").contains("labbox.tar"),
        "{prep}"
    );

    // Check mode predicts image, network, volume and container, and changes nothing.
    let t = Instant::now();
    let (stats, check) = lab.converge(w, "site.yml", &["--check"]);
    eprintln!("check: {:?}", t.elapsed());
    assert_changed(&stats, 5, &check);
    let state = on_lab1(
        &lab,
        "docker state",
        "docker image ls -q labbox; docker network ls -q -f name=appnet -f name=backnet; docker volume ls -q; docker ps -aq",
    );
    assert_eq!(state, "", "check mode changed the host:\n{check}");

    let t = Instant::now();
    let (stats, first) = lab.converge(w, "site.yml", &[]);
    eprintln!("converge: {:?}", t.elapsed());
    assert_changed(&stats, 5, &first);
    let container = results(&first, "web container").next().expect("web result");
    assert_eq!(
        container["result"]["container"]["Name"], "/web",
        "{container}"
    );
    let image = results(&first, "image loaded from the archive")
        .next()
        .expect("image result");
    assert_eq!(
        image["result"]["image"]["RepoTags"][0], "labbox:1",
        "{image}"
    );
    assert_eq!(curl_page(&lab).trim(), "hello from labbox");
    let inspect = "docker inspect -f '{{.Id}} {{.HostConfig.RestartPolicy.Name}} {{index .Config.Env 0}} {{range $k, $v := .NetworkSettings.Networks}}{{$k}},{{end}}' web";
    let before = on_lab1(&lab, "inspect web", inspect);
    let fields: Vec<&str> = before.split(' ').collect();
    assert_eq!(
        fields[1..],
        ["unless-stopped", "GREETING=hello", "appnet,backnet,"],
        "{before}"
    );
    assert_eq!(
        on_lab1(
            &lab,
            "back address",
            "docker inspect -f '{{.NetworkSettings.Networks.backnet.IPAddress}} {{.NetworkSettings.Networks.backnet.Aliases}}' web"
        )
        .split(' ')
        .next(),
        Some("172.29.0.10")
    );
    assert_eq!(
        on_lab1(
            &lab,
            "subnet",
            "docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' appnet"
        ),
        "172.30.0.0/24"
    );

    let t = Instant::now();
    let (stats, second) = lab.converge(w, "site.yml", &[]);
    eprintln!("second run: {:?}", t.elapsed());
    assert_changed(&stats, 0, &second);

    // One env value changes: only the container is recreated, and the diff says env.
    let t = Instant::now();
    let (stats, changed) = lab.converge(w, "site.yml", &["-e", "greeting=bonjour"]);
    eprintln!("env change: {:?}", t.elapsed());
    assert_changed(&stats, 1, &changed);
    let r = results(&changed, "web container")
        .next()
        .expect("web result");
    assert_eq!(r["status"], "changed", "{r}");
    let diff = &r["diffs"][0];
    assert_eq!(diff["before"], "env: GREETING=hello\n", "{r}");
    assert_eq!(diff["after"], "env: GREETING=bonjour\n", "{r}");
    let after = on_lab1(&lab, "inspect web", inspect);
    let new_id = after.split(' ').next().expect("id");
    assert_ne!(new_id, fields[0], "container was not recreated");
    assert!(after.contains("GREETING=bonjour"), "{after}");
    assert_eq!(
        on_lab1(&lab, "container count", "docker ps -aq | wc -l"),
        "1"
    );
    assert_eq!(curl_page(&lab).trim(), "hello from labbox");

    // The network's subnet changes: it is recreated (saying why), and so is the container
    // that lost it.
    let t = Instant::now();
    let (stats, renet) = lab.converge(
        w,
        "site.yml",
        &["-e", "greeting=bonjour", "-e", "subnet=172.31.0.0/24"],
    );
    eprintln!("subnet change: {:?}", t.elapsed());
    assert_changed(&stats, 2, &renet);
    let net = results(&renet, "app network")
        .next()
        .expect("network result");
    assert_eq!(
        net["diffs"][0]["before"], "ipam_config: subnet=172.30.0.0/24\n",
        "{net}"
    );
    assert_eq!(
        net["diffs"][0]["after"], "ipam_config: subnet=172.31.0.0/24\n",
        "{net}"
    );
    let r = results(&renet, "web container").next().expect("web result");
    assert!(
        r["diffs"][0]["after"]
            .as_str()
            .unwrap_or_default()
            .starts_with("networks: appnet"),
        "{r}"
    );
    assert_eq!(
        on_lab1(
            &lab,
            "container address",
            "docker inspect -f '{{.NetworkSettings.Networks.appnet.IPAddress}}' web"
        )
        .rsplit_once('.')
        .map(|(net, _)| net.to_string()),
        Some("172.31.0".to_string())
    );
    assert_eq!(curl_page(&lab).trim(), "hello from labbox");
    let after = on_lab1(&lab, "inspect web", inspect);

    // Bad: a missing image fails clearly and leaves the running container alone.
    let t = Instant::now();
    let out = lab.play(w, "bad.yml", &[]);
    eprintln!("missing image: {:?}", t.elapsed());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(2), "{text}");
    let image_fail = results(&text, "image that is not there")
        .next()
        .expect("image result");
    assert!(
        image_fail["msg"]
            .as_str()
            .unwrap_or_default()
            .contains("image nosuch:1 is not on the host and source is local"),
        "{image_fail}"
    );
    let fail = results(&text, "container from a missing image")
        .next()
        .expect("container result");
    assert_eq!(fail["status"], "failed", "{fail}");
    assert!(
        fail["msg"]
            .as_str()
            .unwrap_or_default()
            .contains("image nosuch:1 is not on the host and pull is never"),
        "{fail}"
    );
    assert_eq!(on_lab1(&lab, "inspect web", inspect), after);
    assert_eq!(
        on_lab1(
            &lab,
            "running",
            "docker inspect -f '{{.State.Running}}' web"
        ),
        "true"
    );

    // Everything removed, then nothing left to remove.
    let t = Instant::now();
    let (stats, gone) = lab.converge(w, "absent.yml", &[]);
    eprintln!("absent: {:?}", t.elapsed());
    assert_changed(&stats, 5, &gone);
    let state = on_lab1(
        &lab,
        "docker state",
        "docker image ls -q labbox; docker network ls -q -f name=appnet -f name=backnet; docker volume ls -q; docker ps -aq",
    );
    assert_eq!(state, "", "{gone}");
    let (stats, again) = lab.converge(w, "absent.yml", &[]);
    assert_changed(&stats, 0, &again);
}
