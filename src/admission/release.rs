//! A release: an event's line moves over a batch, or, for an event with lanes, each lane's line over
//! its share of it ([`super::lane_shares`], by who waits where as this replica knows it), picked as
//! the event's intake says.

use std::sync::Arc;

use super::{lane_shares, rules};
use crate::cache::{CachedEvent, PointerCache};
use crate::domain::LineId;
use crate::store::{AdvanceMode, Store, StoreError};

/// Moves `event`'s lines over `count` visitors and tells the cache of every move. Returns whether
/// any pointer moved.
pub async fn release(
    store: &dyn Store,
    cache: &PointerCache,
    event: &LineId,
    cached: &Arc<CachedEvent>,
    count: u64,
    mode: AdvanceMode,
) -> Result<bool, StoreError> {
    let policy = cached.policy();
    let lines = lines_of(cache, event, cached);
    let counts = if policy.has_lanes() {
        let demand: Vec<(u8, u64)> = policy
            .lane_shares
            .iter()
            .zip(&lines)
            .map(|(share, (_, line))| (*share, line.as_ref().map_or(0, |line| line.waiting())))
            .collect();
        lane_shares(count, &demand)
    } else {
        vec![count]
    };
    let intake = rules(policy.intake);
    let mut moved = false;
    for ((id, line), count) in lines.into_iter().zip(counts) {
        let Some(line) = line else { continue };
        if count == 0 {
            continue;
        }
        let advanced = store
            .advance(&id, count, mode, policy.capacity, policy.pick())
            .await?;
        moved |= advanced.moved;
        let manual = mode == AdvanceMode::Manual;
        cache.observe(
            &id,
            &line,
            advanced.issued,
            advanced.admitted_through,
            manual,
        );
        intake.after_release(store, cache, &id).await?;
    }
    Ok(moved)
}

/// An event's lines: its own, then each lane's after the first (those this replica knows).
fn lines_of(
    cache: &PointerCache,
    event: &LineId,
    cached: &Arc<CachedEvent>,
) -> Vec<(LineId, Option<Arc<CachedEvent>>)> {
    let settings = cached.settings();
    let mut lines = vec![(event.clone(), Some(cached.clone()))];
    for (_, id) in settings.lane_lines(event.event()) {
        let line = cache.get(&id);
        lines.push((id, line));
    }
    lines
}

/// How many wait in all of an event's lines.
pub fn waiting_in_lines(cache: &PointerCache, event: &LineId, cached: &Arc<CachedEvent>) -> u64 {
    // The scheduler's scan asks this of every event every second: no allocation for one without
    // lanes.
    if !cached.policy().has_lanes() {
        return cached.waiting();
    }
    lines_of(cache, event, cached)
        .iter()
        .filter_map(|(_, line)| line.as_ref().map(|line| line.waiting()))
        .sum()
}
