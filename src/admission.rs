//! The admission rules, pure: where a place stands, when its holder gets a pass, who may enter, and
//! how often a waiting visitor should ask. Every route that decides any of these asks here.

use serde::Serialize;

use crate::domain::{EventSettings, EventState};
use crate::store::Claim;
use crate::token::TokenKind;

/// Where a visitor stands, as their answers say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VisitorStatus {
    /// The pointer has not reached them yet.
    Waiting,
    /// The pointer passed them: they get a pass.
    Admitted,
    /// Their place no longer admits them; [`ExpiredReason`] says why.
    Expired,
}

/// Why a place is [`VisitorStatus::Expired`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExpiredReason {
    /// The waiting token ran out before the visitor came back.
    TokenExpired,
    /// The event has a capacity and the visitor collected the pass after the claim window: the
    /// slot went to someone else.
    ClaimWindowPassed,
}

/// Where `position` stands against the pointer.
pub fn standing(position: u64, admitted_through: u64) -> VisitorStatus {
    if position <= admitted_through {
        VisitorStatus::Admitted
    } else {
        VisitorStatus::Waiting
    }
}

/// Whether an admitted visitor's claim, as the store recorded it, earns them a pass.
pub fn pass_after(claim: Claim) -> Result<(), ExpiredReason> {
    match claim {
        Claim::First | Claim::Again => Ok(()),
        Claim::TooLate => Err(ExpiredReason::ClaimWindowPassed),
    }
}

/// Whether the holder of a genuine token of `kind` for `position` may enter now (the edge's gate,
/// the booking service's verify): a pass does, and so does a waiting token the pointer passed.
pub fn may_enter(kind: TokenKind, position: u64, admitted_through: u64) -> bool {
    kind == TokenKind::Pass || standing(position, admitted_through) == VisitorStatus::Admitted
}

/// What letting a genuine token's holder in takes, at the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// In, from the token and the cached pointer alone.
    Open,
    /// In once the pass is consumed (single-use passes): one store call, first use only.
    ConsumePass,
    /// Not yet: the pointer has not reached them.
    NotYet,
    /// A single-use event takes passes only.
    PassRequired,
}

/// Whether and how the holder of a genuine token of `kind` for `position` enters.
pub fn entry(kind: TokenKind, position: u64, admitted_through: u64, single_use: bool) -> Entry {
    match (single_use, kind) {
        (true, TokenKind::Pass) => Entry::ConsumePass,
        (true, TokenKind::Waiting) => Entry::PassRequired,
        (false, _) if may_enter(kind, position, admitted_through) => Entry::Open,
        (false, _) => Entry::NotYet,
    }
}

/// A poll interval that fits how far the visitor is from the front, in milliseconds.
pub fn poll_after_ms(settings: &EventSettings, ahead: u64) -> u64 {
    if settings.state != EventState::Open || settings.batch_size == 0 {
        return 5_000;
    }
    let interval = settings.release_interval_ms;
    if ahead < settings.batch_size {
        (interval / 4).clamp(500, 2_000)
    } else {
        interval.clamp(1_000, 15_000)
    }
}

/// How long a signed pass is handed out again to the visitor asking twice, in seconds: a tenth of
/// its lifetime, at most 5 seconds, so a pass handed out is never much older than a fresh one.
pub fn pass_reuse_s(settings: &EventSettings) -> i64 {
    i64::try_from(settings.pass_ttl_s / 10).map_or(5, |s| s.min(5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pointer_admits_everyone_up_to_it() {
        assert_eq!(standing(1, 0), VisitorStatus::Waiting);
        assert_eq!(standing(5, 5), VisitorStatus::Admitted);
        assert_eq!(standing(6, 5), VisitorStatus::Waiting);
        assert!(may_enter(TokenKind::Waiting, 5, 5));
        assert!(!may_enter(TokenKind::Waiting, 6, 5));
        assert!(may_enter(TokenKind::Pass, 6, 5));
    }

    #[test]
    fn single_use_events_let_passes_in_once_and_nothing_else() {
        use TokenKind::{Pass, Waiting};
        assert_eq!(entry(Waiting, 5, 5, false), Entry::Open);
        assert_eq!(entry(Waiting, 6, 5, false), Entry::NotYet);
        assert_eq!(entry(Pass, 6, 5, false), Entry::Open);
        assert_eq!(entry(Pass, 6, 5, true), Entry::ConsumePass);
        assert_eq!(entry(Waiting, 5, 5, true), Entry::PassRequired);
    }

    #[test]
    fn a_late_claim_expires_the_place() {
        assert_eq!(pass_after(Claim::First), Ok(()));
        assert_eq!(pass_after(Claim::Again), Ok(()));
        assert_eq!(
            pass_after(Claim::TooLate),
            Err(ExpiredReason::ClaimWindowPassed)
        );
    }

    #[test]
    fn polls_slow_down_far_from_the_front_and_on_a_stopped_line() {
        let settings = EventSettings {
            batch_size: 10,
            release_interval_ms: 4_000,
            ..EventSettings::default()
        };
        assert_eq!(poll_after_ms(&settings, 3), 1_000);
        assert_eq!(poll_after_ms(&settings, 50), 4_000);
        let paused = EventSettings {
            state: EventState::Paused,
            ..settings.clone()
        };
        assert_eq!(poll_after_ms(&paused, 3), 5_000);
        let by_hand = EventSettings {
            batch_size: 0,
            ..settings
        };
        assert_eq!(poll_after_ms(&by_hand, 3), 5_000);
    }

    #[test]
    fn passes_are_reused_for_a_tenth_of_their_life_up_to_five_seconds() {
        let with_ttl = |pass_ttl_s| EventSettings {
            pass_ttl_s,
            ..EventSettings::default()
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
