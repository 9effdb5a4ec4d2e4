//! Per-client rate limits of the visitor routes (`governor`'s keyed limiters, a pair per event,
//! built from the event's settings), the quota of new places a client may take across replicas
//! ([`JoinQuota`], counted by the store), and the client's address as seen through trusted proxies.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;
use parking_lot::RwLock;

use crate::domain::{EventId, RateLimits};

/// What a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    Join,
    /// Status checks, leaves, streams, pages.
    Check,
}

impl Limited {
    fn per_period(self, limits: &RateLimits) -> u32 {
        match self {
            Limited::Join => limits.joins_per_minute,
            Limited::Check => limits.checks_per_second,
        }
    }
}

/// Whether an event limits requests of a kind at all.
pub trait Applies {
    fn applies_to(&self, kind: Limited) -> bool;
}

impl Applies for RateLimits {
    fn applies_to(&self, kind: Limited) -> bool {
        kind.per_period(self) > 0
    }
}

/// Checks between two sweeps of addresses whose limits have recovered fully (keeps memory to the
/// addresses seen lately).
const SWEEP_EVERY: u64 = 65_536;

/// Every event's limiters on this replica.
#[derive(Default)]
pub struct Limiters {
    events: RwLock<HashMap<EventId, Arc<EventLimiters>>>,
    checks: AtomicU64,
}

struct EventLimiters {
    limits: RateLimits,
    joins: Option<DefaultKeyedRateLimiter<IpAddr>>,
    checks: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// Clients the store found over their quota of new places (counted across replicas), and until
    /// when: refused here without asking the store again.
    over_quota: parking_lot::Mutex<HashMap<IpAddr, Instant>>,
}

fn limiter(per_period: Option<Quota>, burst: u32) -> Option<DefaultKeyedRateLimiter<IpAddr>> {
    let quota = per_period?.allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
    Some(RateLimiter::keyed(quota))
}

impl EventLimiters {
    fn new(limits: RateLimits) -> Self {
        Self {
            limits,
            joins: limiter(
                NonZeroU32::new(limits.joins_per_minute).map(Quota::per_minute),
                limits.join_burst,
            ),
            checks: limiter(
                NonZeroU32::new(limits.checks_per_second).map(Quota::per_second),
                limits.check_burst,
            ),
            over_quota: parking_lot::Mutex::default(),
        }
    }
}

impl Limiters {
    /// Counts a request of `client` against `event`'s limit of `kind`. `Err`: refused, with how long
    /// until it would be let through.
    pub fn check(
        &self,
        event: &EventId,
        limits: &RateLimits,
        kind: Limited,
        client: IpAddr,
    ) -> Result<(), Duration> {
        if !limits.applies_to(kind) {
            return Ok(());
        }
        let limiters = self.for_event(event, limits);
        let limiter = match kind {
            Limited::Join => &limiters.joins,
            Limited::Check => &limiters.checks,
        };
        let Some(limiter) = limiter else {
            return Ok(());
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.sweep();
        }
        let key = limit_key(client);
        if kind == Limited::Join {
            if let Some(until) = limiters.over_quota.lock().get(&key) {
                let left = until.saturating_duration_since(Instant::now());
                if !left.is_zero() {
                    return Err(left);
                }
            }
        }
        limiter
            .check_key(&key)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Remembers that the store found `client` over its quota of new places for `event` (see
    /// [`JoinQuota`]) for `wait`: its joins are refused here meanwhile, without a store call.
    pub fn over_quota(&self, event: &EventId, limits: &RateLimits, client: IpAddr, wait: Duration) {
        let until = Instant::now() + wait;
        let limiters = self.for_event(event, limits);
        limiters.over_quota.lock().insert(limit_key(client), until);
    }

    fn for_event(&self, event: &EventId, limits: &RateLimits) -> Arc<EventLimiters> {
        if let Some(found) = self.events.read().get(event) {
            if found.limits == *limits {
                return found.clone();
            }
        }
        let fresh = Arc::new(EventLimiters::new(*limits));
        self.events.write().insert(event.clone(), fresh.clone());
        fresh
    }

    fn sweep(&self) {
        let now = Instant::now();
        for limiters in self.events.read().values() {
            for limiter in [&limiters.joins, &limiters.checks].into_iter().flatten() {
                limiter.retain_recent();
                limiter.shrink_to_fit();
            }
            let mut over_quota = limiters.over_quota.lock();
            over_quota.retain(|_, until| *until > now);
            over_quota.shrink_to_fit();
        }
    }
}

/// The span a client's quota of new places counts over.
pub const QUOTA_WINDOW_MS: u64 = 60_000;

/// A client's quota of new places: at most `per_minute` joins in any 60 s, counted in the store
/// with each join (in the join's own round trip), so N replicas do not give N × the limit. The
/// count is a sliding-window estimate from two fixed minutes, as rate limiters at the edge count:
/// this minute's joins plus the previous minute's, weighted by how much of it the last 60 s still
/// cover. Refused joins count too, so a client that keeps trying stays refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinQuota {
    /// What the client counts as ([`limit_key`]).
    pub client: IpAddr,
    pub per_minute: u32,
}

/// Where a moment falls for [`JoinQuota`]: its fixed minute, and how much of the previous minute
/// the 60 s before it still cover (which is also how long the minute has to run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaWindow {
    pub minute: u64,
    pub previous_covered_ms: u64,
}

