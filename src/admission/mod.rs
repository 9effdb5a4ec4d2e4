//! Admission: the rules of who stands where and who may enter, and every per-mode behaviour, one
//! file per way of entering an event ([`Intake`]): whether a join may happen, where it takes its
//! place, where a token stands, what a release does, and what switching from another intake does.
//! Handlers, the scheduler and the drain ask here (through the event's [`EventPolicy`]) and branch
//! on no mode themselves; a new intake is a new file implementing [`IntakeRules`].
//!
//! The rest of this file holds the rules every intake shares, pure: where a place stands, when its
//! holder gets a pass, who may enter, and how often a waiting visitor should ask.

mod line;
mod passthrough;
mod pool;
mod prequeue;
mod release;
mod sold_out;
mod switch;

use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

use crate::cache::{CachedEvent, PointerCache};
use crate::domain::{EventPolicy, EventSettings, EventState, Intake, LineId, VisitorId};
use crate::store::{Claim, JoinAs, Joined, Store, StoreError};
use crate::token::{Claims, TokenKind};

pub use release::{release, waiting_in_lines};
pub use switch::{carry_out, switching, Held, Switch};

/// What one way of entering an event does; every method has the plain line's behaviour unless an
/// intake says otherwise.
#[async_trait]
pub trait IntakeRules: Sync {
    /// Whether a join is taken while the schedule takes them; false: the event is sold out.
    fn takes_joins(&self) -> bool {
        true
    }

    /// The number a join must draw above: what this replica knows was handed out.
    fn floor(&self, cached: &CachedEvent) -> u64 {
        cached.issued()
    }

    /// Takes in a join the store answered on this replica.
    fn observe_join(&self, cached: &CachedEvent, joined: &Joined) {
        cached.observe_issued(joined.position);
    }

    /// The kind of token an anonymous join hands out for a place the store gave in the line.
    fn joining_kind(&self, _cached: &CachedEvent) -> TokenKind {
        TokenKind::Waiting
    }

    /// What follows a join at once; true when it let the visitor in (their answer is then the
    /// pass, as a status check would give it).
    async fn after_join(
        &self,
        _store: &dyn Store,
        _cache: &PointerCache,
        _line: (&LineId, &CachedEvent),
        _joined: &Joined,
    ) -> Result<bool, StoreError> {
        Ok(false)
    }

    /// For an intake whose tokens carry arrival numbers: the position drawn for `arrival`, once this
    /// replica knows it.
    fn drawn_position(&self, _cached: &CachedEvent, _arrival: u64) -> Option<u64> {
        None
    }

    /// For an intake whose tokens carry arrival numbers: what the holder of one not drawn yet is
    /// told.
    fn undrawn(&self, cached: &CachedEvent, now_ms: i64) -> Undrawn {
        let _ = now_ms;
        Undrawn {
            draws_at_s: None,
            waiting: cached.issued(),
            chance: None,
            poll_after_ms: 5_000,
        }
    }

    /// Whether the line may be moved now (an admin's advance included).
    fn releasable(&self, _cached: &CachedEvent) -> bool {
        true
    }

    /// Readies a release: true when the line may move now. A pre-queue is drawn first.
    async fn prepare_release(
        &self,
        _store: &dyn Store,
        _cache: &PointerCache,
        _line: (&LineId, &CachedEvent),
    ) -> Result<bool, StoreError> {
        Ok(true)
    }

    /// What a replica learns after its release moved a line (a pool's draw: whom it let through).
    async fn after_release(
        &self,
        _store: &dyn Store,
        _cache: &PointerCache,
        _line: &LineId,
    ) -> Result<(), StoreError> {
        Ok(())
    }

    /// What switching to this intake from `from` takes, for an event holding `held` places; an
    /// error for a switch that would break promises made to those who joined.
    fn on_enter(
        &self,
        _from: Intake,
        _held: Held,
    ) -> Result<Vec<Switch>, crate::domain::SettingsError> {
        Ok(Vec::new())
    }

    /// What leaving this intake for another takes.
    fn on_leave(&self, _held: Held) -> Vec<Switch> {
        Vec::new()
    }
}

