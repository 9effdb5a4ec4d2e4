//! What a visitor's request carries, read once at the edge: the configured event its path names
//! ([`KnownEvent`]) and the token it presents ([`Presented`]). Both are actix-web extractors for
//! the app's handlers, and plain constructors for the fast path, so both read requests alike.

use std::borrow::Cow;
use std::future::{ready, Ready};
use std::net::IpAddr;
use std::sync::Arc;

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::http::header::{self, HeaderMap};
use actix_web::{web, FromRequest, HttpRequest};

use super::auth::bearer;
use super::problem::ApiError;
use super::state::AppState;
use super::table::Route;
use crate::cache::CachedEvent;
use crate::domain::{EventId, LineId};
use crate::limits::client_address;
use crate::token::{Claims, TokenError};

/// The event id the request's path names (`{event}`), valid but not necessarily configured: the
/// admin API creates events.
pub struct PathEvent(pub EventId);

impl FromRequest for PathEvent {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let raw = req.match_info().get("event").unwrap_or_default();
        ready(EventId::parse(raw).map(PathEvent).map_err(ApiError::from))
    }
}

/// An event the request's path names (`{event}`), configured on this replica: its own line, or
/// (once a token says so, [`Holder::line`]) one of its lanes'.
pub struct KnownEvent {
    pub line: LineId,
    pub cached: Arc<CachedEvent>,
}

impl KnownEvent {
    /// The event `raw` names, or 400 for a malformed id and 404 for one nobody configured.
    pub fn find(state: &AppState, raw: &str) -> Result<Self, ApiError> {
        let line = LineId::from(EventId::parse(raw)?);
        let cached = state
            .cache
            .get(&line)
            .ok_or_else(|| ApiError::UnknownEvent(line.event().to_string()))?;
        Ok(Self { line, cached })
    }

    /// The event's id.
    pub fn id(&self) -> &EventId {
        self.line.event()
    }

    /// The event's own line, whichever lane this is: where what belongs to the whole event is
    /// kept (its enqueue codes, its challenges' used marks).
    pub fn own_line(&self) -> LineId {
        LineId::from(self.id().clone())
    }
}

fn app_state(req: &HttpRequest) -> Result<&AppState, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .map(|data| data.get_ref())
        .ok_or_else(|| ApiError::Internal("the app state is missing".into()))
}

impl FromRequest for KnownEvent {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let raw = req.match_info().get("event").unwrap_or_default();
        ready(app_state(req).and_then(|state| {
            let event = KnownEvent::find(state, raw)?;
            let peer = req.peer_addr().map(|addr| addr.ip());
            within_limits(state, &event, Route::of(req.path()), peer, req.headers())?;
            Ok(event)
        }))
    }
}

const X_FORWARDED_FOR: header::HeaderName = header::HeaderName::from_static("x-forwarded-for");

/// Counts a request against its route's per-client limit for the event (the one check for the app's
/// routes and the fast path alike): [`ApiError::RateLimited`] past it.
pub fn within_limits(
    state: &AppState,
    event: &KnownEvent,
    route: Option<Route>,
    peer: Option<IpAddr>,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    let Some((route, kind)) = route.and_then(|route| Some((route, route.limited()?))) else {
        return Ok(());
    };
    if !event.cached.limits_on() {
        return Ok(());
    }
    let limits = event.cached.settings().rate_limits;
    let Some(client) = client_of(state, peer, headers) else {
        return Ok(());
    };
    state
        .limiters
        .check(event.id(), &limits, kind, client)
        .map_err(|wait| {
            event.cached.count_refusal();
            state
                .metrics
                .rate_limited
                .with_label_values(&[route.pattern()])
                .inc();
            ApiError::RateLimited(wait)
        })
}

/// The client's address: the peer's, or the one the trusted proxies forwarded (see
/// [`client_address`]).
pub fn client_of(state: &AppState, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
    // Every line of the header, in order: a proxy may add its own line after the client's.
    let forwarded: Vec<&str> = headers
        .get_all(X_FORWARDED_FOR)
        .filter_map(|value| value.to_str().ok())
        .collect();
    if state.trusted_proxies.is_empty() && !forwarded.is_empty() {
        warn_of_an_untrusted_proxy(peer);
    }
    client_address(peer, &forwarded, &state.trusted_proxies)
}

