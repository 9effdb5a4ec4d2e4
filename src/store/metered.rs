//! A store that times every operation and counts failures, for the metrics.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use serde::Serialize;

use async_trait::async_trait;
use futures_util::stream::BoxStream;
use prometheus::{Histogram, IntCounter};

use super::{
    AdvanceMode, Advanced, Capacity, Claim, DrawEntries, Drawn, Floor, JoinAs, Joined, LeaseAction,
    Notification, Pick, PrequeueLeave, PutMode, Snapshot, Store, StoreError,
};
use crate::domain::{Admitted, EventId, EventSettings, VisitorId};
use crate::metrics::Metrics;

pub struct MeteredStore {
    inner: Arc<dyn Store>,
    /// Each operation's latency histogram and error counter, resolved once rather than by label
    /// on every call (a join's hot path).
    ops: Vec<(Histogram, IntCounter)>,
    writes: Arc<WriteHealth>,
}

/// The store's operations, indexing [`MeteredStore::ops`].
#[derive(Clone, Copy)]
enum Op {
    PutEvent,
    Events,
    Snapshot,
    Join,
    Leave,
    Advance,
    LeaversSince,
    WonSince,
    Claim,
    Complete,
    ConsumePass,
    PassUsed,
    AdmittedRange,
    DrainLease,
    SetDrained,
    Subscribe,
    Ping,
    Restore,
    DeleteEvent,
    CompletedSince,
    IsDeleted,
    Instance,
    LeavePrequeue,
    Draw,
    DrawEntries,
}

impl Op {
    const ALL: [Op; 25] = [
        Op::PutEvent,
        Op::Events,
        Op::Snapshot,
        Op::Join,
        Op::Leave,
        Op::Advance,
        Op::LeaversSince,
        Op::WonSince,
        Op::Claim,
        Op::Complete,
        Op::ConsumePass,
        Op::PassUsed,
        Op::AdmittedRange,
        Op::DrainLease,
        Op::SetDrained,
        Op::Subscribe,
        Op::Ping,
        Op::Restore,
        Op::DeleteEvent,
        Op::CompletedSince,
        Op::IsDeleted,
        Op::Instance,
        Op::LeavePrequeue,
        Op::Draw,
        Op::DrawEntries,
    ];

    /// Whether the operation writes (a failing one says the store refuses writes).
    fn writes(self) -> bool {
        !matches!(
            self,
            Op::Events
                | Op::Snapshot
                | Op::LeaversSince
                | Op::WonSince
                | Op::AdmittedRange
                | Op::Subscribe
                | Op::Ping
                | Op::CompletedSince
                | Op::IsDeleted
                | Op::Instance
                | Op::DrawEntries
                | Op::PassUsed
        )
    }

    /// The `op` label.
    fn label(self) -> &'static str {
        match self {
            Op::PutEvent => "put_event",
            Op::LeavePrequeue => "leave_prequeue",
            Op::Draw => "draw",
            Op::DrawEntries => "draw_entries",
            Op::Events => "events",
            Op::Snapshot => "snapshot",
            Op::Join => "join",
            Op::Leave => "leave",
            Op::Advance => "advance",
            Op::LeaversSince => "leavers_since",
            Op::WonSince => "won_since",
            Op::Claim => "claim",
            Op::Complete => "complete",
            Op::ConsumePass => "consume_pass",
            Op::PassUsed => "pass_used",
            Op::AdmittedRange => "admitted_range",
            Op::DrainLease => "drain_lease",
            Op::SetDrained => "set_drained",
            Op::Subscribe => "subscribe",
            Op::Restore => "restore",
            Op::DeleteEvent => "delete_event",
            Op::Ping => "ping",
            Op::CompletedSince => "completed_since",
            Op::IsDeleted => "is_deleted",
            Op::Instance => "instance",
        }
    }
}

impl MeteredStore {
    pub fn new(inner: Arc<dyn Store>, metrics: Arc<Metrics>, writes: Arc<WriteHealth>) -> Self {
        let ops = Op::ALL
            .iter()
            .map(|op| {
                let label = [op.label()];
                (
                    metrics.store_duration.with_label_values(&label),
                    metrics.store_errors.with_label_values(&label),
                )
            })
            .collect();
        Self { inner, ops, writes }
    }

