//! Ids, validated when parsed, so the rest of the code can trust them.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest event id accepted; event ids end up in Redis keys, cookie names and URLs.
pub const EVENT_ID_MAX_LEN: usize = 64;
/// Longest visitor id accepted; trusted joins use the booking site's user id.
pub const VISITOR_ID_MAX_LEN: usize = 128;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    #[error("{what} must not be empty")]
    Empty { what: &'static str },
    #[error("{what} is {len} characters long; the limit is {max}")]
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{what} may only contain {allowed}; found {found:?}")]
    BadCharacter {
        what: &'static str,
        allowed: &'static str,
        found: char,
    },
}

fn check_id(
    what: &'static str,
    raw: &str,
    max: usize,
    allowed: &'static str,
    ok: impl Fn(char) -> bool,
) -> Result<(), IdError> {
    if raw.is_empty() {
        return Err(IdError::Empty { what });
    }
    let len = raw.chars().count();
    if len > max {
        return Err(IdError::TooLong { what, len, max });
    }
    match raw.chars().find(|c| !ok(*c)) {
        Some(found) => Err(IdError::BadCharacter {
            what,
            allowed,
            found,
        }),
        None => Ok(()),
    }
}

/// An event's id: 1-64 characters of `a-z A-Z 0-9 _ -`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct EventId(String);

impl EventId {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        check_id(
            "event id",
            raw,
            EVENT_ID_MAX_LEN,
            "letters, digits, '_' and '-'",
            |c| c.is_ascii_alphanumeric() || c == '_' || c == '-',
        )?;
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Longest lane name accepted.
pub const LANE_NAME_MAX_LEN: usize = 32;

/// A priority lane's name: 1-32 characters of `a-z 0-9 _ -`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct LaneName(String);

impl LaneName {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        check_id(
            "lane name",
            raw,
            LANE_NAME_MAX_LEN,
            "lowercase letters, digits, '_' and '-'",
            |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-',
        )?;
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LaneName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for LaneName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        LaneName::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// One line of people: an event's own, or the line of one of its priority lanes after the first
/// (the first lane's line is the event's own). The store, the pointer cache, the scheduler and the
/// drain work on lines; visitors and admins name events.
///
/// Only where a line must be one string does it have the form `event~lane`: in its Redis keys and
/// the messages replicas exchange through Redis ([`LineId::wire`], [`LineId::parse_wire`]). `~`
/// is in no event id or lane name, so the form is unambiguous.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LineId {
    event: EventId,
    lane: Option<LaneName>,
}

/// Between an event's id and a lane's name in a line's wire form.
const LANE_SEPARATOR: char = '~';

impl LineId {
    /// The line of `lane` of `event` (a lane after the first).
    pub fn of_lane(event: EventId, lane: LaneName) -> Self {
        Self {
            event,
            lane: Some(lane),
        }
    }

    pub fn event(&self) -> &EventId {
        &self.event
    }

    /// The lane, for a lane's line; `None` for the event's own line.
    pub fn lane(&self) -> Option<&LaneName> {
        self.lane.as_ref()
    }

    pub fn is_lane(&self) -> bool {
        self.lane.is_some()
    }

    /// The line's one-string form, for Redis keys and replica messages: `event` or `event~lane`
    /// (an event's own line, the common case, without building a string).
    pub fn wire(&self) -> Cow<'_, str> {
        match &self.lane {
            Some(lane) => Cow::Owned(format!("{}{LANE_SEPARATOR}{lane}", self.event)),
            None => Cow::Borrowed(self.event.as_str()),
        }
    }

    /// Reads [`LineId::wire`]'s form back.
    pub fn parse_wire(raw: &str) -> Result<Self, IdError> {
        Ok(match raw.split_once(LANE_SEPARATOR) {
            Some((event, lane)) => Self::of_lane(EventId::parse(event)?, LaneName::parse(lane)?),
            None => Self::from(EventId::parse(raw)?),
        })
    }
}

impl From<EventId> for LineId {
    /// The event's own line.
    fn from(event: EventId) -> Self {
        Self { event, lane: None }
    }
}

impl From<&EventId> for LineId {
    fn from(event: &EventId) -> Self {
        Self::from(event.clone())
    }
}

/// For logs: `event`, or `event (lane members)`.
impl fmt::Display for LineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.lane {
            Some(lane) => write!(f, "{} (lane {lane})", self.event),
            None => f.write_str(self.event.as_str()),
        }
    }
}

