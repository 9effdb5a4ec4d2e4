//! The HTTP API. Visitor-facing routes answer from the token and this replica's pointer cache; only
//! joining, leaving and collecting a pass touch the store.

mod admin;
mod hot;
mod page;
mod updates;
mod visitor;

use std::borrow::Cow;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use serde_json::json;
use tokio::sync::watch;
use tracing::Instrument;

use crate::cache::{CachedEvent, PointerCache};
use crate::config::SecretString;
use crate::domain::EventId;
use crate::metrics::{Metrics, RequestTimers};
use crate::problem::ApiError;
use crate::store::Store;
use crate::token::Tokens;

pub use hot::HotPaths;

/// Largest request body accepted, in bytes: every request body here is a small JSON object.
pub const BODY_LIMIT: usize = 16 * 1024;

/// What every handler shares.
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub cache: Arc<PointerCache>,
    pub tokens: Tokens,
    pub admin_token: Option<SecretString>,
    pub cookie_prefix: String,
    pub cookie_secure: bool,
    pub metrics: Arc<Metrics>,
    /// False once shutdown started.
    pub ready: Arc<AtomicBool>,
    /// Whether readiness depends on reaching Redis.
    pub uses_redis: bool,
    /// Turns true when push streams must close.
    pub closing: watch::Receiver<bool>,
}

impl AppState {
    /// The cached event, or 404: only configured events queue anyone.
    fn event(&self, event: &EventId) -> Result<Arc<CachedEvent>, ApiError> {
        self.cache
            .get(event)
            .ok_or_else(|| ApiError::UnknownEvent(event.to_string()))
    }

    fn cookie_name(&self, event: &EventId) -> String {
        format!("{}{}", self.cookie_prefix, event)
    }

    /// The token the client presented: `Authorization: Bearer` first, then the event's cookie.
    fn presented_token<'r>(&self, headers: &'r HeaderMap, event: &EventId) -> Option<Cow<'r, str>> {
        bearer(headers).map(Cow::Borrowed).or_else(|| {
            let is_ours =
                |name: &str| name.strip_prefix(self.cookie_prefix.as_str()) == Some(event.as_str());
            headers
                .get_all(header::COOKIE)
                .filter_map(|value| value.to_str().ok())
                .flat_map(|value| value.split(';'))
                .filter_map(|pair| Cookie::parse_encoded(pair.trim()).ok())
                .find(|cookie| is_ours(cookie.name()))
                .map(|cookie| Cow::Owned(cookie.value().to_owned()))
        })
    }

    fn token_cookie(&self, event: &EventId, token: &str, ttl_s: u64) -> Cookie<'static> {
        Cookie::build(self.cookie_name(event), token.to_owned())
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.cookie_secure)
            .max_age(CookieDuration::seconds(
                i64::try_from(ttl_s).unwrap_or(i64::MAX),
            ))
            .finish()
    }
}

/// The token of an `Authorization: Bearer <token>` header, if there is one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

fn parse_event(raw: &str) -> Result<EventId, ApiError> {
    Ok(EventId::parse(raw)?)
}

fn now_s() -> i64 {
    chrono::Utc::now().timestamp()
}

fn rfc3339(unix_s: i64) -> String {
    chrono::DateTime::from_timestamp(unix_s, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(BODY_LIMIT)
            .error_handler(|err, _req| json_error(err).into()),
    )
    .app_data(web::PayloadConfig::new(BODY_LIMIT))
    .app_data(web::PathConfig::default().error_handler(|err, _req| {
        ApiError::InvalidRequest(format!("malformed path: {err}")).into()
    }))
    // The hot paths first, in one scope: a single pattern match to enter it, then plain comparisons
    // (every dynamic pattern costs a regex match per request).
    .service(
        web::scope("/v1/events/{event}")
            .configure(visitor::configure_event)
            .configure(updates::configure_event)
            .configure(page::configure_event),
    )
    .configure(visitor::configure)
    .configure(page::configure)
    .configure(admin::configure)
    .route("/", web::get().to(index))
    .route("/healthz", web::get().to(healthz))
    .route("/readyz", web::get().to(readyz))
    .route("/metrics", web::get().to(metrics))
    .route("/demo/admitted", web::get().to(demo_admitted));
}

fn json_error(err: actix_web::error::JsonPayloadError) -> ApiError {
    use actix_web::error::JsonPayloadError as E;
    match err {
        E::Overflow { limit } | E::OverflowKnownLength { limit, .. } => {
            ApiError::PayloadTooLarge(limit)
        }
        E::ContentType => ApiError::InvalidJson(
            "the body must be JSON, sent as `Content-Type: application/json`".into(),
        ),
        E::Deserialize(e) => {
            ApiError::InvalidJson(format!("the body is not the JSON expected: {e}"))
        }
        other => ApiError::InvalidJson(format!("the body could not be read: {other}")),
    }
}

async fn index(state: web::Data<AppState>) -> HttpResponse {
    let events: Vec<_> = state
        .cache
        .event_ids()
        .into_iter()
        .map(|e| {
            json!({
                "event": e,
                "join": format!("/v1/events/{e}/join"),
                "status": format!("/v1/events/{e}/status"),
            })
        })
        .collect();
    HttpResponse::Ok().json(json!({ "service": "waitroom", "events": events }))
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Ready to take traffic: not shutting down, the pointer cache synced, and Redis (when used) reachable.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let serving = state.ready.load(Ordering::Acquire);
    let cache = state.cache.is_warm();
    let store = if state.uses_redis {
        matches!(
            tokio::time::timeout(std::time::Duration::from_secs(1), state.store.ping()).await,
            Ok(Ok(()))
        )
    } else {
        true
    };
    let ready = serving && cache && store;
    let body = json!({
        "ready": ready,
        "checks": { "serving": serving, "pointer_cache": cache, "store": store, "keys": true },
    });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header((header::CONTENT_TYPE, crate::problem::PROBLEM_JSON))
            .json(json!({
                "type": format!("{}not-ready", crate::problem::TYPE_PREFIX),
                "title": "Not ready",
                "status": 503,
                "detail": "this replica is not ready to take traffic",
                "checks": body["checks"],
            }))
    }
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render(&state.cache))
}

