//! The Kafka sink: an idempotent rdkafka producer (acks=all, bounded in flight, compressed), one
//! message per admitted visitor, keyed by visitor id.

use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

use super::{AdmissionMessage, Sink, SinkError};
use crate::domain::Admitted;

/// How long `flush` waits for buffered messages at shutdown.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

pub struct KafkaSink {
    /// Shared by every client of this sink (see [`QuietContext`]).
    context: QuietContext,
    /// Replaced by a fresh one when the broker no longer accepts this producer's identity.
    producer: RwLock<FutureProducer<QuietContext>>,
    config: ClientConfig,
    brokers: String,
    topic: String,
    topic_per_event: bool,
    /// Partitions and replication factor of the topics this sink creates when missing; `None`: it
    /// creates none.
    creates: Option<(i32, i32)>,
    /// Topics known to exist (created here, or found existing).
    ensured: parking_lot::Mutex<std::collections::BTreeSet<String>>,
}

/// How long a report of librdkafka's is held back when it repeats the last one.
const REPEAT_AFTER: Duration = Duration::from_secs(60);

/// librdkafka's own log and error reports, through `tracing`, once per kind: a broker that stays
/// away is said once (again a minute later, with how many were held back), not twice a second; the
/// drain's own line says when deliveries fail and recover. Clones share what was said, so the
/// producer and the admin client of one sink say each kind once between them.
#[derive(Clone, Default)]
pub struct QuietContext {
    said: std::sync::Arc<parking_lot::Mutex<std::collections::HashMap<String, Said>>>,
}

struct Said {
    at: std::time::Instant,
    held_back: u64,
}

impl QuietContext {
    /// Says a report of kind `key` with `say` (given how many of its kind were held back since it
    /// was last said), unless that kind was said within [`REPEAT_AFTER`].
    fn say(&self, key: String, say: impl FnOnce(u64)) {
        let mut said = self.said.lock();
        let held_back = match said.get_mut(&key) {
            Some(last) if last.at.elapsed() < REPEAT_AFTER => {
                last.held_back += 1;
                return;
            }
            Some(last) => last.held_back,
            None => 0,
        };
        say(held_back);
        said.insert(
            key,
            Said {
                at: std::time::Instant::now(),
                held_back: 0,
            },
        );
    }
}

impl ClientContext for QuietContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        use RDKafkaLogLevel::{Alert, Critical, Emerg, Error, Warning};
        if !matches!(level, Emerg | Alert | Critical | Error | Warning) {
            tracing::debug!(facility, "kafka: {message}");
            return;
        }
        self.say(format!("log {facility}"), |held_back| {
            tracing::warn!(facility, held_back, "kafka: {message}");
        });
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.say(
            format!("error {:?}", error.rdkafka_error_code()),
            |held_back| {
                tracing::error!(held_back, "kafka: {error}: {reason}");
            },
        );
    }
}

/// The producer settings waitroom relies on; `overrides` (from configuration) may change any of them.
pub fn producer_config(brokers: &str, overrides: &BTreeMap<String, String>) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("max.in.flight.requests.per.connection", "5")
        .set("compression.type", "lz4")
        .set("linger.ms", "5")
        .set("batch.num.messages", "10000")
        // A delivery that cannot complete fails within this time; the drain worker then resends
        // the whole batch, so nothing is lost.
        .set("message.timeout.ms", "10000");
    for (key, value) in overrides {
        config.set(key, value);
    }
    config
}

impl KafkaSink {
    pub fn new(
        brokers: &str,
        topic: &str,
        topic_per_event: bool,
        overrides: &BTreeMap<String, String>,
    ) -> Result<Self, SinkError> {
        let config = producer_config(brokers, overrides);
        let context = QuietContext::default();
        let producer = config
            .create_with_context(context.clone())
            .map_err(|e| SinkError::Config(e.to_string()))?;
        Ok(Self {
            context,
            producer: RwLock::new(producer),
            config,
            brokers: brokers.to_owned(),
            topic: topic.to_owned(),
            topic_per_event,
            creates: None,
            ensured: parking_lot::Mutex::default(),
        })
    }

    /// Creates each topic it delivers to when missing, with `partitions` and `replication` (-1: the
    /// broker's default), before the first delivery to it.
    pub fn creating_topics(mut self, partitions: i32, replication: i32) -> Self {
        self.creates = Some((partitions, replication));
        self
    }

