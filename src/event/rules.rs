//! Which dialect's publication rules a [`super::Draft`] is checked by (protocol.md X-5): the
//! publisher's token decides, since publish bodies look the same in both dialects.

use url::Url;

use super::{validate_id, validate_type, InvalidUpdate, MAX_TOPICS};
use crate::topic::{has_control_chars, is_clean, reserved};

/// The SSE event type of the hub's 1.0 subscription events (B-SE-5).
pub const HUB_EVENT_TYPE: &str = "mercure";

/// The publication rules of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rules {
    /// Part A (A-PUB-12). The reserved namespace is the handler's 403 (A-PUB-13), after its own
    /// authorization, so it is not checked here.
    Classic,
    /// Part B (B-PUB-11): clean strings (B-T-1), 413 for too many topics, the reserved
    /// namespace and `*` refused with 400, no `#` ids. `hub` is the URL topics resolve against
    /// (B-PUB-3, `topic::request::base_url`).
    V1 {
        /// The hub URL reserved topics are resolved against (B-PUB-3, B-MT-5).
        hub: Url,
    },
    /// The hub's own updates, and stored ones as they are read back: the classic checks, plus
    /// the type `mercure` of 1.0 subscription events (B-SE-5), which no publisher may send.
    Hub,
}

impl Rules {
    /// A-PUB-12 steps 4–6, B-PUB-11 steps 4–6: present, not too many, clean.
    pub(super) fn check_topics(&self, topics: &[String]) -> Result<(), InvalidUpdate> {
        if topics.is_empty() {
            return Err(InvalidUpdate::MissingTopic);
        }
        if topics.len() > MAX_TOPICS {
            return Err(match self {
                Self::V1 { .. } => InvalidUpdate::TopicCountTooLarge,
                Self::Classic | Self::Hub => InvalidUpdate::TooManyTopics,
            });
        }
        if topics.iter().any(|topic| !self.is_clean(topic)) {
            return Err(InvalidUpdate::InvalidTopic);
        }
        Ok(())
    }

    /// B-PUB-3: under 1.0, after the grants were checked and before the id.
    pub(super) fn check_reserved(&self, topics: &[String]) -> Result<(), InvalidUpdate> {
        match self {
            Self::Classic | Self::Hub => Ok(()),
            Self::V1 { hub } => {
                let refused = |topic: &String| topic == "*" || reserved::is_reserved_v1(topic, hub);
                match topics.iter().any(refused) {
                    true => Err(InvalidUpdate::ReservedTopic),
                    false => Ok(()),
                }
            }
        }
    }

    /// A-PUB-7; B-PUB-6 adds B-T-1's characters and `#`.
    pub(super) fn check_id(&self, id: &str) -> Result<(), InvalidUpdate> {
        if let Self::V1 { .. } = self {
            if !is_clean(id) {
                return Err(InvalidUpdate::IdControlCharacter);
            }
            if id.starts_with('#') {
                return Err(InvalidUpdate::IdFragment);
            }
        }
        validate_id(id)
    }

    /// A-PUB-8; B-PUB-7 adds B-T-1's characters.
    pub(super) fn check_type(&self, event_type: &str) -> Result<(), InvalidUpdate> {
        match self {
            Self::V1 { .. } if !is_clean(event_type) => Err(InvalidUpdate::TypeControlCharacter),
            Self::Hub if event_type == HUB_EVENT_TYPE => Ok(()),
            _ => validate_type(event_type),
        }
    }

