//! Each replica's copy of every event's settings, admission pointer and leavers, so that status and
//! gate checks never wait on the store. Kept fresh by the store's push channel and, should a message
//! be lost, by a short periodic resync.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::{broadcast, watch};

use crate::domain::{EventId, EventSettings};
use crate::estimate::{Estimate, RateMeter};
use crate::recent::Recent;
use crate::store::{Figures, Notification, Snapshot, Store};

/// One event as this replica knows it.
#[derive(Debug)]
pub struct CachedEvent {
    settings: RwLock<Arc<EventSettings>>,
    issued: AtomicU64,
    admitted_through: AtomicU64,
    drained_through: AtomicU64,
    left: RwLock<BTreeSet<u64>>,
    /// Positions whose pass this replica recorded as claimed in the store lately, and whether the
    /// claim came too late (the slot had gone to someone else). Forgetting one costs a store call
    /// the next time: the store's claim answers the same again.
    claimed: Mutex<Recent<bool>>,
    /// Passes signed lately, handed out again to a visitor who asks twice within seconds.
    passes: Mutex<Recent<Arc<SignedPass>>>,
    /// Active visitors, as of the last resync (events with a capacity).
    active: AtomicU64,
    /// When the pointer moved and how many came through, for wait estimates.
    rate: Mutex<RateMeter>,
    /// When this replica last heard from the store about this event (resync or push).
    synced_at: Mutex<Instant>,
}

impl CachedEvent {
    fn new(settings: EventSettings) -> Self {
        Self {
            settings: RwLock::new(Arc::new(settings)),
            issued: AtomicU64::new(0),
            admitted_through: AtomicU64::new(0),
            drained_through: AtomicU64::new(0),
            left: RwLock::default(),
            claimed: Mutex::default(),
            passes: Mutex::default(),
            active: AtomicU64::new(0),
            rate: Mutex::default(),
            synced_at: Mutex::new(Instant::now()),
        }
    }

