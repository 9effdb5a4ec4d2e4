//! An event's settings: how its line moves and how its page looks, validated as a whole.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use super::ids::{EventId, LaneName, LineId};
use super::palette::{palette, Palette, Rgb};
#[cfg(test)]
use super::patch::Patch;
use utoipa::ToSchema;

/// Whether an event takes new visitors and releases them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventState {
    /// Visitors join and batches are released.
    #[default]
    Open,
    /// Visitors join, but nobody is released until the event is resumed.
    Paused,
    /// No new visitors; those already admitted keep their passes.
    Closed,
}

impl fmt::Display for EventState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EventState::Open => "open",
            EventState::Paused => "paused",
            EventState::Closed => "closed",
        })
    }
}

/// One event's settings, as stored and as shown by the admin API: sections, each flattened into
/// one JSON object (the wire names are the fields' own), and what the server recorded.
///
/// Every field has a default, so a stored event written by an older version loads, and the admin
/// API takes any part of it as a [`Patch`](super::Patch). Not `deny_unknown_fields`: settings
/// written by a newer version still load during a rolling upgrade (patches refuse unknown fields).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EventSettings {
    #[serde(default)]
    pub state: EventState,
    #[serde(flatten)]
    #[schema(inline)]
    pub release: ReleaseSettings,
    #[serde(flatten)]
    #[schema(inline)]
    pub admission: AdmissionSettings,
    #[serde(flatten)]
    #[schema(inline)]
    pub schedule: ScheduleSettings,
    #[serde(flatten)]
    #[schema(inline)]
    pub ordering: OrderingSettings,
    /// How the waiting page looks.
    #[serde(default)]
    pub page: PageSettings,
    #[serde(default)]
    pub rate_limits: RateLimits,
    #[serde(flatten)]
    #[schema(inline)]
    pub origins: OriginSettings,
    #[serde(flatten)]
    #[schema(inline)]
    pub access: AccessSettings,
    /// Addresses told of the event's turns (it opens, pauses, empties its line...): each a signed
    /// `POST` ([`crate::domain::Topic`] lists the turns), retried until it is taken.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<Webhook>,
    /// What the server recorded as the event went: shown, never set by a patch.
    #[serde(flatten)]
    #[schema(inline)]
    pub history: EventHistory,
}

/// How often, and how many, visitors are let through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct ReleaseSettings {
    /// Visitors released per interval; 0 means released by hand only.
    pub batch_size: u64,
    pub release_interval_ms: u64,
}

impl Default for ReleaseSettings {
    fn default() -> Self {
        Self {
            batch_size: 100,
            release_interval_ms: 10_000,
        }
    }
}

/// What a place and an admission are worth: lifetimes, where admitted visitors go, capacity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct AdmissionSettings {
    /// Lifetime of a waiting token; a visitor who does not come back within it loses the place.
    pub token_ttl_s: u64,
    /// Lifetime of an admission pass.
    pub pass_ttl_s: u64,
    /// Passes renewed on use: a pass with less than half its lifetime left that the gate lets in
    /// is renewed for another `pass_ttl_s`, up to this long after the admission's first collection
    /// (so a slow checkout is not sent back to the line); 0: passes are not renewed.
    pub pass_renewal_max_s: u64,
    /// Where admitted visitors go.
    pub target_url: String,
    /// Most admitted visitors active at once (admitted and neither done, expired nor a no-show);
    /// 0 for no limit. With a limit, each release admits `min(batch_size, max_active - active)`.
    pub max_active: u64,
    /// With `max_active`: how long an admitted visitor has to collect the pass before the slot is
    /// given to someone else.
    pub claim_window_s: u64,
    /// Each pass lets one person in once: the booking service consumes it
    /// (`POST /v1/passes/consume`), and the gate takes passes only, consuming each on its first use.
    pub single_use_passes: bool,
    /// What happens to an admitted visitor's first collection of the pass while the store cannot
    /// be asked whether it is theirs: hold (refused, try again shortly: `max_active` and the claim
    /// window hold) or let through (a pass for the claim window only, asked of the store again
    /// after: for a booking service that can take the extra load).
    pub outage: OutagePolicy,
    /// Whether anyone may join from the page. Off, only the booking site's users get places (its
    /// trusted join, one place per user id, the token handed to their browser): one place per
    /// person, however many addresses or browsers a person has.
    pub anonymous_joins: bool,
    /// Whether a join needs an enqueue code the admin issued (each gives one place) or an
    /// invitation the booking site signed.
    pub invite_only: bool,
    /// Proof of work before a place: a join without a token brings the solution of a challenge
    /// (ALTCHA), each attempt of which costs this many PBKDF2-SHA-256 iterations (a solution takes
    /// 500 to 1,000 attempts); 0: no challenge.
    pub challenge_cost: u32,
}

/// The highest challenge cost: about a minute of a phone's work.
pub const MAX_CHALLENGE_COST: u32 = 100_000;

impl Default for AdmissionSettings {
    fn default() -> Self {
        Self {
            token_ttl_s: 6 * 3600,
            pass_ttl_s: 600,
            pass_renewal_max_s: 0,
            target_url: "http://127.0.0.1:8080/admitted".to_owned(),
            max_active: 0,
            claim_window_s: 120,
            single_use_passes: false,
            outage: OutagePolicy::Hold,
            anonymous_joins: true,
            invite_only: false,
            challenge_cost: 0,
        }
    }
}

