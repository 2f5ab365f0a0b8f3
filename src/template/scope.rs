//! [`Scope`]: the variables one task sees on one host, as ordered layers, rendered lazily
//! (only variables a template actually uses, each once per scope) with loop detection.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use indexmap::IndexSet;
use minijinja::Value;
use minijinja::value::{Enumerator, Object, ObjectRepr, ValueKind};

use super::error::TemplateError;
use super::templar::Templar;
use crate::core::Vars;

/// The variables visible to one task on one host: layers of [`Vars`], lowest precedence
/// first. Values holding templates are rendered when first used and then cached.
#[derive(Clone, Default)]
pub struct Scope {
    inner: Arc<ScopeInner>,
}

#[derive(Default)]
struct ScopeInner {
    layers: Vec<Arc<Vars>>,
    /// Rendered values and rendering errors by variable name: rendering is deterministic
    /// for a scope, so a failure is not retried (the engine looks variables up again while
    /// reporting an error, which would otherwise re-render whole chains of variables).
    cache: Mutex<HashMap<String, Result<Value, TemplateError>>>,
    renders: AtomicUsize,
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("layers", &self.inner.layers.len())
            .finish()
    }
}

thread_local! {
    /// Variables being rendered on this thread: (scope id, name). Finding a pair again
    /// means a variable depends on itself.
    static RENDERING: RefCell<Vec<(usize, String)>> = const { RefCell::new(Vec::new()) };
}

/// Pops the rendering stack when a variable's rendering ends, even by a panic.
struct Popper;

impl Drop for Popper {
    fn drop(&mut self) {
        RENDERING.with(|r| {
            r.borrow_mut().pop();
        });
    }
}

impl Scope {
    /// A scope from layers, lowest precedence first.
    pub fn new(layers: Vec<Arc<Vars>>) -> Scope {
        Scope {
            inner: Arc::new(ScopeInner {
                layers,
                cache: Mutex::new(HashMap::new()),
                renders: AtomicUsize::new(0),
            }),
        }
    }

    /// This scope with one more layer on top (loop `item`, task vars); shares the layers.
    pub fn with_layer(&self, layer: Arc<Vars>) -> Scope {
        let mut layers = self.inner.layers.clone();
        layers.push(layer);
        Scope::new(layers)
    }

    /// The raw (unrendered) value of `name` from the highest layer that has it.
    pub fn get_raw(&self, name: &str) -> Option<Value> {
        self.inner
            .layers
            .iter()
            .rev()
            .find_map(|layer| layer.get(name).cloned())
    }

    /// Every variable name, each once, in order of first appearance from the lowest layer.
    pub fn names(&self) -> Vec<String> {
        let mut names = IndexSet::new();
        for layer in &self.inner.layers {
            for name in layer.keys() {
                if !names.contains(name.as_str()) {
                    names.insert(name.clone());
                }
            }
        }
        names.into_iter().collect()
    }

    /// How many variables of this scope have been rendered (not served from the cache).
    #[cfg(test)]
    pub(crate) fn render_count(&self) -> usize {
        self.inner.renders.load(Ordering::Relaxed)
    }

    fn id(&self) -> usize {
        Arc::as_ptr(&self.inner) as usize
    }

    fn cached(&self, name: &str) -> Option<Result<Value, TemplateError>> {
        self.inner
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    fn remember(&self, name: &str, result: &Result<Value, TemplateError>) {
        self.inner
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), result.clone());
    }

    /// The rendered value of `name`; `None` if no layer defines it. `root` is the template
    /// context of this scope, used to render the variable's own templates.
    pub(crate) fn resolve(
        &self,
        name: &str,
        templar: &Templar,
        root: &Value,
    ) -> Option<Result<Value, TemplateError>> {
        if let Some(result) = self.cached(name) {
            return Some(result);
        }
        let raw = self.get_raw(name)?;
        if !needs_render(&raw) {
            let result = Ok(raw);
            self.remember(name, &result);
            return Some(result);
        }
        let id = self.id();
        let cycle = RENDERING.with(|r| {
            let stack = r.borrow();
            stack
                .iter()
                .position(|(i, n)| *i == id && n == name)
                .map(|pos| {
                    let mut chain: Vec<String> =
                        stack[pos..].iter().map(|(_, n)| n.clone()).collect();
                    chain.push(name.to_string());
                    chain
                })
        });
        if let Some(chain) = cycle {
            return Some(Err(TemplateError::Recursion {
                name: name.to_string(),
                chain,
            }));
        }
        RENDERING.with(|r| r.borrow_mut().push((id, name.to_string())));
        let popper = Popper;
        self.inner.renders.fetch_add(1, Ordering::Relaxed);
        let result = templar.render_value_in(&raw, root);
        drop(popper);
        let result =
            result.map_err(|e| e.with_context(format!("while rendering variable '{name}'")));
        self.remember(name, &result);
        Some(result)
    }
}

