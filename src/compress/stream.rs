//! One subscriber connection's compressed stream: the constant opening and comment frames, the
//! shared event frames, and (gzip) the trailer.

use std::sync::LazyLock;

use super::frame::Frame;
use super::gzip::{GzipEvent, GzipStream, GZIP_HEADER};
use super::views::CompressedViews;
use super::zst::zstd_frame;
use super::Encoding;

/// The `:` comment line the hub opens a stream with and sends as heartbeat (A-SSE-7).
const COMMENT: &[u8] = b":\n";

/// The comment as stored deflate blocks, and after the gzip header (the opening).
static GZIP_COMMENT: LazyLock<GzipEvent> = LazyLock::new(|| GzipEvent::stored(COMMENT));
static GZIP_OPENING: LazyLock<Frame> = LazyLock::new(|| {
    let mut opening = GZIP_HEADER.to_vec();
    opening.extend_from_slice(&GZIP_COMMENT.frame().body());
    Frame::copy_of(&opening)
});
/// The comment as a raw zstd frame (a stream needs no header of its own).
static ZSTD_COMMENT: LazyLock<Frame> = LazyLock::new(|| zstd_frame(COMMENT, usize::MAX));

/// What a subscriber connection keeps to write a compressed stream: for gzip, the running CRC-32
/// and length of what it sent. Write, in order: [`Self::opening`] once, then [`Self::event`] and
/// [`Self::comment`] frames, and on a normal end [`Self::end`]'s frame before the body ends.
#[derive(Debug, Clone)]
pub enum StreamEncoder {
    /// A gzip stream and the CRC-32 and length of what it sent.
    Gzip(GzipStream),
    /// A zstd stream: nothing to keep.
    Zstd,
}

impl StreamEncoder {
    /// The state of a new stream in `encoding`.
    pub fn new(encoding: Encoding) -> Self {
        match encoding {
            Encoding::Gzip => Self::Gzip(GzipStream::new()),
            Encoding::Zstd => Self::Zstd,
        }
    }

    /// The stream's coding.
    pub fn encoding(&self) -> Encoding {
        match self {
            Self::Gzip(_) => Encoding::Gzip,
            Self::Zstd => Encoding::Zstd,
        }
    }

    /// The first bytes of the body: the gzip header with the opening comment, or the comment's
    /// zstd frame. Constant.
    pub fn opening(&mut self) -> Frame {
        match self {
            Self::Gzip(stream) => {
                stream.record_event(&GZIP_COMMENT);
                GZIP_OPENING.clone()
            }
            Self::Zstd => ZSTD_COMMENT.clone(),
        }
    }

    /// A heartbeat (or last words) comment. Constant.
    pub fn comment(&mut self) -> Frame {
        match self {
            Self::Gzip(stream) => {
                stream.record_event(&GZIP_COMMENT);
                GZIP_COMMENT.frame().clone()
            }
            Self::Zstd => ZSTD_COMMENT.clone(),
        }
    }

    /// The frame of an event (its bare SSE bytes and their views), computed once for all
    /// streams of this encoding, and counted in this stream.
    pub fn event(&mut self, views: &CompressedViews, event: &[u8], min_size: usize) -> Frame {
        match self {
            Self::Gzip(stream) => {
                let gzip = views.gzip(event, min_size);
                stream.record_event(gzip);
                gzip.frame().clone()
            }
            Self::Zstd => views.zstd(event, min_size).clone(),
        }
    }

    /// The last frame of a stream that ends normally: the gzip trailer; zstd needs none. A
    /// stream cut short (write error, client gone) sends nothing more.
    pub fn end(&self) -> Option<Frame> {
        match self {
            Self::Gzip(stream) => Some(stream.trailer_frame()),
            Self::Zstd => None,
        }
    }
}
