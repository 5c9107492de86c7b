use super::*;

fn load(toml_text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let mut table: toml::Table = toml_text.parse().expect("toml");
    apply_environment(&mut table, |name| {
        env.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
    })?;
    Config::from_table(table)
}

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
}

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
fn unknown_keys_and_bad_values_are_errors() {
    assert!(load("lisen = 'x'", &[]).is_err());
    assert!(load("heartbeat = 'soon'", &[]).is_err());
    assert!(load("transport = 'carrier-pigeon'", &[]).is_err());
    assert!(load("", &[("QUICKSILVER_ANONYMOUS", "perhaps")]).is_err());
    assert!(load("max_request_body_size = 1024", &[]).is_ok());
}

#[test]
fn every_key_can_be_set_from_the_environment() {
    for (key, kind) in KEYS {
        let sample = match (kind, *key) {
            (Kind::Bool, _) => "false",
            (Kind::Integer, _) => "7",
            (Kind::List, _) => "https://a.example.com",
            (_, "heartbeat" | "write_timeout" | "history_max_age") => "5s",
            (_, "max_request_body_size" | "sled_cache_size") => "1KB",
            (_, "durability") => "periodic",
            (_, "transport") => "memory",
            _ => "value",
        };
        let name = env_name(key);
        load("", &[(name.as_str(), sample)]).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}
