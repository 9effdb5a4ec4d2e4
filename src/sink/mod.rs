//! Where admitted visitors are forwarded: Kafka, or a JSON-lines log on the embedded default.
//! A sink returns only once every visitor of the batch is durably delivered, or fails as a whole.

pub mod kafka;
pub mod log;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::Admitted;

pub use self::kafka::KafkaSink;
pub use self::log::LogSink;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("delivery failed: {0}")]
    Delivery(String),
    #[error("the sink is misconfigured: {0}")]
    Config(String),
}

/// The message every sink writes for one admitted visitor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmissionMessage {
    /// `<event>:<position>`, or `<event>:<lane>:<position>` for a lane's place: stable across
    /// re-sends, for consumers to deduplicate on.
    pub id: String,
    pub event: String,
    /// The priority lane the visitor waited in, for an event with lanes (not the first lane's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lane: Option<String>,
    pub visitor: String,
    pub position: u64,
    /// RFC 3339, milliseconds, UTC.
    pub joined_at: String,
    pub admitted_at: String,
}

fn rfc3339_ms(unix_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(unix_ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl From<&Admitted> for AdmissionMessage {
    fn from(visitor: &Admitted) -> Self {
        let event = visitor.line.event();
        let lane = visitor.line.lane();
        Self {
            id: match lane {
                Some(lane) => format!("{event}:{lane}:{}", visitor.position),
                None => format!("{event}:{}", visitor.position),
            },
            event: event.to_string(),
            lane: lane.map(|lane| lane.as_str().to_owned()),
            visitor: visitor.visitor.clone(),
            position: visitor.position,
            joined_at: rfc3339_ms(visitor.joined_at_ms),
            admitted_at: rfc3339_ms(visitor.admitted_at_ms),
        }
    }
}

#[async_trait]
pub trait Sink: Send + Sync + 'static {
    /// Delivers every visitor of `batch`, in order; Ok only once all are confirmed.
    async fn deliver(&self, batch: &[Admitted]) -> Result<(), SinkError>;

    /// Waits for anything still buffered, before the process stops.
    async fn flush(&self);

    /// What the sink writes to, for the log.
    fn describe(&self) -> String;

    /// `kafka` or `log`, for the metrics.
    fn kind(&self) -> &'static str;
}
