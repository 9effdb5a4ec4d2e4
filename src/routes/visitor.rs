//! The visitor's routes: join, status, leave; and the checks the edge and the booking service make.

use std::sync::Arc;

use actix_web::http::header::{HeaderMap, HeaderName};
use actix_web::{mime, web, HttpRequest, HttpResponse, HttpResponseBuilder, ResponseError};
use serde::{Deserialize, Serialize};

use super::{now_s, parse_event, rfc3339, AppState};
use crate::cache::{CachedEvent, ClaimHere, SignedPass};
use crate::domain::{EventId, EventSettings, EventState, VisitorId};
use crate::estimate::Estimate;
use crate::problem::ApiError;
use crate::store::{Capacity, Claim};
use crate::token::{Claims, TokenError, TokenKind};

/// The routes under `/v1/events/{event}`, but for join, status and gate, which
/// [`super::hot::HotPaths`] answers before the app. Resources rather than bare routes, so a wrong
/// method is a 405 rather than a 404.
pub fn configure_event(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/leave").post(leave))
        .service(web::resource("/complete").post(complete));
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/verify").post(verify));
}

/// What a visitor holding a waiting token is told, on joining and on every status check.
#[derive(Debug, Serialize)]
pub struct Place {
    pub event: EventId,
    /// `waiting`, `admitted` or `expired`.
    pub status: &'static str,
    pub position: u64,
    /// Visitors still waiting before this one.
    pub ahead: u64,
    pub admitted_through: u64,
    /// The event's state: a paused line does not move.
    pub state: EventState,
    /// When to ask again, if push updates are not used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poll_after_ms: Option<u64>,
    /// How long the wait will likely be; absent while the line does not move on its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimate: Option<Estimate>,
    /// Why the place is `expired`: `token-expired` or `claim-window-passed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "verbatim_token_option"
    )]
    pub pass: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pass_expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_url: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct JoinAnswer {
    pub visitor: String,
    /// False when the visitor already held this place (a refresh, a second tab, a known user).
    pub fresh: bool,
    #[serde(serialize_with = "verbatim_token")]
    pub token: String,
    pub expires_at: String,
    #[serde(flatten)]
    pub place: Place,
}

/// Writes a token as a JSON string without the escaping pass: tokens are base64url and dots, which
/// JSON never escapes, and checking every character for escapes cost a join about a twentieth of its
/// time. The raw value is still validated, so a token that needed escaping would be an error, not
/// broken JSON.
fn verbatim_token<S: serde::Serializer>(token: &str, serializer: S) -> Result<S::Ok, S::Error> {
    let raw = serde_json::value::RawValue::from_string(format!("\"{token}\""))
        .map_err(serde::ser::Error::custom)?;
    raw.serialize(serializer)
}

fn verbatim_token_option<S: serde::Serializer>(
    token: &Option<String>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match token {
        Some(token) => verbatim_token(token, serializer),
        None => serializer.serialize_none(),
    }
}

/// A JSON answer written into a buffer large enough from the start: `HttpResponseBuilder::json`
/// starts from 128 bytes, and growing it took three reallocations for a join's answer.
fn json_answer(mut response: HttpResponseBuilder, value: &impl Serialize) -> HttpResponse {
    let mut body = Vec::with_capacity(1_024);
    match serde_json::to_writer(&mut body, value) {
        Ok(()) => response.content_type(mime::APPLICATION_JSON).body(body),
        Err(e) => ApiError::Internal(format!("an answer did not serialise: {e}")).error_response(),
    }
}

/// A poll interval that fits how far the visitor is from the front.
fn poll_after_ms(settings: &EventSettings, ahead: u64) -> u64 {
    if settings.state != EventState::Open || settings.batch_size == 0 {
        return 5_000;
    }
    let interval = settings.release_interval_ms;
    if ahead < settings.batch_size {
        (interval / 4).clamp(500, 2_000)
    } else {
        interval.clamp(1_000, 15_000)
    }
}

