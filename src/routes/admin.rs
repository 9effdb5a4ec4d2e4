//! The admin API (`/v1/admin/*`): events, manual release, and joins on behalf of known users. The
//! admin credential is checked by the scope's middleware ([`super::auth::require_admin`]).

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::extract::{KnownEvent, PathEvent};
use super::problem::{ApiError, Problem};
use super::state::AppState;
use super::visitor::{check_joinable, join_answer, join_response, take_place, JoinAnswer};
use crate::admission::{self, Held};
use crate::cache::CachedEvent;
use crate::domain::{
    EnqueueCode, EventId, EventPolicy, EventSettings, EventState, EventView, LaneName, LaneView,
    LineId, Patch, SettingsError, VisitorId,
};
use crate::store::{put_event_and_lanes, AdvanceMode, JoinAs, PutMode};
use crate::token::TokenKind;

/// Most visitors one manual advance may admit.
const MAX_ADVANCE: u64 = 100_000;

pub(super) fn view(state: &AppState, event: &EventId, cached: &CachedEvent) -> EventView {
    let figures = cached.figures();
    let settings = cached.settings();
    let lane_lines = settings
        .ordering
        .lanes
        .iter()
        .enumerate()
        .map(|(index, lane)| {
            let line = if index == 0 {
                None
            } else {
                state
                    .cache
                    .get(&LineId::of_lane(event.clone(), lane.name.clone()))
            };
            let line = line.as_deref().unwrap_or(cached);
            let figures = line.figures();
            LaneView {
                lane: lane.name.to_string(),
                share: lane.share,
                issued: figures.issued,
                admitted_through: figures.admitted_through,
                left: figures.left,
                waiting: line.ahead_of(figures.issued + 1),
            }
        })
        .collect();
    EventView {
        lane_lines,
        event: event.clone(),
        settings: (*cached.settings()).clone(),
        issued: figures.issued,
        admitted_through: figures.admitted_through,
        left: figures.left,
        waiting: cached.ahead_of(figures.issued + 1),
        in_draw: cached.pool_waiting(),
        drained_through: figures.drained_through,
        drain_lag: figures
            .admitted_through
            .saturating_sub(figures.drained_through),
        active: figures.active,
    }
}

/// Re-reads the event (and its lanes' lines) from the store so admins see current figures, not this
/// replica's cache.
async fn fresh(state: &AppState, event: &EventId) -> Result<Arc<CachedEvent>, ApiError> {
    let own = LineId::from(event);
    state.cache.refresh(state.store.as_ref(), &own).await?;
    let cached = state
        .cache
        .get(&own)
        .ok_or_else(|| ApiError::UnknownEvent(event.to_string()))?;
    for (_, line) in cached.settings().lane_lines(event) {
        state.cache.refresh(state.store.as_ref(), &line).await?;
    }
    Ok(cached)
}

