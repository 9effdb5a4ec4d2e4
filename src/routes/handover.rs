//! The hand-over to a booking site on another origin than waitroom's. Its edge proxies one path on
//! the site's own domain (say `/_waitroom/claim`) to `GET /v1/events/{event}/claim`, which the
//! waiting page sends the admitted visitor to (the event's `target_url`): the pass is verified,
//! set as a cookie on the site's domain (which waitroom's own cookie never reaches), and the
//! visitor is sent on to where they wanted to go, with the pass out of the address bar. The gate
//! then finds the pass in that cookie.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::entry::{may_enter, Use};
use super::extract::{holder, pass_cookie, Https, KnownEvent};
use super::problem::{ApiError, Problem};
use super::state::AppState;
use crate::clock::unix_s;
use crate::token::TokenKind;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ClaimQuery {
    /// The pass, under the name the waiting page gives it.
    waitroom_pass: Option<String>,
    /// Where to go next: a path on the site, or a URL on an allowed origin. Default `/`.
    to: Option<String>,
}

/// `GET /v1/events/{event}/claim?waitroom_pass=…&to=…`: 303 to `to` with the pass cookie set.
#[utoipa::path(get, path = "/v1/events/{event}/claim", tag = "edge", params(("event" = String, Path, description = "The event's id: 1-64 of A-Z a-z 0-9 _ -", example = "tour"), ClaimQuery),
    responses((status = 303, description = "On to `to`, with the pass cookie set on this domain", headers(("location" = String))), (status = "default", description = "A problem document", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn claim(
    state: web::Data<AppState>,
    event: KnownEvent,
    query: web::Query<ClaimQuery>,
    https: Https,
) -> Result<HttpResponse, ApiError> {
    let held = holder(&state, &event, query.waitroom_pass.as_deref())?;
    let claims = &held.claims;
    if claims.kind != TokenKind::Pass {
        return Err(ApiError::NotAPass);
    }
    let line = held.line(&event);
    may_enter(&state, &line.line, &line.cached, claims, Use::Check).await?;
    let settings = event.cached.settings();
    let to = match query.to.as_deref() {
        None => "/".to_owned(),
        Some(to) => settings.return_address(to).ok_or_else(|| {
            ApiError::InvalidRequest(
                "`to` must be a path on this site, or a URL on the event's target or allowed origins"
                    .into(),
            )
        })?,
    };
    let ttl_s = u64::try_from(claims.exp - unix_s()).unwrap_or(0).max(1);
    Ok(HttpResponse::SeeOther()
        .cookie(pass_cookie(
            &state,
            https,
            event.id(),
            query.waitroom_pass.as_deref().unwrap_or_default(),
            ttl_s,
        ))
        .insert_header((header::LOCATION, to))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        // The address held the pass: the next page must not see it as a referrer.
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .finish())
}
