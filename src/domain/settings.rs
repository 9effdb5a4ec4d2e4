//! An event's settings: how its line moves and how its page looks, validated as a whole.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use super::ids::{EventId, LaneName, LineId};
use super::palette::{palette, Palette, Rgb};
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

/// One event's settings, as stored and as shown by the admin API.
// Not `deny_unknown_fields`: stored settings written by a newer version still load during a
// rolling upgrade (the admin API's input, `EventSettingsPatch`, refuses unknown fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EventSettings {
    /// Visitors released per interval; 0 means released by hand only.
    pub batch_size: u64,
    pub release_interval_ms: u64,
    /// Lifetime of a waiting token; a visitor who does not come back within it loses the place.
    pub token_ttl_s: u64,
    /// Lifetime of an admission pass.
    pub pass_ttl_s: u64,
    /// Where admitted visitors go.
    pub target_url: String,
    pub state: EventState,
    /// Most admitted visitors active at once (admitted and neither done, expired nor a no-show);
    /// 0 for no limit. With a limit, each release admits `min(batch_size, max_active - active)`.
    #[serde(default)]
    pub max_active: u64,
    /// With `max_active`: how long an admitted visitor has to collect the pass before the slot is
    /// given to someone else.
    #[serde(default = "default_claim_window_s")]
    pub claim_window_s: u64,
    /// Each pass lets one person in once: the booking service consumes it
    /// (`POST /v1/passes/consume`), and the gate takes passes only, consuming each on its first use.
    #[serde(default)]
    pub single_use_passes: bool,
    /// Origins (`https://tickets.example.com`) a visitor may be sent back to after the hand-over,
    /// besides `target_url`'s own.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// How the waiting page looks.
    #[serde(default)]
    pub page: PageSettings,
    /// How long a closed event's data is kept (its line, leavers, claims), in seconds from closing;
    /// then any replica deletes it.
    #[serde(default = "default_retain_closed_s")]
    pub retain_closed_s: u64,
    /// When the event was closed (unix seconds); set by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<i64>,
    /// Whether the event ever drew at random (`method: random`); set by the server. Its pool's
    /// winners are read with it from then on: their tokens name arrival numbers.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drew_at_random: bool,
    #[serde(default)]
    pub rate_limits: RateLimits,
    /// Origins whose pages may call this event's visitor API from the browser (CORS): apps on
    /// another origin than waitroom's.
    #[serde(default)]
    pub cors_origins: Vec<String>,
    /// When the sale opens (RFC 3339): nobody is released before, and the pre-queue is drawn then.
    /// Unset: open at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub opens_at: Option<DateTime<Utc>>,
    /// With `opens_at`: from when visitors may join a pre-queue, whose order is drawn at random at
    /// `opens_at` (everyone in it has the same chance). Joins before it are refused. Unset: joins
    /// are refused until `opens_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub prequeue_from: Option<DateTime<Utc>>,
    /// When the event closes by itself (as `state: closed` does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub closes_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub method: QueueMethod,
    /// Priority lanes (2-8), or none. The first is the default: anonymous visitors join it; a
    /// booking site's join (admin) names the lane.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lanes: Vec<Lane>,
    /// What happens to an admitted visitor's first collection of the pass while the store cannot
    /// be asked whether it is theirs: hold (refused, try again shortly: `max_active` and the claim
    /// window hold) or let through (a pass for the claim window only, asked of the store again
    /// after: for a booking service that can take the extra load).
    #[serde(default)]
    pub outage: OutagePolicy,
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

fn default_claim_window_s() -> u64 {
    120
}

