//! A pool drawn at every release (the `random` method): joins wait with arrival numbers, and each
//! release first draws, uniformly, as many as it lets through beyond those already in line, giving
//! them the line's next positions. Switching away moves those still in the pool to the line, in
//! arrival order.

use async_trait::async_trait;

use super::{draw_chance, Held, IntakeRules, Switch, Undrawn};
use crate::cache::{CachedEvent, PointerCache};
use crate::domain::LineId;
use crate::store::{Joined, Store, StoreError};

pub(super) struct Pool;

#[async_trait]
impl IntakeRules for Pool {
    fn floor(&self, cached: &CachedEvent) -> u64 {
        cached.pool_arrived()
    }

    fn observe_join(&self, cached: &CachedEvent, joined: &Joined) {
        if joined.arrival {
            cached.observe_arrival(joined.position, joined.fresh);
        } else {
            cached.observe_issued(joined.position);
        }
    }

    fn drawn_position(&self, cached: &CachedEvent, arrival: u64) -> Option<u64> {
        cached.won_position(arrival)
    }

    /// When the next release draws, how many wait, and the chance of being drawn then.
    fn undrawn(&self, cached: &CachedEvent, now_ms: i64) -> Undrawn {
        let settings = cached.settings();
        let waiting = cached.pool_waiting().max(1);
        let chance = draw_chance(&settings, cached.figures().active, waiting);
        let interval =
            i64::try_from(settings.release.release_interval_ms.max(1)).unwrap_or(i64::MAX);
        let next_ms = (now_ms.div_euclid(interval) + 1) * interval;
        Undrawn {
            draws_at_s: (chance > 0.0).then(|| next_ms.div_euclid(1_000)),
            waiting,
            chance: Some(chance),
            // They learn at each release whether they were drawn.
            poll_after_ms: settings.release.release_interval_ms.clamp(1_000, 5_000),
        }
    }

    /// Whom the draw let through, and how many still wait: known here at once.
    async fn after_release(
        &self,
        store: &dyn Store,
        cache: &PointerCache,
        line: &LineId,
    ) -> Result<(), StoreError> {
        cache.refresh(store, line).await
    }

    fn on_leave(&self, _held: Held) -> Vec<Switch> {
        // Those still waiting in the draw take their places in the line now, in arrival order,
        // before anyone who joins from here on.
        vec![Switch::PoolToLine]
    }
}
