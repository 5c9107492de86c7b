//! Compressed event streams, each event compressed once and its bytes shared by every subscriber
//! of that encoding (issue 21 §3; `../shared/design.md` "Compressed streams"; protocol.md C-HDR-3,
//! A-SSE-8).
//!
//! - gzip: an event becomes a run of raw deflate blocks made from a fresh compressor state and
//!   ended with a full flush, so it starts and ends byte-aligned and refers to nothing outside
//!   itself: the same bytes are valid in any subscriber's stream after that stream's own gzip
//!   header. Each event keeps its CRC-32 and length; a [`GzipStream`] combines them into the
//!   trailer when the stream ends normally.
//! - zstd: one frame per event (a concatenation of frames is a valid zstd stream).
//! - Events shorter than `compression_min_size` go out stored (deflate stored blocks, zstd raw
//!   blocks): compressing them gains little and costs CPU.
//!
//! No compression context is ever shared between events, so the compressed size of one event
//! depends on that event alone: a private update's content can never be inferred from how well a
//! public one compresses next to it, and the reverse (the BREACH/CRIME family needs shared
//! context).
//!
//! Every compressed form is kept framed as an HTTP/1.1 chunk ([`Frame`]), as plain frames are,
//! so that the direct writer sends it as it is and the portable path takes [`Frame::body`].

mod frame;
mod gzip;
mod negotiate;
mod stream;
mod views;
mod zst;

use std::str::FromStr;

use thiserror::Error;

pub use frame::Frame;
pub use gzip::{GzipEvent, GzipStream, GZIP_HEADER};
pub use negotiate::negotiate;
pub use stream::StreamEncoder;
pub use views::CompressedViews;
pub use zst::zstd_frame;

/// Default of the `compression_min_size` setting (`../shared/design.md`).
pub const DEFAULT_MIN_SIZE: usize = 512;

/// A content coding the hub can send an event stream in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// `gzip` (RFC 1952): raw deflate runs after a per-stream header, with a trailer.
    Gzip,
    /// `zstd` (RFC 8878): one frame per event.
    Zstd,
}

impl Encoding {
    /// Every encoding, in the order preferred when a client weighs them equally: zstd first, so
    /// that a browser offering it (Chromium does over HTTPS) gets it. On ~1 KB JSON-LD events the
    /// two are close (per-event zstd 0.45 of the plain bytes, deflate 0.43: `tests::measure`);
    /// zstd decodes faster and its stream needs no trailer.
    pub const ALL: [Encoding; 2] = [Encoding::Zstd, Encoding::Gzip];

    /// The `Content-Encoding` response header value.
    pub const fn header_value(self) -> &'static str {
        match self {
            Encoding::Gzip => "gzip",
            Encoding::Zstd => "zstd",
        }
    }
}

/// The `compression` setting (`../shared/design.md`): `"off"` keeps every stream uncompressed
/// (C-HDR-3); `"auto"` follows each request's `Accept-Encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Never compressed (the default).
    #[default]
    Off,
    /// Compressed when the request accepts gzip or zstd.
    Auto,
}

/// A `compression` value other than `off` or `auto` (quoted, cut to 64 bytes).
#[derive(Debug, Error, PartialEq, Eq)]
#[error("compression: expected \"off\" or \"auto\", got {0:?}")]
pub struct InvalidMode(String);

impl FromStr for Mode {
    type Err = InvalidMode;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "off" => Ok(Mode::Off),
            "auto" => Ok(Mode::Auto),
            other => Err(InvalidMode(other.chars().take(64).collect())),
        }
    }
}

/// The two compression settings together: what http asks to pick a stream's encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The `compression` setting.
    pub mode: Mode,
    /// Events shorter than this many bytes go out stored, not compressed.
    pub min_size: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            mode: Mode::Off,
            min_size: DEFAULT_MIN_SIZE,
        }
    }
}

impl Policy {
    /// The encoding of a stream whose request carried these `Accept-Encoding` values (each
    /// header line's bytes); `None` = uncompressed, always so when the mode is `off`.
    pub fn negotiate<'a>(
        &self,
        accept_encoding: impl IntoIterator<Item = &'a [u8]>,
    ) -> Option<Encoding> {
        match self.mode {
            Mode::Off => None,
            Mode::Auto => negotiate(accept_encoding, &Encoding::ALL),
        }
    }
}

#[cfg(test)]
mod tests;
