//! Minimal HTTP/1.1 client pieces: response heads, fixed-length bodies, chunked decoding.

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::decode::Coding;
use super::error::BenchError;

/// How a response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

/// What the bench needs from a response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    pub framing: Framing,
    /// The server will close the connection after this response.
    pub close: bool,
    /// The body's `Content-Encoding`.
    pub coding: Coding,
}

/// A connection with a read buffer; bytes past a parsed head stay buffered.
pub struct Conn {
    pub stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

const MAX_HEAD: usize = 16 * 1024;

impl Conn {
    pub fn new(stream: TcpStream, capacity: usize) -> Conn {
        Conn {
            stream,
            buf: vec![0; capacity.max(1024)],
            start: 0,
            end: 0,
        }
    }

    /// Buffered bytes not consumed yet.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Puts bytes read elsewhere back in front of the next read.
    pub fn unread(&mut self, bytes: &[u8]) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        while self.buf.len() - self.end < bytes.len() {
            self.make_room();
        }
        self.buf[self.end..self.end + bytes.len()].copy_from_slice(bytes);
        self.end += bytes.len();
    }

    /// Marks `n` buffered bytes as consumed.
    pub fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Reads more bytes from the socket into the buffer; `Ok(0)` at end of stream.
    pub async fn fill(&mut self, what: &'static str) -> Result<usize, BenchError> {
        if self.end == self.buf.len() {
            self.make_room();
        }
        let n = self
            .stream
            .read(&mut self.buf[self.end..])
            .await
            .map_err(BenchError::io(what))?;
        self.end += n;
        Ok(n)
    }

    fn make_room(&mut self) {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        } else {
            let grown = self.buf.len() * 2;
            self.buf.resize(grown, 0);
        }
    }

    /// Reads and parses a response head.
    pub async fn read_head(&mut self, what: &'static str) -> Result<Head, BenchError> {
        loop {
            if let Some(end) = memchr::memmem::find(self.buffered(), b"\r\n\r\n") {
                let head = parse_head(&self.buffered()[..end])?;
                self.consume(end + 4);
                return Ok(head);
            }
            if self.buffered().len() > MAX_HEAD {
                return Err(BenchError::Protocol("response head too large"));
            }
            if self.fill(what).await? == 0 {
                return Err(BenchError::Closed(what));
            }
        }
    }

    /// Reads a whole body of a known framing (not for endless streams).
    pub async fn read_body(
        &mut self,
        framing: Framing,
        what: &'static str,
        out: &mut Vec<u8>,
    ) -> Result<(), BenchError> {
        match framing {
            Framing::Length(n) => self.read_exact_into(n, what, out).await,
            Framing::Chunked => self.read_chunked_into(what, out).await,
            Framing::UntilClose => self.read_to_close_into(what, out).await,
        }
    }

    async fn read_exact_into(
        &mut self,
        n: usize,
        what: &'static str,
        out: &mut Vec<u8>,
    ) -> Result<(), BenchError> {
        while self.buffered().len() < n {
            if self.fill(what).await? == 0 {
                return Err(BenchError::Closed(what));
            }
        }
        out.extend_from_slice(&self.buffered()[..n]);
        self.consume(n);
        Ok(())
    }

    async fn read_chunked_into(
        &mut self,
        what: &'static str,
        out: &mut Vec<u8>,
    ) -> Result<(), BenchError> {
        let mut decoder = ChunkDecoder::default();
        loop {
            let used = decoder.decode(self.buffered(), out)?;
            self.consume(used);
            if decoder.is_done() {
                return Ok(());
            }
            if self.fill(what).await? == 0 {
                return Err(BenchError::Closed(what));
            }
        }
    }

    async fn read_to_close_into(
        &mut self,
        what: &'static str,
        out: &mut Vec<u8>,
    ) -> Result<(), BenchError> {
        loop {
            out.extend_from_slice(self.buffered());
            let n = self.buffered().len();
            self.consume(n);
            if self.fill(what).await? == 0 {
                return Ok(());
            }
        }
    }
}

/// Parses a status line and headers (without the final blank line).
pub fn parse_head(head: &[u8]) -> Result<Head, BenchError> {
    let mut lines = head.split(|&b| b == b'\n').map(trim_cr);
    let status_line = lines.next().unwrap_or_default();
    let status = parse_status(status_line)?;
    let http10 = status_line.starts_with(b"HTTP/1.0");
    let mut framing = Framing::UntilClose;
    let mut close = http10;
    let mut coding = Coding::Identity;
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = &line[..colon];
        let value = trim(&line[colon + 1..]);
        if name.eq_ignore_ascii_case(b"transfer-encoding") {
            if contains_token(value, b"chunked") {
                framing = Framing::Chunked;
            }
        } else if name.eq_ignore_ascii_case(b"content-length") {
            if framing != Framing::Chunked {
                let n = parse_decimal(value).ok_or(BenchError::Protocol("bad content-length"))?;
                framing = Framing::Length(n as usize);
            }
        } else if name.eq_ignore_ascii_case(b"connection") {
            close = contains_token(value, b"close")
                || (http10 && !contains_token(value, b"keep-alive"));
        } else if name.eq_ignore_ascii_case(b"content-encoding") {
            coding = Coding::parse(value);
        }
    }
    Ok(Head {
        status,
        framing,
        close,
        coding,
    })
}