/// Whether a value holds template text somewhere (strings marked safe/`!unsafe` never do).
pub(crate) fn needs_render(v: &Value) -> bool {
    if super::python::is_lazy_object(v) {
        // Lazy objects render their own items when read.
        return false;
    }
    match v.kind() {
        ValueKind::String => !v.is_safe() && v.as_str().is_some_and(has_template_syntax),
        ValueKind::Seq => v
            .try_iter()
            .map(|mut it| it.any(|item| needs_render(&item)))
            .unwrap_or(false),
        ValueKind::Map => v
            .try_iter()
            .map(|mut it| {
                it.any(|k| needs_render(&k) || needs_render(&v.get_item(&k).unwrap_or_default()))
            })
            .unwrap_or(false),
        _ => false,
    }
}

/// Whether text contains Jinja markers (`{{`, `{%`, `{#`).
pub(crate) fn has_template_syntax(s: &str) -> bool {
    s.contains("{{") || s.contains("{%") || s.contains("{#")
}

/// The root template context of a scope: looks variables up lazily, rendering them.
pub(crate) struct ScopeRoot {
    pub scope: Scope,
    pub templar: Templar,
}

/// Name under which templates' functions (lookups) find the scope root.
pub(crate) const ROOT_KEY: &str = "__shipshape_scope__";

impl fmt::Debug for ScopeRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeRoot")
            .field("scope", &self.scope)
            .finish()
    }
}

impl ScopeRoot {
    /// The scope root as a template value.
    pub fn value(scope: &Scope, templar: &Templar) -> Value {
        Value::from_object(ScopeRoot {
            scope: scope.clone(),
            templar: templar.clone(),
        })
    }

    fn lookup(self: &Arc<Self>, name: &str) -> Option<Value> {
        let root = Value::from_dyn_object(self.clone());
        match self.scope.resolve(name, &self.templar, &root) {
            Some(Ok(v)) => Some(v),
            Some(Err(e)) => Some(Value::from(e.into_minijinja())),
            None => match name {
                ROOT_KEY => Some(root),
                "vars" => Some(Value::from_object(VarsView(self.clone()))),
                _ => None,
            },
        }
    }
}

impl Object for ScopeRoot {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.lookup(key.as_str()?)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.scope.names().into_iter().map(Value::from).collect())
    }
}

/// Ansible's `vars`: every variable of the scope, rendered when read.
struct VarsView(Arc<ScopeRoot>);

impl fmt::Debug for VarsView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("vars")
    }
}

impl Object for VarsView {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let name = key.as_str()?;
        let root = Value::from_dyn_object(self.0.clone());
        match self.0.scope.resolve(name, &self.0.templar, &root)? {
            Ok(v) => Some(v),
            Err(e) => Some(Value::from(e.into_minijinja())),
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.0.scope.names().into_iter().map(Value::from).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(pairs: &[(&str, Value)]) -> Arc<Vars> {
        Arc::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn higher_layers_win_and_names_are_unique() {
        let s = Scope::new(vec![
            layer(&[("a", Value::from(1)), ("b", Value::from(2))]),
            layer(&[("a", Value::from(3))]),
        ]);
        assert_eq!(s.get_raw("a"), Some(Value::from(3)));
        assert_eq!(s.get_raw("b"), Some(Value::from(2)));
        assert_eq!(s.get_raw("c"), None);
        let top = s.with_layer(layer(&[("c", Value::from(4))]));
        assert_eq!(top.names(), vec!["a", "b", "c"]);
        assert_eq!(s.names(), vec!["a", "b"]);
    }

    #[test]
    fn needs_render_looks_deep_and_skips_unsafe() {
        assert!(needs_render(&Value::from("{{ x }}")));
        assert!(!needs_render(&Value::from("plain")));
        assert!(!needs_render(&super::super::unsafe_value("{{ x }}")));
        let nested = super::super::json_to_value(&serde_json::json!({"a": [1, "{% if x %}"]}));
        assert!(needs_render(&nested));
    }

    #[test]
    fn scope_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Scope>();
        check::<Templar>();
    }
}
