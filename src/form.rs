//! WHATWG `application/x-www-form-urlencoded` decoding with strict UTF-8 (protocol.md X-13).
//!
//! `form_urlencoded::parse` replaces invalid bytes with U+FFFD, which would hide invalid UTF-8;
//! this decoder percent-decodes to bytes and checks UTF-8 explicitly.

use thiserror::Error;

/// A percent-decoded name or value that is not UTF-8: refused, never replaced.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("form name or value is not valid UTF-8")]
pub struct InvalidUtf8;

/// Decoded `(name, value)` pairs in their original order.
pub type Pairs = Vec<(String, String)>;

/// Decodes a query string or form body.
pub fn parse(input: &[u8]) -> Result<Pairs, InvalidUtf8> {
    input
        .split(|b| *b == b'&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (name, value) = match part.iter().position(|b| *b == b'=') {
                Some(eq) => (&part[..eq], &part[eq + 1..]),
                None => (part, &part[part.len()..]),
            };
            Ok((decode_component(name)?, decode_component(value)?))
        })
        .collect()
}

/// Percent-decodes one name or value (`+` is a space, a bad `%` escape stays literal).
pub fn decode_component(input: &[u8]) -> Result<String, InvalidUtf8> {
    let mut bytes = Vec::with_capacity(input.len());
    let mut rest = input;
    // Runs without `+` or `%` (most of a typical value) are copied whole.
    while let Some(at) = memchr::memchr2(b'+', b'%', rest) {
        bytes.extend_from_slice(&rest[..at]);
        let escaped = match rest[at] {
            b'+' => None,
            _ => rest.get(at + 1..at + 3).and_then(|h| hex_pair(h[0], h[1])),
        };
        match (rest[at], escaped) {
            (b'+', _) => bytes.push(b' '),
            (_, Some(byte)) => bytes.push(byte),
            (_, None) => bytes.push(b'%'),
        }
        let taken = if escaped.is_some() { 3 } else { 1 };
        rest = &rest[at + taken..];
    }
    bytes.extend_from_slice(rest);
    String::from_utf8(bytes).map_err(|_| InvalidUtf8)
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn hex_pair(high: u8, low: u8) -> Option<u8> {
    Some(hex_digit(high)? << 4 | hex_digit(low)?)
}

/// Form-style escaping (protocol.md A-SUBS-4): unreserved kept, space → `+`, the rest `%HH`.
pub fn escape_component(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for b in input.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Values of every pair named `name`, in order.
pub fn values<'a>(
    pairs: &'a [(String, String)],
    name: &'a str,
) -> impl Iterator<Item = &'a str> + 'a {
    pairs
        .iter()
        .filter(move |(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The first value named `name`.
pub fn first<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(input: &str) -> Pairs {
        parse(input.as_bytes()).expect("valid")
    }

    #[test]
    fn decodes_plus_percent_and_repeated_names() {
        let p = pairs("topic=a+b&topic=%7Bid%7D&x");
        assert_eq!(
            p,
            vec![
                ("topic".into(), "a b".into()),
                ("topic".into(), "{id}".into()),
                ("x".into(), "".into()),
            ]
        );
    }

    #[test]
    fn first_equals_sign_splits_and_semicolon_is_ordinary() {
        assert_eq!(pairs("a=b=c;d"), vec![("a".into(), "b=c;d".into())]);
    }

    #[test]
    fn bad_escapes_stay_literal() {
        assert_eq!(
            pairs("a=%zz%4&b=%"),
            vec![("a".into(), "%zz%4".into()), ("b".into(), "%".into())]
        );
    }

    #[test]
    fn invalid_utf8_is_refused() {
        assert_eq!(parse(b"a=%FF"), Err(InvalidUtf8));
        assert_eq!(parse(b"%C3=x"), Err(InvalidUtf8));
        assert_eq!(parse("a=%C3%A9".as_bytes()).expect("utf8")[0].1, "é");
    }

    /// The byte-at-a-time decoder the run-copying one must agree with.
    fn reference_decode(input: &[u8]) -> Option<String> {
        let mut bytes = Vec::new();
        let mut i = 0;
        while i < input.len() {
            match input[i] {
                b'+' => bytes.push(b' '),
                b'%' => match input.get(i + 1..i + 3).and_then(|h| hex_pair(h[0], h[1])) {
                    Some(byte) => {
                        bytes.push(byte);
                        i += 2;
                    }
                    None => bytes.push(b'%'),
                },
                other => bytes.push(other),
            }
            i += 1;
        }
        String::from_utf8(bytes).ok()
    }

    #[test]
    fn run_copying_agrees_with_the_byte_decoder() {
        let alphabet = [
            b'a', b'+', b'%', b'4', b'1', b'F', b'z', b'C', b'3', b'A', b'9',
        ];
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for length in 0..400 {
            let input: Vec<u8> = (0..length % 23)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    alphabet[(seed % alphabet.len() as u64) as usize]
                })
                .collect();
            assert_eq!(
                decode_component(&input).ok(),
                reference_decode(&input),
                "{input:?}"
            );
        }
    }

    #[test]
    fn escape_is_form_style() {
        assert_eq!(
            escape_component("https://ex.com/{a} b"),
            "https%3A%2F%2Fex.com%2F%7Ba%7D+b"
        );
    }
}
