//! Every event this replica knows, and the announcements of their changes to push streams.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use tokio::sync::{broadcast, Notify};

use super::due::Due;
use super::event::CachedEvent;
use crate::clock::unix_ms;
use crate::domain::{EventState, LineId};
use crate::metrics::EventReading;
use crate::recent::Recent;
use crate::store::{Figures, Floor, Notification, Snapshot, Store};

#[derive(Debug)]
pub struct PointerCache {
    events: RwLock<HashMap<LineId, Arc<CachedEvent>>>,
    /// True once a full sync with the store succeeded.
    warm: AtomicBool,
    /// Announces every event whose visitors' answers may have changed (pointer, leavers, settings),
    /// to the push streams connected to this replica.
    changes: broadcast::Sender<LineId>,
    last_data_loss: Mutex<Option<DataLoss>>,
    /// When this replica last knew itself in step with the store: every event read, or the push
    /// channel up and the store the same instance (see [`crate::cache::Resync`]).
    synced_all_at: Mutex<Option<Instant>>,
    /// Events where someone may be waiting for a release: the scheduler's.
    pub releases: Due,
    /// Told when an event's pointer moved or its drain is found behind: wakes the drain, which
    /// looks at every event's checkpoint anyway.
    pub drain_due: Notify,
}

/// When and how the store was last found holding less than this replica knew.
#[derive(Debug, Clone, Serialize)]
pub struct DataLoss {
    pub event: LineId,
    pub at: String,
    /// What the store held (nothing at all: `None`).
    pub stored: Option<Figures>,
    /// What was restored.
    pub restored: Figures,
}

impl Default for PointerCache {
    fn default() -> Self {
        Self {
            events: RwLock::default(),
            warm: AtomicBool::new(false),
            changes: broadcast::channel(4_096).0,
            last_data_loss: Mutex::default(),
            synced_all_at: Mutex::default(),
            releases: Due::default(),
            drain_due: Notify::default(),
        }
    }
}

impl PointerCache {
    /// Changes from now on; see `PointerCache::changes`.
    pub fn subscribe(&self) -> broadcast::Receiver<LineId> {
        self.changes.subscribe()
    }

    fn changed(&self, event: &LineId) {
        // Nobody listening is fine.
        let _ = self.changes.send(event.clone());
    }

    /// Takes in counters pushed by the store or learned from an admin's advance on this replica.
    /// `manual`: an admin's advance, which moves the pointer but not the measured pace.
    pub fn observe(
        &self,
        event: &LineId,
        cached: &CachedEvent,
        issued: u64,
        admitted_through: u64,
        manual: bool,
    ) {
        cached.mark_synced();
        if cached.observe(issued, admitted_through, manual) {
            self.changed(event);
            self.drain_due.notify_one();
        }
    }

    /// Takes in how far the line reaches; the scheduler hears of an event that has someone waiting
    /// again.
    fn observe_issued(&self, event: &LineId, cached: &CachedEvent, issued: u64) {
        let waited = cached.waiting() > 0;
        cached.observe_issued(issued);
        if cached.policy().shows_arrivals() && cached.arrivals_news_due(true, unix_ms()) {
            self.changed(event);
        }
        if !waited && cached.waiting() > 0 {
            self.releases.add(event);
        }
    }

    /// Records a place given up through this replica.
    pub fn mark_left(&self, event: &LineId, cached: &CachedEvent, position: u64) {
        if cached.mark_left(position) {
            self.changed(event);
        }
    }

    /// Drops a deleted event: its tokens are refused as for an unknown event from now on.
    pub fn forget(&self, event: &LineId) {
        if self.events.write().remove(event).is_some() {
            self.changed(event);
        }
    }

    pub fn get(&self, event: &LineId) -> Option<Arc<CachedEvent>> {
        self.events.read().get(event).cloned()
    }

