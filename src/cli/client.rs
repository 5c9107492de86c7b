//! What `publish` and `subscribe` share: the hub URL and the token to present.

use std::path::PathBuf;

use anyhow::Context;

use super::token::{mint, read_secret_file};
use crate::config::Config;

/// The path of the Mercure endpoint on the hub's origin.
const HUB_PATH: &str = "/.well-known/mercure";

#[derive(Debug, clap::Args)]
pub struct HubArgs {
    /// The hub: its origin (`/.well-known/mercure` is added) or the full hub URL.
    #[arg(
        long,
        value_name = "URL",
        env = "QUICKSILVER_HUB_URL",
        default_value = "http://127.0.0.1:3000"
    )]
    pub hub: String,
    /// The JWT to present. Default: $QUICKSILVER_TOKEN, else --token-file, else a token minted
    /// from the configured key (HS256/384/512 only).
    #[arg(
        long,
        value_name = "JWT",
        env = "QUICKSILVER_TOKEN",
        hide_env_values = true,
        conflicts_with = "token_file"
    )]
    pub token: Option<String>,
    /// Read the JWT from this file.
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// Configuration file whose key mints the token when none is given (default:
    /// ./config.toml when present; the environment applies as for `serve`).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
}

/// Which rights a minted token carries.
pub enum Role<'a> {
    Publish(&'a [String]),
    Subscribe(&'a [String]),
}

impl HubArgs {
    /// The full hub URL.
    pub fn url(&self) -> anyhow::Result<url::Url> {
        let text = self.hub.trim_end_matches('/');
        let full = if text.ends_with(HUB_PATH) {
            text.to_owned()
        } else {
            format!("{text}{HUB_PATH}")
        };
        url::Url::parse(&full).with_context(|| format!("invalid hub URL {:?}", self.hub))
    }

    /// The token to send: given, read from a file, or minted from the configured key.
    /// `None` only for a subscriber when no subscriber key is configured (anonymous).
    pub fn token(&self, role: &Role<'_>) -> anyhow::Result<Option<String>> {
        if let Some(token) = self.token.as_deref().filter(|t| !t.trim().is_empty()) {
            return Ok(Some(token.trim().to_owned()));
        }
        if let Some(path) = &self.token_file {
            return read_secret_file(path).map(|t| Some(t.trim().to_owned()));
        }
        let config = Config::load(self.config.as_deref()).context("configuration")?;
        match role {
            Role::Publish(topics) => {
                let key = config
                    .publisher_jwt_key
                    .as_deref()
                    .filter(|k| !k.is_empty());
                let key = key.context(
                    "no token: give --token, --token-file or QUICKSILVER_TOKEN, or configure publisher_jwt_key",
                )?;
                mint(key, &config.publisher_jwt_alg, Some(topics), None).map(Some)
            }
            Role::Subscribe(selectors) => {
                match config
                    .subscriber_jwt_key
                    .as_deref()
                    .filter(|k| !k.is_empty())
                {
                    Some(key) => {
                        mint(key, &config.subscriber_jwt_alg, None, Some(selectors)).map(Some)
                    }
                    None => Ok(None),
                }
            }
        }
    }
}

/// A current-thread runtime for one command.
pub(super) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")
}

/// An HTTP client for the hub.
pub(super) fn http_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(concat!("quicksilver-cli/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(std::time::Duration::from_secs(10))
        .build()
        .context("creating the HTTP client")
}
