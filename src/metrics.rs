//! Prometheus metrics. Counters and histograms are updated as things happen; per-event gauges are
//! set from readings taken when `/metrics` is scraped ([`EventReading`]), so they cost nothing in
//! between.

use std::cell::RefCell;

use actix_web::http::StatusCode;

use crate::domain::{LaneName, LineId};
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

/// Latency buckets in seconds: the hot paths answer in well under a millisecond.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// The labels of a per-line series: the event, and the lane (empty for the event's own line), so
/// `sum by (event)` adds an event's lanes up.
const LINE_LABELS: &[&str] = &["event", "lane"];

/// The values of the per-line labels (`event`, `lane`) for `line`.
pub fn line_labels(line: &LineId) -> [&str; 2] {
    [
        line.event().as_str(),
        line.lane().map_or("", LaneName::as_str),
    ]
}

pub struct Metrics {
    registry: Registry,
    pub joins: IntCounterVec,
    pub no_shows: IntCounterVec,
    pub request_duration: HistogramVec,
    pub token_rejections: IntCounterVec,
    pub passes_consumed: IntCounterVec,
    pub passes_renewed: IntCounterVec,
    pub codes_presented: IntCounterVec,
    pub challenges: IntCounterVec,
    pub store_errors: IntCounterVec,
    pub store_duration: HistogramVec,
    pub delivery_errors: IntCounterVec,
    pub delivered: IntCounterVec,
    pub webhooks: IntCounterVec,
    pub streams_refused: IntCounterVec,
    pub rate_limited: IntCounterVec,
    pub sse_connections: IntGauge,
    events: EventGauges,
}

/// Per-event figures, refreshed from the cache at each scrape.
struct EventGauges {
    issued: prometheus::IntGaugeVec,
    admitted_through: prometheus::IntGaugeVec,
    waiting: prometheus::IntGaugeVec,
    left: prometheus::IntGaugeVec,
    active: prometheus::IntGaugeVec,
    drain_lag: prometheus::IntGaugeVec,
    release_rate: prometheus::GaugeVec,
    pointer_age: prometheus::GaugeVec,
    paused: prometheus::IntGaugeVec,
    releasing: prometheus::IntGaugeVec,
    /// A count (since this replica started), set from the reading at each scrape.
    data_losses: IntCounterVec,
    /// Every event this replica knows, and those left out of the per-event series.
    known: IntGauge,
    unlisted: IntGauge,
}

fn plain_gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let gauge = IntGauge::new(name, help).expect("a valid gauge");
    registry
        .register(Box::new(gauge.clone()))
        .expect("registered once");
    gauge
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let metric = IntCounterVec::new(Opts::new(name, help), labels).expect("a valid counter");
    registry
        .register(Box::new(metric.clone()))
        .expect("registered once");
    metric
}

fn histogram(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    let opts = HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec());
    let metric = HistogramVec::new(opts, labels).expect("a valid histogram");
    registry
        .register(Box::new(metric.clone()))
        .expect("registered once");
    metric
}

fn event_gauge(registry: &Registry, name: &str, help: &str) -> prometheus::IntGaugeVec {
    let metric =
        prometheus::IntGaugeVec::new(Opts::new(name, help), LINE_LABELS).expect("a valid gauge");
    registry
        .register(Box::new(metric.clone()))
        .expect("registered once");
    metric
}

fn event_float_gauge(registry: &Registry, name: &str, help: &str) -> prometheus::GaugeVec {
    let metric =
        prometheus::GaugeVec::new(Opts::new(name, help), LINE_LABELS).expect("a valid gauge");
    registry
        .register(Box::new(metric.clone()))
        .expect("registered once");
    metric
}

