//! The layers every request goes through, whichever path answers it: [`Observed::begin`] when it
//! arrives and [`Observed::finish`] on its answer. The app's middleware ([`observe_request`]) and
//! the fast path ([`super::hot`]) both call these two and nothing else, so a cross-cutting layer
//! (a request id, problem documents, metrics, logs; later limits and headers) is added here once
//! and applies to every route.

use std::rc::Rc;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use tracing::Instrument;

use super::cors;
use super::problem::{ApiError, PROBLEM_JSON};
use super::state::AppState;
use super::table::Route;
use crate::clock::unix_s;
use crate::metrics::RequestTimers;
use crate::telemetry::LogBudget;

const REQUEST_ID: header::HeaderName = header::HeaderName::from_static("x-request-id");

/// Refused (4xx) and failed (5xx) requests logged per second, each; the metrics count every one.
static REFUSALS_LOGGED: LogBudget = LogBudget::new(50);
static FAILURES_LOGGED: LogBudget = LogBudget::new(50);

/// The id of a request: the edge's `X-Request-Id` when it is a sane one, else 16 random hex digits.
fn request_id(headers: &HeaderMap) -> HeaderValue {
    let given = headers.get(&REQUEST_ID).filter(|id| {
        let id = id.as_bytes();
        (1..=64).contains(&id.len()) && id.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
    });
    match given {
        Some(id) => id.clone(),
        None => {
            let hex = crate::domain::lower_hex::<16>(rand::random::<u64>().into());
            HeaderValue::from_bytes(&hex).expect("hex digits are a valid header value")
        }
    }
}

/// A request being served, from its arrival to its answer: the id it is known by, the route it is
/// counted under, and when it came in.
pub struct Observed {
    started: std::time::Instant,
    request_id: HeaderValue,
    route: Option<Route>,
    method: Method,
    /// At debug level: at info, creating and entering a span per request cost about a tenth of a
    /// status check's CPU time.
    pub span: tracing::Span,
}

impl Observed {
    /// A request arrives on `route` (`None`: a path no route answers).
    pub fn begin(headers: &HeaderMap, method: &Method, route: Option<Route>) -> Self {
        let request_id = request_id(headers);
        let span = tracing::debug_span!(
            "request",
            id = request_id.to_str().unwrap_or_default(),
            %method,
            route = Route::label_of(route)
        );
        Self {
            started: std::time::Instant::now(),
            request_id,
            route,
            method: method.clone(),
            span,
        }
    }

    /// Finishes every answer: an error that is not a problem document yet becomes one (with `Allow`
    /// on a 405), the request id goes on, and the request is timed for the metrics and logged when
    /// refused or failed (a failure with the error the answer carries).
    pub fn finish(
        self,
        response: HttpResponse<BoxBody>,
        timers: Option<&RequestTimers>,
    ) -> HttpResponse<BoxBody> {
        let mut response = as_problem(response);
        let status = response.status();
        if status == StatusCode::METHOD_NOT_ALLOWED {
            if let Some(route) = self.route {
                response
                    .headers_mut()
                    .insert(header::ALLOW, route.allow_header());
            }
        }
        let elapsed = self.started.elapsed();
        let label = Route::label_of(self.route);
        if let Some(timers) = timers {
            timers.observe(label, status, elapsed.as_secs_f64());
        }
        let latency_ms = elapsed.as_secs_f64() * 1_000.0;
        let code = status.as_u16();
        let (id, method) = (self.request_id.to_str().unwrap_or_default(), &self.method);
        let _entered = self.span.enter();
        if status.is_server_error() {
            if let Some(skipped) = FAILURES_LOGGED.admit(unix_s()) {
                let error = response.error().map(ToString::to_string);
                tracing::warn!(request_id = id, %method, route = label, status = code, latency_ms, error, skipped, "request failed");
            }
        } else if status.is_client_error() {
            if let Some(skipped) = REFUSALS_LOGGED.admit(unix_s()) {
                tracing::info!(request_id = id, %method, route = label, status = code, latency_ms, skipped, "request refused");
            }
        } else {
            tracing::debug!(request_id = id, %method, route = label, status = code, latency_ms, "request served");
        }
        response.headers_mut().insert(REQUEST_ID, self.request_id);
        // Every answer is what its Content-Type says; browsers must not guess otherwise.
        response.headers_mut().insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        response
    }
}

/// An error answer as a problem document, so clients see one error format: the framework's own
/// 404s and 405s, payload limits and extractor failures included. A page made for a person (HTML,
/// which the framework never answers with) stays as it is.
fn as_problem(response: HttpResponse<BoxBody>) -> HttpResponse<BoxBody> {
    let status = response.status();
    let content_type = response.headers().get(header::CONTENT_TYPE);
    let is_problem = content_type.is_some_and(|v| v.as_bytes() == PROBLEM_JSON.as_bytes());
    let is_page = content_type.is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if !(status.is_client_error() || status.is_server_error()) || is_problem || is_page {
        return response;
    }
    HttpResponse::from_error(ApiError::for_status(status))
}

/// The app's middleware: the same layers as the fast path's, around every route of the app.
pub async fn observe_request(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let route = Route::of(req.path());
    let observed = Observed::begin(req.headers(), req.method(), route);
    let timers = req.app_data::<Rc<RequestTimers>>().cloned();
    let allowed = req
        .app_data::<web::Data<AppState>>()
        .and_then(|state| cors::allowed_origin(state, route, req.path(), req.headers()));
    if let Some(preflight) = cors::preflight(route, req.method(), allowed.clone()) {
        let response = observed.finish(preflight, timers.as_deref());
        return Ok(req.into_response(response));
    }
    let span = observed.span.clone();
    let response = next.call(req).instrument(span).await?;
    let (req, mut response) = response.map_into_boxed_body().into_parts();
    cors::allow(&mut response, allowed);
    let response = observed.finish(response, timers.as_deref());
    Ok(ServiceResponse::new(req, response))
}