/// Says once, when a proxy on a private network forwards visitors while no proxy is trusted: every
/// visitor behind it then counts as its one address for the rate limits.
fn warn_of_an_untrusted_proxy(peer: Option<IpAddr>) {
    static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if peer.is_some_and(crate::limits::is_private)
        && !SAID.swap(true, std::sync::atomic::Ordering::Relaxed)
    {
        tracing::warn!(
            peer = ?peer,
            "requests arrive through a proxy on a private network with X-Forwarded-For, but no proxy \
             is trusted: every visitor behind it counts as its one address for the rate limits; set \
             trusted_proxies (the chart's config.trustedProxies) to its addresses"
        );
    }
}

/// The token a request presents for the path's event: `Authorization: Bearer` first, then the
/// event's pass cookie (set by the hand-over on the booking site's domain), then its token cookie.
pub struct Presented(pub Option<String>);

/// The suffix of a pass cookie's name: `<prefix><event>.pass`. Event ids never hold a `.`, so it
/// cannot be another event's token cookie.
const PASS_COOKIE_SUFFIX: &str = ".pass";

impl Presented {
    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

/// The token `headers` present for `event` (the path's raw segment), borrowed where it can be.
pub fn presented_token<'r>(
    headers: &'r HeaderMap,
    cookie_prefix: &str,
    event: &str,
) -> Option<Cow<'r, str>> {
    bearer(headers).map(Cow::Borrowed).or_else(|| {
        fn named<'n>(name: &'n str, prefix: &str) -> Option<&'n str> {
            name.strip_prefix(prefix)
        }
        let is_pass = |name: &str| {
            named(name, cookie_prefix).and_then(|rest| rest.strip_suffix(PASS_COOKIE_SUFFIX))
                == Some(event)
        };
        let cookies = headers
            .get_all(header::COOKIE)
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| Cookie::parse_encoded(pair.trim()).ok());
        let (mut pass, mut token) = (None, None);
        for cookie in cookies {
            if is_pass(cookie.name()) {
                pass = Some(cookie);
            } else if named(cookie.name(), cookie_prefix) == Some(event) {
                token = Some(cookie);
            }
        }
        pass.or(token)
            .map(|cookie| Cow::Owned(cookie.value().to_owned()))
    })
}

impl FromRequest for Presented {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let event = req.match_info().get("event").unwrap_or_default();
        ready(app_state(req).map(|state| {
            Presented(
                presented_token(req.headers(), &state.cookie_prefix, event).map(Cow::into_owned),
            )
        }))
    }
}

/// Verifies a token, counting refusals by reason for the metrics.
pub fn verify_token(
    state: &AppState,
    token: &str,
    event: Option<&EventId>,
) -> Result<Arc<Claims>, TokenError> {
    state
        .tokens
        .verify(token, event, crate::clock::unix_s())
        .inspect_err(|e| {
            state
                .metrics
                .token_rejections
                .with_label_values(&[e.reason()])
                .inc();
        })
}

/// The presented token's holder: its claims, and the line they stand in when it is one of the
/// event's lanes.
pub struct Holder {
    pub claims: Arc<Claims>,
    pub lane: Option<KnownEvent>,
}

impl Holder {
    /// The line the holder stands in: their lane's, or the event's own.
    pub fn line<'a>(&'a self, event: &'a KnownEvent) -> &'a KnownEvent {
        self.lane.as_ref().unwrap_or(event)
    }
}

/// The presented token's holder: a genuine token of this event (or of one of its lanes) whose place
/// was not given up.
pub fn holder(
    state: &AppState,
    event: &KnownEvent,
    token: Option<&str>,
) -> Result<Holder, ApiError> {
    let token = token.ok_or(ApiError::MissingToken)?;
    let claims = verify_token(state, token, Some(event.id()))?;
    let held = placed(state, event, claims)?;
    if held.line(event).cached.gave_up(&held.claims) {
        return Err(ApiError::LeftLine);
    }
    Ok(held)
}

/// Where the holder of `claims` (a token of `event`, verified or just expired) stands: their lane's
/// line, and their claims read there (a drawn pre-queue or pool place at its drawn position).
pub fn placed(
    state: &AppState,
    event: &KnownEvent,
    claims: Arc<Claims>,
) -> Result<Holder, ApiError> {
    let lane = lane_line(state, event, &claims)?;
    let line = lane.as_ref().unwrap_or(event);
    let claims = crate::admission::at_drawn_place(&line.cached, claims);
    Ok(Holder { claims, lane })
}

