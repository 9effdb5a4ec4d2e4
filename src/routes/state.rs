//! What every handler shares: data only; the rules live in [`crate::admission`] and the handlers.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use parking_lot::Mutex;

use tokio::sync::{watch, Notify};

use super::templates::Pages;
use crate::cache::PointerCache;
use crate::config::SecretString;
use crate::domain::LineId;
use crate::limits::Limiters;
use crate::metrics::Metrics;
use crate::store::{Store, StoreProbe, WriteHealth, WritesFailing};
use crate::token::Tokens;

pub struct AppState {
    pub store: Arc<dyn Store>,
    pub cache: Arc<PointerCache>,
    pub tokens: Tokens,
    pub admin_token: Option<SecretString>,
    /// The booking service's credential: consume and complete only.
    pub service_token: Option<SecretString>,
    /// The key of invitations the booking site signs (`invitation_secret`), if it signs any.
    pub invitations: Option<jsonwebtoken::DecodingKey>,
    /// Proof-of-work challenges before a place, for events that ask for them.
    pub challenges: crate::challenge::Issuer,
    pub cookie_prefix: String,
    pub cookie_secure: bool,
    pub metrics: Arc<Metrics>,
    /// False once shutdown started.
    pub ready: Arc<AtomicBool>,
    /// Whether readiness checks reaching Redis.
    pub uses_redis: bool,
    /// Whether Redis answered the last of the background pings readiness reads.
    pub store_probe: Arc<StoreProbe>,
    /// Whether the store took the last write.
    pub writes: Arc<WriteHealth>,
    /// Readiness turns false after this long without a full resync.
    pub ready_stale_after: std::time::Duration,
    /// Turns true when push streams must close.
    pub closing: watch::Receiver<bool>,
    /// The pages people see.
    pub pages: Pages,
    /// The live-update streams open on this replica.
    pub streams: Arc<StreamSlots>,
    /// Per-client rate limits of every event.
    pub limiters: Limiters,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Most events given per-event series on `/metrics`.
    pub metrics_events: usize,
    /// The console's sessions (signed with a key of the admin token's), with an admin token.
    pub sessions: Option<super::session::Sessions>,
    /// Whether webhooks can be signed (`webhook_secret` is set): events may have them.
    pub webhooks_signed: bool,
}

/// How the store looks from this replica: for readiness and the console.
pub struct StoreHealth {
    /// Whether it answered the last background ping (always, for the embedded store).
    pub reachable: bool,
    /// Since when, and why, it refuses writes.
    pub writes_failing: Option<WritesFailing>,
}

impl StoreHealth {
    /// What is wrong, as readiness says it: `store-unreachable`, `store-refuses-writes`.
    pub fn degraded(&self) -> Vec<&'static str> {
        let mut degraded = Vec::new();
        if !self.reachable {
            degraded.push("store-unreachable");
        }
        if self.writes_failing.is_some() {
            degraded.push("store-refuses-writes");
        }
        degraded
    }
}

impl AppState {
    pub fn store_health(&self) -> StoreHealth {
        StoreHealth {
            reachable: !self.uses_redis || self.store_probe.reachable(),
            writes_failing: self.writes.failing(),
        }
    }
}

/// Counts the live-update streams open on this replica, in all and per place in line, so neither a
/// crowd nor one visitor's many tabs use up the file descriptors joins and status checks need.
#[derive(Debug)]
pub struct StreamSlots {
    limit: u64,
    per_place: u64,
    open: Mutex<OpenStreams>,
}

/// Streams open in all, and per place in line (with the place's poke: see [`StreamSlots::poke`]).
type OpenStreams = (u64, HashMap<(LineId, u64), (u64, Arc<Notify>)>);

/// Why a stream was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamRefused {
    /// This replica holds `max_streams`.
    Full,
    /// This place in line holds `max_streams_per_visitor`.
    PlaceFull,
}

impl StreamSlots {
    pub fn new(limit: u64, per_place: u64) -> Self {
        Self {
            limit,
            per_place,
            open: Mutex::default(),
        }
    }

    /// A slot for a stream of `position` in `event`, given back when the slot is dropped.
    pub fn take(
        self: &Arc<Self>,
        event: &LineId,
        position: u64,
    ) -> Result<StreamSlot, StreamRefused> {
        let mut open = self.open.lock();
        let (total, places) = &mut *open;
        if *total >= self.limit {
            return Err(StreamRefused::Full);
        }
        let (held, poke) = places.entry((event.clone(), position)).or_default();
        if *held >= self.per_place {
            return Err(StreamRefused::PlaceFull);
        }
        *held += 1;
        *total += 1;
        Ok(StreamSlot {
            slots: self.clone(),
            place: (event.clone(), position),
            poke: poke.clone(),
        })
    }

    /// Asks every open stream of a place to write at once. A server learns that a visitor closed a
    /// stream only when it writes to it (actix-web does not read the connection meanwhile): a page
    /// reloaded a few times would otherwise find its place's slots held by streams nobody reads until
    /// their next keep-alive.
    pub fn poke(&self, event: &LineId, position: u64) {
        if let Some((_, poke)) = self.open.lock().1.get(&(event.clone(), position)) {
            poke.notify_waiters();
        }
    }
}

/// One open stream's slot; dropping it frees the slot.
#[derive(Debug)]
pub struct StreamSlot {
    slots: Arc<StreamSlots>,
    place: (LineId, u64),
    poke: Arc<Notify>,
}

impl StreamSlot {
    /// Resolves when the stream is asked to write at once ([`StreamSlots::poke`]).
    pub async fn poked(&self) {
        self.poke.notified().await;
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock();
        let (total, places) = &mut *open;
        *total = total.saturating_sub(1);
        if let Some((held, _)) = places.get_mut(&self.place) {
            *held -= 1;
            if *held == 0 {
                places.remove(&self.place);
            }
        }
    }
}
