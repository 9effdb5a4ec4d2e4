//! The visitor's routes: join, status, leave, and the gate the edge asks on their behalf.
//! Each handler reads like its route's contract: what it takes (extractors), what it answers. Join,
//! status and gate are plain functions the fast path calls too; their app routes are thin adapters.

use std::net::IpAddr;
use std::sync::Arc;

use actix_web::http::header::{HeaderMap, HeaderName};
use actix_web::{mime, web, HttpRequest, HttpResponse, HttpResponseBuilder, ResponseError};
use serde::Serialize;

use super::cors;
use super::entry::{decided_claim, may_enter, renewed_pass, Use};
use super::extract::{
    client_of, holder, over_https, pass_cookie, placed, token_cookie, Holder, Https, KnownEvent,
    Presented,
};
use super::problem::{ApiError, Problem};
use super::state::AppState;
use super::table::Route;
use crate::admission::{self, ExpiredReason, VisitorStatus};
use crate::cache::{CachedEvent, SignedPass};
use crate::challenge::{Unsolved, Verified};
use crate::clock::{rfc3339, unix_ms, unix_s};
use crate::domain::{EnqueueCode, EventId, EventState, LineId, Phase, VisitorId};
use crate::estimate::Estimate;
use crate::limits::{limit_key, JoinQuota};
use crate::store::{JoinAs, Joined, PrequeueLeave, StoreError};
use crate::token::{Claims, TokenError, TokenKind};

/// What a visitor holding a waiting token is told, on joining and on every status check: where
/// they are, and what follows from it ([`Standing`], flattened under its `status`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Place {
    #[schema(value_type = String)]
    pub event: EventId,
    /// The priority lane the place is in, for an event with lanes (the first lane's places say
    /// nothing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lane: Option<String>,
    #[serde(flatten)]
    pub standing: Standing,
    pub position: u64,
    /// Visitors still waiting before this one.
    pub ahead: u64,
    pub admitted_through: u64,
    /// The event's state: a paused line does not move.
    pub state: EventState,
    /// While paused: when the line moves again, if that was announced (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumes_at: Option<String>,
    /// A pre-queue token's exchange, once drawn: a waiting token carrying the drawn position, to
    /// use from now on (also set as the cookie).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "verbatim_token_option"
    )]
    pub token: Option<String>,
}

/// Where a place stands, with what only that standing has to say.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Standing {
    /// The pointer has not reached them yet.
    Waiting {
        /// When to ask again, if push updates are not used.
        poll_after_ms: u64,
        /// How long the wait will likely be; absent while the line does not move on its own.
        #[serde(skip_serializing_if = "Option::is_none")]
        estimate: Option<Estimate>,
    },
    /// The pointer passed them: the pass to enter with.
    Admitted {
        #[serde(serialize_with = "verbatim_token")]
        pass: String,
        pass_expires_at: String,
        target_url: String,
    },
    /// Their place no longer admits them.
    Expired { reason: ExpiredReason },
    /// Not placed yet: in a pre-queue, whose order is drawn at `draws_at`; or in the pool of an
    /// event that draws at random, drawn from at each release.
    Prequeue {
        poll_after_ms: u64,
        /// When the pre-queue's order is drawn, or the next release draws (RFC 3339).
        #[serde(skip_serializing_if = "Option::is_none")]
        draws_at: Option<String>,
        /// How many wait to be drawn.
        in_prequeue: u64,
        /// In the draw of an event that draws at random: the chance of being drawn by the next
        /// release, as things stand (0 to 1; everyone waiting has the same).
        #[serde(skip_serializing_if = "Option::is_none")]
        draw_chance: Option<f64>,
    },
}

impl Standing {
    pub fn status(&self) -> VisitorStatus {
        match self {
            Standing::Waiting { .. } => VisitorStatus::Waiting,
            Standing::Admitted { .. } => VisitorStatus::Admitted,
            Standing::Expired { .. } => VisitorStatus::Expired,
            Standing::Prequeue { .. } => VisitorStatus::Prequeue,
        }
    }

