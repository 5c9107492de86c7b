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
    #[error("hub answered HTTP {status} to {what}: {body}")]
    Status {
        what: &'static str,
        status: u16,
        body: String,
    },
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

impl BenchError {
    /// Wraps an I/O error with what was being done.
    pub fn io(what: &'static str) -> impl Fn(io::Error) -> BenchError + Copy {
        move |reason| BenchError::Io { what, reason }
    }
}
