//! `quicksilver config check`: validate the configuration as `serve` would and print the
//! effective one, secrets masked.

use std::path::PathBuf;

use anyhow::Context;

use crate::config::Config;
use crate::settings::Settings;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Reads the same layers as `serve`: built-in defaults, the file (--config, else ./config.toml),
the reference image's MERCURE_* variables, then QUICKSILVER_* variables. Prints the effective
configuration as TOML on standard output (JWT keys shown as \"***\") and exits 0; on an error
prints where it is (file and line, or variable) on standard error and exits 1.")]
pub struct CheckArgs {
    /// Configuration file (default: ./config.toml when present).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
}

pub(super) fn run(args: &CheckArgs) -> anyhow::Result<()> {
    let loaded = Config::load_layers(args.config.as_deref(), &|name| std::env::var(name).ok())
        .context("invalid configuration")?;
    for warning in &loaded.warnings {
        eprintln!("quicksilver: warning: {warning}");
    }
    Settings::try_from(&loaded.config).context("invalid configuration")?;
    let source = loaded.file.as_ref().map_or_else(
        || "no file (built-in defaults and environment)".to_owned(),
        |path| path.display().to_string(),
    );
    print!(
        "# Effective configuration. File: {source}\n{}",
        loaded.config.to_masked_toml()
    );
    Ok(())
}
