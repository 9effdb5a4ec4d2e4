//! API errors as RFC 9457 problem documents (`application/problem+json`), each with a stable type.

use actix_web::body::BoxBody;
use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::admission::ExpiredReason;
use crate::domain::{IdError, PatchError, SettingsError};
use crate::store::StoreError;
use crate::token::TokenError;

pub const PROBLEM_JSON: &str = "application/problem+json";
/// Every problem type is this followed by a slug, e.g. `urn:waitroom:problem:unknown-event`.
pub const TYPE_PREFIX: &str = "urn:waitroom:problem:";
/// Largest request body accepted, in bytes: every request body here is a small JSON object.
pub const BODY_LIMIT: usize = 16 * 1024;
/// Seconds a client should wait before retrying while the store is unreachable.
const STORE_RETRY_AFTER_S: u32 = 2;
/// Seconds before a refused live-update stream is worth asking for again (the page polls meanwhile).
const STREAM_RETRY_AFTER_S: u32 = 30;
/// Seconds a join told that challenges are busy waits before asking again.
const CHALLENGE_RETRY_AFTER_S: u32 = 1;

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
    #[error("this pass was used already: each admission lets one person in once")]
    PassUsed,
    #[error("an admission pass is needed here, not a waiting token")]
    NotAPass,
    #[error("{}", admission_ended(*.0))]
    AdmissionEnded(ExpiredReason),
    #[error("this replica holds as many live-update streams as it may; poll the status instead")]
    StreamsFull,
    #[error("too many requests from this address; try again in {} s", retry_after_s(.0))]
    RateLimited(std::time::Duration),
    #[error("this place in line has as many live-update streams open as it may; poll the status instead")]
    TooManyStreams,
    #[error("no event `{0}` is configured")]
    UnknownEvent(String),
    #[error("event `{0}` is closed and takes no new visitors")]
    EventClosed(String),
    #[error("event `{event}` takes visitors from {from}; try again then")]
    NotOpenYet {
        event: String,
        from: String,
        wait: std::time::Duration,
    },
    #[error(
        "joins are taken from this waiting room's own pages and the event's allowed origins only"
    )]
    ForeignOrigin,
    #[error("event `{0}` is sold out: it takes no new visitors")]
    SoldOut(String),
    #[error("event `{0}` gives places to its site's signed-in users only: start from the site's own link")]
    KnownVisitorsOnly(String),
    #[error("this event is by invitation: join with the code or the link you were sent (the `X-Waitroom-Code` header)")]
    InvitationRequired,
    /// A join to an event that asks for proof of work, without a solution that buys a place: the
    /// new challenge to solve goes with the problem (none is made for an asker that cannot solve
    /// it, the page without script).
    #[error("{why}")]
    ChallengeRequired {
        why: crate::challenge::Unsolved,
        challenge: Option<Box<altcha::Challenge>>,
    },
    #[error("every core of this replica is busy making challenges for other joins: join again in a second")]
    ChallengeBusy,
    #[error("the code is not one of this event's, or it was used already; an invitation must be the booking site's, for this event and unexpired")]
    InvalidCode,
    #[error("event `{0}` has no pre-queue, so nothing is drawn")]
    NoPrequeue(String),
    #[error("event `{0}`'s pre-queue is not drawn yet: nobody can be admitted before the draw")]
    NotDrawnYet(String),
    #[error("the admin API is switched off: set `admin_token` to use it")]
    AdminDisabled,
    #[error("a valid admin bearer token is required")]
    Unauthorized,
    #[error("a console session's calls carry its CSRF token (X-CSRF-Token): reload the console")]
    CsrfRefused,
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

/// Whole seconds to wait, rounded up, at least one.
fn retry_after_s(wait: &std::time::Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0).max(u64::from(wait.is_zero()))
}

fn admission_ended(reason: ExpiredReason) -> &'static str {
    match reason {
        ExpiredReason::TokenExpired => "this token expired before its holder came back",
        ExpiredReason::ClaimWindowPassed => {
            "this place was admitted but not collected within the claim window; the slot went to someone else"
        }
        ExpiredReason::PassExpired => {
            "this admission lasted a pass lifetime from its first collection, and that is over"
        }
        ExpiredReason::Completed => "this visit was completed; the admission lets nobody in again",
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Redis(e) => ApiError::StoreUnavailable(e.to_string()),
            StoreError::Unavailable(reason) => ApiError::StoreUnavailable(reason),
            StoreError::Corrupt(reason) => ApiError::Internal(reason),
            StoreError::OverQuota(wait) => ApiError::RateLimited(wait),
            // A join that spends a solution turns this into a new challenge; no other can meet it.
            StoreError::Spent => ApiError::Internal("a spent challenge solution, unasked".into()),
        }
    }
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        ApiError::InvalidToken(e)
    }
}

