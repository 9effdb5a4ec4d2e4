use std::time::Duration;

use serde_json::json;

use crate::helpers::{config_for, spawn_config, Backend, Daemon, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_going_away_degrades_but_loses_nothing() {
    let redis = Daemon::redis();
    let mut config = config_for(Backend::Redis, "outage");
    config.redis_url = Some(redis.redis_url().as_str().into());
    let app = spawn_config(config).await;
    an_outage_degrades_but_loses_nothing(&app, || redis.freeze(), || redis.thaw()).await;
}

/// Redis goes away (`away`) under `app` and comes back (`back`): status and gate answer from the
/// cache meanwhile, joins are refused clearly, and nobody loses their place.
pub async fn an_outage_degrades_but_loses_nothing(
    app: &TestApp,
    away: impl FnOnce(),
    back: impl FnOnce(),
) {
    app.create_event("tour", json!({})).await;
    let first = app.join("tour").await;
    let second = app.join("tour").await;
    app.advance("tour", 1).await;
    // The first collects the pass before the outage: the store decided their claim.
    let collected = app.status("tour", &first.token()).await;
    assert!(collected.body["pass"].is_string(), "{}", collected.body);

    away();
    // Status and gate answer from the cached pointer, without Redis.
    let waiting = app.status("tour", &second.token()).await;
    assert_eq!(
        (waiting.status.as_u16(), waiting.body["status"].as_str()),
        (200, Some("waiting"))
    );
    assert_eq!(app.gate("tour", &first.token()).await.status.as_u16(), 204);
    // An admitted visitor whose claim this replica knows still gets the pass.
    let admitted = app.status("tour", &first.token()).await;
    assert_eq!(admitted.body["status"], "admitted", "{}", admitted.body);
    assert!(admitted.body["pass"].is_string());

    // Joining needs Redis: a clear 503 with Retry-After, not a hang or a 500.
    let refused = app.join("tour").await;
    refused.assert_problem(503, "store-unavailable");
    assert_eq!(refused.headers["retry-after"], "2");

    back();
    let back = crate::helpers::eventually(Duration::from_secs(15), || async {
        app.join("tour").await.status.as_u16() == 201
    })
    .await;
    assert!(back.is_some(), "joins work again once Redis is back");
    // Nobody lost their place: the numbers go on after the last one handed out.
    let figures = app.show("tour").await;
    assert_eq!(figures.admitted_through, 1);
    assert!(figures.issued >= 3, "{figures:?}");
    let still = app.status("tour", &second.token()).await;
    assert_eq!(
        (
            still.body["position"].as_u64(),
            still.body["ahead"].as_u64()
        ),
        (Some(2), Some(0))
    );
}

/// A claim the store cannot decide: on an event that holds (the default), a late no-show asking
/// during a Redis outage gets no pass (503 with Retry-After, the gate 401), and once Redis is back
/// the store refuses them as late: never more passes than `max_active`. An event that lets people
/// through hands out a pass for the claim window only, and asks the store again after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_the_store_cannot_decide_gives_no_pass_beyond_capacity() {
    let redis = Daemon::redis();
    let mut config = config_for(Backend::Redis, "claims");
    config.redis_url = Some(redis.redis_url().as_str().into());
    let app = spawn_config(config).await;
    // Released by the scheduler, which keeps to the capacity (an admin's advance may exceed it).
    let held = json!({ "max_active": 1, "claim_window_s": 5, "batch_size": 0, "release_interval_ms": 500 });
    app.create_event("cap", held).await;
    let late = app.join("cap").await;
    let next = app.join("cap").await;
    app.admin(
        reqwest::Method::PUT,
        "/v1/admin/events/cap",
        Some(json!({ "batch_size": 1 })),
    )
    .await;
    let admitted = |through: u64| {
        let app = &app;
        async move {
            crate::helpers::eventually(Duration::from_secs(12), || async {
                app.show("cap").await.admitted_through == through
            })
            .await
            .is_some()
        }
    };
    assert!(admitted(1).await, "the first slot to the first in line");
    assert_eq!(app.show("cap").await.admitted_through, 1, "one slot");
    // The late one lets the claim window pass: the slot goes to the next.
    assert!(admitted(2).await, "the slot freed by the late one");
    let holder = app.status("cap", &next.token()).await;
    assert!(holder.body["pass"].is_string(), "{}", holder.body);

    redis.freeze();
    let refused = app.status("cap", &late.token()).await;
    refused.assert_problem(503, "store-unavailable");
    assert_eq!(refused.headers["retry-after"], "2");
    app.gate("cap", &late.token())
        .await
        .assert_problem(401, "store-unavailable");
    redis.thaw();
    let after = crate::helpers::eventually(Duration::from_secs(15), || async {
        app.status("cap", &late.token()).await.status.as_u16() == 200
    })
    .await;
    assert!(after.is_some(), "status answers again once Redis is back");
    let late_status = app.status("cap", &late.token()).await;
    assert_eq!(
        late_status.body["status"], "expired",
        "{}",
        late_status.body
    );
    assert_eq!(late_status.body["reason"], "claim-window-passed");
    assert!(late_status.body.get("pass").is_none());
    assert_eq!(app.show("cap").await.active, 1, "one pass for one slot");

    // Letting people through: a pass for the claim window only while Redis is away.
    app.create_event(
        "open",
        json!({ "outage": "let-through", "batch_size": 0, "claim_window_s": 5 }),
    )
    .await;
    let visitor = app.join("open").await;
    app.advance("open", 1).await;
    redis.freeze();
    let through = app.status("open", &visitor.token()).await;
    redis.thaw();
    assert_eq!(through.status.as_u16(), 200, "{}", through.body);
    let pass = crate::helpers::claims(through.body["pass"].as_str().expect("a pass"));
    let lifetime = pass["exp"].as_i64().unwrap() - pass["iat"].as_i64().unwrap();
    assert!((1..=5).contains(&lifetime), "a claim window's pass: {pass}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_development_key_is_refused_wherever_it_is_loaded() {
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("keys");
    let mut config = config_for(Backend::Redis, "devkey");
    config.signing_keys.clear();
    config.keys_dir = Some(shipped.clone());
    let refused = waitroom::startup::load_keys(&config).unwrap_err();
    assert!(refused.to_string().contains("development key"), "{refused}");
    config.dev_mode = true;
    assert!(waitroom::startup::load_keys(&config).is_ok());

    // Beside a real key, under another name, and on the embedded store too: a token forged with it
    // would verify, whichever key signs.
    let beside = tempfile::tempdir().unwrap();
    crate::helpers::write_keys(beside.path(), &[]);
    let dev = std::fs::read_to_string(shipped.join("dev.key")).unwrap();
    crate::helpers::write_key_file(beside.path().join("spare.key"), &dev);
    for backend in [Backend::Redis, Backend::Memory] {
        let mut config = config_for(backend, "devkey");
        config.signing_keys.clear();
        config.keys_dir = Some(beside.path().to_owned());
        config.active_key = Some(crate::helpers::KEY_ID.into());
        let refused = waitroom::startup::load_keys(&config).unwrap_err();
        assert!(refused.to_string().contains("development key"), "{refused}");
    }
    // The embedded store needs no key setup at all.
    let mut embedded = config_for(Backend::Memory, "devkey");
    embedded.signing_keys.clear();
    assert!(waitroom::startup::load_keys(&embedded)
        .unwrap()
        .is_ephemeral());
}

/// A key file others may read, or its group change, is refused as ssh refuses one: the process
/// does not start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_files_open_to_other_users_are_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    crate::helpers::write_keys(dir.path(), &[]);
    let mut config = config_for(Backend::Redis, "keymode");
    config.signing_keys.clear();
    config.keys_dir = Some(dir.path().to_owned());
    assert!(waitroom::startup::load_keys(&config).is_ok());
    let key = dir.path().join(format!("{}.key", crate::helpers::KEY_ID));
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let refused = waitroom::startup::load_keys(&config)
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("mode 644") && refused.contains("chmod 600"),
        "{refused}"
    );
    for changeable in [0o660, 0o620, 0o602] {
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(changeable)).unwrap();
        let refused = waitroom::startup::load_keys(&config)
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains(&format!("mode {changeable:o}")),
            "{refused}"
        );
    }
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
    assert!(
        waitroom::startup::load_keys(&config).is_ok(),
        "group-readable is allowed"
    );
    // A directory anyone may add a key file to, sticky or not (like /tmp), is refused too.
    for open in [0o777, 0o1777, 0o773] {
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(open)).unwrap();
        let refused = waitroom::startup::load_keys(&config)
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains("key directory") && refused.contains(&format!("mode {open:o}")),
            "{refused}"
        );
    }
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o750)).unwrap();
    assert!(waitroom::startup::load_keys(&config).is_ok());
}

