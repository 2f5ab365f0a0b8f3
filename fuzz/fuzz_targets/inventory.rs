//! cargo-fuzz target: the INI and YAML inventory parsers never panic on any input.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["inv.ini", "inv.yml"] {
        let p = dir.path().join(name);
        std::fs::write(&p, data).expect("write input");
        if let Ok(inv) = shipshape::inventory::Inventory::load(std::slice::from_ref(&p)) {
            let _ = inv.groups_map();
        }
    }
});