/// An error answer (RFC 9457), `application/problem+json`. Some carry more members (readiness its
/// checks).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `urn:waitroom:problem:<slug>`: stable, for programs to tell errors apart.
    #[serde(rename = "type")]
    pub type_: String,
    pub title: &'static str,
    pub status: u16,
    /// A sentence for people.
    pub detail: String,
    /// Why a token was refused (`malformed`, `bad-signature`, `expired`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// With `challenge-required`: the signed ALTCHA challenge (v2) to solve. Join again with
    /// `X-Waitroom-Solution`: base64 of `{"challenge": <this>, "solution": {"counter", "derivedKey"}}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub challenge: Option<serde_json::Value>,
}

/// What a problem document says of an error besides its detail.
struct Kind {
    status: StatusCode,
    slug: &'static str,
    title: &'static str,
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

    /// The problem for an error answer that did not come from a handler: the framework's own 404s
    /// and 405s, payload limits, extractor failures.
    pub fn for_status(status: StatusCode) -> Self {
        match status {
            StatusCode::NOT_FOUND => ApiError::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(BODY_LIMIT),
            s if s.is_client_error() => ApiError::InvalidRequest(format!(
                "the request could not be handled ({})",
                s.canonical_reason().unwrap_or("client error")
            )),
            _ => ApiError::Internal(format!("unhandled {status}")),
        }
    }

    /// The one table of every error's HTTP status, stable slug and title.
    fn kind(&self) -> Kind {
        use StatusCode as S;
        let (status, slug, title) = match self {
            ApiError::InvalidJson(_) => (S::BAD_REQUEST, "invalid-json", "Malformed JSON body"),
            ApiError::InvalidId(_) => (S::BAD_REQUEST, "invalid-id", "Malformed id"),
            ApiError::InvalidSettings(_) => {
                (S::BAD_REQUEST, "invalid-settings", "Invalid event settings")
            }
            ApiError::InvalidRequest(_) => (S::BAD_REQUEST, "invalid-request", "Invalid request"),
            ApiError::PayloadTooLarge(_) => (
                S::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Request body too large",
            ),
            ApiError::MissingToken => (S::UNAUTHORIZED, "missing-token", "Token required"),
            ApiError::InvalidToken(TokenError::Expired(_)) => {
                (S::UNAUTHORIZED, "token-expired", "Token expired")
            }
            ApiError::InvalidToken(_) => (S::UNAUTHORIZED, "invalid-token", "Invalid token"),
            ApiError::LeftLine => (S::GONE, "left-line", "Place given up"),
            ApiError::NotAdmitted => (S::UNAUTHORIZED, "not-admitted", "Not admitted yet"),
            ApiError::PassUsed => (S::CONFLICT, "pass-used", "Pass already used"),
            ApiError::NotAPass => (S::BAD_REQUEST, "not-a-pass", "Not a pass"),
            ApiError::AdmissionEnded(_) => (S::FORBIDDEN, "admission-ended", "Admission over"),
            ApiError::StreamsFull => (S::SERVICE_UNAVAILABLE, "streams-full", "Streams full"),
            ApiError::RateLimited(_) => (S::TOO_MANY_REQUESTS, "rate-limited", "Rate limited"),
            ApiError::TooManyStreams => {
                (S::TOO_MANY_REQUESTS, "too-many-streams", "Too many streams")
            }
            ApiError::UnknownEvent(_) => (S::NOT_FOUND, "unknown-event", "Unknown event"),
            ApiError::EventClosed(_) => (S::CONFLICT, "event-closed", "Event closed"),
            ApiError::NotOpenYet { .. } => (S::CONFLICT, "not-open-yet", "Not open yet"),
            ApiError::SoldOut(_) => (S::CONFLICT, "sold-out", "Sold out"),
            ApiError::KnownVisitorsOnly(_) => (
                S::FORBIDDEN,
                "known-visitors-only",
                "Signed-in visitors only",
            ),
            ApiError::InvitationRequired => (S::FORBIDDEN, "invitation-required", "By invitation"),
            ApiError::InvalidCode => (S::FORBIDDEN, "invalid-code", "Invalid code"),
            ApiError::ChallengeRequired { .. } => {
                (S::FORBIDDEN, "challenge-required", "Challenge required")
            }
            ApiError::ChallengeBusy => {
                (S::SERVICE_UNAVAILABLE, "challenge-busy", "Challenges busy")
            }
            ApiError::ForeignOrigin => (S::FORBIDDEN, "foreign-origin", "Join from another site"),
            ApiError::NoPrequeue(_) => (S::NOT_FOUND, "no-prequeue", "No pre-queue"),
            ApiError::NotDrawnYet(_) => (S::CONFLICT, "not-drawn-yet", "Not drawn yet"),
            ApiError::AdminDisabled => (S::FORBIDDEN, "admin-disabled", "Admin API disabled"),
            ApiError::Unauthorized => (S::UNAUTHORIZED, "unauthorized", "Unauthorized"),
            ApiError::CsrfRefused => (S::FORBIDDEN, "csrf", "CSRF token missing or wrong"),
            ApiError::NotFound => (S::NOT_FOUND, "not-found", "Not found"),
            ApiError::MethodNotAllowed => (
                S::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
            ),
            ApiError::StoreUnavailable(_) => (
                S::SERVICE_UNAVAILABLE,
                "store-unavailable",
                "Store unavailable",
            ),
            ApiError::Internal(_) => (S::INTERNAL_SERVER_ERROR, "internal", "Internal error"),
            // Edge proxies understand only 2xx, 401 and 403: the refusal keeps its type.
            ApiError::Refused(inner) => {
                let inner = inner.kind();
                (S::UNAUTHORIZED, inner.slug, inner.title)
            }
        };
        Kind {
            status,
            slug,
            title,
        }
    }

