//! The operator console at `/console`, served on the internal listener only: sign in with the admin
//! token, the events and their phase, and an event's page with live charts and its controls. The
//! pages only show; everything they change, and the figures they chart, go through the admin API
//! (`console.js` calls it with the session's cookie and CSRF token, [`super::session`]).

use std::sync::OnceLock;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine;
use minijinja::HtmlEscape;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::auth::constant_time_eq;
use super::extract::PathEvent;
use super::problem::{ApiError, Problem};
use super::session::{Session, COOKIE, LIFETIME_S};
use super::state::AppState;
use crate::domain::LineId;

const UPLOT_JS: &str = include_str!("../../assets/vendor/uplot/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../../assets/vendor/uplot/uPlot.min.css");
const CONSOLE_JS: &str = include_str!("../../assets/console.js");
const CONSOLE_CSS: &str = include_str!("../../assets/console.css");

/// The console's pages allow their own inline scripts and styles (by hash) and nothing else.
fn policy() -> &'static str {
    static POLICY: OnceLock<String> = OnceLock::new();
    POLICY.get_or_init(|| {
        let hash = |text: &str| {
            let digest = Sha256::digest(text.as_bytes());
            format!(
                "'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(digest)
            )
        };
        format!(
            "default-src 'none'; script-src {} {}; style-src {} {}; connect-src 'self'; \
             img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
            hash(UPLOT_JS),
            hash(CONSOLE_JS),
            hash(UPLOT_CSS),
            hash(CONSOLE_CSS)
        )
    })
}

fn html(status: actix_web::http::StatusCode, title: &str, body: &str) -> HttpResponse {
    let page = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · waitroom console</title>
<style>{UPLOT_CSS}</style>
<style>{CONSOLE_CSS}</style>
</head>
<body>
{body}
</body>
</html>
"#,
        title = HtmlEscape(title)
    );
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, policy()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .body(page)
}

/// The signed-in operator and their session's cookie value, if the request has a live session.
fn signed_in(state: &AppState, req: &HttpRequest) -> Option<(Session, String)> {
    let cookie = req.cookie(COOKIE)?;
    let session = state
        .sessions
        .as_ref()?
        .read(cookie.value(), crate::clock::unix_s())?;
    Some((session, cookie.value().to_owned()))
}

fn csrf(state: &AppState, cookie: &str) -> String {
    state
        .sessions
        .as_ref()
        .map(|sessions| sessions.csrf(cookie))
        .unwrap_or_default()
}

fn sign_in_page(status: actix_web::http::StatusCode, said: &str) -> HttpResponse {
    let said = if said.is_empty() {
        String::new()
    } else {
        format!(
            r#"<p class="problem" role="alert">{}</p>"#,
            HtmlEscape(said)
        )
    };
    html(
        status,
        "Sign in",
        &format!(
            r#"<main class="narrow">
<h1>waitroom console</h1>
{said}
<form method="post" action="/console/session">
<p><label for="name">Your name <span class="hint">(logged with every change you make)</span></label>
<input id="name" name="name" autocomplete="name" required maxlength="64"></p>
<p><label for="token">Admin token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required></p>
<p><button type="submit">Sign in</button></p>
</form>
</main>"#
        ),
    )
}

fn header_bar(session: &Session, csrf: &str) -> String {
    format!(
        r#"<header class="bar"><nav aria-label="Console"><a href="/console">Events</a></nav>
<form method="post" action="/console/sign-out"><span>Signed in as {who}</span>
<input type="hidden" name="csrf" value="{csrf}"><button type="submit">Sign out</button></form></header>"#,
        who = HtmlEscape(&session.who),
        csrf = HtmlEscape(csrf)
    )
}

/// `GET /console`.
#[utoipa::path(get, path = "/console", tag = "console",
    responses((status = 200, description = "The events and their phase, or the sign-in form without a session", content_type = "text/html")))]