    /// When to ask again, while there is something to wait for.
    pub fn poll_after_ms(&self) -> Option<u64> {
        match self {
            Standing::Waiting { poll_after_ms, .. } | Standing::Prequeue { poll_after_ms, .. } => {
                Some(*poll_after_ms)
            }
            Standing::Admitted { .. } | Standing::Expired { .. } => None,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JoinAnswer {
    pub visitor: String,
    /// False when the visitor already held this place (a refresh, a second tab, a known user).
    pub fresh: bool,
    #[serde(serialize_with = "verbatim_token")]
    pub token: String,
    pub expires_at: String,
    #[serde(flatten)]
    pub place: Place,
}

/// Writes a token as a JSON string without the escaping pass: tokens are base64url and dots, which
/// JSON never escapes, and checking every character for escapes cost a join about a twentieth of its
/// time. The raw value is still validated, so a token that needed escaping would be an error, not
/// broken JSON.
fn verbatim_token<S: serde::Serializer>(token: &str, serializer: S) -> Result<S::Ok, S::Error> {
    let raw = serde_json::value::RawValue::from_string(format!("\"{token}\""))
        .map_err(serde::ser::Error::custom)?;
    raw.serialize(serializer)
}

fn verbatim_token_option<S: serde::Serializer>(
    token: &Option<String>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match token {
        Some(token) => verbatim_token(token, serializer),
        None => serializer.serialize_none(),
    }
}

/// A JSON answer written into a buffer large enough from the start: `HttpResponseBuilder::json`
/// starts from 128 bytes, and growing it took three reallocations for a join's answer.
fn json_answer(mut response: HttpResponseBuilder, value: &impl Serialize) -> HttpResponse {
    let mut body = Vec::with_capacity(1_024);
    match serde_json::to_writer(&mut body, value) {
        Ok(()) => response.content_type(mime::APPLICATION_JSON).body(body),
        Err(e) => ApiError::Internal(format!("an answer did not serialise: {e}")).error_response(),
    }
}

/// A place at `position` in `event`, standing as `standing` says.
fn place_at(event: &LineId, cached: &CachedEvent, position: u64, standing: Standing) -> Place {
    let settings = cached.settings();
    let now_ms = unix_ms();
    let state = settings.state_at(now_ms);
    let resumes_at = match settings.pause_ahead(now_ms) {
        Some((from_ms, Some(until_ms))) if from_ms <= now_ms => {
            Some(crate::clock::rfc3339(until_ms.div_euclid(1_000)))
        }
        _ => None,
    };
    Place {
        event: event.event().clone(),
        lane: event.lane().map(|lane| lane.as_str().to_owned()),
        standing,
        position,
        ahead: cached.ahead_of(position),
        admitted_through: cached.admitted_through(),
        state,
        resumes_at,
        token: None,
    }
}

/// A place the pointer has not reached yet.
fn waiting_place(event: &LineId, cached: &CachedEvent, position: u64) -> Place {
    let ahead = cached.ahead_of(position);
    let standing = Standing::Waiting {
        poll_after_ms: admission::poll_after_ms(&cached.settings(), ahead),
        estimate: cached.estimate(ahead),
    };
    place_at(event, cached, position, standing)
}

/// What the holder of an arrival number not drawn yet is told (in a pre-queue, or in the pool of an
/// event that draws at random): no position yet, and when the draw that may give them one happens.
fn prequeue_place(event: &LineId, cached: &CachedEvent) -> Place {
    let undrawn = admission::undrawn(cached, unix_ms());
    let standing = Standing::Prequeue {
        poll_after_ms: undrawn.poll_after_ms,
        draws_at: undrawn.draws_at_s.map(rfc3339),
        in_prequeue: undrawn.waiting,
        draw_chance: undrawn.chance,
    };
    place_at(event, cached, 0, standing)
}

/// Whether `event` takes joins now: not before its pre-queue (or its opening), not once closed.
pub(super) fn check_joinable(event: &KnownEvent) -> Result<(), ApiError> {
    let settings = event.cached.settings();
    let now = unix_ms();
    match settings.phase(now) {
        Phase::Closed => Err(ApiError::EventClosed(event.line.to_string())),
        Phase::Upcoming => {
            let from = settings.joins_from_ms().unwrap_or(now);
            Err(ApiError::NotOpenYet {
                event: event.line.to_string(),
                from: rfc3339(from.div_euclid(1_000)),
                wait: std::time::Duration::from_millis(u64::try_from(from - now).unwrap_or(0)),
            })
        }
        Phase::Live if !admission::intake_of(&event.cached.policy()).takes_joins() => {
            Err(ApiError::SoldOut(event.line.to_string()))
        }
        Phase::Prequeue | Phase::Live => Ok(()),
    }
}

/// A waiting (or pre-queue) token for `visitor`'s `position`, with its claims.
fn sign_place(
    state: &AppState,
    event: &KnownEvent,
    visitor: &VisitorId,
    (kind, position): (TokenKind, u64),
) -> (String, Claims) {
    let ttl = event.cached.settings().admission.token_ttl_s;
    state
        .tokens
        .sign(kind, &event.line, visitor, position, unix_s(), ttl)
}

impl JoinAnswer {
    fn new(
        visitor: &VisitorId,
        fresh: bool,
        (token, claims): (String, Claims),
        place: Place,
    ) -> Self {
        JoinAnswer {
            visitor: visitor.to_string(),
            fresh,
            token,
            expires_at: rfc3339(claims.exp),
            place,
        }
    }
}

/// Signs a waiting (or pre-queue) token for `position`, whose answer is `place`: the join's answer.
pub(super) fn sign_join(
    state: &AppState,
    event: &KnownEvent,
    visitor: &VisitorId,
    held: (TokenKind, u64),
    place: Place,
    fresh: bool,
) -> JoinAnswer {
    let signed = sign_place(state, event, visitor, held);
    JoinAnswer::new(visitor, fresh, signed, place)
}

/// A join's answer as JSON, with the token in the cookie too for the visitor's own join (`cookie`:
/// whether the request came over HTTPS), not for a booking site's join on a user's behalf (`None`).
pub(super) fn join_response(
    state: &AppState,
    event: &KnownEvent,
    answer: &JoinAnswer,
    cookie: Option<Https>,
) -> HttpResponse {
    let mut response = if answer.fresh {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    if let Some(https) = cookie {
        response.cookie(visitor_cookie(state, https, event, answer));
    }
    json_answer(response, answer)
}

/// The cookie that keeps a join's token.
pub(super) fn visitor_cookie(
    state: &AppState,
    https: Https,
    event: &KnownEvent,
    answer: &JoinAnswer,
) -> actix_web::cookie::Cookie<'static> {
    let ttl = event.cached.settings().admission.token_ttl_s;
    token_cookie(state, https, event.id(), &answer.token, ttl)
}

/// `POST /v1/events/{event}/join`: joins the line, or keeps the place of a visitor who already
/// holds a valid token.
pub async fn join(
    state: &AppState,
    event: KnownEvent,
    token: Option<&str>,
    (https, peer, headers): (Https, Option<IpAddr>, &HeaderMap),
) -> Result<HttpResponse, ApiError> {
    cors::join_allowed(&event.cached, headers)?;
    let client = client_of(state, peer, headers);
    let text = |name: &HeaderName| headers.get(name).and_then(|value| value.to_str().ok());
    let presented = Presenting {
        client,
        code: text(&CODE_HEADER),
        solution: text(&SOLUTION_HEADER),
        solves: true,
    };
    let answer = joined(state, &event, token, presented).await?;
    Ok(join_response(state, &event, &answer, Some(https)))
}

/// Where a join presents an enqueue code or a signed invitation.
pub(super) const CODE_HEADER: HeaderName = HeaderName::from_static("x-waitroom-code");
/// Where a join presents the solution of its challenge (base64 of ALTCHA's JSON payload).
pub(super) const SOLUTION_HEADER: HeaderName = HeaderName::from_static("x-waitroom-solution");

/// What a join brings besides a token: where it comes from, and what may buy it a place.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Presenting<'a> {
    /// The client's address: new places count against its quota.
    pub client: Option<IpAddr>,
    /// An enqueue code or a signed invitation.
    pub code: Option<&'a str>,
    /// The solution of the event's challenge.
    pub solution: Option<&'a str>,
    /// Whether the asker can solve a challenge: the page without script cannot, and is refused
    /// without one being made for it (making one costs the server its derivation).
    pub solves: bool,
}

/// What joining answers: a new place, or the one the token holds (with the pass once its turn
/// came, as a status check would give it), bought with what the join presents.
pub(super) async fn joined(
    state: &AppState,
    event: &KnownEvent,
    token: Option<&str>,
    Presenting {
        client,
        code,
        solution,
        solves,
    }: Presenting<'_>,
) -> Result<JoinAnswer, ApiError> {
    check_joinable(event)?;
    // Refresh-proof: a visitor who holds a valid place keeps it, and no new number is drawn.
    if let Ok(held) = holder(state, event, token) {
        let (claims, line) = (&held.claims, held.line(event));
        if let Ok(visitor) = VisitorId::parse(&claims.sub) {
            let place = current_place(state, line, claims).await?;
            let kept = (claims.kind, claims.pos);
            return Ok(sign_join(state, line, &visitor, kept, place, false));
        }
    }
    // A signed invitation: the booking site's user, one place per user id.
    if let Some(invitation) = code.filter(|code| code.contains('.')) {
        let visitor = invited(state, event, invitation);
        count_code(
            state,
            if visitor.is_ok() {
                "invited"
            } else {
                "refused"
            },
        );
        let visitor = visitor?;
        let joined = take_place(state, event, &visitor, JoinAs::Trusted).await?;
        let kind = admission::joining_kind(&event.cached, &joined);
        return join_answer(state, event, &visitor, kind, joined).await;
    }
    let policy = event.cached.policy();
    if !policy.anonymous_joins {
        return Err(ApiError::KnownVisitorsOnly(event.line.to_string()));
    }
    // Arrival is the solved join: the place is drawn once the work is done.
    let solved = match policy.challenge_cost {
        Some(cost) => Some(verified_solution(state, event, (cost, solves), solution).await?),
        None => None,
    };
    let spent = match policy.invite_only {
        true => Some(spend_code(state, event, code).await?),
        false => None,
    };
    // Anonymous visitors never choose their id, so nobody can claim another's place.
    let visitor = VisitorId::generate();
    let quota = quota_of(event, client);
    let who = match (solved, quota) {
        (Some(solved), quota) => JoinAs::Solved(solved, quota),
        (None, Some(quota)) => JoinAs::Counted(quota),
        (None, None) => JoinAs::Anonymous,
    };
    let taken = match anonymous_place(state, event, &visitor, who).await {
        Err(StoreError::Spent) => {
            let cost = policy.challenge_cost.unwrap_or(1);
            Err(challenge_refused(state, event, cost, Unsolved::Used).await)
        }
        taken => taken.map_err(ApiError::from),
    };
    let joined = match (taken, spent) {
        (Ok(joined), _) => joined,
        // No place for the code: it is good for another try.
        (Err(e), Some(digest)) => {
            if let Err(lost) = state.store.add_codes(&event.own_line(), &[digest]).await {
                tracing::warn!(event = %event.line, error = %lost, "an enqueue code spent on a join that failed could not be put back");
            }
            return Err(e);
        }
        (Err(e), None) => return Err(e),
    };
    let kind = admission::joining_kind(&event.cached, &joined);
    join_answer(state, event, &visitor, kind, joined).await
}

/// Checks the solution of the event's challenge a join presents (the join marks it spent): a new
/// challenge to solve with the refusal otherwise.
async fn verified_solution(
    state: &AppState,
    event: &KnownEvent,
    (cost, solves): (u32, bool),
    solution: Option<&str>,
) -> Result<Verified, ApiError> {
    let checked = solution
        .ok_or(Unsolved::Missing)
        .and_then(|solution| state.challenges.check(event.id(), solution));
    match checked {
        Ok(verified) => {
            count_challenge(state, "solved");
            Ok(verified)
        }
        Err(why) if solves => Err(challenge_refused(state, event, cost, why).await),
        Err(why) => Err(ApiError::ChallengeRequired {
            why,
            challenge: None,
        }),
    }
}

/// A join refused for `why`, with a new challenge of `cost` to solve (or, with every core busy
/// making challenges, told to come back).
async fn challenge_refused(
    state: &AppState,
    event: &KnownEvent,
    cost: u32,
    why: Unsolved,
) -> ApiError {
    match state.challenges.issue(event.id(), cost, unix_s()).await {
        Some(challenge) => {
            count_challenge(state, "issued");
            ApiError::ChallengeRequired {
                why,
                challenge: Some(Box::new(challenge)),
            }
        }
        None => {
            count_challenge(state, "busy");
            ApiError::ChallengeBusy
        }
    }
}

fn count_challenge(state: &AppState, result: &str) {
    state.metrics.challenges.with_label_values(&[result]).inc();
}

/// Spends the enqueue code a join to an invite-only event presents: its digest, to put back should
/// the join fail.
async fn spend_code(
    state: &AppState,
    event: &KnownEvent,
    code: Option<&str>,
) -> Result<[u8; 32], ApiError> {
    let code = code.ok_or(ApiError::InvitationRequired)?;
    let Some(code) = EnqueueCode::parse(code) else {
        count_code(state, "refused");
        return Err(ApiError::InvalidCode);
    };
    let digest = code.digest();
    let spent = state.store.use_code(&event.own_line(), digest).await?;
    count_code(state, if spent { "spent" } else { "refused" });
    spent.then_some(digest).ok_or(ApiError::InvalidCode)
}

fn count_code(state: &AppState, result: &str) {
    state
        .metrics
        .codes_presented
        .with_label_values(&[result])
        .inc();
}

/// The visitor a booking site's signed invitation names (HS256 with `invitation_secret`, for this
/// event, unexpired), or [`ApiError::InvalidCode`].
fn invited(state: &AppState, event: &KnownEvent, invitation: &str) -> Result<VisitorId, ApiError> {
    #[derive(serde::Deserialize)]
    struct Invitation {
        sub: String,
    }
    let key = state.invitations.as_ref().ok_or(ApiError::InvalidCode)?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_audience(&[event.id().as_str()]);
    validation.set_required_spec_claims(&["exp", "aud", "sub"]);
    validation.leeway = 5;
    let invitation = jsonwebtoken::decode::<Invitation>(invitation, key, &validation)
        .map_err(|_| ApiError::InvalidCode)?;
    VisitorId::parse(&invitation.claims.sub).map_err(|_| ApiError::InvalidCode)
}

/// The quota of new places an anonymous join from `client` counts against, where the event limits
/// joins.
fn quota_of(event: &KnownEvent, client: Option<IpAddr>) -> Option<JoinQuota> {
    let client = client?;
    if !event.cached.limits_on() {
        return None;
    }
    let per_minute = event.cached.settings().rate_limits.joins_per_minute;
    (per_minute > 0).then(|| JoinQuota {
        client: limit_key(client),
        per_minute,
    })
}

/// A new anonymous place; one counted against a quota where every replica counts it, refused by
/// the store past it, is refused (429) here until the quota recovers, without asking the store
/// again.
async fn anonymous_place(
    state: &AppState,
    event: &KnownEvent,
    visitor: &VisitorId,
    who: JoinAs,
) -> Result<Joined, StoreError> {
    let taken = take_place(state, event, visitor, who).await;
    if let (Err(StoreError::OverQuota(wait)), Some(quota)) = (&taken, who.quota()) {
        let limits = event.cached.settings().rate_limits;
        state
            .limiters
            .over_quota(event.id(), &limits, quota.client, *wait);
        event.cached.count_refusal();
        state
            .metrics
            .rate_limited
            .with_label_values(&[Route::Join.pattern()])
            .inc();
    }
    taken
}

/// The answer to a join that took `joined`, with a token of `kind`; for one the event's intake let
/// in at once, what a status check with the new token says: admitted, with the pass.
pub(super) async fn join_answer(
    state: &AppState,
    event: &KnownEvent,
    visitor: &VisitorId,
    kind: TokenKind,
    joined: Joined,
) -> Result<JoinAnswer, ApiError> {
    let intake = admission::intake_of(&event.cached.policy());
    let line = (&event.line, event.cached.as_ref());
    if intake
        .after_join(state.store.as_ref(), &state.cache, line, &joined)
        .await?
    {
        let signed = sign_place(state, event, visitor, (kind, joined.position));
        let place = current_place(state, event, &signed.1).await?;
        return Ok(JoinAnswer::new(visitor, joined.fresh, signed, place));
    }
    joined_place(state, event, visitor, kind, joined).await
}

/// Takes a place for `visitor` where the event's intake puts it (see [`admission::take_place`]),
/// counted as a join when it is a new one.
pub(super) async fn take_place(
    state: &AppState,
    event: &KnownEvent,
    visitor: &VisitorId,
    who: JoinAs,
) -> Result<Joined, StoreError> {
    let line = (&event.line, event.cached.as_ref());
    let joined = admission::take_place(state.store.as_ref(), line, visitor, who, unix_ms()).await?;
    if joined.fresh {
        state
            .metrics
            .joins
            .with_label_values(&crate::metrics::line_labels(&event.line))
            .inc();
    }
    Ok(joined)
}

/// The answer to a join that drew `joined` with a token of `kind`.
async fn joined_place(
    state: &AppState,
    event: &KnownEvent,
    visitor: &VisitorId,
    kind: TokenKind,
    joined: Joined,
) -> Result<JoinAnswer, ApiError> {
    let held = (kind, joined.position);
    let signed = sign_place(state, event, visitor, held);
    let place = current_place(state, event, &signed.1).await?;
    Ok(JoinAnswer::new(visitor, joined.fresh, signed, place))
}

/// `GET /v1/events/{event}/status`: where the token's holder stands, with a pass once admitted.
pub async fn status(
    state: &AppState,
    event: KnownEvent,
    token: Option<&str>,
    https: Https,
) -> Result<HttpResponse, ApiError> {
    let (place, exchanged) = match holder(state, &event, token) {
        Ok(held) => {
            let (claims, line) = (&held.claims, held.line(&event));
            let mut place = current_place(state, line, claims).await?;
            let exchanged = exchange(state, line, claims);
            place.token = exchanged.clone();
            (place, exchanged)
        }
        Err(ApiError::InvalidToken(TokenError::Expired(claims))) => {
            let held = placed(state, &event, claims)?;
            let line = held.line(&event);
            let place = expired_place(
                &line.line,
                &line.cached,
                held.claims.pos,
                ExpiredReason::TokenExpired,
            );
            (place, None)
        }
        Err(e) => return Err(e),
    };
    let mut response = HttpResponse::Ok();
    if let Some(token) = &exchanged {
        let ttl = event.cached.settings().admission.token_ttl_s;
        response.cookie(token_cookie(state, https, event.id(), token, ttl));
    }
    Ok(json_answer(response, &place))
}

/// A pre-queue token read as its drawn position, exchanged for a waiting token that carries it.
fn exchange(state: &AppState, event: &KnownEvent, claims: &Claims) -> Option<String> {
    claims.drawn_from?;
    let visitor = VisitorId::parse(&claims.sub).ok()?;
    let held = (TokenKind::Waiting, claims.pos);
    Some(sign_place(state, event, &visitor, held).0)
}

pub(super) fn expired_place(
    event: &LineId,
    cached: &CachedEvent,
    position: u64,
    reason: ExpiredReason,
) -> Place {
    place_at(event, cached, position, Standing::Expired { reason })
}

/// The answer for a valid token's holder, with the admission pass once the pointer has passed them;
/// an error only when the pass cannot be decided now (the store away, on an event that holds).
pub(super) async fn current_place(
    state: &AppState,
    event: &KnownEvent,
    claims: &Claims,
) -> Result<Place, ApiError> {
    // Every caller reads a pre-queue token at its drawn position first
    // (`admission::at_drawn_place`): one still of that kind is not drawn yet.
    if claims.kind == TokenKind::Prequeue {
        return Ok(prequeue_place(&event.line, &event.cached));
    }
    let (id, cached) = (&event.line, &event.cached);
    if admission::standing(claims.pos, cached.admitted_through()) != VisitorStatus::Admitted {
        return Ok(waiting_place(id, cached, claims.pos));
    }
    let standing = match hand_out_pass(state, event, claims).await? {
        Ok(pass) => pass,
        Err(reason) => Standing::Expired { reason },
    };
    Ok(place_at(id, cached, claims.pos, standing))
}

/// An admitted visitor's admission pass: one that expires when the admission ends, a pass lifetime
/// after the first claim, however often it is asked for.
async fn hand_out_pass(
    state: &AppState,
    event: &KnownEvent,
    claims: &Claims,
) -> Result<Result<Standing, ExpiredReason>, ApiError> {
    let (id, cached) = (&event.line, &event.cached);
    let settings = cached.settings();
    let now = unix_s();
    let decided = decided_claim(state, id, cached, claims.pos).await?;
    let ends = match decided.ends(settings.admission.pass_ttl_s, now) {
        Ok(ends) => ends,
        Err(reason) => return Ok(Err(reason)),
    };
    let reuse_s = admission::pass_reuse_s(&settings);
    let pass = match cached.recent_pass(claims.pos, now, reuse_s) {
        Some(pass) => pass,
        None => {
            let visitor = VisitorId::parse(&claims.sub).unwrap_or_else(|_| VisitorId::generate());
            let lifetime_s = u64::try_from(ends - now).unwrap_or(1);
            let (token, pass_claims) =
                state
                    .tokens
                    .sign(TokenKind::Pass, id, &visitor, claims.pos, now, lifetime_s);
            let pass = Arc::new(SignedPass {
                token,
                issued_at: now,
                expires_at: rfc3339(pass_claims.exp),
            });
            cached.keep_pass(claims.pos, pass.clone(), reuse_s);
            pass
        }
    };
    Ok(Ok(Standing::Admitted {
        pass: pass.token.clone(),
        pass_expires_at: pass.expires_at.clone(),
        target_url: settings.admission.target_url.clone(),
    }))
}

const VISITOR_HEADER: HeaderName = HeaderName::from_static("x-waitroom-visitor");
const POSITION_HEADER: HeaderName = HeaderName::from_static("x-waitroom-position");
/// On a 204 for a request that skipped the line: which rule let it (`address`, `path`, `secret`).
const BYPASS_HEADER: HeaderName = HeaderName::from_static("x-waitroom-bypass");
/// The path the visitor asked the edge for, as the edge names it in the sub-request.
const ORIGINAL_URI: HeaderName = HeaderName::from_static("x-original-uri");

/// `GET /v1/events/{event}/gate`, an edge proxy's sub-request (nginx `auth_request`): 204 for one
/// who may enter, 401 for anything else (edge proxies understand no other refusal). Nothing but the
/// token and the cache is consulted, but for an event with single-use passes, whose pass is
/// consumed on its first use (one store call). One the token does not let in may still skip the
/// line by the event's bypass rules (its address, the path asked for, a secret it carries). A pass
/// the event renews on use comes back renewed as the site's pass cookie once less than half its
/// lifetime is left.
pub async fn gate(
    state: &AppState,
    event: Result<KnownEvent, ApiError>,
    token: Option<&str>,
    (peer, headers): (Option<IpAddr>, &HeaderMap),
) -> Result<HttpResponse, ApiError> {
    let event = event.map_err(ApiError::refused)?;
    let refusal = match entering(state, &event, token).await {
        Ok((claims, renewed)) => {
            let mut answer = HttpResponse::NoContent();
            answer
                .insert_header((VISITOR_HEADER, claims.sub.as_str()))
                .insert_header((POSITION_HEADER, claims.pos));
            if let Some((pass, expires)) = renewed {
                let lifetime_s = u64::try_from(expires - unix_s()).unwrap_or(1).max(1);
                let https = over_https(state, peer, headers);
                answer.cookie(pass_cookie(state, https, event.id(), &pass, lifetime_s));
            }
            return Ok(answer.finish());
        }
        Err(refusal) => refusal,
    };
    let text = |name: &HeaderName| headers.get(name).and_then(|value| value.to_str().ok());
    let skipped = event.cached.policy().bypass.as_ref().and_then(|rules| {
        let client = client_of(state, peer, headers);
        rules.lets_through(client, text(&ORIGINAL_URI), text(&BYPASS_HEADER))
    });
    match skipped {
        Some(why) => Ok(HttpResponse::NoContent()
            .insert_header((BYPASS_HEADER, why))
            .finish()),
        None => Err(refusal.refused()),
    }
}

/// The claims of a token that may enter now, and its pass renewed if the event renews it now.
async fn entering(
    state: &AppState,
    event: &KnownEvent,
    token: Option<&str>,
) -> Result<(Arc<Claims>, Option<(String, i64)>), ApiError> {
    let held = holder(state, event, token)?;
    let line = held.line(event);
    may_enter(state, &line.line, &line.cached, &held.claims, Use::Enter).await?;
    let renewed = renewed_pass(state, &line.line, &line.cached, &held.claims).await;
    Ok((held.claims, renewed))
}

/// The app's routes for join, status and gate: the same functions the fast path calls.
#[utoipa::path(post, path = "/v1/events/{event}/join", tag = "visitors", params(("event" = String, Path, description = "The event's id: 1-64 of A-Z a-z 0-9 _ -", example = "tour")),
    security((), ("bearer" = [])),
    responses(
        (status = 201, description = "A new place", body = JoinAnswer),
        (status = 200, description = "The place the presented token holds (a refresh)", body = JoinAnswer),
        (status = "default", description = "A problem document", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn join_route(
    state: web::Data<AppState>,
    event: KnownEvent,
    token: Presented,
    https: Https,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let peer = req.peer_addr().map(|addr| addr.ip());
    join(
        &state,
        event,
        token.as_deref(),
        (https, peer, req.headers()),
    )
    .await
}

#[utoipa::path(get, path = "/v1/events/{event}/status", tag = "visitors", params(("event" = String, Path, description = "The event's id: 1-64 of A-Z a-z 0-9 _ -", example = "tour")),
    security(("bearer" = [])),
    responses((status = 200, description = "Where the token's holder stands; the pass once admitted", body = Place), (status = "default", description = "A problem document", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn status_route(
    state: web::Data<AppState>,
    event: KnownEvent,
    token: Presented,
    https: Https,
) -> Result<HttpResponse, ApiError> {
    status(&state, event, token.as_deref(), https).await
}

#[utoipa::path(get, path = "/v1/events/{event}/gate", tag = "edge", params(("event" = String, Path, description = "The event's id: 1-64 of A-Z a-z 0-9 _ -", example = "tour")),
    security((), ("bearer" = [])),
    responses(
        (status = 204, description = "May enter now", headers(
            ("x-waitroom-visitor" = String, description = "The visitor's id (absent when a bypass rule let the request through)"),
            ("x-waitroom-position" = u64, description = "Their position (absent when a bypass rule let the request through)"),
            ("x-waitroom-bypass" = String, description = "`address`, `path` or `secret`: the bypass rule that let a request without a token through"),
            ("set-cookie" = String, description = "A renewed pass as the site's pass cookie, for an event that renews passes on use (`pass_renewal_max_s`): hand it on to the visitor"))),
        (status = 401, description = "Anything else (edge proxies understand no other refusal)", body = Problem, content_type = "application/problem+json"),
        (status = "default", description = "A problem document", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn gate_route(
    state: web::Data<AppState>,
    event: Result<KnownEvent, ApiError>,
    token: Presented,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let peer = req.peer_addr().map(|addr| addr.ip());
    gate(&state, event, token.as_deref(), (peer, req.headers())).await
}

/// A place given up.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct Left {
    #[schema(value_type = String)]
    event: EventId,
    /// Always `left`.
    status: &'static str,
    position: u64,
}

/// `POST /v1/events/{event}/leave`: gives the place up, for good.
#[utoipa::path(post, path = "/v1/events/{event}/leave", tag = "visitors", params(("event" = String, Path, description = "The event's id: 1-64 of A-Z a-z 0-9 _ -", example = "tour")),
    security(("bearer" = [])),
    responses((status = 200, description = "The place is given up", body = Left), (status = "default", description = "A problem document", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn leave(
    state: web::Data<AppState>,
    event: KnownEvent,
    token: Presented,
    https: Https,
) -> Result<HttpResponse, ApiError> {
    let Holder { mut claims, lane } = holder(&state, &event, token.as_deref())?;
    let event = lane.unwrap_or(event);
    let visitor = VisitorId::parse(&claims.sub).map_err(|_| TokenError::Malformed)?;
    if claims.kind == TokenKind::Prequeue {
        match state
            .store
            .leave_prequeue(&event.line, claims.pos, &visitor)
            .await?
        {
            PrequeueLeave::Recorded => {
                return Ok(left_answer(&state, https, event, claims.pos));
            }
            // Drawn meanwhile: this replica learns the draw, and the drawn position is given up.
            PrequeueLeave::AlreadyDrawn => {
                state
                    .cache
                    .refresh(state.store.as_ref(), &event.line)
                    .await?;
                claims = admission::at_drawn_place(&event.cached, claims);
                if claims.kind == TokenKind::Prequeue && event.cached.draw().is_none() {
                    // Neither in the pool nor drawn from it: given up before.
                    return Err(ApiError::LeftLine);
                }
                if claims.kind == TokenKind::Prequeue {
                    return Err(ApiError::Internal(
                        "the store says the pre-queue is drawn, and its snapshot does not".into(),
                    ));
                }
            }
        }
    }
    state.store.leave(&event.line, claims.pos, &visitor).await?;
    state
        .cache
        .mark_left(&event.line, &event.cached, claims.pos);
    Ok(left_answer(&state, https, event, claims.pos))
}

fn left_answer(state: &AppState, https: Https, event: KnownEvent, position: u64) -> HttpResponse {
    HttpResponse::Ok()
        .cookie(token_cookie(state, https, event.id(), "", 0))
        .json(Left {
            event: event.id().clone(),
            status: "left",
            position,
        })
}
