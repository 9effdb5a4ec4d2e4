//! Where a line's data lives in Redis.

use crate::challenge::Verified;
use crate::domain::LineId;

/// `<prefix>:{line}:<name>` (the line's wire form, `event` or `event~lane`): hash-tagged by
/// line, so a line's keys share a Redis Cluster slot.
pub(super) fn line_key(prefix: &str, event: &LineId, name: &str) -> String {
    format!("{prefix}:{{{}}}:{name}", event.wire())
}

/// Where a challenge's solution spent on a place in `event` is marked, and until when (unix ms):
/// a member (the challenge's nonce) of one set per minute in which challenges expire, kept until
/// the last of them expired. (A key per solution with its own expiry cost Redis ~4 µs per join; a
/// member under a shared expiry costs a fraction of that.)
pub(super) fn spent_mark(prefix: &str, event: &LineId, solved: &Verified) -> (String, i64) {
    const MINUTE_MS: i64 = 60_000;
    let minute = solved.expires_ms.div_euclid(MINUTE_MS);
    let key = line_key(prefix, event, &format!("challenges:{minute}"));
    (key, (minute + 1) * MINUTE_MS)
}
