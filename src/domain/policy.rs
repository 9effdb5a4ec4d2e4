//! An event's policy: how people enter it, how many may be in at once, how a release is shared, as
//! plain data derived once from its settings whenever they change. What each way of entering does
//! lives in `admission/`, one file per [`Intake`]; everything else asks the policy and branches on
//! no mode itself.

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use sha2::{Digest, Sha256};

use super::settings::{network, EventSettings, OutagePolicy, QueueMethod};

/// How people enter an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intake {
    /// First come, first served.
    Line,
    /// A pre-queue until `opens_at`, whose order is drawn then at random; a line from then on.
    Prequeue { opens_at: DateTime<Utc> },
    /// Joins wait in a pool; each release draws from it at random.
    Pool,
    /// No line: every join is let in at once.
    Passthrough,
    /// No new places: joins are refused as sold out; those in line keep theirs.
    SoldOut,
}

/// How a release picks whom it lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// The line in order; anyone left in the pool (the event drew at random before) moves to the
    /// line first, in arrival order.
    InOrder,
    /// Joins go to the pool, and each release first draws from it, uniformly at random, as many as
    /// it lets through beyond those already in line.
    AtRandom,
}

/// An event's capacity limit, as the release and the claim need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    /// 0: no limit, and no tracking of active visitors.
    pub max_active: u64,
    pub claim_window_ms: u64,
}

impl Capacity {
    pub const UNLIMITED: Capacity = Capacity {
        max_active: 0,
        claim_window_ms: 0,
    };

    pub fn of(settings: &EventSettings) -> Self {
        Self {
            max_active: settings.admission.max_active,
            claim_window_ms: settings.admission.claim_window_s * 1_000,
        }
    }

    pub fn is_limited(&self) -> bool {
        self.max_active > 0
    }
}

/// What an event's settings decide about entering it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPolicy {
    pub intake: Intake,
    /// Whose arrival numbers the event's tokens may carry, to be read at the place drawn for them:
    /// the pre-queue's, or the pool's of an event that draws at random (or did: its winners hold
    /// tokens with arrival numbers after it switched away).
    pub arrivals: Option<Intake>,
    pub capacity: Capacity,
    /// How long an admission lasts from its first collection, in seconds.
    pub pass_ttl_s: u64,
    /// With passes renewed on use: how long an admission lasts at most from its first collection.
    pub renewed_up_to_s: Option<u64>,
    /// Each pass lets one person in once.
    pub single_use_passes: bool,
    /// Each lane's share of every release, in the lanes' order (empty: one line).
    pub lane_shares: Vec<u8>,
    /// What a claim the store cannot decide gets.
    pub outage: OutagePolicy,
    /// Whether anyone may take a place (else only the booking site's trusted joins).
    pub anonymous_joins: bool,
    /// Whether a join needs an enqueue code or a signed invitation.
    pub invite_only: bool,
    /// PBKDF2 iterations per attempt of the challenge a join must solve, if it must.
    pub challenge_cost: Option<u32>,
    /// Who skips the line at the gate, if anyone does.
    pub bypass: Option<Arc<Bypass>>,
}

/// The gate's rules for skipping the line, read once from the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bypass {
    networks: Vec<IpNet>,
    paths: Vec<String>,
    /// The secret's SHA-256: compared digest to digest, so the time a comparison takes says
    /// nothing about the secret.
    secret: Option<[u8; 32]>,
}

impl Bypass {
    /// The rules of `settings`, if they have any.
    fn of(settings: &EventSettings) -> Option<Arc<Self>> {
        let access = &settings.access;
        let rules = Self {
            networks: access
                .bypass_addresses
                .iter()
                .filter_map(|a| network(a))
                .collect(),
            paths: access.bypass_paths.clone(),
            secret: access
                .bypass_secret
                .as_ref()
                .map(|secret| Sha256::digest(secret.as_bytes()).into()),
        };
        let any = !rules.networks.is_empty() || !rules.paths.is_empty() || rules.secret.is_some();
        any.then(|| Arc::new(rules))
    }

    /// Why a request skips the line (`address`, `path` or `secret`), if it does: from `client`,
    /// for the path the edge names in `original_uri` (its query left out), carrying `secret`.
    pub fn lets_through(
        &self,
        client: Option<IpAddr>,
        original_uri: Option<&str>,
        secret: Option<&str>,
    ) -> Option<&'static str> {
        if client.is_some_and(|ip| self.networks.iter().any(|net| net.contains(&ip))) {
            return Some("address");
        }
        let path = original_uri.map(|uri| uri.split(['?', '#']).next().unwrap_or_default());
        if path.is_some_and(|path| self.paths.iter().any(|prefix| below(path, prefix))) {
            return Some("path");
        }
        let digest = |s: &str| -> [u8; 32] { Sha256::digest(s.as_bytes()).into() };
        if self.secret.is_some() && secret.map(digest) == self.secret {
            return Some("secret");
        }
        None
    }
}

/// Whether `path` is `prefix` or lies below it (`/callback/x` is below `/callback`; `/callbacks`
/// is not).
fn below(path: &str, prefix: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/') || prefix.ends_with('/'),
        None => false,
    }
}

