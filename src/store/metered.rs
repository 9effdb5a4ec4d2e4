//! A store that times every operation and counts failures, for the metrics.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use serde::Serialize;

use async_trait::async_trait;
use futures_util::stream::BoxStream;
use prometheus::{Histogram, IntCounter};

use super::{AdminStore, DrainStore, HookStore, LineStore, ReleaseStore, SyncStore};
use super::{
    AdvanceMode, Advanced, Capacity, Claim, Delivery, DrawEntries, Drawn, Floor, JoinAs, Joined,
    LeaseAction, Notification, Pick, PrequeueLeave, PutMode, Snapshot, Store, StoreError,
};
use crate::domain::{Admitted, EventSettings, LineId, VisitorId};
use crate::metrics::Metrics;

pub struct MeteredStore {
    inner: Arc<dyn Store>,
    /// Each operation's latency histogram and error counter, resolved once rather than by label
    /// on every call (a join's hot path).
    ops: Vec<(Histogram, IntCounter)>,
    writes: Arc<WriteHealth>,
}

/// The metered store: for each operation of each part of [`Store`] (read, or write: a failing write
/// says the store refuses writes), an [`Op`] naming its metrics and a method that times the inner
/// store's. A new operation is one line here.
macro_rules! metered {
    ($($part:ident {
        $($kind:ident $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*
    })*) => {
        /// The store's operations, indexing [`MeteredStore::ops`]; the `op` label is the name.
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug)]
        enum Op {
            $($($name,)*)*
        }

        impl Op {
            const ALL: &'static [Op] = &[$($(Op::$name,)*)*];

            /// Whether the operation writes (a failing one says the store refuses writes).
            fn writes(self) -> bool {
                match self {
                    $($(Op::$name => metered!(@writes $kind),)*)*
                }
            }

            /// The `op` label.
            fn label(self) -> &'static str {
                match self {
                    $($(Op::$name => stringify!($name),)*)*
                }
            }
        }

        $(
            #[async_trait]
            impl $part for MeteredStore {
                $(
                    async fn $name(&self, $($arg: $ty),*) -> Result<$ret, StoreError> {
                        self.timed(Op::$name, self.inner.$name($($arg),*)).await
                    }
                )*
            }
        )*
    };
    (@writes read) => { false };
    (@writes write) => { true };
}

metered! {
    AdminStore {
        write put_event(event: &LineId, settings: &EventSettings, mode: PutMode) -> bool;
        write delete_event(event: &LineId) -> bool;
        write add_codes(event: &LineId, digests: &[[u8; 32]]) -> u64;
    }
    LineStore {
        write join(
            event: &LineId,
            visitor: &VisitorId,
            who: JoinAs,
            now_ms: i64,
            floor: u64,
            pick: Pick
        ) -> Joined;
        write leave(event: &LineId, position: u64, visitor: &VisitorId) -> bool;
        write leave_prequeue(event: &LineId, arrival: u64, visitor: &VisitorId) -> PrequeueLeave;
        write claim(
            event: &LineId,
            position: u64,
            now_ms: i64,
            pass_ttl_ms: u64,
            capacity: Capacity
        ) -> Claim;
        write use_code(event: &LineId, digest: [u8; 32]) -> bool;
        write hold_slot(event: &LineId, position: u64, now_ms: i64, until_ms: i64) -> bool;
        write complete(event: &LineId, position: u64) -> bool;
        write consume_pass(event: &LineId, position: u64, ttl_ms: u64) -> bool;
        read pass_used(event: &LineId, position: u64) -> bool;
    }
    SyncStore {
        read events() -> Vec<LineId>;
        read snapshot(event: &LineId) -> Option<Snapshot>;
        write restore(event: &LineId, settings: &EventSettings, floor: &Floor) -> bool;
        read won_since(event: &LineId, seen: u64) -> Vec<(u64, u64)>;
        read leavers_since(event: &LineId, seen: u64) -> Vec<u64>;
        read completed_since(event: &LineId, since_ms: i64) -> Vec<(u64, i64)>;
        read notifications() -> BoxStream<'static, Notification>;
        read draw_entries(event: &LineId) -> Option<DrawEntries>;
        read is_deleted(event: &LineId) -> bool;
        read ping() -> ();
        read instance() -> String;
    }
    ReleaseStore {
        write advance(
            event: &LineId,
            count: u64,
            mode: AdvanceMode,
            capacity: Capacity,
            pick: Pick
        ) -> Advanced;
        write draw(event: &LineId, now_ms: i64) -> Option<Drawn>;
    }
    DrainStore {
        read admitted_range(event: &LineId, after: u64, through: u64) -> Vec<Admitted>;
        write drain_lease(event: &LineId, holder: &str, ttl_ms: u64, action: LeaseAction) -> bool;
        write set_drained(event: &LineId, through: u64, holder: &str) -> bool;
    }
    HookStore {
        write queue_notice(
            event: &LineId,
            notice: &str,
            deliveries: &[(String, String)],
            now_ms: i64
        ) -> bool;
        write take_deliveries(event: &LineId, now_ms: i64, lease_ms: u64, most: u64) -> Vec<Delivery>;
        write settle_delivery(event: &LineId, key: &str, retry_at_ms: Option<i64>) -> ();
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