pub(super) async fn index(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    if state.sessions.is_none() {
        return sign_in_page(
            actix_web::http::StatusCode::FORBIDDEN,
            "The admin API is switched off: set `admin_token` to use the console.",
        );
    }
    let Some((session, cookie)) = signed_in(&state, &req) else {
        return sign_in_page(actix_web::http::StatusCode::OK, "");
    };
    let now = crate::clock::unix_ms();
    let mut events = state.cache.entries();
    events.retain(|(line, _)| !line.is_lane());
    events.sort_by(|a, b| a.0.wire().cmp(&b.0.wire()));
    let rows: String = events
        .iter()
        .map(|(line, cached)| {
            let settings = cached.settings();
            let id = HtmlEscape(line.event().as_str());
            format!(
                r#"<tr><th scope="row"><a href="/console/events/{id}">{id}</a></th><td>{phase}</td><td>{state}</td><td>{waiting}</td><td>{admitted}</td></tr>"#,
                phase = serde_json::to_value(settings.phase(now))
                    .ok()
                    .and_then(|phase| phase.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                state = settings.state,
                waiting = cached.waiting(),
                admitted = cached.admitted_through(),
            )
        })
        .collect();
    let list = if rows.is_empty() {
        "<p>No events yet: create one with the admin API or <code>waitroom admin event create</code>.</p>".to_owned()
    } else {
        format!(
            r#"<div class="scroll" tabindex="0" role="region" aria-label="Events"><table><caption>Events</caption>
<thead><tr><th scope="col">Event</th><th scope="col">Phase</th><th scope="col">State</th><th scope="col">Waiting</th><th scope="col">Admitted through</th></tr></thead>
<tbody>{rows}</tbody></table></div>"#
        )
    };
    html(
        actix_web::http::StatusCode::OK,
        "Events",
        &format!(
            "{}<main><h1>Events</h1>{list}</main>",
            header_bar(&session, &csrf(&state, &cookie))
        ),
    )
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct SignIn {
    /// Who is signing in, for the log.
    name: String,
    /// The admin token.
    token: String,
}

fn session_cookie(state: &AppState, value: String, max_age_s: i64) -> Cookie<'static> {
    Cookie::build(COOKIE, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.cookie_secure)
        .max_age(actix_web::cookie::time::Duration::seconds(max_age_s))
        .finish()
}

fn see(location: &str) -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::SeeOther();
    response.insert_header((header::LOCATION, location.to_owned()));
    response
}

