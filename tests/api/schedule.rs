//! A fair start: scheduled events, and a pre-queue whose order is drawn at opening from a seed
//! committed to in advance, which anyone can check against what is published.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::Utc;
use serde_json::{json, Value};
use waitroom::domain::draw::{audit, entry_id, Seed};
use waitroom::domain::random_token_id;

use crate::helpers::{
    app_and_other_replica, claims, config_for, eventually, in_ms, known_everywhere, put_settings,
    raw_redis, spawn_config, three_replicas, Answer, Backend, TestApp,
};
use crate::{on_both_stores, on_every_store};

on_every_store!(a_prequeue_is_drawn_at_opening_in_an_order_anyone_can_check);
on_both_stores!(
    the_prequeue_count_reaches_the_pages_of_those_in_it,
    an_event_closes_by_itself_at_its_closes_at,
    schedules_are_checked_and_cannot_move_once_visitors_joined_on_them,
    a_booking_sites_user_who_left_the_prequeue_may_join_again
);

/// Sleeps until the RFC 3339 time `at` (and a little more, for the server's clock to agree).
async fn until(at: &str) {
    let at = chrono::DateTime::parse_from_rfc3339(at).unwrap();
    let left = (at.with_timezone(&Utc) - Utc::now()).num_milliseconds() + 100;
    tokio::time::sleep(Duration::from_millis(u64::try_from(left).unwrap_or(0))).await;
}

async fn draw(app: &TestApp, event: &str) -> Answer {
    app.send(app.client.get(app.url(&format!("/v1/events/{event}/draw"))))
        .await
}

