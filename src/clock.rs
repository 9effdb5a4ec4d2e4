//! The one wall clock: every "now" in unix time comes from here, so the whole service agrees on
//! what it reads and a test can find every place time enters.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the unix epoch.
pub fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Seconds since the unix epoch.
pub fn unix_s() -> i64 {
    unix_ms() / 1_000
}

/// A unix time in seconds as RFC 3339 (`2026-11-22T18:56:51Z`), as answers show expiry times.
pub fn rfc3339(unix_s: i64) -> String {
    chrono::DateTime::from_timestamp(unix_s, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_and_milliseconds_agree_with_chrono() {
        let before = chrono::Utc::now().timestamp_millis();
        let ms = unix_ms();
        let after = chrono::Utc::now().timestamp_millis();
        assert!((before..=after).contains(&ms));
        assert!((unix_s() - ms / 1_000).abs() <= 1);
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