    pub fn synced_at(&self) -> Instant {
        *self.synced_at.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn mark_synced(&self) {
        *self.synced_at.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    /// Visitors admitted per minute as measured (not as scheduled), if measured yet.
    pub fn measured_rate_per_minute(&self, now: Instant) -> Option<f64> {
        let meter = self.rate.lock().unwrap_or_else(|e| e.into_inner());
        meter.rate(now).map(|(per_second, _)| per_second * 60.0)
    }

    /// How long a visitor with `ahead` people before them will likely wait.
    pub fn estimate(&self, ahead: u64) -> Option<Estimate> {
        let meter = self.rate.lock().unwrap_or_else(|e| e.into_inner());
        crate::estimate::estimate(ahead, &self.settings(), &meter, Instant::now())
    }

    /// Notes how many visitors had come through (those who left do not count) as the pointer moved.
    fn record_rate(&self) {
        let pointer = self.admitted_through();
        let gone = self
            .left
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .range(..=pointer)
            .count() as u64;
        self.rate
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record(Instant::now(), pointer.saturating_sub(gone));
    }

    /// Where `position`'s pass claim stands on this replica at `now` (unix seconds); the first call
    /// for a position marks it, so the claim reaches the store once (every few minutes at most)
    /// rather than on every status check.
    pub fn claim_here(&self, position: u64, now: i64) -> ClaimHere {
        let mut claimed = self.claimed.lock().unwrap_or_else(|e| e.into_inner());
        claimed.turn(now, CLAIMS_KEPT_S);
        match claimed.get(position) {
            None => {
                claimed.insert(position, false);
                ClaimHere::First
            }
            Some(true) => ClaimHere::Late,
            Some(false) => ClaimHere::Recorded,
        }
    }

    /// Remembers that `position` claimed too late.
    pub fn mark_claim_late(&self, position: u64) {
        self.claimed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(position, true);
    }

    /// Forgets a claim that could not be recorded, so the next status check tries again.
    pub fn unclaim(&self, position: u64) {
        self.claimed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(position);
    }

    /// The pass signed for `position` on this replica, if it was signed less than `reuse_s` seconds
    /// before `now`.
    pub fn recent_pass(&self, position: u64, now: i64, reuse_s: i64) -> Option<Arc<SignedPass>> {
        let mut passes = self.passes.lock().unwrap_or_else(|e| e.into_inner());
        passes.turn(now, reuse_s);
        passes
            .get(position)
            .filter(|pass| now - pass.issued_at < reuse_s)
            .cloned()
    }

    /// Keeps a pass just signed for `position`, to hand out again for `reuse_s` seconds.
    pub fn keep_pass(&self, position: u64, pass: Arc<SignedPass>, reuse_s: i64) {
        let mut passes = self.passes.lock().unwrap_or_else(|e| e.into_inner());
        passes.turn(pass.issued_at, reuse_s);
        passes.insert(position, pass);
    }

    pub fn settings(&self) -> Arc<EventSettings> {
        self.settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn admitted_through(&self) -> u64 {
        self.admitted_through.load(Ordering::Acquire)
    }

    pub fn issued(&self) -> u64 {
        self.issued.load(Ordering::Acquire)
    }

    pub fn has_left(&self, position: u64) -> bool {
        self.left
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&position)
    }

    pub fn left_count(&self) -> u64 {
        self.left.read().unwrap_or_else(|e| e.into_inner()).len() as u64
    }

    /// Whether the pointer has reached `position`.
    pub fn is_admitted(&self, position: u64) -> bool {
        position <= self.admitted_through()
    }

    /// How many visitors still waiting stand before `position`.
    pub fn ahead_of(&self, position: u64) -> u64 {
        let pointer = self.admitted_through();
        if position <= pointer + 1 {
            return 0;
        }
        let left = self.left.read().unwrap_or_else(|e| e.into_inner());
        let gone = left.range(pointer + 1..position).count() as u64;
        (position - pointer - 1).saturating_sub(gone)
    }

    /// Moves the counters forward only: a late message never takes the pointer back.
    /// Returns whether the pointer moved.
    fn observe(&self, issued: u64, admitted_through: u64) -> bool {
        self.issued.fetch_max(issued, Ordering::AcqRel);
        let before = self
            .admitted_through
            .fetch_max(admitted_through, Ordering::AcqRel);
        let moved = admitted_through > before;
        if moved {
            self.record_rate();
        }
        moved
    }

    pub fn figures(&self) -> Figures {
        Figures {
            issued: self.issued(),
            admitted_through: self.admitted_through(),
            left: self.left_count(),
            drained_through: self.drained_through.load(Ordering::Acquire),
            active: self.active.load(Ordering::Acquire),
        }
    }

    /// Records a join answered by the store on this replica: the issued count is known right away.
    pub fn observe_issued(&self, position: u64) {
        self.issued.fetch_max(position, Ordering::AcqRel);
    }

    fn mark_left(&self, position: u64) -> bool {
        self.left
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(position)
    }
}

/// An admission pass as handed out: the token and when it expires.
#[derive(Debug)]
pub struct SignedPass {
    pub token: String,
    pub issued_at: i64,
    pub expires_at: String,
}

/// How long a replica remembers a claim it recorded: between this and twice this, in seconds.
const CLAIMS_KEPT_S: i64 = 300;

/// See [`CachedEvent::claim_here`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimHere {
    /// Nobody claimed this pass through this replica yet: record the claim in the store.
    First,
    /// The claim was recorded in time.
    Recorded,
    /// The claim came after the claim window: the slot went to someone else.
    Late,
}

#[derive(Debug)]
pub struct PointerCache {
    events: RwLock<HashMap<EventId, Arc<CachedEvent>>>,
    /// True once a full sync with the store succeeded.
    warm: AtomicBool,
    /// Announces every event whose visitors' answers may have changed (pointer, leavers, settings),
    /// to the push streams connected to this replica.
    changes: broadcast::Sender<EventId>,
}

impl Default for PointerCache {
    fn default() -> Self {
        Self {
            events: RwLock::default(),
            warm: AtomicBool::new(false),
            changes: broadcast::channel(4_096).0,
        }
    }
}

impl PointerCache {
    /// Changes from now on; see [`PointerCache::changes`].
    pub fn subscribe(&self) -> broadcast::Receiver<EventId> {
        self.changes.subscribe()
    }

    fn changed(&self, event: &EventId) {
        // Nobody listening is fine.
        let _ = self.changes.send(event.clone());
    }

    /// Takes in counters pushed by the store or learned from an admin's advance on this replica.
    pub fn observe(
        &self,
        event: &EventId,
        cached: &CachedEvent,
        issued: u64,
        admitted_through: u64,
    ) {
        cached.mark_synced();
        if cached.observe(issued, admitted_through) {
            self.changed(event);
        }
    }

    /// Records a place given up through this replica.
    pub fn mark_left(&self, event: &EventId, cached: &CachedEvent, position: u64) {
        if cached.mark_left(position) {
            self.changed(event);
        }
    }

    pub fn get(&self, event: &EventId) -> Option<Arc<CachedEvent>> {
        self.events
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(event)
            .cloned()
    }

    pub fn event_ids(&self) -> Vec<EventId> {
        let mut ids: Vec<EventId> = self
            .events
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect();
        ids.sort();
        ids
    }

    pub fn is_warm(&self) -> bool {
        self.warm.load(Ordering::Acquire)
    }

