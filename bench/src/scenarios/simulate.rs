//! `waitroom simulate` at the size of a large drop: how long the real scheduler, admission and
//! estimates take to play a million people through on the virtual clock (the bar: under a
//! minute on this machine).

use std::time::Instant;

use waitroom::domain::{EventSettings, Patch};
use waitroom::simulate::{self, Arrivals, Behaviour, Scenario, Summary};

use crate::report::Row;

pub fn simulate(people: u64) -> Row {
    let patch = Patch::<EventSettings>::try_from(serde_json::json!({
        "batch_size": 5_000, "release_interval_ms": 30_000
    }))
    .expect("an object");
    let settings = patch
        .apply(&EventSettings::default())
        .expect("settings")
        .after(&EventSettings::default(), simulate::OPENS_MS)
        .expect("valid settings");
    let curve = format!("spike:{people}@10m");
    let scenario = Scenario {
        name: "bench".into(),
        settings,
        arrivals: Arrivals::parse_curve(&curve).expect("a curve"),
        behaviour: Behaviour {
            session_ms: 0,
            no_show: 0.1,
            leave_per_min: 0.001,
            seed: 1,
        },
        horizon_ms: 48 * 3_600_000,
        changes: Vec::new(),
    };
    let started = Instant::now();
    let outcome = simulate::run(&scenario).expect("the simulation runs");
    let took = started.elapsed().as_secs_f64();
    let summary = Summary::of(&outcome);
    Row::figure(
        &format!("simulate ({people} people)"),
        took,
        "s",
        format!(
            "{curve}, 5,000 released every 30 s, 10 % no-shows, 0.1 % a minute give up: {} let in, \
             {} gave up, line empty at {:.0} min of virtual time",
            summary.admitted,
            summary.gave_up,
            summary.emptied_at_s.unwrap_or(0.0) / 60.0
        ),
    )
}