/// Replica messages carry a line in its wire form, which replicas of earlier versions also read.
impl Serialize for LineId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.wire())
    }
}

impl<'de> Deserialize<'de> for LineId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        LineId::parse_wire(&raw).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        EventId::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A visitor's id: server-generated for anonymous visitors, the booking site's user id for trusted joins.
/// 1-128 characters of `a-z A-Z 0-9 _ - . : @`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct VisitorId(String);

impl VisitorId {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        check_id(
            "visitor id",
            raw,
            VISITOR_ID_MAX_LEN,
            "letters, digits and '_ - . : @'",
            |c| c.is_ascii_alphanumeric() || "_-.:@".contains(c),
        )?;
        Ok(Self(raw.to_owned()))
    }

    /// A fresh anonymous id: 128 random bits, prefixed so it can never collide with a trusted user id
    /// that is merely numeric or an e-mail address.
    pub fn generate() -> Self {
        let mut id = String::with_capacity(34);
        id.push_str("v_");
        id.push_str(hex_str(&lower_hex::<32>(rand::random())));
        Self(id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for VisitorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for VisitorId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        VisitorId::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// 128 random bits as 32 lowercase hex characters.
pub fn random_token_id() -> String {
    hex_str(&lower_hex::<32>(rand::random())).to_owned()
}

/// The last `N` hex digits of `bits`, lowercase. Ids are made on every join and request, and this
/// costs a fraction of going through a formatter.
pub fn lower_hex<const N: usize>(mut bits: u128) -> [u8; N] {
    let mut digits = [0u8; N];
    for digit in digits.iter_mut().rev() {
        *digit = b"0123456789abcdef"[(bits & 0xf) as usize];
        bits >>= 4;
    }
    digits
}

fn hex_str(digits: &[u8]) -> &str {
    std::str::from_utf8(digits).expect("hex digits are ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_ids_match_the_formatter() {
        let bits = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210_u128;
        assert_eq!(hex_str(&lower_hex::<32>(bits)), format!("{bits:032x}"));
        assert_eq!(hex_str(&lower_hex::<4>(0xbeef)), "beef");
        assert_eq!(hex_str(&lower_hex::<6>(0xbeef)), "00beef");
        let visitor = VisitorId::generate();
        assert_eq!(visitor.as_str().len(), 34);
        assert!(VisitorId::parse(visitor.as_str()).is_ok());
    }

    #[test]
    fn event_ids_are_checked() {
        assert!(EventId::parse("summer-tour_2026").is_ok());
        assert_eq!(EventId::parse(""), Err(IdError::Empty { what: "event id" }));
        assert!(matches!(
            EventId::parse(&"x".repeat(65)),
            Err(IdError::TooLong {
                len: 65,
                max: 64,
                ..
            })
        ));
        assert!(matches!(
            EventId::parse("a{b}"),
            Err(IdError::BadCharacter { found: '{', .. })
        ));
        assert!(EventId::parse("ünï").is_err());
    }

    #[test]
    fn lines_read_back_from_their_wire_form() {
        let event = EventId::parse("tix").unwrap();
        let own = LineId::from(&event);
        let members = LineId::of_lane(event.clone(), LaneName::parse("members").unwrap());
        assert_eq!(
            (own.wire().as_ref(), members.wire().as_ref()),
            ("tix", "tix~members")
        );
        assert_eq!(LineId::parse_wire("tix").unwrap(), own);
        assert_eq!(LineId::parse_wire("tix~members").unwrap(), members);
        assert_eq!(members.event(), &event);
        assert_eq!(members.to_string(), "tix (lane members)");
        for bad in ["tix~", "~members", "tix~Members", "tix~a~b", "t{x}~members"] {
            assert!(LineId::parse_wire(bad).is_err(), "{bad}");
        }
        assert!(EventId::parse("tix~members").is_err());
        let json = serde_json::to_string(&members).unwrap();
        assert_eq!(serde_json::from_str::<LineId>(&json).unwrap(), members);
    }

    #[test]
    fn visitor_ids_are_checked() {
        assert!(VisitorId::parse("user:42@example.com").is_ok());
        assert!(VisitorId::parse("a b").is_err());
        assert!(VisitorId::parse(&"u".repeat(129)).is_err());
        let generated = VisitorId::generate();
        assert!(VisitorId::parse(generated.as_str()).is_ok());
        assert_ne!(generated, VisitorId::generate());
    }
}
