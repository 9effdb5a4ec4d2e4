use std::path::PathBuf;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

use crate::helpers::{claims, in_ms, spawn_app, Backend, Daemon};

/// Real headless Chromium (Debian's package), as root and offline.
async fn browser(driver: &Daemon, profile: &std::path::Path) -> Client {
    browser_with(driver, profile, &[]).await
}

/// The same, with more of Chromium's switches.
async fn browser_with(driver: &Daemon, profile: &std::path::Path, extra: &[&str]) -> Client {
    let mut args = vec![
        "--headless".to_owned(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--no-first-run".into(),
        "--disable-sync".into(),
        "--window-size=390,844".into(),
        format!("--user-data-dir={}", profile.display()),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    let capabilities = json!({
        "goog:chromeOptions": { "binary": "/usr/bin/chromium", "args": args }
    });
    ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities.as_object().unwrap().clone())
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a Chromium session through chromedriver")
}

async fn click(client: &Client, locator: Locator<'_>) {
    client.find(locator).await.unwrap().click().await.unwrap();
}

async fn text_of(client: &Client, id: &str) -> String {
    match client.find(Locator::Id(id)).await {
        Ok(element) => element.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

async fn wait_for_text(client: &Client, id: &str, expected: &str, within: Duration) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if text_of(client, id).await == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "#{id} never showed {expected:?} (it shows {:?})",
        text_of(client, id).await
    );
}

fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Keeps what the browser shows now in `test-artifacts/`, for a person to look at.
async fn keep_screenshot(client: &Client, name: &str) {
    std::fs::write(artifacts().join(name), client.screenshot().await.unwrap()).unwrap();
}

/// Keeps what the browser shows now in `test-artifacts/` for a person to look at, and has
/// axe-core check it: no violation of any of its rules.
async fn look_at(client: &Client, name: &str) {
    look_at_allowing(client, name, &[]).await
}

/// The same, allowing the rules in `allowed` (each call says why the state breaks it).
async fn look_at_allowing(client: &Client, name: &str, allowed: &[&str]) {
    keep_screenshot(client, name).await;
    let violations = axe_violations(client).await;
    let unexpected: Vec<_> = violations
        .iter()
        .filter(|found| !allowed.contains(&found["id"].as_str().unwrap_or_default()))
        .collect();
    assert!(
        unexpected.is_empty(),
        "{name}: axe-core found {unexpected:#?}"
    );
}

/// A page that takes nobody in: it says `why`, offers no join that would fail, and is looked at.
async fn turned_away(client: &Client, why: &str, screenshot: &str) {
    wait_for_part(client, "gone-text", why, Duration::from_secs(10)).await;
    let rejoin = client.find(Locator::Id("rejoin")).await.unwrap();
    assert!(
        !rejoin.is_displayed().await.unwrap(),
        "no join that would fail"
    );
    look_at(client, screenshot).await;
}

/// What axe-core (tests/axe, installed by scripts/install-test-deps.sh) finds wrong with the page
/// as it stands: each violation's rule, impact, help and where.
async fn axe_violations(client: &Client) -> Vec<serde_json::Value> {
    static AXE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let axe = AXE.get_or_init(|| {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/axe/node_modules/axe-core/axe.min.js");
        std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (scripts/install-test-deps.sh installs axe-core)",
                path.display()
            )
        })
    });
    client
        .execute(&format!("{axe}\nreturn typeof axe;"), vec![])
        .await
        .unwrap();
    let found = client
        .execute_async(
            "const done = arguments[arguments.length - 1];
            axe.run(document).then(
                (result) => done(result.violations.map((v) => ({
                    id: v.id, impact: v.impact, help: v.help,
                    where: v.nodes.map((node) => node.target.join(' ')),
                }))),
                (error) => done([{ id: 'axe-failed', help: String(error) }]));",
            vec![],
        )
        .await
        .unwrap();
    found.as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_waiting_page_moves_on_by_itself_when_it_is_your_turn() {
    let app = spawn_app(Backend::Memory).await;
    app.create_event(
        "tour",
        json!({
            "target_url": app.url("/demo/admitted"),
            "page": { "title": "Summer Tour 2026", "message": "Tickets are released in small batches.", "accent_color": "#7c3aed" },
        }),
    )
    .await;
    for _ in 0..3 {
        app.join("tour").await;
    }
    let driver = Daemon::chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path()).await;

    client.goto(&app.url("/e/tour")).await.unwrap();
    wait_for_text(&client, "position", "4", Duration::from_secs(10)).await;
    wait_for_text(&client, "title", "Summer Tour 2026", Duration::from_secs(5)).await;
    assert_eq!(text_of(&client, "ahead").await, "3");
    assert!(text_of(&client, "status")
        .await
        .contains("3 people ahead of you"));

    // A reload keeps the place.
    client.refresh().await.unwrap();
    wait_for_text(&client, "position", "4", Duration::from_secs(10)).await;
    assert_eq!(
        app.show("tour").await.issued,
        4,
        "the reload drew no new number"
    );

    // The line moves; the page follows without a reload.
    app.advance("tour", 2).await;
    wait_for_text(&client, "ahead", "1", Duration::from_secs(2)).await;
    // Let the progress bar's transition finish before the picture.
    tokio::time::sleep(Duration::from_millis(800)).await;
    look_at(&client, "waiting-page.png").await;

    let started = Instant::now();
    app.advance("tour", 2).await;
    let target = app.url("/demo/admitted");
    let mut arrived = None;
    while started.elapsed() < Duration::from_secs(2) {
        let url = client.current_url().await.unwrap();
        if url.as_str().starts_with(&target) {
            arrived = Some(url);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let arrived = arrived.expect("the page went on to the target within 2 s");
    println!(
        "moved on to the target {:?} after the advance",
        started.elapsed()
    );
    let pass = carried_pass(&arrived);
    let verified = app.verify(json!({ "token": pass, "event": "tour" })).await;
    assert_eq!(
        (
            verified.body["admitted"].as_bool(),
            verified.body["position"].as_u64()
        ),
        (Some(true), Some(4))
    );
    look_at(&client, "admitted-page.png").await;
    client.close().await.unwrap();
}

/// Waits until the browser's address starts with `prefix`.
async fn wait_for_address(client: &Client, prefix: &str, within: Duration) -> url::Url {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        let url = client.current_url().await.unwrap();
        if url.as_str().starts_with(prefix) {
            return url;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "never went to {prefix} (at {})",
        client.current_url().await.unwrap()
    );
}

/// The hand-over in a real browser: the page sends the admitted visitor to the site's claim path
/// with where they were going; the pass lands in a cookie and out of the address. A visitor who
/// comes back to the page after their turn goes straight on rather than waiting forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hand_over_takes_the_visitor_back_to_where_they_were_going() {
    let app = spawn_app(Backend::Memory).await;
    app.create_event(
        "handover",
        json!({ "target_url": app.url("/v1/events/handover/claim") }),
    )
    .await;
    let driver = Daemon::chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path()).await;

    client
        .goto(&app.url("/e/handover?return_to=%2Fdemo%2Fadmitted%3Ffrom%3Dqueue"))
        .await
        .unwrap();
    wait_for_text(&client, "position", "1", Duration::from_secs(10)).await;
    app.advance("handover", 1).await;
    let landed =
        wait_for_address(&client, &app.url("/demo/admitted"), Duration::from_secs(5)).await;
    assert_eq!(
        landed.as_str(),
        app.url("/demo/admitted?from=queue"),
        "the pass is out of the address"
    );
    let cookies = client.get_all_cookies().await.unwrap();
    let pass = cookies
        .iter()
        .find(|c| c.name() == "waitroom_handover.pass")
        .expect("the pass cookie on the site's domain");
    assert_eq!(pass.http_only(), Some(true));
    let checked = app
        .verify(json!({ "token": pass.value(), "event": "handover" }))
        .await;
    assert_eq!(checked.body["kind"], "pass");

    // Back on the page after the turn came: on to the site at once.
    client
        .goto(&app.url("/e/handover?return_to=%2Fdemo%2Fadmitted%3Fagain%3D1"))
        .await
        .unwrap();
    wait_for_address(
        &client,
        &app.url("/demo/admitted?again=1"),
        Duration::from_secs(5),
    )
    .await;
    client.close().await.unwrap();
}

