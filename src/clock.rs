//! The one wall clock: every "now" in unix time comes from here, so the whole service agrees on
//! what it reads and a test can find every place time enters. A thread may run on a
//! [`VirtualClock`] instead (`waitroom simulate`): then its every "now", wall-clock and monotonic,
//! is the time the simulation set.

use std::cell::Cell;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

thread_local! {
    /// The virtual time of this thread, as unix ms and the instant standing for it.
    static VIRTUAL: Cell<Option<(i64, Instant)>> = const { Cell::new(None) };
}

/// Milliseconds since the unix epoch.
pub fn unix_ms() -> i64 {
    if let Some((ms, _)) = VIRTUAL.get() {
        return ms;
    }
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The monotonic clock's now, for measuring spans (rates, how long since a sync).
pub fn now() -> Instant {
    VIRTUAL.get().map_or_else(Instant::now, |(_, at)| at)
}

/// Time that moves only when told, on the thread that made it, until dropped.
pub struct VirtualClock {
    start_ms: i64,
    start: Instant,
}

impl VirtualClock {
    /// Stops this thread's clock at `unix_ms`.
    pub fn starting_at(unix_ms: i64) -> Self {
        let start = Instant::now();
        VIRTUAL.set(Some((unix_ms, start)));
        Self {
            start_ms: unix_ms,
            start,
        }
    }

    /// Moves this thread's clock to `unix_ms` (never back before the start).
    pub fn set(&self, unix_ms: i64) {
        let since = u64::try_from(unix_ms - self.start_ms).unwrap_or(0);
        VIRTUAL.set(Some((
            unix_ms.max(self.start_ms),
            self.start + Duration::from_millis(since),
        )));
    }
}

impl Drop for VirtualClock {
    fn drop(&mut self) {
        VIRTUAL.set(None);
    }
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

    #[test]
    fn a_virtual_clock_moves_when_told_on_its_thread_only() {
        let clock = VirtualClock::starting_at(1_000_000);
        let started = now();
        assert_eq!(unix_ms(), 1_000_000);
        clock.set(1_090_500);
        assert_eq!((unix_ms(), unix_s()), (1_090_500, 1_090));
        assert_eq!(now() - started, Duration::from_millis(90_500));
        let elsewhere = std::thread::spawn(unix_ms).join().unwrap();
        assert!(elsewhere > 1_700_000_000_000, "{elsewhere}");
        drop(clock);
        assert!(unix_ms() > 1_700_000_000_000);
    }
}
