//! cargo-fuzz target: the playbook loader never panics on any input.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("site.yml");
    std::fs::write(&p, data).expect("write input");
    let _ = shipshape::playbook::Loader::new(dir.path(), Vec::new()).load_playbook(&p);
});
