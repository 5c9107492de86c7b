//! The update model, its validation, and its SSE encoding (protocol.md A.4, A.5).

mod frame;
mod rules;
mod sse;

use thiserror::Error;

pub use frame::{Frame, Framing, GzipMark};

use crate::compress::{CompressedViews, Encoding};
pub use rules::{Rules, HUB_EVENT_TYPE};
pub use sse::encode;

/// Most topics one update may carry (protocol.md A-LIM-2).
pub const MAX_TOPICS: usize = 1000;

/// An update as published: the first topic is canonical, the others are alternates. It can
/// only be built valid, through a [`Draft`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    id: String,
    topics: Vec<String>,
    data: String,
    private: bool,
    event_type: Option<String>,
    retry: u64,
}

impl Update {
    /// The id subscribers see in `id:` and resume from (A-PUB-7, A-SSE-6); never empty.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// At least one, the canonical topic first.
    pub fn topics(&self) -> &[String] {
        &self.topics
    }

    /// The payload, opaque to the hub (A-PUB-5); sent as one `data:` line per line.
    pub fn data(&self) -> &str {
        &self.data
    }

    /// Private updates reach only subscribers granted one of their topics (A-PUB-6, A-AUTH-12).
    pub fn is_private(&self) -> bool {
        self.private
    }

    /// The SSE `event:` field (A-PUB-8); `None` for the default `message` type.
    pub fn event_type(&self) -> Option<&str> {
        self.event_type.as_deref()
    }

    /// The reconnection delay in ms; 0 = none.
    pub fn retry(&self) -> u64 {
        self.retry
    }
}

#[cfg(test)]
impl Update {
    /// A public update of the crate's tests; panics on what a publish would refuse.
    pub(crate) fn example(id: impl Into<String>, topics: &[&str], data: impl Into<String>) -> Self {
        let topics = topics.iter().map(|topic| topic.to_string()).collect();
        Draft::new(topics)
            .and_then(|draft| draft.id(Some(id.into())).data(data.into()).build())
            .expect("a valid example update")
    }
}

/// An update's fields, checked as they are given in the order of protocol.md A-PUB-12 or, under
/// the 1.0 [`Rules`], B-PUB-11 (topics, then `retry`; the rest at [`Draft::build`], after the
/// caller authorized the topics), so that the first failing check is the one answered.
#[derive(Debug, Clone)]
pub struct Draft {
    update: Update,
    rules: Rules,
}

impl Draft {
    /// Steps 4–6 of A-PUB-12 (the classic rules): at least one topic, at most [`MAX_TOPICS`],
    /// none with a control character.
    pub fn new(topics: Vec<String>) -> Result<Self, InvalidUpdate> {
        Self::with_rules(Rules::Classic, topics)
    }

    /// The first checks of `rules` (A-PUB-12 steps 4–6, or B-PUB-11: present, count, B-T-1).
    pub fn with_rules(rules: Rules, topics: Vec<String>) -> Result<Self, InvalidUpdate> {
        rules.check_topics(&topics)?;
        Ok(Self {
            rules,
            update: Update {
                id: String::new(),
                topics,
                data: String::new(),
                private: false,
                event_type: None,
                retry: 0,
            },
        })
    }

    /// Step 7: the `retry` field as sent (see [`parse_retry`]).
    pub fn retry_field(self, value: Option<&str>) -> Result<Self, InvalidUpdate> {
        Ok(self.retry(parse_retry(value)?))
    }

    /// The reconnection delay in ms, already parsed; 0 = none.
    pub fn retry(mut self, retry: u64) -> Self {
        self.update.retry = retry;
        self
    }

    /// The id, checked at [`Draft::build`]; none (or empty) = a new one.
    pub fn id(mut self, id: Option<String>) -> Self {
        self.update.id = id.unwrap_or_default();
        self
    }

    /// The type, checked at [`Draft::build`]; an empty type is sent as none.
    pub fn event_type(mut self, event_type: Option<String>) -> Self {
        self.update.event_type = event_type;
        self
    }

    /// The payload; any text is valid (A-PUB-5).
    pub fn data(mut self, data: String) -> Self {
        self.update.data = data;
        self
    }

    /// Whether the update is private: the field's presence, not its value (A-PUB-6).
    pub fn private(mut self, private: bool) -> Self {
        self.update.private = private;
        self
    }

    /// The topics, for the caller to authorize before [`Draft::build`].
    pub fn topics(&self) -> &[String] {
        &self.update.topics
    }

