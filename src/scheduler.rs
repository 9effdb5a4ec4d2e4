//! Batch release. Every replica runs this loop; the store lets only the first call in each release
//! slot move the pointer, so the line moves exactly one batch per interval however many replicas run.
//!
//! Only events with someone waiting are touched, each once per half release slot: the cache tells
//! the loop when an event has visitors waiting again ([`PointerCache::releases`]), and a scan every
//! second catches whatever it was not told (a resumed event, a freed capacity). An idle event costs
//! nothing.
//!
//! Scheduled events are released from `opens_at` on; an event with a pre-queue has its order drawn
//! first (by whichever replica comes first: the draw is the same from every one), one past its
//! `closes_at` is closed, and one is paused at its `pauses_at` and resumed at its `resumes_at`.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::admission;
use crate::cache::{CachedEvent, PointerCache};
use crate::domain::{EventSettings, EventState, LineId};
use crate::store::{put_event_and_lanes, AdvanceMode, PutMode, Store};
use crate::telemetry::StateLog;

/// How often the loop looks at the clock; release intervals are at least 100 ms.
pub(crate) const TICK: Duration = Duration::from_millis(25);
/// How often every event is looked at, for those the cache did not announce.
pub(crate) const SCAN: Duration = Duration::from_secs(1);

pub async fn run_releases(
    store: Arc<dyn Store>,
    cache: Arc<PointerCache>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut releases = Releases::new();
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut scan = tokio::time::interval(SCAN);
    loop {
        tokio::select! {
            _ = ticker.tick() => releases.attempt_due(store.as_ref(), &cache).await,
            _ = scan.tick() => releases.scan(store.as_ref(), &cache).await,
            _ = cache.releases.added() => {
                for event in cache.releases.take() {
                    releases.consider(&event, &cache);
                }
            }
            _ = shutdown.changed() => return,
        }
    }
}

/// The loop's state: which events are due when. `waitroom simulate` drives it on a virtual clock
/// as [`run_releases`] does on the real one.
pub(crate) struct Releases {
    log: StateLog,
    /// Events to attempt, by when (unix ms).
    due: BTreeSet<(u64, LineId)>,
    /// When each queued event is due.
    queued: HashMap<LineId, u64>,
    /// Per event, the half-slot last attempted. Attempting twice per slot means that a replica whose
    /// clock is off from Redis's still lands an attempt in every slot of Redis's clock.
    attempted: HashMap<LineId, u64>,
}

/// An event's release interval, if it releases on a schedule now.
fn releasing(cached: &CachedEvent) -> Option<u64> {
    let settings = cached.settings();
    let now_ms = crate::clock::unix_ms();
    (settings.state_at(now_ms) == EventState::Open && settings.release.batch_size > 0)
        .then_some(settings.release.release_interval_ms)
}

fn now_ms() -> u64 {
    u64::try_from(crate::clock::unix_ms()).unwrap_or_default()
}

impl Releases {
    pub(crate) fn new() -> Self {
        Self {
            log: StateLog::new("batch release"),
            due: BTreeSet::new(),
            queued: HashMap::new(),
            attempted: HashMap::new(),
        }
    }

    /// Queues `event` for its next half slot not attempted yet, if it releases and someone waits.
    pub(crate) fn consider(&mut self, line: &LineId, cache: &PointerCache) {
        // A lane's line is released with its event.
        let event = &LineId::from(line.event());
        let Some(cached) = cache.get(event) else {
            return;
        };
        let Some(interval_ms) = releasing(&cached) else {
            return;
        };
        if admission::waiting_in_lines(cache, event, &cached) == 0
            || self.queued.contains_key(event)
        {
            return;
        }
        let half = (interval_ms / 2).max(1);
        let now = now_ms();
        let at = if self.attempted.get(event) == Some(&(now / half)) {
            (now / half + 1) * half
        } else {
            now
        };
        // Nobody is released before the opening.
        let opens = cached
            .settings()
            .schedule
            .opens_at
            .map_or(0, |at| u64::try_from(at.timestamp_millis()).unwrap_or(0));
        let at = at.max(opens);
        self.queued.insert(event.clone(), at);
        self.due.insert((at, event.clone()));
    }