    async fn timed<T>(
        &self,
        op: Op,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let result = call.await;
        let (timer, errors) = &self.ops[op as usize];
        timer.observe(started.elapsed().as_secs_f64());
        if result.is_err() {
            errors.inc();
        }
        if op.writes() {
            self.writes.record(result.as_ref().err());
        }
        result
    }
}

/// How often [`StoreProbe`] pings the store, and how long it waits for the answer.
const PROBE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Whether the store answered its last ping, from one probe a second whatever the request rate:
/// readiness reads it rather than pinging per request (a client polling `/readyz` would otherwise
/// drive the store's load, and wait a second per request while it stalls).
#[derive(Debug)]
pub struct StoreProbe {
    reachable: std::sync::atomic::AtomicBool,
}

impl Default for StoreProbe {
    fn default() -> Self {
        Self {
            reachable: std::sync::atomic::AtomicBool::new(true),
        }
    }
}

impl StoreProbe {
    /// Whether the store answered the last ping in time.
    pub fn reachable(&self) -> bool {
        self.reachable.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Pings `store` once a second until `shutdown`.
    pub async fn run(
        self: std::sync::Arc<Self>,
        store: std::sync::Arc<dyn Store>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut every = tokio::time::interval(PROBE_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = every.tick() => {
                    let answered = tokio::time::timeout(PROBE_EVERY, store.ping()).await;
                    self.reachable.store(
                        matches!(answered, Ok(Ok(()))),
                        std::sync::atomic::Ordering::Release,
                    );
                }
                _ = shutdown.changed() => return,
            }
        }
    }
}

/// Whether the store takes writes, from the outcome of the last write: a Redis at `maxmemory` with
/// `noeviction`, read-only after a failover, or away, refuses every join while reads may still work.
#[derive(Debug, Default)]
pub struct WriteHealth {
    failing: Mutex<Option<WritesFailing>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WritesFailing {
    /// RFC 3339: when the first of the failing writes failed.
    pub since: String,
    pub error: String,
}

impl WriteHealth {
    fn record(&self, error: Option<&StoreError>) {
        let mut failing = self.failing.lock();
        match error {
            None => *failing = None,
            Some(e) => {
                let since = failing.take().map_or_else(
                    || crate::clock::rfc3339(crate::clock::unix_s()),
                    |f| f.since,
                );
                *failing = Some(WritesFailing {
                    since,
                    error: e.to_string(),
                });
            }
        }
    }

    /// The writes failing since the last that succeeded, if the last failed.
    pub fn failing(&self) -> Option<WritesFailing> {
        self.failing.lock().clone()
    }
}

#[async_trait]
impl Store for MeteredStore {
    async fn put_event(
        &self,
        event: &EventId,
        settings: &EventSettings,
        mode: PutMode,
    ) -> Result<bool, StoreError> {
        self.timed(Op::PutEvent, self.inner.put_event(event, settings, mode))
            .await
    }

    async fn events(&self) -> Result<Vec<EventId>, StoreError> {
        self.timed(Op::Events, self.inner.events()).await
    }

    async fn snapshot(&self, event: &EventId) -> Result<Option<Snapshot>, StoreError> {
        self.timed(Op::Snapshot, self.inner.snapshot(event)).await
    }

    async fn join(
        &self,
        event: &EventId,
        visitor: &VisitorId,
        who: JoinAs,
        now_ms: i64,
        floor: u64,
        pick: Pick,
    ) -> Result<Joined, StoreError> {
        self.timed(
            Op::Join,
            self.inner.join(event, visitor, who, now_ms, floor, pick),
        )
        .await
    }

    async fn restore(
        &self,
        event: &EventId,
        settings: &EventSettings,
        floor: &Floor,
    ) -> Result<bool, StoreError> {
        self.timed(Op::Restore, self.inner.restore(event, settings, floor))
            .await
    }

    async fn leave(
        &self,
        event: &EventId,
        position: u64,
        visitor: &VisitorId,
    ) -> Result<bool, StoreError> {
        self.timed(Op::Leave, self.inner.leave(event, position, visitor))
            .await
    }

    async fn leave_prequeue(
        &self,
        event: &EventId,
        arrival: u64,
        visitor: &VisitorId,
    ) -> Result<PrequeueLeave, StoreError> {
        self.timed(
            Op::LeavePrequeue,
            self.inner.leave_prequeue(event, arrival, visitor),
        )
        .await
    }

