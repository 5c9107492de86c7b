//! zstd streams as one frame per event (RFC 8878: a stream is a sequence of frames).

use std::cell::RefCell;
use std::io::Cursor;

use super::frame::{self, Frame};

/// The zstd level: zstd's default, fast and already smaller than per-event deflate on typical
/// events; paid once per event.
const LEVEL: i32 = 3;

const MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// The smallest and largest window of a raw frame (1 KiB and 128 KiB, as log2): 128 KiB is also
/// the largest block, and far below the 8 MiB that decoders of HTTP content must accept.
const MIN_WINDOW_LOG: u32 = 10;
const MAX_WINDOW_LOG: u32 = 17;

/// Raw block header bytes, and the frame header of a raw frame (magic, descriptor, window).
const BLOCK_HEADER: usize = 3;
const RAW_FRAME_HEADER: usize = 6;

/// `event` as one zstd frame: compressed when it is at least `min_size` bytes long and that makes
/// it smaller, otherwise raw blocks. Every frame starts from a fresh context (no dictionary, no
/// earlier event), so frames can follow each other in any stream.
pub fn zstd_frame(event: &[u8], min_size: usize) -> Frame {
    if event.len() >= min_size {
        if let Some(frame) = compressed(event) {
            return frame;
        }
    }
    raw_frame(event)
}

thread_local! {
    /// One context per thread, reused: each `compress` call still starts a new frame with no
    /// history, and reuse saves allocating the context per event.
    static CONTEXT: RefCell<Option<zstd::bulk::Compressor<'static>>> =
        RefCell::new(zstd::bulk::Compressor::new(LEVEL).ok());
}

/// The compressed frame, unless compression fails (out of memory) or does not shrink the event.
fn compressed(event: &[u8]) -> Option<Frame> {
    let raw = raw_size(event.len());
    let run = |context: &mut zstd::bulk::Compressor<'static>| {
        let mut cursor = Cursor::new(frame::room(zstd::zstd_safe::compress_bound(event.len())));
        cursor.set_position(frame::SIZE_LINE_ROOM as u64);
        let written = context.compress_to_buffer(event, &mut cursor).ok()?;
        (written < raw).then(|| Frame::seal(cursor.into_inner()))
    };
    let shared = CONTEXT.try_with(|context| {
        let mut context = context.try_borrow_mut().ok()?;
        context.as_mut().map(&run)
    });
    match shared {
        Ok(Some(frame)) => frame,
        // No thread-local context to use (thread ending, re-entered, or it failed to allocate).
        _ => run(&mut zstd::bulk::Compressor::new(LEVEL).ok()?),
    }
}

/// The window a raw frame of `len` bytes declares: the smallest power of two from 1 KiB that
/// holds it, at most 128 KiB.
fn window_log(len: usize) -> u32 {
    let needed = usize::BITS - len.saturating_sub(1).leading_zeros();
    needed.clamp(MIN_WINDOW_LOG, MAX_WINDOW_LOG)
}

fn raw_size(len: usize) -> usize {
    let block = 1usize << window_log(len);
    RAW_FRAME_HEADER + len + BLOCK_HEADER * len.div_ceil(block).max(1)
}

/// A frame of raw (stored) blocks, written by hand (RFC 8878 §3.1.1): no content size, no
/// checksum, no dictionary, a window descriptor, and blocks no larger than the window.
fn raw_frame(event: &[u8]) -> Frame {
    let log = window_log(event.len());
    let mut buffer = frame::room(raw_size(event.len()));
    buffer.extend_from_slice(&MAGIC);
    // Frame header descriptor 0: not single-segment, so the window descriptor follows.
    buffer.push(0);
    // Window descriptor: exponent = log - 10, mantissa 0.
    buffer.push(((log - MIN_WINDOW_LOG) as u8) << 3);
    let mut blocks = event.chunks(1 << log).peekable();
    if blocks.peek().is_none() {
        write_raw_block(&mut buffer, &[], true);
    }
    while let Some(block) = blocks.next() {
        write_raw_block(&mut buffer, block, blocks.peek().is_none());
    }
    Frame::seal(buffer)
}

/// A block header (3 bytes, little-endian: last flag, type 0 = raw, size) and the bytes.
fn write_raw_block(buffer: &mut Vec<u8>, block: &[u8], last: bool) {
    // Blocks are at most 128 KiB, well within the 21 bits of the size field.
    let header = ((block.len() as u32) << 3) | u32::from(last);
    buffer.extend_from_slice(&header.to_le_bytes()[..BLOCK_HEADER]);
    buffer.extend_from_slice(block);
}