/// The published draw once `watched` publishes it drawn, as `asked` serves it: the whole document,
/// and its entries in arrival and in drawn order.
async fn drawn_when_published(
    watched: &TestApp,
    asked: &TestApp,
    event: &str,
) -> (Value, Vec<String>, Vec<String>) {
    let drawn = eventually(Duration::from_secs(15), || async {
        draw(watched, event).await.body["drawn"] == true
    })
    .await;
    assert!(drawn.is_some(), "the pre-queue was never drawn");
    let published = draw(asked, event).await.body;
    let list = |key: &str| -> Vec<String> {
        published[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    let (arrived, positions) = (list("arrived"), list("positions"));
    (published, arrived, positions)
}

/// A booking site's join of `visitor`, in `lane` when given.
async fn trusted_join(app: &TestApp, event: &str, visitor: &str, lane: Option<&str>) -> Answer {
    app.admin(
        reqwest::Method::POST,
        &format!("/v1/admin/events/{event}/join"),
        Some(json!({ "visitor": visitor, "lane": lane })),
    )
    .await
}

async fn a_prequeue_is_drawn_at_opening_in_an_order_anyone_can_check(backend: Backend) {
    let (app, other) = app_and_other_replica(backend).await;
    // Eight seconds of pre-queue: what happens in it must be done by then on a loaded machine.
    let (prequeue_from, opens_at) = (in_ms(1_500), in_ms(8_000));
    app.create_event(
        "drop",
        json!({ "prequeue_from": prequeue_from, "opens_at": opens_at }),
    )
    .await;

    // Before the pre-queue: refused, with when to come back; the commitment is public already.
    let early = app.join("drop").await;
    early.assert_problem(409, "not-open-yet");
    let retry: u64 = early.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "Retry-After: {retry}");
    let info = app.page_json("/v1/events/drop").await;
    assert_eq!(info["phase"], "upcoming");
    let commitment = info["draw_commitment"].as_str().unwrap().to_owned();
    let before = draw(&app, "drop").await;
    assert_eq!(before.status.as_u16(), 200);
    assert_eq!(before.body["drawn"], false);
    assert_eq!(before.body["commitment"], commitment.as_str());
    assert!(before.body.get("seed").is_none(), "{}", before.body);

    // In the pre-queue: no position yet, and nobody can be let in before the draw.
    until(&prequeue_from).await;
    let mut waiting = Vec::new();
    for _ in 0..30 {
        let joined = app.join("drop").await;
        assert_eq!(joined.status.as_u16(), 201, "{}", joined.body);
        assert_eq!(joined.body["status"], "prequeue", "{}", joined.body);
        assert_eq!(joined.body["position"], 0);
        assert!(joined.body["draws_at"].is_string());
        assert_eq!(claims(&joined.token())["kind"], "prequeue");
        waiting.push(joined);
    }
    let member = trusted_join(&app, "drop", "member-7", None).await;
    assert_eq!(member.body["status"], "prequeue", "{}", member.body);
    let again = app.status("drop", &waiting[0].token()).await;
    assert_eq!(again.body["status"], "prequeue");
    assert_eq!(again.body["in_prequeue"], 31);
    let leaver = waiting.pop().unwrap();
    assert_eq!(
        app.leave("drop", &leaver.token()).await.status.as_u16(),
        200
    );
    app.admin(
        reqwest::Method::POST,
        "/v1/admin/events/drop/advance",
        Some(json!({ "by": 5 })),
    )
    .await
    .assert_problem(409, "not-drawn-yet");
    assert_eq!(app.page_json("/v1/events/drop").await["phase"], "prequeue");
    assert!(
        chrono::DateTime::parse_from_rfc3339(&opens_at).unwrap() > Utc::now(),
        "the pre-queue's checks outlasted it"
    );

    // At opening the order is drawn; the seed and the entries are published, and they check out.
    until(&opens_at).await;
    let (published, arrived, positions) = drawn_when_published(&app, &app, "drop").await;
    assert_eq!(published["commitment"], commitment.as_str());
    let seed = Seed::parse(published["seed"].as_str().unwrap()).unwrap();
    assert_eq!(
        audit(
            published["seed"].as_str().unwrap(),
            &commitment,
            &arrived,
            &positions
        ),
        Ok(31)
    );
    // Arrival order is published as it was: the first to join is the first entry.
    assert_eq!(
        arrived[0],
        entry_id(&seed, waiting[0].body["visitor"].as_str().unwrap())
    );

    // Every pre-queue token now stands at the position drawn for its entry, and its status answer
    // exchanges it for a waiting token that carries it.
    let mut seen = BTreeSet::new();
    for joined in &waiting {
        let entry = entry_id(&seed, joined.body["visitor"].as_str().unwrap());
        let expected = positions.iter().position(|held| *held == entry).unwrap() as u64 + 1;
        let status = app.status("drop", &joined.token()).await;
        assert_eq!(status.body["status"], "waiting", "{}", status.body);
        assert_eq!(status.position(), expected);
        let exchanged = status.body["token"].as_str().expect("an exchanged token");
        assert_eq!(claims(exchanged)["kind"], "waiting");
        assert_eq!(claims(exchanged)["pos"], expected);
        assert!(status.cookie().is_some_and(|c| c.contains(exchanged)));
        let with_new = app.status("drop", exchanged).await;
        assert_eq!(with_new.position(), expected);
        assert!(with_new.body.get("token").is_none());
        seen.insert(expected);
        if let Some(other) = &other {
            let agreed = eventually(Duration::from_secs(5), || async {
                let there = other.status("drop", &joined.token()).await;
                there.body["position"] == expected
            })
            .await;
            assert!(agreed.is_some(), "the other replica reads another position");
        }
    }
    let member_entry = entry_id(&seed, "member-7");
    let member_position = positions.iter().position(|h| *h == member_entry).unwrap() as u64 + 1;
    let member_again = trusted_join(&app, "drop", "member-7", None).await;
    assert_eq!(member_again.position(), member_position);
    assert_eq!(claims(&member_again.token())["kind"], "waiting");
    seen.insert(member_position);

    // The place given up in the pre-queue is given up at its drawn position.
    let leaver_entry = entry_id(&seed, leaver.body["visitor"].as_str().unwrap());
    let leaver_position = positions.iter().position(|h| *h == leaver_entry).unwrap() as u64 + 1;
    seen.insert(leaver_position);
    assert_eq!(seen, (1..=31).collect::<BTreeSet<u64>>());
    let gone = eventually(Duration::from_secs(5), || async {
        app.show("drop").await.left == 1
    })
    .await;
    assert!(gone.is_some(), "the pre-queue leave was not applied");
    app.status("drop", &leaver.token())
        .await
        .assert_problem(410, "left-line");

    // Who joins after opening queues behind the pre-queue; the line releases in drawn order.
    let late = app.join("drop").await;
    assert_eq!(late.body["status"], "waiting", "{}", late.body);
    assert_eq!(late.position(), 32);
    assert_eq!(claims(&late.token())["kind"], "waiting");
    app.advance("drop", 3).await;
    let first = waiting
        .iter()
        .find(|joined| positions[0] == entry_id(&seed, joined.body["visitor"].as_str().unwrap()))
        .map(|joined| joined.token());
    if let Some(first) = first {
        let admitted = app.status("drop", &first).await;
        assert_eq!(admitted.body["status"], "admitted", "{}", admitted.body);
        assert!(admitted.body["pass"].is_string());
    }

    // `waitroom audit` says the same from the outside, and notices a commitment that changed.
    let audited = waitroom_audit(&app, &["drop", "--commitment", &commitment]).await;
    assert!(audited.0, "{}", audited.1);
    assert!(audited.1.contains("all 31 positions"), "{}", audited.1);
    let member_line = waitroom_audit(&app, &["drop", "--visitor", "member-7"]).await;
    assert!(
        member_line
            .1
            .contains(&format!("drawn position {member_position}")),
        "{}",
        member_line.1
    );
    let forged = waitroom_audit(&app, &["drop", "--commitment", &"0".repeat(64)]).await;
    assert!(!forged.0 && forged.1.contains("not the one published earlier"));
}

/// Runs `waitroom audit` against `app`: whether it succeeded, and what it printed.
async fn waitroom_audit(app: &TestApp, args: &[&str]) -> (bool, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_waitroom"))
        .arg("audit")
        .args(args)
        .args(["--url", &app.address])
        .env_clear()
        .output()
        .await
        .expect("the waitroom binary runs");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), printed)
}

