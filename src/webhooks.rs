//! Webhooks: an event's turns (its pre-queue opens, it opens, its line empties, it is paused,
//! resumed or closed, the store lost its data) told to the addresses its settings name.
//!
//! Every replica looks at its copy of each event with webhooks and queues a notice of each turn it
//! finds in the store's outbox ([`HookStore`]). A notice's id is made of the turn itself
//! (`event.opened:<opens_at>`, `event.paused:<when the state changed>`), the same on every replica,
//! so the store queues each once however many replicas saw it, and a replica that starts later
//! does not tell it again. Every replica's worker takes the deliveries that are due under a lease
//! and sends them signed as Standard Webhooks are (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature`). One that fails is due again after a backoff, doubling up to an hour,
//! until `webhook_give_up_s` after it was first due. At least once: a receiver tells repeats by
//! `webhook-id`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::admission;
use crate::cache::{CachedEvent, PointerCache};
use crate::config::Config;
use crate::domain::{EventState, LineId, Phase, Topic};
use crate::metrics::Metrics;
use crate::store::{Delivery, Store, StoreError};
use crate::telemetry::StateLog;

/// How often the worker looks for turns and for deliveries due.
const TICK: Duration = Duration::from_millis(250);
/// Turns longer ago than this are not told: a webhook added to an event is not told of its past.
const TURNS_TOLD_FOR_MS: i64 = 3_600_000;
/// Longest wait between two tries of a delivery.
const MOST_BACKOFF: Duration = Duration::from_secs(3600);
/// Deliveries one worker takes of an event at once.
const TAKEN_AT_ONCE: u64 = 32;

/// How notices are signed and retried, from the configuration.
#[derive(Clone)]
pub struct HookSettings {
    /// The key of `webhook_secret`.
    key: Vec<u8>,
    /// The wait before a failed delivery's second try; doubled for each try after.
    retry: Duration,
    /// How long after it was first due a delivery is given up.
    give_up: Duration,
    /// How long one try waits for its receiver.
    timeout: Duration,
}

impl HookSettings {
    /// `None` without a `webhook_secret`: events then have no webhooks.
    pub fn from_config(config: &Config) -> Option<Self> {
        Some(Self {
            key: config.webhook_key()?,
            retry: config.webhook_retry,
            give_up: config.webhook_give_up,
            timeout: config.webhook_timeout,
        })
    }

    /// The Standard Webhooks signature of `body` sent as message `id` at `timestamp` (unix s):
    /// `v1,` and the base64 of HMAC-SHA256 over `id.timestamp.body`.
    pub fn signature(&self, id: &str, timestamp: i64, body: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body.as_bytes());
        let signed = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        format!("v1,{signed}")
    }

    /// How long after its `tries`-th failed try a delivery is tried again.
    fn backoff(&self, tries: u64) -> Duration {
        let doublings = u32::try_from(tries.saturating_sub(1))
            .unwrap_or(u32::MAX)
            .min(20);
        self.retry.saturating_mul(1 << doublings).min(MOST_BACKOFF)
    }
}

/// What sending one delivery needs, kept in the outbox.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    url: String,
    /// The message's `webhook-id`: the same for every try and every address of one notice.
    msg: String,
    body: String,
    /// When it was first due (unix ms).
    since_ms: i64,
}

/// The body of a notice, as Standard Webhooks lays one out.
#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    topic: &'static str,
    /// When the turn was taken (RFC 3339).
    timestamp: String,
    data: Figures<'a>,
}

/// What a notice says of its event, as it stood when the turn was found.
#[derive(Serialize)]
struct Figures<'a> {
    event: &'a str,
    phase: Phase,
    state: EventState,
    /// Visitors waiting (in line, in the pool, in every lane).
    waiting: u64,
    /// The admission pointer of the event's own line.
    admitted_through: u64,
    /// Positions handed out in the event's own line.
    issued: u64,
}

/// A turn an event took, as every replica names it.
struct Turn {
    topic: Topic,
    at_ms: i64,
    /// The notice's id: the topic and what tells this turn from any other of the event's.
    notice: String,
}

