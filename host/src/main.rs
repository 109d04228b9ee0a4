//! The `gatehouse` command.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use gatehouse::config::{Config, LogConfig, LogFormat};
use gatehouse::scaffold::Language;

/// An XMPP gateway host whose legacy-network logic runs as sandboxed
/// WebAssembly components.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every gateway of a configuration file. SIGHUP applies the file
    /// again, SIGUSR1 reloads the plugins, SIGTERM shuts down cleanly.
    Run {
        /// The TOML configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// How log lines are written (default: the file's `[log] format`).
        #[arg(long, value_enum)]
        log_format: Option<LogFormat>,
    },
    /// Tools for plugin authors.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// The configuration file.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// The registered users, in the database.
    #[command(subcommand)]
    Users(UsersCommand),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Check a configuration file and print it as the host reads it: every
    /// key, with the defaults filled in and paths made absolute.
    Check {
        /// The TOML configuration file.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum UsersCommand {
    /// List every registered user of every gateway of the configuration.
    List {
        /// The TOML configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Forget a user's registration, contacts and stored data. Run it with
    /// the gateway stopped (a running gateway keeps the session until it
    /// restarts); the contacts stay in the user's XMPP roster: prefer the
    /// user's own `unregister` command when the gateway runs.
    Remove {
        /// The TOML configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// The gateway's JID.
        #[arg(long, short)]
        gateway: String,
        /// The user's bare JID.
        user: String,
    },
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Write a buildable plugin skeleton in a new folder NAME.
    New {
        /// The plugin's name (a new folder of this name is made).
        name: String,
        /// The language to write it in.
        #[arg(long, value_enum, default_value_t = Language::Rust)]
        lang: Language,
    },
    /// Check that a .wasm file is a plugin this host can run: a component of
    /// the gateway-plugin world, a compatible contract version, and only
    /// capabilities the host provides. Exits non-zero otherwise.
    Check {
        /// The component file.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run { config, log_format } => run(config, log_format),
        command => {
            init_logging(&LogConfig::default(), None);
            match command {
                Command::Plugin(PluginCommand::New { name, lang }) => plugin_new(&name, lang),
                Command::Plugin(PluginCommand::Check { file }) => plugin_check(&file),
                Command::Config(ConfigCommand::Check { file }) => config_check(&file),
                Command::Users(UsersCommand::List { config }) => users_list(&config),
                Command::Users(UsersCommand::Remove {
                    config,
                    gateway,
                    user,
                }) => users_remove(&config, &gateway, &user),
                Command::Run { .. } => unreachable!("handled above"),
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gatehouse: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr: `RUST_LOG` if set, else the configured level; text
/// (coloured on a terminal only: a file or journald gets plain text) or
/// JSON.
fn init_logging(log: &LogConfig, format: Option<LogFormat>) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&log.level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format.unwrap_or(log.format) {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
}

/// What `config check` prints instead of a component secret: the output
/// is pasted into bug reports and chats, the secret must not be.
const MASKED_SECRET: &str = "(set; not shown)";

fn config_check(file: &std::path::Path) -> anyhow::Result<()> {
    let mut config = Config::load(file)?;
    for gateway in &mut config.gateways {
        gateway.secret = MASKED_SECRET.to_owned();
    }
    let text = toml::to_string_pretty(&config).context("print the configuration")?;
    println!(
        "# {}: valid; every key, with its default if unset (secrets not shown)\n",
        file.display()
    );
    print!("{text}");
    Ok(())
}

fn users_list(config: &std::path::Path) -> anyhow::Result<()> {
    let config = Config::load(config)?;
    let store = gatehouse::store::Store::open(&config.store.path)?;
    println!("{:<32} {:<40} CONTACTS", "GATEWAY", "USER");
    for gateway in &config.gateways {
        for user in store.users(&gateway.jid)? {
            let contacts = store.contacts(user.id)?.len();
            println!("{:<32} {:<40} {contacts}", gateway.jid, user.jid);
        }
    }
    Ok(())
}

fn users_remove(config: &std::path::Path, gateway: &str, user: &str) -> anyhow::Result<()> {
    let config = Config::load(config)?;
    anyhow::ensure!(
        config.gateways.iter().any(|g| g.jid == gateway),
        "no [[gateway]] {gateway} in the configuration"
    );
    let store = gatehouse::store::Store::open(&config.store.path)?;
    let row = store
        .user(gateway, user)?
        .with_context(|| format!("{user} is not registered with {gateway}"))?;
    store.delete_user(row.id)?;
    store.commit()?;
    println!("{user}: registration with {gateway} removed");
    Ok(())
}

fn plugin_new(name: &str, lang: Language) -> anyhow::Result<()> {
    let dir = PathBuf::from(name);
    gatehouse::scaffold::write(&dir, lang)?;
    println!("{}", gatehouse::scaffold::next_steps(&dir, lang));
    Ok(())
}

fn plugin_check(file: &std::path::Path) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(async {
        let engine = gatehouse::plugin::engine(0, 256)?;
        anyhow::Ok(
            gatehouse::plugin::check::check::<gatehouse::session::SessionData>(&engine, file).await,
        )
    })?;
    println!("{}\n{report}", file.display());
    anyhow::ensure!(
        report.ok(),
        "{} is not a plugin this host can run",
        file.display()
    );
    Ok(())
}

fn run(config: PathBuf, log_format: Option<LogFormat>) -> anyhow::Result<()> {
    let loaded = Config::load(&config)?;
    init_logging(&loaded.log, log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(gatehouse::supervisor::run_until_signalled(&config, loaded));
    // Blocking work still running (a name lookup, a stuck TLS handshake)
    // does not hold the process past the shutdown.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    result?;
    Ok(())
}