/// A page that never strands anyone: a reload keeps the progress made, the live stream carries no
/// token in its address, a closed event says so without offering a join that would fail, and a
/// wrong link gets a page rather than JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_keeps_progress_and_says_plainly_when_there_is_nothing_to_wait_for() {
    let app = spawn_app(Backend::Memory).await;
    app.create_event("tour", json!({})).await;
    for _ in 0..10 {
        app.join("tour").await;
    }
    let driver = Daemon::chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path()).await;
    let progress = || async {
        client
            .execute("return document.getElementById('progress').value", vec![])
            .await
            .unwrap()
            .as_f64()
            .unwrap()
    };

    client.goto(&app.url("/e/tour")).await.unwrap();
    wait_for_text(&client, "ahead", "10", Duration::from_secs(10)).await;
    assert!(progress().await > 0.0, "the bar shows from the start");
    app.advance("tour", 5).await;
    wait_for_text(&client, "ahead", "5", Duration::from_secs(5)).await;
    let made = progress().await;
    assert!((45.0..=55.0).contains(&made), "{made}");
    client.refresh().await.unwrap();
    wait_for_text(&client, "ahead", "5", Duration::from_secs(10)).await;
    assert_eq!(progress().await, made, "a reload keeps the progress made");
    // Leaving ends the stream, which makes it show up among the page's finished requests.
    let token = client
        .execute("return localStorage.getItem('waitroom:tour')", vec![])
        .await
        .unwrap();
    app.leave("tour", token.as_str().unwrap()).await;
    wait_for_text(
        &client,
        "gone-text",
        "You left the line.",
        Duration::from_secs(5),
    )
    .await;
    let streams = client
        .execute(
            "return performance.getEntriesByType('resource').map(e => e.name).filter(n => n.includes('/stream'))",
            vec![],
        )
        .await
        .unwrap();
    let streams = streams.as_array().unwrap();
    assert!(!streams.is_empty(), "the page follows the live stream");
    assert!(
        streams
            .iter()
            .all(|s| !s.as_str().unwrap().contains("token")),
        "{streams:?}"
    );

    app.create_event("closed", json!({ "state": "closed" }))
        .await;
    client.goto(&app.url("/e/closed")).await.unwrap();
    turned_away(&client, "This waiting room is closed", "closed-event.png").await;

    app.create_event("sold", json!({ "method": "reject" }))
        .await;
    client.goto(&app.url("/e/sold")).await.unwrap();
    turned_away(&client, "Sold out", "sold-out-event.png").await;

    client.goto(&app.url("/e/no-such-event")).await.unwrap();
    wait_for_text(
        &client,
        "title",
        "No waiting room here",
        Duration::from_secs(5),
    )
    .await;
    look_at(&client, "unknown-event.png").await;
    client.close().await.unwrap();
}

/// Dark branding stays readable: the card darkens with the page and the text turns light, as the
/// browser really draws them (computed styles), with a screenshot kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dark_branding_stays_readable() {
    use waitroom::domain::palette::{contrast, Rgb, MIN_TEXT_CONTRAST};
    let app = spawn_app(Backend::Memory).await;
    app.create_event(
        "night",
        json!({ "page": { "title": "Night Show", "background_color": "#0b0b14", "accent_color": "#7c3aed" } }),
    )
    .await;
    // Text that cannot be read on it is refused when saved.
    let refused = app
        .admin(
            reqwest::Method::PUT,
            "/v1/admin/events/night",
            Some(json!({ "page": { "background_color": "#0b0b14", "text_color": "#222233" } })),
        )
        .await;
    refused.assert_problem(400, "invalid-settings");
    assert!(refused.body["detail"].as_str().unwrap().contains("4.5:1"));

    let driver = Daemon::chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path()).await;
    client.goto(&app.url("/e/night")).await.unwrap();
    wait_for_text(&client, "title", "Night Show", Duration::from_secs(10)).await;
    wait_for_text(&client, "position", "1", Duration::from_secs(10)).await;
    let colours = client
        .execute(
            "const style = (id, p) => getComputedStyle(document.getElementById(id))[p];
             return [style('title', 'color'), style('status', 'color'), style('waitroom', 'backgroundColor')];",
            vec![],
        )
        .await
        .unwrap();
    let rgb = |css: &serde_json::Value| {
        let parts: Vec<u8> = css
            .as_str()
            .unwrap()
            .trim_start_matches("rgb(")
            .trim_end_matches(')')
            .split(',')
            .map(|p| p.trim().parse().unwrap())
            .collect();
        Rgb(parts[0], parts[1], parts[2])
    };
    let card = rgb(&colours[2]);
    assert_ne!(card, Rgb(255, 255, 255), "the card follows the dark page");
    for text in [&colours[0], &colours[1]] {
        let ratio = contrast(rgb(text), card);
        assert!(
            ratio >= MIN_TEXT_CONTRAST,
            "{text} on {card:?}: {ratio:.1}:1"
        );
    }
    look_at(&client, "dark-branding.png").await;
    client.close().await.unwrap();
}

