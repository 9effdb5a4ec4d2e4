//! The domain: ids, an event's settings, what the admin API shows of an event, and an admitted
//! visitor as the drain forwards it. Plain validated data, parsed once at the edge; no I/O.

mod code;
pub mod draw;
mod ids;
pub mod palette;
pub mod patch;
mod policy;
mod settings;

use serde::{Deserialize, Serialize};

pub use code::EnqueueCode;
pub use ids::{
    lower_hex, random_token_id, EventId, IdError, LaneName, LineId, VisitorId, EVENT_ID_MAX_LEN,
    LANE_NAME_MAX_LEN, VISITOR_ID_MAX_LEN,
};
pub use patch::{Patch, PatchError};
pub use policy::{Bypass, Capacity, EventPolicy, Intake, Pick};
pub use settings::{
    parse_time, AccessSettings, AdmissionSettings, EventHistory, EventSettings, EventState, Lane,
    OrderingSettings, OriginSettings, OutagePolicy, PageSettings, Phase, QueueMethod, RateLimits,
    ReleaseSettings, ScheduleSettings, SettingsError, Topic, Webhook,
};

/// One admitted visitor, as the drain forwards it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    pub line: LineId,
    pub position: u64,
    pub visitor: String,
    pub joined_at_ms: i64,
    pub admitted_at_ms: i64,
}

/// An event's settings and figures, as the admin API shows them.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventView {
    #[schema(value_type = String)]
    pub event: EventId,
    #[serde(flatten)]
    pub settings: EventSettings,
    /// Last position handed out.
    pub issued: u64,
    /// The admission pointer.
    pub admitted_through: u64,
    /// Visitors who gave up their place.
    pub left: u64,
    /// Visitors still in line.
    pub waiting: u64,
    /// Visitors waiting in the draw, not in line yet (an event that draws at random).
    #[serde(default)]
    pub in_draw: u64,
    /// The drain checkpoint: admitted visitors up to here were forwarded downstream.
    pub drained_through: u64,
    /// Admitted positions not forwarded yet.
    pub drain_lag: u64,
    /// Admitted visitors holding a slot (events with `max_active`).
    pub active: u64,
    /// For an event with lanes, each lane's line (the first is the event's own, whose figures are
    /// the ones above).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lane_lines: Vec<LaneView>,
}

/// One lane's line, as the admin API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LaneView {
    pub lane: String,
    pub share: u8,
    pub issued: u64,
    pub admitted_through: u64,
    pub left: u64,
    pub waiting: u64,
}
