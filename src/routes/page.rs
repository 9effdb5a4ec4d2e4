//! The waiting page people see, served from the binary, and the public event info it is branded with.

use std::net::IpAddr;

use actix_web::http::header::{self, ContentType};
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder, ResponseError};
use minijinja::value::Serde;
use minijinja::{context, Value};
use serde::{Deserialize, Serialize};

use super::extract::{client_of, Https, KnownEvent, Presented};
use super::problem::{ApiError, Problem};
use super::state::AppState;
use super::templates;
use super::visitor;
use super::visitor::{JoinAnswer, Standing};
use crate::admission::{self, ExpiredReason};
use crate::clock::{rfc3339, unix_ms};
use crate::domain::palette::Palette;
use crate::domain::{EventState, LineId, Phase};
use crate::i18n::{self, Catalogue};
use fluent_bundle::FluentValue;

const SCRIPT: &str = include_str!("../../assets/waitroom.js");
const STYLE: &str = include_str!("../../assets/waitroom.css");
/// `@fluent/bundle`, vendored (`assets/vendor/`): the page's script formats its messages with it.
const FLUENT: &str = include_str!("../../assets/vendor/fluent-bundle.js");
/// ALTCHA's solver (altcha-lib, vendored), run in a module Web Worker by the page: each file by its
/// name, as the worker's imports ask for it.
const ALTCHA: [(&str, &str); 6] = [
    (
        "altcha-worker.js",
        include_str!("../../assets/vendor/altcha/altcha-worker.js"),
    ),
    (
        "altcha-worker-shared.js",
        include_str!("../../assets/vendor/altcha/altcha-worker-shared.js"),
    ),
    (
        "altcha-pow.js",
        include_str!("../../assets/vendor/altcha/altcha-pow.js"),
    ),
    (
        "altcha-helpers.js",
        include_str!("../../assets/vendor/altcha/altcha-helpers.js"),
    ),
    (
        "altcha-types.js",
        include_str!("../../assets/vendor/altcha/altcha-types.js"),
    ),
    (
        "altcha-pbkdf2.js",
        include_str!("../../assets/vendor/altcha/altcha-pbkdf2.js"),
    ),
];
/// Only what the page uses: its own script and style, images from anywhere (logos), no framing.
const PAGE_POLICY: &str = "default-src 'self'; img-src 'self' https: http: data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'";

/// `GET /assets/{file}`: the page's script and style, from the binary.
#[utoipa::path(get, path = "/assets/{file}", tag = "pages",
    params(("file" = String, Path, description = "`waitroom.js`, `waitroom.css` or `fluent-bundle.js`")),
    responses((status = 200, description = "The page's script or style", body = String, content_type = "text/javascript"), (status = "default", description = "A problem document", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn asset(file: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let (body, content_type) = match file.as_str() {
        "waitroom.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        "waitroom.css" => (STYLE, "text/css; charset=utf-8"),
        "fluent-bundle.js" => (FLUENT, "text/javascript; charset=utf-8"),
        name => match ALTCHA.iter().find(|(file, _)| *file == name) {
            Some((_, body)) => (*body, "text/javascript; charset=utf-8"),
            None => return Err(ApiError::NotFound),
        },
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
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

#[derive(Debug, Deserialize)]
pub(super) struct PageQuery {
    /// Set by the page's own `<noscript>` refresh: the server-rendered page.
    nojs: Option<String>,
    /// Where the visitor was going when the edge sent them here.
    return_to: Option<String>,
    /// `off`: the page without script does not reload itself (the visitor turned it off).
    reload: Option<String>,
    /// An invite-only event's enqueue code, or the booking site's signed invitation (an
    /// invitation link's).
    code: Option<String>,
}

impl PageQuery {
    fn reload_off(&self) -> bool {
        self.reload.as_deref() == Some("off")
    }

    /// The address of the page without script for the same visit, reloading itself or not.
    fn without_script(&self, event: &LineId, reload_off: bool) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("nojs", "1");
        if let Some(to) = &self.return_to {
            query.append_pair("return_to", to);
        }
        if reload_off {
            query.append_pair("reload", "off");
        }
        format!("/e/{event}?{}", query.finish())
    }
}

/// `page` with how the page without script keeps itself current (`refresh_s`, `reloads`,
/// `reload_switch`): reloading every `every_s` (and a link to stop that), or, once the visitor
/// stopped it, not at all (and a link to start it again). WCAG's timing rule (2.2.1) asks that a
/// page which refreshes itself can be told not to.
fn reloading(
    page: Value,
    words: &Catalogue,
    (query, event): (&PageQuery, &LineId),
    every_s: u64,
) -> Value {
    let off = query.reload_off();
    let (said, switch) = match off {
        true => (words.text("nojs_still", &[]), "nojs_start_reloading"),
        false => (
            words.text("nojs_reloads", &[("s", every_s.into())]),
            "nojs_stop_reloading",
        ),
    };
    context! {
        refresh_s => (!off).then_some(every_s),
        reloads => said,
        reload_switch => context! {
            href => query.without_script(event, !off),
            text => words.text(switch, &[]),
        },
        ..page
    }
}

/// `GET /e/{event}`: the waiting page; with `Accept: application/json`, the join answer instead;
/// with `?nojs`, the page rendered on the server for browsers without JavaScript.
#[utoipa::path(get, path = "/e/{event}", tag = "pages", params(("event" = String, Path, description = "The event's id: 1-64 of A-Z a-z 0-9 _ -", example = "tour"),
        ("nojs" = Option<String>, Query, description = "The page rendered on the server, for browsers without JavaScript"),
        ("return_to" = Option<String>, Query, description = "Where the visitor was going when the edge sent them here"),
        ("reload" = Option<String>, Query, description = "`off`: the page without JavaScript does not reload itself")),
    responses(
        (status = 200, description = "The waiting page (with `Accept: application/json`, the join answer)", content(
            (String = "text/html"), (JoinAnswer = "application/json"))),
        (status = 201, description = "With `Accept: application/json`: joined", body = JoinAnswer),
        (status = "default", description = "A problem: a page for people, a document for programs", content(
            (String = "text/html"), (Problem = "application/problem+json")))))]
