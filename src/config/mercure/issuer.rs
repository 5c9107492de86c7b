//! The reference 1.0 image's `issuer <id> { … }` block of `MERCURE_EXTRA_DIRECTIVES`, as one
//! `[[issuer]]` table (docs/configuration-layers.md has the mapping):
//!
//! ```text
//! issuer https://auth.example.com {      id = "https://auth.example.com"
//!     authorization_server               authorization_server = true
//!     publisher {
//!         jwt <key> [alg]                publisher_jwt_key, publisher_jwt_alg
//!     }
//!     subscriber {
//!         jwks_uri <url> [alg]           subscriber_jwks_url, subscriber_jwt_alg
//!     }
//! }
//! ```

use toml::{Table, Value};

use super::Directive;

/// An error and the line it is on.
pub(super) type LineError = (usize, String);

/// The `[[issuer]]` table of an `issuer` directive.
pub(super) fn table(issuer: &Directive) -> Result<Value, LineError> {
    let at = |message: &str| (issuer.line, message.to_owned());
    let [id] = issuer.args.as_slice() else {
        return Err(at("expects exactly one issuer id (the tokens' `iss`)"));
    };
    let mut table = Table::new();
    table.insert("id".into(), Value::String(id.clone()));
    for entry in issuer.block.iter().flatten() {
        let error = |message: String| (entry.line, format!("{}: {message}", entry.name));
        match entry.name.as_str() {
            "authorization_server" if entry.args.is_empty() && entry.block.is_none() => {
                table.insert("authorization_server".into(), Value::Boolean(true));
            }
            "authorization_server" => return Err(error("takes no value".into())),
            role @ ("publisher" | "subscriber") => {
                if table.keys().any(|key| key.starts_with(role)) {
                    return Err(error("is given twice".into()));
                }
                verifier(role, entry, &mut table)?;
            }
            _ => {
                return Err(error(
                    "unknown issuer directive (use authorization_server, publisher or subscriber)"
                        .into(),
                ))
            }
        }
    }
    Ok(Value::Table(table))
}

/// One role's `{ jwt <key> [alg] }` or `{ jwks_uri <url> [alg] }` block.
fn verifier(role: &str, block: &Directive, table: &mut Table) -> Result<(), LineError> {
    let entries = match (&block.block, block.args.is_empty()) {
        (Some(entries), true) => entries,
        _ => {
            return Err((
                block.line,
                format!(
                    "{role}: expects a block {{ jwt <key> [alg] }} or {{ jwks_uri <url> [alg] }}"
                ),
            ))
        }
    };
    let mut text = |name: &str, value: &str| {
        table.insert(format!("{role}_{name}"), Value::String(value.to_owned()));
    };
    let [entry] = entries.as_slice() else {
        return Err((
            block.line,
            format!(
                "{role}: expects exactly one of jwt and jwks_uri (they are mutually exclusive)"
            ),
        ));
    };
    let error = |message: &str| (entry.line, format!("{role}: {}: {message}", entry.name));
    if entry.block.is_some() {
        return Err(error("takes no block"));
    }
    match (entry.name.as_str(), entry.args.as_slice()) {
        ("jwt", [key]) => text("jwt_key", key),
        ("jwt", [key, alg]) => {
            text("jwt_key", key);
            text("jwt_alg", alg);
        }
        ("jwt", _) => return Err(error("expects a key and an optional algorithm")),
        ("jwks_uri", [url]) => text("jwks_url", url),
        ("jwks_uri", [url, alg]) => {
            text("jwks_url", url);
            text("jwt_alg", alg);
        }
        ("jwks_uri", _) => {
            return Err(error(
                "expects a URL and at most one algorithm (Quicksilver pins one algorithm per JWK Set, or allows the asymmetric ones)",
            ))
        }
        _ => return Err(error("unknown verifier directive (use jwt or jwks_uri)")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::caddyfile;
    use super::*;

    fn issuer(text: &str) -> Result<Value, LineError> {
        let parsed = caddyfile::parse(text).expect("syntax");
        table(&parsed[0])
    }

    /// C-ENV-2: the reference 1.0 names map onto the `[[issuer]]` keys.
    #[test]
    fn reference_blocks_map_to_issuer_tables() {
        let value = issuer(
            "issuer https://auth.example.com {\n authorization_server\n publisher {\n  jwt \"s e c\" HS512\n }\n subscriber {\n  jwks_uri https://auth.example.com/jwks.json ES256\n }\n}",
        )
        .expect("valid");
        let expected: Value = toml::from_str::<Table>(
            r#"id = "https://auth.example.com"
authorization_server = true
publisher_jwt_key = "s e c"
publisher_jwt_alg = "HS512"
subscriber_jwks_url = "https://auth.example.com/jwks.json"
subscriber_jwt_alg = "ES256""#,
        )
        .map(Value::Table)
        .expect("toml");
        assert_eq!(value, expected);
        let bare = issuer("issuer https://a {\n subscriber {\n  jwt k\n }\n}").expect("valid");
        assert_eq!(
            bare.get("subscriber_jwt_key").and_then(Value::as_str),
            Some("k")
        );
        assert_eq!(bare.get("subscriber_jwt_alg"), None);
    }

    /// C-ENV-4: each mistake names its line and what to fix.
    #[test]
    fn mistakes_name_their_line() {
        for (text, line, message) in [
            ("issuer", 1, "exactly one issuer id"),
            ("issuer a b", 1, "exactly one issuer id"),
            (
                "issuer a {\n audience x\n}",
                2,
                "audience: unknown issuer directive",
            ),
            (
                "issuer a {\n authorization_server yes\n}",
                2,
                "takes no value",
            ),
            ("issuer a {\n publisher\n}", 2, "expects a block"),
            (
                "issuer a {\n publisher x {\n jwt k\n }\n}",
                2,
                "expects a block",
            ),
            (
                "issuer a {\n publisher {\n }\n}",
                2,
                "exactly one of jwt and jwks_uri",
            ),
            (
                "issuer a {\n publisher {\n  jwt k\n  jwks_uri https://x\n }\n}",
                2,
                "mutually exclusive",
            ),
            (
                "issuer a {\n publisher {\n  jwt\n }\n}",
                3,
                "jwt: expects a key",
            ),
            (
                "issuer a {\n publisher {\n  jwks_uri https://x RS256 ES256\n }\n}",
                3,
                "at most one algorithm",
            ),
            (
                "issuer a {\n publisher {\n  key k\n }\n}",
                3,
                "unknown verifier directive",
            ),
            (
                "issuer a {\n publisher {\n  jwt k\n }\n publisher {\n  jwt k\n }\n}",
                5,
                "given twice",
            ),
        ] {
            let (at, error) = issuer(text).expect_err(text);
            assert_eq!(at, line, "{text:?}: {error}");
            assert!(error.contains(message), "{text:?}: {error}");
        }
    }
}