/// A booking site's user keeps their pre-queue number when joined again, and after leaving the
/// pre-queue joins it again with a new one (not the number they gave up).
async fn a_booking_sites_user_who_left_the_prequeue_may_join_again(backend: Backend) {
    let (app, _other) = app_and_other_replica(backend).await;
    let prequeue_from = in_ms(200);
    app.create_event(
        "rejoin",
        json!({ "prequeue_from": prequeue_from, "opens_at": in_ms(60_000) }),
    )
    .await;
    until(&prequeue_from).await;
    let member = trusted_join(&app, "rejoin", "member-1", None).await;
    assert_eq!(member.body["status"], "prequeue", "{}", member.body);
    let again = trusted_join(&app, "rejoin", "member-1", None).await;
    assert_eq!(again.body["fresh"], false);
    assert_eq!(
        claims(&again.token())["pos"],
        claims(&member.token())["pos"]
    );
    assert_eq!(
        app.leave("rejoin", &member.token()).await.status.as_u16(),
        200
    );
    let back = trusted_join(&app, "rejoin", "member-1", None).await;
    assert_eq!(back.body["fresh"], true, "{}", back.body);
    assert_ne!(claims(&back.token())["pos"], claims(&member.token())["pos"]);
}

/// Someone in the pre-queue hears how many are in it as others join (within seconds, on another
/// replica too), not only when the line moves: nothing moves before the draw.
async fn the_prequeue_count_reaches_the_pages_of_those_in_it(backend: Backend) {
    let (app, other) = app_and_other_replica(backend).await;
    // Late enough that the page below is read before it (reading it after would join).
    let prequeue_from = in_ms(1_500);
    let opens_at = in_ms(60_000);
    app.create_event(
        "counted",
        json!({ "prequeue_from": prequeue_from, "opens_at": opens_at }),
    )
    .await;
    // The page without script names the times readably, in UTC (it cannot know the zone), with
    // the date when it is not today.
    let says = |page: &str, at: &str| {
        let at = chrono::DateTime::parse_from_rfc3339(at).unwrap().to_utc();
        let today = at.date_naive() == chrono::Utc::now().date_naive();
        page.contains(&at.format("%H:%M UTC").to_string())
            && (today || page.contains(&at.format("%Y-%m-%d").to_string()))
    };
    let before = app.page_text("/e/counted?nojs=1").await;
    assert!(says(&before, &prequeue_from), "{before}");
    until(&prequeue_from).await;
    let first = app.join("counted").await;
    let page = app.page_of_holder("counted", &first.token()).await;
    assert!(says(&page, &opens_at), "{page}");
    let mut stream = app.stream("counted", &first.token()).await;
    let (_, opening) = stream.next(Duration::from_secs(5)).await.expect("a status");
    assert_eq!(opening["in_prequeue"], 1, "{opening}");
    // On another replica where there is one (not on the embedded store).
    let elsewhere = other.as_ref().unwrap_or(&app);
    for _ in 0..3 {
        elsewhere.join("counted").await;
    }
    let mut seen = opening;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while seen["in_prequeue"] != 4 {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let (_, status) = stream
            .next(left)
            .await
            .unwrap_or_else(|| panic!("the count stayed at {}", seen["in_prequeue"]));
        seen = status;
    }
}

async fn an_event_closes_by_itself_at_its_closes_at(backend: Backend) {
    let app = spawn_config(config_for(backend, &format!("t{}", random_token_id()))).await;
    let closes_at = in_ms(3_000);
    app.create_event("sale", json!({ "closes_at": closes_at }))
        .await;
    let joined = app.join("sale").await;
    assert_eq!(joined.status.as_u16(), 201);
    until(&closes_at).await;
    app.join("sale").await.assert_problem(409, "event-closed");
    let closed = eventually(Duration::from_secs(5), || async {
        app.show("sale").await.settings.state == waitroom::domain::EventState::Closed
    })
    .await;
    assert!(closed.is_some(), "the event was never closed");
    assert_eq!(app.page_json("/v1/events/sale").await["phase"], "closed");
    // Whoever joined before keeps their place.
    assert_eq!(
        app.status("sale", &joined.token()).await.body["status"],
        "waiting"
    );
}

