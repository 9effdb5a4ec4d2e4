//! A pre-queue until the opening: joins get arrival numbers, whose order is drawn at random when the
//! event opens (by whichever replica comes first: the draw is the same from every one); from then
//! on it is a plain line behind the drawn pre-queue. Nothing is released before the draw.

use async_trait::async_trait;

use super::{Held, IntakeRules, Undrawn};
use crate::cache::{CachedEvent, PointerCache};
use crate::clock::unix_ms;
use crate::domain::{Intake, LineId, SettingsError};
use crate::store::{Store, StoreError};
use crate::token::TokenKind;

pub(super) struct Prequeue;

#[async_trait]
impl IntakeRules for Prequeue {
    /// An arrival number while the pre-queue is not drawn (as this replica knows it): a number
    /// drawn after the draw is past the pre-queue either way.
    fn joining_kind(&self, cached: &CachedEvent) -> TokenKind {
        if cached.prequeue_undrawn() {
            TokenKind::Prequeue
        } else {
            TokenKind::Waiting
        }
    }

    fn drawn_position(&self, cached: &CachedEvent, arrival: u64) -> Option<u64> {
        let draw = cached.draw()?;
        let order = draw.drawn.as_ref()?;
        Some(order.position_of(arrival))
    }

    /// When the order is drawn, and how many joined so far.
    fn undrawn(&self, cached: &CachedEvent, _now_ms: i64) -> Undrawn {
        Undrawn {
            draws_at_s: cached.settings().schedule.opens_at.map(|at| at.timestamp()),
            waiting: cached.issued(),
            chance: None,
            poll_after_ms: 5_000,
        }
    }

    fn releasable(&self, cached: &CachedEvent) -> bool {
        !cached.prequeue_undrawn()
    }

    /// Draws the pre-queue once the event opened, if this replica has not seen it drawn.
    async fn prepare_release(
        &self,
        store: &dyn Store,
        cache: &PointerCache,
        (id, cached): (&LineId, &CachedEvent),
    ) -> Result<bool, StoreError> {
        if !cached.prequeue_undrawn() {
            return Ok(true);
        }
        let now = unix_ms();
        let opened = cached
            .settings()
            .schedule
            .opens_at
            .is_some_and(|at| at.timestamp_millis() <= now);
        if !opened {
            return Ok(false);
        }
        if let Some(drawn) = store.draw(id, now).await? {
            tracing::info!(event = %id, entries = drawn.size, "drew the pre-queue's order");
        }
        cache.refresh(store, id).await?;
        Ok(!cached.prequeue_undrawn())
    }

    fn on_enter(&self, _from: Intake, held: Held) -> Result<Vec<super::Switch>, SettingsError> {
        if held.issued > 0 {
            return Err(SettingsError {
                field: "prequeue_from",
                reason: format!(
                    "cannot be added to an event whose line holds {} places: they joined first \
                     come, first served",
                    held.issued
                ),
            });
        }
        Ok(Vec::new())
    }
}
