//! Parses `-e` values: `key=value` pairs, inline JSON/YAML mappings, and `@file`.

use std::path::Path;

use minijinja::Value;

use crate::core::Vars;

/// Merges every `-e` argument, later ones winning.
pub fn parse_all(args: &[String]) -> Result<Vars, String> {
    let mut vars = Vars::new();
    for a in args {
        vars.extend(parse_one(a)?);
    }
    Ok(vars)
}

fn parse_one(arg: &str) -> Result<Vars, String> {
    let arg = arg.trim();
    if let Some(file) = arg.strip_prefix('@') {
        let path = Path::new(file);
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("-e @{file}: cannot read: {e}"))?;
        let node = crate::yaml::parse(&text, path).map_err(|e| format!("-e @{file}: {e}"))?;
        return crate::playbook::node_to_vars(&node, "-e @file").map_err(|e| e.to_string());
    }
    if arg.starts_with('{') {
        let node = crate::yaml::parse(arg, Path::new("-e"))
            .map_err(|e| format!("-e: not valid JSON/YAML: {e}"))?;
        return crate::playbook::node_to_vars(&node, "-e").map_err(|e| e.to_string());
    }
    let pairs = crate::playbook::parse_kv(arg, None).map_err(|e| format!("-e '{arg}': {e}"))?;
    let mut vars = Vars::new();
    for (k, v) in pairs {
        vars.insert(k, Value::from(v));
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_json_and_file() {
        let v = parse_all(&["a=1 b='x y'".into(), r#"{"c": [1, 2]}"#.into()]).unwrap();
        assert_eq!(v["a"], Value::from("1"));
        assert_eq!(v["b"], Value::from("x y"));
        assert_eq!(v["c"].len(), Some(2));
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("v.yml");
        std::fs::write(&f, "d: yes\n").unwrap();
        let v = parse_all(&[format!("@{}", f.display())]).unwrap();
        assert_eq!(v["d"], Value::from(true));
        assert!(parse_all(&["@/nonexistent/file".into()]).is_err());
    }
}