/// Without JavaScript the page still works: the browser is sent to the server-rendered page, which
/// shows the place, reloads itself, and takes the visitor on when it is their turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_javascript_the_page_reloads_itself_and_lets_the_visitor_through() {
    let app = spawn_app(Backend::Memory).await;
    app.create_event(
        "plain",
        json!({ "target_url": app.url("/demo/admitted"), "batch_size": 0, "page": { "title": "Plain & Simple" } }),
    )
    .await;
    for _ in 0..3 {
        app.join("plain").await;
    }
    let driver = Daemon::chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let client = browser_with(
        &driver,
        profile.path(),
        &["--blink-settings=scriptEnabled=false"],
    )
    .await;
    client.goto(&app.url("/e/plain")).await.unwrap();
    wait_for_text(&client, "position", "4", Duration::from_secs(10)).await;
    assert_eq!(text_of(&client, "title").await, "Plain & Simple");
    assert!(client
        .current_url()
        .await
        .unwrap()
        .as_str()
        .contains("nojs=1"));
    keep_screenshot(&client, "no-javascript.png").await;
    assert_eq!(app.show("plain").await.issued, 4);
    // axe-core needs script: a browser with it reads the same page (which has none of its own) for
    // a visitor of another event. The page reloads itself (a `<meta http-equiv="refresh">`, which
    // axe's `meta-refresh` flags): without script it is the only way the page can move on by
    // itself; it says so, how often, and offers "Check now" (see the README).
    app.create_event("checked", json!({ "batch_size": 0 }))
        .await;
    let checker_profile = tempfile::tempdir().unwrap();
    let checker = browser(&driver, checker_profile.path()).await;
    checker.goto(&app.url("/e/checked?nojs=1")).await.unwrap();
    wait_for_text(&checker, "position", "1", Duration::from_secs(10)).await;
    look_at_allowing(&checker, "no-javascript-checked.png", &["meta-refresh"]).await;
    // The visitor can turn the reloading off (WCAG 2.2.1): the page then stays as it is, says so,
    // and passes every rule; turning it on again is one link away.
    click(&checker, Locator::LinkText("Stop reloading by itself")).await;
    wait_for_part(
        &checker,
        "waitroom",
        "does not reload by itself",
        Duration::from_secs(5),
    )
    .await;
    assert!(checker
        .current_url()
        .await
        .unwrap()
        .as_str()
        .contains("reload=off"));
    let refreshes = checker
        .execute(
            "return document.querySelectorAll('meta[http-equiv=refresh]').length",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(refreshes, 0);
    assert_eq!(text_of(&checker, "position").await, "1", "the same place");
    look_at(&checker, "no-javascript-still.png").await;
    click(&checker, Locator::LinkText("Reload by itself again")).await;
    wait_for_part(
        &checker,
        "waitroom",
        "reloads by itself",
        Duration::from_secs(5),
    )
    .await;
    checker.close().await.unwrap();

    // It reloads by itself, no faster than the line can move (a line moved by hand: every 15 s),
    // and says so; "Check now" reloads it at once.
    let waiting = app.join("plain").await;
    let html = app.page_of_holder("plain", &waiting.token()).await;
    assert!(
        html.contains(r#"<meta http-equiv="refresh" content="15">"#),
        "{html}"
    );
    assert!(html.contains("every 15 seconds"), "{html}");
    app.advance("plain", 4).await;
    click(&client, Locator::LinkText("Check now")).await;
    let landed =
        wait_for_address(&client, &app.url("/demo/admitted"), Duration::from_secs(10)).await;
    let pass = carried_pass(&landed);
    let checked = app.verify(json!({ "token": pass, "event": "plain" })).await;
    assert_eq!(checked.body["position"], 4);
    assert_eq!(
        app.show("plain").await.issued,
        5,
        "reloads drew no new numbers (the fifth joined by the test)"
    );
    client.close().await.unwrap();
}

/// The page in a second language, and right to left in Arabic, as the browser lays it out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_speaks_german_and_arabic_runs_right_to_left() {
    let app = spawn_app(Backend::Memory).await;
    app.create_event(
        "konzert",
        json!({ "page": { "title": "Konzert", "language": "de" } }),
    )
    .await;
    app.create_event(
        "hafla",
        json!({ "page": { "title": "حفلة", "language": "ar" } }),
    )
    .await;
    for _ in 0..3 {
        app.join("konzert").await;
    }
    let driver = Daemon::chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path()).await;

    client.goto(&app.url("/e/konzert")).await.unwrap();
    wait_for_text(&client, "position", "4", Duration::from_secs(10)).await;
    wait_for_text(
        &client,
        "status",
        "3 Personen vor Ihnen.",
        Duration::from_secs(5),
    )
    .await;
    look_at(&client, "waiting-page-de.png").await;
    // Leaving with the page's own button, through its confirmation, in German too.
    click(&client, Locator::Id("leave")).await;
    assert_eq!(
        client.get_alert_text().await.unwrap(),
        "Die Schlange verlassen? Sie verlieren Ihren Platz."
    );
    client.accept_alert().await.unwrap();
    wait_for_text(
        &client,
        "gone-text",
        "Sie haben die Schlange verlassen. Danke, dass Sie die nächste Person vorlassen.",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(app.show("konzert").await.left, 1);

    client.goto(&app.url("/e/hafla")).await.unwrap();
    wait_for_text(&client, "position", "1", Duration::from_secs(10)).await;
    let direction = client
        .execute(
            "return getComputedStyle(document.getElementById('waitroom')).direction",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(direction, "rtl");
    assert_eq!(text_of(&client, "status").await, "أنت التالي. اقترب دورك.");
    look_at(&client, "waiting-page-ar.png").await;
    client.close().await.unwrap();
}

/// With every live-update stream refused (the replica full: here `max_streams = 0`), the page polls
/// instead and still takes the visitor through when it is their turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_polls_when_its_stream_is_refused() {
    let mut config = crate::helpers::base_config();
    config.max_streams = 0;
    let app = crate::helpers::spawn_config(config).await;
    app.create_event("tour", json!({ "target_url": app.url("/demo/admitted") }))
        .await;
    app.join("tour").await;
    let driver = Daemon::chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path()).await;
    client.goto(&app.url("/e/tour")).await.unwrap();
    wait_for_text(&client, "position", "2", Duration::from_secs(10)).await;
    app.advance("tour", 1).await;
    wait_for_text(&client, "ahead", "0", Duration::from_secs(8)).await;
    app.advance("tour", 1).await;
    let arrived =
        wait_for_address(&client, &app.url("/demo/admitted"), Duration::from_secs(8)).await;
    assert!(arrived.query_pairs().any(|(key, _)| key == "waitroom_pass"));
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains(r#"waitroom_sse_refused_total{reason="replica-full"}"#),
        "the page never asked for a stream: {metrics}"
    );
    client.close().await.unwrap();
}

/// The admission pass the hand-over carried to the booking site's address.
fn carried_pass(arrived: &url::Url) -> String {
    arrived
        .query_pairs()
        .find(|(key, _)| key == "waitroom_pass")
        .map(|(_, value)| value.into_owned())
        .expect("the pass travels with the visitor")
}

/// Waits until `#id`'s text holds `part`; returns the text.
async fn wait_for_part(client: &Client, id: &str, part: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        let text = text_of(client, id).await;
        if text.contains(part) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "#{id} never held {part:?} (it shows {:?})",
        text_of(client, id).await
    );
}

/// A scheduled sale in a real browser: a countdown before the pre-queue, the page joins it by
/// itself, shows the draw's time, then the position drawn at opening (with the token exchanged for
/// one carrying it), and moves on once admitted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_counts_down_joins_the_prequeue_shows_the_drawn_place_and_moves_on() {
    let app = spawn_app(Backend::Memory).await;
    // The browser first: its start takes seconds on a loaded machine.
    let driver = Daemon::chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path()).await;
    app.create_event(
        "launch",
        json!({
            "target_url": app.url("/demo/admitted"),
            "prequeue_from": in_ms(8_000),
            "opens_at": in_ms(14_000),
        }),
    )
    .await;
    client.goto(&app.url("/e/launch")).await.unwrap();

    // Before the pre-queue: a countdown, and no place taken.
    wait_for_part(&client, "status", "opens at", Duration::from_secs(5)).await;
    let countdown = text_of(&client, "estimate").await;
    assert!(countdown.starts_with("0:0"), "countdown {countdown:?}");
    assert_eq!(app.show("launch").await.issued, 0);

    // The page joins the pre-queue by itself; others join it too.
    wait_for_part(&client, "status", "pre-queue", Duration::from_secs(10)).await;
    for _ in 0..4 {
        assert_eq!(app.join("launch").await.body["status"], "prequeue");
    }
    assert_eq!(text_of(&client, "position").await, "–");
    look_at(&client, "prequeue-page.png").await;

    // At opening: the drawn position, and the token the page keeps now carries it.
    let drawn = Instant::now();
    let position = loop {
        let text = text_of(&client, "position").await;
        if let Ok(position) = text.parse::<u64>() {
            break position;
        }
        assert!(
            drawn.elapsed() < Duration::from_secs(15),
            "no drawn position shown (#position: {text:?})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!((1..=5).contains(&position), "position {position}");
    let kept = Instant::now();
    let claims = loop {
        let token = client
            .execute("return localStorage.getItem('waitroom:launch')", vec![])
            .await
            .unwrap();
        let token = token.as_str().unwrap_or_default().to_owned();
        let payload = token.split('.').nth(1).unwrap_or_default();
        use base64::Engine;
        let claims: serde_json::Value = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        if claims["kind"] == "waiting" || kept.elapsed() > Duration::from_secs(10) {
            break claims;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(claims["kind"], "waiting", "the page kept {claims}");
    assert_eq!(claims["pos"], position);

    // Released: on to the site, with a pass for the drawn position.
    app.advance("launch", 5).await;
    let arrived =
        wait_for_address(&client, &app.url("/demo/admitted"), Duration::from_secs(5)).await;
    let pass = carried_pass(&arrived);
    let verified = app
        .verify(json!({ "token": pass, "event": "launch" }))
        .await;
    assert_eq!(verified.body["position"], position, "{}", verified.body);
    assert_eq!(verified.body["admitted"], true);
    client.close().await.unwrap();
}

/// A random event in a real browser: the page says the visitor is in the draw, with everyone's
/// chance at the next release, and moves on by itself once a release draws them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_the_draw_and_moves_on_when_drawn() {
    let app = spawn_app(Backend::Memory).await;
    let driver = Daemon::chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path()).await;
    app.create_event(
        "lottery",
        json!({
            "target_url": app.url("/demo/admitted"),
            "method": "random",
            "batch_size": 0,
        }),
    )
    .await;
    for _ in 0..3 {
        assert_eq!(app.join("lottery").await.body["status"], "prequeue");
    }
    client.goto(&app.url("/e/lottery")).await.unwrap();
    // Released by hand only: no chance at a scheduled release, and the page says so.
    let said = wait_for_part(
        &client,
        "status",
        "You are in the draw",
        Duration::from_secs(10),
    )
    .await;
    assert!(
        said.contains("Waiting: 4.") && said.contains(": 0 %"),
        "{said}"
    );
    assert_eq!(text_of(&client, "position").await, "–");
    assert_eq!(text_of(&client, "estimate").await, "Not known yet");

    look_at(&client, "draw-page.png").await;

    app.advance("lottery", 4).await;
    let arrived =
        wait_for_address(&client, &app.url("/demo/admitted"), Duration::from_secs(10)).await;
    let pass = carried_pass(&arrived);
    let verified = app
        .verify(json!({ "token": pass, "event": "lottery" }))
        .await;
    assert_eq!(verified.body["admitted"], true, "{}", verified.body);
    client.close().await.unwrap();
}

/// An event that draws on a schedule: the page says when the next draw is and shows the chance of
/// being drawn in it as its bar.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_draw_page_says_when_the_next_draw_is_and_shows_the_chance() {
    let app = spawn_app(Backend::Memory).await;
    let driver = Daemon::chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path()).await;
    // Two drawn an hour, on the hour; the first release is at once (nobody was released yet).
    app.create_event(
        "hourly",
        json!({
            "target_url": app.url("/demo/admitted"),
            "method": "random",
            "batch_size": 2,
            "release_interval_ms": 3_600_000,
        }),
    )
    .await;
    for _ in 0..3 {
        app.join("hourly").await;
    }
    let released = crate::helpers::eventually(Duration::from_secs(10), || async {
        app.show("hourly").await.admitted_through >= 2
    })
    .await;
    assert!(released.is_some(), "the first release never came");
    for _ in 0..3 {
        app.join("hourly").await;
    }
    // Five wait for the next draw of two: 40 %.
    client.goto(&app.url("/e/hourly")).await.unwrap();
    let said = wait_for_part(&client, "status", ": 40 %", Duration::from_secs(10)).await;
    assert!(said.contains("Waiting: 5."), "{said}");
    let estimate = text_of(&client, "estimate").await;
    assert!(estimate.starts_with("Draw "), "{estimate}");
    assert_eq!(
        text_of(&client, "progress-label").await,
        "Your chance at the next draw"
    );
    let bar = client
        .execute("return document.getElementById('progress').value", vec![])
        .await
        .unwrap();
    assert_eq!(bar, json!(40));
    look_at(&client, "draw-page-scheduled.png").await;
    client.close().await.unwrap();
}

