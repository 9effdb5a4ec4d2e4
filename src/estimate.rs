//! Wait estimates from the admission rate actually measured, said honestly: rounded, with a
//! confidence, counting a pause whose end is known, and not at all while the line stands still for
//! a time nobody knows.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::domain::{EventSettings, EventState};
use crate::i18n::Rounded;

/// Pointer moves remembered for the moving average.
const SAMPLES: usize = 12;
/// Older moves than this say nothing about the current pace.
const HORIZON: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    /// From the configured schedule only: nobody has been measured coming through yet.
    Low,
    Medium,
    /// Several recent release windows at a steady pace.
    High,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Estimate {
    pub wait_s: u64,
    /// The wait as a person says it, in English: "about 4 min", never a false precision.
    pub text: &'static str,
    /// The same rounding for saying it in any language: the page's script and the page without
    /// script put these into the `wait` message of their language.
    pub rounded: Rounded,
    pub confidence: Confidence,
    /// Visitors admitted per minute, as measured (or as scheduled, with low confidence).
    pub rate_per_min: f64,
    /// What the rate comes from.
    pub basis: Basis,
}

/// Where an estimate's rate comes from, so the page can say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// The scheduled releases measured lately (admins' manual advances left out).
    Measured,
    /// The release schedule: nothing measured yet.
    Schedule,
}

/// Remembers when the pointer moved and how many visitors had come through by then, and how many
/// had given up their place and waited then.
#[derive(Debug, Default)]
pub struct RateMeter {
    samples: VecDeque<(Instant, u64)>,
    /// What the samples say, worked out once per pointer move rather than once per status check.
    summary: Option<Summary>,
    /// (when, (how many had left in all, how many waited)) at each pointer move.
    leaving: VecDeque<(Instant, (u64, u64))>,
    /// The share of those waiting who give up a second, as measured (see [`RateMeter::leave_rate`]).
    leave_rate: Option<f64>,
}

#[derive(Debug, Clone, Copy)]
struct Summary {
    first_at: Instant,
    last_at: Instant,
    admitted: u64,
    mean_gap_s: f64,
    confidence: Confidence,
}

impl RateMeter {
    /// Records that `admitted` visitors (not counting those who left) had come through at `at`.
    pub fn record(&mut self, at: Instant, admitted: u64) {
        if self
            .samples
            .back()
            .is_some_and(|(_, last)| *last >= admitted)
        {
            return;
        }
        keep_recent(&mut self.samples, at, admitted);
        self.summary = self.summarise();
    }

    /// Sets aside a move that says nothing about the pace (an admin's manual advance): the visitors
    /// it let through count as if they had come through before every sample, so the rate between
    /// samples stays the scheduled one.
    pub fn set_aside(&mut self, admitted: u64) {
        let Some(&(_, last)) = self.samples.back() else {
            return;
        };
        let jump = admitted.saturating_sub(last);
        for (_, count) in &mut self.samples {
            *count += jump;
        }
        self.summary = self.summarise();
    }

    fn summarise(&self) -> Option<Summary> {
        if self.samples.len() < 3 {
            return None;
        }
        let (first_at, first) = *self.samples.front()?;
        let (last_at, last) = *self.samples.back()?;
        let span = last_at.duration_since(first_at).as_secs_f64();
        if span <= 0.0 {
            return None;
        }
        let per_gap: Vec<f64> = self
            .samples
            .iter()
            .zip(self.samples.iter().skip(1))
            .map(|((t0, c0), (t1, c1))| {
                (c1 - c0) as f64 / t1.duration_since(*t0).as_secs_f64().max(1e-3)
            })
            .collect();
        let mean = per_gap.iter().sum::<f64>() / per_gap.len() as f64;
        let variance =
            per_gap.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / per_gap.len() as f64;
        let steady = mean > 0.0 && variance.sqrt() / mean < 0.3;
        Some(Summary {
            first_at,
            last_at,
            admitted: last - first,
            mean_gap_s: span / per_gap.len() as f64,
            confidence: if self.samples.len() >= 6 && steady {
                Confidence::High
            } else {
                Confidence::Medium
            },
        })
    }