impl Default for Metrics {
    fn default() -> Self {
        let registry = Registry::new_custom(Some("waitroom".into()), None).expect("a registry");
        let r = &registry;
        let sse_connections = IntGauge::new(
            "sse_connections",
            "Open push-update streams on this replica.",
        )
        .expect("a valid gauge");
        registry
            .register(Box::new(sse_connections.clone()))
            .expect("registered once");
        Self {
            joins: counter(
                r,
                "joins_total",
                "New places drawn (refreshes of a held place not counted).",
                LINE_LABELS,
            ),
            no_shows: counter(
                r,
                "no_shows_total",
                "Admitted visitors who came after their claim window.",
                LINE_LABELS,
            ),
            request_duration: histogram(
                r,
                "request_duration_seconds",
                "HTTP request latency by route.",
                &["route", "status"],
            ),
            token_rejections: counter(
                r,
                "token_rejections_total",
                "Tokens refused, by reason.",
                &["reason"],
            ),
            passes_consumed: counter(
                r,
                "passes_consumed_total",
                "Single-use passes presented, by result: first (let in) or used (refused).",
                &["result"],
            ),
            passes_renewed: counter(
                r,
                "pass_renewals_total",
                "Passes due for renewal at the gate or verify (see pass_renewal_max_s), by result: renewed, or not (at the event's maximum, the slot no longer theirs, the store away).",
                &["result"],
            ),
            codes_presented: counter(
                r,
                "enqueue_codes_total",
                "Enqueue codes and invitations presented to invite-only events, by result: spent (a place), refused (unknown or used) or invited (a signed invitation's user).",
                &["result"],
            ),
            challenges: counter(
                r,
                "challenges_total",
                "Proof-of-work challenges, by result: issued (made and handed out with a refusal), busy (an ask told to come back) or solved (a solution that verified).",
                &["result"],
            ),
            store_errors: counter(
                r,
                "store_errors_total",
                "Failed store (Redis) operations.",
                &["op"],
            ),
            store_duration: histogram(
                r,
                "store_duration_seconds",
                "Store (Redis) operation latency.",
                &["op"],
            ),
            delivery_errors: counter(
                r,
                "drain_delivery_errors_total",
                "Failed deliveries of a batch to the sink (Kafka).",
                &["sink"],
            ),
            delivered: counter(
                r,
                "drain_delivered_total",
                "Admitted visitors delivered to the sink.",
                LINE_LABELS,
            ),
            webhooks: counter(
                r,
                "webhook_deliveries_total",
                "Webhook notices sent, by outcome: delivered, failed (to be tried again), given_up.",
                &["outcome"],
            ),
            rate_limited: counter(
                r,
                "rate_limited_total",
                "Requests refused 429 by a per-client rate limit, by route.",
                &["route"],
            ),
            streams_refused: counter(
                r,
                "sse_refused_total",
                "Live-update streams refused: replica-full (max_streams) or place-full (max_streams_per_visitor); those pages poll instead.",
                &["reason"],
            ),
            sse_connections,
            events: EventGauges {
                issued: event_gauge(r, "issued", "Last position handed out."),
                admitted_through: event_gauge(
                    r,
                    "admitted_through",
                    "The admission pointer, as this replica knows it.",
                ),
                waiting: event_gauge(r, "waiting", "Visitors still in line."),
                left: event_gauge(r, "left", "Visitors who gave up their place."),
                data_losses: counter(
                    r,
                    "store_data_losses_total",
                    "Times this replica found the store holding less than it knew (lost writes: a failover, a restore, a flushed key) and restored it. Alert on any.",
                    LINE_LABELS,
                ),
                active: event_gauge(
                    r,
                    "active",
                    "Admitted visitors holding a slot (events with max_active).",
                ),
                drain_lag: event_gauge(
                    r,
                    "drain_lag",
                    "Admitted visitors not yet forwarded by the drain.",
                ),
                release_rate: event_float_gauge(
                    r,
                    "release_rate_per_minute",
                    "Measured admission rate.",
                ),
                pointer_age: event_float_gauge(
                    r,
                    "pointer_age_seconds",
                    "Time since this replica last synced the event's pointer.",
                ),
                paused: event_gauge(r, "paused", "1 while the event is paused or closed."),
                releasing: event_gauge(
                    r,
                    "releasing",
                    "1 while the event releases on its schedule (open, past its opening, batch_size above 0): a line that does not move then is stalled.",
                ),
                known: plain_gauge(r, "events", "Events this replica knows."),
                unlisted: plain_gauge(
                    r,
                    "events_unlisted",
                    "Events left out of the per-event series (beyond metrics_events: those with fewest visitors waiting).",
                ),
            },
            registry,
        }
    }
}