    /// Takes in a snapshot read from the store; returns the cached event.
    pub fn apply_snapshot(&self, event: &EventId, snapshot: Snapshot) -> Arc<CachedEvent> {
        let cached = {
            let mut events = self.events.write().unwrap_or_else(|e| e.into_inner());
            events
                .entry(event.clone())
                .or_insert_with(|| Arc::new(CachedEvent::new(snapshot.settings.clone())))
                .clone()
        };
        let settings_changed = {
            let mut settings = cached.settings.write().unwrap_or_else(|e| e.into_inner());
            let changed = **settings != snapshot.settings;
            if changed {
                *settings = Arc::new(snapshot.settings);
                // Passes carry the settings' lifetime and target: none is handed out again.
                *cached.passes.lock().unwrap_or_else(|e| e.into_inner()) = Recent::default();
            }
            changed
        };
        let moved = cached.observe(snapshot.figures.issued, snapshot.figures.admitted_through);
        cached
            .drained_through
            .fetch_max(snapshot.figures.drained_through, Ordering::AcqRel);
        cached
            .active
            .store(snapshot.figures.active, Ordering::Release);
        cached.mark_synced();
        if settings_changed || moved {
            self.changed(event);
        }
        cached
    }

    /// Takes in a pushed change. Returns the event whose settings must be re-read, if any.
    pub fn apply(&self, notification: Notification) -> Option<EventId> {
        match notification {
            Notification::Pointer {
                event,
                admitted_through,
                issued,
            } => {
                match self.get(&event) {
                    Some(cached) => self.observe(&event, &cached, issued, admitted_through),
                    None => return Some(event),
                }
                None
            }
            Notification::Left { event, position } => {
                match self.get(&event) {
                    Some(cached) => self.mark_left(&event, &cached, position),
                    None => return Some(event),
                }
                None
            }
            Notification::Settings { event } => Some(event),
        }
    }

    fn set_left(&self, event: &EventId, positions: Vec<u64>) {
        if let Some(cached) = self.get(event) {
            *cached.left.write().unwrap_or_else(|e| e.into_inner()) =
                positions.into_iter().collect();
            self.changed(event);
        }
    }

    /// Re-reads one event from the store.
    pub async fn refresh(
        &self,
        store: &dyn Store,
        event: &EventId,
    ) -> Result<(), crate::store::StoreError> {
        let Some(snapshot) = store.snapshot(event).await? else {
            return Ok(());
        };
        let left_in_store = snapshot.figures.left;
        let cached = self.apply_snapshot(event, snapshot);
        if cached.left_count() != left_in_store {
            self.set_left(event, store.left_positions(event).await?);
        }
        Ok(())
    }

    /// Re-reads every event from the store.
    pub async fn refresh_all(&self, store: &dyn Store) -> Result<(), crate::store::StoreError> {
        for event in store.events().await? {
            self.refresh(store, &event).await?;
        }
        self.warm.store(true, Ordering::Release);
        Ok(())
    }
}

/// Logs a dependency's state only when it changes, not on every failed attempt.
pub struct StateLog {
    what: &'static str,
    healthy: AtomicBool,
}

impl StateLog {
    pub const fn new(what: &'static str) -> Self {
        Self {
            what,
            healthy: AtomicBool::new(true),
        }
    }

    pub fn ok(&self) {
        if !self.healthy.swap(true, Ordering::AcqRel) {
            tracing::info!(what = self.what, "recovered");
        }
    }

    pub fn failed(&self, error: &dyn std::fmt::Display) {
        if self.healthy.swap(false, Ordering::AcqRel) {
            tracing::warn!(what = self.what, %error, "failing; will keep retrying");
        }
    }
}

/// Keeps `cache` in step with `store` until `shutdown` turns true: listens to pushed changes and
/// resyncs every `poll` in case a message was lost (pub/sub delivers at most once).
pub async fn keep_in_sync(
    store: Arc<dyn Store>,
    cache: Arc<PointerCache>,
    poll: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let listener = tokio::spawn(listen(store.clone(), cache.clone(), shutdown.clone()));
    let resync_log = StateLog::new("pointer cache resync");
    let mut ticker = tokio::time::interval(poll);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => match cache.refresh_all(store.as_ref()).await {
                Ok(()) => resync_log.ok(),
                Err(e) => resync_log.failed(&e),
            },
            _ = shutdown.changed() => break,
        }
    }
    listener.abort();
}