/// What the holder of an arrival number not drawn yet is told.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Undrawn {
    /// When the draw that may give them a place happens (unix seconds), if it is known.
    pub draws_at_s: Option<i64>,
    /// How many wait to be drawn.
    pub waiting: u64,
    /// The chance of being drawn then (0 to 1), for a draw at every release.
    pub chance: Option<f64>,
    pub poll_after_ms: u64,
}

/// The rules of `intake`: the one place that maps an intake to its file.
pub fn rules(intake: Intake) -> &'static dyn IntakeRules {
    match intake {
        Intake::Line => &line::Line,
        Intake::Prequeue { .. } => &prequeue::Prequeue,
        Intake::Pool => &pool::Pool,
        Intake::Passthrough => &passthrough::Passthrough,
        Intake::SoldOut => &sold_out::SoldOut,
    }
}

/// The rules of the event's own intake.
pub fn intake_of(policy: &EventPolicy) -> &'static dyn IntakeRules {
    rules(policy.intake)
}

/// A token as the holder of the place it carries: a token with an arrival number (a pre-queue's or
/// a pool's) read as the waiting token of the position drawn for it, once this replica knows the
/// draw; any other token as it is.
pub fn at_drawn_place(cached: &CachedEvent, claims: Arc<Claims>) -> Arc<Claims> {
    if claims.kind != TokenKind::Prequeue {
        return claims;
    }
    let Some(arrivals) = cached.policy().arrivals else {
        return claims;
    };
    match rules(arrivals).drawn_position(cached, claims.pos) {
        Some(position) => Arc::new(claims.drawn(position)),
        None => claims,
    }
}

/// What the holder of an arrival number of `cached`'s event not drawn yet is told.
pub fn undrawn(cached: &CachedEvent, now_ms: i64) -> Undrawn {
    let policy = cached.policy();
    rules(policy.arrivals.unwrap_or(policy.intake)).undrawn(cached, now_ms)
}

/// Takes a place for `visitor` in the store, where the event's intake puts it (the line, or the
/// pool); this replica learns of it at once.
pub async fn take_place(
    store: &dyn Store,
    (id, cached): (&LineId, &CachedEvent),
    visitor: &VisitorId,
    who: JoinAs,
    now_ms: i64,
) -> Result<Joined, StoreError> {
    let policy = cached.policy();
    let intake = rules(policy.intake);
    let floor = intake.floor(cached);
    let joined = store
        .join(id, visitor, who, now_ms, floor, policy.pick())
        .await?;
    intake.observe_join(cached, &joined);
    Ok(joined)
}

/// The kind of token an anonymous join that took `joined` hands out: an arrival number's as the
/// store gave it, else as the intake says (a pre-queue not drawn yet, as this replica knows it).
pub fn joining_kind(cached: &CachedEvent, joined: &Joined) -> TokenKind {
    if joined.arrival {
        TokenKind::Prequeue
    } else {
        rules(cached.policy().intake).joining_kind(cached)
    }
}

/// Where a visitor stands, as their answers say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum VisitorStatus {
    /// The pointer has not reached them yet.
    Waiting,
    /// The pointer passed them: they get a pass.
    Admitted,
    /// Their place no longer admits them; [`ExpiredReason`] says why.
    Expired,
    /// In a pre-queue: their position is drawn at `draws_at`.
    Prequeue,
}

/// Why a place is [`VisitorStatus::Expired`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ExpiredReason {
    /// The waiting token ran out before the visitor came back.
    TokenExpired,
    /// The event has a capacity and the visitor collected the pass after the claim window: the
    /// slot went to someone else.
    ClaimWindowPassed,
    /// The admission lasted a pass lifetime from its first collection, and that is over.
    PassExpired,
    /// The booking service reported the visit complete.
    Completed,
}

/// Where `position` stands against the pointer.
pub fn standing(position: u64, admitted_through: u64) -> VisitorStatus {
    if position <= admitted_through {
        VisitorStatus::Admitted
    } else {
        VisitorStatus::Waiting
    }
}