/// The lane's line a token of `event` stands in, if it is not the event's own.
fn lane_line(
    state: &AppState,
    event: &KnownEvent,
    claims: &Claims,
) -> Result<Option<KnownEvent>, ApiError> {
    // Most tokens are of the event's own line: known without building its id.
    if claims.lane.is_none() && claims.aud.len() == event.id().as_str().len() {
        return Ok(None);
    }
    token_line(state, claims).map(Some)
}

/// The line a genuine token's place is in, as this replica knows it: its event's, or its lane's
/// ([`Claims::line`]). Every route that reads a token finds its line here: the visitor's routes and
/// the gate ([`holder`]), and the booking service's.
pub fn token_line(state: &AppState, claims: &Claims) -> Result<KnownEvent, ApiError> {
    let line = claims.line()?;
    let cached = state
        .cache
        .get(&line)
        .ok_or_else(|| ApiError::UnknownEvent(line.to_string()))?;
    Ok(KnownEvent { line, cached })
}

/// Whether the visitor reached waitroom over HTTPS, so its cookies must be `Secure`: always with
/// `cookie_secure`, else when a trusted proxy says so (`X-Forwarded-Proto: https`; waitroom itself
/// listens in plain HTTP behind it).
pub fn over_https(state: &AppState, peer: Option<IpAddr>, headers: &HeaderMap) -> Https {
    let trusted =
        peer.is_some_and(|peer| state.trusted_proxies.iter().any(|net| net.contains(&peer)));
    let forwarded_https = headers
        .get("x-forwarded-proto")
        .and_then(|value| value.to_str().ok())
        .and_then(|protos| protos.split(',').next())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"));
    Https(state.cookie_secure || (trusted && forwarded_https))
}

/// Whether a request came over HTTPS (see [`over_https`]): its cookies are then `Secure`.
#[derive(Debug, Clone, Copy)]
pub struct Https(pub bool);

impl FromRequest for Https {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let peer = req.peer_addr().map(|addr| addr.ip());
        ready(app_state(req).map(|state| over_https(state, peer, req.headers())))
    }
}

/// The cookie that keeps a visitor's token for `event`; `ttl_s` 0 removes it.
pub fn token_cookie(
    state: &AppState,
    https: Https,
    event: &EventId,
    token: &str,
    ttl_s: u64,
) -> Cookie<'static> {
    // One cookie per event, whichever lane the token stands in.
    let name = format!("{}{event}", state.cookie_prefix);
    cookie(https, name, token, ttl_s)
}

/// The cookie that carries an admission pass on the booking site's own domain.
pub fn pass_cookie(
    state: &AppState,
    https: Https,
    event: &EventId,
    pass: &str,
    ttl_s: u64,
) -> Cookie<'static> {
    let name = format!("{}{event}{PASS_COOKIE_SUFFIX}", state.cookie_prefix);
    cookie(https, name, pass, ttl_s)
}

fn cookie(https: Https, name: String, value: &str, ttl_s: u64) -> Cookie<'static> {
    let mut cookie = Cookie::build(name, value.to_owned())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(https.0)
        .max_age(CookieDuration::seconds(
            i64::try_from(ttl_s).unwrap_or(i64::MAX),
        ))
        .finish();
    if ttl_s == 0 {
        cookie.make_removal();
    }
    cookie
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_wins_over_the_cookie_and_only_the_events_cookie_counts() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, "wr_other=a; wr_tour=b%2Ec".parse().unwrap());
        assert_eq!(
            presented_token(&headers, "wr_", "tour").as_deref(),
            Some("b.c")
        );
        assert_eq!(presented_token(&headers, "wr_", "none"), None);
        headers.append(
            header::COOKIE,
            "wr_tour.pass=p; wr_.pass=x".parse().unwrap(),
        );
        assert_eq!(
            presented_token(&headers, "wr_", "tour").as_deref(),
            Some("p"),
            "the pass cookie first"
        );
        headers.insert(header::AUTHORIZATION, "Bearer t".parse().unwrap());
        assert_eq!(
            presented_token(&headers, "wr_", "tour").as_deref(),
            Some("t")
        );
    }
}
