//! The command line: `quicksilver serve | token | publish | subscribe | config | bench`.

mod client;
mod config_check;
mod inspect;
mod logging;
mod publish;
mod serve;
mod sse;
mod subscribe;
mod token;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The parsed command line.
#[derive(Debug, Parser)]
#[command(name = "quicksilver", version, about = "A fast, loss-free Mercure hub")]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the hub.
    Serve(ServeArgs),
    /// Create or check JWTs for publishers and subscribers.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Publish an update to a running hub and print its id.
    Publish(publish::PublishArgs),
    /// Print the updates of a running hub as they arrive (resumes after disconnects).
    Subscribe(subscribe::SubscribeArgs),
    /// Work with the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Load-test a Mercure hub, this one or any other (the same as `quicksilver-bench`).
    #[command(subcommand)]
    Bench(quicksilver_bench::cli::BenchCommand),
}

/// `quicksilver token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print a signed token (JWS) granting publish and/or subscribe rights.
    Issue(Box<token::IssueArgs>),
    /// Decode a token and say whether the configured hub would accept it, and why not.
    Inspect(inspect::InspectArgs),
}

/// `quicksilver config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration (file + environment) and print the effective one, secrets
    /// masked.
    Check(config_check::CheckArgs),
}

/// `quicksilver serve`'s flags.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Configuration file (default: ./config.toml when present).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:3000 (overrides `listen`).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Keep the history in memory only (lost on restart), like transport = "memory".
    #[arg(long)]
    pub no_persist: bool,
}

/// Parses the command line. `--help` and `--version` print and exit 0; a usage error prints a
/// one-line reason on stderr and exits 1 (protocol.md C-CLI-2).
pub fn parse_args() -> Cli {
    match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            use clap::error::ErrorKind;
            if matches!(
                error.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = error.print();
                let help_asked =
                    error.kind() != ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand;
                std::process::exit(if help_asked { 0 } else { 1 });
            }
            let rendered = error.render().to_string();
            let reason = rendered
                .lines()
                .next()
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ");
            eprintln!("quicksilver: {reason} (see --help)");
            std::process::exit(1);
        }
    }
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // `serve` sets up logging itself, once it knows the configured format.
    if !matches!(cli.command, Command::Serve(_) | Command::Bench(_)) {
        logging::init(crate::config::LogFormat::Text);
    }
    let outcome = match cli.command {
        // Its own exit statuses (3: delivery was not exact) and its own runtime.
        Command::Bench(command) => {
            return Ok(quicksilver_bench::cli::run(command, "quicksilver bench"))
        }
        Command::Serve(args) => serve::run(args),
        Command::Token(TokenCommand::Issue(args)) => token::issue(&args),
        Command::Token(TokenCommand::Inspect(args)) => inspect::run(&args),
        Command::Publish(args) => publish::run(&args),
        Command::Subscribe(args) => subscribe::run(&args),
        Command::Config(ConfigCommand::Check(args)) => config_check::run(&args),
    };
    outcome.map(|()| ExitCode::SUCCESS)
}
