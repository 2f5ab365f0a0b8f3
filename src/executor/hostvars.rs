//! `hostvars`: a lazy view of every host's variables. A host's scope is built only when a
//! template reads `hostvars[name]`, so tasks that never use it cost nothing.

use std::fmt;
use std::sync::{Arc, Weak};

use minijinja::Value;
use minijinja::value::{Enumerator, Object, ObjectRepr};

use crate::core::Vars;
use crate::template::Scope;

use super::Executor;

/// The `hostvars` object handed to templates.
pub(crate) struct HostVars {
    pub exec: Weak<Executor>,
}

impl fmt::Debug for HostVars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("hostvars")
    }
}

impl Object for HostVars {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let exec = self.exec.upgrade()?;
        let name = key.as_str()?;
        exec.inventory.host(name)?;
        let st = exec.host_state(name);
        let (inv, facts, vars) = {
            let st = st.lock().expect("host lock");
            (st.inv_vars.clone(), st.facts.clone(), st.vars.clone())
        };
        let mut magic = Vars::new();
        magic.insert("inventory_hostname".into(), Value::from(name));
        magic.insert(
            "inventory_hostname_short".into(),
            Value::from(name.split('.').next().unwrap_or(name)),
        );
        magic.insert(
            "group_names".into(),
            Value::from(exec.inventory.group_names(name)),
        );
        magic.insert("groups".into(), exec.groups_value());
        magic.insert(
            "hostvars".into(),
            Value::from_object(HostVars {
                exec: self.exec.clone(),
            }),
        );
        let scope = Scope::new(vec![
            inv,
            facts,
            vars,
            Arc::new(exec.opts.extra_vars.clone()),
            Arc::new(magic),
        ]);
        Some(exec.templar.scope_value(&scope))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        match self.exec.upgrade() {
            Some(exec) => Enumerator::Values(
                exec.inventory
                    .hosts()
                    .map(|h| Value::from(h.name.clone()))
                    .collect(),
            ),
            None => Enumerator::Empty,
        }
    }
}