/// Serves `html` to every request on a port of its own: a page of another site than waitroom's.
async fn third_party_site(html: String) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut socket, _)) = listener.accept().await {
            let html = html.clone();
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{html}",
                    html.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    port
}

/// A hostile page (on `localhost`, another site than waitroom's `127.0.0.1`) makes each of its
/// viewers' browsers try to join: by script (30 `no-cors` posts, which need no preflight) and by a
/// form. Not one place is taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_of_another_site_takes_no_places_in_a_real_browser() {
    let app = spawn_app(Backend::Memory).await;
    app.create_event("tour", json!({ "batch_size": 0 })).await;
    let join = app.url("/v1/events/tour/join");
    let evil = third_party_site(format!(
        r#"<!doctype html><html><body><iframe name="sink"></iframe>
<form id="f" method="post" action="{join}" target="sink"></form>
<script>
const posts = [];
for (let i = 0; i < 30; i++) {{
  posts.push(fetch("{join}", {{ method: "POST", mode: "no-cors", credentials: "include" }}).catch(() => null));
}}
Promise.all(posts).then(() => {{ document.getElementById("f").submit(); document.title = "sent"; }});
</script></body></html>"#
    ))
    .await;
    let driver = Daemon::chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path()).await;
    client
        .goto(&format!("http://localhost:{evil}/"))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.title().await.unwrap_or_default() != "sent" && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(client.title().await.unwrap(), "sent", "the page ran");
    // The form's post lands after the title is set.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(
        app.show("tour").await.issued,
        0,
        "no place for a hostile page"
    );

    // The waiting room's own page still joins.
    client.goto(&app.url("/e/tour")).await.unwrap();
    wait_for_text(&client, "position", "1", Duration::from_secs(10)).await;
    assert_eq!(app.show("tour").await.issued, 1);
    client.close().await.unwrap();
}

/// Browsers drop tabs and line breaks from an address (`/<tab>/evil.example/` becomes
/// `//evil.example/`): the hand-over refuses such a `to` rather than sending the visitor off-site.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hand_over_never_leaves_the_site_in_a_real_browser() {
    let app = spawn_app(Backend::Memory).await;
    app.create_event(
        "handover",
        json!({ "target_url": app.url("/v1/events/handover/claim") }),
    )
    .await;
    let (_, pass) = app.admitted_visitor("handover").await;
    let driver = Daemon::chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path()).await;
    let origin = app.url("");
    for to in [
        "%2F%09%2Fevil.example%2F",
        "%2F%0A%2Fevil.example%2F",
        "%2F%0D%0A%2Fevil.example%2F",
        "%2F%5Cevil.example%2F",
        "%5C%2Fevil.example%2F",
        "%2F%2Fevil.example%2F",
        "%09%2F%2Fevil.example%2F",
        "https%3A%2F%2Fevil.example%2F",
    ] {
        let claim = format!("/v1/events/handover/claim?waitroom_pass={pass}&to={to}");
        client.goto(&app.url(&claim)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let at = client.current_url().await.unwrap();
        assert!(
            at.as_str().starts_with(&origin),
            "to={to} sent the browser to {at}"
        );
        let answered = app.send(reqwest::Client::new().get(app.url(&claim))).await;
        answered.assert_problem(400, "invalid-request");
    }
    // A path on the site still works, percent-encoded as the browser would read it.
    let claim =
        format!("/v1/events/handover/claim?waitroom_pass={pass}&to=%2Fdemo%2Fadmitted%3Fx%3D1");
    client.goto(&app.url(&claim)).await.unwrap();
    wait_for_address(
        &client,
        &app.url("/demo/admitted?x=1"),
        Duration::from_secs(5),
    )
    .await;
    client.close().await.unwrap();
}

/// Counts how often `#id`'s text changes from now on (read back with [`changes_of`]).
async fn count_changes(client: &Client, id: &str) {
    client
        .execute(
            "const [id] = arguments; window.__changes = window.__changes || {}; window.__changes[id] = 0;\
             new MutationObserver(() => { window.__changes[id] += 1; })\
               .observe(document.getElementById(id), { childList: true, characterData: true, subtree: true });",
            vec![json!(id)],
        )
        .await
        .unwrap();
}

async fn changes_of(client: &Client, id: &str) -> u64 {
    client
        .execute("return window.__changes[arguments[0]]", vec![json!(id)])
        .await
        .unwrap()
        .as_u64()
        .unwrap()
}