/// `POST /console/session`: signs in.
#[utoipa::path(post, path = "/console/session", tag = "console",
    request_body(content = SignIn, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "Signed in: the session cookie is set; on to the console"), (status = 401, description = "Not the admin token: the form again", content_type = "text/html"), (status = 403, description = "The admin API is switched off", content_type = "text/html"), (status = "default", description = "A problem document", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn sign_in(state: web::Data<AppState>, form: web::Form<SignIn>) -> HttpResponse {
    let (Some(sessions), Some(admin)) = (&state.sessions, &state.admin_token) else {
        return sign_in_page(
            actix_web::http::StatusCode::FORBIDDEN,
            "The admin API is switched off: set `admin_token` to use the console.",
        );
    };
    let matches = constant_time_eq(form.token.trim().as_bytes(), admin.expose().as_bytes());
    let who = form.name.trim();
    if !matches || who.is_empty() {
        tracing::warn!("a console sign-in with a wrong admin token");
        return sign_in_page(
            actix_web::http::StatusCode::UNAUTHORIZED,
            "That is not the admin token (or no name was given).",
        );
    }
    tracing::info!(who, "signed in to the console");
    let value = sessions.sign(who, crate::clock::unix_s());
    see("/console")
        .cookie(session_cookie(&state, value, LIFETIME_S))
        .finish()
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct SignOut {
    /// The session's CSRF token.
    csrf: String,
}

/// `POST /console/sign-out`.
#[utoipa::path(post, path = "/console/sign-out", tag = "console",
    request_body(content = SignOut, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "Signed out: the cookie is gone; back to the sign-in form"), (status = "default", description = "A problem document", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn sign_out(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<SignOut>,
) -> Result<HttpResponse, ApiError> {
    let Some((session, cookie)) = signed_in(&state, &req) else {
        return Ok(see("/console").finish());
    };
    let holds = state
        .sessions
        .as_ref()
        .is_some_and(|sessions| sessions.csrf_holds(&cookie, &form.csrf));
    if !holds {
        return Err(ApiError::CsrfRefused);
    }
    tracing::info!(who = session.who, "signed out of the console");
    Ok(see("/console")
        .cookie(session_cookie(&state, String::new(), 0))
        .finish())
}

/// `GET /console/events/{event}`.
#[utoipa::path(get, path = "/console/events/{event}", tag = "console", params(("event" = String, Path, description = "The event's id: 1-64 of A-Z a-z 0-9 _ -", example = "tour")),
    responses((status = 200, description = "The event's live charts and controls", content_type = "text/html"), (status = 303, description = "No session: to the sign-in form"), (status = "default", description = "A problem document", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn event_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    PathEvent(event): PathEvent,
) -> Result<HttpResponse, ApiError> {
    let Some((session, cookie)) = signed_in(&state, &req) else {
        return Ok(see("/console").finish());
    };
    if state.cache.get(&LineId::from(&event)).is_none() {
        return Err(ApiError::UnknownEvent(event.to_string()));
    }
    let csrf = csrf(&state, &cookie);
    let id = HtmlEscape(event.as_str());
    let body = format!(
        r#"{bar}
<main data-event="{id}" data-csrf="{csrf}">
<h1>{id}</h1>
<p id="standing" aria-live="polite">Waiting for the first figures…</p>
<dl class="figures">
<div><dt>Waiting</dt><dd id="waiting">–</dd></div>
<div><dt>Admitted through</dt><dd id="admitted">–</dd></div>
<div><dt>Active (capacity)</dt><dd id="active">–</dd></div>
<div><dt>Pace</dt><dd id="pace">–</dd></div>
<div><dt>The last in line gets in</dt><dd id="last-wait">–</dd></div>
<div><dt>Refused by rate limits</dt><dd id="refused">–</dd></div>
<div><dt>Store</dt><dd id="store">–</dd></div>
<div><dt>Draw</dt><dd id="draw">–</dd></div>
</dl>
<section aria-labelledby="h-waiting"><h2 id="h-waiting">People waiting</h2><div class="chart" id="chart-waiting" role="img" aria-label="People waiting over the last minutes"></div></section>
<section aria-labelledby="h-flow"><h2 id="h-flow">Joins and releases per minute</h2><div class="chart" id="chart-flow" role="img" aria-label="Joins and releases per minute over the last minutes"></div></section>
<section aria-labelledby="h-admitted"><h2 id="h-admitted">Admitted and active</h2><div class="chart" id="chart-admitted" role="img" aria-label="Admitted and active visitors over the last minutes"></div></section>
<section aria-labelledby="h-pace"><h2 id="h-pace">Pace and the last one's wait</h2><div class="chart" id="chart-pace" role="img" aria-label="Pace per minute and the estimated wait of the last in line"></div></section>
<section aria-labelledby="h-control" class="controls"><h2 id="h-control">Control</h2>
<p><button type="button" id="pause">Pause…</button> <button type="button" id="resume">Resume…</button></p>
<form id="advance"><label for="advance-by">Let in now</label> <input id="advance-by" type="number" min="1" max="100000" value="100" required> <button type="submit">Let in…</button></form>
<form id="settings"><fieldset><legend>Release</legend>
<p><label for="batch-size">Batch size</label> <input id="batch-size" type="number" min="0" max="100000" required></p>
<p><label for="interval">Every (seconds)</label> <input id="interval" type="number" min="0.1" max="3600" step="0.1" required></p>
<p><label for="max-active">Capacity (most active at once; 0: none)</label> <input id="max-active" type="number" min="0" required></p>
<p><label for="method">Method</label> <select id="method"><option value="fifo">fifo</option><option value="random">random</option><option value="passthrough">passthrough</option><option value="reject">reject</option></select></p>
<p><button type="submit">Change…</button></p></fieldset></form>
<form id="schedule"><fieldset><legend>Schedule (RFC 3339, or a time and its zone: 2026-12-11 10:00 Europe/Berlin; empty: none)</legend>
<p><label for="opens-at">Opens at</label> <input id="opens-at"></p>
<p><label for="closes-at">Closes at</label> <input id="closes-at"></p>
<p><label for="pauses-at">Pauses at (a break the waits count)</label> <input id="pauses-at"></p>
<p><label for="resumes-at">Resumes at (the end of the break, or of a pause now)</label> <input id="resumes-at"></p>
<p><button type="submit">Schedule…</button></p></fieldset></form>
<p><button type="button" id="delete" class="danger">Delete the event…</button></p>
</section>
<p id="message" role="status"></p>
</main>
<dialog id="confirm" aria-labelledby="confirm-text"><form method="dialog">
<p id="confirm-text"></p><p id="confirm-what-if"></p>
<p><button value="cancel" id="confirm-cancel">Cancel</button> <button value="ok" id="confirm-ok">Confirm</button></p>
</form></dialog>
<script>{UPLOT_JS}</script>
<script>{CONSOLE_JS}</script>"#,
        bar = header_bar(&session, &csrf),
        csrf = HtmlEscape(&csrf),
    );
    Ok(html(actix_web::http::StatusCode::OK, event.as_str(), &body))
}
