//! Opens the configured history store.

use std::sync::Arc;

use crate::config::Transport;
use crate::log::{EventLog, LogError, MemoryLog, RedisLog, SledLog};
use crate::settings::HistorySettings;

/// The store `transport` names: sled in `data_dir`, the shared Redis, or memory.
pub(super) fn open(settings: &HistorySettings) -> Result<Arc<dyn EventLog>, LogError> {
    Ok(match settings.transport {
        Transport::Sled => Arc::new(SledLog::open(
            &settings.data_dir,
            settings.retention,
            settings.durability,
            settings.sled_cache_size,
        )?),
        Transport::Redis => Arc::new(RedisLog::open(
            &settings.redis_url,
            &settings.redis_key_prefix,
            settings.retention,
        )?),
        Transport::Memory => Arc::new(MemoryLog::new(settings.retention)),
    })
}
