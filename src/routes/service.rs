//! The booking service's calls: `verify` a token or pass, `consume` a single-use pass, `complete` a
//! visitor's visit. Consume and complete are behind the service credential
//! ([`super::auth::require_service`]).

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::extract::{verify_token, KnownEvent};
use super::problem::ApiError;
use super::state::AppState;
use std::sync::Arc;

use super::entry::{consume_pass, may_enter, Use};
use crate::cache::CachedEvent;
use crate::clock::rfc3339;
use crate::domain::EventId;
use crate::store::Claim;
use crate::token::{Claims, TokenError, TokenKind};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConsumeRequest {
    /// The visitor's admission pass.
    pass: String,
    /// When given, the pass must belong to this event.
    event: Option<String>,
}

/// `POST /v1/passes/consume`: the first call for a genuine pass answers 200 with its holder; every
/// later one 409 `pass-used`, so one admission lets one person in.
pub(super) async fn consume(
    state: web::Data<AppState>,
    body: web::Json<ConsumeRequest>,
) -> Result<HttpResponse, ApiError> {
    let expected = body.event.as_deref().map(EventId::parse).transpose()?;
    let claims = verify_token(&state, &body.pass, expected.as_ref())?;
    if claims.kind != TokenKind::Pass {
        return Err(ApiError::NotAPass);
    }
    let (event, cached) = token_event(&state, &claims)?;
    may_enter(&state, &event, &cached, &claims, Use::Check).await?;
    consume_pass(&state, &event, &claims).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "event": event,
        "visitor": claims.sub,
        "position": claims.pos,
        "expires_at": rfc3339(claims.exp),
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CompleteRequest {
    /// The visitor's admission pass (or waiting token).
    token: String,
}

/// `POST /v1/events/{event}/complete`: the booking service is done with a visitor, and their slot
/// frees up for the next release.
pub(super) async fn complete(
    state: web::Data<AppState>,
    event: KnownEvent,
    body: web::Json<CompleteRequest>,
) -> Result<HttpResponse, ApiError> {
    let claims = match verify_token(&state, &body.token, Some(&event.id)) {
        // A pass that just ran out still names the slot to free.
        Err(TokenError::Expired(claims)) => *claims,
        other => other?,
    };
    let freed = state.store.complete(&event.id, claims.pos).await?;
    // Refused here at once; other replicas are told through the store.
    event.cached.record_claim(claims.pos, Claim::Completed);
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "event": event.id,
        "position": claims.pos,
        "freed": freed,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct VerifyRequest {
    token: String,
    /// When given, the token must belong to this event.
    event: Option<String>,
}

/// The event a genuine token belongs to, as this replica knows it, unless its holder left.
fn token_event(state: &AppState, claims: &Claims) -> Result<(EventId, Arc<CachedEvent>), ApiError> {
    let event = EventId::parse(&claims.aud).map_err(|_| TokenError::Malformed)?;
    let cached = state
        .cache
        .get(&event)
        .ok_or_else(|| ApiError::UnknownEvent(event.to_string()))?;
    if cached.has_left(claims.pos) {
        return Err(ApiError::LeftLine);
    }
    Ok((event, cached))
}

/// `POST /v1/verify`, for the booking service: is this token or pass genuine, and may its holder
/// enter?
pub(super) async fn verify(
    state: web::Data<AppState>,
    body: web::Json<VerifyRequest>,
) -> Result<HttpResponse, ApiError> {
    let expected = body.event.as_deref().map(EventId::parse).transpose()?;
    let claims = verify_token(&state, &body.token, expected.as_ref())?;
    let (event, cached) = token_event(&state, &claims)?;
    // The same rule as the gate's, without consuming anything.
    let refusal = match may_enter(&state, &event, &cached, &claims, Use::Check).await {
        Ok(()) => None,
        Err(e @ (ApiError::NotAdmitted | ApiError::NotAPass | ApiError::AdmissionEnded(_))) => {
            Some(e)
        }
        Err(e) => return Err(e),
    };
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "valid": true,
        "admitted": refusal.is_none(),
        "refusal": refusal.as_ref().map(ApiError::slug),
        "reason": refusal.as_ref().map(|e| e.to_string()),
        "kind": claims.kind,
        "event": claims.aud,
        "visitor": claims.sub,
        "position": claims.pos,
        "expires_at": rfc3339(claims.exp),
        "claims": claims,
    })))
}
