//! Templating: a minijinja environment configured like Ansible's Jinja, with Ansible's filters,
//! tests and lookups, and lazily rendered variables.
//!
//! [`Templar`] renders against a [`Scope`] (the layered variables of one task on one host).
//! Variables holding templates are rendered only when a template uses them, once per scope.

mod collections;
mod env;
mod error;
mod filters;
mod lookups;
mod python;
mod re;
mod scope;
mod templar;
mod tests;

#[cfg(test)]
mod behaviour;

use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

use minijinja::Value;

pub use error::TemplateError;
pub use lookups::LOOKUPS;
pub use python::{is_truthy, json_to_unsafe_value, json_to_value, value_to_json};
pub use scope::Scope;
pub use templar::Templar;

/// A string marked `!unsafe`: used as is, never rendered as a template.
pub fn unsafe_value(s: &str) -> Value {
    Value::from_safe_string(s.to_string())
}

/// An inline `!vault` value: decrypted with the run's vault passwords. A value that cannot be
/// decrypted becomes an error raised where the variable is used (naming the cause).
pub fn vault_value(envelope: &str) -> Value {
    match crate::vault::decrypt_with_run_passwords(envelope) {
        // Decrypted secrets are data: never rendered as templates.
        Ok(plain) => Value::from_safe_string(plain),
        Err(e) => Value::from(minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("!vault value: {e}"),
        )),
    }
}

/// The value of the template variable `omit`: a marker unique to this process
/// (`__omit_place_holder__<hex>`); a module parameter equal to it is left out.
pub fn omit_marker() -> &'static str {
    static OMIT: OnceLock<String> = OnceLock::new();
    OMIT.get_or_init(|| {
        let mut a = std::collections::hash_map::RandomState::new().build_hasher();
        a.write_u32(std::process::id());
        let mut b = std::collections::hash_map::RandomState::new().build_hasher();
        b.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        format!(
            "__omit_place_holder__{:016x}{:016x}",
            a.finish(),
            b.finish()
        )
    })
}

/// Whether a rendered value is the `omit` placeholder.
pub fn is_omit(v: &Value) -> bool {
    v.as_str() == Some(omit_marker())
}

/// Whether a string is the `omit` placeholder.
pub fn is_omit_str(s: &str) -> bool {
    s == omit_marker()
}

impl Templar {
    /// A scope as a template value: a mapping whose variables render lazily when read
    /// (used for `hostvars[host]`).
    pub fn scope_value(&self, scope: &Scope) -> Value {
        scope::ScopeRoot::value(scope, self)
    }
}
