//! `waitroom simulate`: a sale played through before it happens (see [`crate::simulate`]).

use std::path::PathBuf;

use clap::Args;

use super::error::CliError;
use crate::domain::{EventSettings, Patch};
use crate::simulate::{self, Arrivals, Behaviour, Scenario, Summary};

#[derive(Debug, Args)]
pub(super) struct SimulateArgs {
    /// When people arrive: segments one after another, `spike:COUNT@DURATION` (spread evenly over
    /// it; @0s: all at once), `steady:COUNT/UNIT@DURATION` (UNIT: s, min or h), `quiet:DURATION`.
    #[arg(
        long,
        default_value = "spike:200000@2m,steady:500/min@1h",
        conflicts_with = "arrivals_csv"
    )]
    arrivals: String,
    /// Arrivals from a CSV file instead: rows of `SECONDS` (one person that long after the
    /// opening) or `SECONDS,COUNT`.
    #[arg(long)]
    arrivals_csv: Option<PathBuf>,
    /// The event's settings as the admin API takes them, as JSON:
    /// '{"batch_size": 600, "release_interval_ms": 60000, "max_active": 5000, "method": "random"}'.
    /// The sale opens at 2026-01-01T00:00:00Z: a break is written from then
    /// ('"pauses_at": "2026-01-01T00:30:00Z", "resumes_at": "2026-01-01T01:30:00Z"').
    #[arg(long, default_value = "{}")]
    settings: String,
    /// Other settings, merged over --settings: both run, and are set side by side.
    #[arg(long)]
    compare: Option<String>,
    /// A change the operator makes as the sale goes, as DURATION=JSON (from the opening), merged
    /// over the settings before it: --change '1h={"state": "paused"}' --change '2h={"state": "open"}'.
    /// With --compare, both runs make it.
    #[arg(long = "change")]
    changes: Vec<String>,
    /// How long an admitted person holds a capacity slot (with `max_active`); 0s: until their
    /// pass runs out.
    #[arg(long, default_value = "0s")]
    session: String,
    /// The share of admitted people who never come (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    no_show: f64,
    /// The share of waiting people who give up in each minute they wait (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    leave_per_min: f64,
    /// Seeds who shows and who gives up: with the fifo method the same seed plays the same sale
    /// (a random method draws anew each run).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Stop here even if people still wait.
    #[arg(long, default_value = "24h")]
    horizon: String,
    /// Write the HTML report (plots, one self-contained file) here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Print the summaries as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

fn usage(what: &str) -> impl Fn(String) -> CliError + '_ {
    move |why| CliError::Usage(format!("{what}: {why}"))
}

fn settings_of(raw: &str, base: &EventSettings) -> Result<EventSettings, CliError> {
    let refused = usage("the settings");
    let value: serde_json::Value =
        serde_json::from_str(raw).map_err(|e| refused(format!("not JSON: {e}")))?;
    let patch = Patch::<EventSettings>::try_from(value).map_err(|e| refused(e.to_string()))?;
    let settings = patch.apply(base).map_err(|e| refused(e.to_string()))?;
    settings
        .after(base, simulate::OPENS_MS)
        .map_err(|e| refused(e.to_string()))
}

fn share(name: &str, value: f64) -> Result<f64, CliError> {
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(CliError::Usage(format!(
            "{name} is a share from 0 to 1, not {value}"
        )))
    }
}

pub(super) fn run(args: SimulateArgs) -> Result<(), CliError> {
    let arrivals = match &args.arrivals_csv {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| CliError::File {
                doing: "read",
                path: path.clone(),
                source,
            })?;
            Arrivals::read_csv(&text)
        }
        None => Arrivals::parse_curve(&args.arrivals),
    }
    .map_err(|e| CliError::Usage(format!("the arrivals: {e}")))?;
    let millis = |name: &str, raw: &str| {
        simulate::arrivals::millis(raw).map_err(|e| CliError::Usage(format!("{name}: {e}")))
    };
    let behaviour = Behaviour {
        session_ms: millis("--session", &args.session)?,
        no_show: share("--no-show", args.no_show)?,
        leave_per_min: share("--leave-per-min", args.leave_per_min)?,
        seed: args.seed,
    };
    let settings = settings_of(&args.settings, &EventSettings::default())?;
    let horizon_ms = millis("--horizon", &args.horizon)?;
    let mut changes = Vec::new();
    for change in &args.changes {
        let (at, patch) = change.split_once('=').ok_or_else(|| {
            CliError::Usage(format!(
                "--change {change}: write DURATION=JSON, e.g. 1h={{\"state\": \"paused\"}}"
            ))
        })?;
        changes.push((millis("--change", at)?, patch.to_owned()));
    }
    changes.sort_by_key(|(at, _)| *at);
    let changed = |from: &EventSettings| -> Result<Vec<(u64, EventSettings)>, CliError> {
        let mut before = from.clone();
        changes
            .iter()
            .map(|(at, patch)| {
                before = settings_of(patch, &before)?;
                Ok((*at, before.clone()))
            })
            .collect()
    };
    let mut scenarios = vec![Scenario {
        name: "settings".into(),
        changes: changed(&settings)?,
        settings: settings.clone(),
        arrivals: arrivals.clone(),
        behaviour,
        horizon_ms,
    }];
    if let Some(other) = &args.compare {
        let compared = settings_of(other, &settings)?;
        scenarios[0].name = "--settings".into();
        scenarios.push(Scenario {
            name: "--compare".into(),
            changes: changed(&compared)?,
            settings: compared,
            ..scenarios[0].clone()
        });
    }
    let outcomes = scenarios
        .iter()
        .map(simulate::run)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let summaries: Vec<Summary> = outcomes.iter().map(Summary::of).collect();
    if args.json {
        let json = serde_json::to_string_pretty(&summaries).unwrap_or_default();
        println!("{json}");
    } else {
        print!("{}", Summary::table(&summaries));
    }
    if let Some(path) = &args.report {
        let runs: Vec<_> = outcomes.iter().zip(&summaries).collect();
        std::fs::write(path, simulate::html_report(&runs)).map_err(|source| CliError::File {
            doing: "write",
            path: path.clone(),
            source,
        })?;
        eprintln!("report written to {}", path.display());
    }
    Ok(())
}
