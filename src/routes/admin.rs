//! The admin API (`/v1/admin/*`, bearer token): events, manual release, and joins on behalf of known users.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use super::{bearer, parse_event, AppState};
use crate::cache::CachedEvent;
use crate::domain::{EventId, EventSettings, EventSettingsPatch, EventState, VisitorId};
use crate::problem::ApiError;
use crate::store::{AdvanceMode, Capacity};

/// Most visitors one manual advance may admit.
const MAX_ADVANCE: u64 = 100_000;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1/admin/events")
            .service(web::resource("").get(list_events))
            .service(web::resource("/{event}").get(show_event).put(put_event))
            .service(web::resource("/{event}/advance").post(advance))
            .service(web::resource("/{event}/pause").post(pause))
            .service(web::resource("/{event}/resume").post(resume))
            .service(web::resource("/{event}/join").post(trusted_join)),
    );
}

/// An event's settings and figures, as the admin API shows them.
#[derive(Debug, Serialize, Deserialize)]
pub struct EventView {
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
    /// The drain checkpoint: admitted visitors up to here were forwarded downstream.
    pub drained_through: u64,
    /// Admitted positions not forwarded yet.
    pub drain_lag: u64,
    /// Admitted visitors holding a slot (events with `max_active`).
    pub active: u64,
}

fn view(event: &EventId, cached: &CachedEvent) -> EventView {
    let figures = cached.figures();
    EventView {
        event: event.clone(),
        settings: (*cached.settings()).clone(),
        issued: figures.issued,
        admitted_through: figures.admitted_through,
        left: figures.left,
        waiting: cached.ahead_of(figures.issued + 1),
        drained_through: figures.drained_through,
        drain_lag: figures
            .admitted_through
            .saturating_sub(figures.drained_through),
        active: figures.active,
    }
}

/// Same answer time whatever the guess, so the token cannot be found a byte at a time.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(super) fn authorize(state: &AppState, req: &HttpRequest) -> Result<(), ApiError> {
    let expected = state.admin_token.as_ref().ok_or(ApiError::AdminDisabled)?;
    let given = bearer(req.headers()).unwrap_or_default();
    if constant_time_eq(given.as_bytes(), expected.expose().as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized)
    }
}

/// Re-reads the event from the store so admins see current figures, not this replica's cache.
async fn fresh(state: &AppState, event: &EventId) -> Result<std::sync::Arc<CachedEvent>, ApiError> {
    state.cache.refresh(state.store.as_ref(), event).await?;
    state.event(event)
}

async fn list_events(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    authorize(&state, &req)?;
    let mut views = Vec::new();
    for event in state.store.events().await? {
        views.push(view(&event, &*fresh(&state, &event).await?));
    }
    Ok(HttpResponse::Ok().json(views))
}

async fn show_event(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    authorize(&state, &req)?;
    let event = parse_event(&path)?;
    Ok(HttpResponse::Ok().json(view(&event, &*fresh(&state, &event).await?)))
}

/// Creates or updates an event from a partial settings object.
async fn update(
    state: &AppState,
    event: &EventId,
    patch: EventSettingsPatch,
) -> Result<HttpResponse, ApiError> {
    let existing = state.store.snapshot(event).await?;
    let created = existing.is_none();
    let base = existing.map(|s| s.settings).unwrap_or_default();
    let settings = patch.apply(base)?;
    state.store.put_event(event, &settings, false).await?;
    let cached = fresh(state, event).await?;
    let mut response = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(response.json(view(event, &cached)))
}

async fn put_event(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    body: web::Json<EventSettingsPatch>,
) -> Result<HttpResponse, ApiError> {
    authorize(&state, &req)?;
    let event = parse_event(&path)?;
    update(&state, &event, body.into_inner()).await
}

async fn set_state(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    to: EventState,
) -> Result<HttpResponse, ApiError> {
    authorize(&state, &req)?;
    let event = parse_event(&path)?;
    state.event(&event)?;
    let patch = EventSettingsPatch {
        state: Some(to),
        ..Default::default()
    };
    update(&state, &event, patch).await
}

async fn pause(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    set_state(state, path, req, EventState::Paused).await
}

async fn resume(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    set_state(state, path, req, EventState::Open).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvanceRequest {
    by: u64,
}

async fn advance(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    body: web::Json<AdvanceRequest>,
) -> Result<HttpResponse, ApiError> {
    authorize(&state, &req)?;
    let event = parse_event(&path)?;
    let cached = state.event(&event)?;
    if !(1..=MAX_ADVANCE).contains(&body.by) {
        return Err(ApiError::InvalidRequest(format!(
            "`by` is {}; it must be between 1 and {MAX_ADVANCE}",
            body.by
        )));
    }
    let advanced = state
        .store
        .advance(
            &event,
            body.by,
            AdvanceMode::Manual,
            Capacity::of(&cached.settings()),
        )
        .await?;
    state
        .cache
        .observe(&event, &cached, advanced.issued, advanced.admitted_through);
    Ok(HttpResponse::Ok().json(view(&event, &cached)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustedJoin {
    visitor: VisitorId,
}

/// A booking site joins a user it knows: the same user id always gets the same place back.
async fn trusted_join(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    body: web::Json<TrustedJoin>,
) -> Result<HttpResponse, ApiError> {
    authorize(&state, &req)?;
    let event = parse_event(&path)?;
    let cached = state.event(&event)?;
    if cached.settings().state == EventState::Closed {
        return Err(ApiError::EventClosed(event.to_string()));
    }
    let joined = state
        .store
        .join(
            &event,
            &body.visitor,
            true,
            chrono::Utc::now().timestamp_millis(),
        )
        .await?;
    cached.observe_issued(joined.position);
    if joined.fresh {
        state
            .metrics
            .joins
            .with_label_values(&[event.as_str()])
            .inc();
    }
    Ok(state.answer_join(
        &event,
        &cached,
        &body.visitor,
        joined.position,
        joined.fresh,
        false,
    ))
}
