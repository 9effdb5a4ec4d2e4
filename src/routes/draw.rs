//! `GET /v1/events/{event}/draw`: the pre-queue draw, published for anyone to check. Before the
//! draw: the seed's SHA-256 (the commitment) and when it is drawn; after: the seed, the entries in
//! arrival order and in drawn order (`waitroom audit` and `docs/FAIRNESS.md` check one against the
//! other). For an event that draws at random at each release: the commitment of the seed the
//! releases draw with, and the seed once the event closed.

use std::sync::Arc;

use actix_web::web::Bytes;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::extract::KnownEvent;
use super::problem::{ApiError, Problem};
use super::state::AppState;
use crate::cache::PrequeueDraw;
use crate::clock::rfc3339;
use crate::clock::unix_ms;
use crate::domain::draw::{entry_id, Seed};
use crate::domain::Phase;

/// An event's pre-queue draw, as published.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PublishedDraw {
    pub event: String,
    /// SHA-256 of the seed, hex: published before anyone could join the pre-queue.
    pub commitment: String,
    /// When the order is (or was) drawn: the event's opening.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub draws_at: Option<String>,
    /// Whether the order was drawn; the members below come with it.
    pub drawn: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drawn_at: Option<String>,
    /// The seed, 64 hex digits: once drawn (a pre-queue), once closed (the releases' seed of an
    /// event that draws at random).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
    /// The entries in arrival order: the first 16 bytes of HMAC-SHA256 keyed with the seed over each
    /// visitor id, hex (`(lost)` for a place the store lost). The order is drawn with the seed mixed
    /// with these (docs/FAIRNESS.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arrived: Option<Vec<String>>,
    /// The same entries in drawn order: the holder of position 1 first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub positions: Option<Vec<String>>,
}

/// `GET /v1/events/{event}/draw`.
#[utoipa::path(get, path = "/v1/events/{event}/draw", tag = "visitors", params(("event" = String, Path, description = "The event's id: 1-64 of A-Z a-z 0-9 _ -", example = "tour")),
    responses((status = 200, description = "The pre-queue draw: its commitment, and once drawn its seed and entries", body = PublishedDraw), (status = "default", description = "A problem document", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn published(
    state: web::Data<AppState>,
    event: KnownEvent,
) -> Result<HttpResponse, ApiError> {
    let Some(draw) = event.cached.draw() else {
        let seed = event
            .cached
            .pool_seed()
            .ok_or_else(|| ApiError::NoPrequeue(event.line.to_string()))?;
        return Ok(HttpResponse::Ok().json(release_seed(&event, seed)));
    };
    let body = match &draw.drawn {
        // Drawn once for good: built once per replica, however many ask.
        Some(_) => {
            let built = draw.published.lock().clone();
            let body = match built {
                Some(body) => body,
                None => {
                    let body: Arc<[u8]> = drawn_body(&state, &event, &draw).await?.into();
                    *draw.published.lock() = Some(body.clone());
                    body
                }
            };
            Bytes::from_owner(body)
        }
        None => Bytes::from(to_json(&PublishedDraw {
            event: event.line.to_string(),
            commitment: draw.seed.commitment(),
            draws_at: draws_at(&event),
            drawn: false,
            drawn_at: None,
            seed: None,
            arrived: None,
            positions: None,
        })?),
    };
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(body))
}

/// The releases' seed of an event that draws at random: committed to while it runs, revealed once
/// it closed (when no release can draw any more).
fn release_seed(event: &KnownEvent, seed: Seed) -> PublishedDraw {
    let closed = event.cached.settings().phase(unix_ms()) == Phase::Closed;
    PublishedDraw {
        event: event.line.to_string(),
        commitment: seed.commitment(),
        draws_at: None,
        drawn: false,
        drawn_at: None,
        seed: closed.then(|| seed.to_hex()),
        arrived: None,
        positions: None,
    }
}

fn draws_at(event: &KnownEvent) -> Option<String> {
    event
        .cached
        .settings()
        .schedule
        .opens_at
        .map(|at| rfc3339(at.timestamp()))
}

async fn drawn_body(
    state: &AppState,
    event: &KnownEvent,
    draw: &Arc<PrequeueDraw>,
) -> Result<Vec<u8>, ApiError> {
    let drawn = draw.drawn.as_ref().expect("called for a drawn pre-queue");
    let entries = state
        .store
        .draw_entries(&event.line)
        .await?
        .ok_or_else(|| ApiError::Internal("the store holds no drawn pre-queue".into()))?;
    let ids = |visitors: Vec<String>| -> Vec<String> {
        visitors
            .iter()
            .map(|visitor| entry_id(&draw.seed, visitor))
            .collect()
    };
    to_json(&PublishedDraw {
        event: event.line.to_string(),
        commitment: draw.seed.commitment(),
        draws_at: draws_at(event),
        drawn: true,
        drawn_at: Some(rfc3339(drawn.at_ms.div_euclid(1_000))),
        seed: Some(draw.seed.to_hex()),
        arrived: Some(ids(entries.arrived)),
        positions: Some(ids(entries.drawn)),
    })
}

fn to_json(draw: &PublishedDraw) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(draw).map_err(|e| ApiError::Internal(e.to_string()))
}
