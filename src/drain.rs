//! The drain worker: forwards every admitted visitor to the sink, at least once, in position order.
//!
//! Per event it reads the positions between its checkpoint and the admission pointer, skips those
//! who left (as the store or its cache knows them: Redis may have lost a leave), delivers them, and moves the checkpoint only after the sink confirmed. Killed at any
//! moment, it resends at most the unconfirmed batch. A lease per event keeps two workers from
//! sending the same event; a worker that dies stops renewing it and another takes over.
//!
//! It works only on events whose pointer is ahead of their checkpoint, as its pointer cache knows
//! them (pushed by the store: pointer moves and checkpoints): an idle event costs nothing, and a
//! lease is held only while there is something to forward.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::cache::{CachedEvent, PointerCache};
use crate::config::Config;
use crate::domain::{random_token_id, Admitted, LineId};
use crate::metrics::Metrics;
use crate::sink::{Sink, SinkError};
use crate::store::{LeaseAction, Store, StoreError};
use crate::telemetry::StateLog;

#[derive(Debug, Clone)]
pub struct DrainSettings {
    /// Most visitors read and delivered in one round.
    pub chunk: u64,
    /// Lifetime of a drain lease; renewed three times per lifetime while held.
    pub lease_ttl: Duration,
    /// Longest pause between rounds when nothing is to forward (a pointer move wakes it sooner).
    pub idle: Duration,
}

impl Default for DrainSettings {
    fn default() -> Self {
        Self {
            chunk: 2_000,
            lease_ttl: Duration::from_secs(10),
            idle: Duration::from_secs(1),
        }
    }
}