    /// Looks at every event: deletes the data of those closed long enough, queues those waiting.
    pub(crate) async fn scan(&mut self, store: &dyn Store, cache: &PointerCache) {
        let now_s = crate::clock::unix_s();
        for (event, cached) in cache.entries() {
            let settings = cached.settings();
            if settings.expired_at(now_s) {
                // Closed for longer than its data is kept: any replica may delete it, once.
                match store.delete_event(&event).await {
                    Ok(_) => {
                        tracing::info!(%event, retain_closed_s = settings.schedule.retain_closed_s, "deleted the data of an event closed long enough");
                        cache.forget(&event);
                    }
                    Err(e) => self.log.failed(&e),
                }
                continue;
            }
            let now_ms = crate::clock::unix_ms();
            if settings
                .schedule
                .closes_at
                .is_some_and(|at| at.timestamp_millis() <= now_ms)
                && settings.state != EventState::Closed
            {
                self.turn(
                    store,
                    cache,
                    &event,
                    &settings,
                    (EventState::Closed, now_ms),
                )
                .await;
                continue;
            }
            if let Some(turn) = settings.scheduled_turn(now_ms) {
                self.turn(store, cache, &event, &settings, turn).await;
            }
            self.prepare(store, cache, &event, &cached).await;
            self.consider(&event, cache);
        }
        // Forgotten events' attempts go too.
        self.attempted.retain(|event, _| cache.get(event).is_some());
    }

    /// Turns an event to `state` as its schedule says (`closes_at`, `pauses_at`, `resumes_at`), as
    /// an admin's close, pause or resume would; the change is recorded at `at_ms`, the time it was
    /// due, so replicas that make it alike write the same settings.
    async fn turn(
        &mut self,
        store: &dyn Store,
        cache: &PointerCache,
        event: &LineId,
        settings: &EventSettings,
        (state, at_ms): (EventState, i64),
    ) {
        let turned = EventSettings {
            state,
            ..settings.clone()
        };
        let Ok(turned) = turned.after(settings, at_ms) else {
            return;
        };
        let put = put_event_and_lanes(store, event.event(), &turned, PutMode::Upsert).await;
        match put.and(Ok(())) {
            Ok(()) => {
                tracing::info!(%event, %state, "turned the event as its schedule says");
                if let Err(e) = cache.refresh(store, event).await {
                    self.log.failed(&e);
                }
            }
            Err(e) => self.log.failed(&e),
        }
    }

    /// Readies `event`'s release as its intake says (a pre-queue is drawn once the event opened).
    /// Returns whether the event may release now.
    async fn prepare(
        &mut self,
        store: &dyn Store,
        cache: &PointerCache,
        event: &LineId,
        cached: &CachedEvent,
    ) -> bool {
        let intake = admission::intake_of(&cached.policy());
        match intake.prepare_release(store, cache, (event, cached)).await {
            Ok(ready) => ready,
            Err(e) => {
                self.log.failed(&e);
                false
            }
        }
    }

    /// Releases a batch of every event whose time came.
    pub(crate) async fn attempt_due(&mut self, store: &dyn Store, cache: &PointerCache) {
        let now = now_ms();
        while let Some((at, event)) = self.due.first().cloned() {
            if at > now {
                break;
            }
            self.due.pop_first();
            self.queued.remove(&event);
            let Some(cached) = cache.get(&event) else {
                continue;
            };
            let Some(interval_ms) = releasing(&cached) else {
                continue;
            };
            if !self.prepare(store, cache, &event, &cached).await {
                self.consider(&event, cache);
                continue;
            }
            let settings = cached.settings();
            let half_slot = now / (interval_ms / 2).max(1);
            let mode = AdvanceMode::Scheduled { interval_ms };
            match admission::release(
                store,
                cache,
                &event,
                &cached,
                settings.release.batch_size,
                mode,
            )
            .await
            {
                Ok(moved) => {
                    self.log.ok();
                    self.attempted.insert(event.clone(), half_slot);
                    if moved {
                        tracing::debug!(%event, "released a batch");
                    }
                }
                // Not recorded as attempted: the next tick tries again.
                Err(e) => self.log.failed(&e),
            }
            self.consider(&event, cache);
        }
    }
}