impl Turn {
    fn new(topic: Topic, at_ms: i64, mark: impl std::fmt::Display) -> Self {
        Self {
            topic,
            at_ms,
            notice: format!("{}:{mark}", topic.as_str()),
        }
    }
}

pub async fn run_webhooks(
    store: Arc<dyn Store>,
    cache: Arc<PointerCache>,
    settings: HookSettings,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut hooks = Hooks::new(store, cache, settings, metrics);
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                let hooked = hooks.hooked();
                hooks.look(&hooked).await;
                hooks.deliver(&hooked).await;
            }
            _ = shutdown.changed() => return,
        }
    }
}

struct Hooks {
    store: Arc<dyn Store>,
    cache: Arc<PointerCache>,
    settings: HookSettings,
    metrics: Arc<Metrics>,
    http: reqwest::Client,
    log: StateLog,
    /// Notices this replica found queued (by it or another): not asked of the store again.
    told: HashSet<(LineId, String)>,
    /// Per event, whether anyone waited when it was last looked at.
    waited: HashMap<LineId, bool>,
}

impl Hooks {
    fn new(
        store: Arc<dyn Store>,
        cache: Arc<PointerCache>,
        settings: HookSettings,
        metrics: Arc<Metrics>,
    ) -> Self {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            // A receiver that moved says so with an error: a notice is not sent where it was not
            // addressed.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("waitroom/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a client with the default TLS options builds");
        Self {
            store,
            cache,
            settings,
            metrics,
            http,
            log: StateLog::new("webhooks"),
            told: HashSet::new(),
            waited: HashMap::new(),
        }
    }

    /// The events with webhooks (their own lines, not their lanes').
    fn hooked(&self) -> Vec<(LineId, Arc<CachedEvent>)> {
        let mut hooked = self.cache.entries();
        hooked.retain(|(line, cached)| !line.is_lane() && !cached.settings().webhooks.is_empty());
        hooked
    }

    /// Queues a notice of every turn an event with webhooks took lately.
    async fn look(&mut self, hooked: &[(LineId, Arc<CachedEvent>)]) {
        let now_ms = crate::clock::unix_ms();
        self.told
            .retain(|(line, _)| hooked.iter().any(|(event, _)| event == line));
        self.waited
            .retain(|line, _| hooked.iter().any(|(event, _)| event == line));
        for (line, cached) in hooked {
            let waiting = admission::waiting_in_lines(&self.cache, line, cached);
            let waited = self.waited.insert(line.clone(), waiting > 0) == Some(true);
            let emptied = (waited && waiting == 0).then(|| came(&self.cache, line, cached));
            for turn in turns(cached, now_ms, emptied) {
                let told = (line.clone(), turn.notice.clone());
                if self.told.contains(&told) {
                    continue;
                }
                match queue(self.store.as_ref(), line, cached, &turn, waiting, now_ms).await {
                    Ok(queued) => {
                        self.log.ok();
                        if queued {
                            tracing::info!(event = %line, notice = turn.notice, "queued a webhook notice");
                        }
                        self.told.insert(told);
                    }
                    Err(e) => self.log.failed(&e),
                }
            }
        }
    }

    /// Sends every delivery due, of every event with webhooks.
    async fn deliver(&mut self, hooked: &[(LineId, Arc<CachedEvent>)]) {
        let lease = self.settings.timeout * 2 + Duration::from_secs(1);
        let lease_ms = u64::try_from(lease.as_millis()).unwrap_or(u64::MAX);
        for (line, _) in hooked {
            let now_ms = crate::clock::unix_ms();
            let taken = match self
                .store
                .take_deliveries(line, now_ms, lease_ms, TAKEN_AT_ONCE)
                .await
            {
                Ok(taken) => taken,
                Err(e) => {
                    self.log.failed(&e);
                    continue;
                }
            };
            let sent = futures_util::future::join_all(
                taken.iter().map(|delivery| self.send(line, delivery)),
            )
            .await;
            for (delivery, retry_at_ms) in taken.iter().zip(sent) {
                if let Err(e) = self
                    .store
                    .settle_delivery(line, &delivery.key, retry_at_ms)
                    .await
                {
                    // Not settled: due again when its lease runs out.
                    self.log.failed(&e);
                }
            }
        }
    }