/// A line that moves often is shown as it moves but spoken only when it matters (another tenth of
/// the way, a change of state); after Leave the focus lands on the outcome; before the line opens
/// there is nothing to leave, and the countdown is the only thing that joins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_speaks_only_when_it_matters_and_leaves_no_dead_ends() {
    let app = spawn_app(Backend::Memory).await;
    let driver = Daemon::chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path()).await;
    app.create_event("tour", json!({ "batch_size": 0 })).await;
    for _ in 0..60 {
        app.join("tour").await;
    }
    client.goto(&app.url("/e/tour")).await.unwrap();
    wait_for_text(&client, "position", "61", Duration::from_secs(10)).await;
    wait_for_part(&client, "announcer", "60", Duration::from_secs(5)).await;
    count_changes(&client, "status").await;
    count_changes(&client, "announcer").await;
    // Twelve moves of one: a fifth of the way.
    for moved in 1..=12 {
        app.advance("tour", 1).await;
        wait_for_text(
            &client,
            "ahead",
            &(60 - moved).to_string(),
            Duration::from_secs(5),
        )
        .await;
    }
    let shown = changes_of(&client, "status").await;
    let spoken = changes_of(&client, "announcer").await;
    assert!(
        shown >= 12,
        "the visible status follows every move: {shown}"
    );
    assert!(
        (1..=3).contains(&spoken),
        "spoken {spoken} times for 12 moves (a tenth of the way each time it speaks)"
    );
    // Paused: said at once.
    app.admin(reqwest::Method::POST, "/v1/admin/events/tour/pause", None)
        .await;
    wait_for_part(&client, "announcer", "paused", Duration::from_secs(5)).await;
    look_at(&client, "waiting-page-paused.png").await;
    // Resumed: said at once too, though the line has not moved since.
    app.admin(reqwest::Method::POST, "/v1/admin/events/tour/resume", None)
        .await;
    wait_for_part(&client, "announcer", "ahead of you", Duration::from_secs(5)).await;

    // Leave: the outcome takes the focus.
    click(&client, Locator::Id("leave")).await;
    client.accept_alert().await.unwrap();
    wait_for_part(&client, "gone-text", "left", Duration::from_secs(5)).await;
    let focused = client
        .execute("return document.activeElement.id", vec![])
        .await
        .unwrap();
    assert_eq!(focused, "gone-text");

    // Before the line opens: a countdown and nothing to leave. (An hour and a half away: the
    // countdown says whole hours, and an hour to the second would be 59:59 by the time it shows.)
    let opens = (chrono::Utc::now() + chrono::Duration::minutes(90)).to_rfc3339();
    app.create_event("later", json!({ "opens_at": opens }))
        .await;
    client.goto(&app.url("/e/later")).await.unwrap();
    wait_for_part(&client, "status", ":", Duration::from_secs(10)).await;
    let leave = client.find(Locator::Id("leave")).await.unwrap();
    assert!(
        !leave.is_displayed().await.unwrap(),
        "a Leave before joining"
    );
    assert_eq!(text_of(&client, "estimate").await, "in 1 hour");
    // A sale next week: the day it opens, and a countdown in days.
    let opens = chrono::Utc::now() + chrono::Duration::days(6) + chrono::Duration::hours(1);
    app.create_event("next-week", json!({ "opens_at": opens.to_rfc3339() }))
        .await;
    client.goto(&app.url("/e/next-week")).await.unwrap();
    let said = wait_for_part(&client, "status", "opens", Duration::from_secs(10)).await;
    // English as the browser writes it: "Thursday, December 10 at 10:20 PM".
    let (weekday, date) = (
        opens.format("%A").to_string(),
        opens.format("%B %-d").to_string(),
    );
    assert!(
        said.contains(&weekday) && said.contains(&date),
        "{said} (not naming {weekday}, {date})"
    );
    assert_eq!(text_of(&client, "estimate").await, "in 6 days");
    look_at(&client, "waiting-page-countdown.png").await;
    client.close().await.unwrap();
}

/// A new visitor while Redis is away: the join's 503 is met with a calm message and no button to
/// press, and the page joins by itself once Redis is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_refused_for_an_outage_retries_by_itself() {
    let redis = Daemon::redis();
    let mut config = crate::helpers::config_for(Backend::Redis, "page-outage");
    config.redis_url = Some(redis.redis_url().as_str().into());
    let app = crate::helpers::spawn_config(config).await;
    app.create_event("tour", json!({ "batch_size": 0 })).await;
    app.join("tour").await;
    let driver = Daemon::chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path()).await;

    redis.freeze();
    client.goto(&app.url("/e/tour")).await.unwrap();
    wait_for_part(&client, "status", "tries again", Duration::from_secs(20)).await;
    let rejoin = client.find(Locator::Id("rejoin")).await.unwrap();
    assert!(!rejoin.is_displayed().await.unwrap(), "asked to join again");
    look_at(&client, "waiting-page-outage.png").await;
    redis.thaw();
    // A number: joined (which one depends on the joins Redis runs late, after the freeze).
    let deadline = Instant::now() + Duration::from_secs(30);
    while text_of(&client, "position").await.parse::<u64>().is_err() {
        assert!(Instant::now() < deadline, "never joined after the outage");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!text_of(&client, "status").await.contains("tries again"));
    client.close().await.unwrap();
}

/// The page's script says every sentence with a number exactly as the server does, in every
/// language: Chromium's own `Intl.PluralRules` and `Intl.NumberFormat` (through `@fluent/bundle`,
/// set up as the page sets it up) against the server's ICU4X, on the counts of docs/PAGE.md's table,
/// a number with grouping, and every kind of wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_says_every_counted_sentence_as_the_server_does() {
    use waitroom::i18n::{Catalogue, Rounded, COUNTED, LANGUAGES};

    const SAY: &str = "const [lang, messages, cases] = arguments;
        const { FluentBundle, FluentResource } = window.FluentBundle;
        const bundle = new FluentBundle(lang, { useIsolating: false });
        bundle.addResource(new FluentResource(messages));
        return cases.map(([key, args]) => bundle.formatPattern(bundle.getMessage(key).value, args));";
    let app = spawn_app(Backend::Memory).await;
    app.create_event("tour", json!({})).await;
    let driver = Daemon::chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path()).await;
    client.goto(&app.url("/e/tour")).await.unwrap();
    for lang in LANGUAGES {
        let words = Catalogue::new(lang, None);
        let (mut cases, mut expected) = (vec![], vec![]);
        for (key, variable) in COUNTED {
            for n in [0u64, 1, 2, 3, 11, 100, 1_000_000, 12_345] {
                let mut args = serde_json::Map::new();
                args.insert(variable.into(), n.into());
                args.insert("chance".into(), 6.9.into());
                cases.push(json!([key, args]));
                expected.push(words.text(key, &[(variable, n.into()), ("chance", 6.9.into())]));
            }
        }
        for wait_s in [30, 60, 150, 745, 3_500, 5_400, 9_000, 50_000] {
            let rounded = Rounded::of(wait_s);
            cases.push(json!(["wait", rounded]));
            expected.push(words.wait(rounded));
        }
        let page: serde_json::Value = serde_json::from_str(&words.script_json()).unwrap();
        let said = client
            .execute(
                SAY,
                vec![json!(lang), page["messages"].clone(), json!(cases)],
            )
            .await
            .unwrap();
        let said: Vec<String> = serde_json::from_value(said).unwrap();
        assert_eq!(said.len(), expected.len());
        for ((case, server), browser) in cases.iter().zip(&expected).zip(&said) {
            assert_eq!(browser, server, "{lang} {case}");
        }
    }
    client.close().await.unwrap();
}