pub(super) async fn page(
    state: web::Data<AppState>,
    event: Result<KnownEvent, ApiError>,
    token: Presented,
    query: web::Query<PageQuery>,
    https: Https,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let peer = req.peer_addr().map(|addr| addr.ip());
    if wants_json(&req) {
        let request = (https, peer, req.headers());
        return visitor::join(&state, event?, token.as_deref(), request).await;
    }
    let accepted = req
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    let event = match event {
        Ok(event) => event,
        // A person followed a wrong link: a page that says so, not a JSON document.
        Err(e) => {
            let words = Catalogue::new(i18n::choose(accepted, None), None);
            let html = state
                .pages
                .render(templates::NOT_HERE, words_context(&words))?;
            return Ok(html_page(HttpResponse::build(e.status_code()), html, None));
        }
    };
    let page = &event.cached.settings().page;
    let lang = i18n::choose(accepted, page.language.as_deref());
    let words = Catalogue::new(lang, page.texts.get(lang));
    if query.nojs.is_some() {
        let client = client_of(&state, peer, req.headers());
        let request = (&event, https, client);
        return without_script(&state, request, token.as_deref(), &query, &words).await;
    }
    let html = state.pages.render(
        templates::WAITING,
        context! {
            event => event.id().as_str(),
            nojs_url => query.without_script(&event.line, false),
            messages_json => words.script_json(),
            ..words_context(&words)
        },
    )?;
    Ok(html_page(HttpResponse::Ok(), html, None))
}