fn waiting_place(event: &EventId, cached: &CachedEvent, position: u64) -> Place {
    let settings = cached.settings();
    let admitted = cached.is_admitted(position);
    let ahead = cached.ahead_of(position);
    Place {
        event: event.clone(),
        status: if admitted { "admitted" } else { "waiting" },
        position,
        ahead,
        admitted_through: cached.admitted_through(),
        state: settings.state,
        poll_after_ms: (!admitted).then(|| poll_after_ms(&settings, ahead)),
        estimate: if admitted {
            None
        } else {
            cached.estimate(ahead)
        },
        reason: None,
        pass: None,
        pass_expires_at: None,
        target_url: None,
    }
}

impl AppState {
    /// Signs a waiting token for a place and answers with it, in the body and in the cookie.
    pub(super) fn answer_join(
        &self,
        event: &EventId,
        cached: &CachedEvent,
        visitor: &VisitorId,
        position: u64,
        fresh: bool,
        with_cookie: bool,
    ) -> HttpResponse {
        let ttl = cached.settings().token_ttl_s;
        let (token, claims) =
            self.tokens
                .sign(TokenKind::Waiting, event, visitor, position, now_s(), ttl);
        let mut response = if fresh {
            HttpResponse::Created()
        } else {
            HttpResponse::Ok()
        };
        if with_cookie {
            response.cookie(self.token_cookie(event, &token, ttl));
        }
        let answer = JoinAnswer {
            visitor: visitor.to_string(),
            fresh,
            token,
            expires_at: rfc3339(claims.exp),
            place: waiting_place(event, cached, position),
        };
        json_answer(response, &answer)
    }

    /// Verifies the presented token for `event` and checks its place was not given up.
    pub(super) fn holder(
        &self,
        headers: &HeaderMap,
        event: &EventId,
        cached: &CachedEvent,
    ) -> Result<Claims, ApiError> {
        let token = self
            .presented_token(headers, event)
            .ok_or(ApiError::MissingToken)?;
        self.holder_of(&token, event, cached)
    }

    /// Verifies a token, counting refusals by reason for the metrics.
    pub(super) fn verify_token(
        &self,
        token: &str,
        event: Option<&EventId>,
    ) -> Result<Claims, TokenError> {
        self.tokens.verify(token, event, now_s()).inspect_err(|e| {
            self.metrics
                .token_rejections
                .with_label_values(&[e.reason()])
                .inc();
        })
    }

    /// Verifies `token` for `event` and checks its place was not given up.
    pub(super) fn holder_of(
        &self,
        token: &str,
        event: &EventId,
        cached: &CachedEvent,
    ) -> Result<Claims, ApiError> {
        let claims = self.verify_token(token, Some(event))?;
        if cached.has_left(claims.pos) {
            return Err(ApiError::LeftLine);
        }
        Ok(claims)
    }
}

/// `POST /v1/events/{event}/join`: joins the line, or keeps the place of a visitor who already
/// holds a valid token.
pub(super) async fn join(
    state: &AppState,
    event: &str,
    headers: &HeaderMap,
) -> Result<HttpResponse, ApiError> {
    let event = parse_event(event)?;
    let cached = state.event(&event)?;
    if cached.settings().state == EventState::Closed {
        return Err(ApiError::EventClosed(event.to_string()));
    }
    // Refresh-proof: a visitor who holds a valid place keeps it, and no new number is drawn.
    if let Ok(claims) = state.holder(headers, &event, &cached) {
        if let Ok(visitor) = VisitorId::parse(&claims.sub) {
            return Ok(state.answer_join(&event, &cached, &visitor, claims.pos, false, true));
        }
    }
    // Anonymous visitors never choose their id, so nobody can claim another's place.
    let visitor = VisitorId::generate();
    let joined = state
        .store
        .join(
            &event,
            &visitor,
            false,
            chrono::Utc::now().timestamp_millis(),
        )
        .await?;
    cached.observe_issued(joined.position);
    state
        .metrics
        .joins
        .with_label_values(&[event.as_str()])
        .inc();
    Ok(state.answer_join(&event, &cached, &visitor, joined.position, true, true))
}