async fn schedules_are_checked_and_cannot_move_once_visitors_joined_on_them(backend: Backend) {
    let app = spawn_config(config_for(backend, &format!("t{}", random_token_id()))).await;
    let put = |event: &'static str, body: Value| put_settings(&app, event, body);
    put("a", json!({ "prequeue_from": in_ms(1_000) }))
        .await
        .assert_problem(400, "invalid-settings");
    put(
        "a",
        json!({ "prequeue_from": in_ms(5_000), "opens_at": in_ms(1_000) }),
    )
    .await
    .assert_problem(400, "invalid-settings");
    put(
        "a",
        json!({ "opens_at": in_ms(5_000), "closes_at": in_ms(1_000) }),
    )
    .await
    .assert_problem(400, "invalid-settings");
    // A pre-queue cannot be added to a line people joined first come, first served.
    app.create_event("b", json!({})).await;
    app.join("b").await;
    put(
        "b",
        json!({ "prequeue_from": in_ms(1_000), "opens_at": in_ms(60_000) }),
    )
    .await
    .assert_problem(400, "invalid-settings");
    // Once the pre-queue opened, its schedule holds; closing time may still move, and `null`
    // removes it.
    let opens_at = in_ms(60_000);
    app.create_event(
        "c",
        json!({ "prequeue_from": in_ms(-1_000), "opens_at": opens_at }),
    )
    .await;
    let moved = put("c", json!({ "opens_at": in_ms(30_000) })).await;
    moved.assert_problem(400, "invalid-settings");
    assert!(moved.body["detail"]
        .as_str()
        .unwrap()
        .contains("cannot change"));
    let closes = put("c", json!({ "closes_at": in_ms(120_000) })).await;
    assert_eq!(closes.status.as_u16(), 200, "{}", closes.body);
    let cleared = put("c", json!({ "closes_at": null })).await;
    assert_eq!(cleared.status.as_u16(), 200, "{}", cleared.body);
    assert!(cleared.body.get("closes_at").is_none());
    assert!(cleared.body["opens_at"].is_string());
    // Without an admin token nobody sees the seed: the info shows only its commitment.
    let info = app.page_json("/v1/events/c").await;
    assert!(info["draw_commitment"].is_string());
    assert!(!info.to_string().contains("seed"));
}

/// A pre-queue of 10,000 joined through three replicas on one Redis: the published draw is the
/// seed's permutation at every position, every replica reads the same drawn positions, and the
/// drawn order is independent of arrival order: a chi-square test of arrival decile against drawn
/// decile (10 × 10 cells, 81 degrees of freedom), refused above 157, which an honest shuffle
/// exceeds about once in a million runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prequeue_of_ten_thousand_is_drawn_uniformly_and_audits_clean() {
    const ENTRIES: usize = 10_000;
    let prefix = format!("t{}", random_token_id());
    let config = config_for(Backend::Redis, &prefix);
    let replicas = three_replicas(config).await;
    let (prequeue_from, opens_at) = (in_ms(1_000), in_ms(20_000));
    replicas[0]
        .create_event(
            "big",
            json!({ "prequeue_from": prequeue_from, "opens_at": opens_at }),
        )
        .await;
    until(&prequeue_from).await;
    let started = std::time::Instant::now();
    let mut tokens = Vec::with_capacity(ENTRIES);
    for chunk in 0..ENTRIES / 100 {
        let joins = (0..100).map(|n| replicas[(chunk + n) % 3].join("big"));
        for joined in futures_util::future::join_all(joins).await {
            assert_eq!(joined.body["status"], "prequeue", "{}", joined.body);
            tokens.push(joined.token());
        }
    }
    println!(
        "{ENTRIES} pre-queue joins through 3 replicas in {:?}",
        started.elapsed()
    );
    assert!(
        chrono::DateTime::parse_from_rfc3339(&opens_at).unwrap() > Utc::now(),
        "the joins outlasted the pre-queue"
    );
    until(&opens_at).await;
    let (published, arrived, positions) =
        drawn_when_published(&replicas[2], &replicas[1], "big").await;
    let commitment = published["commitment"].as_str().unwrap();
    let seed = Seed::parse(published["seed"].as_str().unwrap()).unwrap();
    assert_eq!(
        audit(
            published["seed"].as_str().unwrap(),
            commitment,
            &arrived,
            &positions
        ),
        Ok(ENTRIES)
    );

    let drawn_at: std::collections::HashMap<&String, usize> = positions
        .iter()
        .enumerate()
        .map(|(index, entry)| (entry, index))
        .collect();
    let mut cells = [[0u32; 10]; 10];
    for (arrival, entry) in arrived.iter().enumerate() {
        cells[arrival * 10 / ENTRIES][drawn_at[entry] * 10 / ENTRIES] += 1;
    }
    let expected = (ENTRIES / 100) as f64;
    let chi_square: f64 = cells
        .iter()
        .flatten()
        .map(|&seen| (f64::from(seen) - expected).powi(2) / expected)
        .sum();
    println!("chi-square of arrival decile against drawn decile: {chi_square:.1} (81 df)");
    assert!(chi_square < 157.0, "chi-square {chi_square:.1}: {cells:?}");

    // The documented Python procedure checks the same draw with nothing but the standard library.
    let doc = include_str!("../../docs/FAIRNESS.md");
    let script = doc
        .split("```python\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the Python audit in docs/FAIRNESS.md");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("audit.py"), script).unwrap();
    std::fs::write(dir.path().join("draw.json"), published.to_string()).unwrap();
    let python = tokio::process::Command::new("python3")
        .arg("audit.py")
        .arg("draw.json")
        .current_dir(dir.path())
        .output()
        .await
        .expect("python3 runs");
    let said = String::from_utf8_lossy(&python.stdout);
    assert!(
        python.status.success() && said.contains(&format!("all {ENTRIES} positions")),
        "{said}{}",
        String::from_utf8_lossy(&python.stderr)
    );

    // Every replica reads a sample of tokens at the position published for their entry.
    for token in tokens.iter().step_by(997) {
        let entry = entry_id(&seed, claims(token)["sub"].as_str().unwrap());
        let published = drawn_at[&entry] as u64 + 1;
        for replica in &replicas {
            assert_eq!(replica.status("big", token).await.position(), published);
        }
    }
}

