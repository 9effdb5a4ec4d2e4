//! The results table: one row per scenario, ratios to the ceiling.

use crate::load::Outcome;
use crate::measure::CpuSpent;

/// One scenario's result.
pub struct Row {
    pub scenario: String,
    pub rate: f64,
    pub unit: &'static str,
    pub p50_us: Option<u64>,
    pub p99_us: Option<u64>,
    pub p999_us: Option<u64>,
    pub errors: u64,
    /// CPU time per request of the server and of the load generator, in microseconds.
    pub cpu_us: Option<(f64, f64)>,
    /// The ceiling's rate in the slices alternating with this scenario's, when measured so.
    pub ceiling: Option<f64>,
    pub note: String,
}

impl Row {
    pub fn from_load(scenario: &str, outcome: &Outcome, cpu: CpuSpent, mut note: String) -> Self {
        let requests = outcome.requests.max(1) as f64;
        if let Some(redis) = cpu.redis.filter(|r| !r.is_zero()) {
            note.push_str(&format!(
                "; Redis CPU {:.1} µs/request",
                redis.as_micros() as f64 / requests
            ));
        }
        Self {
            scenario: scenario.to_owned(),
            rate: outcome.per_second(),
            unit: "req/s",
            p50_us: Some(outcome.micros(0.5)),
            p99_us: Some(outcome.micros(0.99)),
            p999_us: Some(outcome.micros(0.999)),
            errors: outcome.errors,
            cpu_us: Some((
                cpu.server.as_micros() as f64 / requests,
                cpu.load.as_micros() as f64 / requests,
            )),
            ceiling: None,
            note,
        }
    }

    pub fn figure(scenario: &str, rate: f64, unit: &'static str, note: String) -> Self {
        Self {
            scenario: scenario.to_owned(),
            rate,
            unit,
            p50_us: None,
            p99_us: None,
            p999_us: None,
            errors: 0,
            cpu_us: None,
            ceiling: None,
            note,
        }
    }
}

/// Prints the table in Markdown, each load row as a ratio to its own ceiling slices (or to `ceiling`).
pub fn print_table(rows: &[Row], ceiling: f64) {
    println!(
        "| scenario | rate | p50 | p99 | p99.9 | errors | vs ceiling | server CPU/req | load CPU/req | notes |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    let micros = |us: Option<u64>| match us {
        Some(us) if us >= 1_000 => format!("{:.1} ms", us as f64 / 1_000.0),
        Some(us) => format!("{us} µs"),
        None => "".into(),
    };
    for row in rows {
        let ratio = if row.unit == "req/s" {
            format!("{:.2}", row.rate / row.ceiling.unwrap_or(ceiling))
        } else {
            String::new()
        };
        let (server_cpu, load_cpu) = match row.cpu_us {
            Some((server, load)) => (format!("{server:.1} µs"), format!("{load:.1} µs")),
            None => Default::default(),
        };
        println!(
            "| {} | {:.0} {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            row.scenario,
            row.rate,
            row.unit,
            micros(row.p50_us),
            micros(row.p99_us),
            micros(row.p999_us),
            row.errors,
            ratio,
            server_cpu,
            load_cpu,
            row.note
        );
    }
}
