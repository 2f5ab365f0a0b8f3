//! Namespace lab test of the net modules (root only; skips with the reason otherwise):
//! get_url with sha256 checksums from the lab web server, uri from lab1 against nginx on
//! lab2, unarchive of a tar.gz from the controller and a zip from a URL, and pause. Check
//! mode first changes nothing, the real run converges, the second run changes nothing, and
//! the failure cases (wrong checksum, unexpected status, prompt without a terminal) fail
//! clearly and leave the host as it was.

// The shared harness re-exports the loopback lab, which this test does not use.
#[allow(unused_imports)]
mod support;

use std::process::Command;

use support::netlab::{NetLab, assert_changed, ok, recap};

fn sha256_hex(path: &std::path::Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("digest")
        .to_string()
}

fn sh(cmd: &str) {
    let st = Command::new("sh").arg("-c").arg(cmd).status().expect("sh");
    assert!(st.success(), "{cmd}");
}

const SITE: &str = r#"
- hosts: lab2
  gather_facts: false
  tasks:
    - name: nginx serves on lab2
      service: name=nginx state=started
- hosts: lab1
  gather_facts: false
  tasks:
    - name: target directories
      file: path={{ item }} state=directory
      loop: [/opt/tgz, /opt/zip, /opt/dl]
    - name: app.txt is downloaded and verified
      ansible.builtin.get_url:
        url: "{{ web }}/files/app.txt"
        dest: /opt/app.txt
        checksum: "sha256:{{ sum }}"
        mode: "0640"
    - name: a directory dest with a checksum file
      get_url:
        url: "{{ web }}/files/app.txt"
        dest: /opt/dl/
        checksum: "sha256:{{ web }}/files/SHA256SUMS"
    - name: unzip is installed
      shell: command -v unzip || { apt-get update -qq >/dev/null && apt-get install -y -qq unzip >/dev/null && echo installed; }
      register: unz
      changed_when: "'installed' in unz.stdout"
    - name: lab2 answers
      uri:
        url: http://10.213.0.12/
        return_content: yes
      register: page
      until: page.status == 200
      retries: 5
      delay: 1
      when: not ansible_check_mode
    - name: the page is nginx's
      assert:
        that:
          - "'nginx' in page.content"
          - page.url == 'http://10.213.0.12/'
      when: not ansible_check_mode
    - name: a 404 is expected here
      uri:
        url: http://10.213.0.12/missing
        status_code: [404]
    - name: unpack a tar.gz from the controller
      unarchive:
        src: app.tar.gz
        dest: /opt/tgz
    - name: unpack a zip from a URL
      unarchive:
        src: "{{ web }}/files/app.zip"
        dest: /opt/zip
        remote_src: yes
        mode: u=rwX,g=rX,o=
    - name: wait a second
      pause:
        seconds: 1
"#;

const FAILS: &str = r#"
- hosts: lab1
  gather_facts: false
  tasks:
    - name: wrong checksum
      get_url:
        url: "{{ web }}/files/app.txt"
        dest: /opt/app.txt
        force: yes
        checksum: "sha256:{{ '0' * 64 }}"
      ignore_errors: true
    - name: unexpected status
      uri:
        url: http://10.213.0.12/missing
      ignore_errors: true
    - name: bad checksum argument
      get_url:
        url: "{{ web }}/files/app.txt"
        dest: /opt/app.txt
        checksum: "sha256:xyz"
      ignore_errors: true
    - name: ask the operator
      pause:
        prompt: Continue?
      ignore_errors: true
"#;

