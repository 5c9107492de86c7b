//! Log output: text or JSON lines on stderr, level from `QUICKSILVER_LOG` (default `info`).
//! Tokens, keys and update data never reach these logs (C-HARD-9).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

pub(super) fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_env("QUICKSILVER_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    // A second initialisation (tests calling `run` twice) is harmless: the first one stays.
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
    };
}