/// The first visitor of a paused, empty line has nobody ahead: the page says the line is paused and
/// shows no progress bar (a full one would say "done" to someone still waiting).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_of_a_paused_line_sees_no_finished_bar() {
    let app = spawn_app(Backend::Memory).await;
    app.create_event("quiet", json!({ "state": "paused" }))
        .await;
    let driver = Daemon::chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path()).await;
    client.goto(&app.url("/e/quiet")).await.unwrap();
    wait_for_text(&client, "position", "1", Duration::from_secs(10)).await;
    wait_for_text(
        &client,
        "status",
        "The line is paused for now. You keep your place.",
        Duration::from_secs(5),
    )
    .await;
    let bar = client.find(Locator::Id("progress")).await.unwrap();
    assert!(
        !bar.is_displayed().await.unwrap(),
        "no bar without a way to go"
    );
    look_at(&client, "first-of-a-paused-line.png").await;

    // The pause is given an end (and the line a pace): the page says until when, and shows the
    // wait it makes.
    let until = in_ms(30 * 60_000);
    let announced = app
        .admin(
            reqwest::Method::PUT,
            "/v1/admin/events/quiet",
            Some(json!({ "resumes_at": until, "batch_size": 100 })),
        )
        .await;
    assert_eq!(announced.status.as_u16(), 200, "{}", announced.body);
    wait_for_part(
        &client,
        "status",
        "The line is paused until",
        Duration::from_secs(10),
    )
    .await;
    wait_for_part(&client, "estimate", "30 min", Duration::from_secs(5)).await;
    look_at(&client, "paused-until.png").await;
    let by_hand = json!({ "resumes_at": null, "batch_size": 0 });
    let by_hand = app
        .admin(
            reqwest::Method::PUT,
            "/v1/admin/events/quiet",
            Some(by_hand),
        )
        .await;
    assert_eq!(by_hand.status.as_u16(), 200, "{}", by_hand.body);

    // Someone joins behind and the line resumes: still nobody was ever ahead, still no bar.
    app.join("quiet").await;
    app.admin(reqwest::Method::POST, "/v1/admin/events/quiet/resume", None)
        .await;
    wait_for_text(
        &client,
        "status",
        "You are next. It is almost your turn.",
        Duration::from_secs(5),
    )
    .await;
    let bar = client.find(Locator::Id("progress")).await.unwrap();
    assert!(!bar.is_displayed().await.unwrap());
    client.close().await.unwrap();
}

/// An event for the site's signed-in users only: a visitor who comes on their own is told so (with
/// nothing to press that would fail); the booking site joins its user and sends the browser to the
/// page with the token in the address's fragment, which the page keeps and takes out of the
/// address, and the place stays theirs across a reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_booking_site_hands_its_users_place_to_their_browser() {
    let app = spawn_app(Backend::Memory).await;
    app.create_event("members", json!({ "anonymous_joins": false }))
        .await;
    app.join("members")
        .await
        .assert_problem(403, "known-visitors-only");
    let driver = Daemon::chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path()).await;
    client.goto(&app.url("/e/members")).await.unwrap();
    turned_away(
        &client,
        "signed-in visitors only",
        "known-visitors-only.png",
    )
    .await;
    // The page without script says the same.
    assert!(app
        .page_text("/e/members?nojs=1")
        .await
        .contains("signed-in visitors only"));

    let joined = app
        .admin(
            reqwest::Method::POST,
            "/v1/admin/events/members/join",
            Some(json!({ "visitor": "user-7" })),
        )
        .await;
    // Sent from the site (a new page load: the same page with another fragment would not be one).
    client.goto("about:blank").await.unwrap();
    client
        .goto(&app.url(&format!("/e/members#token={}", joined.token())))
        .await
        .unwrap();
    wait_for_text(&client, "position", "1", Duration::from_secs(10)).await;
    let address = client.current_url().await.unwrap();
    assert_eq!(address.fragment(), None, "the token is out of the address");
    client.refresh().await.unwrap();
    wait_for_text(&client, "position", "1", Duration::from_secs(10)).await;
    assert_eq!(app.show("members").await.issued, 1);
    client.close().await.unwrap();
}

/// An invite-only event in the browser: the invitation's link (`/e/<event>?code=…`) joins with the
/// code and takes it out of the address; a visitor without one is told so and offered a field for
/// the code they were sent, which says so when the code was used already and joins with a good
/// one. The page without script does the same with its form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitations_code_gets_its_holder_a_place() {
    const INVITATION_SECRET: &str = "the-booking-sites-invitation-secret-0123456789";
    let mut config = crate::helpers::base_config();
    config.invitation_secret = Some(INVITATION_SECRET.into());
    let app = crate::helpers::spawn_config(config).await;
    app.create_event("vip", json!({ "invite_only": true }))
        .await;
    let codes = app.api.issue_codes("vip", 3).await.unwrap();
    let driver = Daemon::chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path()).await;
    client
        .goto(&app.url(&format!("/e/vip?code={}", codes[0])))
        .await
        .unwrap();
    wait_for_text(&client, "position", "1", Duration::from_secs(10)).await;
    let address = client.current_url().await.unwrap();
    assert_eq!(address.query(), None, "the code is out of the address");
    client.refresh().await.unwrap();
    wait_for_text(&client, "position", "1", Duration::from_secs(10)).await;

    let other = tempfile::tempdir().unwrap();
    let client = browser(&driver, other.path()).await;
    client.goto(&app.url("/e/vip")).await.unwrap();
    turned_away(&client, "by invitation", "invite-only.png").await;
    let field = client.find(Locator::Id("code")).await.unwrap();
    assert!(field.is_displayed().await.unwrap(), "a field for the code");
    field.send_keys(&codes[0]).await.unwrap();
    click(&client, Locator::Css("#code-form button")).await;
    wait_for_part(
        &client,
        "gone-text",
        "used already",
        Duration::from_secs(10),
    )
    .await;
    look_at(&client, "invite-only-used-code.png").await;
    let field = client.find(Locator::Id("code")).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(&codes[1].to_lowercase()).await.unwrap();
    click(&client, Locator::Css("#code-form button")).await;
    wait_for_text(&client, "position", "2", Duration::from_secs(10)).await;
    client.close().await.unwrap();

    // The booking site's signed invitation, in the address's fragment.
    let invited = tempfile::tempdir().unwrap();
    let client = browser(&driver, invited.path()).await;
    let claims =
        json!({ "aud": "vip", "sub": "user-7", "exp": chrono::Utc::now().timestamp() + 300 });
    let key = jsonwebtoken::EncodingKey::from_secret(INVITATION_SECRET.as_bytes());
    let invitation = jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap();
    client
        .goto(&app.url(&format!("/e/vip#code={invitation}")))
        .await
        .unwrap();
    wait_for_text(&client, "position", "3", Duration::from_secs(10)).await;
    let address = client.current_url().await.unwrap();
    assert_eq!(
        address.fragment(),
        None,
        "the invitation is out of the address"
    );
    client.close().await.unwrap();

    // Without script: told, offered the form, placed by a good code.
    let page = app.page_text("/e/vip?nojs=1").await;
    assert!(
        page.contains("by invitation") && page.contains("name=\"code\""),
        "{page}"
    );
    let page = app
        .page_text(&format!("/e/vip?nojs=1&code={}", codes[2]))
        .await;
    assert!(page.contains("id=\"position\">4<"), "{page}");
    assert_eq!(app.show("vip").await.issued, 4);
}

/// The page renews its token halfway through what is left of its life, so a short-lived token
/// (60 s) never runs out while the visitor waits; a busy answer to a renewal (429 here: one join per
/// 30 s from this address) changes nothing on the page, and the next try, sooner, renews it. The
/// place stays the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_renews_a_short_lived_token_before_it_runs_out() {
    let app = spawn_app(Backend::Memory).await;
    app.create_event(
        "short",
        json!({ "token_ttl_s": 60, "batch_size": 0,
                "rate_limits": { "joins_per_minute": 2, "join_burst": 1, "checks_per_second": 50, "check_burst": 100 } }),
    )
    .await;
    let driver = Daemon::chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path()).await;
    client.goto(&app.url("/e/short")).await.unwrap();
    wait_for_text(&client, "position", "1", Duration::from_secs(10)).await;
    let stored = || async {
        client
            .execute("return localStorage.getItem('waitroom:short');", vec![])
            .await
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned()
    };
    let first = stored().await;
    let deadline = Instant::now() + Duration::from_secs(58);
    let renewed = loop {
        let now = stored().await;
        if now != first {
            break now;
        }
        assert!(
            Instant::now() < deadline,
            "the token was not renewed in time"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let (before, after) = (claims(&first), claims(&renewed));
    assert_eq!(before["pos"], after["pos"], "the same place");
    assert!(after["exp"].as_i64() > before["exp"].as_i64());
    assert_eq!(text_of(&client, "position").await, "1");
    assert_eq!(app.show("short").await.issued, 1);
    client.close().await.unwrap();
}

/// An event that asks for proof of work: the page says work is going on, solves the challenge in a
/// Web Worker with ALTCHA's solver, joins with the solution and waits like any other; a reload keeps
/// the place without new work. The page without script says it needs script.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_does_the_challenges_work_and_joins() {
    let app = spawn_app(Backend::Memory).await;
    app.create_event("pow", json!({ "challenge_cost": 200 }))
        .await;
    let driver = Daemon::chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path()).await;
    client.goto(&app.url("/e/pow")).await.unwrap();
    wait_for_text(&client, "position", "1", Duration::from_secs(30)).await;
    look_at(&client, "challenge-solved.png").await;
    client.refresh().await.unwrap();
    wait_for_text(&client, "position", "1", Duration::from_secs(10)).await;
    assert_eq!(app.show("pow").await.issued, 1);
    client.close().await.unwrap();
    assert!(app
        .page_text("/e/pow?nojs=1")
        .await
        .contains("which needs JavaScript"));
}

