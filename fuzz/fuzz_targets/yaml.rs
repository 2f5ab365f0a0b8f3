//! cargo-fuzz target: the YAML front end (src/yaml) never panics on any input.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(node) = shipshape::yaml::parse(&text, std::path::Path::new("fuzz.yml")) {
        let _ = node.to_value();
    }
});