/// When an admitted place stops letting its holder in (unix seconds), from its claim as the store
/// decided it once: a pass lifetime after the first collection, however often the visitor asks
/// again or joins again; never for a late no-show or a completed visit.
pub fn admission_ends(claim: Claim, pass_ttl_s: u64, now_s: i64) -> Result<i64, ExpiredReason> {
    match claim {
        Claim::Granted { at_ms } => {
            let ends = at_ms
                .div_euclid(1_000)
                .saturating_add(i64::try_from(pass_ttl_s).unwrap_or(i64::MAX));
            if now_s < ends {
                Ok(ends)
            } else {
                Err(ExpiredReason::PassExpired)
            }
        }
        Claim::TooLate => Err(ExpiredReason::ClaimWindowPassed),
        Claim::Completed => Err(ExpiredReason::Completed),
    }
}

/// When a pass used at `now_s` should end instead of `exp`, for an event that renews passes on use
/// up to `up_to_s` after the admission's first collection (`claimed_at_s`): once less than half its
/// lifetime is left, another `pass_ttl_s` from now, but never past that. `None`: it needs no
/// renewal yet, or cannot be renewed further.
pub fn renewed_end(
    exp: i64,
    now_s: i64,
    pass_ttl_s: u64,
    up_to_s: u64,
    claimed_at_s: i64,
) -> Option<i64> {
    let seconds = |s: u64| i64::try_from(s).unwrap_or(i64::MAX);
    if exp.saturating_sub(now_s).saturating_mul(2) >= seconds(pass_ttl_s) {
        return None;
    }
    let end = now_s
        .saturating_add(seconds(pass_ttl_s))
        .min(claimed_at_s.saturating_add(seconds(up_to_s)));
    (end > exp).then_some(end)
}

/// What letting a genuine, unexpired token's holder in takes: the one rule for "may enter now",
/// applied by the gate, verify, consume and the hand-over alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// A pass: in, unless the visit was completed (its expiry already bounds it).
    Pass,
    /// A single-use pass: in once it is consumed (one store call, first use only).
    ConsumePass,
    /// A waiting token the pointer passed: in while its admission lasts ([`admission_ends`]), which
    /// the claim decides (the store once, then this replica's memory).
    Claim,
    /// Not yet: the pointer has not reached them.
    NotYet,
    /// A single-use event takes passes only.
    PassRequired,
}

/// Whether and how the holder of a genuine token of `kind` for `position` enters.
pub fn entry(kind: TokenKind, position: u64, admitted_through: u64, single_use: bool) -> Entry {
    let admitted = standing(position, admitted_through) == VisitorStatus::Admitted;
    match (kind, single_use) {
        (TokenKind::Pass, true) => Entry::ConsumePass,
        (TokenKind::Pass, false) => Entry::Pass,
        (TokenKind::Waiting, true) => Entry::PassRequired,
        (TokenKind::Waiting, false) if admitted => Entry::Claim,
        (TokenKind::Waiting, false) | (TokenKind::Prequeue, _) => Entry::NotYet,
    }
}

/// How one release of `batch` visitors is shared among lanes, each given as (share in percent,
/// visitors waiting): each lane gets its share (rounded so the shares add up to the batch: the
/// largest remainders round up, the earlier lane first on a tie), at most as many as wait there; what
/// a lane cannot use goes to the others, the larger share first.
pub fn lane_shares(batch: u64, lanes: &[(u8, u64)]) -> Vec<u64> {
    let exact: Vec<(u64, u64)> = lanes
        .iter()
        .map(|(share, _)| {
            let scaled = batch * u64::from(*share);
            (scaled / 100, scaled % 100)
        })
        .collect();
    let mut target: Vec<u64> = exact.iter().map(|(whole, _)| *whole).collect();
    let mut short = batch.saturating_sub(target.iter().sum());
    let mut by_remainder: Vec<usize> = (0..lanes.len()).collect();
    by_remainder.sort_by_key(|&i| std::cmp::Reverse(exact[i].1));
    for &i in by_remainder.iter().cycle().take(lanes.len() * 2) {
        if short == 0 {
            break;
        }
        target[i] += 1;
        short -= 1;
    }
    let mut given: Vec<u64> = target
        .iter()
        .zip(lanes)
        .map(|(target, (_, waiting))| (*target).min(*waiting))
        .collect();
    let mut spare = batch.saturating_sub(given.iter().sum());
    let mut by_share: Vec<usize> = (0..lanes.len()).collect();
    by_share.sort_by_key(|&i| std::cmp::Reverse(lanes[i].0));
    for i in by_share {
        let more = spare.min(lanes[i].1 - given[i]);
        given[i] += more;
        spare -= more;
    }
    given
}