/// One worker's handles to the request-latency histogram by route and status, so that timing a
/// request neither hashes its labels nor takes the shared vector's lock. Workers are single
/// threads; each builds its own.
pub struct RequestTimers {
    durations: HistogramVec,
    handles: RefCell<Vec<(&'static str, u16, Histogram)>>,
}

impl RequestTimers {
    pub fn new(metrics: &Metrics) -> Self {
        Self {
            durations: metrics.request_duration.clone(),
            handles: RefCell::default(),
        }
    }

    pub fn observe(&self, route: &'static str, status: StatusCode, seconds: f64) {
        let mut handles = self.handles.borrow_mut();
        let code = status.as_u16();
        let known = handles
            .iter()
            .position(|(r, c, _)| *c == code && *r == route);
        let index = known.unwrap_or_else(|| {
            let handle = self.durations.with_label_values(&[route, status.as_str()]);
            handles.push((route, code, handle));
            handles.len() - 1
        });
        handles[index].2.observe(seconds);
    }
}

/// One event's figures as a replica knows them, read when `/metrics` is scraped.
#[derive(Debug, Clone, PartialEq)]
pub struct EventReading {
    pub line: LineId,
    pub issued: u64,
    pub admitted_through: u64,
    pub waiting: u64,
    pub left: u64,
    pub active: u64,
    pub drain_lag: u64,
    pub release_rate_per_minute: f64,
    pub pointer_age_s: f64,
    /// Times the store was found to have lost this event's data, since this replica started.
    pub data_losses: u64,
    /// Paused or closed: the line does not move.
    pub stopped: bool,
    /// Released on its schedule now: open, live, with a batch size.
    pub releasing: bool,
}

impl Metrics {
    /// The text exposition of every metric, with the per-event gauges set from `events`: for at
    /// most `listed` of them (those whose store lost data first, then those with most visitors
    /// waiting), so a replica with thousands of events still answers a scrape small and fast.
    pub fn render(&self, events: &[EventReading], listed: usize) -> String {
        let gauge = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
        let g = &self.events;
        for vec in [
            &g.issued,
            &g.admitted_through,
            &g.waiting,
            &g.left,
            &g.active,
            &g.drain_lag,
            &g.paused,
            &g.releasing,
        ] {
            vec.reset();
        }
        g.data_losses.reset();
        g.release_rate.reset();
        g.pointer_age.reset();
        g.known.set(gauge(events.len() as u64));
        g.unlisted
            .set(gauge(events.len().saturating_sub(listed) as u64));
        let mut chosen: Vec<&EventReading> = events.iter().collect();
        if chosen.len() > listed {
            chosen.sort_by(|a, b| {
                (b.data_losses > 0, b.waiting)
                    .cmp(&(a.data_losses > 0, a.waiting))
                    .then_with(|| a.line.cmp(&b.line))
            });
            chosen.truncate(listed);
        }
        for reading in chosen {
            let label = line_labels(&reading.line);
            g.issued
                .with_label_values(&label)
                .set(gauge(reading.issued));
            g.admitted_through
                .with_label_values(&label)
                .set(gauge(reading.admitted_through));
            g.waiting
                .with_label_values(&label)
                .set(gauge(reading.waiting));
            g.left.with_label_values(&label).set(gauge(reading.left));
            g.active
                .with_label_values(&label)
                .set(gauge(reading.active));
            g.drain_lag
                .with_label_values(&label)
                .set(gauge(reading.drain_lag));
            g.release_rate
                .with_label_values(&label)
                .set(reading.release_rate_per_minute);
            g.pointer_age
                .with_label_values(&label)
                .set(reading.pointer_age_s);
            g.paused
                .with_label_values(&label)
                .set(i64::from(reading.stopped));
            g.releasing
                .with_label_values(&label)
                .set(i64::from(reading.releasing));
            g.data_losses
                .with_label_values(&label)
                .inc_by(reading.data_losses);
        }
        let mut out = Vec::new();
        // Encoding into memory cannot fail for well-formed metrics.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}
