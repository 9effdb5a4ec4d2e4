//! Passthrough: no line. Every join is let in at once (the room switched off, still in front of the
//! site), and switching to it lets everyone waiting in.

use async_trait::async_trait;

use super::{Held, IntakeRules, Switch};
use crate::cache::{CachedEvent, PointerCache};
use crate::domain::{Capacity, Intake, LineId, Pick, SettingsError};
use crate::store::{AdvanceMode, Joined, Store, StoreError};

pub(super) struct Passthrough;

#[async_trait]
impl IntakeRules for Passthrough {
    /// The pointer moves over the new place (and any before it).
    async fn after_join(
        &self,
        store: &dyn Store,
        cache: &PointerCache,
        (id, cached): (&LineId, &CachedEvent),
        joined: &Joined,
    ) -> Result<bool, StoreError> {
        let behind = joined.position.saturating_sub(cached.admitted_through());
        if behind > 0 {
            let advanced = store
                .advance(
                    id,
                    behind,
                    AdvanceMode::Manual,
                    Capacity::UNLIMITED,
                    Pick::InOrder,
                )
                .await?;
            cache.observe(id, cached, advanced.issued, advanced.admitted_through, true);
        }
        Ok(true)
    }

    fn on_enter(&self, _from: Intake, held: Held) -> Result<Vec<Switch>, SettingsError> {
        // Nobody waits any more: those in line and in a pool (moved to the line first) go in.
        let everyone = held.issued + held.in_pool;
        Ok(if everyone > 0 {
            vec![Switch::LetEveryoneIn { count: everyone }]
        } else {
            Vec::new()
        })
    }
}
