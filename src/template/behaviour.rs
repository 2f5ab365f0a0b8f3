//! Tests of the templating layer as a whole: native types, lazy variables, loops between
//! variables, error messages, file templates (the benchmark's), includes and caching.

use std::path::Path;
use std::sync::Arc;

use minijinja::Value;
use minijinja::value::ValueKind;

use super::python::py_str;
use super::{Scope, Templar, TemplateError, is_omit, json_to_value, unsafe_value};
use crate::core::Vars;

fn vars(j: serde_json::Value) -> Arc<Vars> {
    let v = json_to_value(&j);
    Arc::new(
        super::python::map_entries(&v)
            .into_iter()
            .map(|(k, v)| (py_str(&k), v))
            .collect(),
    )
}

fn scope(j: serde_json::Value) -> Scope {
    Scope::new(vec![vars(j)])
}

fn json(v: &Value) -> serde_json::Value {
    super::value_to_json(v)
}

// --- native types and the fast path -------------------------------------------------------

#[test]
fn single_expressions_keep_native_types() {
    let t = Templar::new();
    let s = scope(serde_json::json!({"l": [1, 2], "n": 5, "users": [{"n": "a"}, {"n": "b"}]}));
    let r = |text: &str| t.render_str(text, &s).expect("renders");
    assert_eq!(json(&r("{{ l }}")), serde_json::json!([1, 2]));
    assert_eq!(json(&r("{{ n + 1 }}")), serde_json::json!(6));
    assert_eq!(json(&r("{{ {'a': n} }}")), serde_json::json!({"a": 5}));
    assert_eq!(json(&r("{{ n > 1 }}")), serde_json::json!(true));
    assert_eq!(json(&r("{{ none }}")), serde_json::Value::Null);
    assert_eq!(json(&r("  {{ l }} ")), serde_json::json!([1, 2]));
    assert_eq!(json(&r("{{- n -}}")), serde_json::json!(5));
    // nested dict literals end in `}}` inside the expression, over several lines
    assert_eq!(
        json(&r("{{ {'a': {'b': n}}\n   | combine({'c': '}}'}) }}")),
        serde_json::json!({"a": {"b": 5}, "c": "}}"})
    );
    assert_eq!(r("{{ n }} {{ n }}"), Value::from("5 5"));
    // generators become lists
    let names = r("{{ users | map(attribute='n') }}");
    assert_eq!(names.kind(), ValueKind::Seq);
    assert_eq!(json(&names), serde_json::json!(["a", "b"]));
    // mixed text is a string, printed like Python
    assert_eq!(r("n={{ n }}"), Value::from("n=5"));
    assert_eq!(r("{{ l }} and {{ n }}"), Value::from("[1, 2] and 5"));
    assert_eq!(
        r("x {{ true }} {{ none }} {{ ['a', 1] }}"),
        Value::from("x True None ['a', 1]")
    );
    // whitespace around a string result is kept
    assert_eq!(r("{{ 'a' }}\n"), Value::from("a\n"));
    // ... and makes a scalar result text, as Ansible renders `content: "{{ port }}\n"`
    assert_eq!(r("{{ n }}\n"), Value::from("5\n"));
    assert_eq!(r(" {{ n > 1 }}"), Value::from(" True"));
    assert_eq!(r("{{ none }}\n"), Value::from("None\n"));
}

#[test]
fn text_without_markers_is_returned_as_is_without_compiling() {
    let t = Templar::new();
    let s = Scope::default();
    let before = t.compile_count();
    for text in ["plain text", "a { b } c", "100%", ""] {
        assert_eq!(t.render_str(text, &s).expect("renders"), Value::from(text));
    }
    assert_eq!(t.compile_count(), before);
}

