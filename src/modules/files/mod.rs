//! The file modules (copy, template, file, lineinfile, blockinfile, replace, stat, slurp) and
//! the shared atomic writer and path query they are built on.

pub mod atomic;
pub mod blockinfile;
pub mod copy;
pub mod file;
pub mod lineinfile;
pub mod replace;
pub mod slurp;
pub mod stat;
pub mod template;
