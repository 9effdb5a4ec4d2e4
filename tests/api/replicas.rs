use std::time::Duration;

use serde_json::json;

use crate::helpers::{eventually, shared_redis_url, ServeProcess};

async fn serve(prefix: &str) -> ServeProcess {
    let env = [
        ("WAITROOM_REDIS_URL", shared_redis_url()),
        ("WAITROOM_REDIS_PREFIX", prefix.to_owned()),
    ];
    ServeProcess::start(&env).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_serve_processes_share_one_line() {
    let prefix = format!("t{}", waitroom::domain::random_token_id());
    let a = serve(&prefix).await;
    let b = serve(&prefix).await;
    let (a, b) = (&a.app, &b.app);
    a.create_event("tour", json!({})).await;

    // B learns of the event A created, and continues A's numbering.
    let known = eventually(Duration::from_secs(1), || async {
        b.join("tour").await.status.as_u16() == 201
    })
    .await;
    assert!(
        known.is_some(),
        "B did not learn of the new event within a second"
    );
    let from_a = a.join("tour").await;
    assert_eq!(from_a.position(), 2);
    let also_a = a.join("tour").await;

    // A token from A is good on B.
    let on_b = b.status("tour", &from_a.token()).await;
    assert_eq!(
        (on_b.status.as_u16(), on_b.body["status"].as_str()),
        (200, Some("waiting"))
    );

    // Visitors connected for push updates to either replica.
    let mut pushed_by_a = a.stream("tour", &also_a.token()).await;
    let mut pushed_by_b = b.stream("tour", &also_a.token()).await;
    for stream in [&mut pushed_by_a, &mut pushed_by_b] {
        let (_, status) = stream
            .next(Duration::from_secs(2))
            .await
            .expect("the current status");
        assert_eq!(status["ahead"], 2);
    }

    // A pointer move made through A reaches B's cache, and the browsers connected to each, within a second.
    a.advance("tour", 2).await;
    for (replica, stream) in [("A", &mut pushed_by_a), ("B", &mut pushed_by_b)] {
        let (_, status) = stream
            .next(Duration::from_secs(1))
            .await
            .unwrap_or_else(|| panic!("no push from replica {replica} within a second"));
        assert_eq!(
            (
                status["ahead"].as_u64(),
                status["admitted_through"].as_u64()
            ),
            (Some(0), Some(2))
        );
    }
    let seen = eventually(Duration::from_secs(1), || async {
        b.status("tour", &from_a.token()).await.body["status"] == "admitted"
    })
    .await;
    let seen = seen.expect("B saw the pointer move within a second");
    println!("pointer move seen by the other replica after {seen:?}");

    // A leave through A is refused by B within a second.
    a.leave("tour", &also_a.token()).await;
    let refused = eventually(Duration::from_secs(1), || async {
        b.gate("tour", &also_a.token()).await.body["type"] == "urn:waitroom:problem:left-line"
    })
    .await;
    assert!(refused.is_some(), "B kept accepting a left token");
}