/// `GET /v1/admin/events`: every event with its figures.
#[utoipa::path(get, path = "/v1/admin/events", tag = "admin", security(("admin" = [])),
    responses((status = 200, description = "Every event with its figures", body = Vec<EventView>), (status = "default", description = "A problem document", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn list_events(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let mut views = Vec::new();
    for line in state.store.events().await? {
        // Lanes' lines show with their event.
        if !line.is_lane() {
            let event = line.event();
            views.push(view(&state, event, &*fresh(&state, event).await?));
        }
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
    Ok(HttpResponse::Ok().json(view(&state, &event, &*fresh(&state, &event).await?)))
}

/// `DELETE /v1/admin/events/{event}`: the event and all its data, at once (closed events' data goes by
/// itself `retain_closed_s` after closing). Its tokens are refused as for an unknown event.
#[utoipa::path(delete, path = "/v1/admin/events/{event}", tag = "admin", params(("event" = String, Path, description = "The event's id: 1-64 of A-Z a-z 0-9 _ -", example = "tour")), security(("admin" = [])),
    responses((status = 204, description = "Deleted, with all its data, on every replica"), (status = "default", description = "A problem document", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn delete_event(
    state: web::Data<AppState>,
    PathEvent(event): PathEvent,
) -> Result<HttpResponse, ApiError> {
    let own = LineId::from(&event);
    if let Some(cached) = state.cache.get(&own) {
        for (_, line) in cached.settings().lane_lines(&event) {
            state.store.delete_event(&line).await?;
            state.cache.forget(&line);
        }
    }
    let existed = state.store.delete_event(&own).await?;
    state.cache.forget(&own);
    tracing::info!(%event, existed, "deleted the event and its data");
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
    patch: &Patch<EventSettings>,
) -> Result<HttpResponse, ApiError> {
    let own = LineId::from(event);
    let existing = state.store.snapshot(&own).await?;
    let created = existing.is_none();
    let held = Held {
        issued: existing.as_ref().map_or(0, |s| s.figures.issued),
        in_pool: existing
            .as_ref()
            .and_then(|s| s.pool)
            .map_or(0, |pool| pool.waiting),
    };
    let base = existing.map(|s| s.settings).unwrap_or_default();
    let now_ms = crate::clock::unix_ms();
    let settings = patch.apply(&base)?;
    if let Some(past) = settings.past_times(&base, now_ms) {
        return Err(past.into());
    }
    let settings = settings.after(&base, now_ms)?;
    if !settings.webhooks.is_empty() && !state.webhooks_signed {
        return Err(SettingsError {
            field: "webhooks",
            reason: crate::config::UNSIGNED_WEBHOOKS.into(),
        }
        .into());
    }
    let before = EventPolicy::of(&base);
    let old_lanes: Vec<LaneName> = base
        .ordering
        .lanes
        .iter()
        .map(|lane| lane.name.clone())
        .collect();
    let new_lanes: Vec<&LaneName> = settings
        .ordering
        .lanes
        .iter()
        .map(|lane| &lane.name)
        .collect();
    let lanes_renamed = !old_lanes.is_empty() && old_lanes.iter().collect::<Vec<_>>() != new_lanes;
    if lanes_renamed && anyone_joined(state, event, held.issued, &old_lanes).await? {
        return Err(SettingsError {
            field: "lanes",
            reason: "cannot be renamed, reordered or removed once visitors joined them; their \
                     shares can change"
                .into(),
        }
        .into());
    }
    let plan = admission::switching(&before, &EventPolicy::of(&settings), held)?;
    put_event_and_lanes(state.store.as_ref(), event, &settings, PutMode::Upsert).await?;
    tracing::info!(%event, created, change = %serde_json::to_string(patch).unwrap_or_default(), "event settings changed");
    for gone in old_lanes
        .iter()
        .skip(1)
        .filter(|name| !new_lanes.contains(name))
    {
        let line = LineId::of_lane(event.clone(), gone.clone());
        state.store.delete_event(&line).await?;
        state.cache.forget(&line);
    }
    admission::carry_out(state.store.as_ref(), &own, &plan).await?;
    let cached = fresh(state, event).await?;
    // The turn this change took (paused, resumed, closed) is told now: one undone before the
    // webhook workers' next look would go untold. Should the store fail, they tell it later.
    if let Err(e) =
        crate::webhooks::tell_turns(state.store.as_ref(), &state.cache, &own, &cached).await
    {
        tracing::warn!(%event, error = %e, "could not queue the webhook notice of a change");
    }
    let mut response = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(response.json(view(state, event, &cached)))
}

/// Whether anyone joined the event's own line (`issued` places) or one of its lanes'.
async fn anyone_joined(
    state: &AppState,
    event: &EventId,
    issued: u64,
    lanes: &[LaneName],
) -> Result<bool, ApiError> {
    if issued > 0 {
        return Ok(true);
    }
    for lane in lanes.iter().skip(1) {
        let line = LineId::of_lane(event.clone(), lane.clone());
        let line = state.store.snapshot(&line).await?;
        if line.is_some_and(|line| line.figures.issued > 0) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `PUT /v1/admin/events/{event}`: creates the event or changes its settings.
#[utoipa::path(put, path = "/v1/admin/events/{event}", tag = "admin", params(("event" = String, Path, description = "The event's id: 1-64 of A-Z a-z 0-9 _ -", example = "tour")), security(("admin" = [])),
    request_body(content = EventSettings, description = "The settings to change, as a JSON merge patch (RFC 7396): the fields named replace the event's, objects merge field by field, `null` puts a setting back to its default; read-only fields are refused. A new event starts from the defaults."),
    responses((status = 201, description = "Created", body = EventView), (status = 200, description = "Updated", body = EventView), (status = "default", description = "A problem document", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn put_event(
    state: web::Data<AppState>,
    PathEvent(event): PathEvent,
    body: web::Json<Patch<EventSettings>>,
) -> Result<HttpResponse, ApiError> {
    update(&state, &event, &body).await
}

async fn set_state(
    state: &AppState,
    event: KnownEvent,
    to: EventState,
) -> Result<HttpResponse, ApiError> {
    let patch = Patch::default().with("state", to);
    update(state, event.id(), &patch).await
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

/// Most enqueue codes one request issues.
const MAX_CODES: u64 = 100_000;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CodesRequest {
    /// How many codes to issue: 1-100,000.
    count: u64,
}

/// Enqueue codes, as issued: shown once, kept only as digests.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct IssuedCodes {
    codes: Vec<String>,
}

/// `POST /v1/admin/events/{event}/codes`: issues `count` single-use enqueue codes for an
/// invite-only event (each gives one place; the store keeps only their SHA-256).
#[utoipa::path(post, path = "/v1/admin/events/{event}/codes", tag = "admin", params(("event" = String, Path, description = "The event's id: 1-64 of A-Z a-z 0-9 _ -", example = "tour")), security(("admin" = [])),
    request_body = CodesRequest,
    responses((status = 201, description = "The new codes (shown this once)", body = IssuedCodes), (status = "default", description = "A problem document", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn issue_codes(
    state: web::Data<AppState>,
    event: KnownEvent,
    body: web::Json<CodesRequest>,
) -> Result<HttpResponse, ApiError> {
    if !(1..=MAX_CODES).contains(&body.count) {
        return Err(ApiError::InvalidRequest(format!(
            "`count` is {}; it must be between 1 and {MAX_CODES}",
            body.count
        )));
    }
    let codes: Vec<EnqueueCode> = (0..body.count).map(|_| EnqueueCode::generate()).collect();
    let digests: Vec<[u8; 32]> = codes.iter().map(EnqueueCode::digest).collect();
    state.store.add_codes(&event.own_line(), &digests).await?;
    tracing::info!(event = %event.id(), count = body.count, "enqueue codes issued");
    let codes = codes.iter().map(|code| code.as_str().to_owned()).collect();
    Ok(HttpResponse::Created().json(IssuedCodes { codes }))
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
    if !admission::intake_of(&event.cached.policy()).releasable(&event.cached) {
        return Err(ApiError::NotDrawnYet(event.id().to_string()));
    }
    admission::release(
        state.store.as_ref(),
        &state.cache,
        &event.line,
        &event.cached,
        body.by,
        AdvanceMode::Manual,
    )
    .await?;
    tracing::info!(event = %event.id(), by = body.by, "admitted by hand");
    Ok(HttpResponse::Ok().json(view(&state, event.id(), &event.cached)))
}

/// The line of the event's lane `lane`: its own for the first lane (or none named).
fn lane_of(
    state: &AppState,
    event: KnownEvent,
    lane: Option<&str>,
) -> Result<KnownEvent, ApiError> {
    let Some(lane) = lane else {
        return Ok(event);
    };
    let settings = event.cached.settings();
    match settings
        .ordering
        .lanes
        .iter()
        .position(|known| known.name.as_str() == lane)
    {
        Some(0) => Ok(event),
        Some(index) => {
            let line = LineId::of_lane(
                event.id().clone(),
                settings.ordering.lanes[index].name.clone(),
            );
            let cached = state
                .cache
                .get(&line)
                .ok_or_else(|| ApiError::UnknownEvent(line.to_string()))?;
            Ok(KnownEvent { line, cached })
        }
        None => Err(ApiError::InvalidRequest(format!(
            "event `{}` has no lane {lane:?}",
            event.id()
        ))),
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TrustedJoin {
    /// The booking site's id of its user: 1-128 of A-Z a-z 0-9 _ - . : @
    #[schema(value_type = String)]
    visitor: VisitorId,
    /// For an event with lanes: which one (the first, where anonymous visitors go, when left out).
    #[serde(default)]
    lane: Option<String>,
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
    join_known_user(&state, event, &body).await
}

/// A trusted join, for the admin's route and the booking service's alike.
pub(super) async fn join_known_user(
    state: &AppState,
    event: KnownEvent,
    body: &TrustedJoin,
) -> Result<HttpResponse, ApiError> {
    let event = lane_of(state, event, body.lane.as_deref())?;
    check_joinable(&event)?;
    let joined = take_place(state, &event, &body.visitor, JoinAs::Trusted).await?;
    // The store says whether the place it holds for this user is an arrival number: a held place
    // may have been drawn a moment ago, before this replica heard of it.
    let kind = if joined.arrival {
        TokenKind::Prequeue
    } else {
        TokenKind::Waiting
    };
    let answer = join_answer(state, &event, &body.visitor, kind, joined).await?;
    Ok(join_response(state, &event, &answer, None))
}
