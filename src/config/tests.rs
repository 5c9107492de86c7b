//! The layers' precedence, the errors' locations, and the documented defaults.

use super::*;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Writes `toml_text` to a fresh file and loads it with `env` as the whole environment.
pub(super) fn load_full(toml_text: &str, env: &[(&str, &str)]) -> Result<Loaded, ConfigError> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!(
        "quicksilver-config-test-{}-{}.toml",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, toml_text).expect("write the test file");
    let lookup = |name: &str| {
        env.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
    };
    let loaded = Config::load_layers(Some(&path), &lookup);
    let _ = std::fs::remove_file(&path);
    loaded
}

pub(super) fn load(toml_text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    load_full(toml_text, env).map(|loaded| loaded.config)
}

pub(super) fn error(toml_text: &str, env: &[(&str, &str)]) -> String {
    match load(toml_text, env) {
        Ok(config) => panic!("expected an error, got {config:?}"),
        Err(error) => error.to_string(),
    }
}

// --- layer 1: built-in defaults ---

#[test]
fn defaults_are_documented_values() {
    let config = load("", &[]).expect("defaults");
    assert_eq!(config.listen, "127.0.0.1:3000");
    assert_eq!(config.heartbeat, Duration::from_secs(40));
    assert_eq!(config.write_timeout, Duration::from_secs(600));
    assert_eq!(config.max_request_body_size, 1 << 20);
    assert_eq!(config.cookie_name, "mercureAuthorization");
    assert!(!config.anonymous);
    assert_eq!(config.history_size, 1_000_000);
    assert_eq!(config.publisher_jwt_key, None);
    assert_eq!(config.publisher_jwks_url, None);
}

// --- layer 2: the file ---

#[test]
fn the_file_overrides_defaults() {
    let config = load(
        "listen = '0.0.0.0:1'\nheartbeat = '5s'\ncors_origins = ['https://a.com']",
        &[],
    )
    .expect("config");
    assert_eq!(config.listen, "0.0.0.0:1");
    assert_eq!(config.heartbeat, Duration::from_secs(5));
    assert_eq!(config.cors_origins, ["https://a.com"]);
}

#[test]
fn file_errors_name_the_file_line_and_key() {
    let message = error("listen = 'x'\n\nlisen = 'y'\n", &[]);
    assert!(
        message.contains(".toml:3: key `lisen`: unknown key"),
        "{message}"
    );
    let message = error("anonymous = true\nheartbeat = 'soon'\n", &[]);
    assert!(
        message.contains(":2: key `heartbeat`: invalid duration"),
        "{message}"
    );
    let message = error("anonymous = true\ntransport = 'carrier-pigeon'\n", &[]);
    assert!(message.contains(":2: key `transport`"), "{message}");
    let message = error("anonymous = \n", &[]);
    assert!(message.contains(".toml:1: "), "{message}");
    assert!(load("max_request_body_size = 1024", &[]).is_ok());
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let missing = Path::new("/nonexistent/quicksilver.toml");
    let message = Config::load_layers(Some(missing), &|_| None)
        .expect_err("missing")
        .to_string();
    assert!(
        message.contains("/nonexistent/quicksilver.toml"),
        "{message}"
    );
}

// --- layer 3: the reference image's variables ---

#[test]
fn mercure_variables_set_the_keys() {
    let config = load(
        "publisher_jwt_key = 'from-file'",
        &[
            ("MERCURE_PUBLISHER_JWT_KEY", "pub"),
            ("MERCURE_PUBLISHER_JWT_ALG", "HS512"),
            ("MERCURE_SUBSCRIBER_JWT_KEY", "sub"),
            ("MERCURE_SUBSCRIBER_JWT_ALG", "HS384"),
            ("SERVER_NAME", ":8080"),
            ("MERCURE_TRANSPORT_URL", "bolt:///tmp/qs?size=10"),
        ],
    )
    .expect("config");
    assert_eq!(config.publisher_jwt_key.as_deref(), Some("pub"));
    assert_eq!(config.publisher_jwt_alg, "HS512");
    assert_eq!(config.subscriber_jwt_key.as_deref(), Some("sub"));
    assert_eq!(config.subscriber_jwt_alg, "HS384");
    assert_eq!(config.listen, "0.0.0.0:8080");
    assert_eq!(config.transport, Transport::Sled);
    assert_eq!(config.data_dir, PathBuf::from("/tmp/qs"));
    assert_eq!(config.history_size, 10);
}

