//! The update model, its validation, and its SSE encoding (protocol.md A.4, A.5).

mod frame;
mod sse;

use thiserror::Error;

pub use frame::{Frame, Framing};
pub use sse::encode;

/// Most topics one update may carry (protocol.md A-LIM-2).
pub const MAX_TOPICS: usize = 1000;

/// An update as published: the first topic is canonical, the others are alternates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    pub id: String,
    pub topics: Vec<String>,
    pub data: String,
    pub private: bool,
    pub event_type: Option<String>,
    pub retry: u64,
}

/// An update once accepted: the update plus its SSE frame, encoded once and shared by every
/// subscriber (cloning a [`Frame`] is a reference-count increment), in every view a writer
/// sends ([`encode`]).
#[derive(Debug)]
pub struct Event {
    pub update: Update,
    pub frame: Frame,
}

impl Event {
    pub fn new(update: Update) -> Self {
        let frame = encode(&update);
        Self { update, frame }
    }

    pub fn topics(&self) -> impl Iterator<Item = &str> {
        self.update.topics.iter().map(String::as_str)
    }
}

/// Why the fields of a publish request are refused; the `Display` text is the exact classic
/// response body (protocol.md A-PUB, C-HARD).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum InvalidUpdate {
    #[error("Missing \"topic\" parameter\n")]
    MissingTopic,
    #[error("too many topics in update\n")]
    TooManyTopics,
    #[error("Invalid \"topic\" parameter\n")]
    InvalidTopic,
    #[error("Invalid \"retry\" parameter\n")]
    InvalidRetry,
    #[error("\"id\" field contains a forbidden control character\n")]
    IdControlCharacter,
    #[error("\"id\" field uses the reserved value \"earliest\"\n")]
    IdReserved,
    #[error("\"type\" field contains a forbidden control character\n")]
    TypeControlCharacter,
    #[error("\"type\" field uses the reserved value \"mercure\"\n")]
    TypeReserved,
}

/// `retry`: ASCII digits fitting in a u64; empty = absent (protocol.md A-PUB-9).
pub fn parse_retry(value: Option<&str>) -> Result<u64, InvalidUpdate> {
    match value {
        None | Some("") => Ok(0),
        Some(digits) if digits.bytes().all(|b| b.is_ascii_digit()) => {
            digits.parse().map_err(|_| InvalidUpdate::InvalidRetry)
        }
        Some(_) => Err(InvalidUpdate::InvalidRetry),
    }
}

/// A provided id (protocol.md A-PUB-7, C-HARD-1, C-HARD-5).
pub fn validate_id(id: &str) -> Result<(), InvalidUpdate> {
    if crate::topic::has_control_chars(id) {
        return Err(InvalidUpdate::IdControlCharacter);
    }
    if id == "earliest" {
        return Err(InvalidUpdate::IdReserved);
    }
    Ok(())
}

/// A provided type (protocol.md A-PUB-8, C-HARD-1, C-HARD-5).
pub fn validate_type(event_type: &str) -> Result<(), InvalidUpdate> {
    if crate::topic::has_control_chars(event_type) {
        return Err(InvalidUpdate::TypeControlCharacter);
    }
    if event_type == "mercure" {
        return Err(InvalidUpdate::TypeReserved);
    }
    Ok(())
}

/// A new update id: `urn:uuid:` + a time-ordered UUID v7 (protocol.md C-ID-1).
pub fn generate_id() -> String {
    format!("urn:uuid:{}", uuid::Uuid::now_v7())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_accepts_only_u64_digits() {
        assert_eq!(parse_retry(None), Ok(0));
        assert_eq!(parse_retry(Some("")), Ok(0));
        assert_eq!(parse_retry(Some("0")), Ok(0));
        assert_eq!(parse_retry(Some("18446744073709551615")), Ok(u64::MAX));
        for bad in ["-1", "+1", " 1", "0x10", "18446744073709551616", "1.5"] {
            assert_eq!(
                parse_retry(Some(bad)),
                Err(InvalidUpdate::InvalidRetry),
                "{bad}"
            );
        }
    }

    #[test]
    fn ids_and_types_refuse_controls_and_reserved_values() {
        assert!(validate_id("urn:uuid:x").is_ok());
        assert!(validate_id("#frag").is_ok());
        assert_eq!(validate_id("a\rb"), Err(InvalidUpdate::IdControlCharacter));
        assert_eq!(
            validate_id("a\u{7f}"),
            Err(InvalidUpdate::IdControlCharacter)
        );
        assert_eq!(validate_id("earliest"), Err(InvalidUpdate::IdReserved));
        assert_eq!(
            validate_type("a\tb"),
            Err(InvalidUpdate::TypeControlCharacter)
        );
        assert_eq!(validate_type("mercure"), Err(InvalidUpdate::TypeReserved));
    }

    #[test]
    fn generated_ids_are_uuid_v7_urns() {
        let id = generate_id();
        let uuid = uuid::Uuid::parse_str(id.strip_prefix("urn:uuid:").expect("urn")).expect("uuid");
        assert_eq!(uuid.get_version_num(), 7);
    }
}