/// The route a path belongs to, for metrics and logs: derived from the path's shape rather than by
/// matching every route pattern again, and from a fixed set, so labels stay few.
fn route_label(path: &str) -> &'static str {
    let mut parts = path.trim_start_matches('/').split('/');
    match (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        (Some("v1"), Some("events"), Some(_), action, None) => match action {
            None | Some("") => "/v1/events/{event}",
            Some("status") => "/v1/events/{event}/status",
            Some("gate") => "/v1/events/{event}/gate",
            Some("join") => "/v1/events/{event}/join",
            Some("leave") => "/v1/events/{event}/leave",
            Some("stream") => "/v1/events/{event}/stream",
            Some("complete") => "/v1/events/{event}/complete",
            Some(_) => "other",
        },
        (Some("v1"), Some("verify"), None, ..) => "/v1/verify",
        (Some("v1"), Some("admin"), ..) => "/v1/admin",
        (Some("e"), Some(_), None, ..) => "/e/{event}",
        (Some("assets"), ..) => "/assets",
        (Some("healthz"), None, ..) => "/healthz",
        (Some("readyz"), None, ..) => "/readyz",
        (Some("metrics"), None, ..) => "/metrics",
        (Some(""), None, ..) => "/",
        _ => "other",
    }
}

const REQUEST_ID: header::HeaderName = header::HeaderName::from_static("x-request-id");

/// The id of a request: the edge's `X-Request-Id` when it is a sane one, else 16 random hex digits.
fn request_id(headers: &HeaderMap) -> header::HeaderValue {
    let given = headers.get(&REQUEST_ID).filter(|id| {
        let id = id.as_bytes();
        (1..=64).contains(&id.len()) && id.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
    });
    match given {
        Some(id) => id.clone(),
        None => {
            let hex = crate::domain::lower_hex::<16>(rand::random::<u64>().into());
            header::HeaderValue::from_bytes(&hex).expect("hex digits are a valid header value")
        }
    }
}

/// A request being served, from its arrival to its answer: the id it is known by, the route it is
/// counted under (never the raw URL: query strings may carry tokens), and when it came in.
struct Observed {
    started: std::time::Instant,
    request_id: header::HeaderValue,
    route: &'static str,
    method: Method,
    /// At debug level: at info, creating and entering a span per request cost about a tenth of a
    /// status check's CPU time.
    span: tracing::Span,
}

impl Observed {
    fn new(headers: &HeaderMap, method: &Method, path: &str) -> Self {
        let request_id = request_id(headers);
        let route = route_label(path);
        let span = tracing::debug_span!(
            "request",
            id = request_id.to_str().unwrap_or_default(),
            %method,
            route
        );
        Self {
            started: std::time::Instant::now(),
            request_id,
            route,
            method: method.clone(),
            span,
        }
    }

    /// Tags the answer with the request id, times it for the metrics, and logs refusals and
    /// failures (with `error`, what went wrong in a failure).
    fn finish(
        self,
        status: StatusCode,
        headers: &mut HeaderMap,
        timers: Option<&RequestTimers>,
        error: Option<String>,
    ) {
        let elapsed = self.started.elapsed();
        if let Some(timers) = timers {
            timers.observe(self.route, status, elapsed.as_secs_f64());
        }
        let latency_ms = elapsed.as_secs_f64() * 1_000.0;
        let code = status.as_u16();
        let (id, method, route) = (
            self.request_id.to_str().unwrap_or_default(),
            &self.method,
            self.route,
        );
        let _entered = self.span.enter();
        if status.is_server_error() {
            tracing::warn!(request_id = id, %method, route, status = code, latency_ms, error, "request failed");
        } else if status.is_client_error() {
            tracing::info!(request_id = id, %method, route, status = code, latency_ms, "request refused");
        } else {
            tracing::debug!(request_id = id, %method, route, status = code, latency_ms, "request served");
        }
        headers.insert(REQUEST_ID, self.request_id.clone());
    }
}

/// Gives each request an id (kept from `X-Request-Id` when the edge set a sane one), makes every
/// error answer a problem document ([`crate::problem::ensure_problem`]), logs refused and failed
/// requests with the id, and times every request for the metrics. [`hot::HotPaths`] does the same
/// for the requests it answers before the app.
pub async fn observe_request(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let observed = Observed::new(req.headers(), req.method(), req.path());
    let timers = req.app_data::<Rc<RequestTimers>>().cloned();
    let response = next.call(req).instrument(observed.span.clone()).await?;
    let mut response = crate::problem::ensure_problem(response);
    let status = response.status();
    let failure = status
        .is_server_error()
        .then(|| response.response().error().map(ToString::to_string))
        .flatten();
    observed.finish(status, response.headers_mut(), timers.as_deref(), failure);
    Ok(response)
}

/// The demo event's target: where a real deployment would send visitors to its booking site.
async fn demo_admitted() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body("<!doctype html><title>Admitted</title><h1>You are through.</h1><p>This is where the booking site takes over; it checks the pass with <code>POST /v1/verify</code>.</p>")
}
