//! The effective configuration as TOML, secrets masked (`quicksilver config check`).

use super::{Config, KEYS};

/// protocol.md C-ENV-3, as the settings apply it.
const PLAYGROUND: &str =
    "# playground = true also turns on demo, ui, anonymous and subscriptions, and \
     makes an empty cors_origins or publish_origins [\"*\"] (development mode)\n";

impl Config {
    /// Every key in `KEYS` order, one `key = value` line each; keys without a value are shown
    /// as comments and the JWT keys as `"***"`. What `playground` turns on besides is said in a
    /// comment, the keys keeping the values written.
    pub fn to_masked_toml(&self) -> String {
        let mut text: String = KEYS
            .iter()
            .map(|(key, _)| match self.value_of(key) {
                Some(value) => format!("{key} = {value}\n"),
                None => format!("# {key} is not set\n"),
            })
            .collect();
        if self.playground {
            text.push_str(PLAYGROUND);
        }
        text
    }
}