impl QuotaWindow {
    pub fn at(now_ms: i64) -> Self {
        let now_ms = u64::try_from(now_ms).unwrap_or(0);
        Self {
            minute: now_ms / QUOTA_WINDOW_MS,
            previous_covered_ms: QUOTA_WINDOW_MS - now_ms % QUOTA_WINDOW_MS,
        }
    }

    /// The previous minute's `joins` as the sliding window counts them now (rounded up, as
    /// `lua/join_pool.lua` rounds them: joins close together across the minute's turn count in
    /// full).
    pub fn weighted(&self, joins: u64) -> u64 {
        joins
            .saturating_mul(self.previous_covered_ms)
            .div_ceil(QUOTA_WINDOW_MS)
    }
}

impl JoinQuota {
    /// Whether a join is within the quota when it makes `count` joins of this minute, after
    /// `previous` joins in the previous minute.
    pub fn admits(&self, window: &QuotaWindow, previous: u64, count: u64) -> bool {
        window.weighted(previous).saturating_add(count) <= u64::from(self.per_minute)
    }

    /// How long until another join would be within the quota, `count` joins into this minute
    /// (at least a second: `Retry-After` counts in seconds).
    pub fn retry_after(&self, window: &QuotaWindow, previous: u64, count: u64) -> Duration {
        let limit = u64::from(self.per_minute);
        let room = |taken: u64| limit.saturating_sub(taken).saturating_sub(1);
        let wait_ms = if count < limit {
            // Within this minute, once the previous minute's weight has fallen far enough.
            let allowed = room(count).saturating_mul(QUOTA_WINDOW_MS);
            window
                .previous_covered_ms
                .saturating_sub(allowed.checked_div(previous).unwrap_or(u64::MAX))
        } else {
            // In the next minute, once this minute's weight has fallen far enough.
            let allowed = room(0).saturating_mul(QUOTA_WINDOW_MS);
            let into_next =
                QUOTA_WINDOW_MS.saturating_sub(allowed.checked_div(count).unwrap_or(u64::MAX));
            window.previous_covered_ms + into_next
        };
        Duration::from_millis(wait_ms.max(1_000))
    }
}

/// The client's address: the peer's, unless the peer is a trusted proxy, then the last address in
/// `X-Forwarded-For` that is not one (proxies append the address they saw, so only the part
/// trusted proxies wrote can be believed; anything a client sends ahead of it is ignored). The
/// header's lines (`forwarded_for`, in the order they came) are read as one list, as RFC 9110 says;
/// a hop may carry a port (`203.0.113.5:41234`, `[2001:db8::1]:41234`).
pub fn client_address(
    peer: Option<IpAddr>,
    forwarded_for: &[&str],
    trusted: &[IpNet],
) -> Option<IpAddr> {
    let peer = peer?.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let mut client = peer;
    let hops = forwarded_for.iter().rev().flat_map(|line| line.rsplit(','));
    for hop in hops {
        let Some(ip) = hop_address(hop.trim()) else {
            // Garbage: stop believing the header at the last good address.
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    Some(client)
}

/// One `X-Forwarded-For` hop's address: bare, with a port, or an IPv6 one in brackets.
fn hop_address(hop: &str) -> Option<IpAddr> {
    let ip = hop
        .parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|at| at.ip()))
        .or_else(|| hop.strip_prefix('[')?.strip_suffix(']')?.parse().ok())?;
    Some(ip.to_canonical())
}

