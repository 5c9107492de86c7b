//! Update payloads that carry a sequence number, the publisher and the send time.
//!
//! Format: `<seq> <publisher> <send-ns> ` then the body: `x` padding up to the requested size
//! ([`Kind::Padded`]) or a ~1 KB JSON-LD document with fresh ids, prices and dates
//! ([`Kind::JsonLd`]), which compresses like real updates do and unlike padding.

use std::io::Write;

/// What a received payload says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub seq: u64,
    pub publisher: u32,
    /// Nanoseconds since the run's clock started, when the publish request was sent.
    pub sent_ns: u64,
}

/// What follows the stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// `x` padding up to the payload size.
    #[default]
    Padded,
    /// A ~1 KB schema.org Product in JSON-LD, its values drawn at random per event (the payload
    /// size is ignored).
    #[value(name = "jsonld")]
    #[serde(rename = "jsonld")]
    JsonLd,
}

/// Writes a payload of at least `size` bytes into `out` (cleared first).
pub fn encode(out: &mut Vec<u8>, stamp: Stamp, size: usize) {
    encode_kind(out, stamp, Kind::Padded, size);
}

/// Writes a payload of `kind` into `out` (cleared first); `size` is the padded kind's size.
pub fn encode_kind(out: &mut Vec<u8>, stamp: Stamp, kind: Kind, size: usize) {
    out.clear();
    let _ = write!(out, "{} {} {} ", stamp.seq, stamp.publisher, stamp.sent_ns);
    match kind {
        Kind::Padded => {
            if out.len() < size {
                out.resize(size, b'x');
            }
        }
        // Seeded by the sequence number: a run's payloads are the same from one run to the next.
        Kind::JsonLd => json_ld(out, &mut fastrand::Rng::with_seed(stamp.seq)),
    }
}

/// Appends a ~1 KB JSON-LD Product (fresh ids, prices, dates): the realistic event the
/// compression goals of issue 21 are stated for, shared with `src/compress/tests.rs`.
pub fn json_ld(out: &mut Vec<u8>, rng: &mut fastrand::Rng) {
    let _ = write!(
        out,
        r#"{{"@context":"https://schema.org","@type":"Product","@id":"https://example.com/books/{}","name":"Book {:x}","sku":"{:016x}","description":"Edition {} of a book about {}.","offers":["#,
        rng.u32(..),
        rng.u64(..),
        rng.u64(..),
        rng.u8(1..20),
        ["rivers", "mountains", "stars", "trains"][rng.usize(..4)],
    );
    for (n, availability) in ["InStock", "OutOfStock", "PreOrder"].iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        let _ = write!(
            out,
            r#"{{"@type":"Offer","@id":"https://example.com/offers/{}","price":"{}.{:02}","priceCurrency":"EUR","availability":"https://schema.org/{availability}","validFrom":"2026-{:02}-{:02}T{:02}:{:02}:{:02}Z","seller":{{"@type":"Organization","name":"Seller {}"}}}}"#,
            rng.u32(..),
            rng.u32(1..500),
            rng.u8(..100),
            rng.u8(1..13),
            rng.u8(1..29),
            rng.u8(..24),
            rng.u8(..60),
            rng.u8(..60),
            rng.u16(..),
        );
    }
    let _ = write!(
        out,
        r#"],"aggregateRating":{{"@type":"AggregateRating","ratingValue":"{}.{}","reviewCount":"{}"}}}}"#,
        rng.u8(1..5),
        rng.u8(..10),
        rng.u32(..10_000),
    );
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

    #[test]
    fn json_ld_payloads_keep_the_stamp_and_are_json_after_it() {
        let stamp = Stamp {
            seq: 7,
            publisher: 1,
            sent_ns: 99,
        };
        let mut out = Vec::new();
        encode_kind(&mut out, stamp, Kind::JsonLd, 0);
        assert_eq!(decode(&out), Some(stamp));
        let json = out
            .splitn(4, |&b| b == b' ')
            .nth(3)
            .expect("a body after the stamp");
        let value: serde_json::Value = serde_json::from_slice(json).expect("valid JSON");
        assert_eq!(value["offers"].as_array().map(Vec::len), Some(3));
        assert!((800..1300).contains(&out.len()), "{} bytes", out.len());
    }
}