/// When the sale opens and closes, and how long its data outlives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct ScheduleSettings {
    /// When the sale opens: nobody is released before, and the pre-queue is drawn then. Unset:
    /// open at once. Written in RFC 3339 with its zone, as a wall-clock time and the zone's IANA
    /// name (`2026-12-11 10:00 Europe/Berlin`), or `now`. Neither `opens_at` nor `prequeue_from`
    /// changes once the pre-queue opened.
    #[serde(
        deserialize_with = "optional_time",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub opens_at: Option<DateTime<Utc>>,
    /// With `opens_at`: from when visitors may join a pre-queue, whose order is drawn at random at
    /// `opens_at` (everyone in it has the same chance). Joins before it are refused. Unset: joins
    /// are refused until `opens_at`.
    #[serde(
        deserialize_with = "optional_time",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub prequeue_from: Option<DateTime<Utc>>,
    /// When the event closes by itself (as `state: closed` does).
    #[serde(
        deserialize_with = "optional_time",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub closes_at: Option<DateTime<Utc>>,
    /// When the event pauses by itself (as a pause would): a break announced beforehand, which the
    /// estimates count. A pause or resume by hand after it stands.
    #[serde(
        deserialize_with = "optional_time",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub pauses_at: Option<DateTime<Utc>>,
    /// When a paused event resumes by itself (as a resume would): the end of `pauses_at`'s break,
    /// or the end a pause by hand announces. The estimates count the time until then; a pause
    /// with no end known shows none.
    #[serde(
        deserialize_with = "optional_time",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub resumes_at: Option<DateTime<Utc>>,
    /// How long a closed event's data is kept (its line, leavers, claims), in seconds from closing;
    /// then any replica deletes it.
    pub retain_closed_s: u64,
}

impl Default for ScheduleSettings {
    fn default() -> Self {
        Self {
            opens_at: None,
            prequeue_from: None,
            closes_at: None,
            pauses_at: None,
            resumes_at: None,
            retain_closed_s: 7 * 24 * 3600,
        }
    }
}

/// In which order people in line are let through.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct OrderingSettings {
    pub method: QueueMethod,
    /// Priority lanes (2-8), or none. The first is the default: anonymous visitors join it; a
    /// booking site's join (admin) names the lane.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lanes: Vec<Lane>,
}

/// Which other sites take part: where visitors may be sent back to, whose pages call the API.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct OriginSettings {
    /// Origins (`https://tickets.example.com`) a visitor may be sent back to after the hand-over,
    /// besides `target_url`'s own.
    pub allowed_origins: Vec<String>,
    /// Origins whose pages may call this event's visitor API from the browser (CORS): apps on
    /// another origin than waitroom's.
    pub cors_origins: Vec<String>,
}

/// Who skips the line at the gate (the edge's check of the protected part of the site): the site's
/// staff and monitoring, its payment provider's callbacks. The line's own routes are unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct AccessSettings {
    /// Addresses and networks (`203.0.113.7`, `10.20.0.0/16`) let through the gate without a token:
    /// the client's address, as seen through the configured trusted proxies.
    pub bypass_addresses: Vec<String>,
    /// Path prefixes (`/checkout/payment-callback`) let through the gate: the edge names the path
    /// asked for in `X-Original-URI`. A prefix matches itself and what lies below it.
    pub bypass_paths: Vec<String>,
    /// A secret of 16 or more characters: a request that carries it in `X-Waitroom-Bypass` is let
    /// through the gate (a monitoring probe, a load test of the site behind).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bypass_secret: Option<String>,
}

/// What the server recorded about an event as it went. Read-only: a patch naming one is refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct EventHistory {
    /// When the event was closed (unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(read_only)]
    pub closed_at: Option<i64>,
    /// Whether the event ever drew at random (`method: random`). Its pool's winners are read with
    /// it from then on: their tokens name arrival numbers.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    #[schema(read_only)]
    pub drew_at_random: bool,
    /// When the event last changed its `state` (unix ms): it was paused, resumed or closed then.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(read_only)]
    pub state_changed_ms: Option<i64>,
}

/// An address told of an event's turns, with the Standard Webhooks headers (`webhook-id`,
/// `webhook-timestamp`, `webhook-signature` signed with the configured `webhook_secret`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// An https (or http) URL.
    pub url: String,
    /// The turns it is told of; none listed: every one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<Topic>,
}

impl Webhook {
    pub fn wants(&self, topic: Topic) -> bool {
        self.topics.is_empty() || self.topics.contains(&topic)
    }
}

/// A turn in an event's life a webhook is told of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum Topic {
    /// Its `prequeue_from` came: joins are taken, in a pre-queue drawn at the opening.
    #[serde(rename = "prequeue.opened")]
    PrequeueOpened,
    /// Its `opens_at` came: the sale opened.
    #[serde(rename = "event.opened")]
    Opened,
    /// Everyone who waited was let through (or left).
    #[serde(rename = "line.emptied")]
    LineEmptied,
    /// Paused by hand: nobody is released until resumed.
    #[serde(rename = "event.paused")]
    Paused,
    /// Resumed (opened again after a pause or a close).
    #[serde(rename = "event.resumed")]
    Resumed,
    /// Closed, by hand or at its `closes_at`.
    #[serde(rename = "event.closed")]
    Closed,
    /// The store was found to have lost the event's writes; what the replicas knew was restored.
    #[serde(rename = "data.lost")]
    DataLost,
}

impl Topic {
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::PrequeueOpened => "prequeue.opened",
            Topic::Opened => "event.opened",
            Topic::LineEmptied => "line.emptied",
            Topic::Paused => "event.paused",
            Topic::Resumed => "event.resumed",
            Topic::Closed => "event.closed",
            Topic::DataLost => "data.lost",
        }
    }

    /// The turn an event took into `state`.
    pub fn entering(state: EventState) -> Topic {
        match state {
            EventState::Open => Topic::Resumed,
            EventState::Paused => Topic::Paused,
            EventState::Closed => Topic::Closed,
        }
    }
}

/// What an event does with a claim the store cannot decide (see [`EventSettings::outage`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum OutagePolicy {
    /// Refused with 503 and Retry-After until the store answers.
    #[default]
    Hold,
    /// A pass for the claim window only, re-checked with the store after.
    LetThrough,
}

/// A priority lane: a line of its own with a share of every release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Lane {
    /// 1-32 characters of `a-z 0-9 _ -`.
    #[schema(value_type = String)]
    pub name: LaneName,
    /// Percent of every release; the lanes' shares add up to 100. A share a lane cannot use (too
    /// few waiting) goes to the others.
    pub share: u8,
}

