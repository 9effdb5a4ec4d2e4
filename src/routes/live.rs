//! What the console watches and asks, as admin API routes: an event's figures pushed every second
//! (`feed`, Server-Sent Events), and what a change of its settings would do to the people waiting
//! now (`what-if`, the line played through on the simulator's virtual clock).

use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{web, HttpResponse};
use futures_util::stream;
use serde::Serialize;

use super::admin::view;
use super::extract::KnownEvent;
use super::problem::{ApiError, Problem};
use super::state::AppState;
use crate::domain::{EventSettings, EventState, EventView, Patch, Phase, ScheduleSettings};
use crate::simulate::{self, Arrivals, Behaviour, Scenario, Summary};

/// How often the feed sends the event's figures.
const FEED_EVERY: Duration = Duration::from_secs(1);
/// How far a what-if looks ahead (the simulator steps through it: a few seconds at most).
const WHAT_IF_HORIZON_MS: u64 = 4 * 3600 * 1000;
/// Most people a what-if plays through (a few seconds of one core).
const WHAT_IF_MOST_PEOPLE: u64 = 1_000_000;

/// An event's figures at one moment, as the feed sends them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Figures {
    /// When read (unix ms).
    pub at_ms: i64,
    pub phase: Phase,
    /// The event's settings and counts, as `GET /v1/admin/events/{event}` shows them.
    pub view: EventView,
    /// Visitors let through per minute, as measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pace_per_min: Option<f64>,
    /// How long the last in line will likely wait, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_wait_s: Option<u64>,
    /// Requests for the event this replica refused by a per-client rate limit since it started.
    pub rate_limited: u64,
    /// What is wrong with the store, as readiness says it (`store-unreachable`,
    /// `store-refuses-writes`).
    pub degraded: Vec<&'static str>,
    /// Times this replica found the store had lost the event's data (and restored it).
    pub data_losses: u64,
    /// The commitment (SHA-256, hex) of the seed its draw uses, for an event with a pre-queue or
    /// one that draws at random, and whether the pre-queue was drawn.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub draw_commitment: Option<String>,
    pub drawn: bool,
}

fn figures(state: &AppState, event: &KnownEvent) -> Figures {
    let cached = &event.cached;
    let settings = cached.settings();
    let now = crate::clock::unix_ms();
    let view = view(state, event.id(), cached);
    let waiting = view.waiting + view.in_draw;
    let draw = cached.draw();
    let seed = draw.as_ref().map(|draw| draw.seed).or(cached.pool_seed());
    Figures {
        at_ms: now,
        phase: settings.phase(now),
        pace_per_min: cached.measured_rate_per_minute(crate::clock::now()),
        last_wait_s: (waiting > 0)
            .then(|| cached.estimate(waiting))
            .flatten()
            .map(|estimate| estimate.wait_s),
        rate_limited: cached.refusals(),
        degraded: state.store_health().degraded(),
        data_losses: cached.data_losses(),
        draw_commitment: seed.map(|seed| seed.commitment()),
        drawn: draw.is_some_and(|draw| draw.drawn.is_some()),
        view,
    }
}

