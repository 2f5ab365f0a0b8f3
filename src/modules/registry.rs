//! The one table of every module: lookup by short or `ansible.builtin.`/`ansible.legacy.`
//! name, iteration for `shipshape doc`, and each module's extra argument rules.

use crate::core::Module;
use crate::modules::args::Rules;
use crate::modules::{
    commands, docker, files, firewall, mysql, net, packages, services, system, users, wait_for,
};

/// One registered module, its argument rules and the Ansible collection that names it.
struct Entry {
    module: &'static dyn Module,
    rules: Rules,
    /// `ansible.builtin`, or the collection of a module that is not builtin in Ansible
    /// (`ansible.posix`, `community.general`...): its fully-qualified name uses that prefix.
    collection: &'static str,
}

const BUILTIN: &str = "ansible.builtin";

static TABLE: &[Entry] = &[
    Entry {
        module: &commands::command::Command,
        rules: commands::command::RULES,
        collection: BUILTIN,
    },
    Entry {
        module: &commands::shell::Shell,
        rules: commands::shell::RULES,
        collection: BUILTIN,
    },
    Entry {
        module: &commands::raw::Raw,
        rules: commands::raw::RULES,
        collection: BUILTIN,
    },
    Entry {
        module: &files::copy::Copy,
        rules: files::copy::RULES,
        collection: BUILTIN,
    },
    Entry {
        module: &files::template::Template,
        rules: files::template::RULES,
        collection: BUILTIN,
    },
    Entry {
        module: &files::file::File,
        rules: files::file::RULES,
        collection: BUILTIN,
    },
    Entry {
        module: &files::lineinfile::LineInFile,
        rules: files::lineinfile::RULES,
        collection: BUILTIN,
    },
    Entry {
        module: &files::blockinfile::BlockInFile,
        rules: files::blockinfile::RULES,
        collection: BUILTIN,
    },
    Entry {
        module: &files::replace::Replace,
        rules: files::replace::RULES,
        collection: BUILTIN,
    },
    Entry {
        module: &files::stat::Stat,
        rules: files::stat::RULES,
        collection: BUILTIN,
    },
    Entry {
        module: &files::slurp::Slurp,
        rules: files::slurp::RULES,
        collection: BUILTIN,
    },
    Entry {
        module: &wait_for::WaitFor,
        rules: wait_for::RULES,
        collection: BUILTIN,
    },
    Entry {
        module: &users::group::Group,
        rules: users::group::RULES,
        collection: BUILTIN,
    },
    Entry {
        module: &users::user::User,
        rules: users::user::RULES,
        collection: BUILTIN,
    },
    Entry {
        module: &services::service::SERVICE,
        rules: services::service::RULES,
        collection: BUILTIN,
    },
    Entry {
        module: &services::service::SYSTEMD_SERVICE,
        rules: services::service::RULES_SYSTEMD,
        collection: BUILTIN,
    },
    Entry {
        module: &services::service::SYSTEMD,
        rules: services::service::RULES_SYSTEMD,
        collection: BUILTIN,
    },
    Entry {
        module: &services::service::SYSVINIT,
        rules: services::service::RULES,
        collection: BUILTIN,
    },
    Entry {
        module: &packages::apt::APT,
        rules: packages::apt::RULES,
        collection: BUILTIN,
    },
    Entry {
        module: &packages::package::PACKAGE,
        rules: packages::package::RULES,
        collection: BUILTIN,
    },
    Entry {
        module: &packages::deb822_repository::Deb822Repository,
        rules: packages::deb822_repository::RULES,
        collection: BUILTIN,
    },
    Entry {
        module: &packages::apt_repository::AptRepository,
        rules: packages::apt_repository::RULES,
        collection: BUILTIN,
    },
    Entry {
        module: &firewall::nftables::Nftables,
        rules: firewall::nftables::RULES,
        collection: "shipshape",
    },
    Entry {
        module: &firewall::ufw::Ufw,
        rules: firewall::ufw::RULES,
        collection: "community.general",
    },
    Entry {
        module: &net::get_url::GetUrl,
        rules: net::get_url::RULES,
        collection: BUILTIN,
    },
    Entry {
        module: &net::uri::Uri,
        rules: net::uri::RULES,
        collection: BUILTIN,
    },
    Entry {
        module: &net::unarchive::Unarchive,
        rules: net::unarchive::RULES,
        collection: BUILTIN,
    },
    Entry {
        module: &mysql::mysql_db::MysqlDb,
        rules: mysql::mysql_db::RULES,
        collection: "community.mysql",
    },
    Entry {
        module: &mysql::mysql_user::MysqlUser,
        rules: mysql::mysql_user::RULES,
        collection: "community.mysql",
    },
    Entry {
        module: &mysql::mysql_replication::MysqlReplication,
        rules: mysql::mysql_replication::RULES,
        collection: "community.mysql",
    },
    Entry {
        module: &system::authorized_key::AuthorizedKey,
        rules: system::authorized_key::RULES,
        collection: "ansible.posix",
    },
    Entry {
        module: &system::sysctl::Sysctl,
        rules: system::sysctl::RULES,
        collection: "ansible.posix",
    },
    Entry {
        module: &system::cron::Cron,
        rules: system::cron::RULES,
        collection: BUILTIN,
    },
    Entry {
        module: &system::hostname::Hostname,
        rules: system::hostname::RULES,
        collection: BUILTIN,
    },
    Entry {
        module: &docker::docker_container::DockerContainer,
        rules: docker::docker_container::RULES,
        collection: "community.docker",
    },
    Entry {
        module: &docker::docker_image::DockerImage,
        rules: docker::docker_image::RULES,
        collection: "community.docker",
    },
    Entry {
        module: &docker::docker_network::DockerNetwork,
        rules: docker::docker_network::RULES,
        collection: "community.docker",
    },
    Entry {
        module: &docker::docker_volume::DockerVolume,
        rules: docker::docker_volume::RULES,
        collection: "community.docker",
    },
];

