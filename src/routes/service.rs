//! The booking service's calls: `verify` a token or pass, `consume` a single-use pass, `complete` a
//! visitor's visit. Consume and complete are behind the service credential
//! ([`super::auth::require_service`]).

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{placed, token_line, verify_token, Holder, KnownEvent};
use super::problem::{ApiError, Problem};
use super::state::AppState;
use std::sync::Arc;

use super::entry::{consume_pass, may_enter, renewed_pass, Use};
use crate::cache::CachedEvent;
use crate::clock::rfc3339;
use crate::domain::{EventId, LineId};
use crate::store::Claim;
use crate::token::{Claims, TokenError, TokenKind};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ConsumeRequest {
    /// The visitor's admission pass.
    pass: String,
    /// When given, the pass must belong to this event.
    event: Option<String>,
}

/// A pass consumed: whom it let in.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Consumed {
    #[schema(value_type = String)]
    event: EventId,
    visitor: String,
    position: u64,
    expires_at: String,
}

/// `POST /v1/passes/consume`: the first call for a genuine pass answers 200 with its holder; every
/// later one 409 `pass-used`, so one admission lets one person in.
#[utoipa::path(post, path = "/v1/passes/consume", tag = "booking service", request_body = ConsumeRequest,
    security(("bearer" = [])),
    responses((status = 200, description = "Consumed now: its holder may enter", body = Consumed), (status = "default", description = "A problem document", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn consume(
    state: web::Data<AppState>,
    body: web::Json<ConsumeRequest>,
) -> Result<HttpResponse, ApiError> {
    let expected = body.event.as_deref().map(EventId::parse).transpose()?;
    let claims = verify_token(&state, &body.pass, expected.as_ref())?;
    if claims.kind != TokenKind::Pass {
        return Err(ApiError::NotAPass);
    }
    let (event, cached, claims) = token_event(&state, claims)?;
    may_enter(&state, &event, &cached, &claims, Use::Check).await?;
    consume_pass(&state, &event, &claims).await?;
    Ok(HttpResponse::Ok().json(Consumed {
        event: event.event().clone(),
        visitor: claims.sub.clone(),
        position: claims.pos,
        expires_at: rfc3339(claims.exp),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CompleteRequest {
    /// The visitor's admission pass (or waiting token).
    token: String,
}

/// A visit reported complete.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Completed {
    #[schema(value_type = String)]
    event: EventId,
    position: u64,
    /// Whether the visitor held a slot (events with `max_active`), now free.
    freed: bool,
}

/// `POST /v1/events/{event}/trusted-join`: the booking site joins a user it signed in, with its own
/// credential (the admin's route does the same): the same user id always gets the same place back,
/// so a person has one place however many browsers or addresses they use. The answer's token goes
/// to the user's browser as `/e/{event}#token=…`.
#[utoipa::path(post, path = "/v1/events/{event}/trusted-join", tag = "booking service", params(("event" = String, Path, description = "The event's id: 1-64 of A-Z a-z 0-9 _ -", example = "tour")),
    request_body = super::admin::TrustedJoin, security(("bearer" = [])),
    responses((status = 201, description = "A new place", body = super::visitor::JoinAnswer), (status = 200, description = "The place this user holds", body = super::visitor::JoinAnswer), (status = "default", description = "A problem document", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn trusted_join(
    state: web::Data<AppState>,
    event: KnownEvent,
    body: web::Json<super::admin::TrustedJoin>,
) -> Result<HttpResponse, ApiError> {
    super::admin::join_known_user(&state, event, &body).await
}

/// `POST /v1/events/{event}/complete`: the booking service is done with a visitor, and their slot
/// frees up for the next release.
#[utoipa::path(post, path = "/v1/events/{event}/complete", tag = "booking service", params(("event" = String, Path, description = "The event's id: 1-64 of A-Z a-z 0-9 _ -", example = "tour")),
    request_body = CompleteRequest, security(("bearer" = [])),
    responses((status = 200, description = "The visit is over: the slot is free, the pass lets nobody in again", body = Completed), (status = "default", description = "A problem document", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn complete(
    state: web::Data<AppState>,
    event: KnownEvent,
    body: web::Json<CompleteRequest>,
) -> Result<HttpResponse, ApiError> {
    let claims = match verify_token(&state, &body.token, Some(event.id())) {
        // A pass that just ran out still names the slot to free.
        Err(TokenError::Expired(claims)) => claims,
        other => other?,
    };
    let Holder { claims, lane } = placed(&state, &event, claims)?;
    let event = lane.unwrap_or(event);
    if claims.kind == TokenKind::Prequeue {
        return Err(ApiError::NotAdmitted);
    }
    let freed = state.store.complete(&event.line, claims.pos).await?;
    // Refused here at once; other replicas are told through the store.
    event.cached.record_claim(claims.pos, Claim::Completed);
    Ok(HttpResponse::Ok().json(Completed {
        event: event.id().clone(),
        position: claims.pos,
        freed,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct VerifyRequest {
    token: String,
    /// When given, the token must belong to this event.
    event: Option<String>,
}

/// The event a genuine token belongs to, as this replica knows it, unless its holder left; and the
/// token's claims as the event reads them (a drawn pre-queue place at its drawn position).
fn token_event(
    state: &AppState,
    claims: Arc<Claims>,
) -> Result<(LineId, Arc<CachedEvent>, Arc<Claims>), ApiError> {
    let KnownEvent { line, cached } = token_line(state, &claims)?;
    let claims = crate::admission::at_drawn_place(&cached, claims);
    if cached.gave_up(&claims) {
        return Err(ApiError::LeftLine);
    }
    Ok((line, cached, claims))
}

/// What verify found: a genuine token, and whether its holder may enter now.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Verdict {
    /// Always true: a token that is not genuine gets a problem instead.
    valid: bool,
    admitted: bool,
    /// Why not: `not-admitted`, `not-a-pass`, `admission-ended`, `pass-used` (the gate's refusal).
    refusal: Option<&'static str>,
    reason: Option<String>,
    kind: TokenKind,
    event: String,
    /// The priority lane, for an event with lanes (not its first).
    #[serde(skip_serializing_if = "Option::is_none")]
    lane: Option<String>,
    visitor: String,
    position: u64,
    expires_at: String,
    claims: Claims,
    /// For an event that renews passes on use (`pass_renewal_max_s`), a pass let in with less than
    /// half its lifetime left: the renewed pass, for the booking service to hand the visitor (as
    /// the gate's `Set-Cookie` does).
    #[serde(skip_serializing_if = "Option::is_none")]
    renewed_pass: Option<String>,
    /// When the renewed pass expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    renewed_expires_at: Option<String>,
}

/// `POST /v1/verify`, for the booking service: is this token or pass genuine, and may its holder
/// enter?
#[utoipa::path(post, path = "/v1/verify", tag = "booking service", request_body = VerifyRequest,
    responses((status = 200, description = "Genuine; `admitted` is the gate's answer", body = Verdict), (status = "default", description = "A problem document", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn verify(
    state: web::Data<AppState>,
    body: web::Json<VerifyRequest>,
) -> Result<HttpResponse, ApiError> {
    let expected = body.event.as_deref().map(EventId::parse).transpose()?;
    let claims = verify_token(&state, &body.token, expected.as_ref())?;
    let (event, cached, claims) = token_event(&state, claims)?;
    // The same rule as the gate's, without consuming anything.
    let refusal = match may_enter(&state, &event, &cached, &claims, Use::Check).await {
        Ok(()) => None,
        Err(
            e @ (ApiError::NotAdmitted
            | ApiError::NotAPass
            | ApiError::AdmissionEnded(_)
            | ApiError::PassUsed),
        ) => Some(e),
        Err(e) => return Err(e),
    };
    let renewed = match refusal {
        None => renewed_pass(&state, &event, &cached, &claims).await,
        Some(_) => None,
    };
    let renewed_expires_at = renewed.as_ref().map(|(_, expires)| rfc3339(*expires));
    Ok(HttpResponse::Ok().json(Verdict {
        valid: true,
        admitted: refusal.is_none(),
        refusal: refusal.as_ref().map(ApiError::slug),
        reason: refusal.as_ref().map(ToString::to_string),
        kind: claims.kind,
        event: event.event().to_string(),
        lane: event.lane().map(|lane| lane.as_str().to_owned()),
        visitor: claims.sub.clone(),
        position: claims.pos,
        expires_at: rfc3339(claims.exp),
        claims: Claims::clone(&claims),
        renewed_pass: renewed.map(|(pass, _)| pass),
        renewed_expires_at,
    }))
}
