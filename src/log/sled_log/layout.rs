//! How the history sits in sled: few, large keys, because sled's cost is per key (about 15 µs of
//! CPU each, measured), not per byte.
//!
//! - `c` + last position + first position (big-endian u64s) → a chunk: the events of one write,
//!   with consecutive positions, each as `u32` length + `codec` record. Sorting by the last
//!   position makes "the chunk holding position p" the first key at or after `c` + p.
//! - `R` + last + first → nothing: an id-index run covers these positions.
//! - `r` + run's last position + first hash of the page → a page of that run: sorted
//!   (FNV-1a hash of the id, position) pairs. A lookup reads one page per run.
//! - `m:last-id` (id of the newest event ever written), `m:next` (next position), `m:health`;
//!   `m:layout` = 2 marks this layout.

pub(super) const CHUNK: u8 = b'c';
pub(super) const RUN: u8 = b'R';
pub(super) const PAGE: u8 = b'r';
pub(super) const LAST_ID: &[u8] = b"m:last-id";
/// The next position to use, so that positions are never reused once retention empties the log.
pub(super) const NEXT: &[u8] = b"m:next";
pub(super) const HEALTH: &[u8] = b"m:health";
pub(super) const LAYOUT: &[u8] = b"m:layout";
pub(super) const LAYOUT_VERSION: u8 = 2;

/// Entries per index page: one page is about 4 KiB.
pub(super) const PAGE_ENTRIES: usize = 256;

pub(super) fn span_key(prefix: u8, last: u64, second: u64) -> [u8; 17] {
    let mut key = [prefix; 17];
    key[1..9].copy_from_slice(&last.to_be_bytes());
    key[9..].copy_from_slice(&second.to_be_bytes());
    key
}

/// The first key of every chunk whose last position is at or after `position`.
pub(super) fn chunk_from(position: u64) -> [u8; 9] {
    let mut key = [CHUNK; 9];
    key[1..].copy_from_slice(&position.to_be_bytes());
    key
}

/// (last, first) of a chunk or run key.
pub(super) fn span_of(key: &[u8]) -> Option<(u64, u64)> {
    if key.len() != 17 {
        return None;
    }
    let last = u64::from_be_bytes(key[1..9].try_into().ok()?);
    let first = u64::from_be_bytes(key[9..17].try_into().ok()?);
    (first <= last).then_some((last, first))
}

/// A stable 64-bit hash of an event id (stored on disk: it must never change).
pub(super) fn id_hash(id: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// Appends one record (length-prefixed `codec` bytes) to a chunk being built.
pub(super) fn push_record(chunk: &mut Vec<u8>, record: &[u8]) {
    chunk.extend_from_slice(&(record.len() as u32).to_be_bytes());
    chunk.extend_from_slice(record);
}

/// The records of a chunk, in position order; stops at the first malformed length.
pub(super) fn records(chunk: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let len = u32::from_be_bytes(chunk.get(at..at + 4)?.try_into().ok()?) as usize;
        let record = chunk.get(at + 4..at + 4 + len)?;
        at += 4 + len;
        Some(record)
    })
}

/// The record of `position` in a chunk starting at `first`.
pub(super) fn record_at(chunk: &[u8], first: u64, position: u64) -> Option<&[u8]> {
    let skip = usize::try_from(position.checked_sub(first)?).ok()?;
    records(chunk).nth(skip)
}

/// Splits a run's sorted entries into pages; entries with one hash never straddle two pages, so
/// the page found for a hash holds all of its positions.
pub(super) fn pages(entries: &[(u64, u64)]) -> Vec<&[(u64, u64)]> {
    let mut pages = Vec::new();
    let mut start = 0;
    while start < entries.len() {
        let mut end = (start + PAGE_ENTRIES).min(entries.len());
        while end < entries.len() && entries[end].0 == entries[end - 1].0 {
            end += 1;
        }
        pages.push(&entries[start..end]);
        start = end;
    }
    pages
}

pub(super) fn encode_page(entries: &[(u64, u64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * 16);
    for (hash, position) in entries {
        out.extend_from_slice(&hash.to_be_bytes());
        out.extend_from_slice(&position.to_be_bytes());
    }
    out
}

/// Positions of `hash` in an encoded page, in order.
pub(super) fn page_positions(page: &[u8], hash: u64) -> Vec<u64> {
    let entry = |i: usize| -> (u64, u64) {
        let bytes = &page[i * 16..i * 16 + 16];
        let word = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[at..at + 8]);
            u64::from_be_bytes(b)
        };
        (word(0), word(8))
    };
    let count = page.len() / 16;
    let start = partition(count, |i| entry(i).0 < hash);
    (start..count)
        .map(entry)
        .take_while(|(h, _)| *h == hash)
        .map(|(_, position)| position)
        .collect()
}

/// First index in `0..count` where `before` is false (it must be true then false).
fn partition(count: usize, before: impl Fn(usize) -> bool) -> usize {
    let (mut low, mut high) = (0, count);
    while low < high {
        let mid = low + (high - low) / 2;
        if before(mid) {
            low = mid + 1;
        } else {
            high = mid;
        }
    }
    low
}

pub(super) fn page_key(run_last: u64, first_hash: u64) -> [u8; 17] {
    span_key(PAGE, run_last, first_hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_stop_on_garbage() {
        let mut chunk = Vec::new();
        push_record(&mut chunk, b"one");
        push_record(&mut chunk, b"");
        push_record(&mut chunk, b"three");
        assert_eq!(
            records(&chunk).collect::<Vec<_>>(),
            [&b"one"[..], b"", b"three"]
        );
        assert_eq!(record_at(&chunk, 10, 12), Some(&b"three"[..]));
        assert_eq!(record_at(&chunk, 10, 9), None);
        chunk.truncate(chunk.len() - 1);
        assert_eq!(records(&chunk).count(), 2);
    }

    #[test]
    fn chunk_keys_sort_by_last_position() {
        assert!(span_key(CHUNK, 9, 1) < span_key(CHUNK, 10, 10));
        assert!(chunk_from(10)[..] <= span_key(CHUNK, 10, 10)[..]);
        assert!(chunk_from(11)[..] > span_key(CHUNK, 10, 10)[..]);
        assert_eq!(span_of(&span_key(CHUNK, 10, 3)), Some((10, 3)));
        assert_eq!(span_of(&span_key(CHUNK, 3, 10)), None);
    }

    #[test]
    fn pages_keep_equal_hashes_together_and_find_them() {
        let mut entries: Vec<(u64, u64)> = (0..600).map(|i| (i / 3, i)).collect();
        entries.extend((600..900).map(|i| (1000, i)));
        let split = pages(&entries);
        assert!(split.len() >= 2);
        let long = split
            .iter()
            .find(|p| p[0].0 == 1000 || p.iter().any(|e| e.0 == 1000));
        let long = long.expect("a page with hash 1000");
        assert_eq!(long.iter().filter(|e| e.0 == 1000).count(), 300);
        let page = encode_page(long);
        assert_eq!(page_positions(&page, 1000).len(), 300);
        assert_eq!(page_positions(&encode_page(split[0]), 5), vec![15, 16, 17]);
        assert!(page_positions(&encode_page(split[0]), 100_000).is_empty());
    }

    #[test]
    fn the_id_hash_is_stable() {
        assert_eq!(id_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(id_hash("a"), 0xaf63_dc4c_8601_ec8c);
    }
}
