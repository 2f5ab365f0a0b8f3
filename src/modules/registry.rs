//! The one table of every module: lookup by short or `ansible.builtin.`/`ansible.legacy.`
//! name, iteration for `shipshape doc`, and each module's extra argument rules.

use crate::core::Module;
use crate::modules::args::Rules;
use crate::modules::{commands, files};

/// One registered module and its argument rules.
struct Entry {
    module: &'static dyn Module,
    rules: Rules,
}

static TABLE: &[Entry] = &[
    Entry {
        module: &commands::command::Command,
        rules: commands::command::RULES,
    },
    Entry {
        module: &commands::shell::Shell,
        rules: commands::shell::RULES,
    },
    Entry {
        module: &commands::raw::Raw,
        rules: commands::raw::RULES,
    },
    Entry {
        module: &files::copy::Copy,
        rules: files::copy::RULES,
    },
    Entry {
        module: &files::template::Template,
        rules: files::template::RULES,
    },
    Entry {
        module: &files::file::File,
        rules: files::file::RULES,
    },
    Entry {
        module: &files::lineinfile::LineInFile,
        rules: files::lineinfile::RULES,
    },
    Entry {
        module: &files::blockinfile::BlockInFile,
        rules: files::blockinfile::RULES,
    },
    Entry {
        module: &files::replace::Replace,
        rules: files::replace::RULES,
    },
    Entry {
        module: &files::stat::Stat,
        rules: files::stat::RULES,
    },
];

/// The short name of a possibly fully-qualified module name.
fn short_name(name: &str) -> &str {
    name.strip_prefix("ansible.builtin.")
        .or_else(|| name.strip_prefix("ansible.legacy."))
        .unwrap_or(name)
}

/// Finds a module by name: `copy`, `ansible.builtin.copy` or `ansible.legacy.copy`.
pub fn find(name: &str) -> Option<&'static dyn Module> {
    let short = short_name(name);
    TABLE
        .iter()
        .find(|e| e.module.spec().name == short)
        .map(|e| e.module)
}

/// Every registered module, in table order.
pub fn all() -> impl Iterator<Item = &'static dyn Module> {
    TABLE.iter().map(|e| e.module)
}

/// The extra argument rules of a module (none for an unknown name).
pub fn rules(name: &str) -> Rules {
    let short = short_name(name);
    TABLE
        .iter()
        .find(|e| e.module.spec().name == short)
        .map(|e| e.rules)
        .unwrap_or(Rules::NONE)
}
