//! Command-line definitions (clap). Flag names follow `ansible-playbook` where they exist.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::report::ColorChoice;

/// shipshape: run Ansible playbooks over SSH, fast, with check mode and diffs.
#[derive(Parser, Debug)]
#[command(name = "shipshape", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run playbooks against the inventory (like ansible-playbook).
    Playbook(PlaybookArgs),
    /// Show what would change (check + diff); exit 0 = no drift, 2 = drift, 1 = error.
    Plan(PlaybookArgs),
    /// Show the inventory (like ansible-inventory).
    Inventory(InventoryArgs),
    /// Document modules (like ansible-doc).
    Doc(DocArgs),
    /// Encrypt and decrypt Ansible Vault files and values (like ansible-vault).
    Vault(VaultArgs),
    /// Show every supported setting, its value and where it came from (ansible.cfg,
    /// shipshape.toml, environment or default).
    Config,
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(CompletionsArgs),
    /// Print the man page (roff), generated from this command-line definition.
    Man,
}

/// Options of `completions`.
#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Where vault passwords come from (any number of them; each is tried).
#[derive(Args, Debug, Clone, Default)]
pub struct VaultPasswordArgs {
    /// File holding a vault password (an executable file is run and its output used).
    #[arg(
        long = "vault-password-file",
        alias = "vault-pass-file",
        value_name = "FILE",
        global = true
    )]
    pub vault_password_file: Vec<PathBuf>,
    /// Ask for the vault password on the terminal.
    #[arg(long = "ask-vault-pass", alias = "ask-vault-password", global = true)]
    pub ask_vault_pass: bool,
}

/// Options of `vault`.
#[derive(Args, Debug)]
pub struct VaultArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: VaultAction,
    /// Vault passwords.
    #[command(flatten)]
    pub passwords: VaultPasswordArgs,
}

