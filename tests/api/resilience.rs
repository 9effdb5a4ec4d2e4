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

    away();
    // Status and gate answer from the cached pointer, without Redis.
    let waiting = app.status("tour", &second.token()).await;
    assert_eq!(
        (waiting.status.as_u16(), waiting.body["status"].as_str()),
        (200, Some("waiting"))
    );
    assert_eq!(app.gate("tour", &first.token()).await.status.as_u16(), 204);
    // An admitted visitor still gets a pass even though the claim cannot be recorded.
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

/// A key file others may read is refused as ssh refuses one: the process does not start.
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
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
    assert!(
        waitroom::startup::load_keys(&config).is_ok(),
        "group-readable is allowed"
    );
}
