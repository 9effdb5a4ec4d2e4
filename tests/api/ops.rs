use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{config_for, eventually, spawn_config, Backend, Daemon, ServeProcess};
use crate::on_both_stores;

on_both_stores!(metrics_follow_a_scripted_flow);

/// The value of one sample in a Prometheus text exposition.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        line.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

pub async fn scrape(app: &crate::helpers::TestApp) -> String {
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    response.text().await.unwrap()
}

async fn metrics_follow_a_scripted_flow(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_for(
        backend,
        &format!("t{}", waitroom::domain::random_token_id()),
    );
    config.drain_in_serve = true;
    config.drain_log = waitroom::config::LogTarget::File(dir.path().join("admitted.jsonl"));
    let app = spawn_config(config).await;
    app.create_event("tour", json!({})).await;
    let mut tokens = Vec::new();
    for _ in 0..5 {
        tokens.push(app.join("tour").await.token());
    }
    app.join_with("tour", &tokens[0]).await;
    app.leave("tour", &tokens[1]).await;
    app.advance("tour", 3).await;
    app.status("tour", "not-a-token").await;
    app.status("tour", &format!("{}x", tokens[0])).await;
    let mut stream = app.stream("tour", &tokens[4]).await;
    stream.next(Duration::from_secs(2)).await.expect("a status");
    let drained = eventually(Duration::from_secs(5), || async {
        app.show("tour").await.drained_through == 4
    })
    .await;
    assert!(drained.is_some());

    let text = scrape(&app).await;
    let value =
        |series: &str| sample(&text, series).unwrap_or_else(|| panic!("no {series} in\n{text}"));
    assert_eq!(
        value(r#"waitroom_joins_total{event="tour",lane=""}"#),
        5.0,
        "the refresh drew no number"
    );
    assert_eq!(value(r#"waitroom_issued{event="tour",lane=""}"#), 5.0);
    assert_eq!(
        value(r#"waitroom_admitted_through{event="tour",lane=""}"#),
        4.0
    );
    assert_eq!(value(r#"waitroom_left{event="tour",lane=""}"#), 1.0);
    assert_eq!(value(r#"waitroom_waiting{event="tour",lane=""}"#), 1.0);
    assert_eq!(
        value(r#"waitroom_drain_delivered_total{event="tour",lane=""}"#),
        3.0
    );
    assert_eq!(value(r#"waitroom_drain_lag{event="tour",lane=""}"#), 0.0);
    assert_eq!(value(r#"waitroom_paused{event="tour",lane=""}"#), 0.0);
    assert_eq!(
        value(r#"waitroom_token_rejections_total{reason="malformed"}"#),
        1.0
    );
    assert_eq!(
        value(r#"waitroom_token_rejections_total{reason="bad-signature"}"#),
        1.0
    );
    assert_eq!(
        value(r#"waitroom_store_duration_seconds_count{op="join"}"#),
        5.0
    );
    assert_eq!(value("waitroom_sse_connections"), 1.0);
    assert!(value(r#"waitroom_pointer_age_seconds{event="tour",lane=""}"#) < 5.0);
    assert_eq!(
        value(
            r#"waitroom_request_duration_seconds_count{route="/v1/events/{event}/join",status="201"}"#
        ),
        5.0
    );
    assert_eq!(
        value(
            r#"waitroom_request_duration_seconds_count{route="/v1/events/{event}/status",status="401"}"#
        ),
        2.0
    );
    assert!(!text.contains(&tokens[0]), "no token in the metrics");

    // The stream ends once its visitor is admitted; a gone client is noticed at the next write.
    drop(stream);
    app.advance("tour", 1).await;
    let closed = eventually(Duration::from_secs(5), || async {
        sample(&scrape(&app).await, "waitroom_sse_connections") == Some(0.0)
    })
    .await;
    assert!(closed.is_some(), "a closed stream is no longer counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_says_what_the_store_does_and_requests_carry_an_id() {
    let redis = Daemon::redis();
    let mut config = config_for(Backend::Redis, "ready");
    config.redis_url = Some(redis.redis_url().as_str().into());
    config.ready_stale_after = Duration::from_millis(2_500);
    let app = spawn_config(config).await;
    app.create_event("tour", serde_json::json!({})).await;
    let ready = app.send(app.client.get(app.url("/readyz"))).await;
    assert_eq!(
        (ready.status.as_u16(), ready.body["ready"].as_bool()),
        (200, Some(true))
    );
    assert_eq!(ready.body["degraded"], serde_json::json!([]));

    // Redis at maxmemory with noeviction: every join refused, and readiness says so (status and
    // gate still answer, so the replica stays in the load balancer).
    let mut admin = redis::Client::open(redis.redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let set_maxmemory = |bytes: &'static str| {
        let mut command = redis::cmd("CONFIG");
        command.arg("SET").arg("maxmemory").arg(bytes);
        command
    };
    let _: () = set_maxmemory("1").query_async(&mut admin).await.unwrap();
    app.join("tour")
        .await
        .assert_problem(503, "store-unavailable");
    let full = app.send(app.client.get(app.url("/readyz"))).await;
    assert_eq!(full.status.as_u16(), 200, "{}", full.body);
    assert_eq!(
        full.body["degraded"],
        serde_json::json!(["store-refuses-writes"])
    );
    let error = full.body["checks"]["store_writes_failing"]["error"].to_string();
    assert!(error.contains("OOM"), "{error}");
    let _: () = set_maxmemory("0").query_async(&mut admin).await.unwrap();
    assert_eq!(app.join("tour").await.status.as_u16(), 201);
    let writable = app.send(app.client.get(app.url("/readyz"))).await;
    assert_eq!(writable.body["degraded"], serde_json::json!([]));

    // Redis away: still ready (answers come from the cache), degraded; unready only once this
    // replica's cache has gone stale.
    redis.freeze();
    // Readiness reads a background ping, once a second: it says so within a couple of seconds.
    let said = eventually(Duration::from_secs(4), || async {
        let ready = app.send(app.client.get(app.url("/readyz"))).await;
        ready.body["checks"]["store"] == false
    })
    .await;
    assert!(said.is_some(), "readiness never said the store is away");
    let away = app.send(app.client.get(app.url("/readyz"))).await;
    assert_eq!(away.status.as_u16(), 200, "{}", away.body);
    assert_eq!(away.body["checks"]["store"], false);
    assert_eq!(
        away.body["degraded"],
        serde_json::json!(["store-unreachable"])
    );
    let stale = eventually(Duration::from_secs(6), || async {
        app.client
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
            == 503
    })
    .await;
    assert!(stale.is_some(), "readiness never reflected the stale cache");
    let unready = app.send(app.client.get(app.url("/readyz"))).await;
    unready.assert_problem(503, "not-ready");
    assert_eq!(
        app.send(app.client.get(app.url("/healthz")))
            .await
            .status
            .as_u16(),
        200
    );
    redis.thaw();
    let back = eventually(Duration::from_secs(10), || async {
        app.client
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
            == 200
    })
    .await;
    assert!(back.is_some());

    let given = app
        .send(
            app.client
                .get(app.url("/healthz"))
                .header("x-request-id", "edge-1234-abcd"),
        )
        .await;
    assert_eq!(given.headers["x-request-id"], "edge-1234-abcd");
    let at_the_gate = app
        .send(
            app.client
                .get(app.url("/v1/events/nowhere/gate"))
                .header("x-request-id", "edge-5678"),
        )
        .await;
    at_the_gate.assert_problem(401, "unknown-event");
    assert_eq!(at_the_gate.headers["x-request-id"], "edge-5678");
    let made = app
        .send(
            app.client
                .get(app.url("/healthz"))
                .header("x-request-id", "<script>"),
        )
        .await;
    let id = made.headers["x-request-id"].to_str().unwrap();
    assert!(
        id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "{id}"
    );
}

/// SIGTERM during load: readiness flips first, every request sent until the load balancer reacts is
/// answered, push streams close with a retry hint, and the process exits cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_load_loses_no_request() {
    let mut serve = ServeProcess::start(&[("WAITROOM_SHUTDOWN_DELAY_MS", "1500".to_owned())]).await;
    let app = &serve.app;
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    // Eight clients on one address: the demo's per-client limits would refuse most of them.
    let unlimited =
        waitroom::domain::Patch::default().with("rate_limits", crate::helpers::UNLIMITED);
    app.api.put_event("demo", &unlimited).await.unwrap();
    let visitor = app.join("demo").await;
    let mut stream = app.stream("demo", &visitor.token()).await;
    stream.next(Duration::from_secs(2)).await.expect("a status");

    // Load from a client that keeps sending until the load balancer takes the replica out, which it
    // does once readiness turns false; every request sent until then must be answered in full.
    let routed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let mut load = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let url = app.url("/v1/events/demo/join");
        let routed = routed.clone();
        load.spawn(async move {
            let client = reqwest::Client::new();
            let mut answered = 0u32;
            while routed.load(std::sync::atomic::Ordering::Acquire) {
                let response = client
                    .post(&url)
                    .send()
                    .await
                    .expect("an answer, not a dropped request");
                assert!(response.status().is_success(), "{}", response.status());
                response.bytes().await.expect("a whole answer");
                answered += 1;
            }
            answered
        });
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let signalled = Instant::now();
    serve.terminate();

    // Readiness turns false first, while the service still answers.
    let unready = eventually(Duration::from_millis(1_000), || async {
        app.client
            .get(app.url("/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().as_u16() == 503)
    })
    .await;
    assert!(unready.is_some(), "readiness did not flip");
    routed.store(false, std::sync::atomic::Ordering::Release);
    assert!(
        signalled.elapsed() < Duration::from_millis(1_500),
        "flipped before the listener closed"
    );
    assert_eq!(
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    let mut answered = 0;
    while let Some(result) = load.join_next().await {
        answered += result.expect("no dropped request");
    }
    assert!(answered > 0);

    // The demo line keeps moving until then, so status events may come first.
    let mut told = false;
    while let Some((kind, _)) = stream.next(Duration::from_secs(5)).await {
        if kind == "closing" {
            told = true;
            break;
        }
    }
    assert!(told, "the stream is told to reconnect");

    let status = tokio::task::block_in_place(|| serve.process.wait_exit(Duration::from_secs(15)))
        .expect("it stops");
    assert!(
        status.success(),
        "exit status {status}: {}",
        serve.process.log_text()
    );
    // The listener is closed now.
    assert!(app.client.get(app.url("/healthz")).send().await.is_err());
}

/// JSON logs carry a request id per request and never a token, key or admin secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_request_ids_and_no_secrets() {
    let env = [
        ("WAITROOM_LOG_FORMAT", "json".to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ];
    let mut serve = ServeProcess::start(&env).await;
    let app = &serve.app;
    let token = app.join("demo").await.token();
    let mut stream = app
        .client
        .get(app.url(&format!("/v1/events/demo/stream?token={token}")))
        .send()
        .await
        .unwrap();
    stream.chunk().await.unwrap();
    drop(stream);
    app.status("demo", &token).await;
    app.status("demo", &format!("{token}tampered")).await;
    app.admin(reqwest::Method::GET, "/v1/admin/events", None)
        .await;
    // A flood of refusals is logged a few lines a second; a later line counts the rest.
    let flood = 300;
    for _ in 0..flood {
        app.send(app.client.get(app.url("/v1/events/demo/status")))
            .await;
    }
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    app.send(app.client.get(app.url("/v1/events/demo/status")))
        .await;
    serve.terminate();
    tokio::task::block_in_place(|| serve.process.wait_exit(Duration::from_secs(15)))
        .expect("it stops");
    let logs = serve.process.log_text();
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    let refused = lines
        .iter()
        .find(|l| l["fields"]["message"] == "request refused")
        .expect("the refused status request is logged");
    assert_eq!(refused["fields"]["route"], "/v1/events/{event}/status");
    assert_eq!(refused["fields"]["status"], 401);
    assert!(
        refused["fields"]["request_id"]
            .as_str()
            .is_some_and(|id| id.len() == 16),
        "{refused}"
    );
    let refusals: Vec<_> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "request refused")
        .collect();
    let skipped: u64 = refusals
        .iter()
        .map(|l| l["fields"]["skipped"].as_u64().unwrap_or(0))
        .sum();
    assert!(
        refusals.len() < flood / 2,
        "{} lines for {flood} refusals",
        refusals.len()
    );
    assert_eq!(
        refusals.len() as u64 + skipped,
        flood as u64 + 2,
        "every refusal logged or counted"
    );
    for secret in [
        token.as_str(),
        crate::helpers::ADMIN_TOKEN,
        crate::helpers::KEY_B64,
    ] {
        assert!(!logs.contains(secret), "a secret reached the logs");
    }
}

/// With an internal listener, the admin API, metrics and the booking service's calls are answered
/// there only: whatever faces the internet (an Ingress, an edge) cannot reach them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_internal_listener_keeps_admin_metrics_and_service_calls_inside() {
    let mut config = config_for(Backend::Memory, "unused");
    config.internal_listen = Some(([127, 0, 0, 1], 0).into());
    let (public, internal) = crate::helpers::spawn_split(config).await;
    internal.create_event("tour", json!({})).await;
    let visitor = public.join("tour").await;
    assert_eq!(visitor.status.as_u16(), 201);

    for (method, path) in [
        (reqwest::Method::GET, "/v1/admin/events"),
        (reqwest::Method::POST, "/v1/admin/events/tour/advance"),
        (reqwest::Method::GET, "/metrics"),
        (reqwest::Method::POST, "/v1/passes/consume"),
        (reqwest::Method::POST, "/v1/events/tour/complete"),
    ] {
        public
            .admin(method.clone(), path, Some(json!({ "by": 1 })))
            .await
            .assert_problem(404, "not-found");
        let inside = internal.admin(method, path, Some(json!({ "by": 1 }))).await;
        assert_ne!(
            inside.status.as_u16(),
            404,
            "{path} inside: {}",
            inside.body
        );
    }
    for path in ["/healthz", "/readyz"] {
        let answer = public.send(public.client.get(public.url(path))).await;
        assert_eq!(answer.status.as_u16(), 200, "{path} outside");
        let answer = internal.send(internal.client.get(internal.url(path))).await;
        assert_eq!(answer.status.as_u16(), 200, "{path} inside");
    }
    // The visitor's routes are the public side's alone.
    internal.join("tour").await.assert_problem(404, "not-found");
    assert_eq!(
        public.status("tour", &visitor.token()).await.body["status"],
        "admitted"
    );
}

/// A replica with many events answers a scrape with per-event series for the busiest few only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_event_series_are_bounded_to_the_busiest_events() {
    let mut config = config_for(Backend::Memory, "unused");
    config.metrics_events = 2;
    let app = spawn_config(config).await;
    for (event, waiting) in [("quiet", 0), ("few", 1), ("busy", 3), ("busier", 5)] {
        app.create_event(event, json!({"batch_size": 0})).await;
        for _ in 0..waiting {
            app.join(event).await;
        }
    }
    let text = scrape(&app).await;
    assert_eq!(sample(&text, "waitroom_events"), Some(4.0));
    assert_eq!(sample(&text, "waitroom_events_unlisted"), Some(2.0));
    assert_eq!(
        sample(&text, r#"waitroom_waiting{event="busier",lane=""}"#),
        Some(5.0)
    );
    assert_eq!(
        sample(&text, r#"waitroom_waiting{event="busy",lane=""}"#),
        Some(3.0)
    );
    for unlisted in ["few", "quiet"] {
        for gauge in [
            "waitroom_waiting",
            "waitroom_issued",
            "waitroom_admitted_through",
        ] {
            let series = format!(r#"{gauge}{{event="{unlisted}"}}"#);
            assert!(!text.contains(&series), "{series} is there");
        }
    }
    // Once the quiet event is the busiest, it takes a place in the series.
    for _ in 0..9 {
        app.join("quiet").await;
    }
    let text = scrape(&app).await;
    assert_eq!(
        sample(&text, r#"waitroom_waiting{event="quiet",lane=""}"#),
        Some(9.0)
    );
    assert!(!text.contains(r#"waitroom_waiting{event="busy",lane=""}"#));
}

/// A real Prometheus scrapes a real `waitroom serve` every second and evaluates the chart's rules:
/// when Redis loses an event's line in place, the data-loss alert fires within seconds, and the
/// release alert stays quiet (the event is released by hand).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_fires_the_data_loss_alert_from_a_real_scrape() {
    let prefix = format!("t{}", waitroom::domain::random_token_id());
    let serve = ServeProcess::start(&[
        ("WAITROOM_REDIS_URL", crate::helpers::shared_redis_url()),
        ("WAITROOM_REDIS_PREFIX", prefix.clone()),
        ("WAITROOM_POINTER_POLL_MS", "100".into()),
        ("WAITROOM_RESYNC_SWEEP_S", "1".into()),
    ])
    .await;
    let app = &serve.app;
    app.create_event("tour", json!({ "batch_size": 0 })).await;
    for _ in 0..3 {
        app.join("tour").await;
    }

    let dir = tempfile::tempdir().unwrap();
    let rules = crate::helm::alert_rules_in(dir.path());
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{ scrape_interval: 1s, evaluation_interval: 1s }}\n\
             rule_files: [{rules}]\n\
             scrape_configs:\n  - job_name: waitroom\n    static_configs:\n      - targets: ['{target}']\n",
            rules = rules.display(),
            target = serve.process.address(),
        ),
    )
    .unwrap();
    let prometheus = Daemon::spawn(
        "prometheus",
        &format!(
            "--config.file={} --storage.tsdb.path={} --web.listen-address=127.0.0.1:{{port}}",
            config.display(),
            dir.path().join("data").display()
        ),
        &[],
        Some(dir.path().join("prometheus.log")),
    );
    let api = format!("http://{}/api/v1", prometheus.address());
    let client = reqwest::Client::new();
    let query = |expr: &'static str| {
        let (client, api) = (client.clone(), api.clone());
        async move {
            let url =
                url::Url::parse_with_params(&format!("{api}/query"), [("query", expr)]).ok()?;
            let answer: serde_json::Value = client.get(url).send().await.ok()?.json().await.ok()?;
            answer["data"]["result"].as_array().cloned()
        }
    };
    // Scraped, with the event's loss counter at 0, before anything is lost.
    let scraped = eventually(Duration::from_secs(20), || async {
        query(r#"waitroom_store_data_losses_total{event="tour"}"#)
            .await
            .is_some_and(|found| found.len() == 1)
    })
    .await;
    assert!(scraped.is_some(), "{}", prometheus.log_text());
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Redis loses the line in place; the next join finds out, and the replica restores it.
    let key = |name: &str| format!("{prefix}:{{tour}}:{name}");
    let _: () = redis::pipe()
        .del(key("issued"))
        .del(key("line"))
        .query_async(&mut crate::helpers::raw_redis(Backend::Redis).await)
        .await
        .unwrap();
    app.join("tour").await;

    let alerts = || async {
        let answer: serde_json::Value = client
            .get(format!("{api}/alerts"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        answer["data"]["alerts"].as_array().cloned()
    };
    let fired = eventually(Duration::from_secs(30), || async {
        alerts().await.is_some_and(|alerts| {
            alerts.iter().any(|alert| {
                alert["labels"]["alertname"] == "WaitroomStoreDataLoss"
                    && alert["labels"]["event"] == "tour"
                    && alert["state"] == "firing"
            })
        })
    })
    .await;
    assert!(
        fired.is_some(),
        "alerts: {:?}\nwaitroom: {}",
        alerts().await,
        serve.process.log_text()
    );
    let all = alerts().await.unwrap_or_default();
    assert!(
        all.iter()
            .all(|alert| alert["labels"]["alertname"] != "WaitroomReleaseStalled"),
        "{all:?}"
    );
}