/// `GET /v1/admin/events/{event}/feed`.
#[utoipa::path(get, path = "/v1/admin/events/{event}/feed", tag = "console", params(("event" = String, Path, description = "The event's id: 1-64 of A-Z a-z 0-9 _ -", example = "tour")), security(("admin" = [])),
    responses((status = 200, description = "Server-Sent Events: a `figures` event (Figures) every second, until the client goes or the server shuts down", content_type = "text/event-stream", body = Figures), (status = "default", description = "A problem document", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn feed(state: web::Data<AppState>, event: KnownEvent) -> HttpResponse {
    let mut ticks = tokio::time::interval(FEED_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let closing = state.closing.clone();
    let frames = stream::unfold(
        (state, event, ticks, closing),
        |(state, event, mut ticks, mut closing)| async move {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = closing.changed() => return None,
            }
            if *closing.borrow() {
                return None;
            }
            // An event deleted meanwhile ends the feed.
            let event = KnownEvent::find(&state, event.line.event().as_str()).ok()?;
            let json = serde_json::to_string(&figures(&state, &event)).unwrap_or_default();
            let frame = Bytes::from(format!("event: figures\ndata: {json}\n\n"));
            Some((
                Ok::<_, actix_web::Error>(frame),
                (state, event, ticks, closing),
            ))
        },
    );
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(frames)
}

/// How the people waiting now would fare; a figure is left out where it does not come within
/// four hours (a paused event, one released by hand only, a slow pace).
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Fare {
    /// Seconds until the last of them is let in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub empties_in_s: Option<f64>,
    /// The median wait of those let in, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_p50_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_p90_s: Option<f64>,
}

/// What a change would do, against the settings as they are.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WhatIf {
    /// The people waiting now (in line and in the draw), played through as if nobody else came.
    pub waiting: u64,
    /// With the settings as they are.
    pub now: Fare,
    /// With the change.
    pub changed: Fare,
}

/// `POST /v1/admin/events/{event}/what-if`: the people waiting now played through the real
/// scheduler and admission code on a virtual clock, with the settings as they are and as the
/// patch would make them. Nothing is changed.
#[utoipa::path(post, path = "/v1/admin/events/{event}/what-if", tag = "admin", params(("event" = String, Path, description = "The event's id: 1-64 of A-Z a-z 0-9 _ -", example = "tour")), security(("admin" = [])),
    request_body(content = EventSettings, description = "The change to weigh, as a JSON merge patch of the settings (as `PUT` takes it)"),
    responses((status = 200, description = "How the people waiting now fare with the settings as they are and with the change", body = WhatIf), (status = "default", description = "A problem document", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn what_if(
    event: KnownEvent,
    body: web::Json<Patch<EventSettings>>,
) -> Result<HttpResponse, ApiError> {
    let base = event.cached.settings();
    let now_ms = crate::clock::unix_ms();
    let changed = body.apply(&base)?.after(&base, now_ms)?;
    let waiting = event.cached.waiting().min(WHAT_IF_MOST_PEOPLE);
    let played = web::block(move || {
        let now = play(&base, waiting)?;
        let changed = play(&changed, waiting)?;
        Ok::<_, simulate::SimulateError>((now, changed))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("the what-if's thread: {e}")))?
    .map_err(|e| ApiError::InvalidRequest(format!("cannot play this change through: {e}")))?;
    Ok(HttpResponse::Ok().json(WhatIf {
        waiting,
        now: played.0,
        changed: played.1,
    }))
}

/// `waiting` people, all there at the start, through `settings` opened at once.
fn play(settings: &EventSettings, waiting: u64) -> Result<Fare, simulate::SimulateError> {
    if waiting == 0 {
        return Ok(Fare {
            empties_in_s: Some(0.0),
            wait_p50_s: Some(0.0),
            wait_p90_s: Some(0.0),
        });
    }
    // Nobody is let in on a schedule: nothing to play through.
    if settings.release.batch_size == 0 || settings.state != EventState::Open {
        return Ok(Fare::default());
    }
    let settings = EventSettings {
        // The line is there now: no schedule to wait for, no webhooks to tell.
        schedule: ScheduleSettings {
            retain_closed_s: settings.schedule.retain_closed_s,
            ..ScheduleSettings::default()
        },
        webhooks: Vec::new(),
        ..settings.clone()
    };
    let scenario = Scenario {
        name: "what-if".into(),
        settings,
        arrivals: Arrivals(vec![0; usize::try_from(waiting).unwrap_or(usize::MAX)]),
        behaviour: Behaviour {
            session_ms: 0,
            no_show: 0.0,
            leave_per_min: 0.0,
            seed: 1,
        },
        horizon_ms: WHAT_IF_HORIZON_MS,
        changes: Vec::new(),
    };
    let summary = Summary::of(&simulate::run(&scenario)?);
    let anyone = summary.admitted > 0;
    Ok(Fare {
        empties_in_s: (summary.still_waiting == 0)
            .then(|| summary.emptied_at_s.unwrap_or(summary.wait_max_s)),
        wait_p50_s: anyone.then_some(summary.wait_p50_s),
        wait_p90_s: anyone.then_some(summary.wait_p90_s),
    })
}