/// How an event's line is formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum QueueMethod {
    /// First come, first served (behind a drawn pre-queue, if the event has one).
    #[default]
    Fifo,
    /// No line: every join gets a pass at once (the room switched off, still in front of the site).
    /// Switching to it lets everyone waiting in.
    Passthrough,
    /// No line: joins are refused as sold out; those already in line keep their places.
    Reject,
    /// A draw at every release: everyone waiting then has the same chance of being let through,
    /// however early they came. Those in line before switching to it are let through first;
    /// switching away moves those still waiting in the draw to the line, in arrival order.
    Random,
}

/// Where an event's schedule stands at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Before the pre-queue (or before opening, without one): joins are refused until `at`.
    Upcoming,
    /// In the pre-queue: joins are taken, and their order is drawn at `opens_at`.
    Prequeue,
    /// Open: first come, first served behind the drawn pre-queue.
    Live,
    /// Past `closes_at`, or closed by hand.
    Closed,
}

/// Per-client rate limits of an event's visitor routes, keyed by the client's address (as seen
/// through the configured trusted proxies). 0 switches a limit off. Generous by default: many
/// visitors can share one address (an office, a mobile carrier's NAT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
    /// Joins per minute from one address, on average...
    pub joins_per_minute: u32,
    /// ...and at once.
    pub join_burst: u32,
    /// Status checks, leaves, streams and pages per second from one address, on average...
    pub checks_per_second: u32,
    /// ...and at once.
    pub check_burst: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            joins_per_minute: 60,
            join_burst: 30,
            checks_per_second: 50,
            check_burst: 100,
        }
    }
}

/// An event's branding on the waiting page. Everything is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PageSettings {
    /// The event's name as people see it; the event id when unset.
    pub title: Option<String>,
    /// A short note shown under the title.
    pub message: Option<String>,
    /// An http(s) URL of a logo image.
    pub logo_url: Option<String>,
    /// Colours as `#rgb` or `#rrggbb`.
    pub accent_color: Option<String>,
    pub background_color: Option<String>,
    pub text_color: Option<String>,
    /// The page's language (`en`, `de`, `fr`, `es`, `ja`, `ar`), whatever the browser asks; unset:
    /// the browser's choice among those.
    #[serde(default)]
    pub language: Option<String>,
    /// Texts of the event's own over the catalogue's, by language and message key
    /// (`{"de": {"hint": "…"}}`; the keys are those of `assets/i18n/en.json`).
    #[serde(default)]
    pub texts: BTreeMap<String, BTreeMap<String, String>>,
}

impl PageSettings {
    /// The page's readable colours for this branding (validated when saved, so always there).
    pub fn palette(&self) -> Palette {
        let colour = |c: &Option<String>| c.as_deref().and_then(Rgb::parse);
        palette(
            colour(&self.accent_color),
            colour(&self.background_color),
            colour(&self.text_color),
        )
        .or_else(|_| {
            palette(
                colour(&self.accent_color),
                colour(&self.background_color),
                None,
            )
        })
        .unwrap_or_else(|_| palette(None, None, None).expect("the default palette is readable"))
    }

    fn validate(&self) -> Result<(), SettingsError> {
        let too_long = |field, value: &Option<String>, max: usize| match value {
            Some(v) if v.chars().count() > max => Err(SettingsError {
                field,
                reason: format!("is longer than {max} characters"),
            }),
            _ => Ok(()),
        };
        too_long("page.title", &self.title, 120)?;
        too_long("page.message", &self.message, 1_000)?;
        if let Some(url) = &self.logo_url {
            check_http_url("page.logo_url", url)?;
        }
        if let Some(lang) = &self.language {
            if !crate::i18n::is_supported(lang) {
                return Err(SettingsError {
                    field: "page.language",
                    reason: format!(
                        "is {lang:?}; the languages are {}",
                        crate::i18n::LANGUAGES.join(", ")
                    ),
                });
            }
        }
        for (lang, texts) in &self.texts {
            let refused = |reason: String| SettingsError {
                field: "page.texts",
                reason,
            };
            if !crate::i18n::is_supported(lang) {
                return Err(refused(format!(
                    "names the language {lang:?}, which is not shipped"
                )));
            }
            for (key, text) in texts {
                crate::i18n::check_own_text(key, text)
                    .map_err(|reason| refused(format!("{lang}.{reason}")))?;
                if text.chars().count() > 500 {
                    return Err(refused(format!(
                        "{lang}.{key} is longer than 500 characters"
                    )));
                }
            }
        }
        let mut colours = [None; 3];
        for (slot, (field, colour)) in colours.iter_mut().zip([
            ("page.accent_color", &self.accent_color),
            ("page.background_color", &self.background_color),
            ("page.text_color", &self.text_color),
        ]) {
            let Some(colour) = colour else { continue };
            *slot = Some(Rgb::parse(colour).ok_or_else(|| SettingsError {
                field,
                reason: format!("is {colour:?}; colours are written #rgb or #rrggbb"),
            })?);
        }
        palette(colours[0], colours[1], colours[2]).map_err(|reason| SettingsError {
            field: "page.text_color",
            reason,
        })?;
        Ok(())
    }
}

fn check_http_url(field: &'static str, raw: &str) -> Result<(), SettingsError> {
    match url::Url::parse(raw) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(()),
        Ok(url) => Err(SettingsError {
            field,
            reason: format!("must be an http or https URL, not {}:", url.scheme()),
        }),
        Err(e) => Err(SettingsError {
            field,
            reason: format!("is not an absolute URL: {e}"),
        }),
    }
}

/// Most webhooks an event has.
const MOST_WEBHOOKS: usize = 8;

fn check_webhooks(hooks: &[Webhook]) -> Result<(), SettingsError> {
    if hooks.len() > MOST_WEBHOOKS {
        return Err(SettingsError {
            field: "webhooks",
            reason: format!(
                "lists {} addresses; an event has at most {MOST_WEBHOOKS}",
                hooks.len()
            ),
        });
    }
    for hook in hooks {
        check_http_url("webhooks.url", &hook.url)?;
    }
    Ok(())
}

