//! Credentials, checked by middleware so a handler behind it never sees an unauthenticated request:
//! the admin token on the admin scope, and the booking service's token (or the admin token) on the
//! booking service's calls (`consume`, `complete`).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap};
use actix_web::middleware::Next;
use actix_web::web;

use super::problem::ApiError;
use super::state::AppState;
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
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Who may call a route.
#[derive(Clone, Copy)]
enum Caller {
    Admin,
    /// The booking service, with its own token, or an admin.
    Service,
}

fn authorize(state: &AppState, headers: &HeaderMap, caller: Caller) -> Result<(), ApiError> {
    let accepted: Vec<&SecretString> = match caller {
        Caller::Admin => state.admin_token.iter().collect(),
        Caller::Service => state
            .admin_token
            .iter()
            .chain(state.service_token.iter())
            .collect(),
    };
    if accepted.is_empty() {
        return Err(ApiError::AdminDisabled);
    }
    let given = bearer(headers).unwrap_or_default();
    // Every accepted token is compared, so the time taken does not tell which one nearly matched.
    let matched = accepted.iter().fold(false, |found, token| {
        constant_time_eq(given.as_bytes(), token.expose().as_bytes()) | found
    });
    if matched {
        Ok(())
    } else {
        Err(ApiError::Unauthorized)
    }
}

/// Middleware: lets a request through only with the admin bearer token.
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
        Some(state) => authorize(state, req.headers(), caller),
        None => Err(ApiError::Internal("the app state is missing".into())),
    };
    match allowed {
        Ok(()) => Ok(next.call(req).await?.map_into_left_body()),
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
