//! Who may enter now: the one rule ([`crate::admission::entry`]) applied with what it needs from
//! the store, for every path that lets someone in — the gate, verify, consume, the hand-over — and
//! for the status check that hands out the pass.

use super::problem::ApiError;
use super::state::AppState;
use crate::admission::{self, Entry, ExpiredReason};
use crate::cache::CachedEvent;
use crate::clock::{unix_ms, unix_s};
use crate::domain::VisitorId;
use crate::domain::{EventPolicy, LineId, OutagePolicy};
use crate::store::Claim;
use crate::token::{Claims, TokenKind};

/// A claim as decided for this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Decided {
    pub claim: Claim,
    /// With the store away and the event letting people through: the pass lasts no longer than
    /// this many seconds (the claim window), and the store is asked again after.
    pub at_most_s: Option<u64>,
}

impl Decided {
    /// When the admission stops letting its holder in (unix seconds), as decided.
    pub fn ends(&self, pass_ttl_s: u64, now_s: i64) -> Result<i64, ExpiredReason> {
        let ends = admission::admission_ends(self.claim, pass_ttl_s, now_s)?;
        Ok(self.at_most_s.map_or(ends, |cap| {
            ends.min(now_s.saturating_add(i64::try_from(cap).unwrap_or(i64::MAX)))
        }))
    }
}

/// The store's decision on `position`'s claim: asked once per replica (the store decides it
/// atomically, so parallel first requests all get one answer), then remembered. With the store
/// away the event's outage rule decides: `hold` refuses (503: try again shortly), so no late no-show
/// and no visitor beyond `max_active` gets a pass the store would not have given; `let-through`
/// hands out a pass for the claim window only, and asks the store again next time.
pub(super) async fn decided_claim(
    state: &AppState,
    event: &LineId,
    cached: &CachedEvent,
    position: u64,
) -> Result<Decided, ApiError> {
    if let Some(claim) = cached.claim_here(position, unix_s()) {
        return Ok(Decided {
            claim,
            at_most_s: None,
        });
    }
    let policy = cached.policy();
    let now_ms = unix_ms();
    match state
        .store
        .claim(
            event,
            position,
            now_ms,
            policy.pass_ttl_s * 1_000,
            policy.capacity,
        )
        .await
    {
        Ok(claim) => {
            cached.record_claim(position, claim);
            if claim == Claim::TooLate {
                state
                    .metrics
                    .no_shows
                    .with_label_values(&crate::metrics::line_labels(event))
                    .inc();
            }
            Ok(Decided {
                claim,
                at_most_s: None,
            })
        }
        Err(e) => match policy.outage {
            OutagePolicy::Hold => Err(e.into()),
            OutagePolicy::LetThrough => {
                tracing::warn!(%event, position, error = %e, "could not record a claimed pass: let through for the claim window");
                Ok(Decided {
                    claim: Claim::Granted { at_ms: now_ms },
                    at_most_s: Some(policy.capacity.claim_window_ms.div_ceil(1_000).max(1)),
                })
            }
        },
    }
}

/// How a token is being used: to go in (the gate consumes a single-use pass) or to ask whether it
/// would let its holder in (verify).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Use {
    Enter,
    Check,
}

/// The one rule for "may enter now" ([`admission::entry`]), for every path that lets someone in:
/// the gate, verify, consume, the hand-over. `claims` is a genuine, unexpired token of `event`
/// whose holder did not leave.
pub(super) async fn may_enter(
    state: &AppState,
    event: &LineId,
    cached: &CachedEvent,
    claims: &Claims,
    use_: Use,
) -> Result<(), ApiError> {
    let policy = cached.policy();
    let entry = admission::entry(
        claims.kind,
        claims.pos,
        cached.admitted_through(),
        policy.single_use_passes,
    );
    if claims.kind == TokenKind::Pass && cached.is_completed(claims.pos) {
        return Err(ApiError::AdmissionEnded(ExpiredReason::Completed));
    }
    match entry {
        // Asked whether it would let in (verify): not once its admission was used, on any event.
        Entry::Pass | Entry::ConsumePass if use_ == Use::Check => {
            if state.store.pass_used(event, claims.pos).await? {
                Err(ApiError::PassUsed)
            } else {
                Ok(())
            }
        }
        Entry::Pass => Ok(()),
        Entry::ConsumePass => consume_pass(state, event, claims).await,
        Entry::Claim => {
            let decided = decided_claim(state, event, cached, claims.pos).await?;
            decided
                .ends(policy.pass_ttl_s, unix_s())
                .map(drop)
                .map_err(ApiError::AdmissionEnded)
        }
        Entry::NotYet => Err(ApiError::NotAdmitted),
        Entry::PassRequired => Err(ApiError::NotAPass),
    }
}

