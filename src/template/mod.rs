//! Templating: a minijinja environment configured like Ansible's Jinja, with Ansible's filters,
//! tests and lookups, and lazily rendered variables.

use minijinja::Value;

/// A string marked `!unsafe`: used as is, never rendered as a template.
pub fn unsafe_value(s: &str) -> Value {
    Value::from_safe_string(s.to_string())
}

/// An inline `!vault` value (the encrypted envelope), decrypted when used.
pub fn vault_value(envelope: &str) -> Value {
    Value::from(envelope.to_string())
}
