//! The operator's routes: the index, health and readiness probes, metrics, and the demo's target.

use std::sync::atomic::Ordering;
use std::time::Duration;

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde_json::json;

use serde::Serialize;
use utoipa::ToSchema;

use super::problem::{Problem, PROBLEM_JSON, TYPE_PREFIX};
use super::state::AppState;
use crate::store::Store;

/// How long readiness waits for the store before calling it unreachable.
const STORE_PROBE_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Index {
    service: &'static str,
    events: Vec<IndexedEvent>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct IndexedEvent {
    event: String,
    join: String,
    status: String,
}

/// `GET /`: the events this replica serves and where to join them.
#[utoipa::path(get, path = "/", tag = "operations",
    responses((status = 200, description = "The events served here", body = Index)))]
pub(super) async fn index(state: web::Data<AppState>) -> HttpResponse {
    let events = state
        .cache
        .event_ids()
        .into_iter()
        .filter(|e| !e.is_lane())
        .map(|e| IndexedEvent {
            join: format!("/v1/events/{e}/join"),
            status: format!("/v1/events/{e}/status"),
            event: e.to_string(),
        })
        .collect();
    HttpResponse::Ok().json(Index {
        service: "waitroom",
        events,
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Health {
    status: &'static str,
}

/// `GET /healthz`: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process answers", body = Health)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Readiness {
    ready: bool,
    /// `store-unreachable`, `store-refuses-writes`.
    degraded: Vec<&'static str>,
    checks: serde_json::Value,
}

/// `GET /readyz`: whether this replica can serve visitors: not shutting down, the pointer cache
/// synced, and synced lately. Whether the store answers comes from a background ping once a second
/// ([`crate::store::StoreProbe`]), never from the request. The store being away or refusing writes does not make it unready
/// (status and gate answer from the cache, and every replica shares the store, so taking them all out
/// of the load balancer would only turn a degraded service into none): the details say so.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, description = "Ready (perhaps degraded: see `degraded`)", body = Readiness),
    (status = 503, description = "Not ready", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let serving = state.ready.load(Ordering::Acquire);
    let cache = state.cache.is_warm();
    let since_sync = state.cache.since_synced();
    let fresh = since_sync.is_some_and(|age| age < state.ready_stale_after);
    let health = state.store_health();
    let ready = serving && cache && fresh;
    let degraded = health.degraded();
    // Said, not failed on: a store that lost data was restored from what the replicas knew.
    let data_loss = state.cache.last_data_loss();
    let checks = json!({
        "serving": serving,
        "pointer_cache": cache,
        "pointer_cache_synced_s_ago": since_sync.map(|age| age.as_secs_f64()),
        "store": health.reachable,
        "store_writes_failing": health.writes_failing,
        "keys": true,
        "store_data_lost": data_loss,
    });
    if ready {
        HttpResponse::Ok().json(Readiness {
            ready: true,
            degraded,
            checks,
        })
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header((header::CONTENT_TYPE, PROBLEM_JSON))
            .json(json!({
                "type": format!("{TYPE_PREFIX}not-ready"),
                "title": "Not ready",
                "status": 503,
                "detail": "this replica is not ready to take traffic",
                "degraded": degraded,
                "checks": checks,
            }))
    }
}

/// Whether the store answers a ping in time.
pub async fn store_reachable(store: &dyn Store) -> bool {
    matches!(
        tokio::time::timeout(STORE_PROBE_TIMEOUT, store.ping()).await,
        Ok(Ok(()))
    )
}

/// `GET /metrics`: the Prometheus exposition, per-event gauges read from the cache now.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain")))]
pub(super) async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    exposition(
        state
            .metrics
            .render(&state.cache.readings(), state.metrics_events),
    )
}

/// A Prometheus text exposition as an answer.
pub fn exposition(text: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text)
}

/// `GET /.well-known/jwks.json`: the public keys that verify passes (RFC 7517), for the booking
/// service and the edge. Cached for five minutes: a new key is published before it signs (add it,
/// then make it `pass_key`) and an old one stays until the passes it signed expired.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "tokens",
    responses((status = 200, description = "The public keys that verify EdDSA passes (RFC 7517)", body = Object, content_type = "application/jwk-set+json")))]
pub(super) async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/jwk-set+json")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .body(state.tokens.jwks().to_owned())
}

/// `GET /demo/admitted`, the demo event's target: where a real deployment would send visitors to
/// its booking site.
#[utoipa::path(get, path = "/demo/admitted", tag = "operations",
    responses((status = 200, description = "The demo event's target page", body = String, content_type = "text/html")))]
pub(super) async fn demo_admitted() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(concat!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">",
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
            "<title>Admitted</title></head><body><main><h1>You are through.</h1>",
            "<p>This is where the booking site takes over; it checks the pass with ",
            "<code>POST /v1/verify</code>.</p></main></body></html>"
        ))
}