/// `GET /v1/events/{event}/status`: where the token's holder stands, with a pass once admitted.
pub(super) async fn status(
    state: &AppState,
    event: &str,
    headers: &HeaderMap,
) -> Result<HttpResponse, ApiError> {
    let event = parse_event(event)?;
    let cached = state.event(&event)?;
    let place = match state.holder(headers, &event, &cached) {
        Ok(claims) => current_place(state, &event, &cached, &claims).await,
        Err(ApiError::InvalidToken(TokenError::Expired(claims))) => {
            expired_place(&event, &cached, claims.pos, "token-expired")
        }
        Err(e) => return Err(e),
    };
    Ok(json_answer(HttpResponse::Ok(), &place))
}

fn expired_place(
    event: &EventId,
    cached: &CachedEvent,
    position: u64,
    reason: &'static str,
) -> Place {
    let mut place = waiting_place(event, cached, position);
    place.status = "expired";
    place.reason = Some(reason);
    place.poll_after_ms = None;
    place.estimate = None;
    place
}

/// The answer for a valid token's holder, with the admission pass once the pointer has passed them.
pub(super) async fn current_place(
    state: &AppState,
    event: &EventId,
    cached: &Arc<CachedEvent>,
    claims: &Claims,
) -> Place {
    let mut place = waiting_place(event, cached, claims.pos);
    if cached.is_admitted(claims.pos)
        && !hand_out_pass(state, event, cached, claims, &mut place).await
    {
        return expired_place(event, cached, claims.pos, "claim-window-passed");
    }
    place
}

/// Adds an admission pass to an admitted visitor's answer. Recording the claim is the one store
/// call on the status path, made once per visitor and replica; if the store is away the pass is
/// handed out all the same. Returns false when the event's claim window passed: the slot went to
/// someone else.
async fn hand_out_pass(
    state: &AppState,
    event: &EventId,
    cached: &Arc<CachedEvent>,
    claims: &Claims,
    place: &mut Place,
) -> bool {
    let settings = cached.settings();
    let now = now_s();
    match cached.claim_here(claims.pos, now) {
        ClaimHere::First => {
            let claimed = state
                .store
                .claim(
                    event,
                    claims.pos,
                    chrono::Utc::now().timestamp_millis(),
                    settings.pass_ttl_s * 1_000,
                    Capacity::of(&settings),
                )
                .await;
            match claimed {
                Ok(Claim::TooLate) => {
                    // Remembered here too, so the next check does not ask the store again.
                    cached.mark_claim_late(claims.pos);
                    state
                        .metrics
                        .no_shows
                        .with_label_values(&[event.as_str()])
                        .inc();
                    return false;
                }
                Ok(_) => {}
                Err(e) => {
                    cached.unclaim(claims.pos);
                    tracing::warn!(%event, position = claims.pos, error = %e, "could not record a claimed pass");
                }
            }
        }
        ClaimHere::Late => return false,
        ClaimHere::Recorded => {}
    }
    let reuse_s = pass_reuse_s(&settings);
    let pass = match cached.recent_pass(claims.pos, now, reuse_s) {
        Some(pass) => pass,
        None => {
            let visitor = VisitorId::parse(&claims.sub).unwrap_or_else(|_| VisitorId::generate());
            let (token, pass_claims) = state.tokens.sign(
                TokenKind::Pass,
                event,
                &visitor,
                claims.pos,
                now,
                settings.pass_ttl_s,
            );
            let pass = Arc::new(SignedPass {
                token,
                issued_at: now,
                expires_at: rfc3339(pass_claims.exp),
            });
            cached.keep_pass(claims.pos, pass.clone(), reuse_s);
            pass
        }
    };
    place.pass = Some(pass.token.clone());
    place.pass_expires_at = Some(pass.expires_at.clone());
    place.target_url = Some(settings.target_url.clone());
    true
}

