//! Content decoding of a compressed event stream (`Content-Encoding: gzip` or `zstd`), done
//! incrementally as bytes arrive, so that every event of a compressed stream is parsed and checked
//! like a plain one.
//!
//! One decoder per subscription keeps the stream's state (the inflate window, the zstd frame being
//! read); the decoded bytes go through a buffer that every subscription of a thread shares, so
//! decoding allocates nothing per event.

use std::cell::RefCell;

use flate2::{Decompress, FlushDecompress, Status};
use zstd::stream::raw::Operation;

use super::error::BenchError;

/// The decoded-bytes buffer every subscription of a thread shares.
const DECODED_SIZE: usize = 64 * 1024;

thread_local! {
    /// Decoded bytes pass through it on their way to the SSE parser (which keeps only an
    /// incomplete event's bytes).
    static DECODED: RefCell<Vec<u8>> = RefCell::new(vec![0; DECODED_SIZE]);
}

/// A content coding a subscriber may ask for (`Accept-Encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// gzip (RFC 1952).
    #[default]
    Gzip,
    /// zstd (RFC 8878).
    Zstd,
}

impl Encoding {
    /// The `Accept-Encoding` value that asks for this coding.
    pub fn token(self) -> &'static str {
        match self {
            Encoding::Gzip => "gzip",
            Encoding::Zstd => "zstd",
        }
    }
}

/// What a response's `Content-Encoding` says about its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Coding {
    /// No `Content-Encoding`, or `identity`.
    #[default]
    Identity,
    Gzip,
    Zstd,
    /// A coding the generator cannot decode.
    Unknown,
}

impl Coding {
    /// Reads a `Content-Encoding` header value (one coding: the hub never stacks them).
    pub fn parse(value: &[u8]) -> Coding {
        if value.eq_ignore_ascii_case(b"gzip") || value.eq_ignore_ascii_case(b"x-gzip") {
            Coding::Gzip
        } else if value.eq_ignore_ascii_case(b"zstd") {
            Coding::Zstd
        } else if value.is_empty() || value.eq_ignore_ascii_case(b"identity") {
            Coding::Identity
        } else {
            Coding::Unknown
        }
    }
}

/// A stream's decoder: nothing to do, or the state of a gzip or zstd stream.
pub enum Decoder {
    Identity,
    /// Boxed: the inflate state is large and most streams are plain.
    Gzip(Box<Decompress>),
    Zstd(Box<zstd::stream::raw::Decoder<'static>>),
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Decoder::Identity => "Identity",
            Decoder::Gzip(_) => "Gzip",
            Decoder::Zstd(_) => "Zstd",
        })
    }
}

impl Decoder {
    /// The decoder for a response body in `coding`.
    pub fn new(coding: Coding) -> Result<Decoder, BenchError> {
        Ok(match coding {
            Coding::Identity => Decoder::Identity,
            // 15 bits: the largest window, which any gzip stream may use.
            Coding::Gzip => Decoder::Gzip(Box::new(Decompress::new_gzip(15))),
            Coding::Zstd => Decoder::Zstd(Box::new(
                zstd::stream::raw::Decoder::new().map_err(BenchError::io("zstd decoder"))?,
            )),
            Coding::Unknown => return Err(BenchError::Protocol("unsupported Content-Encoding")),
        })
    }

    /// Whether the body is compressed.
    pub fn is_identity(&self) -> bool {
        matches!(self, Decoder::Identity)
    }

    /// Decodes `input` (any cut of the stream) and hands the decoded bytes to `sink`, in one or
    /// more slices; what cannot be decoded yet stays in the decoder's state.
    pub fn decode(&mut self, input: &[u8], sink: &mut impl FnMut(&[u8])) -> Result<(), BenchError> {
        match self {
            Decoder::Identity => {
                sink(input);
                Ok(())
            }
            Decoder::Gzip(inflate) => DECODED
                .with_borrow_mut(|out| pump(input, out, sink, |i, o| inflate_step(inflate, i, o))),
            Decoder::Zstd(zstd) => {
                DECODED.with_borrow_mut(|out| pump(input, out, sink, |i, o| zstd_step(zstd, i, o)))
            }
        }
    }
}

