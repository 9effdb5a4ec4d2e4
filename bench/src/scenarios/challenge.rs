//! Proof of work before a place, in-process: what issuing and verifying a challenge cost the server
//! (beside what a join costs it, from the join rows), and what solving one costs a client on one
//! core at each cost level (ALTCHA's own Rust solver; the browser's time is measured in Chromium by
//! `tests/api/browser.rs`, `challenge_costs_in_chromium`).

use std::time::{Duration, Instant};

use waitroom::challenge::Challenges;
use waitroom::domain::EventId;
use waitroom::keys::KeySet;

use crate::report::Row;

pub fn challenges(secret: &str, issued: u32, costs: &[u32], solves: u32) -> Vec<Row> {
    let keys = KeySet::from_pairs([("bench", secret)], Some("bench")).expect("the bench's key");
    let challenges = Challenges::new(&keys);
    let event = EventId::parse("bench").expect("an event");
    let now = waitroom::clock::unix_s();
    let mut rows = Vec::new();

    let started = Instant::now();
    let fresh: Vec<_> = (0..issued)
        .map(|_| challenges.issue(&event, 1, now))
        .collect();
    let issue_us = started.elapsed().as_secs_f64() * 1e6 / f64::from(issued);
    rows.push(Row::figure(
        "challenge: issue",
        issue_us,
        "µs",
        format!("server CPU per challenge handed out at cost 1, {issued} challenges (one core)"),
    ));

    // Solutions of cost-1 challenges: verifying costs the server the same at any cost (the
    // derived key's signature is checked, not derived again).
    let solved: Vec<String> = fresh
        .iter()
        .take(solves.max(1) as usize * 20)
        .map(|challenge| waitroom::challenge::solve(challenge).expect("solved"))
        .collect();
    let rounds = 500;
    let started = Instant::now();
    for _ in 0..rounds {
        for solution in &solved {
            challenges.check(&event, solution).expect("a good solution");
        }
    }
    // In ns: the whole microseconds the table prints would hide what a change to it gains.
    let verify_ns = started.elapsed().as_secs_f64() * 1e9 / (rounds as f64 * solved.len() as f64);
    rows.push(Row::figure(
        "challenge: verify",
        verify_ns,
        "ns",
        format!(
            "server CPU per solution checked (base64, JSON, two HMACs), {} solutions × {rounds}",
            solved.len()
        ),
    ));

    for &cost in costs {
        let (mut issuing, mut solving) = (Duration::ZERO, Duration::ZERO);
        let mut attempts = 0u64;
        for _ in 0..solves {
            let started = Instant::now();
            let challenge = challenges.issue(&event, cost, now);
            issuing += started.elapsed();
            let started = Instant::now();
            let solution = altcha::solve_challenge(altcha::SolveChallengeOptions {
                timeout_ms: 0,
                ..altcha::SolveChallengeOptions::new(&challenge)
            })
            .expect("solvable")
            .expect("solved");
            solving += started.elapsed();
            attempts += u64::from(solution.counter) + 1;
        }
        rows.push(Row::figure(
            &format!("challenge: issue at cost {cost}"),
            issuing.as_secs_f64() * 1e6 / f64::from(solves),
            "µs",
            format!(
                "server CPU per challenge handed out (its key derived once, {cost} PBKDF2 iterations), {solves} challenges"
            ),
        ));
        rows.push(Row::figure(
            &format!("challenge: solve at cost {cost}"),
            solving.as_secs_f64() * 1e3 / f64::from(solves),
            "ms/place",
            format!(
                "one core, ALTCHA's Rust solver; {solves} solutions, {:.0} attempts each on average",
                attempts as f64 / f64::from(solves)
            ),
        ));
    }
    rows
}
