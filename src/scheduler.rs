//! Batch release. Every replica runs this loop; the store lets only the first call in each release
//! slot move the pointer, so the line moves exactly one batch per interval however many replicas run.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::cache::PointerCache;
use crate::domain::{EventId, EventState};
use crate::store::{AdvanceMode, Capacity, Store};
use crate::telemetry::StateLog;

/// How often the loop looks at the clock; release intervals are at least 100 ms.
const TICK: Duration = Duration::from_millis(25);

pub async fn run_releases(
    store: Arc<dyn Store>,
    cache: Arc<PointerCache>,
    mut shutdown: watch::Receiver<bool>,
) {
    let log = StateLog::new("batch release");
    // Per event, the half-slot last attempted. Attempting twice per slot means that a replica whose
    // clock is off from Redis's still lands an attempt in every slot of Redis's clock.
    let mut attempted: HashMap<EventId, u64> = HashMap::new();
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.changed() => return,
        }
        let now_ms = u64::try_from(crate::clock::unix_ms()).unwrap_or_default();
        for event in cache.event_ids() {
            let Some(cached) = cache.get(&event) else {
                continue;
            };
            let settings = cached.settings();
            if settings.expired_at(crate::clock::unix_s()) {
                // Closed for longer than its data is kept: any replica may delete it, once.
                match store.delete_event(&event).await {
                    Ok(_) => {
                        tracing::info!(%event, retain_closed_s = settings.retain_closed_s, "deleted the data of an event closed long enough");
                        cache.forget(&event);
                    }
                    Err(e) => log.failed(&e),
                }
                continue;
            }
            if settings.state != EventState::Open || settings.batch_size == 0 {
                continue;
            }
            let half_slot = now_ms / (settings.release_interval_ms / 2).max(1);
            if attempted.get(&event) == Some(&half_slot) {
                continue;
            }
            let mode = AdvanceMode::Scheduled {
                interval_ms: settings.release_interval_ms,
            };
            match store
                .advance(&event, settings.batch_size, mode, Capacity::of(&settings))
                .await
            {
                Ok(advanced) => {
                    log.ok();
                    attempted.insert(event.clone(), half_slot);
                    if advanced.moved {
                        tracing::debug!(%event, admitted_through = advanced.admitted_through, "released a batch");
                    }
                }
                // Not recorded as attempted: the next tick tries again.
                Err(e) => log.failed(&e),
            }
        }
    }
}
