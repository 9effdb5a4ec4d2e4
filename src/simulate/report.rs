//! What a simulation says: a summary per run (a table for the terminal) and one self-contained HTML
//! report with its plots (uPlot, written into the file).

use std::fmt::Write;

use minijinja::HtmlEscape;
use serde::Serialize;

use super::play::{Outcome, Person};

/// Measured estimates count from this long after the first admission (the pace needs a minute).
const MEASURED_AFTER_MS: u64 = 60_000;
/// A wait shorter than this counts as this long when an estimate's error is said relative to it
/// (a 10 s wait told "about 30 s" is not 200 % wrong to anyone).
const ERROR_FLOOR_MS: u64 = 60_000;
/// People plotted in the estimate-against-wait chart, at most (evenly chosen by arrival).
const PLOTTED_PEOPLE: usize = 1_500;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub name: String,
    pub people: u64,
    pub admitted: u64,
    /// Gave up while waiting.
    pub gave_up: u64,
    /// Still waiting when the simulation stopped.
    pub still_waiting: u64,
    pub peak_waiting: u64,
    pub wait_p50_s: f64,
    pub wait_p90_s: f64,
    pub wait_max_s: f64,
    /// When the line emptied after the last arrival, seconds from the opening.
    pub emptied_at_s: Option<f64>,
    /// The 90th percentile of |estimate − wait| / max(wait, 1 min) over people who joined once the
    /// pace had been measured for a minute and were let in.
    pub estimate_p90_error: Option<f64>,
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Each measured estimate's error relative to the wait (see [`Summary::estimate_p90_error`]).
fn estimate_errors(people: &[Person]) -> Vec<f64> {
    let Some(first_admitted) = people.iter().filter_map(|p| p.admitted_ms).min() else {
        return Vec::new();
    };
    people
        .iter()
        .filter(|p| p.joined_ms >= first_admitted + MEASURED_AFTER_MS)
        .filter_map(|p| {
            let waited = p.waited_ms()?;
            let estimate = p.estimate_s? * 1_000;
            Some(estimate.abs_diff(waited) as f64 / waited.max(ERROR_FLOOR_MS) as f64)
        })
        .collect()
}

impl Summary {
    pub fn of(outcome: &Outcome) -> Self {
        let people = &outcome.people;
        let mut waits: Vec<u64> = people.iter().filter_map(Person::waited_ms).collect();
        waits.sort_unstable();
        let mut errors = estimate_errors(people);
        errors.sort_by(f64::total_cmp);
        let error_p90 = (!errors.is_empty()).then(|| {
            let rank = ((0.9 * errors.len() as f64).ceil() as usize).clamp(1, errors.len());
            errors[rank - 1]
        });
        let seconds = |ms: u64| ms as f64 / 1_000.0;
        let gave_up = people.iter().filter(|p| p.left_ms.is_some()).count() as u64;
        Self {
            name: outcome.name.clone(),
            people: people.len() as u64,
            admitted: waits.len() as u64,
            gave_up,
            still_waiting: (people.len() - waits.len()) as u64 - gave_up,
            peak_waiting: outcome.samples.iter().map(|s| s.waiting).max().unwrap_or(0),
            wait_p50_s: seconds(percentile(&waits, 0.5)),
            wait_p90_s: seconds(percentile(&waits, 0.9)),
            wait_max_s: seconds(waits.last().copied().unwrap_or(0)),
            emptied_at_s: outcome.emptied_ms.map(seconds),
            estimate_p90_error: error_p90,
        }
    }