    /// Records that `left` visitors had given up their place in all, and `waiting` waited, at `at`.
    pub fn record_leaving(&mut self, at: Instant, left: u64, waiting: u64) {
        keep_recent(&mut self.leaving, at, (left, waiting));
        self.leave_rate = self.measure_leaving();
    }

    /// Those who left between the first and the last sample over the time each person waited in
    /// between (the line's length over time, by the trapezoid rule): the share of those waiting
    /// who give up a second, once two moves were seen.
    fn measure_leaving(&self) -> Option<f64> {
        if self.leaving.len() < 2 {
            return None;
        }
        let (_, (first, _)) = *self.leaving.front()?;
        let (_, (last, _)) = *self.leaving.back()?;
        let waited_s: f64 = self
            .leaving
            .iter()
            .zip(self.leaving.iter().skip(1))
            .map(|((t0, (_, w0)), (t1, (_, w1)))| {
                (w0 + w1) as f64 / 2.0 * t1.duration_since(*t0).as_secs_f64()
            })
            .sum();
        (waited_s > 0.0).then(|| last.saturating_sub(first) as f64 / waited_s)
    }

    /// The share of those waiting who give up their place a second, as measured lately.
    pub fn leave_rate(&self) -> Option<f64> {
        self.leave_rate
    }

    /// When the pointer last moved on its own (a scheduled release).
    pub fn last_move(&self) -> Option<Instant> {
        self.samples.back().map(|(at, _)| *at)
    }

    /// Visitors per second over the remembered release windows, and how sure that is.
    pub fn rate(&self, now: Instant) -> Option<(f64, Confidence)> {
        let summary = self.summary?;
        let span = summary
            .last_at
            .duration_since(summary.first_at)
            .as_secs_f64();
        // A line that stopped moving slows the rate down rather than keeping the old pace.
        let since_last = now.saturating_duration_since(summary.last_at).as_secs_f64();
        let span = if since_last > 3.0 * summary.mean_gap_s {
            span + since_last
        } else {
            span
        };
        Some((summary.admitted as f64 / span, summary.confidence))
    }
}

/// Adds a sample taken `at`, keeping the last [`SAMPLES`] of the last [`HORIZON`].
fn keep_recent<T>(samples: &mut VecDeque<(Instant, T)>, at: Instant, value: T) {
    samples.push_back((at, value));
    while samples.len() > SAMPLES
        || samples
            .front()
            .is_some_and(|(t, _)| at.duration_since(*t) > HORIZON)
    {
        samples.pop_front();
    }
}

/// How long a visitor with `ahead` people before them will likely wait, at `now` (`now_ms` on the
/// wall clock); `None` when the line is not moving on its own (closed, released by hand) and
/// nothing was measured, or stands still for a time nobody knows (paused with no end announced,
/// or to be paused so before the visitor's turn). A pause with a known end counts in full: the
/// line moves at its pace before and after.
pub fn estimate(
    ahead: u64,
    settings: &EventSettings,
    meter: &RateMeter,
    now: Instant,
    now_ms: i64,
) -> Option<Estimate> {
    let pause = settings.pause_ahead(now_ms);
    let paused_now = pause.is_some_and(|(from_ms, _)| from_ms <= now_ms);
    if !paused_now && settings.state_at(now_ms) != EventState::Open {
        return None;
    }
    // While paused: the pace the line had when it last moved.
    let measured_at = match paused_now {
        true => meter.last_move().unwrap_or(now),
        false => now,
    };
    let measured = meter
        .rate(measured_at)
        .map(|(rate, confidence)| (rate, confidence, Basis::Measured));
    let (rate, confidence, basis) = measured.or_else(|| {
        (settings.release.batch_size > 0).then(|| {
            let scheduled = settings.release.batch_size as f64
                / (settings.release.release_interval_ms as f64 / 1_000.0);
            (scheduled, Confidence::Low, Basis::Schedule)
        })
    })?;
    if rate <= 0.0 {
        return None;
    }
    let release = &settings.release;
    // People give up at a pace of their own, measured even while the release pace is not yet.
    let ahead = match meter.leave_rate() {
        Some(leaving) => staying(ahead, rate, leaving),
        None => ahead as f64,
    };
    let moving_s = match (basis, meter.last_move()) {
        (Basis::Measured, Some(last)) if release.batch_size > 0 => {
            let interval = Duration::from_millis(release.release_interval_ms);
            // A resume releases at once.
            let to_next = match paused_now {
                true => 0.0,
                false => (last + interval)
                    .saturating_duration_since(now)
                    .as_secs_f64(),
            };
            in_releases(ahead, rate, interval, to_next)
        }
        _ => (ahead + 1.0) / rate,
    };
    let wait_s = match pause {
        Some((from_ms, until_ms)) if moving_s >= (from_ms - now_ms) as f64 / 1_000.0 => {
            moving_s + (until_ms? - from_ms) as f64 / 1_000.0
        }
        _ => moving_s,
    }
    .round() as u64;
    let rounded = Rounded::of(wait_s);
    Some(Estimate {
        wait_s,
        text: rounded.english(),
        rounded,
        confidence,
        rate_per_min: per_minute(rate),
        basis,
    })
}