/// A time field read as [`parse_time`] reads it, `null` or absent for none.
fn optional_time<'de, D>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error>
where
    D: Deserializer<'de>,
{
    Option::<String>::deserialize(deserializer)?
        .map(|raw| parse_time(&raw).map_err(serde::de::Error::custom))
        .transpose()
}

/// A time as settings take it: RFC 3339 with its zone (`Z` or an offset), a wall-clock time followed
/// by the zone's IANA name (`2026-12-11 10:00 Europe/Berlin`: the offset that zone has then, summer
/// time included), or `now`. A time with no zone is refused: it would open the sale in whichever
/// zone the server runs in.
pub fn parse_time(raw: &str) -> Result<DateTime<Utc>, String> {
    let raw = raw.trim();
    if raw.eq_ignore_ascii_case("now") {
        return Ok(Utc::now());
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(raw) {
        return Ok(at.with_timezone(&Utc));
    }
    let refused = |why: String| {
        format!(
            "{raw:?} {why}: write RFC 3339 with the offset (2026-12-11T10:00:00Z, \
             2026-12-11T11:00:00+01:00), the time and its zone's name (2026-12-11 11:00 \
             Europe/Berlin), or now"
        )
    };
    let Some((wall, zone)) = raw.rsplit_once(' ') else {
        return Err(refused("is not a time with its zone".into()));
    };
    let zone: chrono_tz::Tz = zone
        .parse()
        .map_err(|_| refused(format!("names no time zone known as {zone:?}")))?;
    let wall = [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|format| chrono::NaiveDateTime::parse_from_str(wall.trim(), format).ok())
    .ok_or_else(|| refused("is not a date and time".into()))?;
    match wall.and_local_timezone(zone) {
        chrono::LocalResult::Single(at) => Ok(at.with_timezone(&Utc)),
        chrono::LocalResult::Ambiguous(..) => Err(refused(format!(
            "happens twice in {zone} (the clocks go back then): give the offset"
        ))),
        chrono::LocalResult::None => Err(refused(format!(
            "does not happen in {zone} (the clocks go forward then)"
        ))),
    }
}

impl EventSettings {
    /// These settings as the next after `base` (the event's until now) at `now_ms`: the schedule
    /// holds once joins began, the server's record is kept (when it closed, whether it ever drew
    /// at random), own texts the page can no longer use are dropped, and the whole is validated.
    pub fn after(mut self, base: &EventSettings, now_ms: i64) -> Result<Self, SettingsError> {
        // A text saved before an upgrade renamed its message (or changed their syntax) is dropped,
        // so it does not refuse every later change; a text this change brings is checked below.
        for (lang, texts) in &mut self.page.texts {
            let kept = base.page.texts.get(lang);
            texts.retain(|key, text| {
                crate::i18n::check_own_text(key, text).is_ok()
                    || kept.and_then(|kept| kept.get(key)) != Some(text)
            });
        }
        let (schedule, held) = (&self.schedule, &base.schedule);
        let moved =
            schedule.opens_at != held.opens_at || schedule.prequeue_from != held.prequeue_from;
        let started = base.joins_from_ms().is_some_and(|from| from <= now_ms);
        if started && moved {
            return Err(SettingsError {
                field: "opens_at",
                reason: "cannot change once the event or its pre-queue has opened: visitors \
                         joined on the published schedule"
                    .into(),
            });
        }
        self.history = EventHistory {
            closed_at: match self.state {
                EventState::Closed => base.history.closed_at.or(Some(now_ms.div_euclid(1000))),
                _ => None,
            },
            drew_at_random: base.history.drew_at_random
                || self.ordering.method == QueueMethod::Random,
            state_changed_ms: if self.state == base.state {
                base.history.state_changed_ms
            } else {
                Some(now_ms)
            },
        };
        self.validate()?;
        Ok(self)
    }

    /// The first schedule time these settings set anew (not `base`'s) that is already past at
    /// `now_ms` (more than a minute ago): a wrong year would otherwise open (or pause, or resume)
    /// the sale at once. Leaving a time out (or `null`) opens at once on purpose.
    pub fn past_times(&self, base: &EventSettings, now_ms: i64) -> Option<SettingsError> {
        let past = |(field, turn): (&'static str, &str), at: Option<DateTime<Utc>>, held| {
            let at = at?;
            (Some(at) != held && at.timestamp_millis() < now_ms - 60_000).then(|| SettingsError {
                field,
                reason: format!(
                    "is {}, in the past: the sale would {turn} at once; leave it out (or null), \
                     or give the time it should {turn}",
                    at.to_rfc3339()
                ),
            })
        };
        let (schedule, held) = (&self.schedule, &base.schedule);
        past(("opens_at", "open"), schedule.opens_at, held.opens_at)
            .or_else(|| {
                let field = ("prequeue_from", "open its pre-queue");
                past(field, schedule.prequeue_from, held.prequeue_from)
            })
            .or_else(|| past(("pauses_at", "pause"), schedule.pauses_at, held.pauses_at))
            .or_else(|| {
                past(
                    ("resumes_at", "resume"),
                    schedule.resumes_at,
                    held.resumes_at,
                )
            })
    }

    /// The state the schedule turns the event to at `now_ms`, if a turn is due that was not made
    /// yet, with the time it was due: paused at `pauses_at` (until `resumes_at`, if that is still
    /// ahead), open again at `resumes_at`. A turn is made once: a change of state after its time
    /// (a resume or a pause by hand) stands.
    pub fn scheduled_turn(&self, now_ms: i64) -> Option<(EventState, i64)> {
        let schedule = &self.schedule;
        let due = |at: Option<DateTime<Utc>>| {
            let at_ms = at?.timestamp_millis();
            let changed_before = self.history.state_changed_ms.is_none_or(|ms| ms < at_ms);
            (at_ms <= now_ms && changed_before).then_some(at_ms)
        };
        match self.state {
            EventState::Open => {
                let at_ms = due(schedule.pauses_at)?;
                // A break wholly past (the replicas were all down through it) is not made late.
                let resumes_later = schedule
                    .resumes_at
                    .is_none_or(|at| at.timestamp_millis() > now_ms);
                (resumes_later && self.phase(now_ms) == Phase::Live)
                    .then_some((EventState::Paused, at_ms))
            }
            EventState::Paused => due(schedule.resumes_at).map(|at_ms| (EventState::Open, at_ms)),
            EventState::Closed => None,
        }
    }

    /// The state at `now_ms`: the stored one, or the one a turn due on the schedule makes (a
    /// replica's scheduler writes it within a second; nobody is released meanwhile).
    pub fn state_at(&self, now_ms: i64) -> EventState {
        self.scheduled_turn(now_ms)
            .map_or(self.state, |(state, _)| state)
    }

    /// The pause the schedule holds ahead of or around `now_ms`: from when (unix ms, `now_ms` if
    /// paused now) until when (`None`: no end known). `None` if the line is not to stand still.
    pub fn pause_ahead(&self, now_ms: i64) -> Option<(i64, Option<i64>)> {
        let ms = |at: Option<DateTime<Utc>>| at.map(|at| at.timestamp_millis());
        let resumes_ms = ms(self.schedule.resumes_at).filter(|&at| at > now_ms);
        match self.state_at(now_ms) {
            EventState::Paused => Some((now_ms, resumes_ms)),
            EventState::Open => {
                let pauses_ms = ms(self.schedule.pauses_at).filter(|&at| at > now_ms)?;
                Some((pauses_ms, resumes_ms))
            }
            EventState::Closed => None,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{field}` {reason}")]
pub struct SettingsError {
    pub field: &'static str,
    pub reason: String,
}

/// At most 32 origins, each exactly `scheme://host[:port]`.
fn check_origins(field: &'static str, origins: &[String]) -> Result<(), SettingsError> {
    if origins.len() > 32 {
        return Err(SettingsError {
            field,
            reason: "lists more than 32 origins".into(),
        });
    }
    for origin in origins {
        check_http_url(field, origin)?;
        let url = url::Url::parse(origin).expect("checked just now");
        if url.origin().ascii_serialization() != *origin {
            return Err(SettingsError {
                field,
                reason: format!(
                    "holds {origin:?}; an origin is scheme://host[:port], nothing more"
                ),
            });
        }
    }
    Ok(())
}

fn within(field: &'static str, value: u64, min: u64, max: u64) -> Result<(), SettingsError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(SettingsError {
            field,
            reason: format!("is {value}; it must be between {min} and {max}"),
        })
    }
}

impl EventSettings {
    /// Whether the event's data has outlived its retention at `now_s` (closed long enough).
    pub fn expired_at(&self, now_s: i64) -> bool {
        let retain = i64::try_from(self.schedule.retain_closed_s).unwrap_or(i64::MAX);
        self.state == EventState::Closed
            && self
                .history
                .closed_at
                .is_some_and(|closed| now_s >= closed.saturating_add(retain))
    }

    /// The lanes after the first (whose line is the event's own), each with its line's id.
    pub fn lane_lines<'a>(
        &'a self,
        event: &'a EventId,
    ) -> impl Iterator<Item = (&'a Lane, LineId)> + 'a {
        self.ordering
            .lanes
            .iter()
            .skip(1)
            .map(move |lane| (lane, LineId::of_lane(event.clone(), lane.name.clone())))
    }

    /// The settings of the line of `lane` (not the first: that one is the event's own line): the
    /// event's, with the lane's share of every release, for its estimates (the event's release
    /// moves every lane).
    pub fn lane_settings(&self, lane: &Lane) -> EventSettings {
        EventSettings {
            release: ReleaseSettings {
                batch_size: self.release.batch_size * u64::from(lane.share) / 100,
                ..self.release
            },
            ordering: OrderingSettings {
                lanes: Vec::new(),
                ..self.ordering.clone()
            },
            // The event's own line tells of its turns.
            webhooks: Vec::new(),
            ..self.clone()
        }
    }

    /// Where the schedule stands at `now_ms`.
    pub fn phase(&self, now_ms: i64) -> Phase {
        let passed =
            |at: Option<DateTime<Utc>>| at.is_some_and(|at| at.timestamp_millis() <= now_ms);
        let schedule = &self.schedule;
        if self.state == EventState::Closed || passed(schedule.closes_at) {
            Phase::Closed
        } else if schedule.opens_at.is_none() || passed(schedule.opens_at) {
            Phase::Live
        } else if passed(schedule.prequeue_from) {
            Phase::Prequeue
        } else {
            Phase::Upcoming
        }
    }

    /// Whether the event has (or had) a pool: it draws at random, or did.
    pub fn has_pool(&self) -> bool {
        self.history.drew_at_random || self.ordering.method == QueueMethod::Random
    }

    /// Whether the event has a pre-queue to draw.
    pub fn has_prequeue(&self) -> bool {
        self.schedule.prequeue_from.is_some() && self.schedule.opens_at.is_some()
    }

    /// When joins are first taken (unix ms): the pre-queue's start, else the opening.
    pub fn joins_from_ms(&self) -> Option<i64> {
        self.schedule
            .prequeue_from
            .or(self.schedule.opens_at)
            .map(|at| at.timestamp_millis())
    }

    /// Checks each section, then the rules between them.
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.release.validate()?;
        self.admission.validate()?;
        self.schedule.validate()?;
        self.ordering.validate()?;
        self.rate_limits.validate()?;
        self.origins.validate()?;
        self.access.validate()?;
        self.page.validate()?;
        check_webhooks(&self.webhooks)?;
        let method = self.ordering.method;
        let lanes = &self.ordering.lanes;
        if !lanes.is_empty()
            && (self.schedule.prequeue_from.is_some() || self.admission.max_active > 0)
        {
            return Err(SettingsError {
                field: "lanes",
                reason: "go without a pre-queue and without max_active (not supported together \
                         yet)"
                    .into(),
            });
        }
        if !lanes.is_empty() && method == QueueMethod::Random {
            return Err(SettingsError {
                field: "method",
                reason: "cannot be random for an event with lanes".into(),
            });
        }
        if self.schedule.prequeue_from.is_some() && method != QueueMethod::Fifo {
            return Err(SettingsError {
                field: "method",
                reason: "must be fifo for an event with a pre-queue".into(),
            });
        }
        Ok(())
    }

    /// Where a visitor may be sent back to after the hand-over: a path on the site (`/checkout`),
    /// or an absolute URL on `target_url`'s origin or one of `allowed_origins`, as the WHATWG URL
    /// parser (the browsers' own) reads it; None for anything else, so the hand-over is never an
    /// open redirect. The address comes back as the parser writes it (percent-encoded).
    pub fn return_address(&self, to: &str) -> Option<String> {
        // Browsers drop tabs and line breaks from an address before reading it (`/\t/evil.example`
        // would become `//evil.example`): an address they would rewrite is refused, not guessed at.
        if to.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return None;
        }
        let target = url::Url::parse(&self.admission.target_url).ok()?;
        let is_path = to.starts_with('/');
        let url = if is_path {
            target.join(to).ok()?
        } else {
            url::Url::parse(to).ok()?
        };
        let origin = url.origin().ascii_serialization();
        let allowed = origin == target.origin().ascii_serialization()
            || self.origins.allowed_origins.contains(&origin);
        if !allowed || !matches!(url.scheme(), "http" | "https") {
            return None;
        }
        Some(if is_path {
            url[url::Position::BeforePath..].to_owned()
        } else {
            url.to_string()
        })
    }
}

