use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::helpers::{eventually, spawn_app, Backend};
use crate::on_both_stores;

on_both_stores!(
    the_page_and_its_json_twin,
    pushed_updates_follow_the_pointer,
    estimates_come_within_a_fifth_of_the_real_wait,
    capacity_is_never_exceeded_and_freed_slots_are_reused,
);

async fn the_page_and_its_json_twin(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_event(
        "tour",
        json!({ "page": { "title": "Summer Tour", "message": "Tickets go fast.", "accent_color": "#aa0055" } }),
    )
    .await;

    let page = app
        .send(
            app.client
                .get(app.url("/e/tour"))
                .header("accept", "text/html"),
        )
        .await;
    assert_eq!(page.status.as_u16(), 200);
    assert!(page.content_type.starts_with("text/html"));
    let policy = page.headers["content-security-policy"].to_str().unwrap();
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(policy.contains(directive), "{policy}");
    }
    assert!(!policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"));
    assert_eq!(page.headers["x-frame-options"], "DENY");
    assert_eq!(page.headers["referrer-policy"], "no-referrer");
    assert_eq!(page.headers["x-content-type-options"], "nosniff");
    let script = app
        .send(app.client.get(app.url("/assets/waitroom.js")))
        .await;
    assert_eq!(script.headers["x-content-type-options"], "nosniff");
    assert_eq!(script.headers["referrer-policy"], "no-referrer");
    let html = app.page_text("/e/tour").await;
    assert!(html.contains(r#"data-event="tour""#), "{html}");
    assert!(html.contains(r#"aria-live="polite""#));
    assert!(html.contains(r#"<label for="progress""#));
    for asset in ["/assets/waitroom.js", "/assets/waitroom.css"] {
        let response = app.client.get(app.url(asset)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{asset}");
    }
    // A person who followed a wrong link gets a page that says so; an app, the problem.
    let person = app
        .client
        .get(app.url("/e/nope"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(person.status().as_u16(), 404);
    assert!(person.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(person
        .text()
        .await
        .unwrap()
        .contains("No waiting room here"));
    app.send(
        app.client
            .get(app.url("/e/nope"))
            .header("accept", "application/json"),
    )
    .await
    .assert_problem(404, "unknown-event");

    let info = app.send(app.client.get(app.url("/v1/events/tour"))).await;
    assert_eq!(info.body["title"], "Summer Tour");
    assert_eq!(info.body["accent_color"], "#aa0055");
    assert_eq!(info.body["page"], "/e/tour");

    // An app asks the same address for JSON: it joins, and keeps its place with the token.
    let joined = app
        .send(
            app.client
                .get(app.url("/e/tour"))
                .header("accept", "application/json"),
        )
        .await;
    assert_eq!(joined.status.as_u16(), 201, "{}", joined.body);
    assert_eq!(joined.position(), 1);
    let again = app
        .send(
            app.client
                .get(app.url("/e/tour"))
                .header("accept", "application/json")
                .bearer_auth(joined.token()),
        )
        .await;
    assert_eq!((again.status.as_u16(), again.position()), (200, 1));

    app.admin(
        Method::PUT,
        "/v1/admin/events/tour",
        Some(json!({ "page": { "accent_color": "red" } })),
    )
    .await
    .assert_problem(400, "invalid-settings");
    app.admin(
        Method::PUT,
        "/v1/admin/events/tour",
        Some(json!({ "page": { "logo_url": "javascript:x" } })),
    )
    .await
    .assert_problem(400, "invalid-settings");
}

async fn pushed_updates_follow_the_pointer(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_event("tour", json!({ "target_url": "https://shop.example/buy" }))
        .await;
    let first = app.join("tour").await;
    let second = app.join("tour").await;
    let third = app.join("tour").await;

    let mut stream = app.stream("tour", &second.token()).await;
    let (kind, status) = stream
        .next(Duration::from_secs(2))
        .await
        .expect("the current status at once");
    assert_eq!(
        (kind.as_str(), status["ahead"].as_u64()),
        ("status", Some(1))
    );

    app.advance("tour", 1).await;
    let (_, moved) = stream
        .next(Duration::from_secs(1))
        .await
        .expect("a push within a second");
    assert_eq!(
        (moved["status"].as_str(), moved["ahead"].as_u64()),
        (Some("waiting"), Some(0))
    );

    let started = Instant::now();
    app.advance("tour", 1).await;
    let (_, admitted) = stream
        .next(Duration::from_secs(1))
        .await
        .expect("admitted within a second");
    println!("push after an advance took {:?}", started.elapsed());
    assert_eq!(admitted["status"], "admitted");
    assert!(admitted["pass"].is_string());
    assert_eq!(admitted["target_url"], "https://shop.example/buy");
    assert!(
        stream.next(Duration::from_secs(1)).await.is_none(),
        "the stream ends once admitted"
    );

    // Leaving through another connection ends the leaver's stream.
    let mut leaver = app.stream("tour", &third.token()).await;
    leaver.next(Duration::from_secs(2)).await.expect("status");
    app.leave("tour", &third.token()).await;
    let (kind, _) = leaver
        .next(Duration::from_secs(1))
        .await
        .expect("told of leaving");
    assert_eq!(kind, "left");

    // Bad tokens are refused before any stream starts.
    let refused = app
        .send(
            app.client
                .get(app.url("/v1/events/tour/stream?token=nonsense")),
        )
        .await;
    refused.assert_problem(401, "invalid-token");
    let _ = first;
}

async fn estimates_come_within_a_fifth_of_the_real_wait(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_event("tour", json!({ "batch_size": 0 })).await;
    for _ in 0..150 {
        app.join("tour").await;
    }
    // A steady release: 4 visitors every 250 ms, 16 a second.
    app.create_event(
        "tour",
        json!({ "batch_size": 4, "release_interval_ms": 250 }),
    )
    .await;
    // Let the rate establish over several release windows.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let joined = app.join("tour").await;
    let estimate = joined.body["estimate"].clone();
    let promised = estimate["wait_s"].as_f64().expect("an estimate") as f64;
    assert_ne!(
        estimate["confidence"], "low",
        "measured, not just scheduled: {estimate}"
    );
    let started = Instant::now();
    let admitted = eventually(Duration::from_secs(30), || async {
        app.status("tour", &joined.token()).await.body["status"] == "admitted"
    })
    .await;
    assert!(admitted.is_some());
    let waited = started.elapsed().as_secs_f64();
    println!(
        "estimated {promised} s ({}), waited {waited:.1} s",
        estimate["text"]
    );
    assert!(
        (promised - waited).abs() <= 0.2 * waited,
        "estimate {promised} s vs actual {waited:.1} s"
    );
    assert_eq!(estimate["basis"], "measured");

    // An admin lets 40 through at once: the pace promised to the next visitors stays the release
    // pace (counted as a release, the jump would have nearly doubled it).
    for _ in 0..200 {
        app.join("tour").await;
    }
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let rate = |answer: crate::helpers::Answer| answer.body["estimate"]["rate_per_min"].as_f64();
    let before = rate(app.join("tour").await).expect("an estimate");
    app.advance("tour", 40).await;
    let after = rate(app.join("tour").await).expect("an estimate");
    assert!(
        (after - before).abs() <= 0.3 * before,
        "a manual advance moved the promised pace from {before} to {after} a minute"
    );
}

async fn capacity_is_never_exceeded_and_freed_slots_are_reused(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_event("cap", json!({ "batch_size": 0 })).await;
    let mut visitors = Vec::new();
    for _ in 0..160 {
        visitors.push(app.join("cap").await.token());
    }
    app.create_event(
        "cap",
        json!({ "batch_size": 30, "release_interval_ms": 200, "max_active": 50, "claim_window_s": 5, "pass_ttl_s": 60 }),
    )
    .await;

    // Every third admitted visitor never shows up; the others collect their pass and are reported
    // done by the booking service shortly after.
    let mut handled = std::collections::BTreeSet::new();
    let mut peak = 0;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(25) {
        let figures = app.show("cap").await;
        let active = figures.active;
        peak = peak.max(active);
        assert!(
            active <= 50,
            "active {active} exceeds max_active: {figures:?}"
        );
        let pointer = figures.admitted_through;
        for position in 1..=pointer {
            if !handled.insert(position) || position % 3 == 0 {
                continue;
            }
            let token = &visitors[position as usize - 1];
            let status = app.status("cap", token).await;
            let pass = status.body["pass"]
                .as_str()
                .expect("a pass for a visitor who came in time")
                .to_owned();
            let done = app
                .admin(
                    Method::POST,
                    "/v1/events/cap/complete",
                    Some(json!({ "token": pass })),
                )
                .await;
            assert_eq!(done.body["freed"], true, "{}", done.body);
        }
        if pointer == 160 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let figures = app.show("cap").await;
    assert_eq!(
        figures.admitted_through, 160,
        "freed slots were reused until everyone got in: {figures:?}"
    );
    assert!(peak >= 30, "the capacity was used ({peak})");

    // A no-show who comes back after the claim window finds the slot given away.
    let no_show = &visitors[2];
    tokio::time::sleep(Duration::from_secs(5)).await;
    // Asked again (a reload): still no pass.
    for _ in 0..2 {
        let late = app.status("cap", no_show).await;
        assert_eq!(
            (late.body["status"].as_str(), late.body["reason"].as_str()),
            (Some("expired"), Some("claim-window-passed"))
        );
        assert!(late.body.get("pass").is_none());
    }
}

/// The demo of the embedded default keeps a line that moves: newcomers arrive at the pace visitors
/// are let through, so the line neither empties nor grows without end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_line_keeps_moving() {
    let mut config = crate::helpers::base_config();
    config.demo_event = true;
    let app = crate::helpers::spawn_config(config).await;
    // The crowd is seeded; the first batch may already be through, and newcomers in its place.
    let start = app.show("demo").await;
    assert!(start.issued >= waitroom::demo::CROWD, "{start:?}");
    let moved = eventually(Duration::from_secs(10), || async {
        let now = app.show("demo").await;
        now.admitted_through >= start.admitted_through + 10 && now.issued >= start.issued + 10
    })
    .await;
    let now = app.show("demo").await;
    assert!(moved.is_some(), "the demo stood still: {now:?}");
    assert!(
        (waitroom::demo::CROWD - 10..=waitroom::demo::CROWD).contains(&now.waiting),
        "the line stays about {} long: {now:?}",
        waitroom::demo::CROWD
    );
    // A newcomer still waits their turn behind the crowd.
    let newcomer = app.join("demo").await;
    assert!(
        newcomer.body["ahead"].as_u64().unwrap() >= 40,
        "{}",
        newcomer.body
    ); // It has a name people read (not its id), and its target page a language.
    assert_eq!(app.page_json("/v1/events/demo").await["title"], "Demo sale");
    assert!(app
        .page_text("/demo/admitted")
        .await
        .contains(r#"<html lang="en">"#));
}

/// An operator's own page template replaces the built-in one (escaped like it); a broken one stops
/// the service at start with the template's name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_page_templates_are_used_and_checked_at_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("waiting.html"),
        "<!doctype html><main id=\"waitroom\" data-event=\"{{ event }}\"><h1>Our own page for {{ event }}</h1></main><script src=\"/assets/waitroom.js\"></script>",
    )
    .unwrap();
    let mut config = crate::helpers::base_config();
    config.page_templates = Some(dir.path().to_owned());
    let app = crate::helpers::spawn_config(config.clone()).await;
    app.create_event("tour", json!({})).await;
    let html = app.page_text("/e/tour").await;
    assert!(html.contains("Our own page for tour"), "{html}");

    std::fs::write(dir.path().join("nojs.html"), "{% for %}").unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let refused = waitroom::startup::Application::build_with_listener(config, listener)
        .await
        .err()
        .expect("a broken template stops the start");
    assert!(refused.to_string().contains("nojs.html"), "{refused}");
}

/// The page speaks the browser's language among those shipped, or the event's, with the event's own
/// texts over the catalogue's; right-to-left languages are laid out so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_speaks_the_visitors_language() {
    let app = spawn_app(Backend::Memory).await;
    app.create_event("tour", json!({})).await;
    app.create_event(
        "fest",
        json!({ "page": { "language": "fr", "texts": { "fr": { "hint": "Gardez la page ouverte, merci !" } } } }),
    )
    .await;
    let page = |event: &'static str, language: &'static str| {
        let app = &app;
        async move {
            let response = app
                .client
                .get(app.url(&format!("/e/{event}")))
                .header("accept", "text/html")
                .header("accept-language", language)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 200);
            response.text().await.unwrap()
        }
    };
    let german = page("tour", "de-AT, en;q=0.5").await;
    assert!(german.contains(r#"<html lang="de" dir="ltr">"#), "{german}");
    assert!(german.contains("Ihre Nummer"));
    // The page's script gets the language's Fluent messages, plural forms and all.
    assert!(
        german.contains("[one] { $n } Person vor Ihnen."),
        "{german}"
    );
    let chinese = page("tour", "zh-CN, en;q=0.5").await;
    assert!(chinese.contains(r#"<html lang="zh-Hans" dir="ltr">"#) && chinese.contains("您的号码"));
    let brazilian = page("tour", "pt").await;
    assert!(brazilian.contains(r#"<html lang="pt-BR""#) && brazilian.contains("Seu número"));
    let japanese = page("tour", "ja").await;
    assert!(japanese.contains("あなたの番号"));
    let arabic = page("tour", "ar").await;
    assert!(arabic.contains(r#"<html lang="ar" dir="rtl">"#));
    let unknown = page("tour", "nl, sv;q=0.8").await;
    assert!(unknown.contains(r#"<html lang="en""#) && unknown.contains("Your number"));
    // The event's language wins over the browser's, and its own texts over the catalogue's.
    let french = page("fest", "de").await;
    assert!(french.contains(r#"<html lang="fr""#) && french.contains("Votre numéro"));
    assert!(french.contains("Gardez la page ouverte, merci !"));
    // Texts for a language or message that does not exist, or that are no Fluent pattern, are
    // refused.
    app.admin(
        Method::PUT,
        "/v1/admin/events/fest",
        Some(json!({ "page": { "texts": { "fr": { "hint": "Gardez { la page" } } } })),
    )
    .await
    .assert_problem(400, "invalid-settings");
    app.admin(
        Method::PUT,
        "/v1/admin/events/fest",
        Some(json!({ "page": { "texts": { "fr": { "no_such_message": "x" } } } })),
    )
    .await
    .assert_problem(400, "invalid-settings");
    app.admin(
        Method::PUT,
        "/v1/admin/events/fest",
        Some(json!({ "page": { "language": "tlh" } })),
    )
    .await
    .assert_problem(400, "invalid-settings");
}