/// How many of the `ahead` people before a visitor will still be there when the line reaches
/// them, at `rate` let through a second while a share `leaving` of those waiting give up a second:
/// the line ahead shrinks by `rate + leaving × ahead` a second, so it is gone after
/// `ln(1 + ahead × leaving / rate) / leaving` seconds, in which `rate` times that many are let
/// through. Without leavers, all of them.
fn staying(ahead: u64, rate: f64, leaving: f64) -> f64 {
    let ahead = ahead as f64;
    let shrink = ahead * leaving / rate;
    if shrink < 1e-9 {
        return ahead;
    }
    rate / leaving * shrink.ln_1p()
}

/// The wait of a visitor with `ahead` people before them on a line released in batches every
/// `interval`, at `rate` a second as measured: until the next release (`to_next` seconds: an
/// interval after the last one, or at once if that is past: a release waits only for someone to
/// let in), then as many more releases as the pace needs to reach them. People let through once a
/// minute wait for the next minute, however few are ahead of them: a wait the pace alone would
/// call a few seconds.
fn in_releases(ahead: f64, rate: f64, interval: Duration, to_next: f64) -> f64 {
    let per_release = rate * interval.as_secs_f64();
    let releases = ((ahead + 1.0) / per_release).ceil().max(1.0);
    to_next + (releases - 1.0) * interval.as_secs_f64()
}