async fn listen(
    store: Arc<dyn Store>,
    cache: Arc<PointerCache>,
    mut shutdown: watch::Receiver<bool>,
) {
    let log = StateLog::new("pointer push channel");
    let mut backoff = Duration::from_millis(100);
    loop {
        let subscribed = tokio::time::timeout(Duration::from_secs(2), store.notifications()).await;
        match subscribed {
            Ok(Ok(mut changes)) => {
                log.ok();
                backoff = Duration::from_millis(100);
                loop {
                    tokio::select! {
                        change = changes.next() => match change {
                            Some(change) => {
                                if let Some(event) = cache.apply(change) {
                                    if let Err(e) = cache.refresh(store.as_ref(), &event).await {
                                        tracing::debug!(%event, error = %e, "settings refresh failed");
                                    }
                                }
                            }
                            None => break,
                        },
                        _ = shutdown.changed() => return,
                    }
                }
                log.failed(&"subscription ended");
            }
            Ok(Err(e)) => log.failed(&e),
            Err(_) => log.failed(&"subscribing timed out"),
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(issued: u64, admitted_through: u64) -> Snapshot {
        Snapshot {
            settings: EventSettings::default(),
            figures: Figures {
                issued,
                admitted_through,
                left: 0,
                drained_through: 0,
                active: 0,
            },
        }
    }

    fn pass(issued_at: i64) -> Arc<SignedPass> {
        Arc::new(SignedPass {
            token: format!("pass-{issued_at}"),
            issued_at,
            expires_at: String::new(),
        })
    }

    #[test]
    fn passes_are_handed_out_again_only_within_the_reuse_time() {
        let cache = PointerCache::default();
        let event = EventId::parse("e").unwrap();
        let cached = cache.apply_snapshot(&event, snapshot(100, 10));
        let recent = |position, now| {
            cached
                .recent_pass(position, now, 5)
                .map(|p| p.token.clone())
        };

        cached.keep_pass(1, pass(1_003), 5);
        assert_eq!(recent(1, 1_003).as_deref(), Some("pass-1003"));
        assert_eq!(recent(2, 1_003), None, "another position's pass");
        // Into the next generation: still handed out until 5 seconds have passed.
        assert_eq!(recent(1, 1_007).as_deref(), Some("pass-1003"));
        assert_eq!(recent(1, 1_008), None);
        // A later pass for the same position replaces it.
        cached.keep_pass(1, pass(1_008), 5);
        assert_eq!(recent(1, 1_009).as_deref(), Some("pass-1008"));
        // Long after, both generations are gone, not just too old.
        assert_eq!(recent(1, 2_000), None);
        assert_eq!(cached.passes.lock().unwrap().held(), 0);

        // New settings (another lifetime or target): no pass signed under the old ones is reused.
        cached.keep_pass(3, pass(2_000), 5);
        let mut changed = snapshot(100, 10);
        changed.settings.pass_ttl_s += 60;
        cache.apply_snapshot(&event, changed);
        assert_eq!(recent(3, 2_001), None);
    }

    #[test]
    fn claims_are_remembered_for_minutes_then_asked_of_the_store_again() {
        let cache = PointerCache::default();
        let event = EventId::parse("e").unwrap();
        let cached = cache.apply_snapshot(&event, snapshot(100, 10));
        let start = 10 * CLAIMS_KEPT_S;
        assert_eq!(cached.claim_here(1, start), ClaimHere::First);
        assert_eq!(cached.claim_here(1, start + 1), ClaimHere::Recorded);
        assert_eq!(cached.claim_here(2, start + 1), ClaimHere::First);
        cached.mark_claim_late(2);
        // Through the next period both are still known; a late claim stays late.
        let next = start + CLAIMS_KEPT_S;
        assert_eq!(cached.claim_here(1, next), ClaimHere::Recorded);
        assert_eq!(cached.claim_here(2, next), ClaimHere::Late);
        // A claim that could not be recorded is forgotten in both generations.
        cached.unclaim(1);
        assert_eq!(cached.claim_here(1, next), ClaimHere::First);
        // Two periods on, everything is forgotten: memory holds recent visitors only.
        let later = start + 3 * CLAIMS_KEPT_S;
        assert_eq!(cached.claim_here(2, later), ClaimHere::First);
        assert_eq!(cached.claimed.lock().unwrap().held(), 1);
    }

    #[test]
    fn pointer_never_moves_back_and_leavers_are_not_counted_ahead() {
        let cache = PointerCache::default();
        let event = EventId::parse("e").unwrap();
        cache.apply_snapshot(&event, snapshot(100, 10));
        cache.apply(Notification::Pointer {
            event: event.clone(),
            admitted_through: 5,
            issued: 100,
        });
        let cached = cache.get(&event).unwrap();
        assert_eq!(cached.admitted_through(), 10);
        assert_eq!(cached.ahead_of(20), 9);
        cache.apply(Notification::Left {
            event: event.clone(),
            position: 15,
        });
        assert_eq!(cached.ahead_of(20), 8);
        assert_eq!(cached.ahead_of(11), 0);
        assert_eq!(cached.ahead_of(3), 0);
        assert_eq!(
            cache.apply(Notification::Settings {
                event: event.clone()
            }),
            Some(event)
        );
    }
}
