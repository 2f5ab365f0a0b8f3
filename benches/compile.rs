//! Criterion micro-benchmarks of the load + compile/validate stage (what `--syntax-check`
//! does): a generated playbook of 2,000 tasks of common modules parsed into the typed model
//! and validated (module names, arguments, keywords) without connecting anywhere.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use shipshape::playbook::Loader;

/// A playbook of `n` tasks cycling through file, copy, lineinfile, template and command.
fn playbook(n: usize) -> String {
    let mut s = String::from(
        "- hosts: all\n  gather_facts: false\n  vars:\n    base: /srv/app\n  tasks:\n",
    );
    for i in 0..n {
        let task = match i % 5 {
            0 => format!(
                "    - name: dir {i}\n      file:\n        path: \"{{{{ base }}}}/d{i}\"\n        state: directory\n        mode: \"0755\"\n"
            ),
            1 => format!(
                "    - name: copy {i}\n      copy:\n        dest: \"{{{{ base }}}}/f{i}\"\n        content: \"line {i}\\n\"\n        mode: \"0644\"\n"
            ),
            2 => format!(
                "    - name: line {i}\n      lineinfile:\n        path: \"{{{{ base }}}}/app.ini\"\n        regexp: \"^k{i}=\"\n        line: \"k{i}=v\"\n        create: true\n"
            ),
            3 => format!(
                "    - name: template {i}\n      template:\n        src: app.conf.j2\n        dest: \"{{{{ base }}}}/t{i}.conf\"\n      when: inventory_hostname != 'never'\n"
            ),
            _ => format!(
                "    - name: command {i}\n      command:\n        cmd: \"touch {{{{ base }}}}/c{i}\"\n        creates: \"{{{{ base }}}}/c{i}\"\n      tags: [c]\n"
            ),
        };
        s.push_str(&task);
    }
    s
}

fn load_and_validate(dir: &Path, file: &Path) {
    let loader = Loader::new(dir, Vec::new());
    let pb = loader.load_playbook(file).expect("loads");
    shipshape::compile::validate(&pb).expect("validates");
    black_box(pb);
}

fn bench_compile(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("templates")).expect("mkdir");
    std::fs::write(dir.path().join("templates/app.conf.j2"), "x={{ base }}\n").expect("write");
    let file = dir.path().join("site.yml");
    std::fs::write(&file, playbook(2000)).expect("write");
    let mut g = c.benchmark_group("compile");
    g.sample_size(20);
    g.bench_function("load + validate 2000 tasks", |b| {
        b.iter(|| load_and_validate(dir.path(), &file))
    });
    g.finish();
}

criterion_group!(benches, bench_compile);
criterion_main!(benches);
