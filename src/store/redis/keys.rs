//! Where a line's data lives in Redis.

use crate::challenge::Verified;
use crate::domain::LineId;

/// `<prefix>:{line}:<name>` (the line's wire form, `event` or `event~lane`): hash-tagged by
/// line, so a line's keys share a Redis Cluster slot.
pub(super) fn line_key(prefix: &str, event: &LineId, name: &str) -> String {
    format!("{prefix}:{{{}}}:{name}", event.wire())
}

/// The mark of a challenge's solution spent on a place in `event` (kept until the challenge
/// expires).
pub(super) fn spent_key(prefix: &str, event: &LineId, solved: &Verified) -> String {
    line_key(prefix, event, &format!("challenge:{}", solved.mark()))
}
