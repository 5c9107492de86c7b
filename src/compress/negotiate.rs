//! Choosing a stream's content coding from `Accept-Encoding` (RFC 9110 §12.5.3).

use super::Encoding;

/// A q-value in thousandths (0 to 1000).
type Weight = u16;

const FULL: Weight = 1000;

/// The weights a request gave, each coding's lowest if it is listed twice (so that a `q=0`
/// anywhere refuses it).
#[derive(Debug, Default)]
struct Weights {
    gzip: Option<Weight>,
    zstd: Option<Weight>,
    identity: Option<Weight>,
    any: Option<Weight>,
}

impl Weights {
    fn slot(&mut self, coding: &[u8]) -> Option<&mut Option<Weight>> {
        let is = |name: &[u8]| name.eq_ignore_ascii_case(coding);
        // RFC 9110 §8.4.1.3: recipients treat x-gzip as gzip.
        if is(b"gzip") || is(b"x-gzip") {
            Some(&mut self.gzip)
        } else if is(b"zstd") {
            Some(&mut self.zstd)
        } else if is(b"identity") {
            Some(&mut self.identity)
        } else if is(b"*") {
            Some(&mut self.any)
        } else {
            None
        }
    }

    /// What the request says of `encoding`: its own entry, else `*`'s, else not acceptable.
    fn of(&self, encoding: Encoding) -> Weight {
        let own = match encoding {
            Encoding::Gzip => self.gzip,
            Encoding::Zstd => self.zstd,
        };
        own.or(self.any).unwrap_or(0)
    }
}

/// The coding to send a stream in, among `allowed` (in order of preference on equal weights), for
/// a request with these `Accept-Encoding` header values; `None` = uncompressed.
///
/// - No header, or nothing acceptable among `allowed`: uncompressed (the hub never refuses a
///   subscription over its coding, even after `identity;q=0`).
/// - `q=0` refuses a coding; a coding listed twice gets its lower weight.
/// - `*` stands for every coding not listed by name (so `*` alone allows zstd and gzip).
/// - `identity` is chosen over a compressed coding only when the request weighs it strictly
///   higher (named, or through `*`): on a tie the operator's opt-in to compression wins.
/// - A malformed element (bad token, bad or repeated `q`, another parameter) is ignored, as are
///   unknown codings; nothing panics and nothing is allocated.
pub fn negotiate<'a>(
    accept_encoding: impl IntoIterator<Item = &'a [u8]>,
    allowed: &[Encoding],
) -> Option<Encoding> {
    let mut weights = Weights::default();
    for element in accept_encoding
        .into_iter()
        .flat_map(|value| value.split(|&b| b == b','))
    {
        if let Some((coding, weight)) = parse_element(element) {
            if let Some(slot) = weights.slot(coding) {
                *slot = Some(slot.map_or(weight, |earlier| earlier.min(weight)));
            }
        }
    }
    let (best, weight) = allowed
        .iter()
        .map(|&encoding| (encoding, weights.of(encoding)))
        .filter(|&(_, weight)| weight > 0)
        // `max_by_key` keeps the last of equals, so walk the preference order backwards.
        .rev()
        .max_by_key(|&(_, weight)| weight)?;
    let identity = weights.identity.or(weights.any).unwrap_or(0);
    (weight >= identity).then_some(best)
}

/// `coding` or `coding;q=weight` (with optional white space); `None` when malformed or empty.
fn parse_element(element: &[u8]) -> Option<(&[u8], Weight)> {
    let mut parts = element.split(|&b| b == b';');
    let coding = trim(parts.next()?);
    if coding.is_empty() || !coding.iter().all(|&b| is_tchar(b)) {
        return None;
    }
    let mut weight = None;
    for parameter in parts {
        let (name, value) = split_once(trim(parameter), b'=')?;
        if weight.is_some() || !trim(name).eq_ignore_ascii_case(b"q") {
            return None;
        }
        weight = Some(parse_qvalue(trim(value))?);
    }
    Some((coding, weight.unwrap_or(FULL)))
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in thousandths.
fn parse_qvalue(value: &[u8]) -> Option<Weight> {
    let (whole, fraction) = split_once(value, b'.').unwrap_or((value, b""));
    if fraction.len() > 3 || !fraction.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let thousandths = fraction
        .iter()
        .chain(std::iter::repeat(&b'0'))
        .take(3)
        .fold(0, |sum, digit| sum * 10 + Weight::from(digit - b'0'));
    match whole {
        b"0" => Some(thousandths),
        b"1" if thousandths == 0 => Some(FULL),
        _ => None,
    }
}

fn split_once(bytes: &[u8], separator: u8) -> Option<(&[u8], &[u8])> {
    let at = bytes.iter().position(|&b| b == separator)?;
    Some((&bytes[..at], &bytes[at + 1..]))
}

/// Without the optional white space (spaces and tabs) around it.
fn trim(bytes: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes.iter().position(|b| !is_ows(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |last| last + 1);
    &bytes[start..end]
}

/// RFC 9110 §5.6.2 token characters.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}
