//! `group_vars/` and `host_vars/` directories beside an inventory source or a playbook:
//! for each group or host, the first of `NAME`, `NAME.yml`, `NAME.yaml`, `NAME.json` that
//! exists; when it is a directory, every file in it (recursively, in name order, skipping
//! dotfiles, `~` backups and other extensions). Only names the inventory knows are loaded.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::{InventoryError, VarLayer, Vars, node_to_vars};

/// Extensions a vars file may have (the empty one first, as Ansible checks it first).
const VARS_EXTENSIONS: [&str; 4] = ["", ".yml", ".yaml", ".json"];

/// Whether a vars directory sits beside an inventory source or a playbook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VarsDirKind {
    /// Beside an inventory source.
    Inventory,
    /// Beside a playbook (ranks above the inventory's at the same level).
    Playbook,
}

/// One loaded variables file.
#[derive(Clone, Debug)]
struct VarsFile {
    path: PathBuf,
    vars: Vars,
}

/// The loaded `group_vars/` and `host_vars/` of one base directory.
#[derive(Clone, Debug)]
pub(crate) struct VarsDir {
    pub(crate) kind: VarsDirKind,
    groups: HashMap<String, Vec<VarsFile>>,
    hosts: HashMap<String, Vec<VarsFile>>,
}

/// Reads a file's text (decrypting vault files).
pub(crate) type ReadText<'a> = &'a dyn Fn(&Path) -> Result<String, InventoryError>;

impl VarsDir {
    /// Loads `base/group_vars/<group>` and `base/host_vars/<host>` for the given names.
    pub(crate) fn load(
        base: &Path,
        kind: VarsDirKind,
        groups: &[String],
        hosts: &[String],
        read: ReadText<'_>,
    ) -> Result<VarsDir, InventoryError> {
        Ok(VarsDir {
            kind,
            groups: load_entities(&base.join("group_vars"), groups, read)?,
            hosts: load_entities(&base.join("host_vars"), hosts, read)?,
        })
    }

    /// The layers of `group_vars/<group>` (one per file).
    pub(crate) fn group_layers(&self, group: &str) -> Vec<VarLayer> {
        layers(self.groups.get(group))
    }

    /// The layers of `host_vars/<host>` (one per file).
    pub(crate) fn host_layers(&self, host: &str) -> Vec<VarLayer> {
        layers(self.hosts.get(host))
    }
}

fn layers(files: Option<&Vec<VarsFile>>) -> Vec<VarLayer> {
    files
        .into_iter()
        .flatten()
        .map(|f| VarLayer {
            source: f.path.display().to_string(),
            vars: f.vars.clone(),
        })
        .collect()
}

fn load_entities(
    dir: &Path,
    names: &[String],
    read: ReadText<'_>,
) -> Result<HashMap<String, Vec<VarsFile>>, InventoryError> {
    let mut out = HashMap::new();
    let listing: Vec<OsString> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => return Ok(out),
        Err(e) => return Err(InventoryError::read(dir, &e)),
    };
    let present: std::collections::HashSet<OsString> = listing.into_iter().collect();
    for name in names {
        let Some(found) = VARS_EXTENSIONS
            .iter()
            .map(|ext| format!("{name}{ext}"))
            .find(|candidate| present.contains(&OsString::from(candidate)))
        else {
            continue;
        };
        let path = dir.join(found);
        let files = if path.is_dir() {
            dir_files(&path)?
        } else {
            vec![path]
        };
        let mut loaded = Vec::new();
        for file in files {
            let text = read(&file)?;
            let node = crate::yaml::parse(&text, &file)?;
            let vars = node_to_vars(&node, "a vars file")?;
            loaded.push(VarsFile { path: file, vars });
        }
        out.insert(name.clone(), loaded);
    }
    Ok(out)
}

/// The vars files of a `group_vars/NAME/` directory, recursively, in name order.
fn dir_files(dir: &Path) -> Result<Vec<PathBuf>, InventoryError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| InventoryError::read(dir, &e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    let mut out = Vec::new();
    for path in entries {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.') || name.ends_with('~') {
            continue;
        }
        let ext = path
            .extension()
            .map(|e| format!(".{}", e.to_string_lossy()))
            .unwrap_or_default();
        if path.is_dir() {
            if ext.is_empty() {
                out.extend(dir_files(&path)?);
            }
        } else if VARS_EXTENSIONS.contains(&ext.as_str()) {
            out.push(path);
        }
    }
    Ok(out)
}