    /// Sends one delivery. Returns when to try it again, if it is to be.
    async fn send(&self, line: &LineId, delivery: &Delivery) -> Option<i64> {
        let Ok(record) = serde_json::from_str::<Record>(&delivery.record) else {
            tracing::error!(event = %line, key = delivery.key, "dropped a webhook delivery this version cannot read");
            return None;
        };
        let timestamp = crate::clock::unix_s();
        let signature = self
            .settings
            .signature(&record.msg, timestamp, &record.body);
        let sent = self
            .http
            .post(&record.url)
            .header("content-type", "application/json")
            .header("webhook-id", &record.msg)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(record.body.clone())
            .send()
            .await;
        let failure = match sent {
            Ok(response) if response.status().is_success() => {
                self.metrics
                    .webhooks
                    .with_label_values(&["delivered"])
                    .inc();
                return None;
            }
            Ok(response) => format!("answered {}", response.status()),
            Err(e) => format!("could not be reached: {e}"),
        };
        let now_ms = crate::clock::unix_ms();
        let backoff = self.settings.backoff(delivery.tries);
        let retry_at_ms = now_ms + i64::try_from(backoff.as_millis()).unwrap_or(i64::MAX);
        let give_up_ms = i64::try_from(self.settings.give_up.as_millis()).unwrap_or(i64::MAX);
        if retry_at_ms - record.since_ms > give_up_ms {
            self.metrics.webhooks.with_label_values(&["given_up"]).inc();
            tracing::error!(event = %line, url = record.url, msg = record.msg, tries = delivery.tries, "gave up a webhook notice: its receiver {failure}");
            return None;
        }
        self.metrics.webhooks.with_label_values(&["failed"]).inc();
        tracing::warn!(event = %line, url = record.url, msg = record.msg, tries = delivery.tries, retry_in = ?backoff, "a webhook's receiver {failure}");
        Some(retry_at_ms)
    }
}

/// Queues a notice of each turn `line` took lately as its cached copy says: for the admin API to
/// tell its own change (a pause undone before the workers' next look would go untold).
pub async fn tell_turns(
    store: &dyn Store,
    cache: &PointerCache,
    line: &LineId,
    cached: &Arc<CachedEvent>,
) -> Result<(), StoreError> {
    if cached.settings().webhooks.is_empty() {
        return Ok(());
    }
    let now_ms = crate::clock::unix_ms();
    let waiting = admission::waiting_in_lines(cache, line, cached);
    for turn in turns(cached, now_ms, None) {
        queue(store, line, cached, &turn, waiting, now_ms).await?;
    }
    Ok(())
}

/// Queues the notice of `turn` for each of the event's webhooks that wants it, unless any replica
/// did. Returns whether this call queued it.
async fn queue(
    store: &dyn Store,
    line: &LineId,
    cached: &CachedEvent,
    turn: &Turn,
    waiting: u64,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let settings = cached.settings();
    let body = Body {
        topic: turn.topic.as_str(),
        timestamp: chrono::DateTime::from_timestamp_millis(turn.at_ms)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        data: Figures {
            event: line.event().as_str(),
            phase: settings.phase(now_ms),
            state: settings.state,
            waiting,
            admitted_through: cached.admitted_through(),
            issued: cached.issued(),
        },
    };
    let body = serde_json::to_string(&body).unwrap_or_default();
    let msg = message_id(line, &turn.notice);
    let deliveries: Vec<(String, String)> = settings
        .webhooks
        .iter()
        .enumerate()
        .filter(|(_, hook)| hook.wants(turn.topic))
        .map(|(n, hook)| {
            let record = Record {
                url: hook.url.clone(),
                msg: msg.clone(),
                body: body.clone(),
                since_ms: now_ms,
            };
            (
                format!("{}/{n}", turn.notice),
                serde_json::to_string(&record).unwrap_or_default(),
            )
        })
        .collect();
    store
        .queue_notice(line, &turn.notice, &deliveries, now_ms)
        .await
}