    /// C-HARD-2 (C0 and DEL) for classic topics; B-T-1 (also C1 and `Cf`) for 1.0 ones.
    fn is_clean(&self, topic: &str) -> bool {
        match self {
            Self::Classic | Self::Hub => !has_control_chars(topic),
            Self::V1 { .. } => is_clean(topic),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Draft;
    use super::*;

    fn v1() -> Rules {
        Rules::V1 {
            hub: Url::parse("https://hub.example/.well-known/mercure").expect("url"),
        }
    }

    fn draft(rules: Rules, topics: &[&str]) -> Result<Draft, InvalidUpdate> {
        Draft::with_rules(rules, topics.iter().map(|t| t.to_string()).collect())
    }

    // B-PUB-1, B-PUB-10, A-LIM-2: a missing topic is 400 in both; too many is 413 only in 1.0.
    #[test]
    fn topic_count_answers_per_dialect() {
        assert_eq!(draft(v1(), &[]).err(), Some(InvalidUpdate::MissingTopic));
        let many: Vec<String> = (0..=MAX_TOPICS).map(|i| format!("t{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let v1_error = draft(v1(), &many).expect_err("refused");
        assert!(v1_error.is_too_large());
        let classic = draft(Rules::Classic, &many).expect_err("refused");
        assert_eq!(classic, InvalidUpdate::TooManyTopics);
        assert!(!classic.is_too_large());
    }

    // B-T-1, C-HARD-2: C1 and Cf refused in 1.0 topics only; hostile strings never panic.
    #[test]
    fn topics_are_clean_under_1_0() {
        for dirty in ["a\u{85}", "a\u{200b}", "\u{feff}", "a\u{e0001}", "\u{600}"] {
            assert_eq!(
                draft(v1(), &["ok", dirty]).err(),
                Some(InvalidUpdate::InvalidTopic),
                "{dirty:?}"
            );
            assert!(draft(Rules::Classic, &[dirty]).is_ok(), "{dirty:?}");
        }
        for dirty in ["a\0", "\r", "\n", "\u{7f}"] {
            assert!(draft(v1(), &[dirty]).is_err());
            assert!(draft(Rules::Classic, &[dirty]).is_err());
        }
        assert!(draft(v1(), &["https://example.com/שלום/مرحبا"]).is_ok());
        for hostile in ["%", "%%zz", "\u{10ffff}", "..", "../../..", "*", "\u{1}"] {
            let _ = draft(v1(), &[hostile]).and_then(Draft::build);
        }
    }

    // B-PUB-3, B-PUB-11: reserved and `*` refused at build (after the grants), 400 in 1.0.
    #[test]
    fn reserved_namespace_and_star_at_build() {
        for topic in [
            "*",
            "/.well-known/mercure",
            "/.well-known/%6Dercure/x",
            "https://other.example/.well-known/mercure/../mercure/x",
        ] {
            let built = draft(v1(), &["ok", topic]).and_then(Draft::build);
            assert_eq!(built.err(), Some(InvalidUpdate::ReservedTopic), "{topic}");
            assert!(draft(Rules::Classic, &[topic])
                .and_then(Draft::build)
                .is_ok());
        }
        let fine = draft(v1(), &["https://example.com/x?q=/.well-known/mercure/x"]);
        assert!(fine.and_then(Draft::build).is_ok());
    }

    // B-PUB-6, B-PUB-7, A-PUB-7: `#` ids and unclean ids and types refused in 1.0 only; the
    // reserved check comes before the id's.
    #[test]
    fn ids_and_types_under_1_0() {
        let with_id = |rules: Rules, id: &str| {
            draft(rules, &["t"]).and_then(|d| d.id(Some(id.to_owned())).build())
        };
        assert_eq!(with_id(v1(), "#x").err(), Some(InvalidUpdate::IdFragment));
        assert!(with_id(Rules::Classic, "#x").is_ok());
        assert_eq!(
            with_id(v1(), "a\u{200b}").err(),
            Some(InvalidUpdate::IdControlCharacter)
        );
        assert_eq!(
            with_id(v1(), "earliest").err(),
            Some(InvalidUpdate::IdReserved)
        );
        assert!(with_id(v1(), "a#b").is_ok());
        let with_type = |rules: Rules, t: &str| {
            draft(rules, &["t"]).and_then(|d| d.event_type(Some(t.to_owned())).build())
        };
        assert_eq!(
            with_type(v1(), "a\u{9f}").err(),
            Some(InvalidUpdate::TypeControlCharacter)
        );
        assert!(with_type(Rules::Classic, "a\u{9f}").is_ok());
        assert_eq!(
            with_type(v1(), "mercure").err(),
            Some(InvalidUpdate::TypeReserved)
        );
        let reserved_first = draft(v1(), &["*"]).and_then(|d| d.id(Some("#x".into())).build());
        assert_eq!(reserved_first.err(), Some(InvalidUpdate::ReservedTopic));
    }
}