    /// The stable slug of the problem type.
    pub fn slug(&self) -> &'static str {
        self.kind().slug
    }
}

/// A patch that names something that is not a setting, or a value that cannot be read as its
/// setting, is unreadable JSON as far as the API goes (as an unknown field of any body is).
impl From<PatchError> for ApiError {
    fn from(e: PatchError) -> Self {
        ApiError::InvalidJson(e.to_string())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.kind().status
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        let Kind {
            status,
            slug,
            title,
        } = self.kind();
        // Server-side details stay in the log; the client gets the sentence.
        match self {
            ApiError::StoreUnavailable(reason) => {
                tracing::warn!(%reason, "store unavailable")
            }
            ApiError::Internal(reason) => tracing::error!(%reason, "internal error"),
            _ => {}
        }
        let body = Problem {
            type_: format!("{TYPE_PREFIX}{slug}"),
            title,
            status: status.as_u16(),
            detail: self.to_string(),
            reason: match self {
                ApiError::InvalidToken(e) => Some(e.reason()),
                _ => None,
            },
            challenge: match self {
                ApiError::ChallengeRequired {
                    challenge: Some(challenge),
                    ..
                } => serde_json::to_value(challenge).ok(),
                _ => None,
            },
        };
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
        match self {
            ApiError::StoreUnavailable(_) => {
                response.insert_header((header::RETRY_AFTER, STORE_RETRY_AFTER_S));
            }
            ApiError::RateLimited(wait) | ApiError::NotOpenYet { wait, .. } => {
                response.insert_header((header::RETRY_AFTER, retry_after_s(wait)));
            }
            ApiError::ChallengeBusy => {
                response.insert_header((header::RETRY_AFTER, CHALLENGE_RETRY_AFTER_S));
            }
            ApiError::StreamsFull | ApiError::TooManyStreams => {
                response.insert_header((header::RETRY_AFTER, STREAM_RETRY_AFTER_S));
            }
            ApiError::Unauthorized | ApiError::MissingToken | ApiError::InvalidToken(_) => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            _ => {}
        }
        response.body(serde_json::to_string(&body).unwrap_or_default())
    }
}

/// The problem for a JSON body actix-web could not take.
pub fn json_error(err: actix_web::error::JsonPayloadError) -> ApiError {
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