/// How many ever came to the event's lines (positions and pool arrivals, every lane's): a line
/// empties once at each count.
fn came(cache: &PointerCache, line: &LineId, cached: &CachedEvent) -> u64 {
    let lanes: u64 = cached
        .settings()
        .lane_lines(line.event())
        .filter_map(|(_, lane)| cache.get(&lane))
        .map(|lane| lane.issued() + lane.pool_arrived())
        .sum();
    lanes + cached.issued() + cached.pool_arrived()
}

/// The turns an event took in the last [`TURNS_TOLD_FOR_MS`], as of `now_ms`: each named the same
/// on every replica. `emptied`: this replica saw someone wait before and nobody now, when so many
/// had come ([`came`]).
fn turns(cached: &CachedEvent, now_ms: i64, emptied: Option<u64>) -> Vec<Turn> {
    let settings = cached.settings();
    let lately = |at_ms: i64| at_ms <= now_ms && now_ms - at_ms < TURNS_TOLD_FOR_MS;
    let schedule = &settings.schedule;
    let mut turns = Vec::new();
    // Settings with `prequeue_from` have `opens_at` too: the pre-queue is drawn then.
    if let Some(at) = schedule.prequeue_from.map(|at| at.timestamp_millis()) {
        turns.push(Turn::new(Topic::PrequeueOpened, at, at));
    }
    if let Some(at) = schedule.opens_at.map(|at| at.timestamp_millis()) {
        turns.push(Turn::new(Topic::Opened, at, at));
    }
    if let Some(at) = settings.history.state_changed_ms {
        turns.push(Turn::new(Topic::entering(settings.state), at, at));
    }
    let restored_ms = i64::try_from(cached.restored_at() / 1000).unwrap_or(i64::MAX);
    if restored_ms > 0 {
        turns.push(Turn::new(
            Topic::DataLost,
            restored_ms,
            cached.restored_at(),
        ));
    }
    turns.retain(|turn| lately(turn.at_ms));
    let live = settings.phase(now_ms) == Phase::Live && settings.state == EventState::Open;
    if let Some(came) = emptied.filter(|_| live) {
        turns.push(Turn::new(Topic::LineEmptied, now_ms, came));
    }
    turns
}

/// The `webhook-id` of a notice: the same from every replica.
fn message_id(line: &LineId, notice: &str) -> String {
    let digest = Sha256::digest(format!("{}\n{notice}", line.wire()));
    format!("msg_{}", hex::encode(&digest[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(retry_ms: u64) -> HookSettings {
        HookSettings {
            key: b"0123456789abcdef0123456789abcdef".to_vec(),
            retry: Duration::from_millis(retry_ms),
            give_up: Duration::from_secs(86_400),
            timeout: Duration::from_secs(10),
        }
    }

    #[test]
    fn signatures_are_standard_webhooks_ones() {
        // The example of the Standard Webhooks specification's reference libraries: secret
        // `whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw`, message `msg_p5jXN8AQM9LWM0D4loKWxJek`.
        let hooks = HookSettings {
            key: base64::engine::general_purpose::STANDARD
                .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
                .unwrap(),
            ..settings(1000)
        };
        assert_eq!(
            hooks.signature(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                r#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn tries_back_off_doubling_up_to_an_hour() {
        let hooks = settings(5000);
        let waits: Vec<u64> = (1..=5).map(|n| hooks.backoff(n).as_secs()).collect();
        assert_eq!(waits, [5, 10, 20, 40, 80]);
        assert_eq!(hooks.backoff(11).as_secs(), 3600);
        assert_eq!(hooks.backoff(u64::MAX).as_secs(), 3600);
    }

    #[test]
    fn a_notice_has_one_id_everywhere() {
        let line = LineId::parse_wire("tour").unwrap();
        let id = message_id(&line, "event.opened:1000");
        assert_eq!(id, message_id(&line, "event.opened:1000"));
        assert_ne!(id, message_id(&line, "event.opened:2000"));
        assert!(id.starts_with("msg_") && id.len() == 36, "{id}");
    }
}
