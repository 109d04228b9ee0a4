//! The `gatehouse` command.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
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
    /// Run every gateway of a configuration file.
    Run {
        /// The TOML configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Tools for plugin authors.
    #[command(subcommand)]
    Plugin(PluginCommand),
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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colours for a terminal only: a log file or journald gets text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = match cli.command {
        Command::Run { config } => run(config),
        Command::Plugin(PluginCommand::New { name, lang }) => plugin_new(&name, lang),
        Command::Plugin(PluginCommand::Check { file }) => plugin_check(&file),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gatehouse: {e:#}");
            ExitCode::FAILURE
        }
    }
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
        anyhow::Ok(gatehouse::plugin::check::check(&engine, file).await)
    })?;
    println!("{}\n{report}", file.display());
    anyhow::ensure!(
        report.ok(),
        "{} is not a plugin this host can run",
        file.display()
    );
    Ok(())
}

fn run(config: PathBuf) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(gatehouse::supervisor::run_until_signalled(&config))?;
    Ok(())
}
