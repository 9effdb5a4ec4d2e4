//! A store that times every operation and counts failures, for the metrics.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use futures_util::stream::BoxStream;

use super::{
    Admitted, AdvanceMode, Advanced, Capacity, Claim, Joined, Notification, Snapshot, Store,
    StoreError,
};
use crate::domain::{EventId, EventSettings, VisitorId};
use crate::metrics::Metrics;

pub struct MeteredStore {
    inner: Arc<dyn Store>,
    metrics: Arc<Metrics>,
}

impl MeteredStore {
    pub fn new(inner: Arc<dyn Store>, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }

    async fn timed<T>(
        &self,
        op: &str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let result = call.await;
        self.metrics
            .store_duration
            .with_label_values(&[op])
            .observe(started.elapsed().as_secs_f64());
        if result.is_err() {
            self.metrics.store_errors.with_label_values(&[op]).inc();
        }
        result
    }
}

#[async_trait]
impl Store for MeteredStore {
    async fn put_event(
        &self,
        event: &EventId,
        settings: &EventSettings,
        only_if_absent: bool,
    ) -> Result<bool, StoreError> {
        self.timed(
            "put_event",
            self.inner.put_event(event, settings, only_if_absent),
        )
        .await
    }

    async fn events(&self) -> Result<Vec<EventId>, StoreError> {
        self.timed("events", self.inner.events()).await
    }

    async fn snapshot(&self, event: &EventId) -> Result<Option<Snapshot>, StoreError> {
        self.timed("snapshot", self.inner.snapshot(event)).await
    }

    async fn join(
        &self,
        event: &EventId,
        visitor: &VisitorId,
        trusted: bool,
        now_ms: i64,
    ) -> Result<Joined, StoreError> {
        self.timed("join", self.inner.join(event, visitor, trusted, now_ms))
            .await
    }

    async fn leave(
        &self,
        event: &EventId,
        position: u64,
        visitor: &VisitorId,
    ) -> Result<bool, StoreError> {
        self.timed("leave", self.inner.leave(event, position, visitor))
            .await
    }

    async fn advance(
        &self,
        event: &EventId,
        count: u64,
        mode: AdvanceMode,
        capacity: Capacity,
    ) -> Result<Advanced, StoreError> {
        self.timed("advance", self.inner.advance(event, count, mode, capacity))
            .await
    }

    async fn left_positions(&self, event: &EventId) -> Result<Vec<u64>, StoreError> {
        self.timed("left_positions", self.inner.left_positions(event))
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
        self.timed("claim", claim).await
    }

    async fn complete(&self, event: &EventId, position: u64) -> Result<bool, StoreError> {
        self.timed("complete", self.inner.complete(event, position))
            .await
    }

    async fn admitted_range(
        &self,
        event: &EventId,
        after: u64,
        through: u64,
    ) -> Result<Vec<Admitted>, StoreError> {
        self.timed(
            "admitted_range",
            self.inner.admitted_range(event, after, through),
        )
        .await
    }

    async fn drain_lease(
        &self,
        event: &EventId,
        holder: &str,
        ttl_ms: u64,
        take: bool,
    ) -> Result<bool, StoreError> {
        self.timed(
            "drain_lease",
            self.inner.drain_lease(event, holder, ttl_ms, take),
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
            "set_drained",
            self.inner.set_drained(event, through, holder),
        )
        .await
    }

    async fn notifications(&self) -> Result<BoxStream<'static, Notification>, StoreError> {
        self.timed("subscribe", self.inner.notifications()).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.timed("ping", self.inner.ping()).await
    }
}