impl ReleaseSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        within("batch_size", self.batch_size, 0, 100_000)?;
        within(
            "release_interval_ms",
            self.release_interval_ms,
            100,
            3_600_000,
        )
    }
}

impl AdmissionSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        within("token_ttl_s", self.token_ttl_s, 60, 7 * 24 * 3600)?;
        within("pass_ttl_s", self.pass_ttl_s, 10, 24 * 3600)?;
        if self.pass_renewal_max_s > 0 {
            let renewal = "pass_renewal_max_s";
            within(
                renewal,
                self.pass_renewal_max_s,
                self.pass_ttl_s,
                7 * 24 * 3600,
            )?;
            if self.single_use_passes {
                return Err(SettingsError {
                    field: renewal,
                    reason: "needs passes that are used more than once (`single_use_passes` is on)"
                        .into(),
                });
            }
        }
        within(
            "challenge_cost",
            u64::from(self.challenge_cost),
            0,
            u64::from(MAX_CHALLENGE_COST),
        )?;
        within("max_active", self.max_active, 0, 10_000_000)?;
        within("claim_window_s", self.claim_window_s, 5, 24 * 3600)?;
        check_http_url("target_url", &self.target_url)
    }
}

impl ScheduleSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        match (self.prequeue_from, self.opens_at) {
            (Some(_), None) => {
                return Err(SettingsError {
                    field: "prequeue_from",
                    reason: "needs `opens_at`: the pre-queue is drawn when the event opens".into(),
                })
            }
            (Some(from), Some(opens)) if from >= opens => {
                return Err(SettingsError {
                    field: "prequeue_from",
                    reason: "must be before `opens_at`".into(),
                })
            }
            _ => {}
        }
        // Each time, where both are set, after the one it follows.
        let in_order = [
            ("pauses_at", self.pauses_at, "opens_at", self.opens_at),
            ("resumes_at", self.resumes_at, "pauses_at", self.pauses_at),
            ("closes_at", self.closes_at, "opens_at", self.opens_at),
        ];
        for (field, later, follows, earlier) in in_order {
            if let (Some(earlier), Some(later)) = (earlier, later) {
                if later <= earlier {
                    return Err(SettingsError {
                        field,
                        reason: format!("must be after `{follows}`"),
                    });
                }
            }
        }
        within("retain_closed_s", self.retain_closed_s, 60, 365 * 24 * 3600)
    }
}

