//! Why a history operation failed, with the store's own error kept as the source.
//!
//! A `LogError`'s `Display` says what failed in words an operator reads (never shown to HTTP
//! clients, who get a bare 503); the cause (sled's, Redis's or the OS's error, or what was
//! wrong with a record) is its `source()`. `ErrorChain` prints the whole chain into a log line.

use std::error::Error;
use std::fmt;
use std::path::PathBuf;

use thiserror::Error;

/// Why a history operation failed: what the hub makes of it (retry, not ready, 503) follows
/// from the variant, the store's own error is the source.
#[derive(Debug, Error)]
pub enum LogError {
    /// The store failed an operation: an I/O error, a lost connection, a corrupt record.
    #[error("history {op} failed")]
    Storage {
        /// What the log was doing: `read`, `write`, `index lookup`…
        op: &'static str,
        /// The store's error.
        #[source]
        source: StorageError,
    },
    /// The history's directory cannot be opened (another process holds it, no permission).
    #[error("cannot open the history in {}", dir.display())]
    Open {
        /// The configured `data_dir`.
        dir: PathBuf,
        /// sled's error.
        #[source]
        source: sled::Error,
    },
    /// Writes are refused for now and the log retries by itself (a full disk, an I/O error):
    /// the hub is not ready, but still live.
    #[error("history writes refused: {0}")]
    WritesRefused(&'static str),
    /// The write that held this event failed; the event is not stored (the failure itself was
    /// logged by the writer, which retries).
    #[error("writing the history to disk failed; the event is not stored")]
    NotStored,
    /// The shared store does not answer, or too many requests already wait for it.
    #[error("history store unavailable: {0}")]
    Unavailable(&'static str),
    /// The log's own thread is gone: the log is closing, or the thread panicked.
    #[error("history stopped: {0}")]
    Stopped(&'static str),
}

/// The cause of a `LogError::Storage`: the store's own error, kept whole.
#[derive(Debug, Error)]
pub enum StorageError {
    /// The sled store's error.
    #[error(transparent)]
    Sled(#[from] sled::Error),
    /// The Redis client's error: a lost connection, a refused command.
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
    /// The OS's error.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A presence entry JSON could not (de)serialize.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A blocking task running the operation panicked or was cancelled.
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
    /// Stored data the log cannot read.
    #[error(transparent)]
    Corrupt(#[from] Corrupt),
}

/// What is wrong with stored data the log cannot read.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum Corrupt {
    /// A stored event record that does not decode (see `log::codec`).
    #[error("an event record the codec cannot decode")]
    Record,
    /// A sled chunk or index key that does not span a valid range of positions.
    #[error("a key of unexpected length")]
    Key,
    /// A Redis stream entry that lacks its event field.
    #[error("a stream entry without an event")]
    EntryWithoutEvent,
    /// A Redis stream id that is not `ms-seq`.
    #[error("unexpected stream id {0:?}")]
    StreamId(String),
    /// A Redis stream id whose parts do not fit a position.
    #[error("stream id {0:?} out of range")]
    StreamIdRange(String),
}

impl LogError {
    /// Whether the log recovers from this by itself, without a restart.
    pub fn recovers(&self) -> bool {
        matches!(self, Self::WritesRefused(_))
    }

    /// `map_err(LogError::storage("read"))`: the store's error as the source of a failed `op`.
    pub(crate) fn storage<E: Into<StorageError>>(op: &'static str) -> impl FnOnce(E) -> Self {
        move |error| Self::Storage {
            op,
            source: error.into(),
        }
    }

    /// Stored data that cannot be read, met during `op`.
    pub(crate) fn corrupt(op: &'static str, what: Corrupt) -> Self {
        Self::storage(op)(what)
    }
}

/// Displays an error with every source after it (`a: b: c`), for log lines: a `%error` field
/// alone would print the outermost message only.
pub struct ErrorChain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(error) = source {
            write!(f, ": {error}")?;
            source = error.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_keeps_the_cause_and_the_message_does_not() {
        let error = LogError::storage("write")(std::io::Error::other("disk on fire"));
        assert_eq!(error.to_string(), "history write failed");
        assert_eq!(
            ErrorChain(&error).to_string(),
            "history write failed: disk on fire"
        );
        assert!(matches!(
            error,
            LogError::Storage {
                source: StorageError::Io(_),
                ..
            }
        ));
    }
}