/// `vault` actions.
#[derive(Subcommand, Debug)]
pub enum VaultAction {
    /// Encrypt files in place.
    Encrypt {
        /// Files to encrypt.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Decrypt files in place.
    Decrypt {
        /// Files to decrypt.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print decrypted files.
    View {
        /// Files to show.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Encrypt a string for use as an inline `!vault` value.
    EncryptString {
        /// The secret (read from stdin when omitted).
        value: Option<String>,
        /// Print it as `NAME: !vault |` YAML.
        #[arg(long)]
        name: Option<String>,
    },
}

/// Output format on stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Ansible-like text for people.
    Human,
    /// One JSON event per line.
    Jsonl,
}

/// Host key checking.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum HostKeyChecking {
    /// Refuse unknown and changed keys (default).
    Strict,
    /// Record unknown keys in known_hosts; refuse changed keys.
    AcceptNew,
    /// Do not check host keys (unsafe; never use on the internet).
    Off,
}

/// Options of `playbook` and `plan`.
#[derive(Args, Debug, Clone)]
pub struct PlaybookArgs {
    /// Playbook files to run, in order.
    #[arg(required = true, value_name = "PLAYBOOK")]
    pub playbooks: Vec<PathBuf>,
    /// Inventory file, directory, script, Terraform state/output or comma-separated host list
    /// (repeatable) [default: ANSIBLE_INVENTORY or ansible.cfg's inventory].
    #[arg(short = 'i', long = "inventory", value_name = "INVENTORY")]
    pub inventory: Vec<String>,
    /// Limit to hosts matching this pattern (or @file).
    #[arg(short = 'l', long = "limit", value_name = "SUBSET")]
    pub limit: Option<String>,
    /// Run only part K of N of the hosts (sorted by name, dealt round-robin), so N
    /// controllers side by side (a CI matrix) cover every host exactly once.
    #[arg(long = "shard", value_name = "K/N")]
    pub shard: Option<String>,
    /// Only run tasks with these tags (comma-separated, repeatable).
    #[arg(short = 't', long = "tags", value_delimiter = ',')]
    pub tags: Vec<String>,
    /// Skip tasks with these tags (comma-separated, repeatable).
    #[arg(long = "skip-tags", value_delimiter = ',')]
    pub skip_tags: Vec<String>,
    /// Extra variables: key=value pairs, JSON/YAML, or @file (repeatable).
    #[arg(short = 'e', long = "extra-vars", value_name = "VARS")]
    pub extra_vars: Vec<String>,
    /// Hosts worked on in parallel [default: 50, or ANSIBLE_FORKS / ansible.cfg].
    #[arg(short = 'f', long = "forks")]
    pub forks: Option<usize>,
    /// Check mode: change nothing, report what would change.
    #[arg(short = 'C', long = "check")]
    pub check: bool,
    /// Show diffs of what changes.
    #[arg(short = 'D', long = "diff")]
    pub diff: bool,
    /// Become (sudo) for every task (also ANSIBLE_BECOME / ansible.cfg's become).
    #[arg(short = 'b', long = "become")]
    pub become_: bool,
    /// User to become (default root).
    #[arg(long = "become-user")]
    pub become_user: Option<String>,
    /// Ask for the sudo password (or set SHIPSHAPE_BECOME_PASSWORD).
    #[arg(short = 'K', long = "ask-become-pass")]
    pub ask_become_pass: bool,
    /// Connect as this user.
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// SSH private key file.
    #[arg(long = "private-key", alias = "key-file")]
    pub private_key: Option<PathBuf>,
    /// Connection timeout in seconds [default: 10, or ANSIBLE_TIMEOUT / ansible.cfg].
    #[arg(short = 'T', long = "timeout")]
    pub timeout: Option<u64>,
    /// Host key checking policy [default: strict, or ANSIBLE_HOST_KEY_CHECKING / ansible.cfg].
    #[arg(long = "host-key-checking", value_enum)]
    pub host_key_checking: Option<HostKeyChecking>,
    /// known_hosts file (repeatable; default ~/.ssh/known_hosts).
    #[arg(long = "known-hosts", value_name = "FILE")]
    pub known_hosts: Vec<PathBuf>,
    /// Run notified handlers even when a host fails.
    #[arg(long = "force-handlers")]
    pub force_handlers: bool,
    /// Extra role directories (':'-separated, repeatable).
    #[arg(long = "roles-path", value_delimiter = ':')]
    pub roles_path: Vec<PathBuf>,
    /// List the hosts each play would run on, and stop.
    #[arg(long = "list-hosts")]
    pub list_hosts: bool,
    /// List the tasks that would run, and stop.
    #[arg(long = "list-tasks")]
    pub list_tasks: bool,
    /// List the tags, and stop.
    #[arg(long = "list-tags")]
    pub list_tags: bool,
    /// Check the playbook's syntax and arguments, and stop.
    #[arg(long = "syntax-check")]
    pub syntax_check: bool,
    /// Output format on stdout.
    #[arg(long = "output", value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,
    /// Also write a JUnit XML report to FILE (one test case per host and task).
    #[arg(long = "junit", value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Also write a Markdown summary to FILE (for a pull-request comment).
    #[arg(long = "markdown", value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Exit 0 when nothing changed, 2 when something changed, 1 on any error (as `plan`).
    #[arg(long = "detailed-exitcode")]
    pub detailed_exitcode: bool,
    /// Prefix each line of human output with the UTC time.
    #[arg(long = "timestamps")]
    pub timestamps: bool,
    /// Colours (NO_COLOR is respected by `auto`).
    #[arg(long = "color", value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// More output (-v shows results, -vvv commands).
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Vault passwords.
    #[command(flatten)]
    pub vault: VaultPasswordArgs,
}

/// Options of `inventory`.
#[derive(Args, Debug)]
pub struct InventoryArgs {
    /// Inventory sources (repeatable) [default: ANSIBLE_INVENTORY or ansible.cfg's inventory].
    #[arg(short = 'i', long = "inventory")]
    pub inventory: Vec<String>,
    /// Print the whole inventory as JSON.
    #[arg(long, conflicts_with_all = ["graph", "host"])]
    pub list: bool,
    /// Print the group tree.
    #[arg(long, conflicts_with = "host")]
    pub graph: bool,
    /// Print one host's variables as JSON.
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// Limit to hosts matching this pattern.
    #[arg(short = 'l', long = "limit")]
    pub limit: Option<String>,
    /// Vault passwords.
    #[command(flatten)]
    pub vault: VaultPasswordArgs,
}

/// Options of `doc`.
#[derive(Args, Debug)]
pub struct DocArgs {
    /// List the modules.
    #[arg(short = 'l', long)]
    pub list: bool,
    /// The module to document.
    pub module: Option<String>,
}