#[test]
fn net_modules_download_check_and_unpack() {
    let Some(lab) = NetLab::up(2) else { return };
    let t0 = std::time::Instant::now();
    let work = tempfile::tempdir().expect("tempdir");
    let w = work.path();
    // Files: served by the lab web server and, for the tar.gz, from the playbook's files/.
    let files = lab.www().join("files");
    std::fs::create_dir_all(&files).expect("www files");
    std::fs::write(files.join("app.txt"), "shipshape app v1\n").expect("app.txt");
    let sum = sha256_hex(&files.join("app.txt"));
    std::fs::write(
        files.join("SHA256SUMS"),
        format!("{}  other.txt\n{sum}  app.txt\n", "1".repeat(64)),
    )
    .expect("sums");
    let tree = w.join("tree");
    std::fs::create_dir_all(tree.join("app/bin")).expect("tree");
    std::fs::write(tree.join("app/README"), "hello\n").expect("readme");
    std::fs::write(tree.join("app/bin/run"), "#!/bin/sh\necho run\n").expect("run");
    std::fs::create_dir_all(w.join("files")).expect("files");
    sh(&format!(
        "tar -czf {}/files/app.tar.gz -C {} app && cd {} && zip -qr {}/app.zip app",
        w.display(),
        tree.display(),
        tree.display(),
        files.display()
    ));
    std::fs::write(w.join("site.yml"), SITE).expect("site");
    std::fs::write(w.join("fails.yml"), FAILS).expect("fails");
    let web = format!("web={}", NetLab::WEB);
    let sumv = format!("sum={sum}");
    let vars = ["-e", web.as_str(), "-e", sumv.as_str()];

    // Check mode on fresh hosts: predicts, changes nothing.
    let mut args = vars.to_vec();
    args.push("--check");
    let (stats, check) = lab.converge(w, "site.yml", &args);
    for (host, s) in &stats {
        assert_eq!(s["failed"].as_u64().unwrap_or(0), 0, "{host}: {check}");
        assert!(s["changed"].as_u64().unwrap_or(0) > 0, "{host}: {check}");
    }
    let left = ok(
        "state after check",
        lab.ssh(1, "ls -A /opt; command -v unzip || echo no-unzip"),
    );
    assert_eq!(left.trim(), "no-unzip", "check mode changed lab1: {left}");

    // Real run converges; verify from outside.
    let t_run = std::time::Instant::now();
    let (stats, first) = lab.converge(w, "site.yml", &vars);
    let first_secs = t_run.elapsed().as_secs_f64();
    for (host, s) in &stats {
        assert_eq!(s["failed"].as_u64().unwrap_or(0), 0, "{host}: {first}");
        assert!(s["changed"].as_u64().unwrap_or(0) > 0, "{host}: {first}");
    }
    let state = ok(
        "state after run",
        lab.ssh(
            1,
            "cat /opt/app.txt; stat -c %a /opt/app.txt; sha256sum /opt/app.txt /opt/dl/app.txt; cat /opt/tgz/app/README /opt/zip/app/bin/run; stat -c %a /opt/zip/app/README /opt/zip/app/bin; ls -A /opt | grep -c shipshape || :",
        ),
    );
    assert_eq!(
        state,
        format!(
            "shipshape app v1\n640\n{sum}  /opt/app.txt\n{sum}  /opt/dl/app.txt\nhello\n#!/bin/sh\necho run\n640\n750\n0\n"
        )
    );

    // Second run: nothing to do.
    let t_run = std::time::Instant::now();
    let (stats, second) = lab.converge(w, "site.yml", &vars);
    let second_secs = t_run.elapsed().as_secs_f64();
    assert_changed(&stats, 0, &second);

    // Failures: clear messages, the host left as it was.
    let out = lab.play(w, "fails.yml", &vars);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let stats = recap(&text);
    assert_eq!(stats[0].1["ignored"].as_u64(), Some(4), "{text}");
    assert!(
        text.contains("The checksum for /opt/app.txt did not match"),
        "{text}"
    );
    assert!(
        text.contains("Status code was 404 and not [200]")
            && text.contains("http://10.213.0.12/missing"),
        "{text}"
    );
    assert!(text.contains("64 hex digits"), "{text}");
    assert!(text.contains("ask the operator"), "{text}");
    let after = ok(
        "state after failures",
        lab.ssh(1, "cat /opt/app.txt; ls -A /opt | grep -c shipshape || :"),
    );
    assert_eq!(after, "shipshape app v1\n0\n");
    eprintln!(
        "lab_net: first run {first_secs:.1} s, second run {second_secs:.1} s, whole test {:.1} s",
        t0.elapsed().as_secs_f64()
    );
}