fn default_retain_closed_s() -> u64 {
    7 * 24 * 3600
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
                if !crate::i18n::is_key(key) {
                    return Err(refused(format!(
                        "{lang}.{key} is not a message of the page"
                    )));
                }
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

impl Default for EventSettings {
    fn default() -> Self {
        Self {
            batch_size: 100,
            release_interval_ms: 10_000,
            token_ttl_s: 6 * 3600,
            pass_ttl_s: 600,
            target_url: "http://127.0.0.1:8080/admitted".to_owned(),
            state: EventState::Open,
            max_active: 0,
            claim_window_s: default_claim_window_s(),
            single_use_passes: false,
            allowed_origins: Vec::new(),
            page: PageSettings::default(),
            retain_closed_s: default_retain_closed_s(),
            closed_at: None,
            drew_at_random: false,
            rate_limits: RateLimits::default(),
            cors_origins: Vec::new(),
            opens_at: None,
            prequeue_from: None,
            closes_at: None,
            method: QueueMethod::Fifo,
            lanes: Vec::new(),
            outage: OutagePolicy::Hold,
        }
    }
}

/// A partial update of [`EventSettings`]: what the admin API and config files accept.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventSettingsPatch {
    pub batch_size: Option<u64>,
    pub release_interval_ms: Option<u64>,
    pub token_ttl_s: Option<u64>,
    pub pass_ttl_s: Option<u64>,
    pub target_url: Option<String>,
    pub state: Option<EventState>,
    pub max_active: Option<u64>,
    pub claim_window_s: Option<u64>,
    pub single_use_passes: Option<bool>,
    pub allowed_origins: Option<Vec<String>>,
    /// Replaces the whole page section.
    pub page: Option<PageSettings>,
    pub retain_closed_s: Option<u64>,
    /// Replaces the whole rate-limit section.
    pub rate_limits: Option<RateLimits>,
    pub cors_origins: Option<Vec<String>>,
    /// `null` removes it. Neither `opens_at` nor `prequeue_from` changes once the pre-queue opened.
    #[serde(default, deserialize_with = "present_time")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub opens_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "present_time")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub prequeue_from: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "present_time")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub closes_at: Option<Option<DateTime<Utc>>>,
    pub method: Option<QueueMethod>,
    /// Replaces the whole list; `[]` removes the lanes.
    pub lanes: Option<Vec<Lane>>,
    pub outage: Option<OutagePolicy>,
}