on_every_store!(queueing_methods_switch_on_a_live_event);

async fn set_method(app: &TestApp, event: &str, method: &str) -> Answer {
    put_settings(app, event, json!({ "method": method })).await
}

/// fifo → reject → passthrough → fifo on an event with people in line: a sold-out event refuses
/// joins and still releases those in line; passthrough lets everyone in at once and hands every
/// new visitor a pass with the join; back to fifo, new visitors queue again and nobody admitted
/// loses it.
async fn queueing_methods_switch_on_a_live_event(backend: Backend) {
    let (app, other) = app_and_other_replica(backend).await;
    app.create_event("m", json!({})).await;
    let first: Vec<String> = {
        let mut tokens = Vec::new();
        for _ in 0..3 {
            tokens.push(app.join("m").await.token());
        }
        tokens
    };

    assert_eq!(set_method(&app, "m", "reject").await.status.as_u16(), 200);
    app.join("m").await.assert_problem(409, "sold-out");
    assert!(app
        .page_text("/e/m?nojs=1")
        .await
        .contains("Sold out: this waiting room takes no new visitors."));
    assert_eq!(app.status("m", &first[2]).await.body["status"], "waiting");
    app.advance("m", 1).await;
    assert_eq!(app.status("m", &first[0]).await.body["status"], "admitted");

    assert_eq!(
        set_method(&app, "m", "passthrough").await.status.as_u16(),
        200
    );
    for token in &first {
        let status = app.status("m", token).await;
        assert_eq!(status.body["status"], "admitted", "{}", status.body);
        assert!(status.body["pass"].is_string());
    }
    let passing = app.join("m").await;
    assert_eq!(passing.status.as_u16(), 201);
    assert_eq!(passing.body["status"], "admitted", "{}", passing.body);
    let pass = passing.body["pass"].as_str().expect("a pass with the join");
    assert_eq!(app.gate("m", pass).await.status.as_u16(), 204);
    let member = app
        .admin(
            reqwest::Method::POST,
            "/v1/admin/events/m/join",
            Some(json!({ "visitor": "member-1" })),
        )
        .await;
    assert_eq!(member.body["status"], "admitted", "{}", member.body);
    if let Some(other) = &other {
        let there = eventually(Duration::from_secs(5), || async {
            other.gate("m", &passing.token()).await.status.as_u16() == 204
        })
        .await;
        assert!(there.is_some(), "the other replica keeps the visitor out");
    }

    assert_eq!(set_method(&app, "m", "fifo").await.status.as_u16(), 200);
    let queued = app.join("m").await;
    assert_eq!(queued.body["status"], "waiting", "{}", queued.body);
    assert_eq!(queued.position(), 6);
    assert_eq!(
        app.status("m", &passing.token()).await.body["status"],
        "admitted"
    );

    // A pre-queue draws a first-come line: it goes with fifo only.
    put_settings(
        &app,
        "n",
        json!({ "method": "passthrough", "prequeue_from": in_ms(5_000), "opens_at": in_ms(9_000) }),
    )
    .await
    .assert_problem(400, "invalid-settings");
}

on_every_store!(lanes_share_every_release_and_keep_their_own_lines);

async fn lane_join(app: &TestApp, event: &str, visitor: &str, lane: &str) -> Answer {
    trusted_join(app, event, visitor, Some(lane)).await
}

/// (admitted, waiting) of each lane, as the admin API shows them.
async fn lane_figures(app: &TestApp, event: &str) -> Vec<(String, u64, u64)> {
    app.show(event)
        .await
        .lane_lines
        .into_iter()
        .map(|line| (line.lane, line.admitted_through, line.waiting))
        .collect()
}