/// What a challenge costs a visitor's browser at each cost level: the page's own worker (ALTCHA's
/// solver with WebCrypto's PBKDF2) solving fresh challenges in this machine's Chromium. A
/// measurement for docs/BENCHMARKS.md, not run by the suite:
/// `cargo test --test api challenge_costs_in_chromium -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn challenge_costs_in_chromium() {
    let app = spawn_app(Backend::Memory).await;
    let driver = Daemon::chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path()).await;
    client.goto(&app.url("/assets/waitroom.css")).await.unwrap();
    for cost in [1, 10, 100, 1_000, 10_000] {
        let event = format!("cost-{cost}");
        app.create_event(&event, json!({ "challenge_cost": cost }))
            .await;
        let solves = if cost >= 10_000 { 2 } else { 5 };
        let measured = client
            .execute_async(
                "const [event, solves, done] = arguments;
                 (async () => {
                   const times = [];
                   for (let i = 0; i < solves; i++) {
                     const answer = await fetch(`/v1/events/${event}/join`, { method: 'POST' });
                     const { challenge } = await answer.json();
                     const started = performance.now();
                     const solution = await new Promise((resolve) => {
                       const worker = new Worker('/assets/altcha-worker.js', { type: 'module' });
                       worker.onmessage = (m) => { worker.terminate(); resolve(m.data); };
                       worker.postMessage({ type: 'work', challenge, counterStart: 0, counterStep: 1, timeout: 0 });
                     });
                     if (!solution || !solution.derivedKey) return done(null);
                     times.push(performance.now() - started);
                   }
                   done(times.reduce((a, b) => a + b, 0) / times.length);
                 })();",
                vec![json!(event), json!(solves)],
            )
            .await
            .unwrap();
        let ms = measured.as_f64().expect("solved");
        println!("| {cost} | {ms:.0} ms | {solves} solutions |");
    }
    client.close().await.unwrap();
}

/// A line slower than a person a minute says its pace in people an hour (it said "about 0 people a
/// minute"), in the visitor's language.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_line_says_its_pace_by_the_hour() {
    let app = spawn_app(Backend::Memory).await;
    app.create_event(
        "slow",
        json!({ "batch_size": 3, "release_interval_ms": 3_600_000 }),
    )
    .await;
    app.join("slow").await;
    let driver = Daemon::chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path()).await;
    client.goto(&app.url("/e/slow")).await.unwrap();
    wait_for_part(
        &client,
        "basis",
        "Based on the release schedule (3 people an hour)",
        Duration::from_secs(10),
    )
    .await;
    client.close().await.unwrap();
}

/// The progress bar moves smoothly, unless the visitor asked their system for less motion: then a
/// rule of the page's style sheet that the browser finds in force takes the bar's transition away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bar_moves_without_animation_for_those_who_ask_for_less_motion() {
    let app = spawn_app(Backend::Memory).await;
    app.create_event("tour", json!({})).await;
    app.join("tour").await;
    let driver = Daemon::chromedriver();
    // The bar's transitions set by the media rules the browser holds in force now.
    let in_force = |client: Client| {
        let url = app.url("/e/tour");
        async move {
            client.goto(&url).await.unwrap();
            wait_for_part(&client, "status", "ahead of you", Duration::from_secs(10)).await;
            let found = client
                .execute(
                    "return [...document.styleSheets]
                        .flatMap((sheet) => [...sheet.cssRules])
                        .filter((rule) => rule instanceof CSSMediaRule && matchMedia(rule.conditionText).matches)
                        .flatMap((rule) => [...rule.cssRules])
                        .filter((rule) => (rule.selectorText || '').includes('progress-value'))
                        .map((rule) => rule.style.transition);",
                    vec![],
                )
                .await
                .unwrap();
            client.close().await.unwrap();
            found
        }
    };
    let profile = tempfile::tempdir().unwrap();
    let usual = in_force(browser(&driver, profile.path()).await).await;
    assert_eq!(usual, json!([]), "the usual bar keeps its transition");
    let profile = tempfile::tempdir().unwrap();
    let calm = browser_with(&driver, profile.path(), &["--force-prefers-reduced-motion"]).await;
    assert_eq!(in_force(calm).await, json!(["none"]));
}

/// A `waitroom simulate` report opened from disk, offline: every chart is drawn, at phone width
/// too, and axe-core finds nothing wrong with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulation_report_draws_its_charts_offline() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("sale.html");
    let made = std::process::Command::new(env!("CARGO_BIN_EXE_waitroom"))
        .args([
            "simulate",
            "--arrivals",
            "spike:20000@1m,steady:300/min@20m",
            "--settings",
            r#"{"batch_size": 500, "release_interval_ms": 30000}"#,
            "--compare",
            r#"{"batch_size": 800}"#,
            "--leave-per-min",
            "0.01",
            "--report",
        ])
        .arg(&report)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let driver = Daemon::chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let client = browser_with(&driver, profile.path(), &["--window-size=1200,2400"]).await;
    client
        .goto(&format!("file://{}", report.display()))
        .await
        .unwrap();
    let drawn = || async {
        client
            .execute(
                "return [...document.querySelectorAll('.chart')].map((c) => c.querySelectorAll('.uplot canvas').length);",
                vec![],
            )
            .await
            .unwrap()
    };
    assert_eq!(drawn().await, json!([1, 1, 1]));
    look_at(&client, "simulation-report.png").await;
    client.set_window_size(375, 812).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        drawn().await,
        json!([1, 1, 1]),
        "drawn again at phone width"
    );
    let widest: f64 = client
        .execute("return Math.max(...[...document.querySelectorAll('.uplot')].map((u) => u.getBoundingClientRect().right));", vec![])
        .await
        .unwrap()
        .as_f64()
        .unwrap();
    assert!(
        widest <= 375.0,
        "a chart overflows the phone's width: {widest}"
    );
    look_at(&client, "simulation-report-phone.png").await;
}

/// Fills in the console's sign-in form and sends it.
async fn sign_in_as(client: &Client, name: &str, token: &str) {
    for (field, value) in [("name", name), ("token", token)] {
        let input = client.find(Locator::Id(field)).await.unwrap();
        input.send_keys(value).await.unwrap();
    }
    click(client, Locator::Css("button[type=submit]")).await;
}

/// The text of the console's confirmation, once it shows.
async fn confirmation(client: &Client) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let open = client
            .execute("return document.getElementById('confirm').open;", vec![])
            .await
            .unwrap();
        if open == json!(true) {
            // The what-if is asked before the dialog opens: both texts are there.
            return format!(
                "{} {}",
                text_of(client, "confirm-text").await,
                text_of(client, "confirm-what-if").await
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "no confirmation showed (the page says {:?})",
        text_of(client, "message").await
    );
}

