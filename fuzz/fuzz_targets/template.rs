//! cargo-fuzz target: template rendering never panics on any input.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut vars = shipshape::core::Vars::new();
    vars.insert("x".into(), "v".into());
    let scope = shipshape::template::Scope::new(vec![Arc::new(vars)]);
    let _ = shipshape::template::Templar::new().render_str(&text, &scope);
});
