//! The waiting page people see, served from the binary, and the public event info it is branded with.

use actix_web::http::header::{self, ContentType};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::visitor;
use super::{parse_event, AppState};
use crate::problem::ApiError;

const PAGE: &str = include_str!("../../assets/waiting.html");
const SCRIPT: &str = include_str!("../../assets/waitroom.js");
const STYLE: &str = include_str!("../../assets/waitroom.css");

/// Under `/v1/events/{event}`: the event itself.
pub fn configure_event(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("").get(info));
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/e/{event}").get(page))
        .service(
            web::resource("/assets/waitroom.js")
                .get(|| async { asset(SCRIPT, "text/javascript; charset=utf-8") }),
        )
        .service(
            web::resource("/assets/waitroom.css")
                .get(|| async { asset(STYLE, "text/css; charset=utf-8") }),
        );
}

fn asset(body: &'static str, content_type: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(body)
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
async fn page(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    if wants_json(&req) {
        return visitor::join(&state, &path, req.headers()).await;
    }
    let event = parse_event(&path)?;
    state.event(&event)?;
    // The id is validated (letters, digits, '_' and '-'), so it is safe inside the HTML.
    let html = PAGE.replace("{{event}}", event.as_str());
    Ok(HttpResponse::Ok()
        .insert_header(ContentType::html())
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' https: http: data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
        ))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(html))
}

/// `GET /v1/events/{event}`: what anyone may know of an event, for the page and for apps.
async fn info(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let event = parse_event(&path)?;
    let settings = state.event(&event)?.settings();
    let page = &settings.page;
    Ok(HttpResponse::Ok().json(json!({
        "event": event,
        "title": page.title.clone().unwrap_or_else(|| event.to_string()),
        "message": page.message,
        "logo_url": page.logo_url,
        "accent_color": page.accent_color,
        "background_color": page.background_color,
        "text_color": page.text_color,
        "state": settings.state,
        "page": format!("/e/{event}"),
    })))
}
