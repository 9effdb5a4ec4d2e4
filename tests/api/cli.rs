use std::path::Path;

use base64::Engine;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, Backend, TestApp, ADMIN_TOKEN, KEY_B64, KEY_ID};

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }
}

async fn waitroom(args: &[&str], env: &[(&str, &str)]) -> Run {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_waitroom"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .await
        .expect("the waitroom binary runs");
    Run {
        ok: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

async fn admin(app: &TestApp, args: &[&str]) -> Run {
    let mut all = vec!["admin", "--url", &app.address];
    all.extend_from_slice(args);
    waitroom(&all, &[("WAITROOM_ADMIN_TOKEN", ADMIN_TOKEN)]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_generate_writes_a_private_key_once() {
    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    let made = waitroom(
        &["keys", "generate", "--kid", "2026-11", "--dir", dir_arg],
        &[],
    )
    .await;
    assert!(made.ok, "{}", made.stderr);
    let path = dir.path().join("2026-11.key");
    assert_eq!(made.stdout.trim(), path.to_str().unwrap());
    let secret = std::fs::read_to_string(&path).unwrap();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(secret.trim())
        .unwrap();
    assert_eq!(bytes.len(), 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let again = waitroom(
        &["keys", "generate", "--kid", "2026-11", "--dir", dir_arg],
        &[],
    )
    .await;
    assert!(!again.ok, "an existing key is never overwritten");
    let bad = waitroom(
        &["keys", "generate", "--kid", "../escape", "--dir", dir_arg],
        &[],
    )
    .await;
    assert!(!bad.ok);
    assert!(!Path::new(dir_arg).join("../escape.key").exists());
}

/// An Ed25519 pass key: a PKCS#8 PEM that loads beside an HS256 key and signs passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_generate_writes_ed25519_pass_keys() {
    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    for (kid, kind) in [("waiting", "hs256"), ("passes", "ed25519")] {
        let made = waitroom(
            &[
                "keys", "generate", "--kid", kid, "--kind", kind, "--dir", dir_arg,
            ],
            &[],
        )
        .await;
        assert!(made.ok, "{}", made.stderr);
    }
    let pem = dir.path().join("passes.pem");
    assert!(std::fs::read_to_string(&pem)
        .unwrap()
        .starts_with("-----BEGIN PRIVATE KEY-----\n"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&pem).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let keys = waitroom::keys::KeySet::from_dir(dir.path(), None)
        .unwrap()
        .with_pass_key(Some("passes"))
        .unwrap();
    assert_eq!((keys.active_kid(), keys.pass_kid()), ("waiting", "passes"));
    let unknown = waitroom(
        &[
            "keys", "generate", "--kid", "x", "--kind", "rsa", "--dir", dir_arg,
        ],
        &[],
    )
    .await;
    assert!(!unknown.ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_inspect_and_verify() {
    let app = spawn_app(Backend::Memory).await;
    app.create_event("tour", json!({})).await;
    let token = app.join("tour").await.token();

    let inspected = waitroom(&["token", "inspect", &token], &[]).await;
    assert!(inspected.ok, "{}", inspected.stderr);
    let shown = inspected.json();
    assert_eq!(shown["verified"], false);
    assert_eq!(shown["header"]["kid"], KEY_ID);
    assert_eq!(shown["claims"]["pos"], 1);

    let keys = tempfile::tempdir().unwrap();
    crate::helpers::write_key_file(keys.path().join(format!("{KEY_ID}.key")), KEY_B64);
    let env = [("WAITROOM_KEYS_DIR", keys.path().to_str().unwrap())];
    let verified = waitroom(&["token", "verify", &token, "--event", "tour"], &env).await;
    assert!(verified.ok, "{}", verified.stderr);
    assert_eq!(verified.json()["claims"]["aud"], "tour");
    let wrong = waitroom(&["token", "verify", &token, "--event", "other"], &env).await;
    assert!(!wrong.ok);
    assert!(wrong.stderr.contains("another event"), "{}", wrong.stderr);
    let tampered = format!("{token}x");
    assert!(!waitroom(&["token", "verify", &tampered], &env).await.ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_drive_the_api() {
    let app = spawn_app(Backend::Memory).await;
    let created = admin(
        &app,
        &[
            "event",
            "create",
            "tour",
            "--batch-size",
            "0",
            "--pass-ttl-s",
            "60",
        ],
    )
    .await;
    assert!(created.ok, "{}", created.stderr);
    assert_eq!(created.json()["pass_ttl_s"], 60);
    let twice = admin(&app, &["event", "create", "tour"]).await;
    assert!(
        !twice.ok && twice.stderr.contains("exists"),
        "{}",
        twice.stderr
    );
    let missing = admin(&app, &["event", "update", "nope", "--batch-size", "1"]).await;
    assert!(!missing.ok);
    let updated = admin(
        &app,
        &[
            "event",
            "update",
            "tour",
            "--target-url",
            "https://x.example/",
        ],
    )
    .await;
    assert_eq!(updated.json()["target_url"], "https://x.example/");

    for _ in 0..3 {
        app.join("tour").await;
    }
    let advanced = admin(&app, &["advance", "tour", "--by", "2"]).await;
    assert_eq!(advanced.json()["admitted_through"], 2);
    assert_eq!(
        admin(&app, &["pause", "tour"]).await.json()["state"],
        "paused"
    );
    assert_eq!(
        admin(&app, &["resume", "tour"]).await.json()["state"],
        "open"
    );
    // A pause that says when it ends: those waiting are told.
    let until = chrono::Utc::now() + chrono::Duration::hours(1);
    let paused = admin(&app, &["pause", "tour", "--until", &until.to_rfc3339()]).await;
    assert_eq!(paused.json()["state"], "paused", "{}", paused.json());
    let waiting = app.join("tour").await;
    let status = app.status("tour", &waiting.token()).await;
    let told = status.body["resumes_at"].as_str().unwrap_or_default();
    let told = chrono::DateTime::parse_from_rfc3339(told).expect("when the line moves again");
    assert_eq!(told.timestamp(), until.timestamp(), "{}", status.body);
    admin(&app, &["resume", "tour"]).await;
    let joined = admin(&app, &["join", "tour", "--visitor", "user-1"]).await;
    assert_eq!(joined.json()["position"], 5);
    let shown = admin(&app, &["event", "show", "tour"]).await;
    assert_eq!(shown.json()["issued"], 5);
    let listed = admin(&app, &["event", "list"]).await;
    assert_eq!(listed.json().as_array().map(Vec::len), Some(1));

    // Lanes: set as name:share, joined by name; a lane's line is not an event of its own.
    let laned = admin(
        &app,
        &["event", "update", "tour", "--lanes", "public:70,members:30"],
    )
    .await;
    assert!(laned.ok, "{}", laned.stderr);
    assert_eq!(laned.json()["lanes"][1]["share"], 30);
    let member = admin(
        &app,
        &["join", "tour", "--visitor", "user-2", "--lane", "members"],
    )
    .await;
    assert_eq!(
        (
            member.json()["lane"].as_str(),
            member.json()["position"].as_u64()
        ),
        (Some("members"), Some(1))
    );
    let listed = admin(&app, &["event", "list"]).await;
    assert_eq!(listed.json().as_array().map(Vec::len), Some(1));
    let bad = admin(&app, &["event", "update", "tour", "--lanes", "public"]).await;
    assert!(
        !bad.ok && bad.stderr.contains("name:share"),
        "{}",
        bad.stderr
    );

    // A draw at every release: a booking site's user joins the draw, not the line.
    let random = admin(
        &app,
        &[
            "event",
            "create",
            "raffle",
            "--method",
            "random",
            "--batch-size",
            "0",
        ],
    )
    .await;
    assert!(random.ok, "{}", random.stderr);
    assert_eq!(random.json()["method"], "random");
    let drawn = admin(&app, &["join", "raffle", "--visitor", "user-3"]).await;
    assert_eq!(drawn.json()["status"], "prequeue", "{}", drawn.stdout);
    assert!(drawn.json()["draw_chance"].is_number());

    let invalid = admin(
        &app,
        &["event", "update", "tour", "--release-interval-ms", "1"],
    )
    .await;
    assert!(!invalid.ok);
    assert!(
        invalid.stderr.contains("release_interval_ms"),
        "{}",
        invalid.stderr
    );
    let unauthorised = waitroom(
        &[
            "admin",
            "--url",
            &app.address,
            "--token",
            "wrong-token-0123456789",
            "event",
            "list",
        ],
        &[],
    )
    .await;
    assert!(
        !unauthorised.ok && unauthorised.stderr.contains("401"),
        "{}",
        unauthorised.stderr
    );
}

/// `waitroom admin codes issue EVENT --count N > codes.csv`: a header line, then N distinct codes,
/// each of which gets its holder a place in the invite-only event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_issues_enqueue_codes_as_csv() {
    let app = spawn_app(Backend::Memory).await;
    app.create_event("vip", json!({ "invite_only": true }))
        .await;
    let issued = admin(&app, &["codes", "issue", "vip", "--count", "250"]).await;
    assert!(issued.ok, "{}", issued.stderr);
    let mut lines = issued.stdout.lines();
    assert_eq!(lines.next(), Some("code"));
    let codes: std::collections::BTreeSet<&str> = lines.collect();
    assert_eq!(codes.len(), 250);
    for code in codes.iter().take(3) {
        let joined = app
            .send(
                app.client
                    .post(app.url("/v1/events/vip/join"))
                    .header("x-waitroom-code", *code),
            )
            .await;
        assert_eq!(joined.status.as_u16(), 201, "{}", joined.body);
    }
    let too_many = admin(&app, &["codes", "issue", "vip", "--count", "100001"]).await;
    assert!(
        !too_many.ok && too_many.stderr.contains("100000"),
        "{}",
        too_many.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_bad_configuration_naming_the_key() {
    let refused = waitroom(&["serve"], &[("WAITROOM_POINTER_POLL_MS", "5000")]).await;
    assert!(!refused.ok);
    assert!(
        refused.stderr.contains("`pointer_poll_ms`"),
        "{}",
        refused.stderr
    );
    let refused = waitroom(&["serve"], &[("WAITROOM_REDIS_URL", "redis://127.0.0.1:1")]).await;
    assert!(!refused.ok);
    assert!(refused.stderr.contains("`keys_dir`"), "{}", refused.stderr);
    let short = tempfile::tempdir().unwrap();
    std::fs::write(short.path().join("k.key"), "c2hvcnQ=").unwrap();
    let refused = waitroom(
        &["serve"],
        &[("WAITROOM_KEYS_DIR", short.path().to_str().unwrap())],
    )
    .await;
    assert!(!refused.ok);
    assert!(
        refused.stderr.contains("at least 32 bytes"),
        "{}",
        refused.stderr
    );
}

/// A misspelt key in the environment is warned about at start; the variables Kubernetes injects
/// for a Service named waitroom are not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_warns_about_unknown_configuration_keys() {
    let serve = crate::helpers::ServeProcess::start(&[
        ("WAITROOM_COOKIE_SECUR", "true".to_owned()),
        ("WAITROOM_SERVICE_HOST", "10.0.0.7".to_owned()),
        ("WAITROOM_PORT_80_TCP", "tcp://10.0.0.7:80".to_owned()),
    ])
    .await;
    let logs = serve.process.log_text();
    let warned: Vec<&str> = logs
        .lines()
        .filter(|line| line.contains("unknown configuration key"))
        .collect();
    assert_eq!(warned.len(), 1, "{logs}");
    assert!(warned[0].contains("cookie_secur"), "{logs}");
}

/// `waitroom probe` (the chart's `helm test`): every URL must answer 2xx; one that does not, or
/// cannot be reached, fails the command and says which.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_succeeds_only_when_every_url_answers() {
    let app = spawn_app(Backend::Memory).await;
    let (ready, health) = (app.url("/readyz"), app.url("/healthz"));
    let fine = waitroom(&["probe", &ready, &health], &[]).await;
    assert!(fine.ok, "{}", fine.stderr);
    assert!(fine.stdout.contains("200"), "{}", fine.stdout);
    let missing = app.url("/v1/events/nothing-here");
    let refused = waitroom(&["probe", &ready, &missing], &[]).await;
    assert!(!refused.ok);
    assert!(
        refused.stderr.contains(&missing) && refused.stderr.contains("404"),
        "{}",
        refused.stderr
    );
    let away = waitroom(&["probe", "http://127.0.0.1:1/readyz"], &[]).await;
    assert!(
        !away.ok
            && away
                .stderr
                .contains("cannot reach http://127.0.0.1:1/readyz"),
        "{}",
        away.stderr
    );
}

/// `waitroom --version` names the commit it was built from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_names_the_commit() {
    let said = waitroom(&["--version"], &[]).await;
    assert!(said.ok, "{}", said.stderr);
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned());
    let expected = match head {
        Some(commit) => format!("({commit})"),
        None => "(unknown)".to_owned(),
    };
    assert!(
        said.stdout.starts_with("waitroom ") && said.stdout.contains(&expected),
        "{} (expected {expected})",
        said.stdout
    );
}

/// `waitroom simulate` on a sale a person can work out: 1,000 at the opening, 100 let through
/// every 10 s. The summary says the waits computed by hand; the report is one file with its
/// chart library and its data; a comparison runs both settings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_tells_the_waits_of_a_sale_computed_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("sale.html");
    let run = waitroom(
        &[
            "simulate",
            "--arrivals",
            "spike:1000@0s",
            "--settings",
            r#"{"batch_size": 100, "release_interval_ms": 10000}"#,
            "--compare",
            r#"{"batch_size": 200}"#,
            "--json",
            "--report",
            report.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert!(run.ok, "{}", run.stderr);
    let summaries = run.json();
    let figures = |run: usize| {
        let s = &summaries[run];
        (
            s["people"].as_u64(),
            s["wait_p50_s"].as_f64(),
            s["wait_max_s"].as_f64(),
            s["emptied_at_s"].as_f64(),
        )
    };
    assert_eq!(figures(0), (Some(1000), Some(40.0), Some(90.0), Some(90.0)));
    assert_eq!(figures(1), (Some(1000), Some(20.0), Some(40.0), Some(40.0)));
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("uPlot") && html.contains("const RUNS = [{"));
    assert!(
        !html.contains("<script src="),
        "one file: nothing loaded from elsewhere"
    );

    let table = waitroom(
        &[
            "simulate",
            "--arrivals",
            "spike:1000@0s",
            "--settings",
            r#"{"batch_size": 100, "release_interval_ms": 10000}"#,
        ],
        &[],
    )
    .await;
    assert!(table.ok, "{}", table.stderr);
    assert!(
        table.stdout.contains("wait p90") && table.stdout.contains("1.3 min"),
        "{}",
        table.stdout
    );
}

/// Arrivals, settings and shares that make no sense are refused with what is wrong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_refuses_what_makes_no_sense() {
    for (args, said) in [
        (vec!["--arrivals", "spike:lots@1m"], "the arrivals"),
        (vec!["--settings", r#"{"batch_size": -1}"#], "batch_size"),
        (
            vec!["--settings", r#"{"batches": 5}"#],
            "`batches` is not a setting",
        ),
        (vec!["--no-show", "1.5"], "--no-show is a share from 0 to 1"),
        (vec!["--session", "soon"], "--session"),
        (
            vec!["--arrivals-csv", "/nonexistent.csv"],
            "cannot read /nonexistent.csv",
        ),
        (vec!["--change", "1h"], "write DURATION=JSON"),
        (vec!["--change", r#"1h={"state": "gone"}"#], "state"),
        (
            vec![
                "--arrivals",
                "spike:100@1m",
                "--settings",
                r#"{"method": "random", "batch_size": 1}"#,
                "--change",
                r#"10s={"method": "fifo"}"#,
            ],
            "the change at 10 s: it switches how people enter",
        ),
    ] {
        let mut all = vec!["simulate"];
        all.extend(args);
        let run = waitroom(&all, &[]).await;
        assert!(!run.ok, "{all:?} ran");
        assert!(run.stderr.contains(said), "{all:?}: {}", run.stderr);
    }
}
