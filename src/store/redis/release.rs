//! Moving the admission pointer ([`ReleaseStore`]): scheduled and manual releases, draws.

use async_trait::async_trait;

use super::replies::*;
use super::store::*;
use crate::domain::draw::{self};
use crate::domain::LineId;
use crate::store::ReleaseStore;
use crate::store::{AdvanceMode, Advanced, Capacity, Drawn, Pick, StoreError};

/// How often a release that draws at random reads the pool again when it changed under the draw
/// (a leave between the read and the script): each try is a leave away from succeeding.
const ADVANCE_ATTEMPTS: usize = 5;

#[async_trait]
impl ReleaseStore for RedisStore {
    async fn advance(
        &self,
        event: &LineId,
        count: u64,
        mode: AdvanceMode,
        capacity: Capacity,
        pick: Pick,
    ) -> Result<Advanced, StoreError> {
        let mut conn = self.conn.clone();
        let interval_ms = match mode {
            AdvanceMode::Manual => 0,
            AdvanceMode::Scheduled { interval_ms } => interval_ms.max(1),
        };
        // An event that draws at random: the draw is computed here from the pool as read, and
        // done by the script unless the pool changed meanwhile (then read again).
        for _ in 0..ADVANCE_ATTEMPTS {
            let pool = match pick {
                Pick::AtRandom => Some(self.pool_draw(event, count).await?),
                Pick::InOrder => None,
            };
            let mut invocation = self.advance.prepare_invoke();
            invocation
                .key(self.key(event, "admitted"))
                .key(self.key(event, "issued"))
                .key(self.key(event, "leavers"))
                .key(self.key(event, "slot"))
                .key(self.key(event, "admissions"))
                .key(self.key(event, "active"))
                .key(self.key(event, "pool"))
                .key(self.key(event, "pool:entries"))
                .key(self.key(event, "pool:won"))
                .key(self.key(event, "line"))
                .key(self.key(event, "pool:releases"))
                .key(self.key(event, "issued:shadow"))
                .key(self.key(event, "settle"))
                .arg(count)
                .arg(interval_ms)
                .arg(&self.channel)
                .arg(event.wire())
                .arg(capacity.max_active)
                .arg(capacity.claim_window_ms);
            match &pool {
                Some(draw) => invocation
                    .arg("random")
                    .arg(draw.releases)
                    .arg(draw.arrived)
                    .arg(draw.waiting)
                    .arg(&draw.picks),
                None => invocation.arg("order"),
            };
            let (moved, admitted_through, issued): (i8, u64, u64) =
                invocation.invoke_async(&mut conn).await?;
            if moved >= 0 {
                return Ok(Advanced {
                    moved: moved == 1,
                    admitted_through,
                    issued,
                });
            }
        }
        Err(StoreError::Unavailable(format!(
            "the pool of `{event}` changed under {ADVANCE_ATTEMPTS} releases in a row"
        )))
    }

    async fn draw(&self, event: &LineId, now_ms: i64) -> Result<Option<Drawn>, StoreError> {
        let mut conn = self.conn.clone();
        let closed: Option<(String, u64, i64, String)> = self
            .draw_close
            .key(self.key(event, "draw"))
            .key(self.key(event, "issued"))
            .invoke_async(&mut conn)
            .await?;
        let Some((seed, size, at_ms, order_seed)) = closed else {
            return Ok(None);
        };
        if at_ms == 0 {
            let seed = parse_seed(event, "draw seed", &seed)?;
            // Drawn again after a loss: with the order seed the replicas restored, if they knew it.
            let order_seed = match order_seed.as_str() {
                "" => seed.mixed(&self.published_entries(event, &seed, size).await?),
                known => parse_seed(event, "draw's order seed", known)?,
            };
            let size_u32 = u32::try_from(size)
                .map_err(|_| StoreError::Corrupt(format!("the pre-queue size of `{event}`")))?;
            let order = draw::order(&order_seed, size_u32);
            let mut invocation = self.draw.prepare_invoke();
            for name in [
                "draw",
                "line",
                "prequeue",
                "visitors",
                "leavers",
                "leavers:log",
                "prequeue:left",
            ] {
                invocation.key(self.key(event, name));
            }
            let _: u8 = invocation
                .arg(now_ms)
                .arg(&self.channel)
                .arg(event.wire())
                .arg(order_seed.to_hex())
                .arg(order)
                .invoke_async(&mut conn)
                .await?;
        }
        let stored: StoredDraw = redis::cmd("HMGET")
            .arg(self.key(event, "draw"))
            .arg(&["seed", "size", "at", "order"])
            .query_async(&mut conn)
            .await?;
        Ok(draw_state(event, stored)?.and_then(|state| state.drawn))
    }
}