    /// Step 10 of A-PUB-12: the id and type checked, the id generated when none was given.
    /// Under the 1.0 rules the reserved namespace and `*` come first (B-PUB-11, B-PUB-3).
    pub fn build(mut self) -> Result<Update, InvalidUpdate> {
        self.rules.check_reserved(&self.update.topics)?;
        if self.update.id.is_empty() {
            self.update.id = generate_id();
        } else {
            self.rules.check_id(&self.update.id)?;
        }
        if let Some(event_type) = &self.update.event_type {
            self.rules.check_type(event_type)?;
        }
        Ok(self.update)
    }
}

/// An update once accepted: the update plus its SSE frame, encoded once and shared by every
/// subscriber (cloning a [`Frame`] is a reference-count increment), in every view a writer
/// sends ([`encode`]).
#[derive(Debug)]
pub struct Event {
    /// The update as published.
    pub update: Update,
    /// Its SSE encoding, shared by every subscriber that receives it.
    pub frame: Frame,
    /// The same bytes compressed (issue 21), each encoding made once, when a subscriber first
    /// wants it, and shared like `frame`; one empty word otherwise.
    pub compressed: CompressedViews,
}

impl Event {
    /// Encodes the update once, at acceptance, so fan-out never encodes again.
    pub fn new(update: Update) -> Self {
        let frame = encode(&update);
        Self {
            update,
            frame,
            compressed: CompressedViews::new(),
        }
    }

    /// The event as a frame of a stream in `encoding`, compressed once for every subscriber
    /// (events shorter than `min_size` are stored, not compressed); issue 21.
    pub fn compressed_frame(&self, encoding: Encoding, min_size: usize) -> Frame {
        let record = self.frame.view(Framing::Record);
        match encoding {
            Encoding::Gzip => {
                let gzip = self.compressed.gzip(record, min_size);
                let mark = GzipMark {
                    crc: gzip.crc(),
                    len: gzip.len(),
                };
                Frame::compressed(gzip.frame(), Some(mark))
            }
            Encoding::Zstd => Frame::compressed(self.compressed.zstd(record, min_size), None),
        }
    }

    /// The update's topics as `&str`, the form selectors match against.
    pub fn topics(&self) -> impl Iterator<Item = &str> {
        self.update.topics.iter().map(String::as_str)
    }
}

/// Why the fields of a publish request are refused; the `Display` text is the exact classic
/// response body (protocol.md A-PUB, C-HARD).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum InvalidUpdate {
    /// No `topic` field (A-PUB-3).
    #[error("Missing \"topic\" parameter\n")]
    MissingTopic,
    /// More than [`MAX_TOPICS`] topics (A-LIM-2).
    #[error("too many topics in update\n")]
    TooManyTopics,
    /// The 1.0 answer to more than [`MAX_TOPICS`] topics: 413 (B-PUB-10).
    #[error("Request Entity Too Large\n")]
    TopicCountTooLarge,
    /// A topic holds a control character, or under 1.0 a C1 or `Cf` one (C-HARD-2, B-T-1).
    #[error("Invalid \"topic\" parameter\n")]
    InvalidTopic,
    /// `retry` is not ASCII digits fitting in a u64 (A-PUB-9).
    #[error("Invalid \"retry\" parameter\n")]
    InvalidRetry,
    /// A control character in `id` would break the SSE framing (C-HARD-1).
    #[error("\"id\" field contains a forbidden control character\n")]
    IdControlCharacter,
    /// `earliest` would be ambiguous as a cursor: it replays everything (A-HIST-4, C-HARD-5).
    #[error("\"id\" field uses the reserved value \"earliest\"\n")]
    IdReserved,
    /// 1.0: a `#` id would be read as a fragment of the hub's own ids (B-PUB-6).
    #[error("\"id\" field must not start with \"#\"\n")]
    IdFragment,
    /// 1.0: a topic in the hub's reserved namespace, or exactly `*` (B-PUB-3).
    #[error("\"topic\" is reserved by the hub\n")]
    ReservedTopic,
    /// A control character in `type` would break the SSE framing (C-HARD-1, B-PUB-7).
    #[error("\"type\" field contains a forbidden control character\n")]
    TypeControlCharacter,
    /// Only the hub emits `event: mercure` (C-HARD-5).
    #[error("\"type\" field uses the reserved value \"mercure\"\n")]
    TypeReserved,
}

impl InvalidUpdate {
    /// Whether the answer is 413 rather than 400 (B-PUB-10).
    pub fn is_too_large(&self) -> bool {
        matches!(self, Self::TopicCountTooLarge)
    }
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
fn generate_id() -> String {
    const PREFIX: &str = "urn:uuid:";
    let mut id = String::with_capacity(PREFIX.len() + uuid::fmt::Hyphenated::LENGTH);
    id.push_str(PREFIX);
    let mut buffer = uuid::Uuid::encode_buffer();
    id.push_str(uuid::Uuid::now_v7().hyphenated().encode_lower(&mut buffer));
    id
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
