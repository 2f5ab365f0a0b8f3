//! Account modules: `group` and `user`, each planned from one `getent` query and applied with
//! the shadow utilities (groupadd/groupmod/groupdel, useradd/usermod/userdel).

pub mod group;
pub mod user;
