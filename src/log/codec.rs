//! A compact binary encoding of stored events (what the persistent logs write to disk).

use super::Corrupt;
use crate::event::{Draft, Rules, Update};

const VERSION: u8 = 1;

/// Encodes an update with the time (ms since the epoch) it was stored.
pub(super) fn encode(update: &Update, stored_at_ms: u64) -> Vec<u8> {
    let topics_len: usize = update.topics().iter().map(|t| t.len() + 4).sum();
    let type_len = update.event_type().map_or(0, str::len);
    let mut out =
        Vec::with_capacity(32 + update.id().len() + topics_len + type_len + update.data().len());
    out.push(VERSION);
    out.extend_from_slice(&stored_at_ms.to_be_bytes());
    out.push(u8::from(update.is_private()) | (u8::from(update.event_type().is_some()) << 1));
    out.extend_from_slice(&update.retry().to_be_bytes());
    put_str(&mut out, update.id());
    put_str(&mut out, update.event_type().unwrap_or_default());
    out.extend_from_slice(&(update.topics().len() as u32).to_be_bytes());
    for topic in update.topics() {
        put_str(&mut out, topic);
    }
    put_str(&mut out, update.data());
    out
}

/// The storage time of an encoded event, without decoding the rest.
pub(super) fn stored_at_ms(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(1..9)?.try_into().ok()?))
}

/// Decodes what `encode` wrote; `Corrupt::Record` for bytes it did not write.
pub(super) fn decode(bytes: &[u8]) -> Result<Update, Corrupt> {
    read(bytes).ok_or(Corrupt::Record)
}

fn read(bytes: &[u8]) -> Option<Update> {
    let mut reader = Reader { bytes, at: 0 };
    if reader.take(1)?[0] != VERSION {
        return None;
    }
    reader.take(8)?;
    let flags = reader.take(1)?[0];
    let retry = u64::from_be_bytes(reader.take(8)?.try_into().ok()?);
    let id = reader.string()?;
    let event_type = reader.string()?;
    let count = reader.u32()? as usize;
    let topics = (0..count)
        .map(|_| reader.string())
        .collect::<Option<Vec<_>>>()?;
    let data = reader.string()?;
    // Checked again as it is rebuilt: an update is valid wherever it comes from (the hub's own
    // 1.0 subscription events included, `Rules::Hub`).
    Draft::with_rules(Rules::Hub, topics)
        .ok()?
        .id(Some(id))
        .event_type((flags & 2 != 0).then_some(event_type))
        .data(data)
        .private(flags & 1 != 0)
        .retry(retry)
        .build()
        .ok()
}

fn put_str(out: &mut Vec<u8>, value: &str) {
    out.extend_from_slice(&(value.len() as u32).to_be_bytes());
    out.extend_from_slice(value.as_bytes());
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let slice = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(slice)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    fn string(&mut self) -> Option<String> {
        let len = self.u32()? as usize;
        String::from_utf8(self.take(len)?.to_vec()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let update = Draft::new(vec!["a".into(), "".into(), "é".into()])
            .expect("topics")
            .id(Some("urn:uuid:1".into()))
            .data("line\nline".into())
            .private(true)
            .event_type(Some(String::new()))
            .retry(42)
            .build()
            .expect("valid");
        let bytes = encode(&update, 1234);
        assert_eq!(stored_at_ms(&bytes), Some(1234));
        assert_eq!(decode(&bytes), Ok(update));
    }

    #[test]
    fn garbage_is_refused_not_panicking() {
        assert_eq!(decode(&[]), Err(Corrupt::Record));
        assert_eq!(decode(&[VERSION, 0, 0]), Err(Corrupt::Record));
        let mut bytes = encode(&Update::example("x", &["t"], ""), 0);
        bytes.truncate(bytes.len() - 1);
        assert_eq!(decode(&bytes), Err(Corrupt::Record));
    }
}
