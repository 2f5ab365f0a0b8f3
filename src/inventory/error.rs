//! [`InventoryError`]: every way loading an inventory can fail, each naming the file (and the
//! line where there is one).

use std::path::PathBuf;

use crate::yaml::{Location, YamlError};

/// An inventory that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// A source file or directory could not be read.
    #[error("{}: cannot read: {message}", file.display())]
    Read {
        /// The file or directory.
        file: PathBuf,
        /// The operating system's reason.
        message: String,
    },
    /// A structural problem at a known place: a bad INI line, a YAML inventory of the wrong
    /// shape, an undefined group, a bad range...
    #[error("{loc}: {message}")]
    Invalid {
        /// Where the problem is.
        loc: Location,
        /// What is wrong, in Ansible's words where Ansible has some.
        message: String,
    },
    /// A YAML syntax error (inventory file, group_vars or host_vars file).
    #[error(transparent)]
    Yaml(#[from] YamlError),
    /// Group children that loop back to themselves.
    #[error("{loc}: adding group '{child}' as a child of '{parent}' creates a cycle: {}", cycle.join(" -> "))]
    Cycle {
        /// Where the offending child relation was declared.
        loc: Location,
        /// The parent group.
        parent: String,
        /// The child group.
        child: String,
        /// The groups around the loop, first and last the same.
        cycle: Vec<String>,
    },
    /// An inventory file that is neither valid YAML inventory nor valid INI inventory.
    #[error("{}: not a valid inventory. As YAML: {yaml}. As INI: {ini}", file.display())]
    Unparsable {
        /// The file.
        file: PathBuf,
        /// Why the YAML reading failed.
        yaml: String,
        /// Why the INI reading failed.
        ini: String,
    },
    /// An executable inventory (dynamic inventory script) failed or printed bad JSON.
    #[error("{}: inventory script {what}", file.display())]
    Script {
        /// The script.
        file: PathBuf,
        /// What went wrong: the exit code and stderr, or the JSON problem.
        what: String,
    },
}

impl InventoryError {
    /// An [`InventoryError::Invalid`] at `loc`.
    pub(crate) fn invalid(loc: Location, message: impl Into<String>) -> Self {
        InventoryError::Invalid {
            loc,
            message: message.into(),
        }
    }

    /// An [`InventoryError::Read`] from an I/O error.
    pub(crate) fn read(file: impl Into<PathBuf>, err: &std::io::Error) -> Self {
        InventoryError::Read {
            file: file.into(),
            message: err.to_string(),
        }
    }
}
