//! The reference Docker image's variables (protocol.md C-ENV-1, C-ENV-2), mapped onto keys.
//! They form a layer between the file and the `QUICKSILVER_*` variables, which win.

mod issuer;

use super::caddyfile::{self, Directive};
use super::layers::{env_value, Setting};
use super::{ConfigError, Kind, Lookup};

/// The variables read one-to-one, and how their text is read.
const DIRECT: &[(&str, &str, Kind)] = &[
    ("MERCURE_PUBLISHER_JWT_KEY", "publisher_jwt_key", Kind::Text),
    ("MERCURE_PUBLISHER_JWT_ALG", "publisher_jwt_alg", Kind::Text),
    (
        "MERCURE_SUBSCRIBER_JWT_KEY",
        "subscriber_jwt_key",
        Kind::Text,
    ),
    (
        "MERCURE_SUBSCRIBER_JWT_ALG",
        "subscriber_jwt_alg",
        Kind::Text,
    ),
    // The issuer id the reference 1.0 image binds to the keys above; a list here.
    ("MERCURE_TRUSTED_ISSUERS", "trusted_issuers", Kind::List),
    // Documented by some versions of the reference 1.0 image.
    (
        "MERCURE_RESOURCE_IDENTIFIER",
        "resource_identifier",
        Kind::Text,
    ),
];

/// Caddy-specific variables: accepted, ignored with a warning.
const IGNORED: &[&str] = &[
    "GLOBAL_OPTIONS",
    "CADDY_EXTRA_CONFIG",
    "CADDY_SERVER_EXTRA_DIRECTIVES",
    "MERCURE_LICENSE",
];

/// Directives accepted as no-ops with a warning (C-ENV-2; `topic_matcher_cache` is the
/// reference 1.0 name of `topic_selector_cache`).
const NO_OP_DIRECTIVES: &[&str] = &[
    "topic_selector_cache",
    "topic_matcher_cache",
    "subscriber_list_cache_size",
    "protocol_version_compatibility",
];

/// Directives of the reference hub that have no Quicksilver equivalent yet.
const UNSUPPORTED_DIRECTIVES: &[&str] = &["name"];

/// The settings given by the image's variables, in application order.
pub(super) fn overlay(
    env: &Lookup<'_>,
    warnings: &mut Vec<String>,
) -> Result<Vec<Setting>, ConfigError> {
    let set = |name: &str| env(name).filter(|value| !value.trim().is_empty());
    let mut settings = Vec::new();
    if let Some(value) = set("SERVER_NAME") {
        settings.push(server_name(&value).map_err(|message| env_error("SERVER_NAME", message))?);
    }
    if let Some(value) = set("MERCURE_TRANSPORT_URL") {
        settings.extend(
            transport_url(&value, "MERCURE_TRANSPORT_URL")
                .map_err(|message| env_error("MERCURE_TRANSPORT_URL", message))?,
        );
    }
    for (variable, key, kind) in DIRECT {
        if let Some(value) = set(variable) {
            let value = env_value(*kind, &value).map_err(|message| env_error(variable, message))?;
            settings.push(Setting {
                key,
                value,
                origin: (*variable).to_owned(),
            });
        }
    }
    if let Some(value) = set("MERCURE_EXTRA_DIRECTIVES") {
        settings.extend(extra_directives(&value, warnings)?);
    }
    for variable in IGNORED {
        if set(variable).is_some() {
            warnings.push(format!(
                "{variable} is specific to the reference hub's Caddy image and is ignored"
            ));
        }
    }
    Ok(settings)
}

fn env_error(variable: &str, message: String) -> ConfigError {
    ConfigError::Env {
        variable: variable.to_owned(),
        message,
    }
}

/// `:PORT` or `http://HOST[:PORT]` → listen on every interface on that port, as Caddy does.
fn server_name(value: &str) -> Result<Setting, String> {
    let names: Vec<&str> = value
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|name| !name.is_empty())
        .collect();
    let [name] = names.as_slice() else {
        return Err(format!(
            "{value:?} lists several addresses; give one, e.g. :3000 or http://example.com:3000"
        ));
    };
    let port = if let Some(port) = name.strip_prefix(':') {
        port
    } else if let Some(rest) = name.strip_prefix("http://") {
        plain_http_port(rest)?
    } else {
        return Err(format!(
            "{name:?} asks for TLS, which Quicksilver does not terminate: use :PORT or \
             http://HOST:PORT and put a TLS proxy in front"
        ));
    };
    let port: u16 = port
        .parse()
        .map_err(|_| format!("invalid port {port:?} in {name:?}"))?;
    Ok(Setting::text(
        "listen",
        &format!("0.0.0.0:{port}"),
        "SERVER_NAME",
    ))
}