impl OrderingSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        let refused = |reason: String| {
            Err(SettingsError {
                field: "lanes",
                reason,
            })
        };
        if self.lanes.is_empty() {
            return Ok(());
        }
        if !(2..=8).contains(&self.lanes.len()) {
            return refused(format!(
                "lists {} lanes; an event has 2 to 8, or none",
                self.lanes.len()
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for lane in &self.lanes {
            if !names.insert(lane.name.as_str()) {
                return refused(format!("names {:?} twice", lane.name));
            }
            if !(1..=100).contains(&lane.share) {
                return refused(format!(
                    "gives {:?} a share of {}%; shares are 1 to 100",
                    lane.name, lane.share
                ));
            }
        }
        let total: u32 = self.lanes.iter().map(|lane| u32::from(lane.share)).sum();
        if total != 100 {
            return refused(format!("shares add up to {total}%, not 100%"));
        }
        Ok(())
    }
}

impl RateLimits {
    fn validate(&self) -> Result<(), SettingsError> {
        for (field, value) in [
            ("rate_limits.joins_per_minute", self.joins_per_minute),
            ("rate_limits.join_burst", self.join_burst),
            ("rate_limits.checks_per_second", self.checks_per_second),
            ("rate_limits.check_burst", self.check_burst),
        ] {
            within(field, value.into(), 0, 1_000_000)?;
        }
        Ok(())
    }
}

impl OriginSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        check_origins("allowed_origins", &self.allowed_origins)?;
        check_origins("cors_origins", &self.cors_origins)
    }
}

/// An address (`203.0.113.7`) as a one-address network, or a network (`10.0.0.0/8`).
pub(crate) fn network(text: &str) -> Option<ipnet::IpNet> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>().ok().or_else(|| {
        text.parse::<std::net::IpAddr>()
            .ok()
            .map(ipnet::IpNet::from)
    })
}