/// The operator console on the internal listener: signing in, a chart that moves as people join,
/// pause, let in and a settings change each confirmed with what it does (the what-if included),
/// a change without the session's CSRF token refused, signing out; nothing of it on the public
/// port; axe-clean and usable at 375 px.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_charts_an_event_live_and_controls_it() {
    let mut config = crate::helpers::config_for(Backend::Memory, "unused");
    config.internal_listen = Some(([127, 0, 0, 1], 0).into());
    let (public, internal) = crate::helpers::spawn_split(config).await;
    internal.create_event("tour", json!({})).await;
    for path in [
        "/console",
        "/console/events/tour",
        "/v1/admin/events/tour/feed",
    ] {
        let answer = public.client.get(public.url(path)).send().await.unwrap();
        assert_eq!(answer.status().as_u16(), 404, "{path} on the public port");
    }

    let driver = Daemon::chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path()).await;
    client.goto(&internal.url("/console")).await.unwrap();
    look_at(&client, "console-sign-in.png").await;
    sign_in_as(&client, "Ana", "wrong-token-0123456789").await;
    let told = crate::helpers::eventually(Duration::from_secs(10), || async {
        client
            .source()
            .await
            .unwrap()
            .contains("not the admin token")
    })
    .await;
    assert!(told.is_some(), "{}", client.source().await.unwrap());
    sign_in_as(&client, "Ana", crate::helpers::ADMIN_TOKEN).await;
    let listed = crate::helpers::eventually(Duration::from_secs(10), || async {
        client.find(Locator::LinkText("tour")).await.is_ok()
    })
    .await;
    assert!(listed.is_some(), "signed in, the event listed");
    click(&client, Locator::LinkText("tour")).await;
    wait_for_text(&client, "waiting", "0", Duration::from_secs(10)).await;

    for _ in 0..3 {
        assert_eq!(public.join("tour").await.status.as_u16(), 201);
    }
    wait_for_text(&client, "waiting", "3", Duration::from_secs(10)).await;
    let charted = client
        .execute(
            "const data = window.consoleCharts['chart-waiting'].data; return data[1][data[1].length - 1];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(charted, json!(3), "the chart moved with the joins");
    let drawn = client
        .execute(
            "return [...document.querySelectorAll('.chart')].map((c) => c.querySelectorAll('.uplot canvas').length);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(drawn, json!([1, 1, 1, 1]));
    client.set_window_size(375, 812).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let widest: f64 = client
        .execute("return document.documentElement.scrollWidth;", vec![])
        .await
        .unwrap()
        .as_f64()
        .unwrap();
    assert!(widest <= 375.0, "the console overflows a phone: {widest}");
    look_at(&client, "console-event.png").await;

    click(&client, Locator::Id("pause")).await;
    let asked = confirmation(&client).await;
    assert!(
        asked.contains("Pauses tour") && asked.contains("3 waiting"),
        "{asked}"
    );
    look_at(&client, "console-confirm.png").await;
    click(&client, Locator::Id("confirm-ok")).await;
    wait_for_text(&client, "message", "Paused.", Duration::from_secs(10)).await;
    assert_eq!(
        internal.show("tour").await.settings.state.to_string(),
        "paused"
    );
    click(&client, Locator::Id("resume")).await;
    confirmation(&client).await;
    click(&client, Locator::Id("confirm-ok")).await;
    wait_for_text(&client, "message", "Resumed.", Duration::from_secs(10)).await;

    let by = client.find(Locator::Id("advance-by")).await.unwrap();
    by.clear().await.unwrap();
    by.send_keys("2").await.unwrap();
    click(&client, Locator::Css("#advance button")).await;
    let asked = confirmation(&client).await;
    assert!(asked.contains("Admits 2 people now."), "{asked}");
    click(&client, Locator::Id("confirm-ok")).await;
    wait_for_text(&client, "message", "Let 2 in.", Duration::from_secs(10)).await;
    assert_eq!(internal.show("tour").await.admitted_through, 2);

    let batch = client.find(Locator::Id("batch-size")).await.unwrap();
    batch.clear().await.unwrap();
    batch.send_keys("5").await.unwrap();
    click(&client, Locator::Css("#settings button")).await;
    let asked = confirmation(&client).await;
    assert!(asked.contains("Releases 5 every"), "{asked}");
    assert!(
        asked.contains("The 1 waiting now are all in"),
        "the what-if: {asked}"
    );
    // Cancelled: nothing changes.
    click(&client, Locator::Id("confirm-cancel")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(internal.show("tour").await.settings.release.batch_size, 0);
    click(&client, Locator::Css("#settings button")).await;
    confirmation(&client).await;
    click(&client, Locator::Id("confirm-ok")).await;
    wait_for_text(&client, "message", "Changed.", Duration::from_secs(10)).await;
    assert_eq!(internal.show("tour").await.settings.release.batch_size, 5);

    // A closing time a day ahead, written as a person would: a wall-clock time and its zone.
    let closes = (chrono::Utc::now() + chrono::Duration::days(1))
        .format("%Y-%m-%d %H:%M UTC")
        .to_string();
    // And a break of an hour before it, which the waits will count.
    let in_hours = |hours: i64| {
        (chrono::Utc::now() + chrono::Duration::hours(hours))
            .format("%Y-%m-%d %H:%M UTC")
            .to_string()
    };
    let (pauses, resumes) = (in_hours(2), in_hours(3));
    for (id, at) in [
        ("closes-at", &closes),
        ("pauses-at", &pauses),
        ("resumes-at", &resumes),
    ] {
        let field = client.find(Locator::Id(id)).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(at).await.unwrap();
    }
    click(&client, Locator::Css("#schedule button")).await;
    let asked = confirmation(&client).await;
    assert!(asked.contains(&format!("closes at {closes}")), "{asked}");
    assert!(
        asked.contains(&format!("pauses at {pauses} until {resumes}")),
        "{asked}"
    );
    click(&client, Locator::Id("confirm-ok")).await;
    wait_for_text(&client, "message", "Scheduled.", Duration::from_secs(10)).await;
    let schedule = internal.show("tour").await.settings.schedule;
    let written = |at: Option<chrono::DateTime<chrono::Utc>>| {
        at.map(|at| at.format("%Y-%m-%d %H:%M UTC").to_string())
    };
    assert_eq!(
        (
            written(schedule.closes_at),
            written(schedule.pauses_at),
            written(schedule.resumes_at)
        ),
        (Some(closes), Some(pauses), Some(resumes))
    );

    // The session's cookie alone changes nothing: a change needs its CSRF token.
    let cookie = client
        .get_named_cookie("waitroom_console")
        .await
        .unwrap()
        .value()
        .to_owned();
    for csrf in [None, Some("bm90LXRoZS10b2tlbg")] {
        let mut asked = internal
            .client
            .post(internal.url("/v1/admin/events/tour/pause"))
            .header("cookie", format!("waitroom_console={cookie}"));
        if let Some(csrf) = csrf {
            asked = asked.header("x-csrf-token", csrf);
        }
        let refused = internal.send(asked).await;
        refused.assert_problem(403, "csrf");
    }
    assert_eq!(
        internal.show("tour").await.settings.state.to_string(),
        "open"
    );

    // Released 5 every 10 s now, the scheduler lets the last one in by itself: the page says so
    // before the delete is asked, so its confirmation counts nobody waiting.
    wait_for_text(&client, "waiting", "0", Duration::from_secs(20)).await;
    click(&client, Locator::Id("delete")).await;
    let asked = confirmation(&client).await;
    assert!(
        asked.contains("Deletes tour and all its data: the 0 waiting lose their places"),
        "{asked}"
    );
    click(&client, Locator::Id("confirm-ok")).await;
    let listed = crate::helpers::eventually(Duration::from_secs(10), || async {
        client.source().await.unwrap().contains("No events yet")
    })
    .await;
    assert!(listed.is_some(), "back at the list, without the event");
    assert!(internal.api.event("tour").await.is_err(), "deleted");

    click(&client, Locator::Css(".bar button")).await;
    let signed_out = crate::helpers::eventually(Duration::from_secs(10), || async {
        client.find(Locator::Id("token")).await.is_ok()
    })
    .await;
    assert!(signed_out.is_some(), "signed out");
    client
        .goto(&internal.url("/console/events/tour"))
        .await
        .unwrap();
    assert!(
        client.find(Locator::Id("token")).await.is_ok(),
        "no way back in without signing in"
    );
    client.close().await.unwrap();
}