impl DrainSettings {
    /// The settings `config` gives, the rest at their defaults.
    pub fn from_config(config: &Config) -> Self {
        Self {
            chunk: config.drain_chunk,
            lease_ttl: config.drain_lease_ttl,
            ..Self::default()
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum DrainError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sink(#[from] SinkError),
}

pub struct DrainWorker {
    store: Arc<dyn Store>,
    /// Which events have admitted visitors not forwarded yet; kept in step by the caller.
    cache: Arc<PointerCache>,
    sink: Arc<dyn Sink>,
    settings: DrainSettings,
    /// Names this worker in the leases it holds.
    holder: String,
    sink_log: StateLog,
    store_log: StateLog,
    metrics: Arc<Metrics>,
    instance: std::sync::Mutex<Instance>,
}

/// What a round over the events did: how many positions the checkpoints moved, and whether any
/// event failed (with nothing moved, the worker backs off).
struct Round {
    moved: u64,
    failed: bool,
}

/// How long an event whose drain failed waits before it is tried again, while others go on.
const FAILED_EVENT_PAUSE: Duration = Duration::from_secs(1);

/// Longest pause between retries while the sink or the store is failing.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How long the drain holds off once the store turns out to be another instance (a failover): a
/// leave the old one took may be lost, known only to the replica that answered it, which restores
/// it at its next instance check (every `pointer_poll_ms`, at most 250 ms). Meanwhile that leaver
/// would be forwarded.
const RESTORE_GRACE: Duration = Duration::from_secs(2);

/// The store's instance as the drain last saw it, and until when it holds off after a change.
#[derive(Default)]
struct Instance {
    seen: Option<String>,
    hold_until: Option<Instant>,
}

impl DrainWorker {
    pub fn new(
        store: Arc<dyn Store>,
        cache: Arc<PointerCache>,
        sink: Arc<dyn Sink>,
        settings: DrainSettings,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            metrics,
            store,
            cache,
            sink,
            settings,
            holder: format!("drain-{}", &random_token_id()[..12]),
            sink_log: StateLog::new("drain sink"),
            store_log: StateLog::new("drain store"),
            instance: std::sync::Mutex::default(),
        }
    }

    /// Whether the store is the instance it was, or has been long enough for every replica to
    /// restore what it knows (see [`RESTORE_GRACE`]).
    async fn store_settled(&self) -> Result<bool, StoreError> {
        let now_instance = self.store.instance().await?;
        let mut instance = self.instance.lock().unwrap_or_else(|e| e.into_inner());
        if instance
            .seen
            .as_ref()
            .is_some_and(|seen| *seen != now_instance)
        {
            tracing::warn!(
                grace_ms = RESTORE_GRACE.as_millis() as u64,
                "the store is another instance (a failover or a restart): the drain holds off until every replica has restored what it lost"
            );
            instance.hold_until = Some(Instant::now() + RESTORE_GRACE);
        }
        instance.seen = Some(now_instance);
        Ok(instance
            .hold_until
            .is_none_or(|until| Instant::now() >= until))
    }

    /// Forwards until `shutdown` turns true, then gives back its leases and flushes the sink.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(holder = %self.holder, sink = %self.sink.describe(), "drain worker started");
        let mut held = BTreeSet::new();
        let mut elsewhere = HashMap::new();
        let mut backoff = Duration::ZERO;
        while !*shutdown.borrow() {
            let round = self.round(&mut held, &mut elsewhere, &mut shutdown).await;
            let pause = match round {
                Round {
                    moved: 0,
                    failed: true,
                } => {
                    backoff = (backoff * 2).clamp(Duration::from_millis(100), MAX_BACKOFF);
                    backoff
                }
                Round { moved: 0, .. } => {
                    backoff = Duration::ZERO;
                    self.settings.idle
                }
                Round { .. } => {
                    backoff = Duration::ZERO;
                    Duration::ZERO
                }
            };
            if !pause.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    // A pointer moved: something to forward, unless the store is failing.
                    _ = self.cache.drain_due.notified(), if backoff.is_zero() => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
        for event in &held {
            let _ = self
                .store
                .drain_lease(event, &self.holder, 0, LeaseAction::GiveBack)
                .await;
        }
        self.sink.flush().await;
        tracing::info!(holder = %self.holder, "drain worker stopped");
    }

    fn note_failure(&self, e: &DrainError) {
        match e {
            DrainError::Sink(e) => {
                self.metrics
                    .delivery_errors
                    .with_label_values(&[self.sink.kind()])
                    .inc();
                self.sink_log.failed(e)
            }
            DrainError::Store(e) => self.store_log.failed(e),
        }
    }

    /// One pass over the events that have admitted visitors not forwarded yet (but not those
    /// another worker drains, for a while, nor those that just failed). One event failing (its line
    /// not restored yet, say) holds up no other.
    async fn round(
        &self,
        held: &mut BTreeSet<LineId>,
        elsewhere: &mut HashMap<LineId, Instant>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Round {
        let now = Instant::now();
        elsewhere.retain(|_, until| *until > now);
        let mut round = Round {
            moved: 0,
            failed: false,
        };
        let entries = self.cache.entries();
        if !entries.iter().any(|(_, cached)| cached.drain_behind()) {
            return round;
        }
        match self.store_settled().await {
            Ok(true) => {}
            Ok(false) => return round,
            Err(e) => {
                self.note_failure(&DrainError::Store(e));
                round.failed = true;
                return round;
            }
        }
        for (event, cached) in entries {
            if *shutdown.borrow() {
                break;
            }
            if !cached.drain_behind() || elsewhere.contains_key(&event) {
                continue;
            }
            match self.drain_event(&event, &cached, held).await {
                Ok(Some(forwarded)) => round.moved += forwarded,
                // Its checkpoint is pushed when that worker moves it; it is looked at again
                // later, in case that worker died.
                Ok(None) => {
                    elsewhere.insert(event, now + self.settings.lease_ttl / 3);
                }
                Err(e) => {
                    self.note_failure(&e);
                    elsewhere.insert(event, now + FAILED_EVENT_PAUSE);
                    round.failed = true;
                }
            }
        }
        round
    }

    async fn take_lease(&self, event: &LineId) -> Result<bool, StoreError> {
        let ttl_ms = self.settings.lease_ttl.as_millis() as u64;
        self.store
            .drain_lease(event, &self.holder, ttl_ms, LeaseAction::Take)
            .await
    }

    /// Forwards the next chunk of `event`'s admitted visitors, if this worker holds its lease.
    /// Returns how many positions the checkpoint moved, or `None` if another worker holds the lease.
    async fn drain_event(
        &self,
        event: &LineId,
        cached: &CachedEvent,
        held: &mut BTreeSet<LineId>,
    ) -> Result<Option<u64>, DrainError> {
        if !self.take_lease(event).await? {
            if held.remove(event) {
                tracing::warn!(%event, "drain lease taken over by another worker");
            }
            return Ok(None);
        }
        if held.insert(event.clone()) {
            tracing::info!(%event, "draining");
        }
        self.store_log.ok();
        let Some(snapshot) = self.store.snapshot(event).await? else {
            return Ok(Some(0));
        };
        let from = snapshot.figures.drained_through;
        let pointer = snapshot.figures.admitted_through;
        cached.observe_drained(from);
        if from >= pointer {
            // Caught up: the lease goes back, so that an idle event holds none.
            self.give_back(event, held).await;
            return Ok(Some(0));
        }
        let through = pointer.min(from + self.settings.chunk);
        let mut batch = self.store.admitted_range(event, from, through).await?;
        // A leave Redis lost in a failover is restored later; this replica may know of it already.
        batch.retain(|admitted| !cached.has_left(admitted.position));
        if !batch.is_empty() {
            self.deliver_holding_lease(event, &batch).await?;
            self.sink_log.ok();
            self.metrics
                .delivered
                .with_label_values(&crate::metrics::line_labels(event))
                .inc_by(batch.len() as u64);
        }
        if !self.store.set_drained(event, through, &self.holder).await? {
            // Another worker took over mid-delivery and will send these again: at least once.
            tracing::warn!(%event, "lost the drain lease while delivering");
            held.remove(event);
            return Ok(Some(0));
        }
        cached.observe_drained(through);
        Ok(Some(through - from))
    }

    async fn give_back(&self, event: &LineId, held: &mut BTreeSet<LineId>) {
        if held.remove(event) {
            let _ = self
                .store
                .drain_lease(event, &self.holder, 0, LeaseAction::GiveBack)
                .await;
        }
    }

    /// Delivers while renewing the lease, so a slow broker does not let another worker take over.
    async fn deliver_holding_lease(
        &self,
        event: &LineId,
        batch: &[Admitted],
    ) -> Result<(), DrainError> {
        let delivery = self.sink.deliver(batch);
        tokio::pin!(delivery);
        let mut renew = tokio::time::interval(self.settings.lease_ttl / 3);
        renew.tick().await;
        loop {
            tokio::select! {
                delivered = &mut delivery => return Ok(delivered?),
                _ = renew.tick() => {
                    if let Err(e) = self.take_lease(event).await {
                        self.store_log.failed(&e);
                    }
                }
            }
        }
    }
}