/// A poll interval that fits how far the visitor is from the front, in milliseconds.
pub fn poll_after_ms(settings: &EventSettings, ahead: u64) -> u64 {
    if settings.state != EventState::Open || settings.release.batch_size == 0 {
        return 5_000;
    }
    let interval = settings.release.release_interval_ms;
    if ahead < settings.release.batch_size {
        (interval / 4).clamp(500, 2_000)
    } else {
        interval.clamp(1_000, 15_000)
    }
}

/// How often the page without script reloads itself, in seconds: as often as the line moves on its
/// schedule (its release interval), never faster than every 5 seconds nor slower than a minute;
/// every 15 seconds for a line moved by hand or paused, whose next move nobody can tell.
pub fn reload_after_s(settings: &EventSettings) -> u64 {
    if settings.state != EventState::Open || settings.release.batch_size == 0 {
        return 15;
    }
    (settings.release.release_interval_ms / 1_000).clamp(5, 60)
}

/// How long a signed pass is handed out again to the visitor asking twice, in seconds: a tenth of
/// its lifetime, at most 5 seconds, so a pass handed out is never much older than a fresh one.
/// The chance of each of the `waiting` in a random event's draw of being drawn by the next
/// scheduled release (0 to 1): as many as the batch (and, with a capacity, the free slots with
/// `active` holding theirs) of those waiting; none while the event does not release.
pub fn draw_chance(settings: &EventSettings, active: u64, waiting: u64) -> f64 {
    if settings.state != EventState::Open || waiting == 0 {
        return 0.0;
    }
    let mut drawn = settings.release.batch_size;
    if settings.admission.max_active > 0 {
        drawn = drawn.min(settings.admission.max_active.saturating_sub(active));
    }
    (drawn as f64 / waiting as f64).min(1.0)
}