/// A time field that is present, `null` included (`Some(None)`), as opposed to absent (`None`), read as RFC 3339 with a zone: a local time would
/// open the sale in whichever zone the server runs in, so it is refused with the format to use.
fn present_time<'de, D>(deserializer: D) -> Result<Option<Option<DateTime<Utc>>>, D::Error>
where
    D: Deserializer<'de>,
{
    match Option::<String>::deserialize(deserializer)? {
        None => Ok(Some(None)),
        Some(raw) => parse_time(&raw)
            .map(|at| Some(Some(at)))
            .map_err(serde::de::Error::custom),
    }
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

impl EventSettingsPatch {
    /// The schedule times this patch sets that are already past at `now_ms` (more than a minute
    /// ago), by field: a wrong year would otherwise open the sale at once. Leaving a time out (or
    /// `null`) opens at once on purpose.
    /// Times the event already holds (`base`) are not asked again.
    pub fn past_times(&self, base: &EventSettings, now_ms: i64) -> Option<SettingsError> {
        let past = |field: &'static str, at: &Option<Option<DateTime<Utc>>>, held| {
            let at = (*at)??;
            let new = Some(at) != held;
            (new && at.timestamp_millis() < now_ms - 60_000).then(|| SettingsError {
                field,
                reason: format!(
                    "is {}, in the past: the sale would open at once; leave it out (or null) to open \
                     now, or give the time it should open",
                    at.to_rfc3339()
                ),
            })
        };
        past("opens_at", &self.opens_at, base.opens_at)
            .or_else(|| past("prequeue_from", &self.prequeue_from, base.prequeue_from))
    }

    /// Applies the patch on top of `base` and validates the result.
    pub fn apply(self, base: EventSettings) -> Result<EventSettings, SettingsError> {
        let state = self.state.unwrap_or(base.state);
        let opens_at = self.opens_at.unwrap_or(base.opens_at);
        let prequeue_from = self.prequeue_from.unwrap_or(base.prequeue_from);
        let started = base
            .prequeue_from
            .or(base.opens_at)
            .is_some_and(|from| from.timestamp_millis() <= crate::clock::unix_ms());
        if started && (opens_at != base.opens_at || prequeue_from != base.prequeue_from) {
            return Err(SettingsError {
                field: "opens_at",
                reason: "cannot change once the event or its pre-queue has opened: visitors \
                         joined on the published schedule"
                    .into(),
            });
        }
        let settings = EventSettings {
            opens_at,
            prequeue_from,
            closes_at: self.closes_at.unwrap_or(base.closes_at),
            method: self.method.unwrap_or(base.method),
            drew_at_random: base.drew_at_random
                || self.method.unwrap_or(base.method) == QueueMethod::Random,
            lanes: self.lanes.unwrap_or(base.lanes),
            outage: self.outage.unwrap_or(base.outage),
            closed_at: match state {
                EventState::Closed => base.closed_at.or_else(|| Some(crate::clock::unix_s())),
                _ => None,
            },
            retain_closed_s: self.retain_closed_s.unwrap_or(base.retain_closed_s),
            rate_limits: self.rate_limits.unwrap_or(base.rate_limits),
            cors_origins: self.cors_origins.unwrap_or(base.cors_origins),
            batch_size: self.batch_size.unwrap_or(base.batch_size),
            release_interval_ms: self.release_interval_ms.unwrap_or(base.release_interval_ms),
            token_ttl_s: self.token_ttl_s.unwrap_or(base.token_ttl_s),
            pass_ttl_s: self.pass_ttl_s.unwrap_or(base.pass_ttl_s),
            target_url: self.target_url.unwrap_or(base.target_url),
            state,
            max_active: self.max_active.unwrap_or(base.max_active),
            claim_window_s: self.claim_window_s.unwrap_or(base.claim_window_s),
            single_use_passes: self.single_use_passes.unwrap_or(base.single_use_passes),
            allowed_origins: self.allowed_origins.unwrap_or(base.allowed_origins),
            page: self.page.unwrap_or(base.page),
        };
        settings.validate()?;
        Ok(settings)
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
        self.state == EventState::Closed
            && self.closed_at.is_some_and(|closed| {
                now_s
                    >= closed
                        .saturating_add(i64::try_from(self.retain_closed_s).unwrap_or(i64::MAX))
            })
    }

    /// The lanes after the first (whose line is the event's own), each with its line's id.
    pub fn lane_lines<'a>(
        &'a self,
        event: &'a EventId,
    ) -> impl Iterator<Item = (&'a Lane, LineId)> + 'a {
        self.lanes
            .iter()
            .skip(1)
            .map(move |lane| (lane, LineId::of_lane(event.clone(), lane.name.clone())))
    }

    /// The settings of the line of `lane` (not the first: that one is the event's own line): the
    /// event's, with the lane's share of every release, for its estimates (the event's release
    /// moves every lane).
    pub fn lane_settings(&self, lane: &Lane) -> EventSettings {
        EventSettings {
            batch_size: self.batch_size * u64::from(lane.share) / 100,
            lanes: Vec::new(),
            ..self.clone()
        }
    }

    /// Where the schedule stands at `now_ms`.
    pub fn phase(&self, now_ms: i64) -> Phase {
        let passed =
            |at: Option<DateTime<Utc>>| at.is_some_and(|at| at.timestamp_millis() <= now_ms);
        if self.state == EventState::Closed || passed(self.closes_at) {
            Phase::Closed
        } else if self.opens_at.is_none() || passed(self.opens_at) {
            Phase::Live
        } else if passed(self.prequeue_from) {
            Phase::Prequeue
        } else {
            Phase::Upcoming
        }
    }

    /// Whether the event has (or had) a pool: it draws at random, or did.
    pub fn has_pool(&self) -> bool {
        self.drew_at_random || self.method == QueueMethod::Random
    }

    /// Whether the event has a pre-queue to draw.
    pub fn has_prequeue(&self) -> bool {
        self.prequeue_from.is_some() && self.opens_at.is_some()
    }

    /// When joins are first taken (unix ms): the pre-queue's start, else the opening.
    pub fn joins_from_ms(&self) -> Option<i64> {
        self.prequeue_from
            .or(self.opens_at)
            .map(|at| at.timestamp_millis())
    }

    pub fn validate(&self) -> Result<(), SettingsError> {
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
        self.validate_lanes()?;
        if !self.lanes.is_empty() && self.method == QueueMethod::Random {
            return Err(SettingsError {
                field: "method",
                reason: "cannot be random for an event with lanes".into(),
            });
        }
        if self.prequeue_from.is_some() && self.method != QueueMethod::Fifo {
            return Err(SettingsError {
                field: "method",
                reason: "must be fifo for an event with a pre-queue".into(),
            });
        }
        if let (Some(opens), Some(closes)) = (self.opens_at, self.closes_at) {
            if closes <= opens {
                return Err(SettingsError {
                    field: "closes_at",
                    reason: "must be after `opens_at`".into(),
                });
            }
        }
        within("batch_size", self.batch_size, 0, 100_000)?;
        within(
            "release_interval_ms",
            self.release_interval_ms,
            100,
            3_600_000,
        )?;
        within("token_ttl_s", self.token_ttl_s, 60, 7 * 24 * 3600)?;
        within("pass_ttl_s", self.pass_ttl_s, 10, 24 * 3600)?;
        within("max_active", self.max_active, 0, 10_000_000)?;
        within("claim_window_s", self.claim_window_s, 5, 24 * 3600)?;
        within("retain_closed_s", self.retain_closed_s, 60, 365 * 24 * 3600)?;
        let limits = &self.rate_limits;
        within(
            "rate_limits.joins_per_minute",
            limits.joins_per_minute.into(),
            0,
            1_000_000,
        )?;
        within(
            "rate_limits.join_burst",
            limits.join_burst.into(),
            0,
            1_000_000,
        )?;
        within(
            "rate_limits.checks_per_second",
            limits.checks_per_second.into(),
            0,
            1_000_000,
        )?;
        within(
            "rate_limits.check_burst",
            limits.check_burst.into(),
            0,
            1_000_000,
        )?;
        check_http_url("target_url", &self.target_url)?;
        check_origins("allowed_origins", &self.allowed_origins)?;
        check_origins("cors_origins", &self.cors_origins)?;
        self.page.validate()
    }

    fn validate_lanes(&self) -> Result<(), SettingsError> {
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
        if self.prequeue_from.is_some() || self.max_active > 0 {
            return refused(
                "go without a pre-queue and without max_active (not supported together yet)".into(),
            );
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
        let target = url::Url::parse(&self.target_url).ok()?;
        let is_path = to.starts_with('/');
        let url = if is_path {
            target.join(to).ok()?
        } else {
            url::Url::parse(to).ok()?
        };
        let origin = url.origin().ascii_serialization();
        let allowed = origin == target.origin().ascii_serialization()
            || self.allowed_origins.contains(&origin);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_addresses_stay_on_allowed_origins() {
        let settings = EventSettings {
            target_url: "https://tickets.example.com/_waitroom/claim".into(),
            allowed_origins: vec!["https://shop.example.com".into()],
            ..EventSettings::default()
        };
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
        let bad = EventSettings {
            allowed_origins: vec!["https://shop.example.com/path".into()],
            ..EventSettings::default()
        };
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
            let settings = EventSettings {
                target_url: "https://tickets.example.com/_waitroom/claim".into(),
                allowed_origins: vec!["https://shop.example.com".into()],
                ..EventSettings::default()
            };
            if let Some(back) = settings.return_address(&to) {
                proptest::prop_assert!(
                    actix_http::header::HeaderValue::from_str(&back).is_ok(),
                    "{back:?}"
                );
                proptest::prop_assert!(back.bytes().all(|b| b.is_ascii_graphic()), "{back:?}");
                let read = url::Url::parse(&settings.target_url).unwrap().join(&back).unwrap();
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
        let err = EventSettingsPatch {
            release_interval_ms: Some(5),
            ..Default::default()
        }
        .apply(base.clone())
        .unwrap_err();
        assert_eq!(err.field, "release_interval_ms");
        let err = EventSettingsPatch {
            target_url: Some("javascript:alert(1)".into()),
            ..Default::default()
        }
        .apply(base.clone())
        .unwrap_err();
        assert_eq!(err.field, "target_url");
        let ok = EventSettingsPatch {
            batch_size: Some(0),
            ..Default::default()
        }
        .apply(base)
        .unwrap();
        assert_eq!(ok.batch_size, 0);
    }
}