/// Most entries in each of the bypass lists.
const MOST_BYPASS_RULES: usize = 100;

impl AccessSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        let refused = |field, reason: String| Err(SettingsError { field, reason });
        if self.bypass_addresses.len() > MOST_BYPASS_RULES
            || self.bypass_paths.len() > MOST_BYPASS_RULES
        {
            return refused(
                "bypass_addresses",
                format!("and bypass_paths hold at most {MOST_BYPASS_RULES} entries each"),
            );
        }
        if let Some(bad) = self
            .bypass_addresses
            .iter()
            .find(|address| network(address).is_none())
        {
            return refused(
                "bypass_addresses",
                format!("holds {bad:?}, which is no address or network (`10.0.0.0/8`)"),
            );
        }
        if let Some(bad) = self.bypass_paths.iter().find(|path| {
            !path.starts_with('/') || path.contains(|c: char| c.is_whitespace() || c == '?')
        }) {
            return refused(
                "bypass_paths",
                format!("holds {bad:?}: a path begins with `/` and has no spaces or query"),
            );
        }
        if self
            .bypass_secret
            .as_ref()
            .is_some_and(|secret| secret.chars().count() < 16)
        {
            return refused("bypass_secret", "is shorter than 16 characters".into());
        }
        Ok(())
    }
}