/// The entry of a short or fully-qualified module name: `copy`, `ansible.builtin.copy`,
/// `ansible.legacy.copy`, or a collection module by its own collection
/// (`community.general.ufw`; `ansible.legacy.` is accepted for those too, as Ansible does).
fn entry(name: &str) -> Option<&'static Entry> {
    let (collection, short) = match name.rsplit_once('.') {
        Some((collection, short)) => (Some(collection), short),
        None => (None, name),
    };
    TABLE.iter().find(|e| {
        e.module.spec().name == short
            && match collection {
                None => true,
                Some(c) => c == e.collection || c == "ansible.legacy",
            }
    })
}

/// Finds a module by name: `copy`, `ansible.builtin.copy` or `ansible.legacy.copy`, and
/// collection modules by their collection (`community.general.ufw`).
pub fn find(name: &str) -> Option<&'static dyn Module> {
    entry(name).map(|e| e.module)
}

/// The fully-qualified name of a registered module (`ansible.builtin.copy`).
pub fn qualified_name(name: &str) -> Option<String> {
    entry(name).map(|e| format!("{}.{}", e.collection, e.module.spec().name))
}

/// Every registered module, in table order.
pub fn all() -> impl Iterator<Item = &'static dyn Module> {
    TABLE.iter().map(|e| e.module)
}

