//! The admin API (`/v1/admin/*`): events, manual release, and joins on behalf of known users. The
//! admin credential is checked by the scope's middleware ([`super::auth::require_admin`]).

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::extract::{KnownEvent, PathEvent};
use super::problem::{ApiError, Problem};
use super::state::AppState;
use super::visitor::{join_response, sign_join, waiting_place, JoinAnswer};
use crate::cache::CachedEvent;
use crate::clock::unix_ms;
use crate::domain::{EventId, EventSettingsPatch, EventState, EventView, VisitorId};
use crate::store::{AdvanceMode, Capacity, JoinAs, PutMode};

/// Most visitors one manual advance may admit.
const MAX_ADVANCE: u64 = 100_000;

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

/// Re-reads the event from the store so admins see current figures, not this replica's cache.
async fn fresh(state: &AppState, event: &EventId) -> Result<Arc<CachedEvent>, ApiError> {
    state.cache.refresh(state.store.as_ref(), event).await?;
    state
        .cache
        .get(event)
        .ok_or_else(|| ApiError::UnknownEvent(event.to_string()))
}

/// `GET /v1/admin/events`: every event with its figures.
#[utoipa::path(get, path = "/v1/admin/events", tag = "admin", security(("admin" = [])),
    responses((status = 200, description = "Every event with its figures", body = Vec<EventView>), (status = "default", description = "A problem document", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn list_events(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let mut views = Vec::new();
    for event in state.store.events().await? {
        views.push(view(&event, &*fresh(&state, &event).await?));
    }
    Ok(HttpResponse::Ok().json(views))
}

/// `GET /v1/admin/events/{event}`.
#[utoipa::path(get, path = "/v1/admin/events/{event}", tag = "admin", params(("event" = String, Path, description = "The event's id: 1-64 of A-Z a-z 0-9 _ -", example = "tour")), security(("admin" = [])),
    responses((status = 200, description = "The event's settings and figures", body = EventView), (status = "default", description = "A problem document", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn show_event(
    state: web::Data<AppState>,
    PathEvent(event): PathEvent,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(view(&event, &*fresh(&state, &event).await?)))
}

/// `DELETE /v1/admin/events/{event}`: the event and all its data, at once (closed events' data goes by
/// itself `retain_closed_s` after closing). Its tokens are refused as for an unknown event.
#[utoipa::path(delete, path = "/v1/admin/events/{event}", tag = "admin", params(("event" = String, Path, description = "The event's id: 1-64 of A-Z a-z 0-9 _ -", example = "tour")), security(("admin" = [])),
    responses((status = 204, description = "Deleted, with all its data, on every replica"), (status = "default", description = "A problem document", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn delete_event(
    state: web::Data<AppState>,
    PathEvent(event): PathEvent,
) -> Result<HttpResponse, ApiError> {
    let existed = state.store.delete_event(&event).await?;
    state.cache.forget(&event);
    if existed {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::UnknownEvent(event.to_string()))
    }
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
    state
        .store
        .put_event(event, &settings, PutMode::Upsert)
        .await?;
    let cached = fresh(state, event).await?;
    let mut response = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(response.json(view(event, &cached)))
}

/// `PUT /v1/admin/events/{event}`: creates the event or changes its settings.
#[utoipa::path(put, path = "/v1/admin/events/{event}", tag = "admin", params(("event" = String, Path, description = "The event's id: 1-64 of A-Z a-z 0-9 _ -", example = "tour")), security(("admin" = [])),
    request_body = EventSettingsPatch,
    responses((status = 201, description = "Created", body = EventView), (status = 200, description = "Updated", body = EventView), (status = "default", description = "A problem document", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn put_event(
    state: web::Data<AppState>,
    PathEvent(event): PathEvent,
    body: web::Json<EventSettingsPatch>,
) -> Result<HttpResponse, ApiError> {
    update(&state, &event, body.into_inner()).await
}

async fn set_state(
    state: &AppState,
    event: KnownEvent,
    to: EventState,
) -> Result<HttpResponse, ApiError> {
    let patch = EventSettingsPatch {
        state: Some(to),
        ..Default::default()
    };
    update(state, &event.id, patch).await
}

/// `POST /v1/admin/events/{event}/pause`: stops releasing; visitors can still join.
#[utoipa::path(post, path = "/v1/admin/events/{event}/pause", tag = "admin", params(("event" = String, Path, description = "The event's id: 1-64 of A-Z a-z 0-9 _ -", example = "tour")), security(("admin" = [])),
    responses((status = 200, description = "Paused", body = EventView), (status = "default", description = "A problem document", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn pause(
    state: web::Data<AppState>,
    event: KnownEvent,
) -> Result<HttpResponse, ApiError> {
    set_state(&state, event, EventState::Paused).await
}

/// `POST /v1/admin/events/{event}/resume`.
#[utoipa::path(post, path = "/v1/admin/events/{event}/resume", tag = "admin", params(("event" = String, Path, description = "The event's id: 1-64 of A-Z a-z 0-9 _ -", example = "tour")), security(("admin" = [])),
    responses((status = 200, description = "Open again", body = EventView), (status = "default", description = "A problem document", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn resume(
    state: web::Data<AppState>,
    event: KnownEvent,
) -> Result<HttpResponse, ApiError> {
    set_state(&state, event, EventState::Open).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AdvanceRequest {
    /// How many visitors to admit now: 1-100,000.
    by: u64,
}

/// `POST /v1/admin/events/{event}/advance`: admits the next `by` visitors now.
#[utoipa::path(post, path = "/v1/admin/events/{event}/advance", tag = "admin", params(("event" = String, Path, description = "The event's id: 1-64 of A-Z a-z 0-9 _ -", example = "tour")), security(("admin" = [])),
    request_body = AdvanceRequest,
    responses((status = 200, description = "Moved", body = EventView), (status = "default", description = "A problem document", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn advance(
    state: web::Data<AppState>,
    event: KnownEvent,
    body: web::Json<AdvanceRequest>,
) -> Result<HttpResponse, ApiError> {
    if !(1..=MAX_ADVANCE).contains(&body.by) {
        return Err(ApiError::InvalidRequest(format!(
            "`by` is {}; it must be between 1 and {MAX_ADVANCE}",
            body.by
        )));
    }
    let capacity = Capacity::of(&event.cached.settings());
    let advanced = state
        .store
        .advance(&event.id, body.by, AdvanceMode::Manual, capacity)
        .await?;
    state.cache.observe(
        &event.id,
        &event.cached,
        advanced.issued,
        advanced.admitted_through,
        true,
    );
    Ok(HttpResponse::Ok().json(view(&event.id, &event.cached)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TrustedJoin {
    /// The booking site's id of its user: 1-128 of A-Z a-z 0-9 _ - . : @
    #[schema(value_type = String)]
    visitor: VisitorId,
}

/// `POST /v1/admin/events/{event}/join`: a booking site joins a user it knows; the same user id
/// always gets the same place back.
#[utoipa::path(post, path = "/v1/admin/events/{event}/join", tag = "admin", params(("event" = String, Path, description = "The event's id: 1-64 of A-Z a-z 0-9 _ -", example = "tour")), security(("admin" = [])),
    request_body = TrustedJoin,
    responses((status = 201, description = "A new place", body = JoinAnswer), (status = 200, description = "The place this user holds", body = JoinAnswer), (status = "default", description = "A problem document", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn trusted_join(
    state: web::Data<AppState>,
    event: KnownEvent,
    body: web::Json<TrustedJoin>,
) -> Result<HttpResponse, ApiError> {
    if event.cached.settings().state == EventState::Closed {
        return Err(ApiError::EventClosed(event.id.to_string()));
    }
    let joined = state
        .store
        .join(
            &event.id,
            &body.visitor,
            JoinAs::Trusted,
            unix_ms(),
            event.cached.issued(),
        )
        .await?;
    event.cached.observe_issued(joined.position);
    if joined.fresh {
        state
            .metrics
            .joins
            .with_label_values(&[event.id.as_str()])
            .inc();
    }
    let place = waiting_place(&event.id, &event.cached, joined.position);
    let answer = sign_join(&state, &event, &body.visitor, place, joined.fresh);
    Ok(join_response(&state, &event, &answer, None))
}
