//! Upgrades a history written by an older Quicksilver (one sled key per event plus one per id,
//! "layout 1") to chunks, once, at start-up.

use super::layout::{self, CHUNK, LAYOUT, LAYOUT_VERSION, NEXT};
use crate::log::LogError;

const OLD_EVENT: u8 = b'e';
const OLD_INDEX: u8 = b'i';
const EVENTS_PER_CHUNK: usize = 1024;
/// The `op` of a failed upgrade.
const UPGRADE: &str = "layout upgrade";

pub(super) fn to_current_layout(db: &sled::Db) -> Result<(), LogError> {
    if db
        .get(LAYOUT)
        .map_err(LogError::storage(UPGRADE))?
        .is_some()
    {
        return Ok(());
    }
    let mut moved = 0u64;
    let mut chunk: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut old_keys = Vec::new();
    for entry in db.scan_prefix([OLD_EVENT]) {
        let (key, record) = entry.map_err(LogError::storage(UPGRADE))?;
        let Some(position) = old_position(&key) else {
            continue;
        };
        // A chunk holds consecutive positions only.
        if chunk.last().is_some_and(|(last, _)| *last + 1 != position) {
            moved += write_chunk(db, &mut chunk, &mut old_keys)?;
        }
        chunk.push((position, record.to_vec()));
        old_keys.push(key);
        if chunk.len() == EVENTS_PER_CHUNK {
            moved += write_chunk(db, &mut chunk, &mut old_keys)?;
            if moved % (100 * EVENTS_PER_CHUNK as u64) == 0 {
                tracing::info!(moved, "upgrading the history to the chunked layout");
            }
        }
    }
    moved += write_chunk(db, &mut chunk, &mut old_keys)?;
    let mut batch = sled::Batch::default();
    for key in db.scan_prefix([OLD_INDEX]).keys() {
        batch.remove(key.map_err(LogError::storage(UPGRADE))?);
    }
    batch.insert(LAYOUT, &[LAYOUT_VERSION][..]);
    db.apply_batch(batch).map_err(LogError::storage(UPGRADE))?;
    db.flush().map_err(LogError::storage(UPGRADE))?;
    if moved > 0 {
        tracing::info!(moved, "history upgraded to the chunked layout");
    }
    Ok(())
}

fn old_position(key: &[u8]) -> Option<u64> {
    let bytes: [u8; 8] = key.get(1..)?.try_into().ok()?;
    (key.len() == 9).then_some(u64::from_be_bytes(bytes))
}

/// Writes one chunk and removes the keys it replaces, atomically.
fn write_chunk(
    db: &sled::Db,
    chunk: &mut Vec<(u64, Vec<u8>)>,
    old_keys: &mut Vec<sled::IVec>,
) -> Result<u64, LogError> {
    let (Some((first, _)), Some((last, _))) = (chunk.first(), chunk.last()) else {
        return Ok(0);
    };
    let (first, last) = (*first, *last);
    let mut value = Vec::new();
    for (_, record) in chunk.iter() {
        layout::push_record(&mut value, record);
    }
    let mut batch = sled::Batch::default();
    batch.insert(&layout::span_key(CHUNK, last, first)[..], value);
    batch.insert(NEXT, &(last + 1).to_be_bytes()[..]);
    for key in old_keys.drain(..) {
        batch.remove(key);
    }
    db.apply_batch(batch).map_err(LogError::storage(UPGRADE))?;
    let count = chunk.len() as u64;
    chunk.clear();
    Ok(count)
}