/// The page as a browser without JavaScript gets it: joined (or kept) on the server, the place
/// shown, reloading itself while waiting, on to the site once it is the visitor's turn.
async fn without_script(
    state: &AppState,
    (event, https, client): (&KnownEvent, Https, Option<IpAddr>),
    token: Option<&str>,
    query: &PageQuery,
    words: &Catalogue,
) -> Result<HttpResponse, ApiError> {
    let return_to = query.return_to.as_deref();
    let settings = event.cached.settings();
    let title = settings
        .page
        .title
        .clone()
        .unwrap_or_else(|| event.line.to_string());
    let nonce = crate::domain::random_token_id();
    let mut response = HttpResponse::Ok();
    let base = context! {
        event => event.id().as_str(),
        title,
        message => settings.page.message.clone(),
        palette => Value::from(Serde(settings.page.palette())),
        nonce => nonce.clone(),
        ..words_context(words)
    };
    let presented = visitor::Presenting {
        client,
        code: query.code.as_deref(),
        solution: None,
        solves: false,
    };
    let page = match visitor::joined(state, event, token, presented).await {
        Ok(answer) => {
            response.cookie(visitor::visitor_cookie(state, https, event, &answer));
            let place = &answer.place;
            let continue_url = match &place.standing {
                Standing::Admitted {
                    pass, target_url, ..
                } => Some(hand_over_address(target_url, pass, return_to)),
                _ => None,
            };
            // Reloaded while the place is polled for, no faster than the line moves.
            let refresh_s = place
                .standing
                .poll_after_ms()
                .map(|_| admission::reload_after_s(&settings));
            let sentence = match &place.standing {
                Standing::Prequeue {
                    in_prequeue,
                    draw_chance: Some(draw_chance),
                    ..
                } => words.text(
                    "in_draw",
                    &[
                        ("n", (*in_prequeue).into()),
                        ("chance", percent(*draw_chance).into()),
                    ],
                ),
                Standing::Prequeue { draws_at, .. } => {
                    words.text("prequeue", &when(draws_at.as_deref().unwrap_or_default()))
                }
                Standing::Expired {
                    reason: ExpiredReason::ClaimWindowPassed,
                } => words.text("claim_passed", &[]),
                Standing::Expired {
                    reason: ExpiredReason::TokenExpired,
                } => words.text("expired", &[]),
                Standing::Waiting { .. } if place.state == EventState::Paused => {
                    match &place.resumes_at {
                        Some(at) => words.text("paused_until", &when(at)),
                        None => words.text("paused_line", &[]),
                    }
                }
                _ => match place.ahead {
                    0 => words.text("next", &[]),
                    ahead => words.text("ahead", &[("n", ahead.into())]),
                },
            };
            let estimate = match &place.standing {
                Standing::Waiting {
                    estimate: Some(estimate),
                    ..
                } => Some(words.wait(estimate.rounded)),
                _ => None,
            };
            context! {
                status => Value::from(Serde(place.standing.status())),
                position => words.number(place.position),
                ahead => words.number(place.ahead),
                estimate,
                continue_url,
                sentence,
                ..match refresh_s {
                    Some(every_s) => reloading(base, words, (query, &event.line), every_s),
                    None => base,
                }
            }
        }
        Err(ApiError::NotOpenYet { from, wait, .. }) => {
            let refresh_s = wait.as_secs().clamp(5, 60);
            context! {
                status => "upcoming",
                sentence => words.text("upcoming", &when(&from)),
                ..reloading(base, words, (query, &event.line), refresh_s)
            }
        }
        Err(refused) => match turned_away(&refused) {
            Some((message, code_form)) => context! {
                status => "closed",
                sentence => words.text(message, &[]),
                code_form,
                ..base
            },
            None => return Err(refused),
        },
    };
    let html = state.pages.render(templates::NO_SCRIPT, page)?;
    Ok(html_page(response, html, Some(&nonce)))
}

/// What the page without script says to a visitor a join turned away (as the script's `refusals`
/// table does), and whether it offers the field for an enqueue code; `None` for anything else.
fn turned_away(refused: &ApiError) -> Option<(&'static str, bool)> {
    Some(match refused {
        ApiError::EventClosed(_) => ("closed", false),
        ApiError::SoldOut(_) => ("sold_out", false),
        ApiError::KnownVisitorsOnly(_) => ("known_only", false),
        ApiError::InvitationRequired => ("invite_only", true),
        ApiError::InvalidCode => ("code_invalid", true),
        // The work is the page's script's: without it the page can only say so.
        ApiError::ChallengeRequired { .. } | ApiError::ChallengeBusy => {
            ("challenge_needs_script", false)
        }
        _ => return None,
    })
}

/// A time for the page without script, which cannot know the visitor's zone, as the messages'
/// `$day` and `$time`: "today" or the date (`2026-12-11`), and the clock time in UTC saying so
/// (`10:00 UTC`), rather than RFC 3339's `T` and `Z`.
fn when(rfc3339: &str) -> [(&'static str, FluentValue<'static>); 2] {
    let Ok(at) = chrono::DateTime::parse_from_rfc3339(rfc3339) else {
        return [("day", "today".into()), ("time", rfc3339.to_owned().into())];
    };
    let at = at.with_timezone(&chrono::Utc);
    let day = if at.date_naive() == chrono::Utc::now().date_naive() {
        "today".to_owned()
    } else {
        at.format("%Y-%m-%d").to_string()
    };
    [
        ("day", day.into()),
        ("time", at.format("%H:%M UTC").to_string().into()),
    ]
}

/// What every page is given of its language: `lang`, `dir` and the messages as `t`.
fn words_context(words: &Catalogue) -> Value {
    context! {
        lang => words.lang,
        dir => words.direction(),
        t => Value::from(Serde(words.messages())),
    }
}

