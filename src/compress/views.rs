//! An event's compressed forms, each made at most once, when first asked for.

use std::sync::OnceLock;

use super::frame::Frame;
use super::gzip::GzipEvent;
use super::zst::zstd_frame;
use super::Encoding;

/// The compressed forms of one event, computed lazily, once per encoding, and shared by every
/// subscriber (and every replay) that wants them. Unused it is one pointer-sized slot, so an
/// event nobody asks to compress costs nothing but that word; it does not keep the event's bytes,
/// which the caller passes (the bare SSE event, not the HTTP/1.1 chunk).
///
/// `min_size` is the hub-wide `compression_min_size`: the first call for an encoding decides.
#[derive(Debug, Default)]
pub struct CompressedViews {
    views: OnceLock<Box<Views>>,
}

#[derive(Debug, Default)]
struct Views {
    gzip: OnceLock<GzipEvent>,
    zstd: OnceLock<Frame>,
}

impl CompressedViews {
    /// No form computed yet.
    pub const fn new() -> Self {
        Self {
            views: OnceLock::new(),
        }
    }

    fn views(&self) -> &Views {
        self.views.get_or_init(Box::default)
    }

    /// The event as gzip-ready deflate blocks with its CRC-32 and length.
    pub fn gzip(&self, event: &[u8], min_size: usize) -> &GzipEvent {
        self.views()
            .gzip
            .get_or_init(|| GzipEvent::compress(event, min_size))
    }

    /// The event as one zstd frame.
    pub fn zstd(&self, event: &[u8], min_size: usize) -> &Frame {
        self.views()
            .zstd
            .get_or_init(|| zstd_frame(event, min_size))
    }

    /// The event's frame in `encoding` (for gzip, a stream must also record it: see
    /// [`super::StreamEncoder::event`]).
    pub fn frame(&self, encoding: Encoding, event: &[u8], min_size: usize) -> &Frame {
        match encoding {
            Encoding::Gzip => self.gzip(event, min_size).frame(),
            Encoding::Zstd => self.zstd(event, min_size),
        }
    }

    /// Whether the form in `encoding` was made already (for tests and metrics).
    pub fn is_computed(&self, encoding: Encoding) -> bool {
        self.views.get().is_some_and(|views| match encoding {
            Encoding::Gzip => views.gzip.get().is_some(),
            Encoding::Zstd => views.zstd.get().is_some(),
        })
    }
}
