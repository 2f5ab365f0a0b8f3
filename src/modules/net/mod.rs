//! The network modules: downloads (get_url), HTTP checks from the target (uri), archive
//! extraction (unarchive). They share one curl/wget helper (`http`).

pub mod get_url;
pub mod http;
pub mod unarchive;
pub mod uri;

#[cfg(test)]
pub(crate) mod testserver;