/// Members 30 %, public 70 %: every release is shared (a share a lane cannot use goes to the other),
/// each lane has its own positions and estimates, and a lane's token works on every route.
async fn lanes_share_every_release_and_keep_their_own_lines(backend: Backend) {
    let (app, other) = app_and_other_replica(backend).await;
    app.create_event(
        "tix",
        json!({ "lanes": [{ "name": "public", "share": 70 }, { "name": "members", "share": 30 }] }),
    )
    .await;
    let mut public = Vec::new();
    for _ in 0..20 {
        public.push(app.join("tix").await);
    }
    assert_eq!(public[19].position(), 20);
    assert!(public[0].body.get("lane").is_none());
    let mut members = Vec::new();
    for n in 1..=5 {
        let joined = lane_join(&app, "tix", &format!("member-{n}"), "members").await;
        assert_eq!(joined.status.as_u16(), 201, "{}", joined.body);
        assert_eq!(joined.body["lane"], "members");
        assert_eq!(joined.body["event"], "tix");
        assert_eq!(joined.position(), n);
        members.push(joined);
    }
    let again = lane_join(&app, "tix", "member-2", "members").await;
    assert_eq!((again.status.as_u16(), again.position()), (200, 2));
    assert_eq!(
        lane_join(&app, "tix", "walk-in", "public").await.position(),
        21
    );
    lane_join(&app, "tix", "x", "vip")
        .await
        .assert_problem(400, "invalid-request");
    let status = app.status("tix", &members[3].token()).await;
    assert_eq!(
        (
            status.body["lane"].as_str(),
            status.position(),
            status.body["ahead"].as_u64()
        ),
        (Some("members"), 4, Some(3))
    );

    // 10 at once: 7 public, 3 members. Then, one member gone, one waits there: 1 there, 9 public.
    app.advance("tix", 10).await;
    assert_eq!(
        lane_figures(&app, "tix").await,
        vec![("public".into(), 7, 14), ("members".into(), 3, 2)]
    );
    // The metrics name the lane in a label of its own.
    let metrics = crate::ops::scrape(&app).await;
    let series = |name: &str| crate::ops::sample(&metrics, name);
    assert_eq!(
        series(r#"waitroom_joins_total{event="tix",lane="members"}"#),
        Some(5.0)
    );
    assert_eq!(
        series(r#"waitroom_waiting{event="tix",lane="members"}"#),
        Some(2.0)
    );
    assert_eq!(
        series(r#"waitroom_admitted_through{event="tix",lane=""}"#),
        Some(7.0)
    );
    assert!(!metrics.contains("tix~"), "{metrics}");
    let admitted = app.status("tix", &members[2].token()).await;
    assert_eq!(admitted.body["status"], "admitted", "{}", admitted.body);
    let pass = admitted.body["pass"].as_str().unwrap().to_owned();
    assert_eq!(app.gate("tix", &pass).await.status.as_u16(), 204);
    let verdict = app.verify(json!({ "token": pass, "event": "tix" })).await;
    assert_eq!(
        (
            verdict.body["admitted"].as_bool(),
            verdict.body["lane"].as_str()
        ),
        (Some(true), Some("members"))
    );
    assert_eq!(
        app.status("tix", &members[3].token()).await.body["ahead"],
        0
    );
    assert_eq!(
        app.leave("tix", &members[4].token()).await.status.as_u16(),
        200
    );
    app.status("tix", &members[4].token())
        .await
        .assert_problem(410, "left-line");
    app.advance("tix", 10).await;
    assert_eq!(
        lane_figures(&app, "tix").await,
        vec![("public".into(), 16, 5), ("members".into(), 4, 0)]
    );
    if let Some(other) = &other {
        let there = eventually(Duration::from_secs(5), || async {
            other.status("tix", &members[3].token()).await.body["status"] == "admitted"
        })
        .await;
        assert!(
            there.is_some(),
            "the other replica never admitted the member"
        );
    }

    // Names and order hold once people joined; shares may change.
    put_settings(
        &app,
        "tix",
        json!({ "lanes": [{ "name": "public", "share": 50 }, { "name": "vip", "share": 50 }] }),
    )
    .await
    .assert_problem(400, "invalid-settings");
    let reshared = put_settings(
        &app,
        "tix",
        json!({ "lanes": [{ "name": "public", "share": 50 }, { "name": "members", "share": 50 }] }),
    )
    .await;
    assert_eq!(reshared.status.as_u16(), 200, "{}", reshared.body);

    // The scheduler shares every release too: each window admits 5 and 5 while both lanes wait.
    for n in 0..20 {
        app.join("tix").await;
        lane_join(&app, "tix", &format!("late-{n}"), "members").await;
    }
    let before = lane_figures(&app, "tix").await;
    put_settings(
        &app,
        "tix",
        json!({ "batch_size": 10, "release_interval_ms": 1_000 }),
    )
    .await;
    let moved = eventually(Duration::from_secs(10), || async {
        lane_figures(&app, "tix").await[1].1 > before[1].1
    })
    .await;
    assert!(
        moved.is_some(),
        "the scheduler never released the members' lane"
    );
    // Stop it, then compare what it released.
    put_settings(&app, "tix", json!({ "batch_size": 0 })).await;
    let after = lane_figures(&app, "tix").await;
    // Counted by who no longer waits: a pointer also moves over places given up.
    let (public_moved, members_moved) = (before[0].2 - after[0].2, before[1].2 - after[1].2);
    assert!(
        members_moved > 0 && members_moved % 5 == 0,
        "{before:?} → {after:?}"
    );
    assert_eq!(public_moved, members_moved, "{before:?} → {after:?}");
}

/// 100,000 joins through three replicas on one Redis, 64 at a time: no visitor whose join was
/// answered before another's was sent holds a later position (the only order a client can observe),
/// and the line holds every position once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_joins_through_three_replicas_keep_first_come_first_served() {
    const JOINS: usize = 100_000;
    const AT_ONCE: usize = 64;
    let prefix = format!("t{}", random_token_id());
    let config = config_for(Backend::Redis, &prefix);
    let replicas = three_replicas(config).await;
    replicas[0].create_event("rush", json!({})).await;
    known_everywhere(&replicas, "rush").await;
    let clock = std::time::Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    // (sent, answered, position) of every join, from AT_ONCE clients in parallel.
    let clients = (0..AT_ONCE).map(|client| {
        let (replicas, next, clock) = (&replicas, &next, &clock);
        async move {
            let (mut seen, mut unsent) = (Vec::new(), Vec::new());
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < JOINS {
                let replica = &replicas[(client + seen.len()) % 3];
                let sent = clock.elapsed();
                // A request that never got an answer (a keep-alive connection closed as it was
                // reused) is sent again, as a new visitor; each is printed, and counted below.
                let answer = loop {
                    let request = replica.client.post(replica.url("/v1/events/rush/join"));
                    match request.send().await {
                        Ok(response) => break response,
                        Err(e) => unsent.push(e.to_string()),
                    }
                };
                let answered = clock.elapsed();
                assert_eq!(answer.status().as_u16(), 201);
                let body: Value = answer.json().await.expect("a join answer");
                seen.push((sent, answered, body["position"].as_u64().unwrap()));
            }
            (seen, unsent)
        }
    });
    let (mut joins, mut unsent) = (Vec::new(), Vec::new());
    for (seen, errors) in futures_util::future::join_all(clients).await {
        joins.extend(seen);
        unsent.extend(errors);
    }
    println!("{JOINS} joins through 3 replicas in {:?}", clock.elapsed());
    println!("requests sent again: {unsent:?}");
    assert_eq!(joins.len(), JOINS);
    assert!(
        unsent.len() <= 10,
        "{} requests failed: {unsent:?}",
        unsent.len()
    );

    let positions: BTreeSet<u64> = joins.iter().map(|(_, _, position)| *position).collect();
    assert_eq!(positions.len(), JOINS, "a position was handed out twice");
    // A request sent again may have joined unanswered the first time.
    assert!(positions.last() <= Some(&((JOINS + unsent.len()) as u64)));

    // By when answered: the highest position answered before each join was sent must be lower.
    joins.sort_by_key(|(_, answered, _)| *answered);
    let mut highest_before = Vec::with_capacity(JOINS);
    let mut highest = 0;
    for (_, _, position) in &joins {
        highest = highest.max(*position);
        highest_before.push(highest);
    }
    let inversions = joins
        .iter()
        .filter(|(sent, _, position)| {
            let answered_before = joins.partition_point(|(_, answered, _)| answered < sent);
            answered_before > 0 && highest_before[answered_before - 1] > *position
        })
        .count();
    assert_eq!(inversions, 0, "joins answered earlier hold later positions");
}

/// Redis loses the draw (as a failover can: its seed before the opening, the whole draw after):
/// the replicas restore the seed and the pre-queue's size they know, the order is drawn again from
/// the same seed over the same entries, and every place stays where it was, under the commitment
/// published at the start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draw_redis_lost_is_drawn_again_the_same() {
    let prefix = format!("t{}", random_token_id());
    let mut config = config_for(Backend::Redis, &prefix);
    config.resync_sweep = Duration::from_secs(1);
    let app = spawn_config(config).await;
    let (prequeue_from, opens_at) = (in_ms(500), in_ms(5_000));
    app.create_event(
        "again",
        json!({ "prequeue_from": prequeue_from, "opens_at": opens_at }),
    )
    .await;
    let commitment = app.page_json("/v1/events/again").await["draw_commitment"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut redis = raw_redis(Backend::Redis).await;
    let key = |name: &str| format!("{prefix}:{{again}}:{name}");

    // The seed is lost before the opening: restored from what the replica knows.
    let _: () = redis::cmd("DEL")
        .arg(key("draw"))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(
        stored_within(Duration::from_secs(5), &key("draw"), "seed").await,
        "the seed was never restored"
    );
    until(&prequeue_from).await;
    let mut tokens = Vec::new();
    for _ in 0..12 {
        tokens.push(app.join("again").await.token());
    }
    until(&opens_at).await;
    let (published, arrived, positions) = drawn_when_published(&app, &app, "again").await;
    assert_eq!(published["commitment"], commitment.as_str());
    let seed = published["seed"].as_str().unwrap().to_owned();
    assert_eq!(audit(&seed, &commitment, &arrived, &positions), Ok(12));
    // Joins after the opening come after the pre-queue; a draw done again must not take them in.
    for _ in 0..3 {
        tokens.push(app.join("again").await.token());
    }
    let mut before = Vec::new();
    for token in &tokens {
        before.push(app.status("again", token).await.position());
    }
    assert_eq!(&before[12..], &[13, 14, 15]);

    // The whole draw is lost: its record, the arrival order's copy, the line back in arrival order.
    let mut line = arrived_entries(
        &mut redis,
        &Seed::parse(&seed).unwrap(),
        &key("line"),
        &arrived,
    )
    .await;
    let later: Vec<String> = redis::cmd("LRANGE")
        .arg(key("line"))
        .arg(12)
        .arg(-1)
        .query_async(&mut redis)
        .await
        .unwrap();
    line.extend(later);
    let _: () = redis::pipe()
        .atomic()
        .del(key("draw"))
        .del(key("prequeue"))
        .del(key("line"))
        .rpush(key("line"), &line)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(
        stored_within(Duration::from_secs(10), &key("draw"), "at").await,
        "the lost draw was never drawn again"
    );
    // The replica hears of the draw done again by the push, a moment after Redis holds it.
    assert!(
        eventually(Duration::from_secs(10), || async {
            app.page_json("/v1/events/again/draw").await["drawn"] == true
        })
        .await
        .is_some(),
        "the replica never heard of the draw done again"
    );
    let again = app.page_json("/v1/events/again/draw").await;
    assert_eq!(again["seed"], seed.as_str());
    assert_eq!(again["positions"], published["positions"]);
    let mut after = Vec::new();
    for token in &tokens {
        after.push(app.status("again", token).await.position());
    }
    assert_eq!(before, after);
}

/// Whether the shared Redis holds `field` of the hash `key` within `within`.
async fn stored_within(within: Duration, key: &str, field: &str) -> bool {
    eventually(within, || async {
        let value: Option<String> = redis::cmd("HGET")
            .arg(key)
            .arg(field)
            .query_async(&mut raw_redis(Backend::Redis).await)
            .await
            .unwrap();
        value.is_some()
    })
    .await
    .is_some()
}

/// The line's entries in arrival order, as the pre-queue's published entries say (the line holds
/// them in drawn order now).
async fn arrived_entries(
    redis: &mut waitroom::store::topology::Conn,
    seed: &Seed,
    line: &str,
    arrived: &[String],
) -> Vec<String> {
    let entries: Vec<String> = redis::cmd("LRANGE")
        .arg(line)
        .arg(0)
        .arg(-1)
        .query_async(redis)
        .await
        .unwrap();
    arrived
        .iter()
        .map(|entry| {
            entries
                .iter()
                .find(|held| entry_id(seed, held.split(' ').next().unwrap()) == *entry)
                .unwrap()
                .clone()
        })
        .collect()
}

/// What reading Redis before the opening tells (issue 23): the seed alone no longer gives the order
/// (it is mixed with every entry, known only at the close), and the published entries are keyed with
/// the seed, so a booking-site user id cannot be recognised by hashing a guess.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_the_seed_early_tells_neither_the_order_nor_who_is_who() {
    use sha2::{Digest, Sha256};
    use waitroom::domain::draw::order;
    let prefix = format!("t{}", random_token_id());
    let app = spawn_config(config_for(Backend::Redis, &prefix)).await;
    let (prequeue_from, opens_at) = (in_ms(800), in_ms(4_000));
    app.create_event(
        "peek",
        json!({ "prequeue_from": prequeue_from, "opens_at": opens_at }),
    )
    .await;
    until(&prequeue_from).await;
    for i in 0..20 {
        let joined = trusted_join(&app, "peek", &format!("user{i}@example.com"), None).await;
        assert_eq!(joined.body["status"], "prequeue", "{}", joined.body);
    }
    // The attacker's read, before the opening: the stored seed, and the order it alone gives.
    let stored: String = redis::cmd("HGET")
        .arg(format!("{prefix}:{{peek}}:draw"))
        .arg("seed")
        .query_async(&mut raw_redis(Backend::Redis).await)
        .await
        .unwrap();
    let predicted = order(&Seed::parse(&stored).unwrap(), 20);
    until(&opens_at).await;
    let (published, arrived, positions) = drawn_when_published(&app, &app, "peek").await;
    let seed = Seed::parse(published["seed"].as_str().unwrap()).unwrap();
    assert_eq!(
        seed.to_hex(),
        stored,
        "the seed committed to is the one drawn with"
    );
    let drawn: Vec<usize> = positions
        .iter()
        .map(|held| arrived.iter().position(|entry| entry == held).unwrap() + 1)
        .collect();
    let predicted: Vec<usize> = predicted.iter().map(|&a| a as usize).collect();
    assert_ne!(drawn, predicted, "the stored seed alone foretold the order");
    let agreeing = drawn.iter().zip(&predicted).filter(|(d, p)| d == p).count();
    println!("positions the seed alone foretold: {agreeing} of 20");
    for (i, entry) in arrived.iter().enumerate() {
        let user = format!("user{i}@example.com");
        let plain: String = Sha256::digest(user.as_bytes())[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_ne!(*entry, plain, "a guessed id hashes to its entry");
        assert_eq!(*entry, entry_id(&seed, &user), "its holder finds it");
    }
}