/// Marks the admission a genuine pass stands for used (its position in its line: every pass handed
/// out for one admission shares it): [`ApiError::PassUsed`] if it was already.
pub(super) async fn consume_pass(
    state: &AppState,
    event: &LineId,
    claims: &Claims,
) -> Result<(), ApiError> {
    let left_ms = claims.exp.saturating_mul(1_000).saturating_sub(unix_ms());
    let ttl_ms = u64::try_from(left_ms).unwrap_or(0).max(1);
    let first = state.store.consume_pass(event, claims.pos, ttl_ms).await?;
    state
        .metrics
        .passes_consumed
        .with_label_values(&[if first { "first" } else { "used" }])
        .inc();
    if first {
        Ok(())
    } else {
        Err(ApiError::PassUsed)
    }
}

/// A pass renewed on use (see [`admission::renewed_end`]): its token and expiry (unix s), for
/// a pass the event renews and that needs it now. With a capacity, the holder's slot is held as
/// long (if it is still theirs). No renewal when the store cannot say when the admission began or
/// hold the slot: the pass stays good until its end as it was.
pub(super) async fn renewed_pass(
    state: &AppState,
    event: &LineId,
    cached: &CachedEvent,
    claims: &Claims,
) -> Option<(String, i64)> {
    let policy = cached.policy();
    let up_to_s = policy.renewed_up_to_s?;
    let now = unix_s();
    // Most uses stop here: more than half the pass's lifetime left.
    admission::renewed_end(claims.exp, now, policy.pass_ttl_s, up_to_s, now)?;
    if claims.kind != TokenKind::Pass || cached.is_completed(claims.pos) {
        return None;
    }
    let renewed = renewal_end(state, (event, cached), claims, (&policy, now)).await;
    state
        .metrics
        .passes_renewed
        .with_label_values(&[if renewed.is_some() { "renewed" } else { "not" }])
        .inc();
    let end = renewed?;
    let visitor = VisitorId::parse(&claims.sub).ok()?;
    let lifetime_s = u64::try_from(end - now).unwrap_or(1);
    let (token, renewed) = state.tokens.sign(
        TokenKind::Pass,
        event,
        &visitor,
        claims.pos,
        now,
        lifetime_s,
    );
    Some((token, renewed.exp))
}

/// When a pass due for renewal ends once renewed: `None` when it cannot be (see
/// [`renewed_pass`]).
async fn renewal_end(
    state: &AppState,
    (event, cached): (&LineId, &CachedEvent),
    claims: &Claims,
    (policy, now): (&EventPolicy, i64),
) -> Option<i64> {
    let up_to_s = policy.renewed_up_to_s?;
    let decided = decided_claim(state, event, cached, claims.pos).await.ok()?;
    let Decided {
        claim: Claim::Granted { at_ms },
        at_most_s: None,
    } = decided
    else {
        return None;
    };
    let claimed_at = at_ms.div_euclid(1_000);
    let end = admission::renewed_end(claims.exp, now, policy.pass_ttl_s, up_to_s, claimed_at)?;
    if policy.capacity.is_limited() {
        let held = state
            .store
            .hold_slot(event, claims.pos, unix_ms(), end.saturating_mul(1_000))
            .await;
        if !held.unwrap_or(false) {
            return None;
        }
    }
    Some(end)
}
