//! Switching an event from one intake to another: what the intakes left and entered say it takes,
//! checked before the new settings are stored and carried out after.

use super::rules;
use crate::domain::{Capacity, EventPolicy, LineId, Pick, SettingsError};
use crate::store::{AdvanceMode, Store, StoreError};

/// The places an event holds when its settings change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Held {
    /// Positions handed out in the line.
    pub issued: u64,
    /// Visitors waiting in the pool to be drawn.
    pub in_pool: u64,
}

/// One thing a switch does to the places held, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Switch {
    /// Those waiting in the pool take the line's next places, in arrival order.
    PoolToLine,
    /// The pointer moves over `count` more places: everyone waiting goes in.
    LetEveryoneIn { count: u64 },
}

/// What changing an event's policy from `from` to `to` takes while it holds `held` places (nothing
/// while the intake stays the same), or why it may not change.
pub fn switching(
    from: &EventPolicy,
    to: &EventPolicy,
    held: Held,
) -> Result<Vec<Switch>, SettingsError> {
    if std::mem::discriminant(&from.intake) == std::mem::discriminant(&to.intake) {
        return Ok(Vec::new());
    }
    let mut plan = rules(from.intake).on_leave(held);
    plan.extend(rules(to.intake).on_enter(from.intake, held)?);
    Ok(plan)
}

/// Carries out a switch's plan on `event`'s line.
pub async fn carry_out(
    store: &dyn Store,
    event: &LineId,
    plan: &[Switch],
) -> Result<(), StoreError> {
    for step in plan {
        let count = match *step {
            Switch::PoolToLine => 0,
            Switch::LetEveryoneIn { count } => count,
        };
        let advanced = store
            .advance(
                event,
                count,
                AdvanceMode::Manual,
                Capacity::UNLIMITED,
                Pick::InOrder,
            )
            .await?;
        if count > 0 {
            tracing::info!(%event, admitted_through = advanced.admitted_through, "let everyone waiting in");
        }
    }
    Ok(())
}