    async fn draw(&self, event: &EventId, now_ms: i64) -> Result<Option<Drawn>, StoreError> {
        self.timed(Op::Draw, self.inner.draw(event, now_ms)).await
    }

    async fn draw_entries(&self, event: &EventId) -> Result<Option<DrawEntries>, StoreError> {
        self.timed(Op::DrawEntries, self.inner.draw_entries(event))
            .await
    }

    async fn advance(
        &self,
        event: &EventId,
        count: u64,
        mode: AdvanceMode,
        capacity: Capacity,
        pick: Pick,
    ) -> Result<Advanced, StoreError> {
        self.timed(
            Op::Advance,
            self.inner.advance(event, count, mode, capacity, pick),
        )
        .await
    }

    async fn won_since(&self, event: &EventId, seen: u64) -> Result<Vec<(u64, u64)>, StoreError> {
        self.timed(Op::WonSince, self.inner.won_since(event, seen))
            .await
    }

    async fn leavers_since(&self, event: &EventId, seen: u64) -> Result<Vec<u64>, StoreError> {
        self.timed(Op::LeaversSince, self.inner.leavers_since(event, seen))
            .await
    }

    async fn claim(
        &self,
        event: &EventId,
        position: u64,
        now_ms: i64,
        pass_ttl_ms: u64,
        capacity: Capacity,
    ) -> Result<Claim, StoreError> {
        let claim = self
            .inner
            .claim(event, position, now_ms, pass_ttl_ms, capacity);
        self.timed(Op::Claim, claim).await
    }

    async fn complete(&self, event: &EventId, position: u64) -> Result<bool, StoreError> {
        self.timed(Op::Complete, self.inner.complete(event, position))
            .await
    }

    async fn completed_since(
        &self,
        event: &EventId,
        since_ms: i64,
    ) -> Result<Vec<(u64, i64)>, StoreError> {
        self.timed(
            Op::CompletedSince,
            self.inner.completed_since(event, since_ms),
        )
        .await
    }

    async fn consume_pass(
        &self,
        event: &EventId,
        position: u64,
        ttl_ms: u64,
    ) -> Result<bool, StoreError> {
        self.timed(
            Op::ConsumePass,
            self.inner.consume_pass(event, position, ttl_ms),
        )
        .await
    }

    async fn pass_used(&self, event: &EventId, position: u64) -> Result<bool, StoreError> {
        self.timed(Op::PassUsed, self.inner.pass_used(event, position))
            .await
    }

    async fn admitted_range(
        &self,
        event: &EventId,
        after: u64,
        through: u64,
    ) -> Result<Vec<Admitted>, StoreError> {
        self.timed(
            Op::AdmittedRange,
            self.inner.admitted_range(event, after, through),
        )
        .await
    }

    async fn drain_lease(
        &self,
        event: &EventId,
        holder: &str,
        ttl_ms: u64,
        action: LeaseAction,
    ) -> Result<bool, StoreError> {
        self.timed(
            Op::DrainLease,
            self.inner.drain_lease(event, holder, ttl_ms, action),
        )
        .await
    }

    async fn set_drained(
        &self,
        event: &EventId,
        through: u64,
        holder: &str,
    ) -> Result<bool, StoreError> {
        self.timed(
            Op::SetDrained,
            self.inner.set_drained(event, through, holder),
        )
        .await
    }

    async fn notifications(&self) -> Result<BoxStream<'static, Notification>, StoreError> {
        self.timed(Op::Subscribe, self.inner.notifications()).await
    }

    async fn delete_event(&self, event: &EventId) -> Result<bool, StoreError> {
        self.timed(Op::DeleteEvent, self.inner.delete_event(event))
            .await
    }

    async fn is_deleted(&self, event: &EventId) -> Result<bool, StoreError> {
        self.timed(Op::IsDeleted, self.inner.is_deleted(event))
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.timed(Op::Ping, self.inner.ping()).await
    }

    async fn instance(&self) -> Result<String, StoreError> {
        self.timed(Op::Instance, self.inner.instance()).await
    }
}

#[cfg(test)]
mod tests {
    use super::Op;

    #[test]
    fn every_operation_indexes_its_own_metrics() {
        for (index, op) in Op::ALL.iter().enumerate() {
            assert_eq!(*op as usize, index, "{}", op.label());
        }
    }
}