/// The port of `HOST[:PORT][/]` (default 80).
fn plain_http_port(rest: &str) -> Result<&str, String> {
    let authority = rest.trim_end_matches('/');
    if authority.contains('/') {
        return Err(format!(
            "http://{rest} has a path; give only http://HOST:PORT"
        ));
    }
    if authority.ends_with(']') {
        return Ok("80");
    }
    Ok(authority.rsplit_once(':').map_or("80", |(_, port)| port))
}

/// `bolt://PATH?size=N` → the persistent store in PATH, keeping N events; `local://local` →
/// memory only.
fn transport_url(dsn: &str, origin: &str) -> Result<Vec<Setting>, String> {
    let url = url::Url::parse(dsn.trim()).map_err(|e| format!("invalid URL {dsn:?}: {e}"))?;
    match url.scheme() {
        "local" => Ok(vec![Setting::text("transport", "memory", origin)]),
        "bolt" => bolt(&url, origin),
        other => Err(format!(
            "unsupported transport {other:?}: use bolt://PATH?size=N or local://local"
        )),
    }
}

fn bolt(url: &url::Url, origin: &str) -> Result<Vec<Setting>, String> {
    let path = format!("{}{}", url.host_str().unwrap_or_default(), url.path());
    if path.is_empty() {
        return Err("bolt:// needs a path, e.g. bolt:///data/mercure.db".into());
    }
    let mut settings = vec![
        Setting::text("transport", "sled", origin),
        Setting::text("data_dir", &path, origin),
    ];
    for (name, value) in url.query_pairs() {
        match name.as_ref() {
            "size" => settings.push(Setting {
                key: "history_size",
                value: env_value(Kind::Integer, &value)
                    .map_err(|message| format!("size: {message}"))?,
                origin: origin.to_owned(),
            }),
            "cleanup_frequency" => {}
            other => return Err(format!("unknown bolt option {other:?}")),
        }
    }
    Ok(settings)
}

/// `MERCURE_EXTRA_DIRECTIVES`: Caddyfile directives, one per line, `issuer` with a block. The
/// `issuer` blocks together give the `issuer` key (they replace the file's `[[issuer]]`s, as
/// every layer replaces the one below).
fn extra_directives(text: &str, warnings: &mut Vec<String>) -> Result<Vec<Setting>, ConfigError> {
    const VARIABLE: &str = "MERCURE_EXTRA_DIRECTIVES";
    let origin = |line: usize| format!("{VARIABLE} line {line}");
    let directives = caddyfile::parse(text).map_err(|e| env_error(&origin(e.line), e.message))?;
    let mut settings = Vec::new();
    let mut issuers = Vec::new();
    for directive in &directives {
        let at = origin(directive.line);
        if directive.name == "issuer" {
            let table = issuer::table(directive).map_err(|(line, message)| {
                env_error(&origin(line), format!("issuer: {message}"))
            })?;
            issuers.push(table);
            continue;
        }
        if directive.block.is_some() {
            return Err(env_error(
                &at,
                format!("{}: takes no block", directive.name),
            ));
        }
        let mut found = simple_directive(&directive.name, &directive.args, &at, warnings)
            .map_err(|message| env_error(&at, format!("{}: {message}", directive.name)))?;
        settings.append(&mut found);
    }
    if let Some(first) = directives.iter().find(|d| d.name == "issuer") {
        settings.push(Setting {
            key: "issuer",
            value: toml::Value::Array(issuers),
            origin: origin(first.line),
        });
    }
    Ok(settings)
}

