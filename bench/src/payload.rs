//! Update payloads that carry a sequence number, the publisher and the send time.
//!
//! Format: `<seq> <publisher> <send-ns> xxxx…`, padded with `x` to the requested size.

use std::io::Write;

/// What a received payload says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub seq: u64,
    pub publisher: u32,
    /// Nanoseconds since the run's clock started, when the publish request was sent.
    pub sent_ns: u64,
}

/// Writes a payload of at least `size` bytes into `out` (cleared first).
pub fn encode(out: &mut Vec<u8>, stamp: Stamp, size: usize) {
    out.clear();
    let _ = write!(out, "{} {} {} ", stamp.seq, stamp.publisher, stamp.sent_ns);
    if out.len() < size {
        out.resize(size, b'x');
    }
}

/// Reads the stamp at the start of a payload; `None` for foreign data.
pub fn decode(data: &[u8]) -> Option<Stamp> {
    let mut fields = data.split(|&b| b == b' ');
    let mut next = || fields.next().and_then(super::http::parse_decimal);
    let seq = next()?;
    let publisher = u32::try_from(next()?).ok()?;
    let sent_ns = next()?;
    Some(Stamp {
        seq,
        publisher,
        sent_ns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_pads() {
        let stamp = Stamp {
            seq: 42,
            publisher: 3,
            sent_ns: 123_456_789,
        };
        let mut out = Vec::new();
        encode(&mut out, stamp, 100);
        assert_eq!(out.len(), 100);
        assert_eq!(decode(&out), Some(stamp));
        encode(&mut out, stamp, 0);
        assert_eq!(decode(&out), Some(stamp));
        assert_eq!(decode(b"hello world"), None);
    }
}