    /// The summaries side by side, a row per figure, for the terminal.
    pub fn table(summaries: &[Summary]) -> String {
        fn minutes(s: f64) -> String {
            format!("{:.1} min", s / 60.0)
        }
        let figures: [(&str, Figure); 10] = [
            ("people", |s| s.people.to_string()),
            ("admitted", |s| s.admitted.to_string()),
            ("gave up waiting", |s| s.gave_up.to_string()),
            ("still waiting at the end", |s| s.still_waiting.to_string()),
            ("peak line", |s| s.peak_waiting.to_string()),
            ("wait p50", |s| minutes(s.wait_p50_s)),
            ("wait p90", |s| minutes(s.wait_p90_s)),
            ("wait max", |s| minutes(s.wait_max_s)),
            ("line empty at", |s| {
                s.emptied_at_s
                    .map_or("not within the horizon".into(), minutes)
            }),
            ("estimate error p90", |s| {
                s.estimate_p90_error
                    .map_or("nothing measured".into(), |e| format!("{:.0} %", e * 100.0))
            }),
        ];
        let rows: Vec<(&str, Vec<String>)> = figures
            .iter()
            .map(|(label, figure)| (*label, summaries.iter().map(figure).collect()))
            .collect();
        let header: Vec<String> = summaries.iter().map(|s| s.name.clone()).collect();
        let first = rows.iter().map(|(label, _)| label.len()).max().unwrap_or(0);
        let widths: Vec<usize> = (0..summaries.len())
            .map(|i| {
                rows.iter()
                    .map(|(_, cells)| cells[i].len())
                    .chain([header[i].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        let mut line = |label: &str, cells: &[String]| {
            let _ = write!(out, "{label:<first$}");
            for (cell, width) in cells.iter().zip(&widths) {
                let _ = write!(out, "  {cell:>width$}");
            }
            out.push('\n');
        };
        line("", &header);
        for (label, cells) in &rows {
            line(label, cells);
        }
        out
    }
}

/// How a summary's figure is said in the table.
type Figure = fn(&Summary) -> String;

/// What the report's script plots, per run.
#[derive(Serialize)]
struct Plotted {
    summary: Summary,
    /// Minutes from the opening, and the line then.
    line: [Vec<f64>; 4],
    /// Wait histogram: bucket starts in minutes, and how many waited that long.
    waits: [Vec<f64>; 2],
    /// People by arrival: when they joined (minutes), the wait shown, the wait they had.
    estimates: [Vec<Option<f64>>; 3],
}

fn plotted(outcome: &Outcome, summary: &Summary) -> Plotted {
    let minutes = |ms: u64| ms as f64 / 60_000.0;
    let line = [
        outcome.samples.iter().map(|s| minutes(s.at_ms)).collect(),
        outcome.samples.iter().map(|s| s.waiting as f64).collect(),
        outcome.samples.iter().map(|s| s.admitted as f64).collect(),
        outcome.samples.iter().map(|s| s.active as f64).collect(),
    ];
    let waits: Vec<u64> = outcome
        .people
        .iter()
        .filter_map(Person::waited_ms)
        .collect();
    let longest = waits.iter().copied().max().unwrap_or(0);
    let bucket_ms = (longest / 60).max(1_000);
    let mut counts = vec![0f64; (longest / bucket_ms + 1) as usize];
    for wait in &waits {
        counts[(wait / bucket_ms) as usize] += 1.0;
    }
    let starts = (0..counts.len())
        .map(|i| minutes(i as u64 * bucket_ms))
        .collect();
    let step = outcome.people.len().div_ceil(PLOTTED_PEOPLE).max(1);
    let chosen: Vec<&Person> = outcome.people.iter().step_by(step).collect();
    let estimates = [
        chosen.iter().map(|p| Some(minutes(p.joined_ms))).collect(),
        chosen
            .iter()
            .map(|p| p.estimate_s.map(|s| s as f64 / 60.0))
            .collect(),
        chosen.iter().map(|p| p.waited_ms().map(minutes)).collect(),
    ];
    Plotted {
        summary: summary.clone(),
        line,
        waits: [starts, counts],
        estimates,
    }
}

const UPLOT_JS: &str = include_str!("../../assets/vendor/uplot/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../../assets/vendor/uplot/uPlot.min.css");
const REPORT_SCRIPT: &str = include_str!("report.js");

/// One HTML file with the summaries and the plots of every run (side by side with `--compare`).
pub fn html_report(runs: &[(&Outcome, &Summary)]) -> String {
    let data: Vec<Plotted> = runs
        .iter()
        .map(|(outcome, summary)| plotted(outcome, summary))
        .collect();
    // `</` cannot end the script early: JSON's escape for `/` keeps it data.
    let json = serde_json::to_string(&data)
        .unwrap_or_else(|_| "[]".into())
        .replace("</", "<\\/");
    let names: Vec<&str> = runs.iter().map(|(o, _)| o.name.as_str()).collect();
    let table = Summary::table(&runs.iter().map(|(_, s)| (*s).clone()).collect::<Vec<_>>());
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>waitroom simulate: {title}</title>
<style>{UPLOT_CSS}</style>
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 72rem; padding: 1rem; color: #1a1a1a; }}
h1 {{ font-size: 1.5rem; }} h2 {{ font-size: 1.2rem; margin-top: 2rem; }}
pre {{ background: #f4f4f4; padding: 1rem; overflow-x: auto; }}
.chart {{ width: 100%; }}
p.note {{ color: #555; max-width: 48rem; }}
</style>
</head>
<body>
<main>
<h1>How the sale goes: {title}</h1>
<pre tabindex="0" aria-label="summary">{table}</pre>
<h2>People waiting, admitted, and in a session</h2>
<p class="note">Minutes from the opening. Admitted counts everyone let through; in a session, those holding a capacity slot.</p>
<div class="chart" id="line"></div>
<h2>How long people waited</h2>
<p class="note">How many people were let in after each wait.</p>
<div class="chart" id="waits"></div>
<h2>The wait shown at joining, against the wait people had</h2>
<p class="note">People in order of arrival (one in every few for a large sale). Where the two lines part, the page promised more or less than it kept.</p>
<div class="chart" id="estimates"></div>
</main>
<script>{UPLOT_JS}</script>
<script>const RUNS = {json};</script>
<script>{REPORT_SCRIPT}</script>
</body>
</html>
"#,
        title = HtmlEscape(&names.join(" vs ")),
        table = HtmlEscape(&table),
    )
}