/// A chance (0 to 1) as a percentage with one decimal, as the page's script gives it.
fn percent(chance: f64) -> f64 {
    (chance * 1000.0).round() / 10.0
}

/// Where an admitted visitor goes: the event's target with the pass (and where they were going).
fn hand_over_address(target: &str, pass: &str, return_to: Option<&str>) -> String {
    match url::Url::parse(target) {
        Ok(mut url) => {
            url.query_pairs_mut().append_pair("waitroom_pass", pass);
            if let Some(to) = return_to {
                url.query_pairs_mut().append_pair("to", to);
            }
            url.to_string()
        }
        Err(_) => target.to_owned(),
    }
}

/// An HTML page with the headers every page has: never cached, only its own script and style (and
/// the server-rendered page's one inline style, by `nonce`), no framing, no referrer.
fn html_page(mut response: HttpResponseBuilder, html: String, nonce: Option<&str>) -> HttpResponse {
    let policy = match nonce {
        Some(nonce) => PAGE_POLICY.replace(
            "style-src 'self'",
            &format!("style-src 'self' 'nonce-{nonce}'"),
        ),
        None => PAGE_POLICY.to_owned(),
    };
    response
        .insert_header(ContentType::html())
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::CONTENT_SECURITY_POLICY, policy))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        // frame-ancestors for browsers that predate it.
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .body(html)
}

/// What anyone may know of an event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct EventInfo {
    event: String,
    title: String,
    message: Option<String>,
    logo_url: Option<String>,
    accent_color: Option<String>,
    background_color: Option<String>,
    text_color: Option<String>,
    /// The colours to use: the branding's, made readable.
    palette: Palette,
    state: EventState,
    /// Where the schedule stands: `upcoming` (joins refused until `prequeue_from`, else
    /// `opens_at`), `prequeue`, `live` or `closed`.
    phase: Phase,
    #[serde(skip_serializing_if = "Option::is_none")]
    prequeue_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    opens_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    closes_at: Option<String>,
    /// When a break announced on the schedule begins (while it is ahead).
    #[serde(skip_serializing_if = "Option::is_none")]
    pauses_at: Option<String>,
    /// When the line moves again after the break ahead or the pause now, if that is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    resumes_at: Option<String>,
    /// The SHA-256 of the pre-queue draw's seed (`GET /v1/events/{event}/draw` has the rest).
    #[serde(skip_serializing_if = "Option::is_none")]
    draw_commitment: Option<String>,
    /// The waiting page's address.
    page: String,
}

/// `GET /v1/events/{event}`: what anyone may know of an event, for the page and for apps.
#[utoipa::path(get, path = "/v1/events/{event}", tag = "visitors", params(("event" = String, Path, description = "The event's id: 1-64 of A-Z a-z 0-9 _ -", example = "tour")),
    responses((status = 200, description = "The event's public information", body = EventInfo), (status = "default", description = "A problem document", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn info(
    KnownEvent {
        line: event,
        cached,
    }: KnownEvent,
) -> HttpResponse {
    let settings = cached.settings();
    let page = &settings.page;
    let now_ms = unix_ms();
    let pause = settings.pause_ahead(now_ms);
    let second = |ms: i64| rfc3339(ms.div_euclid(1_000));
    HttpResponse::Ok().json(EventInfo {
        event: event.to_string(),
        title: page.title.clone().unwrap_or_else(|| event.to_string()),
        message: page.message.clone(),
        logo_url: page.logo_url.clone(),
        accent_color: page.accent_color.clone(),
        background_color: page.background_color.clone(),
        text_color: page.text_color.clone(),
        palette: page.palette(),
        state: settings.state_at(now_ms),
        phase: settings.phase(now_ms),
        prequeue_from: settings
            .schedule
            .prequeue_from
            .map(|at| rfc3339(at.timestamp())),
        opens_at: settings.schedule.opens_at.map(|at| rfc3339(at.timestamp())),
        closes_at: settings
            .schedule
            .closes_at
            .map(|at| rfc3339(at.timestamp())),
        pauses_at: pause
            .filter(|(from_ms, _)| *from_ms > now_ms)
            .map(|(from_ms, _)| second(from_ms)),
        resumes_at: pause.and_then(|(_, until_ms)| until_ms).map(second),
        draw_commitment: cached.draw().map(|draw| draw.seed.commitment()),
        page: format!("/e/{event}"),
    })
}