    pub fn event_ids(&self) -> Vec<LineId> {
        let mut ids: Vec<LineId> = self.events.read().keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Every event, unordered: for scans that look at each once.
    /// Tells the pages of those waiting of arrivals not told yet, where it is due (see
    /// [`CachedEvent::arrivals_news_due`]); at every resync tick.
    pub fn tell_arrivals(&self) {
        let now = unix_ms();
        let due: Vec<LineId> = self
            .events
            .read()
            .iter()
            .filter(|(_, cached)| cached.arrivals_news_due(false, now))
            .map(|(id, _)| id.clone())
            .collect();
        for line in &due {
            self.changed(line);
        }
    }

    pub fn entries(&self) -> Vec<(LineId, Arc<CachedEvent>)> {
        self.events
            .read()
            .iter()
            .map(|(id, cached)| (id.clone(), cached.clone()))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.events.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every event's figures for the metrics, read now.
    pub fn readings(&self) -> Vec<EventReading> {
        let now = crate::clock::now();
        let all_synced = *self.synced_all_at.lock();
        self.event_ids()
            .into_iter()
            .filter_map(|event| {
                let cached = self.get(&event)?;
                let figures = cached.figures();
                Some(EventReading {
                    line: event.clone(),
                    issued: figures.issued,
                    admitted_through: figures.admitted_through,
                    waiting: cached.ahead_of(figures.issued + 1),
                    left: figures.left,
                    active: figures.active,
                    drain_lag: figures
                        .admitted_through
                        .saturating_sub(figures.drained_through),
                    release_rate_per_minute: cached.measured_rate_per_minute(now).unwrap_or(0.0),
                    pointer_age_s: now
                        .duration_since(
                            all_synced
                                .map_or(cached.synced_at(), |all| all.max(cached.synced_at())),
                        )
                        .as_secs_f64(),
                    data_losses: cached.data_losses.load(Ordering::Acquire),
                    stopped: cached.settings().state != EventState::Open,
                    releasing: {
                        let settings = cached.settings();
                        settings.state == EventState::Open
                            && settings.release.batch_size > 0
                            && settings.phase(crate::clock::unix_ms()) == crate::domain::Phase::Live
                    },
                })
            })
            .collect()
    }

    fn record_data_loss(
        &self,
        event: &LineId,
        cached: &CachedEvent,
        floor: &Floor,
        stored: Option<&Snapshot>,
    ) {
        cached.data_losses.fetch_add(1, Ordering::AcqRel);
        let stored = stored.map(|s| s.figures);
        tracing::error!(
            %event,
            known_issued = floor.issued,
            known_pointer = floor.admitted_through,
            known_drained = floor.drained_through,
            stored = ?stored,
            "the store lost data of this event (a failover to a replica that missed writes, a restore, a flushed key): restored what this replica knew, so no position is handed out twice"
        );
        *self.last_data_loss.lock() = Some(DataLoss {
            event: event.clone(),
            at: crate::clock::rfc3339(crate::clock::unix_s()),
            stored,
            restored: Figures {
                issued: floor.issued,
                admitted_through: floor.admitted_through,
                drained_through: floor.drained_through,
                left: cached.left_count(),
                active: 0,
            },
        });
    }

    /// The last time the store was found to have lost data, for readiness details.
    pub fn last_data_loss(&self) -> Option<DataLoss> {
        self.last_data_loss.lock().clone()
    }

    /// How long since this replica last knew itself in step with the store; `None` before the
    /// first time.
    pub fn since_synced(&self) -> Option<std::time::Duration> {
        self.synced_all_at
            .lock()
            .map(|at| crate::clock::now().saturating_duration_since(at))
    }

    /// Records that this replica is in step with the store as of now.
    pub fn confirm_synced(&self) {
        self.warm.store(true, Ordering::Release);
        *self.synced_all_at.lock() = Some(crate::clock::now());
    }

    pub fn is_warm(&self) -> bool {
        self.warm.load(Ordering::Acquire)
    }

    /// Takes in a snapshot read from the store; returns the cached event.
    pub fn apply_snapshot(&self, event: &LineId, snapshot: Snapshot) -> Arc<CachedEvent> {
        let cached = {
            let mut events = self.events.write();
            events
                .entry(event.clone())
                .or_insert_with(|| Arc::new(CachedEvent::new(snapshot.settings.clone())))
                .clone()
        };
        let mut settings_changed = *cached.settings() != snapshot.settings;
        settings_changed |= cached.apply_draw(snapshot.draw);
        cached.apply_pool(snapshot.pool);
        if settings_changed {
            cached.set_settings(Arc::new(snapshot.settings));
            // Passes carry the settings' lifetime and target: none is handed out again.
            *cached.passes.lock() = Recent::default();
        }
        // A move seen only by the resync (its announcement lost) is taken as a release.
        let moved = cached.observe(
            snapshot.figures.issued,
            snapshot.figures.admitted_through,
            false,
        );
        cached.observe_drained(snapshot.figures.drained_through);
        cached
            .active
            .store(snapshot.figures.active, Ordering::Release);
        cached.mark_synced();
        if settings_changed || moved {
            self.changed(event);
        }
        if cached.waiting() > 0 {
            self.releases.add(event);
        }
        if cached.drain_behind() {
            self.drain_due.notify_one();
        }
        cached
    }

    /// Takes in a pushed change. Returns the event whose settings must be re-read, if any.
    pub fn apply(&self, notification: Notification) -> Option<LineId> {
        match notification {
            Notification::Pointer {
                event,
                admitted_through,
                issued,
                manual,
            } => {
                match self.get(&event) {
                    Some(cached) => self.observe(&event, &cached, issued, admitted_through, manual),
                    None => return Some(event),
                }
                None
            }
            Notification::Issued { event, issued } => {
                match self.get(&event) {
                    Some(cached) => self.observe_issued(&event, &cached, issued),
                    None => return Some(event),
                }
                None
            }
            Notification::Drained { event, through } => {
                if let Some(cached) = self.get(&event) {
                    cached.observe_drained(through);
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
            Notification::Completed { event, position } => {
                if let Some(cached) = self.get(&event) {
                    cached.record_claim(position, crate::store::Claim::Completed);
                    self.changed(&event);
                }
                None
            }
            Notification::Settings { event } | Notification::Won { event } => Some(event),
            Notification::Lost { event } => {
                if let Some(cached) = self.get(&event) {
                    self.record_data_loss(&event, &cached, &cached.floor(false), None);
                }
                Some(event)
            }
            Notification::Deleted { event } => {
                self.forget(&event);
                None
            }
        }
    }

    /// Re-reads one event from the store; restores what the store lost of it first, should it hold
    /// less than this replica knows (or nothing at all).
    pub async fn refresh(
        &self,
        store: &dyn Store,
        event: &LineId,
    ) -> Result<(), crate::store::StoreError> {
        let mut snapshot = store.snapshot(event).await?;
        if snapshot.is_none() && self.get(event).is_some() && store.is_deleted(event).await? {
            self.forget(event);
            return Ok(());
        }
        let known = self.get(event);
        let lost = |snapshot: &Option<Snapshot>| match (snapshot, &known) {
            (None, Some(cached)) => Some(cached.floor(true)),
            (Some(snapshot), Some(cached)) => cached.floor_over(snapshot),
            (_, None) => None,
        };
        let mut floor = lost(&snapshot);
        if floor.is_some() {
            // Read again before concluding: a change pushed between the read and the comparison
            // (a leave, a join answered here) is in the store by now.
            snapshot = store.snapshot(event).await?;
            floor = lost(&snapshot);
        }
        let snapshot = match (floor, known) {
            (Some(floor), Some(cached)) => {
                let restored = store.restore(event, &cached.settings(), &floor).await?;
                if restored {
                    self.record_data_loss(event, &cached, &floor, snapshot.as_ref());
                }
                store.snapshot(event).await?
            }
            _ => snapshot,
        };
        let Some(snapshot) = snapshot else {
            return Ok(());
        };

        let left_in_store = snapshot.figures.left;
        let won = snapshot.pool.map_or(0, |pool| pool.won);
        let restored_at = snapshot.restored_at;
        let last_completed_ms = snapshot.last_completed_ms;
        let cached = self.apply_snapshot(event, snapshot);
        if cached.restored_at.swap(restored_at, Ordering::AcqRel) != restored_at {
            // Restored entries were appended to the leavers' log, in another order than this replica
            // read it before the loss: read it whole once more.
            cached.leavers_read.store(0, Ordering::Release);
            cached.reread_winners();
        }
        // Completions this replica has not read (pushed ones too, read once more: the safety net for
        // a lost push, so no replica lets a completed visitor's pass in).
        let completions_read = cached.completions_read_ms.load(Ordering::Acquire);
        if last_completed_ms > completions_read {
            for (position, at_ms) in store.completed_since(event, completions_read).await? {
                cached.record_claim(position, crate::store::Claim::Completed);
                cached
                    .completions_read_ms
                    .fetch_max(at_ms, Ordering::AcqRel);
            }
        }
        // The pool's winners this replica has not read yet.
        if let Some(read) = cached.winners_unread(won) {
            let mut winners = store.won_since(event, read).await?;
            // Those drawn after the snapshot wait for the next one, with the pointer that admits them.
            winners.truncate(usize::try_from(won - read).unwrap_or(usize::MAX));
            cached.add_winners(read, &winners);
            if !winners.is_empty() {
                self.changed(event);
            }
        }
        // Only the leavers this replica has not read yet (most came by the push already).
        let read = cached.leavers_read.load(Ordering::Acquire);
        if left_in_store > read {
            let positions = store.leavers_since(event, read).await?;
            cached.add_leavers(read, &positions);
            if !positions.is_empty() {
                self.changed(event);
            }
        }
        Ok(())
    }

    /// Every event the store lists and every one this replica knows (which the store may have lost).
    pub async fn all_events(
        &self,
        store: &dyn Store,
    ) -> Result<Vec<LineId>, crate::store::StoreError> {
        let mut events = store.events().await?;
        events.extend(self.event_ids());
        events.sort();
        events.dedup();
        Ok(events)
    }

    /// Re-reads every event from the store, and those this replica knows that the store lost.
    pub async fn refresh_all(&self, store: &dyn Store) -> Result<(), crate::store::StoreError> {
        for event in self.all_events(store).await? {
            self.refresh(store, &event).await?;
        }
        self.confirm_synced();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::event::{SignedPass, CLAIMS_KEPT_S};
    use crate::domain::{EventId, EventSettings};
    use crate::store::Claim;
    use crate::store::Figures;

    fn snapshot(issued: u64, admitted_through: u64) -> Snapshot {
        Snapshot {
            restored_at: 0,
            last_completed_ms: 0,
            draw: None,
            pool: None,
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
        let event = LineId::from(EventId::parse("e").unwrap());
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
        assert_eq!(cached.passes.lock().held(), 0);

        // New settings (another lifetime or target): no pass signed under the old ones is reused.
        cached.keep_pass(3, pass(2_000), 5);
        let mut changed = snapshot(100, 10);
        changed.settings.admission.pass_ttl_s += 60;
        cache.apply_snapshot(&event, changed);
        assert_eq!(recent(3, 2_001), None);
    }

    #[test]
    fn claims_are_remembered_for_minutes_then_asked_of_the_store_again() {
        let cache = PointerCache::default();
        let event = LineId::from(EventId::parse("e").unwrap());
        let mut short_passes = snapshot(100, 10);
        short_passes.settings.admission.pass_ttl_s = 60;
        let cached = cache.apply_snapshot(&event, short_passes);
        let start = 10 * CLAIMS_KEPT_S;
        let granted = Claim::Granted { at_ms: 5 };
        assert_eq!(cached.claim_here(1, start), None, "unknown: ask the store");
        cached.record_claim(1, granted);
        cached.record_claim(2, Claim::TooLate);
        assert_eq!(cached.claim_here(1, start + 1), Some(granted));
        // Through the next period both are still known; a late claim stays late.
        let next = start + CLAIMS_KEPT_S;
        assert_eq!(cached.claim_here(1, next), Some(granted));
        assert_eq!(cached.claim_here(2, next), Some(Claim::TooLate));
        // A completion pushed by the store overrides what was known.
        assert!(!cached.is_completed(1));
        cache.apply(Notification::Completed {
            event: event.clone(),
            position: 1,
        });
        assert!(cached.is_completed(1));
        // Two periods on, everything is forgotten: memory holds recent visitors only.
        let later = start + 3 * CLAIMS_KEPT_S;
        assert_eq!(cached.claim_here(2, later), None);
        assert_eq!(cached.claimed.lock().held(), 0);
    }

    #[test]
    fn claims_outlive_the_passes_they_granted() {
        let cache = PointerCache::default();
        let event = LineId::from(EventId::parse("e").unwrap());
        let mut long_passes = snapshot(100, 10);
        long_passes.settings.admission.pass_ttl_s = 4 * CLAIMS_KEPT_S as u64;
        let cached = cache.apply_snapshot(&event, long_passes);
        cached.claim_here(1, 0);
        cached.record_claim(1, Claim::Completed);
        assert!(cached.claim_here(1, 3 * CLAIMS_KEPT_S).is_some());
    }

    #[test]
    fn pointer_never_moves_back_and_leavers_are_not_counted_ahead() {
        let cache = PointerCache::default();
        let event = LineId::from(EventId::parse("e").unwrap());
        cache.apply_snapshot(&event, snapshot(100, 10));
        cache.apply(Notification::Pointer {
            event: event.clone(),
            admitted_through: 5,
            issued: 100,
            manual: false,
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