#[cfg(test)]
impl EventSettings {
    /// These settings with the fields of `patch`, as the admin API takes them (for tests).
    pub(crate) fn patched(&self, patch: serde_json::Value) -> Self {
        Patch::try_from(patch)
            .and_then(|patch| patch.apply(self))
            .expect("a patch of settings")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Settings whose visitors go to tickets.example.com and may go back to shop.example.com.
    fn shop_settings() -> EventSettings {
        let mut settings = EventSettings::default();
        settings.admission.target_url = "https://tickets.example.com/_waitroom/claim".into();
        settings.origins.allowed_origins = vec!["https://shop.example.com".into()];
        settings
    }

    #[test]
    fn return_addresses_stay_on_allowed_origins() {
        let settings = shop_settings();
        assert!(settings.validate().is_ok());
        let back = |to: &str| settings.return_address(to);
        assert_eq!(
            back("/checkout?seat=4").as_deref(),
            Some("/checkout?seat=4")
        );
        assert_eq!(
            back("https://tickets.example.com/checkout").as_deref(),
            Some("https://tickets.example.com/checkout")
        );
        assert!(back("https://shop.example.com/").is_some());
        for refused in [
            "//evil.example/",
            "/\\evil.example/",
            "/\t/evil.example/",
            "/\n/evil.example/",
            "/\r\n/evil.example/",
            "/ /evil.example/",
            "/checkout\u{0}",
            "/\u{3000}/evil.example/",
            "\\/evil.example/",
            "https://evil.example/",
            "https://tickets.example.com.evil.example/",
            "javascript:alert(1)",
            "http://tickets.example.com/",
            "checkout",
        ] {
            assert_eq!(back(refused), None, "{refused}");
        }
        assert_eq!(
            back("/%2F/evil.example/").as_deref(),
            Some("/%2F/evil.example/"),
            "an encoded slash is a path on the site"
        );
        assert_eq!(
            back("/caf\u{e9}?q=\"x\"").as_deref(),
            Some("/caf%C3%A9?q=%22x%22"),
            "written as the parser writes it"
        );
        let mut bad = EventSettings::default();
        bad.origins.allowed_origins = vec!["https://shop.example.com/path".into()];
        assert_eq!(bad.validate().unwrap_err().field, "allowed_origins");
    }

    proptest::proptest! {
        /// Whatever a visitor sends as `to`, the address handed back is a valid header value that a
        /// browser reads as a place on an allowed origin.
        #[test]
        fn any_return_address_stays_on_an_allowed_origin(
            to in proptest::prop_oneof![
                proptest::string::string_regex("[/\\\\\t\r\n \\x00%.:a-z]{0,24}").unwrap(),
                ".*",
                proptest::string::string_regex("(https?|javascript)://[a-z.]{0,20}/.{0,8}").unwrap(),
            ]
        ) {
            let settings = shop_settings();
            if let Some(back) = settings.return_address(&to) {
                proptest::prop_assert!(
                    actix_http::header::HeaderValue::from_str(&back).is_ok(),
                    "{back:?}"
                );
                proptest::prop_assert!(back.bytes().all(|b| b.is_ascii_graphic()), "{back:?}");
                let read = url::Url::parse(&settings.admission.target_url).unwrap().join(&back).unwrap();
                let origin = read.origin().ascii_serialization();
                proptest::prop_assert!(
                    origin == "https://tickets.example.com" || origin == "https://shop.example.com",
                    "{to:?} -> {back:?} -> {origin}"
                );
            }
        }
    }

    #[test]
    fn patches_are_validated() {
        let base = EventSettings::default();
        let patched = |patch: serde_json::Value| {
            Patch::<EventSettings>::try_from(patch)
                .unwrap()
                .apply(&base)
                .unwrap()
                .after(&base, 0)
        };
        let err = patched(serde_json::json!({ "release_interval_ms": 5 })).unwrap_err();
        assert_eq!(err.field, "release_interval_ms");
        let err = patched(serde_json::json!({ "target_url": "javascript:alert(1)" })).unwrap_err();
        assert_eq!(err.field, "target_url");
        let ok = patched(serde_json::json!({ "batch_size": 0 })).unwrap();
        assert_eq!(ok.release.batch_size, 0);
        for refused in [
            serde_json::json!([{ "url": "ftp://relay/hook" }]),
            serde_json::json!(vec![serde_json::json!({ "url": "http://relay/hook" }); 9]),
        ] {
            let err = patched(serde_json::json!({ "webhooks": refused })).unwrap_err();
            assert!(err.field.starts_with("webhooks"), "{err:?}");
        }
        let hooks = serde_json::json!([{ "url": "https://chat.example.com/hook", "topics": ["line.emptied"] }]);
        let ok = patched(serde_json::json!({ "webhooks": hooks })).unwrap();
        assert!(ok.webhooks[0].wants(Topic::LineEmptied) && !ok.webhooks[0].wants(Topic::Opened));
    }

    /// A break on the schedule is made once, at its time: paused at `pauses_at`, open again at
    /// `resumes_at`; a resume or pause by hand after either time stands, and a break wholly past
    /// is not made late.
    #[test]
    fn a_scheduled_break_pauses_and_resumes_once() {
        let at = |minutes: i64| 1_800_000_000_000 + minutes * 60_000;
        let time = |minutes: i64| DateTime::from_timestamp_millis(at(minutes)).unwrap();
        let made = |settings: &EventSettings, state, minute| {
            let turned = EventSettings {
                state,
                ..settings.clone()
            };
            turned.after(settings, at(minute)).unwrap()
        };
        let mut open = EventSettings::default();
        (open.schedule.pauses_at, open.schedule.resumes_at) = (Some(time(30)), Some(time(90)));
        open.validate().unwrap();
        assert_eq!(open.scheduled_turn(at(29)), None);
        assert_eq!(open.state_at(at(29)), EventState::Open);
        assert_eq!(
            open.scheduled_turn(at(31)),
            Some((EventState::Paused, at(30)))
        );
        assert_eq!(
            open.state_at(at(31)),
            EventState::Paused,
            "before the scheduler wrote it"
        );
        assert_eq!(open.pause_ahead(at(10)), Some((at(30), Some(at(90)))));
        let paused = made(&open, EventState::Paused, 30);
        assert_eq!(paused.scheduled_turn(at(60)), None);
        assert_eq!(paused.pause_ahead(at(60)), Some((at(60), Some(at(90)))));
        assert_eq!(
            paused.scheduled_turn(at(90)),
            Some((EventState::Open, at(90)))
        );
        let resumed = made(&paused, EventState::Open, 90);
        assert_eq!(resumed.scheduled_turn(at(95)), None, "made once");
        assert_eq!(resumed.pause_ahead(at(95)), None);
        // A resume by hand within the break stands; so does a pause by hand after it.
        let by_hand = made(&paused, EventState::Open, 45);
        assert_eq!(by_hand.scheduled_turn(at(60)), None);
        assert_eq!(by_hand.scheduled_turn(at(95)), None);
        let paused_again = made(&resumed, EventState::Paused, 100);
        assert_eq!(paused_again.scheduled_turn(at(120)), None);
        assert_eq!(paused_again.pause_ahead(at(120)), Some((at(120), None)));
        // All replicas down through the whole break: it is not made late.
        assert_eq!(open.scheduled_turn(at(91)), None);
        // A pause by hand that announces its end, and one that does not.
        let mut announced = made(&EventSettings::default(), EventState::Paused, 10);
        announced.schedule.resumes_at = Some(time(40));
        assert_eq!(announced.pause_ahead(at(20)), Some((at(20), Some(at(40)))));
        assert_eq!(
            announced.scheduled_turn(at(40)),
            Some((EventState::Open, at(40)))
        );
        let closed = made(&open, EventState::Closed, 20);
        assert_eq!(
            (closed.scheduled_turn(at(31)), closed.pause_ahead(at(31))),
            (None, None)
        );
        // The break's end comes after its start, and after the opening.
        let mut backwards = open.clone();
        backwards.schedule.resumes_at = Some(time(30));
        assert_eq!(backwards.validate().unwrap_err().field, "resumes_at");
        let mut before_opening = open.clone();
        before_opening.schedule.opens_at = Some(time(30));
        assert_eq!(before_opening.validate().unwrap_err().field, "pauses_at");
    }

    /// The sections are flattened: the wire names are the fields' own, as before there were
    /// sections, and stored settings that predate a field load with its default.
    /// An event saved before its texts' messages were renamed can still be changed: the texts the
    /// page can no longer use go, a new unusable one is refused.
    #[test]
    fn texts_of_messages_gone_are_dropped_not_refused() {
        let base: EventSettings = serde_json::from_value(serde_json::json!({
            "page": { "texts": { "de": { "ahead_many": "{n} vor Ihnen.", "hint": "Bitte warten." } } }
        }))
        .unwrap();
        let next = base
            .clone()
            .patched(serde_json::json!({ "batch_size": 7 }))
            .after(&base, 0)
            .unwrap();
        let kept = &next.page.texts["de"];
        assert_eq!(kept.keys().collect::<Vec<_>>(), ["hint"]);
        let refused = base
            .clone()
            .patched(serde_json::json!({ "page": { "texts": { "de": { "no_such": "x" } } } }))
            .after(&base, 0);
        assert!(refused.is_err());
    }

    #[test]
    fn sections_keep_the_wire_format() {
        let stored = serde_json::json!({
            "batch_size": 5, "release_interval_ms": 1000, "token_ttl_s": 600, "pass_ttl_s": 60,
            "target_url": "https://tickets.example.com/", "state": "closed", "closed_at": 7,
            "page": { "title": "Tour" }, "method": "random", "cors_origins": ["https://a.example"],
        });
        let settings: EventSettings = serde_json::from_value(stored.clone()).unwrap();
        assert_eq!(settings.release.batch_size, 5);
        assert_eq!(
            settings.admission.target_url,
            "https://tickets.example.com/"
        );
        assert_eq!(settings.history.closed_at, Some(7));
        assert_eq!(settings.ordering.method, QueueMethod::Random);
        assert_eq!(
            settings.admission.claim_window_s, 120,
            "a field it predates"
        );
        let written = serde_json::to_value(&settings).unwrap();
        for (field, value) in stored.as_object().unwrap() {
            if field != "page" {
                assert_eq!(&written[field], value, "{field}");
            }
        }
        assert_eq!(written["page"]["title"], "Tour");
        assert!(written.get("release").is_none() && written.get("history").is_none());
    }
}
