//! gzip streams assembled from per-event raw deflate runs (RFC 1951, RFC 1952).

use std::cell::RefCell;

use flate2::{Compress, Compression, FlushCompress};

use super::frame::{self, Frame};

/// A gzip member header: magic, deflate, no flags, no time, no extra flags, unknown OS. The same
/// for every stream, so the opening frame is a constant.
pub const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// The deflate level: compression is paid once per event, not per subscriber, so the default
/// level's better ratio is worth its CPU.
const LEVEL: u32 = 6;

/// Most bytes in one stored block (its LEN is 16 bits).
const STORED_MAX: usize = 0xffff;

/// A stored block's header bytes (BTYPE 00, aligned): the BFINAL/BTYPE byte, LEN, NLEN.
const STORED_HEADER: usize = 5;

/// The end of a deflate stream: an empty fixed-Huffman block with BFINAL set (bits 1, 01, then
/// the 7-bit end-of-block code), two bytes.
const FINAL_BLOCK: [u8; 2] = [0x03, 0x00];

/// One event as raw deflate blocks that start and end byte-aligned and refer to nothing before
/// them, with the CRC-32 and length of the bytes they decode to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GzipEvent {
    frame: Frame,
    crc: u32,
    len: u64,
}

impl GzipEvent {
    /// Compresses `event` with a fresh deflate state ended by a full flush; events shorter than
    /// `min_size`, and any that would not shrink, are stored instead.
    pub fn compress(event: &[u8], min_size: usize) -> Self {
        if event.len() < min_size {
            return Self::stored(event);
        }
        let mut buffer = frame::room(event.len() / 2 + 64);
        match deflate_into(&mut buffer, event) {
            Ok(()) if buffer.len() - frame::SIZE_LINE_ROOM < stored_size(event.len()) => {
                Self::new(event, Frame::seal(buffer))
            }
            // A compressor that fails (it can only run out of memory) or does not shrink the
            // event costs the subscriber nothing: stored blocks are always valid.
            _ => Self::stored(event),
        }
    }

    /// `event` as stored (uncompressed) blocks.
    pub fn stored(event: &[u8]) -> Self {
        let mut buffer = frame::room(stored_size(event.len()));
        write_stored(&mut buffer, event);
        Self::new(event, Frame::seal(buffer))
    }

    fn new(event: &[u8], frame: Frame) -> Self {
        Self {
            frame,
            crc: crc32fast::hash(event),
            len: event.len() as u64,
        }
    }

    /// The event's deflate blocks, framed as a chunk.
    pub fn frame(&self) -> &Frame {
        &self.frame
    }

    /// The CRC-32 of the uncompressed event.
    pub fn crc(&self) -> u32 {
        self.crc
    }

    /// The uncompressed event's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the event had no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Bytes of `len` bytes as stored blocks; an empty event still takes one (empty) block, so that
/// its frame is never empty.
fn stored_size(len: usize) -> usize {
    len + STORED_HEADER * len.div_ceil(STORED_MAX).max(1)
}

/// Writes stored blocks with BFINAL = 0 (RFC 1951 §3.2.4), by hand: the byte-aligned header
/// byte 0, LEN and its complement NLEN, then the bytes.
fn write_stored(buffer: &mut Vec<u8>, event: &[u8]) {
    let mut blocks = event.chunks(STORED_MAX).peekable();
    if blocks.peek().is_none() {
        buffer.extend_from_slice(&[0, 0, 0, 0xff, 0xff]);
    }
    for block in blocks {
        // `chunks(STORED_MAX)` makes every block fit 16 bits.
        let len = u16::try_from(block.len()).unwrap_or(u16::MAX);
        buffer.push(0);
        buffer.extend_from_slice(&len.to_le_bytes());
        buffer.extend_from_slice(&(!len).to_le_bytes());
        buffer.extend_from_slice(block);
    }
}

thread_local! {
    /// One deflate state per thread, reset before each event: allocating a state (its window
    /// and hash tables) per event would cost more than compressing a small event.
    static DEFLATE: RefCell<Compress> = RefCell::new(Compress::new(Compression::new(LEVEL), false));
}

/// Why deflating an event failed; the caller stores it instead.
#[derive(Debug)]
struct DeflateFailed;

/// Appends `event` as raw deflate from a fresh state, ended by a full flush.
fn deflate_into(buffer: &mut Vec<u8>, event: &[u8]) -> Result<(), DeflateFailed> {
    let mut run = |compress: &mut Compress| {
        compress.reset();
        deflate_with(compress, buffer, event)
    };
    match DEFLATE.try_with(|state| state.try_borrow_mut().map(|mut state| run(&mut state))) {
        Ok(Ok(result)) => result,
        // No thread-local state to use (thread ending, or re-entered): a state of its own.
        _ => run(&mut Compress::new(Compression::new(LEVEL), false)),
    }
}

fn deflate_with(
    compress: &mut Compress,
    buffer: &mut Vec<u8>,
    event: &[u8],
) -> Result<(), DeflateFailed> {
    let start = compress.total_in();
    // Each round either consumes input or fills the spare room, which then grows; the bound
    // only guards against a compressor that makes no progress.
    for _ in 0..64 + event.len() / 1024 {
        let consumed = usize::try_from(compress.total_in() - start).map_err(|_| DeflateFailed)?;
        let rest = event.get(consumed..).ok_or(DeflateFailed)?;
        // At least doubling, so that a long flush takes few rounds.
        buffer.reserve((rest.len() / 2 + 64).max(buffer.len()));
        compress
            .compress_vec(rest, buffer, FlushCompress::Full)
            .map_err(|_| DeflateFailed)?;
        let done = compress.total_in() - start == event.len() as u64;
        // A flush is complete once a call returns with room left in the output.
        if done && buffer.len() < buffer.capacity() {
            return Ok(());
        }
    }
    Err(DeflateFailed)
}

/// The gzip side of one subscriber connection: what it sent so far, for the trailer.
#[derive(Debug, Clone, Default)]
pub struct GzipStream {
    /// CRC-32 of everything sent, combined event by event, and its total length.
    sent: crc32fast::Hasher,
}

impl GzipStream {
    /// A stream that sent nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts an event sent on this stream (after the header, in order).
    pub fn record(&mut self, crc: u32, len: u64) {
        self.sent
            .combine(&crc32fast::Hasher::new_with_initial_len(crc, len));
    }

    /// Counts an event's frame sent in this stream.
    pub fn record_event(&mut self, event: &GzipEvent) {
        self.record(event.crc, event.len);
    }

    /// The end of the stream: the final deflate block, then CRC-32 and ISIZE (the length mod
    /// 2^32), little-endian (RFC 1952 §2.3.1).
    pub fn trailer(&self) -> [u8; 10] {
        let mut trailer = [0u8; 10];
        trailer[..2].copy_from_slice(&FINAL_BLOCK);
        trailer[2..6].copy_from_slice(&self.sent.clone().finalize().to_le_bytes());
        // ISIZE is defined modulo 2^32: the truncation is the format.
        trailer[6..].copy_from_slice(&(self.sent.total_len() as u32).to_le_bytes());
        trailer
    }

    /// [`Self::trailer`] as a frame.
    pub fn trailer_frame(&self) -> Frame {
        Frame::copy_of(&self.trailer())
    }
}
