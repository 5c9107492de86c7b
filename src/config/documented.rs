//! docs/configuration.md's table of keys and the shipped config.toml list exactly the settings of
//! the table (`table.rs`), each once, with the built-in default it has.

use std::collections::BTreeSet;
use std::path::Path;

use super::{Config, KEYS};

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

fn defined() -> BTreeSet<&'static str> {
    KEYS.iter().map(|(key, _)| *key).collect()
}

/// `value` (TOML text) read as the value of `key`, as `config check` would show it.
fn shown(key: &str, value: &str) -> Option<toml::Value> {
    toml::from_str::<Config>(&format!("{key} = {value}"))
        .unwrap_or_else(|e| panic!("{key} = {value}: {e}"))
        .value_of(key)
}

/// The rows of the table under `| key | default | meaning |`: key and default column.
fn docs_rows(docs: &str) -> Vec<(String, String)> {
    docs.lines()
        .skip_while(|line| !line.starts_with("| key | default |"))
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let key = cells.get(1).copied().unwrap_or_default().trim_matches('`');
            let default = cells.get(2).copied().unwrap_or_default();
            (key.to_owned(), default.to_owned())
        })
        .collect()
}

/// Each `key = value` line of the file, commented out or not: key, value, commented. A
/// `[[key]]` header lists `key` (an array of tables, with no value of its own); the lines of its
/// table, up to the next blank line, are its keys, not the file's.
fn file_lines(text: &str) -> Vec<(String, String, bool)> {
    let mut in_table = false;
    text.lines()
        .filter_map(|line| {
            let (commented, line) = match line.strip_prefix("# ") {
                Some(rest) => (true, rest),
                None => (false, line),
            };
            if let Some(key) = line.strip_prefix("[[").and_then(|l| l.strip_suffix("]]")) {
                in_table = true;
                return Some((key.to_owned(), String::new(), commented));
            }
            in_table &= !line.trim().is_empty() && line != "#";
            let (key, value) = line.split_once(" = ").filter(|_| !in_table)?;
            let is_key =
                !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
            is_key.then(|| (key.to_owned(), value.to_owned(), commented))
        })
        .collect()
}

fn assert_exactly_once(keys: &[String], source: &str) {
    let listed: BTreeSet<&str> = keys.iter().map(String::as_str).collect();
    assert_eq!(
        listed.len(),
        keys.len(),
        "a key is listed twice in {source}"
    );
    assert_eq!(
        listed,
        defined(),
        "{source} and the settings table disagree"
    );
}

#[test]
fn docs_configuration_md_lists_every_setting_with_its_default() {
    let rows = docs_rows(&read("docs/configuration.md"));
    let keys: Vec<String> = rows.iter().map(|(key, _)| key.clone()).collect();
    assert_exactly_once(&keys, "docs/configuration.md");
    let defaults = Config::default();
    for (key, default) in &rows {
        let expected = defaults.value_of(key);
        match default.strip_prefix('`').and_then(|d| d.split_once('`')) {
            Some((value, _)) => assert_eq!(shown(key, value), expected, "default of {key}"),
            None => assert!(
                default.starts_with("none") && expected.is_none(),
                "{key}: the docs say {default:?}, the built-in default is {expected:?}"
            ),
        }
    }
}

/// The shipped file sets the built-in defaults, but for the development keys and `anonymous`;
/// a key it comments out shows its default, or an example when it has none.
#[test]
fn config_toml_lists_every_setting_with_its_default() {
    const DEVELOPMENT: [&str; 3] = ["publisher_jwt_key", "subscriber_jwt_key", "anonymous"];
    let lines = file_lines(&read("config.toml"));
    let keys: Vec<String> = lines.iter().map(|(key, _, _)| key.clone()).collect();
    assert_exactly_once(&keys, "config.toml");
    let defaults = Config::default();
    for (key, value, commented) in &lines {
        let expected = defaults.value_of(key);
        let example = *commented && expected.is_none();
        if !example && !DEVELOPMENT.contains(&key.as_str()) {
            assert_eq!(shown(key, value), expected, "config.toml: {key}");
        }
    }
}

/// The environment names are the keys in upper case, in the plural for an array of tables
/// (../shared/design.md: `[[issuer]]` and `QUICKSILVER_ISSUERS`).
#[test]
fn the_environment_names_are_the_keys_in_upper_case() {
    for (key, kind) in KEYS {
        let name = super::env_name(key);
        let plural = if *kind == super::Kind::Tables {
            "S"
        } else {
            ""
        };
        assert_eq!(
            name.strip_prefix("QUICKSILVER_"),
            Some(&*format!("{}{plural}", key.to_uppercase()))
        );
    }
    assert_eq!(super::env_name("issuer"), "QUICKSILVER_ISSUERS");
}