#[test]
fn extra_directives_map_onto_keys() {
    let directives = "anonymous\n  cors_origins https://a.com https://b.com\n\
        publish_origins *\ncookie_name token\nheartbeat 15s\nwrite_timeout 0s\n\
        max_request_body_size 2KiB\nsubscriber_jwt sub-key HS512\n\
        # a comment\n\npublisher_jwks_url file:///etc/jwks.json\n\
        topic_selector_cache 1000\ntransport_url local://local\n";
    let loaded = load_full(
        "",
        &[
            ("MERCURE_PUBLISHER_JWT_KEY", "env-key"),
            ("MERCURE_EXTRA_DIRECTIVES", directives),
        ],
    )
    .expect("config");
    let config = loaded.config;
    assert!(config.anonymous);
    assert_eq!(config.cors_origins, ["https://a.com", "https://b.com"]);
    assert_eq!(config.publish_origins, ["*"]);
    assert_eq!(config.cookie_name, "token");
    assert_eq!(config.heartbeat, Duration::from_secs(15));
    assert_eq!(config.write_timeout, Duration::ZERO);
    assert_eq!(config.max_request_body_size, 2048);
    assert_eq!(config.subscriber_jwt_key.as_deref(), Some("sub-key"));
    assert_eq!(config.subscriber_jwt_alg, "HS512");
    assert_eq!(config.publisher_jwt_key.as_deref(), Some("env-key"));
    assert_eq!(
        config.publisher_jwks_url.as_deref(),
        Some("file:///etc/jwks.json")
    );
    assert_eq!(config.transport, Transport::Memory);
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    assert!(loaded.warnings[0].contains("topic_selector_cache"));
}

#[test]
fn extra_directive_errors_name_the_line_and_directive() {
    let env = |text: &'static str| [("MERCURE_EXTRA_DIRECTIVES", text)];
    let message = error("", &env("anonymous\nfrobnicate on\n"));
    assert_eq!(
        message,
        "MERCURE_EXTRA_DIRECTIVES line 2: frobnicate: unknown directive"
    );
    let message = error("", &env("name other"));
    assert!(
        message.contains("name: not supported by Quicksilver yet"),
        "{message}"
    );
    let message = error("", &env("heartbeat soon"));
    assert!(
        message.starts_with("MERCURE_EXTRA_DIRECTIVES line 1: heartbeat: invalid duration"),
        "{message}"
    );
    let message = error("", &[("SERVER_NAME", "example.com")]);
    assert!(message.starts_with("SERVER_NAME: "), "{message}");
}

#[test]
fn caddy_only_variables_are_ignored_with_a_warning() {
    let loaded =
        load_full("", &[("GLOBAL_OPTIONS", "debug"), ("MERCURE_LICENSE", "x")]).expect("config");
    assert_eq!(loaded.warnings.len(), 2, "{:?}", loaded.warnings);
}

// --- layer 4: QUICKSILVER_* variables ---

#[test]
fn environment_overrides_the_file() {
    let config = load(
        "listen = '0.0.0.0:1'\nanonymous = false\ncors_origins = ['https://a.com']",
        &[
            ("QUICKSILVER_LISTEN", "127.0.0.1:9"),
            ("QUICKSILVER_ANONYMOUS", "true"),
            ("QUICKSILVER_CORS_ORIGINS", "https://b.com  https://c.com"),
            ("QUICKSILVER_HEARTBEAT", "250ms"),
            ("QUICKSILVER_MAX_REQUEST_BODY_SIZE", "2KiB"),
            ("QUICKSILVER_SUBSCRIBER_QUEUE_SIZE", "5"),
        ],
    )
    .expect("config");
    assert_eq!(config.listen, "127.0.0.1:9");
    assert!(config.anonymous);
    assert_eq!(config.cors_origins, ["https://b.com", "https://c.com"]);
    assert_eq!(config.heartbeat, Duration::from_millis(250));
    assert_eq!(config.max_request_body_size, 2048);
    assert_eq!(config.subscriber_queue_size, 5);
}

#[test]
fn quicksilver_variables_beat_mercure_ones() {
    let config = load(
        "",
        &[
            ("MERCURE_PUBLISHER_JWT_KEY", "mercure"),
            ("QUICKSILVER_PUBLISHER_JWT_KEY", "quicksilver"),
            ("MERCURE_EXTRA_DIRECTIVES", "heartbeat 1s"),
            ("QUICKSILVER_HEARTBEAT", "2s"),
            ("SERVER_NAME", ":80"),
            ("QUICKSILVER_LISTEN", "127.0.0.1:81"),
        ],
    )
    .expect("config");
    assert_eq!(config.publisher_jwt_key.as_deref(), Some("quicksilver"));
    assert_eq!(config.heartbeat, Duration::from_secs(2));
    assert_eq!(config.listen, "127.0.0.1:81");
}

#[test]
fn environment_errors_name_the_variable() {
    assert_eq!(
        error("", &[("QUICKSILVER_ANONYMOUS", "perhaps")]),
        "QUICKSILVER_ANONYMOUS: expected true or false, got \"perhaps\""
    );
    let message = error("", &[("QUICKSILVER_HEARTBEAT", "soon")]);
    assert!(
        message.starts_with("QUICKSILVER_HEARTBEAT: heartbeat: invalid duration"),
        "{message}"
    );
    let message = error("", &[("QUICKSILVER_HISTORY_SIZE", "-1")]);
    assert!(
        message.starts_with("QUICKSILVER_HISTORY_SIZE: "),
        "{message}"
    );
}