#[test]
fn render_value_renders_lists_and_maps_deeply() {
    let t = Templar::new();
    let s = scope(serde_json::json!({"x": "X", "n": 2}));
    let v = json_to_value(&serde_json::json!({
        "a": ["{{ x }}", {"{{ x }}_key": "{{ n * 2 }}"}],
        "b": 1,
        "c": "no template"
    }));
    let out = t.render_value(&v, &s).expect("renders");
    assert_eq!(
        json(&out),
        serde_json::json!({"a": ["X", {"X_key": 4}], "b": 1, "c": "no template"})
    );
}

#[test]
fn unsafe_values_are_never_rendered() {
    let t = Templar::new();
    let layer: Vars = [("raw".to_string(), unsafe_value("{{ secret }}"))]
        .into_iter()
        .collect();
    let s = Scope::new(vec![Arc::new(layer)]);
    assert_eq!(
        py_str(&t.render_str("{{ raw }}", &s).expect("renders")),
        "{{ secret }}"
    );
    assert_eq!(
        py_str(&t.render_str("x={{ raw }}", &s).expect("renders")),
        "x={{ secret }}"
    );
    let u = unsafe_value("{{ nope }}");
    assert_eq!(t.render_value(&u, &s).expect("untouched"), u);
}

// --- lazy variables -----------------------------------------------------------------------

