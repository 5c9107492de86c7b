//! The effective configuration as TOML, secrets masked (`quicksilver config check`).

use super::{Config, KEYS};

impl Config {
    /// Every key in `KEYS` order, one `key = value` line each; keys without a value are shown
    /// as comments and the JWT keys as `"***"`.
    pub fn to_masked_toml(&self) -> String {
        KEYS.iter()
            .map(|(key, _)| match self.value_of(key) {
                Some(value) => format!("{key} = {value}\n"),
                None => format!("# {key} is not set\n"),
            })
            .collect()
    }
}
