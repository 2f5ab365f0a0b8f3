//! Debian package modules: `apt` and `package` (packages), `deb822_repository` and
//! `apt_repository` (apt sources). They drive apt-get/dpkg-query over POSIX sh; never apt-key.

pub mod apt;
pub mod apt_repository;
pub mod deb822_repository;
pub mod package;

use crate::core::{ModuleError, Step, TaskCtx};
use crate::modules::files::atomic::{FileAttrs, Source, WriteSpec, write_step};

/// The step that writes an apt source or keyring file: `content` atomically at `dest` with
/// `mode`, owned by the connecting user, parent directories created.
pub(crate) fn write_apt_file(
    ctx: &TaskCtx<'_>,
    dest: &str,
    mode: u32,
    content: Vec<u8>,
) -> Result<Step, ModuleError> {
    let attrs = FileAttrs {
        mode: Some(mode),
        owner: None,
        group: None,
    };
    let spec = WriteSpec {
        dest,
        attrs: &attrs,
        backup: false,
        validate: None,
        create_parent: true,
    };
    write_step(ctx, &spec, Source::Stdin(content))
}