/// The extra argument rules of a module (none for an unknown name).
pub fn rules(name: &str) -> Rules {
    entry(name).map(|e| e.rules).unwrap_or(Rules::NONE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ParamKind;
    use crate::modules::args::check_arg_names;

    #[test]
    fn finds_short_and_qualified_names() {
        for name in ["copy", "ansible.builtin.copy", "ansible.legacy.copy"] {
            assert_eq!(find(name).map(|m| m.spec().name), Some("copy"), "{name}");
        }
        assert!(find("ansible.builtin.nope").is_none());
        assert!(find("community.general.copy").is_none());
        for name in ["nftables", "shipshape.nftables"] {
            assert_eq!(
                find(name).map(|m| m.spec().name),
                Some("nftables"),
                "{name}"
            );
        }
        assert_eq!(
            find("community.general.ufw").map(|m| m.spec().name),
            Some("ufw")
        );
        assert!(find("ansible.builtin.ufw").is_none());
        assert_eq!(
            qualified_name("nftables").as_deref(),
            Some("shipshape.nftables")
        );
        assert_eq!(
            qualified_name("mysql_user").as_deref(),
            Some("community.mysql.mysql_user")
        );
        assert!(find("community.mysql.mysql_db").is_some());
        assert_eq!(
            qualified_name("authorized_key").as_deref(),
            Some("ansible.posix.authorized_key")
        );
        assert!(find("ansible.posix.sysctl").is_some());
        assert!(find("ansible.builtin.sysctl").is_none());
        assert!(find("ansible.builtin.cron").is_some());
        assert_eq!(
            qualified_name("docker_container").as_deref(),
            Some("community.docker.docker_container")
        );
        assert!(find("community.docker.docker_image").is_some());
        assert_eq!(
            qualified_name("copy").as_deref(),
            Some("ansible.builtin.copy")
        );
        let names: Vec<&str> = all().map(|m| m.spec().name).collect();
        for want in [
            "command",
            "shell",
            "raw",
            "copy",
            "template",
            "file",
            "lineinfile",
            "blockinfile",
            "replace",
            "stat",
            "slurp",
            "wait_for",
            "group",
            "user",
            "service",
            "systemd_service",
            "systemd",
            "sysvinit",
            "apt",
            "package",
            "deb822_repository",
            "apt_repository",
            "nftables",
            "ufw",
            "get_url",
            "uri",
            "unarchive",
            "mysql_db",
            "mysql_user",
            "mysql_replication",
            "authorized_key",
            "sysctl",
            "cron",
            "hostname",
            "docker_container",
            "docker_image",
            "docker_network",
            "docker_volume",
        ] {
            assert!(names.contains(&want), "{want} not registered");
        }
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "duplicate registration");
    }

    #[test]
    fn every_parameter_is_documented_and_rules_name_real_parameters() {
        for m in all() {
            let spec = m.spec();
            assert!(!spec.doc.is_empty(), "{}", spec.name);
            for p in spec.params {
                assert!(!p.doc.is_empty(), "{}.{}", spec.name, p.name);
                if !p.choices.is_empty() {
                    assert_eq!(p.kind, ParamKind::Str, "{}.{}", spec.name, p.name);
                }
            }
            let r = rules(spec.name);
            for name in r.exclusive.iter().chain(r.one_of).flat_map(|g| g.iter()) {
                assert!(
                    *name == "_raw_params" || spec.param(name).is_some(),
                    "{}: rule names unknown parameter {name}",
                    spec.name
                );
            }
        }
    }

    #[test]
    fn loader_checks_names_before_connecting() {
        let copy = find("copy").unwrap().spec();
        let e = check_arg_names(copy, &["dest", "contnet"]).unwrap_err();
        assert!(e.contains("did you mean 'content'"), "{e}");
        let e = check_arg_names(copy, &["dest"]).unwrap_err();
        assert!(
            e.contains("one of these parameters is required: content, src"),
            "{e}"
        );
        let e = check_arg_names(copy, &["content", "src", "dest"]).unwrap_err();
        assert!(e.contains("mutually exclusive"), "{e}");
        let cmd = find("ansible.builtin.command").unwrap().spec();
        assert!(check_arg_names(cmd, &["_raw_params", "chdir"]).is_ok());
        let e = check_arg_names(cmd, &["chdir"]).unwrap_err();
        assert!(e.contains("free-form text"), "{e}");
        let file = find("file").unwrap().spec();
        assert!(check_arg_names(file, &["name", "state"]).is_ok());
    }
}
