//! Criterion micro-benchmarks of the template stage: the per-task argument render (a string
//! with one expression) and a whole template file (the benchmark workload's upstreams.conf.j2)
//! rendered with one host's variables, the compiled template coming from the run-wide cache.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use shipshape::core::Vars;
use shipshape::template::{Scope, Templar};

/// One host's variables, like the benchmark workload's.
fn host_scope() -> Scope {
    let mut vars = Vars::new();
    vars.insert("inventory_hostname".into(), "h001".into());
    vars.insert("host_index".into(), 1.into());
    vars.insert("http_port".into(), 8001.into());
    vars.insert(
        "base".into(),
        "{{ bench_root }}/{{ inventory_hostname }}".into(),
    );
    vars.insert("bench_root".into(), "/srv/bench".into());
    let ups: Vec<minijinja::Value> = [("api", "10.0.0.10", 9000, 3), ("web", "10.0.0.20", 8000, 2)]
        .iter()
        .map(|(n, h, p, w)| {
            minijinja::context! { name => *n, host => *h, port => *p, weight => *w }
        })
        .collect();
    vars.insert("upstreams".into(), minijinja::Value::from(ups));
    Scope::new(vec![Arc::new(vars)])
}

const UPSTREAMS: &str = include_str!("../bench/workload/templates/upstreams.conf.j2");

fn bench_templates(c: &mut Criterion) {
    let templar = Templar::new();
    c.bench_function("render_str task argument", |b| {
        b.iter(|| {
            let scope = host_scope();
            black_box(
                templar
                    .render_str(black_box("{{ base }}/etc/motd"), &scope)
                    .expect("renders"),
            )
        })
    });
    c.bench_function("render_template_file upstreams.conf.j2", |b| {
        b.iter(|| {
            let scope = host_scope();
            black_box(
                templar
                    .render_template_file(black_box(UPSTREAMS), "upstreams.conf.j2", &scope)
                    .expect("renders"),
            )
        })
    });
}

criterion_group!(benches, bench_templates);
criterion_main!(benches);