impl EventPolicy {
    pub fn of(settings: &EventSettings) -> Self {
        let intake = match (settings.ordering.method, settings.schedule.opens_at) {
            (QueueMethod::Passthrough, _) => Intake::Passthrough,
            (QueueMethod::Reject, _) => Intake::SoldOut,
            (QueueMethod::Random, _) => Intake::Pool,
            (QueueMethod::Fifo, Some(opens_at)) if settings.schedule.prequeue_from.is_some() => {
                Intake::Prequeue { opens_at }
            }
            (QueueMethod::Fifo, _) => Intake::Line,
        };
        let arrivals = match intake {
            Intake::Prequeue { .. } | Intake::Pool => Some(intake),
            _ if settings.history.drew_at_random => Some(Intake::Pool),
            _ => None,
        };
        Self {
            intake,
            arrivals,
            capacity: Capacity::of(settings),
            pass_ttl_s: settings.admission.pass_ttl_s,
            renewed_up_to_s: Some(settings.admission.pass_renewal_max_s).filter(|max| *max > 0),
            single_use_passes: settings.admission.single_use_passes,
            lane_shares: settings
                .ordering
                .lanes
                .iter()
                .map(|lane| lane.share)
                .collect(),
            outage: settings.admission.outage,
            anonymous_joins: settings.admission.anonymous_joins,
            invite_only: settings.admission.invite_only,
            challenge_cost: Some(settings.admission.challenge_cost).filter(|cost| *cost > 0),
            bypass: Bypass::of(settings),
        }
    }

    /// How a release (and a join) picks: from the pool for the pool's intake, else in order.
    pub fn pick(&self) -> Pick {
        match self.intake {
            Intake::Pool => Pick::AtRandom,
            _ => Pick::InOrder,
        }
    }

    /// Whether those waiting are shown how many arrived (a pre-queue's or a pool's count), which
    /// every join changes: their pages follow joins as well as releases.
    pub fn shows_arrivals(&self) -> bool {
        matches!(self.intake, Intake::Prequeue { .. } | Intake::Pool)
    }

    /// Whether the event has lanes: several lines sharing each release.
    pub fn has_lanes(&self) -> bool {
        !self.lane_shares.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gates_bypass_rules_let_through_what_they_name_only() {
        let settings = EventSettings::default().patched(serde_json::json!({
            "bypass_addresses": ["203.0.113.7", "10.20.0.0/16"],
            "bypass_paths": ["/checkout/payment-callback", "/status/"],
            "bypass_secret": "monitoring-secret-0123",
        }));
        let rules = EventPolicy::of(&settings).bypass.expect("rules");
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        let by = |client, uri, secret| rules.lets_through(client, uri, secret);
        assert_eq!(by(ip("203.0.113.7"), None, None), Some("address"));
        assert_eq!(by(ip("10.20.9.9"), None, None), Some("address"));
        assert_eq!(by(ip("10.21.0.1"), None, None), None);
        let path = |uri| by(ip("198.51.100.1"), Some(uri), None);
        assert_eq!(path("/checkout/payment-callback"), Some("path"));
        assert_eq!(path("/checkout/payment-callback/7?ok=1"), Some("path"));
        assert_eq!(path("/checkout/payment-callbacks"), None);
        assert_eq!(path("/checkout/?to=/checkout/payment-callback"), None);
        assert_eq!(path("/status/page"), Some("path"));
        assert_eq!(
            by(None, None, Some("monitoring-secret-0123")),
            Some("secret")
        );
        assert_eq!(by(None, None, Some("monitoring-secret-0124")), None);
        assert_eq!(by(None, None, None), None);
        // No rules, nothing to check.
        assert!(EventPolicy::of(&EventSettings::default()).bypass.is_none());
    }

    #[test]
    fn the_settings_decide_one_intake() {
        let intake = |settings: EventSettings| EventPolicy::of(&settings).intake;
        let opens_at = "2030-01-01T10:00:00Z".parse().unwrap();
        let base = EventSettings::default();
        assert_eq!(intake(base.clone()), Intake::Line);
        let scheduled = base.patched(serde_json::json!({ "opens_at": opens_at }));
        assert_eq!(intake(scheduled.clone()), Intake::Line, "no pre-queue");
        let prequeue =
            scheduled.patched(serde_json::json!({ "prequeue_from": "2029-12-31T10:00:00Z" }));
        assert_eq!(intake(prequeue), Intake::Prequeue { opens_at });
        for (method, expected) in [
            (QueueMethod::Random, Intake::Pool),
            (QueueMethod::Passthrough, Intake::Passthrough),
            (QueueMethod::Reject, Intake::SoldOut),
        ] {
            let settings = base.patched(serde_json::json!({ "method": method }));
            assert_eq!(intake(settings), expected);
        }
    }

    #[test]
    fn a_pools_tokens_are_read_after_switching_away_and_lanes_share_releases() {
        let mut was_random = EventSettings::default().patched(serde_json::json!({
            "lanes": [{ "name": "members", "share": 30 }, { "name": "public", "share": 70 }],
        }));
        was_random.history.drew_at_random = true;
        let policy = EventPolicy::of(&was_random);
        assert_eq!(policy.intake, Intake::Line);
        assert_eq!(policy.arrivals, Some(Intake::Pool));
        assert_eq!(policy.pick(), Pick::InOrder);
        assert_eq!(policy.lane_shares, vec![30, 70]);
        assert!(EventPolicy::of(&EventSettings::default())
            .arrivals
            .is_none());
    }
}
