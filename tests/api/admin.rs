use reqwest::Method;
use serde_json::json;

use crate::helpers::{config_for, spawn_app, spawn_config, Backend};
use crate::on_both_stores;

on_both_stores!(events_are_created_updated_and_listed);

async fn events_are_created_updated_and_listed(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app
        .admin(
            Method::PUT,
            "/v1/admin/events/tour",
            Some(json!({ "batch_size": 0, "pass_ttl_s": 300 })),
        )
        .await;
    assert_eq!(created.status.as_u16(), 201, "{}", created.body);
    assert_eq!(created.body["pass_ttl_s"], 300);
    assert_eq!(
        created.body["release_interval_ms"], 10_000,
        "defaults fill the rest"
    );

    let updated = app
        .admin(
            Method::PUT,
            "/v1/admin/events/tour",
            Some(json!({ "target_url": "https://a.example/x" })),
        )
        .await;
    assert_eq!(updated.status.as_u16(), 200);
    assert_eq!(
        updated.body["pass_ttl_s"], 300,
        "an update keeps what it does not name"
    );
    assert_eq!(updated.body["target_url"], "https://a.example/x");

    app.create_event("another", json!({})).await;
    for _ in 0..3 {
        app.join("tour").await;
    }
    app.advance("tour", 1).await;
    let listed = app.admin(Method::GET, "/v1/admin/events", None).await;
    let events = listed.body.as_array().expect("a list");
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["another", "tour"]);
    let tour = &events[1];
    assert_eq!(
        (
            tour["issued"].as_u64(),
            tour["admitted_through"].as_u64(),
            tour["waiting"].as_u64()
        ),
        (Some(3), Some(1), Some(2))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_events_are_created_but_not_overwritten() {
    let prefix = format!("t{}", waitroom::domain::random_token_id());
    let mut config = config_for(Backend::Redis, &prefix);
    config.events = [(
        "from-config".to_owned(),
        serde_json::from_value(json!({ "batch_size": 0, "pass_ttl_s": 30 })).unwrap(),
    )]
    .into();
    let first = spawn_config(config.clone()).await;
    assert_eq!(first.show("from-config").await.settings.pass_ttl_s, 30);
    first
        .admin(
            Method::PUT,
            "/v1/admin/events/from-config",
            Some(json!({ "pass_ttl_s": 90 })),
        )
        .await;

    // A replica started later with the same configuration keeps the admin's change.
    let second = spawn_config(config).await;
    assert_eq!(second.show("from-config").await.settings.pass_ttl_s, 90);
}
