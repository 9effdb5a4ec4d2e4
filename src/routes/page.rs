//! The waiting page people see, served from the binary, and the public event info it is branded with.

use actix_web::http::header::{self, ContentType};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde_json::json;

use super::extract::{KnownEvent, Presented};
use super::problem::ApiError;
use super::state::AppState;
use super::visitor;

const PAGE: &str = include_str!("../../assets/waiting.html");
const SCRIPT: &str = include_str!("../../assets/waitroom.js");
const STYLE: &str = include_str!("../../assets/waitroom.css");
const NOT_HERE: &str = include_str!("../../assets/not-here.html");
/// Only what the page uses: its own script and style, images from anywhere (logos), no framing.
const PAGE_POLICY: &str = "default-src 'self'; img-src 'self' https: http: data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'";

/// `GET /assets/{file}`: the page's script and style, from the binary.
pub(super) async fn asset(file: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let (body, content_type) = match file.as_str() {
        "waitroom.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        "waitroom.css" => (STYLE, "text/css; charset=utf-8"),
        _ => return Err(ApiError::NotFound),
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(body))
}

/// Whether the client asked for JSON rather than a page: apps use the same address.
fn wants_json(req: &HttpRequest) -> bool {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    accept.contains("application/json") && !accept.contains("text/html")
}

/// `GET /e/{event}`: the waiting page; with `Accept: application/json`, the join answer instead.
pub(super) async fn page(
    state: web::Data<AppState>,
    event: Result<KnownEvent, ApiError>,
    token: Presented,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    if wants_json(&req) {
        return visitor::join(&state, event?, token.as_deref()).await;
    }
    let event = match event {
        Ok(event) => event,
        // A person followed a wrong link: a page that says so, not a JSON document.
        Err(e) => return Ok(not_here(&e)),
    };
    // The id is validated (letters, digits, '_' and '-'), so it is safe inside the HTML.
    let html = PAGE.replace("{{event}}", event.id.as_str());
    Ok(HttpResponse::Ok()
        .insert_header(ContentType::html())
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::CONTENT_SECURITY_POLICY, PAGE_POLICY))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(html))
}

/// The page for an address with no waiting room behind it, with the status the problem has.
fn not_here(problem: &ApiError) -> HttpResponse {
    HttpResponse::build(problem.status_code())
        .insert_header(ContentType::html())
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::CONTENT_SECURITY_POLICY, PAGE_POLICY))
        .body(NOT_HERE)
}

/// `GET /v1/events/{event}`: what anyone may know of an event, for the page and for apps.
pub(super) async fn info(KnownEvent { id: event, cached }: KnownEvent) -> HttpResponse {
    let settings = cached.settings();
    let page = &settings.page;
    HttpResponse::Ok().json(json!({
        "event": event,
        "title": page.title.clone().unwrap_or_else(|| event.to_string()),
        "message": page.message,
        "logo_url": page.logo_url,
        "accent_color": page.accent_color,
        "background_color": page.background_color,
        "text_color": page.text_color,
        // The colours to use: the branding's, made readable.
        "palette": page.palette(),
        "state": settings.state,
        "page": format!("/e/{event}"),
    }))
}
