//! API errors as RFC 9457 problem documents (`application/problem+json`), each with a stable type.

use actix_web::body::BoxBody;
use actix_web::body::EitherBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::domain::{IdError, SettingsError};
use crate::store::StoreError;
use crate::token::TokenError;

pub const PROBLEM_JSON: &str = "application/problem+json";
/// Every problem type is this followed by a slug, e.g. `urn:waitroom:problem:unknown-event`.
pub const TYPE_PREFIX: &str = "urn:waitroom:problem:";
/// Seconds a client should wait before retrying while the store is unreachable.
const STORE_RETRY_AFTER_S: u32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidJson(String),
    #[error("{0}")]
    InvalidId(#[from] IdError),
    #[error("{0}")]
    InvalidSettings(#[from] SettingsError),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("the request body is larger than the {0} bytes allowed")]
    PayloadTooLarge(usize),
    #[error("no token: send it as `Authorization: Bearer <token>` or in the event's cookie")]
    MissingToken,
    #[error("{0}")]
    InvalidToken(TokenError),
    #[error("this token's place in line was given up; join again for a new one")]
    LeftLine,
    #[error("the pointer has not reached this visitor yet")]
    NotAdmitted,
    #[error("no event `{0}` is configured")]
    UnknownEvent(String),
    #[error("event `{0}` is closed and takes no new visitors")]
    EventClosed(String),
    #[error("the admin API is switched off: set `admin_token` to use it")]
    AdminDisabled,
    #[error("a valid admin bearer token is required")]
    Unauthorized,
    #[error("no such resource")]
    NotFound,
    #[error("this method is not allowed here")]
    MethodNotAllowed,
    #[error("the waiting room's store is unreachable; try again shortly")]
    StoreUnavailable(String),
    #[error("something went wrong on our side")]
    Internal(String),
    /// Any refusal, answered as 401: edge proxies (nginx `auth_request`) understand only 2xx, 401 and 403.
    #[error("{0}")]
    Refused(Box<ApiError>),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(reason) => ApiError::StoreUnavailable(reason),
            StoreError::Corrupt(reason) => ApiError::Internal(reason),
        }
    }
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        ApiError::InvalidToken(e)
    }
}

impl ApiError {
    /// Wraps an error for an edge proxy's sub-request; a 401 stays as it is.
    pub fn refused(self) -> Self {
        if self.status_code() == StatusCode::UNAUTHORIZED {
            self
        } else {
            ApiError::Refused(Box::new(self))
        }
    }

    /// The stable slug of the problem type.
    pub fn slug(&self) -> &'static str {
        match self {
            ApiError::InvalidJson(_) => "invalid-json",
            ApiError::InvalidId(_) => "invalid-id",
            ApiError::InvalidSettings(_) => "invalid-settings",
            ApiError::InvalidRequest(_) => "invalid-request",
            ApiError::PayloadTooLarge(_) => "payload-too-large",
            ApiError::MissingToken => "missing-token",
            ApiError::InvalidToken(TokenError::Expired(_)) => "token-expired",
            ApiError::InvalidToken(_) => "invalid-token",
            ApiError::LeftLine => "left-line",
            ApiError::NotAdmitted => "not-admitted",
            ApiError::UnknownEvent(_) => "unknown-event",
            ApiError::EventClosed(_) => "event-closed",
            ApiError::AdminDisabled => "admin-disabled",
            ApiError::Unauthorized => "unauthorized",
            ApiError::NotFound => "not-found",
            ApiError::MethodNotAllowed => "method-not-allowed",
            ApiError::StoreUnavailable(_) => "store-unavailable",
            ApiError::Internal(_) => "internal",
            ApiError::Refused(inner) => inner.slug(),
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::InvalidJson(_) => "Malformed JSON body",
            ApiError::InvalidId(_) => "Malformed id",
            ApiError::InvalidSettings(_) => "Invalid event settings",
            ApiError::InvalidRequest(_) => "Invalid request",
            ApiError::PayloadTooLarge(_) => "Request body too large",
            ApiError::MissingToken => "Token required",
            ApiError::InvalidToken(TokenError::Expired(_)) => "Token expired",
            ApiError::InvalidToken(_) => "Invalid token",
            ApiError::LeftLine => "Place given up",
            ApiError::NotAdmitted => "Not admitted yet",
            ApiError::UnknownEvent(_) => "Unknown event",
            ApiError::EventClosed(_) => "Event closed",
            ApiError::AdminDisabled => "Admin API disabled",
            ApiError::Unauthorized => "Unauthorized",
            ApiError::NotFound => "Not found",
            ApiError::MethodNotAllowed => "Method not allowed",
            ApiError::StoreUnavailable(_) => "Store unavailable",
            ApiError::Internal(_) => "Internal error",
            ApiError::Refused(inner) => inner.title(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::InvalidJson(_)
            | ApiError::InvalidId(_)
            | ApiError::InvalidSettings(_)
            | ApiError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::MissingToken
            | ApiError::InvalidToken(_)
            | ApiError::NotAdmitted
            | ApiError::Unauthorized
            | ApiError::Refused(_) => StatusCode::UNAUTHORIZED,
            ApiError::LeftLine => StatusCode::GONE,
            ApiError::UnknownEvent(_) | ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::EventClosed(_) => StatusCode::CONFLICT,
            ApiError::AdminDisabled => StatusCode::FORBIDDEN,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::StoreUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        let status = self.status_code();
        // Server-side details stay in the log; the client gets the sentence.
        match self {
            ApiError::StoreUnavailable(reason) => {
                tracing::warn!(%reason, "store unavailable")
            }
            ApiError::Internal(reason) => tracing::error!(%reason, "internal error"),
            _ => {}
        }
        let mut body = json!({
            "type": format!("{TYPE_PREFIX}{}", self.slug()),
            "title": self.title(),
            "status": status.as_u16(),
            "detail": self.to_string(),
        });
        if let ApiError::InvalidToken(e) = self {
            body["reason"] = e.reason().into();
        }
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
        match self {
            ApiError::StoreUnavailable(_) => {
                response.insert_header((header::RETRY_AFTER, STORE_RETRY_AFTER_S));
            }
            ApiError::Unauthorized | ApiError::MissingToken | ApiError::InvalidToken(_) => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            _ => {}
        }
        response.body(body.to_string())
    }
}

/// Turns any error response that is not a problem document yet (framework 404s and 405s, payload
/// limits, extractor failures) into one, so clients see a single error format.
pub fn ensure_problem<B>(res: ServiceResponse<B>) -> ServiceResponse<EitherBody<B>> {
    let status = res.status();
    let is_problem =
        res.headers().get(header::CONTENT_TYPE) == Some(&HeaderValue::from_static(PROBLEM_JSON));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return res.map_into_left_body();
    }
    let problem = match status {
        StatusCode::NOT_FOUND => ApiError::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(crate::routes::BODY_LIMIT),
        s if s.is_client_error() => ApiError::InvalidRequest(format!(
            "the request could not be handled ({})",
            s.canonical_reason().unwrap_or("client error")
        )),
        _ => ApiError::Internal(format!("unhandled {status}")),
    };
    let (req, _) = res.into_parts();
    ServiceResponse::new(req, problem.error_response()).map_into_right_body()
}
