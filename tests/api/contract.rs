//! The API contract: `docs/openapi.json` is the code's, and schemathesis (installed by the project's
//! scripts, pinned) fuzzes a real `waitroom serve` on Redis against it: every documented operation,
//! hundreds of generated requests each, no 5xx, every answer as documented (problem documents too).

use std::path::Path;
use std::process::Command;

use serde_json::json;

use crate::helpers::{shared_redis_url, ServeProcess, ADMIN_TOKEN};

#[test]
fn the_shipped_contract_is_the_codes() {
    let shipped =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.json"))
            .expect("docs/openapi.json");
    let generated = waitroom::routes::openapi::document();
    assert!(
        shipped.trim_end() == generated.trim_end(),
        "docs/openapi.json is stale: run `cargo run -- openapi > docs/openapi.json`"
    );
    let contract: serde_json::Value = serde_json::from_str(&generated).unwrap();
    assert_eq!(contract["openapi"], "3.1.0");
    // Every route of the table is documented, with each method it answers.
    for route in waitroom::routes::table::Route::ALL {
        let path = route.pattern();
        for method in route.allow().split(", ") {
            assert!(
                contract["paths"][path][method.to_lowercase()].is_object(),
                "{method} {path} is not in the contract"
            );
        }
    }
}

fn schemathesis() -> std::path::PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/schemathesis/bin/schemathesis");
    assert!(
        path.exists(),
        "schemathesis is not installed: run scripts/install-test-deps.sh"
    );
    path
}

/// Runs schemathesis on the operations of `tags` with `token` as the bearer credential.
fn fuzz(base: &str, tags: &str, token: &str, examples: u32) -> (bool, String) {
    // Hypothesis keeps its database and caches in the working directory: not the repository.
    let scratch = tempfile::tempdir().unwrap();
    let output = Command::new(schemathesis())
        .current_dir(scratch.path())
        .args([
            "run",
            &format!("{base}/openapi.json"),
            "--experimental=openapi-3.1",
            "--checks",
            "all",
            "--hypothesis-max-examples",
            &examples.to_string(),
            // Fixed, so that CI is repeatable; change it to explore other cases.
            "--hypothesis-seed",
            "20261122",
            "--request-timeout",
            "5000",
            "--include-tag-regex",
            tags,
            "-H",
            &format!("Authorization: Bearer {token}"),
        ])
        .env("SCHEMATHESIS_HOOKS", "")
        .output()
        .expect("schemathesis runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_against_a_real_serve_on_redis() {
    let prefix = format!("t{}", waitroom::domain::random_token_id());
    let serve = ServeProcess::start(&[
        ("WAITROOM_REDIS_URL", shared_redis_url()),
        ("WAITROOM_REDIS_PREFIX", prefix),
        ("WAITROOM_DEMO_EVENT", "false".into()),
    ])
    .await;
    let app = &serve.app;
    // The event the contract's examples name, and an admitted visitor (whose stream ends at once).
    app.admin(
        reqwest::Method::PUT,
        "/v1/admin/events/tour",
        Some(json!({ "batch_size": 0 })),
    )
    .await;
    let (_, _pass) = app.admitted_visitor("tour").await;
    let visitor = app.join("tour").await.token();
    app.advance("tour", 1).await;
    let base = app.address.clone();
    let (admin_ok, admin_report) = tokio::task::spawn_blocking({
        let base = base.clone();
        move || fuzz(&base, "^admin$", ADMIN_TOKEN, 300)
    })
    .await
    .unwrap();
    let (rest_ok, rest_report) = tokio::task::spawn_blocking(move || {
        fuzz(
            &base,
            "^(visitors|edge|booking service|pages|tokens|operations)$",
            &visitor,
            300,
        )
    })
    .await
    .unwrap();
    let summary = |report: &str| {
        report
            .lines()
            .filter(|line| {
                line.contains(" / ") || line.contains("passed in") || line.contains("failed")
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    println!(
        "admin:\n{}\nthe rest:\n{}",
        summary(&admin_report),
        summary(&rest_report)
    );
    assert!(admin_ok, "{admin_report}");
    assert!(rest_ok, "{rest_report}");
    assert!(
        !serve.process.log_text().contains("panicked"),
        "a panic in the server log"
    );
}