/// Runs `step` (input, output → bytes read, bytes written) until the input is used up and the
/// decoder holds no more output.
fn pump(
    mut input: &[u8],
    out: &mut [u8],
    sink: &mut impl FnMut(&[u8]),
    mut step: impl FnMut(&[u8], &mut [u8]) -> Result<(usize, usize), BenchError>,
) -> Result<(), BenchError> {
    loop {
        let (read, written) = step(input, out)?;
        input = &input[read..];
        if written > 0 {
            sink(&out[..written]);
        }
        if written == out.len() {
            // The decoder may hold more output, even when the input is used up.
            continue;
        }
        if input.is_empty() {
            return Ok(());
        }
        if read == 0 && written == 0 {
            return Err(BenchError::Protocol("compressed stream makes no progress"));
        }
    }
}

fn inflate_step(
    inflate: &mut Decompress,
    input: &[u8],
    out: &mut [u8],
) -> Result<(usize, usize), BenchError> {
    let (in_before, out_before) = (inflate.total_in(), inflate.total_out());
    let status = inflate
        .decompress(input, out, FlushDecompress::None)
        .map_err(|_| BenchError::Protocol("invalid gzip stream"))?;
    let read = (inflate.total_in() - in_before) as usize;
    let written = (inflate.total_out() - out_before) as usize;
    if status == Status::StreamEnd && read < input.len() {
        return Err(BenchError::Protocol(
            "bytes after the end of the gzip stream",
        ));
    }
    Ok((read, written))
}

fn zstd_step(
    zstd: &mut zstd::stream::raw::Decoder<'static>,
    input: &[u8],
    out: &mut [u8],
) -> Result<(usize, usize), BenchError> {
    let status = zstd
        .run_on_buffers(input, out)
        .map_err(|_| BenchError::Protocol("invalid zstd stream"))?;
    Ok((status.bytes_read, status.bytes_written))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn decode_in_pieces(coding: Coding, wire: &[u8], piece: usize) -> Vec<u8> {
        let mut decoder = Decoder::new(coding).expect("decoder");
        let mut plain = Vec::new();
        for part in wire.chunks(piece) {
            decoder
                .decode(part, &mut |bytes: &[u8]| plain.extend_from_slice(bytes))
                .expect("decode");
        }
        plain
    }

    /// `wire` decodes to `plain` whether reads bring it a byte at a time, in small or large
    /// pieces, or whole.
    fn assert_decodes_however_cut(coding: Coding, wire: &[u8], plain: &[u8]) {
        for piece in [1, 7, 1000, wire.len()] {
            assert_eq!(decode_in_pieces(coding, wire, piece), plain, "{piece}");
        }
    }

    fn events(n: usize) -> Vec<u8> {
        let mut plain = Vec::new();
        for i in 0..n {
            let _ = write!(plain, "id: {i}\ndata: {i} 0 0 {}\n\n", "x".repeat(i % 300));
        }
        plain
    }

    #[test]
    fn gzip_decodes_however_reads_cut_the_stream() {
        let plain = events(400);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let mut wire = Vec::new();
        for event in plain.split_inclusive(|&b| b == b'\n') {
            gz.write_all(event).expect("compress");
            gz.flush().expect("sync flush");
        }
        wire.extend(gz.finish().expect("finish"));
        assert_decodes_however_cut(Coding::Gzip, &wire, &plain);
    }

    #[test]
    fn concatenated_zstd_frames_decode_as_one_stream() {
        let plain = events(400);
        let mut wire = Vec::new();
        for event in plain.split_inclusive(|&b| b == b'\n') {
            wire.extend(zstd::bulk::compress(event, 3).expect("frame"));
        }
        assert_decodes_however_cut(Coding::Zstd, &wire, &plain);
    }

    #[test]
    fn codings_are_read_from_the_header() {
        assert_eq!(Coding::parse(b"GZIP"), Coding::Gzip);
        assert_eq!(Coding::parse(b"zstd"), Coding::Zstd);
        assert_eq!(Coding::parse(b"identity"), Coding::Identity);
        assert_eq!(Coding::parse(b"br"), Coding::Unknown);
        assert!(Decoder::new(Coding::Unknown).is_err());
    }
}
