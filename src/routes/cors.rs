//! CORS for an event's visitor API, per event (`cors_origins`): apps on other origins call the
//! event's info, join, status, leave and stream from the browser. Preflights are answered before
//! any handler, and answers carry the allowing headers, on the fast path and the router alike.
//! Nothing else (the gate, the booking service's and the admin calls) is ever allowed cross-origin.

use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::Method;
use actix_web::HttpResponse;

use super::problem::ApiError;
use super::state::AppState;
use super::table::Route;
use crate::cache::CachedEvent;
use crate::domain::{EventId, LineId};

/// Headers a cross-origin script may read from an answer.
const EXPOSED: &str = "retry-after, x-request-id";

fn is_visitor_api(route: Route) -> bool {
    matches!(
        route,
        Route::Event | Route::Draw | Route::Join | Route::Status | Route::Leave | Route::Stream
    )
}

/// The request's `Origin`, if the path's event allows it on this route.
pub fn allowed_origin(
    state: &AppState,
    route: Option<Route>,
    path: &str,
    headers: &HeaderMap,
) -> Option<HeaderValue> {
    route.filter(|route| is_visitor_api(*route))?;
    let origin = headers.get(header::ORIGIN)?;
    let event = path.strip_prefix("/v1/events/")?.split('/').next()?;
    let cached = state
        .cache
        .get(&LineId::from(EventId::parse(event).ok()?))?;
    let allowed = cached
        .settings()
        .origins
        .cors_origins
        .iter()
        .any(|allowed| allowed.as_bytes() == origin.as_bytes());
    allowed.then(|| origin.clone())
}

/// Whether a join may take a place: one a browser sends from a page of another site is refused
/// (a hostile page would otherwise draw places from each of its viewers' own addresses). A browser
/// names the page's origin on every POST; it must be waitroom's own (the host the request came
/// to) or one of the event's `cors_origins`. Without `Origin` the call is no browser's page: an
/// app, a CLI, a booking site's server.
pub fn join_allowed(cached: &CachedEvent, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let listed = cached
        .settings()
        .origins
        .cors_origins
        .iter()
        .any(|allowed| allowed.as_bytes() == origin.as_bytes());
    // A proxy in front names the visitor's host in `X-Forwarded-Host`, or passes `Host` on; no page
    // can set either on a visitor's call without a preflight, which other origins never pass.
    let hosts = [headers.get(X_FORWARDED_HOST), headers.get(header::HOST)];
    if listed || hosts.into_iter().any(|host| same_host(origin, host)) {
        Ok(())
    } else {
        Err(ApiError::ForeignOrigin)
    }
}

/// The first of a header's comma-separated values (a proxy's own comes after the visitor's).
fn first_value(value: &HeaderValue) -> Option<&str> {
    value.to_str().ok()?.split(',').next().map(str::trim)
}

const X_FORWARDED_HOST: header::HeaderName = header::HeaderName::from_static("x-forwarded-host");

/// Whether `origin` names the host the request came to, whatever the port: a proxy in front may
/// pass the host without the port the visitor used.
fn same_host(origin: &HeaderValue, host: Option<&HeaderValue>) -> bool {
    let host_of = |url: Option<url::Url>| url.and_then(|url| url.host_str().map(str::to_owned));
    let origin = host_of(origin.to_str().ok().and_then(|o| url::Url::parse(o).ok()));
    let host = host_of(
        host.and_then(first_value)
            .and_then(|h| url::Url::parse(&format!("http://{h}")).ok()),
    );
    origin.is_some() && origin == host
}

/// The answer to a CORS preflight (`OPTIONS` on a visitor route), if this is one: 204, with the
/// allowing headers only for an allowed origin (the browser refuses the call otherwise).
pub fn preflight(
    route: Option<Route>,
    method: &Method,
    allowed: Option<HeaderValue>,
) -> Option<HttpResponse> {
    let route = route.filter(|route| is_visitor_api(*route) && method == Method::OPTIONS)?;
    let mut response = HttpResponse::NoContent();
    response.insert_header((header::VARY, "Origin"));
    if let Some(origin) = allowed {
        response
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin))
            .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, route.allow()))
            .insert_header((
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                "authorization, content-type",
            ))
            .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"));
    }
    Some(response.finish())
}

/// Adds the allowing headers to an answer for an allowed origin.
pub fn allow(response: &mut HttpResponse, allowed: Option<HeaderValue>) {
    let Some(origin) = allowed else {
        return;
    };
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSED),
    );
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
}