fn parse_status(line: &[u8]) -> Result<u16, BenchError> {
    if !line.starts_with(b"HTTP/1.") || line.len() < 12 {
        return Err(BenchError::Protocol("bad status line"));
    }
    parse_decimal(&line[9..12])
        .map(|s| s as u16)
        .ok_or(BenchError::Protocol("bad status code"))
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn trim(value: &[u8]) -> &[u8] {
    let start = value.iter().position(|b| !b.is_ascii_whitespace());
    let end = value.iter().rposition(|b| !b.is_ascii_whitespace());
    match (start, end) {
        (Some(s), Some(e)) => &value[s..=e],
        _ => &[],
    }
}

fn contains_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| trim(t).eq_ignore_ascii_case(token))
}

/// Parses ASCII decimal digits (no sign, no spaces).
pub fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        d.is_ascii_digit().then(|| n * 10 + u64::from(d - b'0'))
    })
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    #[default]
    Size,
    /// Skipping chunk extensions up to the end of the size line.
    SizeLine,
    Data,
    /// Expecting the CRLF after chunk data.
    DataEnd,
    /// After the last (empty) chunk: skipping trailers up to an empty line.
    Trailer {
        empty_line: bool,
    },
    Done,
}

/// Incremental `Transfer-Encoding: chunked` decoder.
#[derive(Debug, Default)]
pub struct ChunkDecoder {
    state: ChunkState,
    size: u64,
    digits: u8,
}

impl ChunkDecoder {
    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Decodes as much of `input` as possible, appending payload to `out`; returns bytes used.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, BenchError> {
        self.decode_with(input, |data| out.extend_from_slice(data))
    }

    /// Decodes as much of `input` as possible, handing each run of payload bytes to `data` as a
    /// slice of `input` (no copy); returns bytes used.
    pub fn decode_with(
        &mut self,
        input: &[u8],
        mut data: impl FnMut(&[u8]),
    ) -> Result<usize, BenchError> {
        let mut i = 0;
        while i < input.len() && self.state != ChunkState::Done {
            if self.state == ChunkState::Data {
                let piece = self.data(&input[i..]);
                data(piece);
                i += piece.len();
            } else {
                self.byte(input[i])?;
                i += 1;
            }
        }
        Ok(i)
    }

    /// The payload bytes at the front of `input` that belong to the current chunk.
    fn data<'a>(&mut self, input: &'a [u8]) -> &'a [u8] {
        let n = (self.size as usize).min(input.len());
        self.size -= n as u64;
        if self.size == 0 {
            self.state = ChunkState::DataEnd;
        }
        &input[..n]
    }

    fn byte(&mut self, b: u8) -> Result<(), BenchError> {
        match self.state {
            ChunkState::Size => self.size_byte(b)?,
            ChunkState::SizeLine => {
                if b == b'\n' {
                    self.end_size_line();
                }
            }
            ChunkState::DataEnd => {
                if b == b'\n' {
                    self.state = ChunkState::Size;
                } else if b != b'\r' {
                    return Err(BenchError::Protocol("chunk data not followed by CRLF"));
                }
            }
            ChunkState::Trailer { empty_line } => self.trailer_byte(b, empty_line),
            ChunkState::Data | ChunkState::Done => {}
        }
        Ok(())
    }

    fn size_byte(&mut self, b: u8) -> Result<(), BenchError> {
        if let Some(d) = (b as char).to_digit(16) {
            if self.digits >= 15 {
                return Err(BenchError::Protocol("chunk size too large"));
            }
            self.size = self.size * 16 + u64::from(d);
            self.digits += 1;
            return Ok(());
        }
        if self.digits == 0 {
            return Err(BenchError::Protocol("bad chunk size"));
        }
        self.state = ChunkState::SizeLine;
        if b == b'\n' {
            self.end_size_line();
        }
        Ok(())
    }

    fn end_size_line(&mut self) {
        self.digits = 0;
        self.state = if self.size == 0 {
            ChunkState::Trailer { empty_line: true }
        } else {
            ChunkState::Data
        };
    }

    fn trailer_byte(&mut self, b: u8, empty_line: bool) {
        self.state = match b {
            b'\n' if empty_line => ChunkState::Done,
            b'\n' => ChunkState::Trailer { empty_line: true },
            b'\r' => ChunkState::Trailer { empty_line },
            _ => ChunkState::Trailer { empty_line: false },
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_heads() {
        let head = parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: x")
            .unwrap();
        assert_eq!(head.status, 200);
        assert_eq!(head.framing, Framing::Chunked);
        assert!(!head.close);
        assert_eq!(head.coding, Coding::Identity);
        let head = parse_head(b"HTTP/1.1 200 OK\r\nContent-Encoding: zstd\r\n").unwrap();
        assert_eq!(head.coding, Coding::Zstd);
        let head =
            parse_head(b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 12\r\nConnection: close")
                .unwrap();
        assert_eq!(
            (head.status, head.framing, head.close),
            (401, Framing::Length(12), true)
        );
        assert!(parse_head(b"garbage").is_err());
    }

    #[test]
    fn decodes_chunks_split_anywhere() {
        let event = b"id: abc\ndata: hello there\n\n";
        let mut wire = b"2\r\n:\n\r\n".to_vec();
        wire.extend_from_slice(format!("{:X};ext=1\r\n", event.len()).as_bytes());
        wire.extend_from_slice(event);
        wire.extend_from_slice(b"\r\n0\r\nx: y\r\n\r\n");
        let expected = [b":\n".as_slice(), event].concat();
        for split in 0..wire.len() {
            let mut decoder = ChunkDecoder::default();
            let mut out = Vec::new();
            let used = decoder.decode(&wire[..split], &mut out).unwrap();
            assert_eq!(used, split);
            decoder.decode(&wire[split..], &mut out).unwrap();
            assert!(decoder.is_done(), "split at {split}");
            assert_eq!(out, expected);
        }
    }
}