/// How long a signed pass is handed out again to the visitor asking twice: a tenth of its lifetime,
/// at most 5 seconds, so a pass handed out is never much older than a fresh one.
fn pass_reuse_s(settings: &EventSettings) -> i64 {
    i64::try_from(settings.pass_ttl_s / 10).map_or(5, |s| s.min(5))
}

async fn leave(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let event = parse_event(&path)?;
    let cached = state.event(&event)?;
    let claims = state.holder(req.headers(), &event, &cached)?;
    let visitor = VisitorId::parse(&claims.sub).map_err(|_| TokenError::Malformed)?;
    state.store.leave(&event, claims.pos, &visitor).await?;
    state.cache.mark_left(&event, &cached, claims.pos);
    let mut gone = state.token_cookie(&event, "", 0);
    gone.make_removal();
    Ok(HttpResponse::Ok().cookie(gone).json(serde_json::json!({
        "event": event,
        "status": "left",
        "position": claims.pos,
    })))
}

const VISITOR_HEADER: HeaderName = HeaderName::from_static("x-waitroom-visitor");
const POSITION_HEADER: HeaderName = HeaderName::from_static("x-waitroom-position");

/// `GET /v1/events/{event}/gate`, an edge proxy's sub-request (nginx `auth_request`): 204 for an
/// admission pass or a waiting token the pointer has passed, 401 for anything else. Nothing but the
/// token and the cache is consulted.
pub(super) fn gate(
    state: &AppState,
    event: &str,
    headers: &HeaderMap,
) -> Result<HttpResponse, ApiError> {
    let admitted = || -> Result<Claims, ApiError> {
        let event = parse_event(event)?;
        let cached = state.event(&event)?;
        let claims = state.holder(headers, &event, &cached)?;
        if claims.kind == TokenKind::Pass || cached.is_admitted(claims.pos) {
            Ok(claims)
        } else {
            Err(ApiError::NotAdmitted)
        }
    };
    let claims = admitted().map_err(ApiError::refused)?;
    Ok(HttpResponse::NoContent()
        .insert_header((VISITOR_HEADER, claims.sub))
        .insert_header((POSITION_HEADER, claims.pos))
        .finish())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CompleteRequest {
    /// The visitor's admission pass (or waiting token).
    token: String,
}

/// The booking service is done with a visitor: their slot frees up for the next release.
/// Authenticated with the admin token, as a service-to-service call.
async fn complete(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    body: web::Json<CompleteRequest>,
) -> Result<HttpResponse, ApiError> {
    super::admin::authorize(&state, &req)?;
    let event = parse_event(&path)?;
    state.event(&event)?;
    let claims = match state.verify_token(&body.token, Some(&event)) {
        // A pass that just ran out still names the slot to free.
        Err(TokenError::Expired(claims)) => *claims,
        other => other?,
    };
    let freed = state.store.complete(&event, claims.pos).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "event": event,
        "position": claims.pos,
        "freed": freed,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyRequest {
    token: String,
    /// When given, the token must belong to this event.
    event: Option<String>,
}

/// For the booking service: is this token or pass genuine, and is its holder admitted?
async fn verify(
    state: web::Data<AppState>,
    body: web::Json<VerifyRequest>,
) -> Result<HttpResponse, ApiError> {
    let expected = body.event.as_deref().map(parse_event).transpose()?;
    let claims = state.verify_token(&body.token, expected.as_ref())?;
    let event = parse_event(&claims.aud).map_err(|_| TokenError::Malformed)?;
    let cached = state.cache.get(&event);
    if cached.as_ref().is_some_and(|c| c.has_left(claims.pos)) {
        return Err(ApiError::LeftLine);
    }
    let admitted = claims.kind == TokenKind::Pass
        || cached.as_ref().is_some_and(|c| c.is_admitted(claims.pos));
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "valid": true,
        "admitted": admitted,
        "kind": claims.kind,
        "event": claims.aud,
        "visitor": claims.sub,
        "position": claims.pos,
        "expires_at": rfc3339(claims.exp),
        "claims": claims,
    })))
}
