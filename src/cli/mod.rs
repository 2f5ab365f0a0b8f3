//! The command line: parses arguments, loads inventory and playbooks, validates them before
//! any connection, runs them, and maps every outcome to an exit code.

mod args;
mod extra_vars;
mod vault_cmd;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Parser;

pub use args::{
    Cli, Command, CompletionsArgs, DocArgs, HostKeyChecking, InventoryArgs, OutputFormat,
    PlaybookArgs, VaultAction, VaultArgs, VaultPasswordArgs,
};

use crate::config::{Config, Setting};

use crate::core::Secret;
use crate::executor::{EventSink, Executor, RunOptions, Shard, TagFilter};
use crate::inventory::Inventory;
use crate::playbook::{Loader, Playbook};
use crate::report::{
    ExitCode, Fanout, HumanOptions, HumanReporter, JsonlReporter, RunLog, exit_code, plan_exit,
};
use crate::transport::HostKeyPolicy;

/// An error that ends the program with a specific exit code.
#[derive(Debug)]
pub struct Failure {
    /// Exit code.
    pub code: i32,
    /// Message for stderr.
    pub message: String,
}

impl Failure {
    fn new(code: ExitCode, message: impl Into<String>) -> Self {
        Failure {
            code: code as i32,
            message: message.into(),
        }
    }
}

/// Runs the program with the process arguments; returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp
                | clap::error::ErrorKind::DisplayVersion
                | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 0,
                _ => ExitCode::BadOptions as i32,
            };
            let _ = e.print();
            return code;
        }
    };
    // Listing commands end quietly when their reader goes away (`shipshape doc --list | head`),
    // like other command-line tools. Runs keep SIGPIPE ignored: a closed stdout must not kill
    // a run half-way through a host.
    if !matches!(cli.command, Command::Playbook(_) | Command::Plan(_)) {
        // SAFETY: called before any thread is started; restores the default disposition.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::Error as i32;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(f) => {
            eprintln!("ERROR: {}", f.message);
            f.code
        }
    }
}

async fn run(cli: Cli) -> Result<i32, Failure> {
    match cli.command {
        Command::Playbook(a) => run_playbooks(a, false).await,
        Command::Plan(a) => run_playbooks(a, true).await,
        Command::Inventory(a) => inventory_command(a),
        Command::Doc(a) => doc_command(a),
        Command::Vault(a) => {
            let config = load_config()?;
            vault_cmd::run(a, config.vault_password_file.value.as_deref())
        }
        Command::Config => config_command(),
        Command::Completions(a) => completions_command(a),
        Command::Man => man_command(),
    }
}

/// Loads ansible.cfg / shipshape.toml and the ANSIBLE_* environment; prints its warnings.
fn load_config() -> Result<Config, Failure> {
    let config = Config::load().map_err(|e| Failure::new(ExitCode::BadOptions, e.to_string()))?;
    for w in &config.warnings {
        eprintln!("[WARNING]: {w}");
    }
    Ok(config)
}

/// `shipshape config`: every supported setting with its value and origin.
fn config_command() -> Result<i32, Failure> {
    let config = load_config()?;
    if let Some(w) = Config::host_key_warning(&config.host_key_checking) {
        eprintln!("[WARNING]: {w}");
    }
    print!("{}", config.render());
    Ok(0)
}

/// `shipshape completions SHELL`.
fn completions_command(a: CompletionsArgs) -> Result<i32, Failure> {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    clap_complete::generate(a.shell, &mut cmd, "shipshape", &mut std::io::stdout());
    Ok(0)
}

/// `shipshape man`: one page with the global synopsis and every subcommand's options.
fn man_command() -> Result<i32, Failure> {
    let page = man_page().map_err(|e| Failure::new(ExitCode::Error, e.to_string()))?;
    print!("{page}");
    Ok(0)
}

