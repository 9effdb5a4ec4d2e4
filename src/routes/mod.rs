//! The HTTP API. Visitor-facing routes answer from the token and this replica's pointer cache; only
//! joining, leaving and collecting a pass touch the store.

mod admin;
mod page;
mod updates;
mod visitor;

use std::sync::Arc;

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::cache::{CachedEvent, PointerCache};
use crate::config::SecretString;
use crate::domain::EventId;
use crate::problem::ApiError;
use crate::store::Store;
use crate::token::Tokens;

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
    fn presented_token(&self, req: &HttpRequest, event: Option<&EventId>) -> Option<String> {
        let bearer = bearer(req).map(str::to_owned);
        bearer.or_else(|| {
            event
                .and_then(|event| req.cookie(&self.cookie_name(event)))
                .map(|c| c.value().to_owned())
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
fn bearer(req: &HttpRequest) -> Option<&str> {
    req.headers()
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
    .route("/", web::get().to(index))
    .route("/healthz", web::get().to(healthz))
    .route("/demo/admitted", web::get().to(demo_admitted))
    .configure(visitor::configure)
    .configure(updates::configure)
    .configure(page::configure)
    .configure(admin::configure);
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

/// The demo event's target: where a real deployment would send visitors to its booking site.
async fn demo_admitted() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body("<!doctype html><title>Admitted</title><h1>You are through.</h1><p>This is where the booking site takes over; it checks the pass with <code>POST /v1/verify</code>.</p>")
}