pub fn pass_reuse_s(settings: &EventSettings) -> i64 {
    i64::try_from(settings.admission.pass_ttl_s / 10).map_or(5, |s| s.min(5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_without_script_reloads_no_faster_than_the_line_moves() {
        let every = |batch_size, release_interval_ms, state| {
            reload_after_s(&EventSettings::default().patched(serde_json::json!({ "batch_size": batch_size, "release_interval_ms": release_interval_ms, "state": state })))
        };
        assert_eq!(every(100, 10_000, EventState::Open), 10);
        assert_eq!(
            every(100, 2_000, EventState::Open),
            5,
            "never faster than 5 s"
        );
        assert_eq!(
            every(100, 600_000, EventState::Open),
            60,
            "nor slower than a minute"
        );
        assert_eq!(every(0, 2_000, EventState::Open), 15, "by hand");
        assert_eq!(every(100, 2_000, EventState::Paused), 15);
    }

    #[test]
    fn the_chance_in_a_draw_is_the_share_of_those_waiting_the_next_release_takes() {
        let settings = EventSettings::default().patched(serde_json::json!({ "batch_size": 50 }));
        assert_eq!(draw_chance(&settings, 0, 200), 0.25);
        assert_eq!(draw_chance(&settings, 0, 20), 1.0, "everyone drawn");
        let limited = settings.patched(serde_json::json!({ "max_active": 100 }));
        assert_eq!(draw_chance(&limited, 90, 200), 0.05, "10 free slots");
        assert_eq!(draw_chance(&limited, 100, 200), 0.0, "no free slot");
        let paused = settings.patched(serde_json::json!({ "state": EventState::Paused }));
        assert_eq!(draw_chance(&paused, 0, 200), 0.0);
    }

    #[test]
    fn the_pointer_admits_everyone_up_to_it() {
        assert_eq!(standing(1, 0), VisitorStatus::Waiting);
        assert_eq!(standing(5, 5), VisitorStatus::Admitted);
        assert_eq!(standing(6, 5), VisitorStatus::Waiting);
    }

    #[test]
    fn waiting_tokens_enter_through_their_claim_and_single_use_events_take_passes_only() {
        use TokenKind::{Pass, Waiting};
        assert_eq!(entry(Waiting, 5, 5, false), Entry::Claim);
        assert_eq!(entry(Waiting, 6, 5, false), Entry::NotYet);
        assert_eq!(entry(Pass, 6, 5, false), Entry::Pass);
        assert_eq!(entry(Pass, 6, 5, true), Entry::ConsumePass);
        assert_eq!(entry(Waiting, 5, 5, true), Entry::PassRequired);
    }

    #[test]
    fn an_admission_lasts_a_pass_lifetime_from_the_first_claim_and_no_longer() {
        let first = Claim::Granted { at_ms: 1_000_500 };
        assert_eq!(admission_ends(first, 60, 1_000), Ok(1_060));
        assert_eq!(admission_ends(first, 60, 1_059), Ok(1_060));
        assert_eq!(
            admission_ends(first, 60, 1_060),
            Err(ExpiredReason::PassExpired)
        );
        assert_eq!(
            admission_ends(Claim::TooLate, 60, 0),
            Err(ExpiredReason::ClaimWindowPassed)
        );
        assert_eq!(
            admission_ends(Claim::Completed, 60, 0),
            Err(ExpiredReason::Completed)
        );
    }

    #[test]
    fn polls_slow_down_far_from_the_front_and_on_a_stopped_line() {
        let settings = EventSettings::default()
            .patched(serde_json::json!({ "batch_size": 10, "release_interval_ms": 4_000 }));
        assert_eq!(poll_after_ms(&settings, 3), 1_000);
        assert_eq!(poll_after_ms(&settings, 50), 4_000);
        let paused = settings.patched(serde_json::json!({ "state": EventState::Paused }));
        assert_eq!(poll_after_ms(&paused, 3), 5_000);
        let by_hand = settings.patched(serde_json::json!({ "batch_size": 0 }));
        assert_eq!(poll_after_ms(&by_hand, 3), 5_000);
    }

    #[test]
    fn a_release_is_shared_by_the_lanes_and_a_share_nobody_uses_goes_to_the_others() {
        // Members 30 %, public 70 %.
        assert_eq!(lane_shares(10, &[(70, 100), (30, 100)]), vec![7, 3]);
        assert_eq!(lane_shares(10, &[(70, 100), (30, 1)]), vec![9, 1]);
        assert_eq!(lane_shares(10, &[(70, 2), (30, 100)]), vec![2, 8]);
        assert_eq!(lane_shares(10, &[(70, 2), (30, 3)]), vec![2, 3]);
        assert_eq!(lane_shares(10, &[(70, 0), (30, 0)]), vec![0, 0]);
        // Rounding: within one visitor of the exact share, and the whole batch used.
        assert_eq!(lane_shares(7, &[(50, 100), (50, 100)]), vec![4, 3]);
        assert_eq!(
            lane_shares(100, &[(34, 1_000), (33, 1_000), (33, 1_000)]),
            vec![34, 33, 33]
        );
        assert_eq!(
            lane_shares(10, &[(34, 1_000), (33, 1_000), (33, 1_000)]),
            vec![4, 3, 3]
        );
        for batch in 0..200 {
            let shares = lane_shares(batch, &[(45, u64::MAX), (35, u64::MAX), (20, u64::MAX)]);
            assert_eq!(shares.iter().sum::<u64>(), batch);
            for (given, percent) in shares.iter().zip([45, 35, 20]) {
                let exact = batch as f64 * f64::from(percent) / 100.0;
                assert!((*given as f64 - exact).abs() < 1.0, "{batch}: {shares:?}");
            }
        }
    }

    #[test]
    fn passes_are_reused_for_a_tenth_of_their_life_up_to_five_seconds() {
        let with_ttl = |pass_ttl_s| {
            EventSettings::default().patched(serde_json::json!({ "pass_ttl_s": pass_ttl_s }))
        };
        assert_eq!(pass_reuse_s(&with_ttl(20)), 2);
        assert_eq!(pass_reuse_s(&with_ttl(600)), 5);
    }

    #[test]
    fn statuses_and_reasons_serialise_as_the_api_says() {
        let json = serde_json::to_string(&(
            VisitorStatus::Admitted,
            ExpiredReason::ClaimWindowPassed,
            ExpiredReason::TokenExpired,
        ))
        .unwrap();
        assert_eq!(
            json,
            r#"["admitted","claim-window-passed","token-expired"]"#
        );
    }
}