    /// Creates those of `topics` not known to exist (an existing one is fine), if this sink creates
    /// topics. A topic that could not be created is named in the error.
    async fn ensure_topics(
        &self,
        topics: &std::collections::BTreeSet<&str>,
    ) -> Result<(), SinkError> {
        let Some((partitions, replication)) = self.creates else {
            return Ok(());
        };
        let missing: Vec<NewTopic> = {
            let ensured = self.ensured.lock();
            topics
                .iter()
                .filter(|topic| !ensured.contains(**topic))
                .map(|topic| NewTopic::new(topic, partitions, TopicReplication::Fixed(replication)))
                .collect()
        };
        if missing.is_empty() {
            return Ok(());
        }
        // An admin client of the producer's connection settings (the rest are the producer's own).
        let mut config = ClientConfig::new();
        for (key, value) in self
            .config
            .config_map()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
        {
            if key == "bootstrap.servers"
                || key.starts_with("security.")
                || key.starts_with("sasl.")
                || key.starts_with("ssl.")
            {
                config.set(&key, &value);
            }
        }
        let admin: AdminClient<QuietContext> = config
            .create_with_context(self.context.clone())
            .map_err(|e| SinkError::Config(e.to_string()))?;
        let options = AdminOptions::new()
            .operation_timeout(Some(Duration::from_secs(10)))
            .request_timeout(Some(Duration::from_secs(10)));
        let created = admin
            .create_topics(&missing, &options)
            .await
            .map_err(|e| SinkError::Delivery(format!("creating topic {}: {e}", missing[0].name)))?;
        for outcome in created {
            match outcome {
                Ok(topic) => {
                    tracing::info!(%topic, partitions, replication, "created the Kafka topic");
                    self.ensured.lock().insert(topic);
                }
                Err((topic, RDKafkaErrorCode::TopicAlreadyExists)) => {
                    self.ensured.lock().insert(topic);
                }
                Err((topic, code)) => {
                    return Err(SinkError::Delivery(format!(
                        "could not create topic {topic}: {code}"
                    )))
                }
            }
        }
        Ok(())
    }

    fn producer(&self) -> FutureProducer<QuietContext> {
        self.producer.read().clone()
    }

    /// After message timeouts the idempotent producer bumps its epoch; a broker may answer that by
    /// fencing it (or lose track of its sequence numbers), and then refuses it for good. A new
    /// producer with a new id starts clean; the worker resends the failed batch with it.
    fn renew_producer_if_refused(
        &self,
        producer: &FutureProducer<QuietContext>,
        error: &KafkaError,
    ) {
        let refused = matches!(
            error.rdkafka_error_code(),
            Some(
                RDKafkaErrorCode::ProducerFenced
                    | RDKafkaErrorCode::InvalidProducerEpoch
                    | RDKafkaErrorCode::OutOfOrderSequenceNumber
                    | RDKafkaErrorCode::UnknownProducerId
                    | RDKafkaErrorCode::InvalidProducerIdMapping
            )
        ) || producer.client().fatal_error().is_some();
        if !refused {
            return;
        }
        match self.config.create_with_context(self.context.clone()) {
            Ok(fresh) => {
                tracing::warn!(%error, "the broker refused the producer; continuing with a new one");
                *self.producer.write() = fresh;
            }
            Err(e) => tracing::warn!(error = %e, "could not create a new producer"),
        }
    }

    fn topic_for(&self, event: &str) -> String {
        if self.topic_per_event {
            format!("{}.{event}", self.topic)
        } else {
            self.topic.clone()
        }
    }
}

#[async_trait]
impl Sink for KafkaSink {
    async fn deliver(&self, batch: &[Admitted]) -> Result<(), SinkError> {
        let messages: Vec<(String, AdmissionMessage, Vec<u8>)> = batch
            .iter()
            .map(|visitor| {
                let message = AdmissionMessage::from(visitor);
                let payload = serde_json::to_vec(&message).unwrap_or_default();
                (self.topic_for(&message.event), message, payload)
            })
            .collect();
        let topics = messages.iter().map(|(topic, ..)| topic.as_str()).collect();
        self.ensure_topics(&topics).await?;
        // Enqueue everything in order first, then wait for all confirmations: one round of
        // broker round trips per batch rather than one per visitor.
        let producer = self.producer();
        let mut deliveries = Vec::with_capacity(messages.len());
        for (topic, message, payload) in &messages {
            let mut headers = OwnedHeaders::new()
                .insert(Header {
                    key: "event",
                    value: Some(message.event.as_str()),
                })
                .insert(Header {
                    key: "message-id",
                    value: Some(message.id.as_str()),
                });
            if let Some(lane) = &message.lane {
                headers = headers.insert(Header {
                    key: "lane",
                    value: Some(lane.as_str()),
                });
            }
            let mut record = FutureRecord::to(topic)
                .key(message.visitor.as_str())
                .payload(payload.as_slice())
                .headers(headers);
            loop {
                match producer.send_result(record) {
                    Ok(delivery) => {
                        deliveries.push((topic, delivery));
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        record = back;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((e, _)) => {
                        return Err(SinkError::Delivery(format!("to topic {topic}: {e}")))
                    }
                }
            }
        }
        let mut failure: Option<(&String, KafkaError)> = None;
        for (topic, delivery) in deliveries {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => failure = failure.or(Some((topic, e))),
                Err(_) => failure = failure.or(Some((topic, KafkaError::Canceled))),
            }
        }
        match failure {
            None => Ok(()),
            Some((topic, e)) => {
                self.renew_producer_if_refused(&producer, &e);
                Err(SinkError::Delivery(format!("to topic {topic}: {e}")))
            }
        }
    }

    async fn flush(&self) {
        let producer = self.producer();
        let flushed = tokio::task::spawn_blocking(move || producer.flush(FLUSH_TIMEOUT)).await;
        if let Ok(Err(e)) = flushed {
            tracing::warn!(error = %e, "kafka producer did not flush everything before stopping");
        }
    }

    fn kind(&self) -> &'static str {
        "kafka"
    }

    fn describe(&self) -> String {
        let topic = if self.topic_per_event {
            format!("{}.<event>", self.topic)
        } else {
            self.topic.clone()
        };
        format!("kafka ({} -> {topic})", self.brokers)
    }
}