#[test]
fn variables_render_lazily_recursively_and_once() {
    let t = Templar::new();
    let s = Scope::new(vec![
        vars(serde_json::json!({
            "root": "/srv",
            "base": "{{ root }}/{{ inventory_hostname }}",
            "paths": ["{{ base }}/etc", {"log": "{{ base }}/log"}],
            "broken": "{{ this is not jinja",
            "uses_missing": "{{ nowhere }}"
        })),
        vars(serde_json::json!({"inventory_hostname": "h1"})),
    ]);
    assert_eq!(
        t.render_str("{{ base }}/x", &s).expect("renders"),
        Value::from("/srv/h1/x")
    );
    assert_eq!(
        json(&t.render_str("{{ paths }}", &s).expect("renders")),
        serde_json::json!(["/srv/h1/etc", {"log": "/srv/h1/log"}])
    );
    // `base` was rendered once although used three times; `broken` never.
    t.render_str("{{ base }}{{ base }}", &s).expect("renders");
    assert_eq!(s.render_count(), 2, "base and paths, each once");
    // A broken variable fails only when used, naming the variable.
    let err = t.render_str("{{ broken }}", &s).expect_err("broken");
    assert!(matches!(err, TemplateError::Syntax { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("while rendering variable 'broken'"),
        "{err}"
    );
    let err = t
        .render_str("{{ uses_missing }}", &s)
        .expect_err("undefined inside");
    assert_eq!(
        err.to_string(),
        "'nowhere' is undefined (while rendering variable 'uses_missing')"
    );
    assert_eq!(
        t.var("base", &s).expect("renders"),
        Some(Value::from("/srv/h1"))
    );
    assert_eq!(t.var("absent", &s).expect("no error"), None);
}

#[test]
fn a_new_layer_gets_a_fresh_cache() {
    let t = Templar::new();
    let s = scope(serde_json::json!({"item": 1, "msg": "item={{ item }}"}));
    assert_eq!(
        t.render_str("{{ msg }}", &s).expect("ok"),
        Value::from("item=1")
    );
    let inner = s.with_layer(vars(serde_json::json!({"item": 2})));
    assert_eq!(
        t.render_str("{{ msg }}", &inner).expect("ok"),
        Value::from("item=2")
    );
    assert_eq!(
        t.render_str("{{ msg }}", &s).expect("ok"),
        Value::from("item=1")
    );
}

#[test]
fn variables_referring_to_each_other_are_an_error_not_a_stack_overflow() {
    let t = Templar::new();
    let s = scope(serde_json::json!({"a": "{{ b }}", "b": "x{{ a }}", "c": "{{ c }}"}));
    let err = t.render_str("{{ a }}", &s).expect_err("loop");
    match &err {
        TemplateError::Recursion { name, chain } => {
            assert_eq!(name, "a");
            assert_eq!(chain, &["a", "b", "a"]);
        }
        other => panic!("unexpected {other}"),
    }
    assert_eq!(
        err.to_string(),
        "recursive loop detected in template: variable 'a' depends on itself (a -> b -> a)"
    );
    let err = t.eval("c", &s).expect_err("self loop");
    assert!(
        err.to_string()
            .contains("variable 'c' depends on itself (c -> c)"),
        "{err}"
    );
}

#[test]
fn scopes_can_be_shared_between_threads() {
    let t = Templar::new();
    let s = scope(serde_json::json!({"a": "{{ b }}-{{ b }}", "b": "x"}));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (t, s) = (t.clone(), s.clone());
            std::thread::spawn(move || {
                (0..50)
                    .map(|_| py_str(&t.render_str("{{ a }}", &s).expect("renders")))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for h in handles {
        assert!(h.join().expect("thread").iter().all(|r| r == "x-x"));
    }
}

#[test]
fn vars_object_and_query_api() {
    let t = Templar::new();
    let s = scope(serde_json::json!({"who": "{{ 'w' ~ 'x' }}", "l": [1, 2]}));
    assert_eq!(
        t.render_str("{{ vars['who'] }}", &s).expect("ok"),
        Value::from("wx")
    );
    assert_eq!(
        t.render_str("{{ vars.who }}", &s).expect("ok"),
        Value::from("wx")
    );
    let items = t
        .query("items", &[Value::from(vec![1, 2]), Value::from(3)], &s)
        .expect("ok");
    assert_eq!(items, vec![Value::from(1), Value::from(2), Value::from(3)]);
    let err = t.query("nope", &[], &s).expect_err("unknown");
    assert!(
        err.to_string().contains("lookup plugin 'nope' not found"),
        "{err}"
    );
}

// --- expressions and conditions -------------------------------------------------------------

#[test]
fn eval_and_ansible_truthiness() {
    let t = Templar::new();
    let s = scope(serde_json::json!({
        "yes_str": "yes", "no_str": "no", "false_str": "False", "empty": "",
        "flag": true, "n": 3, "result": {"rc": 0, "changed": true},
        "from_template": "{{ n > 5 }}"
    }));
    let b = |e: &str| t.eval_bool(e, &s).expect("evaluates");
    assert!(b("yes_str"));
    assert!(!b("no_str"));
    assert!(!b("false_str"));
    assert!(!b("empty"));
    assert!(b("flag"));
    assert!(b("n == 3 and flag"));
    assert!(b("{{ n == 3 }}"), "wrapped expressions are accepted");
    assert!(b("{{ n }} == 3"), "embedded templates are rendered first");
    assert!(b("result is changed and result.rc == 0"));
    assert!(!b("from_template"));
    assert!(b("True"));
    assert!(!b("false"));
    assert_eq!(t.eval("n * 2", &s).expect("ok"), Value::from(6));
    assert_eq!(
        json(&t.eval("[n, 'a']", &s).expect("ok")),
        serde_json::json!([3, "a"])
    );
}

#[test]
fn pycompat_methods() {
    let t = Templar::new();
    let s = scope(serde_json::json!({"d": {"a": 1, "b": 2}, "s": "a,b"}));
    let r = |e: &str| py_str(&t.render_str(e, &s).expect("renders"));
    assert_eq!(r("{{ s.split(',') }}"), "['a', 'b']");
    assert_eq!(r("{{ s.startswith('a') }}"), "True");
    assert_eq!(r("{{ '{}-{}'.format(1, 2) }}"), "1-2");
    assert_eq!(r("{{ d.keys() | list }}"), "['a', 'b']");
    assert_eq!(
        r("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}"),
        "a=1;b=2;"
    );
    assert_eq!(r("{{ s.upper() }}"), "A,B");
}

#[test]
fn omit_placeholder() {
    let t = Templar::new();
    let s = Scope::default();
    let v = t.render_str("{{ omit }}", &s).expect("ok");
    assert!(is_omit(&v));
    assert!(py_str(&v).starts_with("__omit_place_holder__"));
    assert!(is_omit(
        &t.render_str("{{ missing | default(omit) }}", &s)
            .expect("ok")
    ));
    assert!(!is_omit(&Value::from("x")));
}

// --- error messages ---------------------------------------------------------------------

#[test]
fn undefined_errors_name_the_variable_or_attribute() {
    let t = Templar::new();
    let s = scope(serde_json::json!({"d": {"x": 1}, "l": [1], "users": [{"n": "a"}]}));
    let msg = |text: &str| t.render_str(text, &s).expect_err(text).to_string();
    assert_eq!(msg("{{ foo }}"), "'foo' is undefined");
    assert_eq!(msg("a {{ foo | upper }} b"), "'foo' is undefined");
    assert_eq!(msg("{{ d.bar }}"), "'dict object' has no attribute 'bar'");
    assert_eq!(
        msg("{{ d['bar'] }}"),
        "'dict object' has no attribute 'bar'"
    );
    assert_eq!(msg("{{ d.x.y }}"), "'int object' has no attribute 'y'");
    assert_eq!(msg("{{ l[3] }}"), "'list object' has no element 3");
    assert_eq!(msg("{% if foo %}x{% endif %}"), "'foo' is undefined");
    assert_eq!(
        msg("{% for u in users %}{{ u.nme }}{% endfor %}"),
        "'u' has no attribute 'nme'"
    );
    let e = t.eval("undefined_var == 1", &s).expect_err("undefined");
    assert!(
        e.to_string().contains("'undefined_var' is undefined"),
        "{e}"
    );
    let e = t.eval("d.nope", &s).expect_err("undefined attr");
    assert_eq!(e.to_string(), "'dict object' has no attribute 'nope'");
    match t.eval("foo", &s).expect_err("undefined") {
        TemplateError::Undefined { name, .. } => assert_eq!(name, "foo"),
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn syntax_errors_show_the_line() {
    let t = Templar::new();
    let s = Scope::default();
    let e = t
        .render_str("line one\n{{ foo( }}", &s)
        .expect_err("syntax");
    match &e {
        TemplateError::Syntax { line, text, .. } => {
            assert_eq!(*line, 2);
            assert_eq!(text, "{{ foo( }}");
        }
        other => panic!("unexpected {other}"),
    }
    assert!(e.to_string().starts_with("template syntax error: "), "{e}");
    let e = t.eval("x ==", &s).expect_err("syntax");
    assert!(
        matches!(e, TemplateError::Syntax { ref text, .. } if text == "x =="),
        "{e}"
    );
    let e = t
        .render_str("{% if x %}open", &s)
        .expect_err("unclosed block");
    assert!(matches!(e, TemplateError::Syntax { .. }), "{e}");
}

#[test]
fn filter_errors_are_plain_messages() {
    let t = Templar::new();
    let s = Scope::default();
    let e = t
        .render_str("{{ 1 | nosuchfilter }}", &s)
        .expect_err("unknown filter");
    assert!(e.to_string().contains("unknown filter"), "{e}");
    let e = t
        .render_str("{{ 'x' | regex_search('(') }}", &s)
        .expect_err("bad regex");
    assert!(
        e.to_string()
            .starts_with("regex: invalid regular expression"),
        "{e}"
    );
}

// --- template files -------------------------------------------------------------------------

/// Copies of /work/shared/bench/templates/*.j2 (checked against the files when present).
const APP_CONF_J2: &str = "# app.conf for {{ inventory_hostname }} (rendered from a template)
[server]
name = {{ inventory_hostname }}
index = {{ host_index }}
port = {{ http_port }}
base = {{ base }}

[users]
{% for user in app_users -%}
user.{{ loop.index }} = {{ user }}
{% endfor -%}
count = {{ app_users | length }}
";

const UPSTREAMS_CONF_J2: &str = "# upstreams for {{ inventory_hostname }}
{% for up in upstreams -%}
upstream {{ up.name }} {
    server {{ up.host }}:{{ up.port + host_index | int }} weight={{ up.weight }};
}
{% endfor -%}
# end ({{ upstreams | length }} upstreams)
";

/// The play vars of /work/shared/bench/site.yml.
const SITE_VARS: &str = r#"
base: "{{ bench_root }}/{{ inventory_hostname }}"
app_users:
  - alice
  - bob
  - carol
  - dave
upstreams:
  - { name: api, host: 10.0.0.10, port: 9000, weight: 3 }
  - { name: web, host: 10.0.0.20, port: 8000, weight: 2 }
  - { name: metrics, host: 10.0.0.30, port: 9100, weight: 1 }
"#;

fn bench_scope() -> Scope {
    let node = crate::yaml::parse(SITE_VARS, Path::new("site.yml")).expect("valid yaml");
    let play: Vars = node
        .as_map()
        .expect("a mapping")
        .iter()
        .map(|(k, v)| (k.as_str().expect("string key").to_string(), v.to_value()))
        .collect();
    let host = vars(serde_json::json!({
        "inventory_hostname": "h002", "host_index": 1, "http_port": 8001, "bench_root": "/srv/bench"
    }));
    Scope::new(vec![Arc::new(play), host])
}

#[test]
fn bench_templates_render_exactly_like_ansible() {
    let t = Templar::new();
    let s = bench_scope();
    let app = t
        .render_template_file(APP_CONF_J2, "templates/app.conf.j2", &s)
        .expect("renders");
    assert_eq!(
        app,
        "# app.conf for h002 (rendered from a template)\n[server]\nname = h002\nindex = 1\n\
         port = 8001\nbase = /srv/bench/h002\n\n[users]\nuser.1 = alice\nuser.2 = bob\n\
         user.3 = carol\nuser.4 = dave\ncount = 4\n"
    );
    let up = t
        .render_template_file(UPSTREAMS_CONF_J2, "templates/upstreams.conf.j2", &s)
        .expect("renders");
    assert_eq!(
        up,
        "# upstreams for h002\nupstream api {\n    server 10.0.0.10:9001 weight=3;\n}\n\
         upstream web {\n    server 10.0.0.20:8001 weight=2;\n}\n\
         upstream metrics {\n    server 10.0.0.30:9101 weight=1;\n}\n# end (3 upstreams)\n"
    );
}

#[test]
fn embedded_bench_copies_match_the_shared_files() {
    let dir = Path::new("/work/shared/bench");
    if !dir.exists() {
        return; // not on the team machine; the embedded copies are the reference
    }
    let read = |p: &str| std::fs::read_to_string(dir.join(p)).expect("readable");
    assert_eq!(read("templates/app.conf.j2"), APP_CONF_J2);
    assert_eq!(read("templates/upstreams.conf.j2"), UPSTREAMS_CONF_J2);
    let site = crate::yaml::parse(&read("site.yml"), Path::new("site.yml")).expect("yaml");
    let play_vars = site.as_seq().expect("plays")[0]
        .get("vars")
        .expect("vars")
        .to_value();
    let ours = crate::yaml::parse(SITE_VARS, Path::new("v.yml"))
        .expect("yaml")
        .to_value();
    assert_eq!(play_vars, ours);
}

#[test]
fn whitespace_control_matches_ansible() {
    let t = Templar::new();
    let s = scope(serde_json::json!({"x": true, "items": [1, 2]}));
    let f = |src: &str| t.render_template_file(src, "t.j2", &s).expect("renders");
    // trim_blocks: the newline after a block tag goes; lstrip_blocks is off.
    assert_eq!(f("{% if x %}\nyes\n{% endif %}\n"), "yes\n");
    assert_eq!(
        f("  {% if x %}\nyes\n  {% endif %}\nend\n"),
        "  yes\n  end\n"
    );
    // Ansible keeps the source's trailing newlines, even after a block tag.
    assert_eq!(f("a{% if false %}b{% endif %}\n"), "a\n");
    assert_eq!(f("a\n\n"), "a\n\n");
    assert_eq!(f("a"), "a");
    assert_eq!(f("{% for i in items %}{{ i }}\n{% endfor %}"), "1\n2\n");
    // comments vanish
    assert_eq!(f("a{# note #}b\n"), "ab\n");
}

#[test]
fn template_errors_name_the_file_and_line() {
    let t = Templar::new();
    let s = Scope::default();
    let e = t
        .render_template_file(
            "ok\nok\n{{ missing_var }}\n",
            "roles/web/templates/x.j2",
            &s,
        )
        .expect_err("undefined");
    assert_eq!(
        e.to_string(),
        "'missing_var' is undefined (in template roles/web/templates/x.j2 line 3)"
    );
    let e = t
        .render_template_file("ok\n{% for %}\n", "x.j2", &s)
        .expect_err("syntax");
    assert!(e.to_string().contains("(line 2: {% for %})"), "{e}");
}

#[test]
fn includes_resolve_next_to_the_template_and_on_the_search_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let other = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("part.j2"), "part {{ n }}\n").expect("write");
    std::fs::write(
        other.path().join("macros.j2"),
        "{% macro hi(x) %}hi {{ x }}{% endmacro %}",
    )
    .expect("write");
    let t = Templar::new();
    let s = scope(serde_json::json!({
        "n": 7,
        "__template_search": [other.path().to_string_lossy()]
    }));
    let main = dir.path().join("main.j2");
    let out = t
        .render_template_file(
            "[{% include 'part.j2' %}]\n{% import 'macros.j2' as m %}{{ m.hi(n) }}\n",
            &main.to_string_lossy(),
            &s,
        )
        .expect("renders");
    assert_eq!(out, "[part 7]\nhi 7\n");
    let e = t
        .render_template_file("{% include 'absent.j2' %}", &main.to_string_lossy(), &s)
        .expect_err("missing include");
    assert!(e.to_string().contains("absent.j2"), "{e}");
}

// --- caching ------------------------------------------------------------------------------

#[test]
fn the_same_source_compiles_once_for_many_scopes() {
    let t = Templar::new();
    let play =
        vars(serde_json::json!({"base": "{{ root }}/{{ inventory_hostname }}", "root": "/srv"}));
    let render_all = |n: usize| {
        for i in 0..n {
            let host = vars(serde_json::json!({"inventory_hostname": format!("h{i}")}));
            let s = Scope::new(vec![play.clone(), host]);
            let path = t.render_str("{{ base }}/etc", &s).expect("renders");
            assert_eq!(path, Value::from(format!("/srv/h{i}/etc")));
            assert!(
                t.eval_bool("inventory_hostname is match('h')", &s)
                    .expect("ok")
            );
            let file = t
                .render_template_file("x={{ base }}\n", "f.j2", &s)
                .expect("ok");
            assert_eq!(file, format!("x=/srv/h{i}\n"));
        }
    };
    render_all(1);
    let after_one = t.compile_count();
    assert!(after_one >= 4, "four distinct sources: {after_one}");
    render_all(1000);
    assert_eq!(
        t.compile_count(),
        after_one,
        "no recompilation for 1000 scopes"
    );
}

#[test]
fn failing_chains_of_variables_are_rendered_once_each() {
    let t = Templar::new();
    let mut j = serde_json::Map::new();
    for i in 0..24 {
        j.insert(
            format!("v{i}"),
            serde_json::json!(format!("{{{{ v{} }}}}-x", i + 1)),
        );
    }
    j.insert("v24".into(), serde_json::json!("{{ missing }}"));
    let s = scope(serde_json::Value::Object(j));
    let err = t
        .render_str("{{ v0 }}", &s)
        .expect_err("undefined at the bottom");
    assert!(
        err.to_string().starts_with("'missing' is undefined"),
        "{err}"
    );
    assert_eq!(s.render_count(), 25);
    let looped = scope(serde_json::json!({"a": "{{ b }}", "b": "{{ c }}", "c": "{{ a }}"}));
    assert!(t.render_str("{{ a }}", &looped).is_err());
    assert_eq!(looped.render_count(), 3);
}
