//! Credentials, checked by middleware so a handler behind it never sees an unauthenticated request:
//! the admin token on the admin scope, and the booking service's token (or the admin token) on the
//! booking service's calls (`consume`, `complete`). The console's session (its cookie and its CSRF
//! token, [`super::session`]) stands for the admin token: the console calls the admin API itself.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::web;
use tracing::Instrument;

use super::problem::ApiError;
use super::session;
use super::state::AppState;
use super::table::Route;
use crate::config::SecretString;

/// The token of an `Authorization: Bearer <token>` header, if there is one. The scheme's name is
/// case-insensitive (RFC 9110), so `bearer` and `BEARER` count too.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    // Read as UTF-8 (checked many bytes at a time) rather than with `to_str`'s byte-by-byte
    // check for visible ASCII, which was a fiftieth of a status check: a token with other
    // characters is refused as malformed when it is verified.
    let value = std::str::from_utf8(headers.get(header::AUTHORIZATION)?.as_bytes()).ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Same answer time whatever the guess, so the token cannot be found a byte at a time.
pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Who may call a route.
#[derive(Clone, Copy)]
enum Caller {
    Admin,
    /// The booking service, with its own token, or an admin.
    Service,
}

/// Who made a call: logged with every change it makes.
fn authorize(state: &AppState, req: &ServiceRequest, caller: Caller) -> Result<String, ApiError> {
    let accepted: Vec<(&SecretString, &str)> = match caller {
        Caller::Admin => state
            .admin_token
            .iter()
            .map(|t| (t, "admin token"))
            .collect(),
        Caller::Service => state
            .admin_token
            .iter()
            .map(|t| (t, "admin token"))
            .chain(state.service_token.iter().map(|t| (t, "service token")))
            .collect(),
    };
    if accepted.is_empty() {
        return Err(ApiError::AdminDisabled);
    }
    let Some(given) = bearer(req.headers()) else {
        return console_session(state, req);
    };
    // Every accepted token is compared, so the time taken does not tell which one nearly matched.
    let matched = accepted.iter().fold(None, |found, (token, who)| {
        let equal = constant_time_eq(given.as_bytes(), token.expose().as_bytes());
        found.or(equal.then_some(*who))
    });
    matched.map(str::to_owned).ok_or(ApiError::Unauthorized)
}

/// The operator of a console session calling with its cookie and its CSRF token.
fn console_session(state: &AppState, req: &ServiceRequest) -> Result<String, ApiError> {
    let (Some(sessions), Some(cookie)) = (&state.sessions, req.cookie(session::COOKIE)) else {
        return Err(ApiError::Unauthorized);
    };
    let session = sessions
        .read(cookie.value(), crate::clock::unix_s())
        .ok_or(ApiError::Unauthorized)?;
    // A read changes nothing: the feed's EventSource cannot send a header.
    let read = matches!(*req.method(), Method::GET | Method::HEAD);
    let csrf = req
        .headers()
        .get(session::CSRF_HEADER)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if !read && !sessions.csrf_holds(cookie.value(), csrf) {
        return Err(ApiError::CsrfRefused);
    }
    Ok(format!("console: {}", session.who))
}

/// Middleware: lets a request through only with the admin bearer token (or a console session).
pub async fn require_admin(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    require(req, next, Caller::Admin).await
}

/// Middleware: lets a request through with the booking service's token or the admin token.
pub async fn require_service(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    require(req, next, Caller::Service).await
}

async fn require(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    caller: Caller,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let allowed = match req.app_data::<web::Data<AppState>>() {
        Some(state) => authorize(state, &req, caller),
        None => Err(ApiError::Internal("the app state is missing".into())),
    };
    match allowed {
        Ok(who) => {
            // Every change is logged with who made it; the handler's own lines carry `who` too.
            let changes = Route::of(req.path()).is_some_and(|route| route.changes(req.method()));
            if changes {
                tracing::info!(who, method = %req.method(), path = req.path(), "admin change");
            }
            let span = tracing::info_span!("admin", who);
            Ok(next.call(req).instrument(span).await?.map_into_left_body())
        }
        Err(e) => Ok(req.error_response(e).map_into_right_body()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_and_compared_whole() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer(&headers), None);
        headers.insert(header::AUTHORIZATION, "Bearer  abc ".parse().unwrap());
        assert_eq!(bearer(&headers), Some("abc"));
        headers.insert(header::AUTHORIZATION, "bearer abc".parse().unwrap());
        assert_eq!(bearer(&headers), Some("abc"));
        headers.insert(header::AUTHORIZATION, "BEARER abc".parse().unwrap());
        assert_eq!(bearer(&headers), Some("abc"));
        headers.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&headers), None);
        headers.insert(header::AUTHORIZATION, "Bearer  ".parse().unwrap());
        assert_eq!(bearer(&headers), None);
        headers.insert(header::AUTHORIZATION, "Bearerabc".parse().unwrap());
        assert_eq!(bearer(&headers), None);
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret-longer"));
    }
}