/// Renders the man page: clap_mangen's page for `shipshape`, then a section per subcommand
/// (its description, synopsis and options as subsections).
pub fn man_page() -> std::io::Result<String> {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    cmd.build();
    let mut out: Vec<u8> = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut out)?;
    for sub in cmd.get_subcommands() {
        let man = clap_mangen::Man::new(sub.clone());
        let mut part: Vec<u8> = Vec::new();
        man.render_synopsis_section(&mut part)?;
        man.render_options_section(&mut part)?;
        let part = String::from_utf8_lossy(&part)
            .replace(".SH SYNOPSIS", ".SS Synopsis")
            .replace(".SH OPTIONS", ".SS Options");
        let about = sub
            .get_long_about()
            .or(sub.get_about())
            .map(|a| a.to_string())
            .unwrap_or_default();
        out.extend_from_slice(
            format!(
                ".SH \"SHIPSHAPE {}\"\n{}\n",
                sub.get_name().to_uppercase(),
                about.replace('\\', "\\\\")
            )
            .as_bytes(),
        );
        out.extend_from_slice(part.as_bytes());
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The inventory sources: the command line's when it names some, else the config's.
fn inventory_sources(cli: &[String], config: &Config) -> Setting<Vec<String>> {
    config
        .inventory
        .clone()
        .or_cli((!cli.is_empty()).then(|| cli.to_vec()))
}

fn load_inventory(sources: &[String]) -> Result<Inventory, Failure> {
    let paths: Vec<PathBuf> = sources.iter().map(PathBuf::from).collect();
    let options = crate::inventory::LoadOptions {
        decrypt: Some(vault_cmd::inventory_decryptor()),
    };
    let inv = Inventory::load_with(&paths, options)
        .map_err(|e| Failure::new(ExitCode::Parse, e.to_string()))?;
    for w in inv.warnings() {
        eprintln!("[WARNING]: {w}");
    }
    Ok(inv)
}

fn inventory_command(a: InventoryArgs) -> Result<i32, Failure> {
    let config = load_config()?;
    vault_cmd::load_passwords(&a.vault, config.vault_password_file.value.as_deref())?;
    let sources = inventory_sources(&a.inventory, &config);
    if sources.value.is_empty() {
        return Err(Failure::new(
            ExitCode::BadOptions,
            "no inventory: give -i SOURCE, set ANSIBLE_INVENTORY, or set inventory in ansible.cfg's [defaults]",
        ));
    }
    let inv = load_inventory(&sources.value)?;
    if let Some(host) = &a.host {
        let json = inv.host_json(host).ok_or_else(|| {
            Failure::new(
                ExitCode::BadOptions,
                format!("host '{host}' is not in the inventory"),
            )
        })?;
        println!(
            "{}",
            serde_json::to_string_pretty(&json).unwrap_or_default()
        );
    } else if a.graph {
        print!("{}", inv.graph());
    } else {
        println!(
            "{}",
            serde_json::to_string_pretty(&inv.to_list_json()).unwrap_or_default()
        );
    }
    Ok(0)
}

fn doc_command(a: DocArgs) -> Result<i32, Failure> {
    let names = crate::compile::all_module_names();
    match (&a.module, a.list) {
        (Some(m), _) => {
            let name = crate::playbook::canonical_module(m);
            let spec = crate::compile::module_spec(name).ok_or_else(|| {
                Failure::new(ExitCode::BadOptions, format!("unknown module '{m}'"))
            })?;
            println!(
                "> {}\n\n  {}\n\nOPTIONS (= is mandatory):\n",
                spec.name, spec.doc
            );
            for p in spec.params {
                let mark = if p.required { "=" } else { "-" };
                let aliases = if p.aliases.is_empty() {
                    String::new()
                } else {
                    format!(" (aliases: {})", p.aliases.join(", "))
                };
                let choices = if p.choices.is_empty() {
                    String::new()
                } else {
                    format!(" [choices: {}]", p.choices.join(", "))
                };
                println!(
                    "{mark} {}{aliases}: {:?}{choices}\n    {}\n",
                    p.name, p.kind, p.doc
                );
            }
        }
        (None, _) => {
            for n in names {
                let doc = crate::compile::module_spec(n)
                    .map(|s| s.doc)
                    .unwrap_or_default();
                println!("{n:<24} {doc}");
            }
        }
    }
    Ok(0)
}

fn read_become_password(ask: bool) -> Result<Option<Secret>, Failure> {
    if let Ok(p) = std::env::var("SHIPSHAPE_BECOME_PASSWORD") {
        return Ok(Some(Secret::new(p)));
    }
    if !ask {
        return Ok(None);
    }
    prompt_password("BECOME password: ")
        .map(|p| Some(Secret::new(p)))
        .map_err(|e| {
            Failure::new(
                ExitCode::BadOptions,
                format!("-K: cannot read the password: {e}"),
            )
        })
}

/// Reads a line from the terminal with echo off.
fn prompt_password(prompt: &str) -> std::io::Result<String> {
    use std::io::{BufRead, Write};
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")?;
    let fd = std::os::fd::AsRawFd::as_raw_fd(&tty);
    // SAFETY: termios calls on a valid, open terminal descriptor owned by `tty`.
    let mut term: libc::termios = unsafe { std::mem::zeroed() };
    let have_term = unsafe { libc::tcgetattr(fd, &mut term) } == 0;
    let saved = term;
    if have_term {
        term.c_lflag &= !libc::ECHO;
        // SAFETY: as above.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &term) };
    }
    let mut w = &tty;
    let _ = write!(w, "{prompt}");
    let _ = w.flush();
    let mut line = String::new();
    let r = std::io::BufReader::new(&tty).read_line(&mut line);
    if have_term {
        // SAFETY: restores the saved settings on the same descriptor.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    }
    let _ = writeln!(w);
    r?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// The run's settings: command line > environment > config file > default.
fn run_options(a: &PlaybookArgs, plan: bool, config: &Config) -> Result<RunOptions, Failure> {
    let host_key_checking = config
        .host_key_checking
        .clone()
        .or_cli(a.host_key_checking.map(|h| match h {
            HostKeyChecking::Strict => HostKeyPolicy::Strict,
            HostKeyChecking::AcceptNew => HostKeyPolicy::AcceptNew,
            HostKeyChecking::Off => HostKeyPolicy::Off,
        }));
    if let Some(w) = Config::host_key_warning(&host_key_checking) {
        eprintln!("[WARNING]: {w}");
    }
    let roles_path = config
        .roles_path
        .clone()
        .or_cli((!a.roles_path.is_empty()).then(|| a.roles_path.clone()));
    let extra_vars =
        extra_vars::parse_all(&a.extra_vars).map_err(|e| Failure::new(ExitCode::BadOptions, e))?;
    let known_hosts = if a.known_hosts.is_empty() {
        std::env::var_os("HOME")
            .map(|h| vec![PathBuf::from(h).join(".ssh").join("known_hosts")])
            .unwrap_or_default()
    } else {
        a.known_hosts.clone()
    };
    Ok(RunOptions {
        check: a.check || plan,
        diff: a.diff || plan,
        forks: config.forks.clone().or_cli(a.forks).value.max(1),
        tags: TagFilter {
            only: a.tags.clone(),
            skip: a.skip_tags.clone(),
        },
        limit: a.limit.clone(),
        extra_vars,
        become_: a.become_ || config.become_.value,
        become_user: config
            .become_user
            .clone()
            .or_cli(a.become_user.clone().map(Some))
            .value,
        become_password: read_become_password(a.ask_become_pass || config.become_ask_pass.value)?,
        remote_user: config
            .remote_user
            .clone()
            .or_cli(a.user.clone().map(Some))
            .value,
        private_key: config
            .private_key_file
            .clone()
            .or_cli(a.private_key.clone().map(Some))
            .value,
        connect_timeout: Duration::from_secs(config.timeout.clone().or_cli(a.timeout).value.max(1)),
        known_hosts,
        host_key_policy: host_key_checking.value,
        force_handlers: a.force_handlers,
        verbosity: a.verbose,
        roles_path: roles_path.value,
        shard: a
            .shard
            .as_deref()
            .map(Shard::parse)
            .transpose()
            .map_err(|e| Failure::new(ExitCode::BadOptions, e))?,
    })
}

/// Loads and validates every playbook; all problems are reported at once.
fn load_playbooks(
    a: &PlaybookArgs,
    opts: &RunOptions,
) -> Result<Vec<(Playbook, Arc<Loader>)>, Failure> {
    let mut out = Vec::new();
    let mut messages = Vec::new();
    for path in &a.playbooks {
        if !path.is_file() {
            return Err(Failure::new(
                ExitCode::Parse,
                format!("the playbook {} could not be found", path.display()),
            ));
        }
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let loader = Arc::new(Loader::new(&dir, opts.roles_path.clone()));
        match loader.load_playbook(path) {
            Ok(pb) => {
                if let Err(errors) = crate::compile::validate(&pb) {
                    messages.extend(errors.iter().map(|e| e.to_string()));
                }
                out.push((pb, loader));
            }
            Err(e) => messages.push(e.to_string()),
        }
    }
    if !messages.is_empty() {
        return Err(Failure::new(ExitCode::Parse, messages.join("\n")));
    }
    Ok(out)
}

async fn run_playbooks(a: PlaybookArgs, plan: bool) -> Result<i32, Failure> {
    let config = load_config()?;
    vault_cmd::load_passwords(&a.vault, config.vault_password_file.value.as_deref())?;
    let opts = run_options(&a, plan, &config)?;
    let plan_error = |f: Failure| {
        if plan {
            Failure {
                code: plan_exit::ERROR,
                message: f.message,
            }
        } else {
            f
        }
    };
    let sources = inventory_sources(&a.inventory, &config);
    let mut inventory = load_inventory(&sources.value).map_err(plan_error)?;
    let playbooks = load_playbooks(&a, &opts).map_err(plan_error)?;
    for (pb, _) in &playbooks {
        inventory
            .add_playbook_vars_dir(&pb.dir)
            .map_err(|e| plan_error(Failure::new(ExitCode::Parse, e.to_string())))?;
    }
    let loaded: Vec<Playbook> = playbooks.iter().map(|(p, _)| p.clone()).collect();
    if let Some(what) = vault_cmd::missing_password(&loaded) {
        return Err(plan_error(Failure::new(
            ExitCode::Parse,
            format!(
                "{what}, but no vault password was given (use --vault-password-file FILE, --ask-vault-pass or SHIPSHAPE_VAULT_PASSWORD)"
            ),
        )));
    }
    if a.syntax_check {
        for (pb, _) in &playbooks {
            println!("\nplaybook: {}", pb.path.display());
        }
        return Ok(0);
    }
    if a.list_tasks {
        for (pb, _) in &playbooks {
            print!("{}", crate::compile::list_tasks(pb, &opts.tags));
        }
        return Ok(0);
    }
    if a.list_tags {
        for (pb, _) in &playbooks {
            print!("{}", crate::compile::list_tags(pb));
        }
        return Ok(0);
    }
    let inventory = Arc::new(inventory);
    if a.list_hosts {
        for (pb, loader) in &playbooks {
            let exec = Executor::new(
                inventory.clone(),
                opts.clone(),
                EventSink::new(Box::new(Fanout::default())),
                loader.clone(),
                pb.dir.clone(),
                Arc::new(AtomicBool::new(false)),
            );
            println!("\nplaybook: {}", pb.path.display());
            for (n, play) in pb.plays.iter().enumerate() {
                let hosts = exec
                    .select_hosts(&play.hosts)
                    .map_err(|e| Failure::new(ExitCode::Error, e))?;
                // The same shape as ansible-playbook --list-hosts.
                println!(
                    "\n  play #{} ({}): {}\tTAGS: [{}]\n    pattern: ['{}']\n    hosts ({}):",
                    n + 1,
                    play.hosts,
                    play.name,
                    play.common.tags.join(", "),
                    play.hosts,
                    hosts.len()
                );
                for h in hosts {
                    println!("      {h}");
                }
            }
        }
        return Ok(0);
    }
    let interrupted = Arc::new(AtomicBool::new(false));
    spawn_signal_handler(interrupted.clone());
    let stdout_tty = std::io::stdout().is_terminal();
    let mut last = None;
    let log = RunLog::default();
    for (pb, loader) in &playbooks {
        let mut fan = Fanout::default();
        fan.push(Box::new(log.clone()));
        match a.output {
            OutputFormat::Human => fan.push(Box::new(HumanReporter::new(
                std::io::stdout(),
                HumanOptions {
                    diff: opts.diff,
                    verbosity: opts.verbosity,
                    color: a.color.enabled(stdout_tty),
                    progress: stdout_tty && std::env::var_os("CI").is_none(),
                    check: opts.check,
                    timestamps: a.timestamps,
                },
            ))),
            OutputFormat::Jsonl => fan.push(Box::new(JsonlReporter::new(std::io::stdout()))),
        }
        let exec = Executor::new(
            inventory.clone(),
            opts.clone(),
            EventSink::new(Box::new(fan)),
            loader.clone(),
            pb.dir.clone(),
            interrupted.clone(),
        );
        let summary = exec.run(pb).await;
        let code = exit_code(&summary.stats, summary.interrupted);
        last = Some(code);
        if code != ExitCode::Ok {
            break;
        }
    }
    let Some(code) = last else { return Ok(0) };
    let run = log.snapshot();
    if plan && a.output == OutputFormat::Human {
        print!("{}", crate::report::drift_report(&run));
    }
    write_report(a.junit.as_deref(), || crate::report::junit(&run))?;
    write_report(a.markdown.as_deref(), || crate::report::markdown(&run))?;
    if plan || a.detailed_exitcode {
        return Ok(match code {
            ExitCode::Ok if !run.changed_hosts().is_empty() => plan_exit::DRIFT,
            ExitCode::Ok => plan_exit::NO_DRIFT,
            ExitCode::Interrupted => ExitCode::Interrupted as i32,
            _ => plan_exit::ERROR,
        });
    }
    Ok(code as i32)
}

/// Writes a report file (atomically: a temp file renamed over it) when `path` is given.
fn write_report(path: Option<&Path>, render: impl FnOnce() -> String) -> Result<(), Failure> {
    let Some(path) = path else { return Ok(()) };
    let tmp = path.with_extension("shipshape-tmp");
    std::fs::write(&tmp, render())
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Failure::new(
                ExitCode::Error,
                format!("cannot write report {}: {e}", path.display()),
            )
        })
}

/// First Ctrl-C/SIGTERM: stop starting tasks and finish cleanly. Second: exit at once.
fn spawn_signal_handler(flag: Arc<AtomicBool>) {
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return,
            };
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            if flag.swap(true, Ordering::SeqCst) {
                eprintln!("\ninterrupted twice: exiting now");
                std::process::exit(ExitCode::Interrupted as i32);
            }
            eprintln!("\ninterrupted: finishing running tasks (press Ctrl-C again to exit now)");
        }
    });
}