/// A Redis that would evict keys or lose a restart's worth of changes is named at start, with what
/// to set; one set up as the README says is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_warns_at_start_of_a_redis_that_evicts_or_keeps_no_aof() {
    let redis = Daemon::redis();
    let mut admin = redis::Client::open(redis.redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let set = |key: &str, value: &str| {
        let mut cmd = redis::cmd("CONFIG");
        cmd.arg("SET").arg(key).arg(value);
        cmd
    };
    let _: () = set("maxmemory-policy", "allkeys-lru")
        .query_async(&mut admin)
        .await
        .unwrap();
    let env = [
        ("WAITROOM_REDIS_URL", redis.redis_url()),
        ("RUST_LOG", "info".to_owned()),
    ];
    let risky = crate::helpers::ServeProcess::start(&env).await;
    let log = risky.process.log_text();
    assert!(
        log.contains("(on Redis)"),
        "the banner names the store: {log}"
    );
    assert!(!log.contains("/e/demo"), "no demo line on Redis: {log}");
    assert!(
        log.contains("maxmemory-policy allkeys-lru") && log.contains("noeviction"),
        "{log}"
    );
    assert!(log.contains("appendonly yes"), "{log}");
    drop(risky);

    let _: () = set("maxmemory-policy", "noeviction")
        .query_async(&mut admin)
        .await
        .unwrap();
    let _: () = set("appendonly", "yes")
        .query_async(&mut admin)
        .await
        .unwrap();
    let safe = crate::helpers::ServeProcess::start(&env).await;
    let log = safe.process.log_text();
    assert!(
        !log.contains("noeviction") && !log.contains("appendonly"),
        "{log}"
    );
}