/// A rate (per second) per minute as the answer says it: to a tenth, or, for a line slower than a
/// person a minute, to two significant digits (an event that admits a few an hour is not "0.0").
fn per_minute(rate: f64) -> f64 {
    let per_minute = rate * 60.0;
    if per_minute >= 1.0 || per_minute <= 0.0 {
        return (per_minute * 10.0).round() / 10.0;
    }
    let scale = 10f64.powi(1 - per_minute.log10().floor() as i32);
    (per_minute * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_lines_are_not_said_to_move_at_zero_a_minute() {
        assert_eq!(per_minute(1.0), 60.0);
        assert_eq!(per_minute(1.0 / 60.0 * 2.345), 2.3);
        assert_eq!(per_minute(1.0 / 3600.0), 0.017, "one an hour");
        assert_eq!(per_minute(12.0 / 3600.0), 0.2, "twelve an hour");
        assert_eq!(per_minute(0.0), 0.0);
    }

    fn steady(meter: &mut RateMeter, start: Instant, moves: u64, every: Duration, batch: u64) {
        for i in 0..moves {
            meter.record(start + every * i as u32, i * batch);
        }
    }

    #[test]
    fn a_steady_pace_gives_a_confident_rate() {
        let start = Instant::now();
        let mut meter = RateMeter::default();
        steady(&mut meter, start, 8, Duration::from_secs(10), 100);
        let (rate, confidence) = meter.rate(start + Duration::from_secs(72)).unwrap();
        assert!((rate - 10.0).abs() < 1e-9, "{rate}");
        assert_eq!(confidence, Confidence::High);
    }

    #[test]
    fn too_few_moves_fall_back_to_the_schedule() {
        let start = Instant::now();
        let mut meter = RateMeter::default();
        steady(&mut meter, start, 2, Duration::from_secs(10), 100);
        assert!(meter.rate(start).is_none());
        let settings = EventSettings::default()
            .patched(serde_json::json!({ "batch_size": 50, "release_interval_ms": 5_000 }));
        let estimate = estimate(999, &settings, &meter, start, 0).unwrap();
        assert_eq!(
            (estimate.wait_s, estimate.confidence),
            (100, Confidence::Low)
        );
        let by_hand = settings.patched(serde_json::json!({ "batch_size": 0 }));
        assert!(super::estimate(999, &by_hand, &meter, start, 0).is_none());
    }

    #[test]
    fn a_stalled_line_slows_the_estimate_and_a_paused_one_has_none() {
        let start = Instant::now();
        let mut meter = RateMeter::default();
        steady(&mut meter, start, 6, Duration::from_secs(10), 100);
        let moving = meter.rate(start + Duration::from_secs(55)).unwrap().0;
        let stalled = meter.rate(start + Duration::from_secs(200)).unwrap().0;
        assert!(stalled < moving / 2.0, "{stalled} vs {moving}");
        let paused =
            EventSettings::default().patched(serde_json::json!({ "state": EventState::Paused }));
        assert!(estimate(10, &paused, &meter, start, 0).is_none());
    }

    /// A pause whose end was announced keeps an estimate: the rest of the pause, then the pace the
    /// line had before it (the resume releases at once), however long it has stood still; a break
    /// on the schedule counts for those it reaches, and one with no end known leaves them none.
    #[test]
    fn a_pause_with_a_known_end_is_counted_in_the_wait() {
        let start = Instant::now();
        let mut meter = RateMeter::default();
        // 100 every 10 s, measured: 10 a second.
        steady(&mut meter, start, 8, Duration::from_secs(10), 100);
        let last = start + Duration::from_secs(70);
        let now_ms = 1_800_000_000_000;
        let in_s = |seconds: i64| {
            chrono::DateTime::from_timestamp_millis(now_ms + seconds * 1_000)
                .unwrap()
                .to_rfc3339()
        };
        let settings = |patch: serde_json::Value| {
            EventSettings::default()
                .patched(serde_json::json!({ "batch_size": 100, "release_interval_ms": 10_000 }))
                .patched(patch)
        };
        let wait = |settings: &EventSettings, at: Instant| {
            estimate(999, settings, &meter, at, now_ms).map(|estimate| estimate.wait_s)
        };
        // Moving: the next release in 10 s, then 9 more.
        let moving = settings(serde_json::json!({}));
        assert_eq!(wait(&moving, last), Some(100));
        // Paused for 5 more minutes, standing still for 2 already.
        let paused = settings(serde_json::json!({ "state": "paused", "resumes_at": in_s(300) }));
        assert_eq!(
            wait(&paused, last + Duration::from_secs(120)),
            Some(300 + 90)
        );
        let no_end = settings(serde_json::json!({ "state": "paused" }));
        assert_eq!(wait(&no_end, last), None);
        // A break ahead: a minute long, from a minute on, reached by a wait of 100 s.
        let reached =
            settings(serde_json::json!({ "pauses_at": in_s(60), "resumes_at": in_s(120) }));
        assert_eq!(wait(&reached, last), Some(100 + 60));
        let later =
            settings(serde_json::json!({ "pauses_at": in_s(600), "resumes_at": in_s(660) }));
        assert_eq!(wait(&later, last), Some(100));
        let open_ended = settings(serde_json::json!({ "pauses_at": in_s(60) }));
        assert_eq!(wait(&open_ended, last), None);
        let open_ended_later = settings(serde_json::json!({ "pauses_at": in_s(600) }));
        assert_eq!(wait(&open_ended_later, last), Some(100));
    }

    /// A short line let through once a minute: whoever joins waits for the next release, not
    /// the few seconds the pace would give the few ahead of them; a long line takes as many
    /// releases more as the pace needs.
    #[test]
    fn a_wait_counts_to_the_next_release() {
        let start = Instant::now();
        let mut meter = RateMeter::default();
        let minute = Duration::from_secs(60);
        steady(&mut meter, start, 6, minute, 500);
        let settings = EventSettings::default()
            .patched(serde_json::json!({ "batch_size": 600, "release_interval_ms": 60_000 }));
        let last = start + minute * 5;
        let wait =
            |ahead: u64, at: Instant| estimate(ahead, &settings, &meter, at, 0).unwrap().wait_s;
        for (ahead, after_s, expected_s, case) in [
            (3, 15, 45, "the next release"),
            (499, 15, 45, "a release's worth ahead"),
            (500, 15, 105, "one release more"),
            (3, 70, 0, "a release is due"),
        ] {
            let at = last + Duration::from_secs(after_s);
            assert_eq!(wait(ahead, at), expected_s, "{case}");
        }
    }

    /// 40,000 ahead, 10 let through a second, and 2 % of those waiting giving up a minute as
    /// measured: the line ahead is gone in ln(1 + 40,000 × λ / 10) / λ seconds (2,542 s, where
    /// counting everyone ahead says 4,000 s).
    #[test]
    fn people_who_give_up_ahead_shorten_the_wait() {
        let start = Instant::now();
        let mut meter = RateMeter::default();
        let every = Duration::from_secs(60);
        steady(&mut meter, start, 6, every, 600);
        let leaving = 0.02 / 60.0;
        for i in 0..6u32 {
            // 40,000 waiting all along; λ × 40,000 × 60 s = 800 give up each minute.
            meter.record_leaving(start + every * i, 800 * u64::from(i), 40_000);
        }
        assert!((meter.leave_rate().unwrap() - leaving).abs() < 1e-12);
        let settings = EventSettings::default()
            .patched(serde_json::json!({ "batch_size": 600, "release_interval_ms": 60_000 }));
        let last = start + every * 5;
        let told = estimate(40_000, &settings, &meter, last, 0).unwrap();
        let by_hand = (1.0 + 40_000.0 * leaving / 10.0f64).ln() / leaving;
        assert!((by_hand - 2542.0).abs() < 1.0, "{by_hand}");
        // In releases: the next a minute away, then as many as the pace needs.
        let releases = ((by_hand * 10.0 + 1.0) / 600.0).ceil();
        assert_eq!(told.wait_s, (60.0 * releases) as u64, "{told:?}");
        let nobody_leaves = estimate(40_000, &settings, &RateMeter::default(), last, 0).unwrap();
        assert_eq!(nobody_leaves.wait_s, 4_000);
    }

    /// The reported case: 60 a minute released, then an admin lets 400 through at once; a visitor
    /// with 742 ahead must still be told about 12 minutes (75 releases of 10 more, the first 10 s
    /// away: 750 s, said "about 15 min"), not about 1.
    #[test]
    fn manual_advances_do_not_count_as_the_release_rate() {
        let start = Instant::now();
        let mut meter = RateMeter::default();
        let every = Duration::from_secs(10);
        steady(&mut meter, start, 6, every, 10);
        meter.set_aside(50 + 400);
        let at = start + every * 6;
        meter.record(at, 460);
        meter.record(at + every, 470);
        let settings = EventSettings::default()
            .patched(serde_json::json!({ "batch_size": 10, "release_interval_ms": 10_000 }));
        let estimate = estimate(742, &settings, &meter, at + every, 0).unwrap();
        assert_eq!(estimate.basis, Basis::Measured);
        assert!(
            (59.0..=61.0).contains(&estimate.rate_per_min),
            "{estimate:?}"
        );
        assert!((700..=800).contains(&estimate.wait_s), "{estimate:?}");
        assert_eq!(estimate.text, "about 15 min");

        // Counted as a release, the same jump would have promised about a minute and a half.
        let mut naive = RateMeter::default();
        steady(&mut naive, start, 6, every, 10);
        naive.record(at - Duration::from_secs(1), 450);
        naive.record(at, 460);
        naive.record(at + every, 470);
        let promised = super::estimate(742, &settings, &naive, at + every, 0).unwrap();
        assert!(promised.wait_s < 300, "{promised:?}");

        // Nothing measured yet: the schedule, and it says so.
        let fresh = super::estimate(742, &settings, &RateMeter::default(), at, 0).unwrap();
        assert_eq!(fresh.basis, Basis::Schedule);
    }
}
