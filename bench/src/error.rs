//! Errors of the load generator.

use std::io;

/// Anything that can stop a benchmark run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("invalid hub URL {url:?}: {reason}")]
    HubUrl { url: String, reason: String },
    /// Not a `source` (a field of that name would be one): `{:#}` would print the reason twice.
    #[error("{what}: {reason}")]
    Io {
        what: &'static str,
        reason: io::Error,
    },
    #[error("hub answered HTTP {status} to {what}: {body}{}", hint(what, *status))]
    Status {
        what: &'static str,
        status: u16,
        body: String,
    },
    #[error("every publish failed; the first: {0}")]
    NothingPublished(String),
    #[error("malformed HTTP from the hub: {0}")]
    Protocol(&'static str),
    #[error("connection closed by the hub during {0}")]
    Closed(&'static str),
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("cannot sign a token: {0}")]
    Token(String),
    #[error("invalid options: {0}")]
    Options(String),
}

/// What to check when the hub refuses the generator's token (or lack of one).
fn hint(what: &str, status: u16) -> &'static str {
    match (what, status) {
        ("publish", 401 | 403) => " (check --publisher-key: the hub's publisher secret, HS256)",
        ("subscribe", 401 | 403) => {
            " (subscribers are anonymous without --subscriber-key: give the hub's subscriber secret)"
        }
        _ => "",
    }
}

impl BenchError {
    /// Wraps an I/O error with what was being done.
    pub fn io(what: &'static str) -> impl Fn(io::Error) -> BenchError + Copy {
        move |reason| BenchError::Io { what, reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_token_names_the_option_to_check() {
        let status = |what, status| BenchError::Status {
            what,
            status,
            body: "Unauthorized".into(),
        };
        let subscribe = status("subscribe", 401).to_string();
        assert!(subscribe.contains("--subscriber-key"), "{subscribe}");
        let publish = status("publish", 403).to_string();
        assert!(publish.contains("--publisher-key"), "{publish}");
        let other = status("publish", 400).to_string();
        assert_eq!(other, "hub answered HTTP 400 to publish: Unauthorized");
    }
}
