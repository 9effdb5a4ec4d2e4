//! When people arrive in a simulated sale: a curve written as segments one after another
//! (`spike:200000@2m,steady:500/min@1h`), or the arrivals of a CSV file.

use std::time::Duration;

/// Milliseconds from the opening at which each person arrives, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrivals(pub Vec<u64>);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArrivalsError {
    #[error(
        "`{0}` is not a segment: write spike:COUNT@DURATION, steady:COUNT/UNIT@DURATION (UNIT: s, \
         min or h) or quiet:DURATION, e.g. spike:200000@2m,steady:500/min@1h"
    )]
    Segment(String),
    #[error("`{0}`: {1}")]
    Number(String, String),
    #[error("line {line} of the CSV: {reason}")]
    Csv { line: u64, reason: String },
    #[error("no arrivals at all")]
    Empty,
    #[error("{0} arrivals: a simulation takes at most {MAX_ARRIVALS}")]
    TooMany(u64),
}

/// More than any sale, few enough to fit in memory with room to spare.
pub const MAX_ARRIVALS: u64 = 20_000_000;

impl Arrivals {
    /// A curve: each segment starts where the one before ended. `spike:N@D` and `steady:R/U@D` spread
    /// their people evenly over the segment (`spike:N@0s`: all at once); `quiet:D` brings nobody.
    pub fn parse_curve(curve: &str) -> Result<Self, ArrivalsError> {
        let mut at = Vec::new();
        let mut start_ms = 0u64;
        for segment in curve.split(',').map(str::trim) {
            let refused = || ArrivalsError::Segment(segment.to_owned());
            let (kind, rest) = segment.split_once(':').ok_or_else(refused)?;
            let (count, span_ms) = match kind {
                "spike" => {
                    let (count, span) = rest.split_once('@').ok_or_else(refused)?;
                    (number(count)?, millis(span)?)
                }
                "steady" => {
                    let (rate, span) = rest.split_once('@').ok_or_else(refused)?;
                    let (per, unit) = rate.split_once('/').ok_or_else(refused)?;
                    let unit_ms = match unit.trim() {
                        "s" => 1_000,
                        "min" => 60_000,
                        "h" => 3_600_000,
                        _ => return Err(refused()),
                    };
                    let span_ms = millis(span)?;
                    (number(per)?.saturating_mul(span_ms) / unit_ms, span_ms)
                }
                "quiet" => (0, millis(rest)?),
                _ => return Err(refused()),
            };
            guard(at.len() as u64 + count)?;
            at.extend((0..count).map(|i| start_ms + spread(i, count, span_ms)));
            start_ms += span_ms;
        }
        Self::checked(at)
    }

    /// A CSV of arrivals: each row `SECONDS` (one person, that many seconds after the opening) or
    /// `SECONDS,COUNT`; a header row and rows in any order are fine.
    pub fn read_csv(text: &str) -> Result<Self, ArrivalsError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let mut at = Vec::new();
        for (index, row) in reader.records().enumerate() {
            let line = index as u64 + 1;
            let refused = |reason: String| ArrivalsError::Csv { line, reason };
            let row = row.map_err(|e| refused(e.to_string()))?;
            let Some(seconds) = row.get(0) else { continue };
            let Ok(seconds) = seconds.parse::<f64>() else {
                if line == 1 {
                    continue; // a header
                }
                return Err(refused(format!("`{seconds}` is not a number of seconds")));
            };
            if !(0.0..=31_622_400.0).contains(&seconds) {
                return Err(refused(format!("{seconds} s is not within a year")));
            }
            let count = match row.get(1) {
                Some(count) => count
                    .parse::<u64>()
                    .map_err(|_| refused(format!("`{count}` is not a count of people")))?,
                None => 1,
            };
            guard(at.len() as u64 + count)?;
            let ms = (seconds * 1_000.0).round() as u64;
            at.extend(std::iter::repeat_n(ms, count as usize));
        }
        at.sort_unstable();
        Self::checked(at)
    }

    fn checked(at: Vec<u64>) -> Result<Self, ArrivalsError> {
        if at.is_empty() {
            return Err(ArrivalsError::Empty);
        }
        Ok(Self(at))
    }
}

/// When the `i`-th of `count` people spread evenly over `span_ms` comes.
fn spread(i: u64, count: u64, span_ms: u64) -> u64 {
    (u128::from(i) * u128::from(span_ms) / u128::from(count.max(1))) as u64
}

fn guard(total: u64) -> Result<(), ArrivalsError> {
    if total > MAX_ARRIVALS {
        return Err(ArrivalsError::TooMany(total));
    }
    Ok(())
}

fn number(text: &str) -> Result<u64, ArrivalsError> {
    text.trim()
        .replace('_', "")
        .parse()
        .map_err(|_| ArrivalsError::Number(text.into(), "not a whole number".into()))
}

/// A duration as people write it: `90s`, `2m`, `1h30m`, `0s`.
pub fn millis(text: &str) -> Result<u64, ArrivalsError> {
    humantime::parse_duration(text.trim())
        .map(|span: Duration| u64::try_from(span.as_millis()).unwrap_or(u64::MAX))
        .map_err(|e| ArrivalsError::Number(text.into(), e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_curve_lays_its_segments_end_to_end() {
        let curve = Arrivals::parse_curve("spike:4@2s,quiet:1m,steady:120/min@2s").unwrap();
        assert_eq!(
            curve.0,
            [0, 500, 1_000, 1_500, 62_000, 62_500, 63_000, 63_500]
        );
        let at_once = Arrivals::parse_curve("spike:3@0s").unwrap();
        assert_eq!(at_once.0, [0, 0, 0]);
    }

    #[test]
    fn curves_and_csv_that_make_no_sense_are_refused_with_the_reason() {
        for bad in [
            "",
            "spike:10",
            "steady:5/week@1m",
            "burst:3@1s",
            "spike:x@1m",
        ] {
            let refused = Arrivals::parse_curve(bad).unwrap_err();
            assert!(!refused.to_string().is_empty(), "{bad}");
        }
        assert_eq!(Arrivals::parse_curve("quiet:1m"), Err(ArrivalsError::Empty));
        assert!(matches!(
            Arrivals::parse_curve("spike:30000000@1m"),
            Err(ArrivalsError::TooMany(_))
        ));
        assert!(matches!(
            Arrivals::read_csv("seconds\n1\nsoon\n"),
            Err(ArrivalsError::Csv { line: 3, .. })
        ));
    }

    #[test]
    fn a_csv_gives_people_or_counts_per_second_in_time_order() {
        let csv = "seconds,count\n5,2\n1.5\n0,1\n";
        assert_eq!(Arrivals::read_csv(csv).unwrap().0, [0, 1_500, 5_000, 5_000]);
    }
}