/// Whether an address is on a private network (loopback, RFC 1918, link-local, IPv6 unique local):
/// where a proxy in front of waitroom usually is.
pub fn is_private(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

/// What a client's limits are counted by: its IPv4 address, or its IPv6 /64 (one subscriber's
/// network: a client changes the rest of its address at will).
pub fn limit_key(client: IpAddr) -> IpAddr {
    match client.to_canonical() {
        IpAddr::V6(v6) => {
            let network = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(network.into())
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(raw: &str) -> IpAddr {
        raw.parse().unwrap()
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec![
            "10.0.0.0/8".parse().unwrap(),
            "127.0.0.1/32".parse().unwrap(),
        ];
        let peer = Some(ip("10.1.2.3"));
        // Untrusted peer: its own address, whatever it claims.
        assert_eq!(
            client_address(Some(ip("198.51.100.9")), &["1.2.3.4"], &trusted),
            Some(ip("198.51.100.9"))
        );
        // Trusted: the nearest untrusted hop; a client's forged prefix is ignored.
        assert_eq!(
            client_address(peer, &["6.6.6.6, 203.0.113.5, 10.9.9.9"], &trusted),
            Some(ip("203.0.113.5"))
        );
        // Only trusted hops, or no header: the furthest one known.
        assert_eq!(
            client_address(peer, &["10.4.4.4"], &trusted),
            Some(ip("10.4.4.4"))
        );
        assert_eq!(client_address(peer, &[], &trusted), peer);
        // Garbage stops the walk at the last address believed.
        assert_eq!(
            client_address(peer, &["203.0.113.5, nonsense"], &trusted),
            peer
        );
        // Several header lines are one list in order: a forged first line is not believed.
        assert_eq!(
            client_address(peer, &["6.6.6.6", "203.0.113.5", "10.9.9.9"], &trusted),
            Some(ip("203.0.113.5"))
        );
        assert_eq!(
            client_address(peer, &["6.6.6.6", "203.0.113.5, 10.9.9.9"], &trusted),
            Some(ip("203.0.113.5"))
        );
        // Hops with ports, IPv6 in brackets, IPv4-mapped IPv6.
        for (hop, client) in [
            ("203.0.113.5:41234", "203.0.113.5"),
            ("[2001:db8::7]:41234", "2001:db8::7"),
            ("[2001:db8::7]", "2001:db8::7"),
            ("::ffff:203.0.113.5", "203.0.113.5"),
        ] {
            assert_eq!(
                client_address(peer, &[hop], &trusted),
                Some(ip(client)),
                "{hop}"
            );
        }
        assert_eq!(
            client_address(Some(ip("::ffff:10.1.2.3")), &["203.0.113.5"], &trusted),
            Some(ip("203.0.113.5")),
            "a trusted proxy seen through an IPv4-mapped address"
        );
    }

    #[test]
    fn proxies_are_usually_on_private_networks() {
        for private in [
            "10.1.2.3",
            "192.168.0.1",
            "172.16.5.4",
            "127.0.0.1",
            "fd00::1",
            "fe80::1",
            "::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_private(ip(private)), "{private}");
        }
        for public in ["203.0.113.5", "2001:db8::1", "8.8.8.8"] {
            assert!(!is_private(ip(public)), "{public}");
        }
    }

    #[test]
    fn ipv6_clients_are_limited_by_their_64() {
        assert_eq!(
            limit_key(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            ip("2001:db8:1:2::")
        );
        assert_eq!(limit_key(ip("203.0.113.5")), ip("203.0.113.5"));
        let limiters = Limiters::default();
        let event = EventId::parse("e").unwrap();
        let limits = RateLimits {
            joins_per_minute: 60,
            join_burst: 2,
            ..RateLimits::default()
        };
        let rotating =
            |n: u16| IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, n));
        assert!(limiters
            .check(&event, &limits, Limited::Join, rotating(1))
            .is_ok());
        assert!(limiters
            .check(&event, &limits, Limited::Join, rotating(2))
            .is_ok());
        assert!(
            limiters
                .check(&event, &limits, Limited::Join, rotating(3))
                .is_err(),
            "a new address in the same /64 is the same client"
        );
        let elsewhere = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, 3, 0, 0, 0, 1));
        assert!(limiters
            .check(&event, &limits, Limited::Join, elsewhere)
            .is_ok());
    }

    #[test]
    fn a_client_over_its_limit_waits_and_others_do_not() {
        let limiters = Limiters::default();
        let event = EventId::parse("e").unwrap();
        let limits = RateLimits {
            joins_per_minute: 60,
            join_burst: 3,
            ..RateLimits::default()
        };
        let (flood, other) = (ip("203.0.113.1"), ip("203.0.113.2"));
        for _ in 0..3 {
            assert!(limiters
                .check(&event, &limits, Limited::Join, flood)
                .is_ok());
        }
        let wait = limiters
            .check(&event, &limits, Limited::Join, flood)
            .unwrap_err();
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        assert!(limiters
            .check(&event, &limits, Limited::Join, other)
            .is_ok());
        // Switched off: never refused.
        let off = RateLimits {
            joins_per_minute: 0,
            ..limits
        };
        for _ in 0..10 {
            assert!(limiters.check(&event, &off, Limited::Join, flood).is_ok());
        }
    }

    #[test]
    fn a_clients_quota_slides_over_the_last_minute() {
        let quota = JoinQuota {
            client: ip("203.0.113.1"),
            per_minute: 10,
        };
        // A quarter into a minute: three quarters of the previous one still count.
        let window = QuotaWindow::at(60_000 * 100 + 15_000);
        assert_eq!(window.minute, 100);
        assert_eq!(window.previous_covered_ms, 45_000);
        assert_eq!(window.weighted(8), 6);
        assert_eq!(window.weighted(7), 6, "5.25 joins count as 6");
        assert_eq!(QuotaWindow::at(60_000 * 100 + 1).weighted(7), 7);
        assert!(quota.admits(&window, 8, 4), "6 + 4 joins");
        assert!(!quota.admits(&window, 8, 5), "6 + 5 joins");
        assert!(quota.admits(&window, 0, 10));
        assert!(!quota.admits(&window, 0, 11));
        // Room this minute once the previous one weighs less: 6 + 4 taken, a fifth join this
        // minute when 8 × (45 s − t) / 60 s ≤ 5, t ≥ 7.5 s.
        assert_eq!(
            quota.retry_after(&window, 8, 4),
            Duration::from_millis(7_500)
        );
        // With 5 taken this minute: 8 × (45 s − t) / 60 s ≤ 4, t ≥ 15 s.
        assert_eq!(
            quota.retry_after(&window, 8, 5),
            Duration::from_millis(15_000)
        );
        // This minute full: into the next, until its 12 weigh 9 or less (15 s into it).
        assert_eq!(
            quota.retry_after(&window, 0, 12),
            Duration::from_millis(45_000 + 15_000)
        );
        // Never under a second.
        assert_eq!(quota.retry_after(&window, 0, 3), Duration::from_secs(1));
    }

    #[test]
    fn a_client_the_store_found_over_quota_is_refused_here_until_then() {
        let limiters = Limiters::default();
        let event = EventId::parse("e").unwrap();
        let limits = RateLimits::default();
        let (over, other) = (ip("203.0.113.1"), ip("203.0.113.2"));
        limiters.over_quota(&event, &limits, over, Duration::from_secs(30));
        let wait = limiters
            .check(&event, &limits, Limited::Join, over)
            .unwrap_err();
        assert!(wait > Duration::from_secs(29), "{wait:?}");
        assert!(limiters
            .check(&event, &limits, Limited::Check, over)
            .is_ok());
        assert!(limiters
            .check(&event, &limits, Limited::Join, other)
            .is_ok());
        limiters.over_quota(&event, &limits, other, Duration::ZERO);
        assert!(limiters
            .check(&event, &limits, Limited::Join, other)
            .is_ok());
    }
}