/// A directive without a block.
fn simple_directive(
    name: &str,
    args: &[String],
    origin: &str,
    warnings: &mut Vec<String>,
) -> Result<Vec<Setting>, String> {
    let one = |key: &'static str| match args {
        [value] => Ok(vec![Setting::text(key, value, origin)]),
        _ => Err("expects exactly one value".to_owned()),
    };
    let flag = |key: &'static str| match args {
        [] => Ok(vec![Setting {
            key,
            value: toml::Value::Boolean(true),
            origin: origin.to_owned(),
        }]),
        _ => Err("takes no value".to_owned()),
    };
    match name {
        "anonymous" => flag("anonymous"),
        "subscriptions" => flag("subscriptions"),
        "ui" => flag("ui"),
        "debugger" => flag("debugger"),
        "demo" => flag("demo"),
        "playground" => flag("playground"),
        "cors_origins" => list("cors_origins", args, origin),
        "publish_origins" => list("publish_origins", args, origin),
        "public_urls" => list("public_urls", args, origin),
        "cookie_name" => one("cookie_name"),
        "heartbeat" => one("heartbeat"),
        "write_timeout" => one("write_timeout"),
        "dispatch_timeout" => one("dispatch_timeout"),
        "max_request_body_size" => one("max_request_body_size"),
        "publisher_jwks_url" => one("publisher_jwks_url"),
        "subscriber_jwks_url" => one("subscriber_jwks_url"),
        "resource_identifier" => one("resource_identifier"),
        "publisher_jwt" => jwt("publisher_jwt_key", "publisher_jwt_alg", args, origin),
        "subscriber_jwt" => jwt("subscriber_jwt_key", "subscriber_jwt_alg", args, origin),
        "transport_url" => match args {
            [dsn] => transport_url(dsn, origin),
            _ => Err("expects exactly one URL".to_owned()),
        },
        _ if NO_OP_DIRECTIVES.contains(&name) => {
            warnings.push(format!("{origin}: {name} has no effect in Quicksilver"));
            Ok(Vec::new())
        }
        _ if UNSUPPORTED_DIRECTIVES.contains(&name) => {
            Err("not supported by Quicksilver yet".to_owned())
        }
        _ => Err("unknown directive".to_owned()),
    }
}

fn list(key: &'static str, args: &[String], origin: &str) -> Result<Vec<Setting>, String> {
    if args.is_empty() {
        return Err("expects at least one origin".to_owned());
    }
    Ok(vec![Setting {
        key,
        value: toml::Value::Array(args.iter().cloned().map(toml::Value::String).collect()),
        origin: origin.to_owned(),
    }])
}

fn jwt(
    key_name: &'static str,
    alg_name: &'static str,
    args: &[String],
    origin: &str,
) -> Result<Vec<Setting>, String> {
    match args {
        [key] => Ok(vec![Setting::text(key_name, key, origin)]),
        [key, alg] => Ok(vec![
            Setting::text(key_name, key, origin),
            Setting::text(alg_name, alg, origin),
        ]),
        _ => Err("expects a key and an optional algorithm".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_name_forms() {
        let listen = |v: &str| server_name(v).map(|s| s.value.as_str().map(str::to_owned));
        assert_eq!(listen(":8080"), Ok(Some("0.0.0.0:8080".into())));
        assert_eq!(
            listen("http://example.com:81"),
            Ok(Some("0.0.0.0:81".into()))
        );
        assert_eq!(listen("http://example.com"), Ok(Some("0.0.0.0:80".into())));
        assert!(listen("localhost").is_err());
        assert!(listen("https://example.com").is_err());
        assert!(listen(":80, :81").is_err());
        assert!(listen(":http").is_err());
        assert_eq!(listen("http://[::1]:82"), Ok(Some("0.0.0.0:82".into())));
        assert_eq!(listen("http://[::1]"), Ok(Some("0.0.0.0:80".into())));
    }

    #[test]
    fn transport_urls() {
        let settings = transport_url(
            "bolt:///data/mercure.db?size=100&cleanup_frequency=0.3",
            "T",
        )
        .expect("bolt");
        let pairs: Vec<(&str, String)> = settings
            .iter()
            .map(|s| (s.key, s.value.to_string()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("transport", "\"sled\"".to_string()),
                ("data_dir", "\"/data/mercure.db\"".to_string()),
                ("history_size", "100".to_string()),
            ]
        );
        let local = transport_url("local://local", "T").expect("local");
        assert_eq!(local[0].value.as_str(), Some("memory"));
        assert!(transport_url("redis://x", "T").is_err());
        assert!(transport_url("bolt://db?size=lots", "T").is_err());
    }
}