#[test]
fn every_key_can_be_set_from_the_environment() {
    for (key, kind) in KEYS {
        let sample = match (kind, *key) {
            (Kind::Bool, _) => "false",
            (Kind::Integer, _) => "7",
            (Kind::List, _) => "https://a.example.com",
            (Kind::Tables, _) => r#"[{"id": "https://a.example.com", "publisher_jwt_key": "k"}]"#,
            (_, "heartbeat" | "write_timeout" | "history_max_age") => "5s",
            (_, "dispatch_timeout" | "shutdown_timeout" | "request_timeout") => "5s",
            (_, "batch_window") => "5ms",
            (_, "log_format") => "json",
            (_, "max_request_body_size" | "sled_cache_size" | "max_selectors_size") => "1KB",
            (_, "compression_min_size") => "1KB",
            (_, "compression") => "auto",
            (_, "durability") => "periodic",
            (_, "transport") => "memory",
            _ => "value",
        };
        let name = env_name(key);
        load("", &[(name.as_str(), sample)]).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn max_selectors_size_is_a_size() {
    let size =
        |toml: &str, env: &[(&str, &str)]| load(toml, env).expect("config").max_selectors_size;
    assert_eq!(size("", &[]), 1 << 20);
    assert_eq!(size("max_selectors_size = '512KB'", &[]), 512_000);
    assert_eq!(size("max_selectors_size = 4096", &[]), 4096);
    assert_eq!(size("", &[("QUICKSILVER_MAX_SELECTORS_SIZE", "0")]), 0);
    let message = error("max_selectors_size = 'lots'", &[]);
    assert!(message.contains("key `max_selectors_size`"), "{message}");
}

// --- layer 5: command-line flags ---

#[test]
fn flags_override_everything() {
    let mut config = load(
        "listen = '0.0.0.0:1'\ntransport = 'sled'",
        &[("QUICKSILVER_LISTEN", "127.0.0.1:2")],
    )
    .expect("config");
    config.apply_overrides(&Overrides::default());
    assert_eq!(config.listen, "127.0.0.1:2");
    config.apply_overrides(&Overrides {
        listen: Some("127.0.0.1:3".into()),
        transport: Some(Transport::Memory),
    });
    assert_eq!(config.listen, "127.0.0.1:3");
    assert_eq!(config.transport, Transport::Memory);
}

// --- the effective configuration ---

#[test]
fn masked_output_hides_secrets_and_parses_back() {
    let config = load(
        "publisher_jwt_key = 'secret-one'\nheartbeat = '15s'\ncors_origins = ['*']",
        &[("QUICKSILVER_SUBSCRIBER_JWT_KEY", "secret-two")],
    )
    .expect("config");
    let text = config.to_masked_toml();
    assert!(
        !text.contains("secret-one") && !text.contains("secret-two"),
        "{text}"
    );
    assert!(text.contains("publisher_jwt_key = \"***\""), "{text}");
    assert!(text.contains("# publisher_jwks_url is not set"), "{text}");
    let again: Config = toml::from_str(&text).expect("the output is a valid configuration");
    assert_eq!(again.heartbeat, config.heartbeat);
    assert_eq!(again.cors_origins, config.cors_origins);
    assert_eq!(again.history_max_age, config.history_max_age);
    for (key, _) in KEYS {
        assert!(
            text.contains(&format!("{key} ")),
            "{key} missing from\n{text}"
        );
    }
}

// --- the key list, the documentation and the shipped file ---

/// The keys `Config` accepts, read from serde's "unknown field" message.
fn config_fields() -> Vec<String> {
    let error = toml::from_str::<Config>("__no_such_key__ = 1").expect_err("unknown key");
    let message = error.message().to_owned();
    let list = message
        .split_once("expected one of ")
        .map(|(_, list)| list)
        .unwrap_or_else(|| panic!("unexpected message: {message}"));
    list.split(", ")
        .map(|field| field.trim().trim_matches('`').to_owned())
        .collect()
}

#[test]
fn keys_list_every_config_field() {
    let mut fields = config_fields();
    let mut keys: Vec<String> = KEYS.iter().map(|(key, _)| key.to_string()).collect();
    fields.sort();
    keys.sort();
    assert_eq!(fields, keys, "KEYS and the Config struct disagree");
}

#[test]
fn the_shipped_config_toml_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
    let loaded =
        Config::load_layers(Some(&path), &|_| None).unwrap_or_else(|e| panic!("config.toml: {e}"));
    assert!(loaded.config.uses_development_key());
}
