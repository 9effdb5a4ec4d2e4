//! The edge kit, end to end: real nginx with the configurations in `deploy/nginx/` in front of a stub
//! booking site, and the JavaScript verifier in `deploy/edge-js/` run with node against passes of a
//! real waitroom.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::json;
use waitroom::domain::{EventId, VisitorId};
use waitroom::keys::KeySet;
use waitroom::token::{TokenKind, Tokens};
use waitroom_testkit::{free_port, Daemon};

use crate::helpers::{config_for, sign_token, spawn_config, Backend, TestApp, KEY_ID};

const EVENT: &str = "summer-tour";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// nginx with one of the kit's configurations, pointed at `waitroom` and `booking`, on loopback.
struct Edge {
    port: u16,
    client: reqwest::Client,
    _nginx: Daemon,
    _booking: Daemon,
    _dir: tempfile::TempDir,
}

impl Edge {
    /// The kit in front of `waitroom` and a static booking site.
    fn start(conf: &str, waitroom: &str, hosts: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let site = dir.path().join("site");
        std::fs::create_dir_all(site.join("checkout")).unwrap();
        std::fs::write(
            site.join("checkout/index.html"),
            "<h1>booking: checkout</h1>",
        )
        .unwrap();
        std::fs::write(site.join("index.html"), "<h1>booking: home</h1>").unwrap();
        std::fs::write(
            site.join("checkout/payment-callback"),
            "booking: payment callback",
        )
        .unwrap();
        let booking = Daemon::spawn(
            "python3",
            &format!(
                "-m http.server {{port}} --bind 127.0.0.1 --directory {}",
                site.display()
            ),
            &[],
            None,
        );
        Self::in_front_of(conf, waitroom, booking, dir, hosts)
    }

    /// The kit in front of `waitroom` and the running `booking` site.
    fn in_front_of(
        conf: &str,
        waitroom: &str,
        booking: Daemon,
        dir: tempfile::TempDir,
        hosts: &[&str],
    ) -> Self {
        let port = free_port();
        let kit = std::fs::read_to_string(repo().join("deploy/nginx").join(conf)).unwrap();
        // As an operator fills it in, on loopback and plain HTTP.
        let rendered = kit
            .replace("127.0.0.1:8080", waitroom)
            .replace("127.0.0.1:3000", &format!("127.0.0.1:{}", booking.port))
            .replace("listen 80;", &format!("listen 127.0.0.1:{port};"))
            .replace("https://", "http://");
        let prefix = dir.path();
        std::fs::write(prefix.join("site.conf"), rendered).unwrap();
        let temp = |name: &str| prefix.join(name).display().to_string();
        let main = format!(
            "worker_processes 1;\npid {pid};\nerror_log {log} info;\nevents {{ worker_connections 256; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {body};\n  proxy_temp_path {proxy};\n  \
             fastcgi_temp_path {fastcgi};\n  uwsgi_temp_path {uwsgi};\n  scgi_temp_path {scgi};\n  \
             include {site};\n}}\n",
            pid = temp("nginx.pid"),
            log = temp("error.log"),
            body = temp("body"),
            proxy = temp("proxy"),
            fastcgi = temp("fastcgi"),
            uwsgi = temp("uwsgi"),
            scgi = temp("scgi"),
            site = temp("site.conf"),
        );
        std::fs::write(prefix.join("nginx.conf"), main).unwrap();
        // Debian puts it in /usr/sbin, which not every PATH holds.
        let program = if Path::new("/usr/sbin/nginx").exists() {
            "/usr/sbin/nginx"
        } else {
            "nginx"
        };
        let nginx = Daemon::spawn_on_port(
            port,
            program,
            &format!(
                "-p {p} -c {p}/nginx.conf -e {p}/error.log -g 'daemon off;'",
                p = prefix.display()
            ),
            &[],
            Some(prefix.join("nginx.stderr")),
        );
        let mut client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
        for host in hosts {
            client = client.resolve(host, SocketAddr::from(([127, 0, 0, 1], port)));
        }
        Self {
            port,
            client: client.build().unwrap(),
            _nginx: nginx,
            _booking: booking,
            _dir: dir,
        }
    }

    fn url(&self, host: &str, path: &str) -> String {
        format!("http://{host}:{}{path}", self.port)
    }

    async fn get(&self, host: &str, path: &str, cookie: Option<&str>) -> reqwest::Response {
        let mut request = self.client.get(self.url(host, path));
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie);
        }
        request.send().await.expect("nginx answers")
    }

    /// Whether `cookie` gets the visitor through to the booking site's checkout.
    async fn through(&self, site: &str, cookie: &str) -> bool {
        let response = self.get(site, "/checkout/", Some(cookie)).await;
        match response.status().as_u16() {
            200 => {
                let body = response.text().await.unwrap();
                assert!(body.contains("booking: checkout"), "{body}");
                true
            }
            302 => false,
            other => panic!("the edge answered {other}"),
        }
    }
}

/// The whole path through an edge configuration: turned away, waiting page, admitted, hand-over,
/// through; bad and replayed passes stay out.
async fn visitor_gets_through(conf: &str, site: &str, queue: &str) {
    let app = spawn_config(config_for(Backend::Memory, "unused")).await;
    let waitroom = app.address.trim_start_matches("http://").to_owned();
    let edge = Edge::start(conf, &waitroom, &[site, queue]);
    let claim_url = edge.url(site, "/_waitroom/claim");
    app.create_event(EVENT, json!({ "target_url": claim_url }))
        .await;

    // The protected path itself, without its slash, is behind the gate too.
    let bare = edge.get(site, "/checkout", None).await;
    assert_eq!(bare.status().as_u16(), 302, "/checkout bypassed the gate");
    // Turned away to the waiting page, with where they were going.
    let away = edge.get(site, "/checkout/?seat=4", None).await;
    assert_eq!(away.status().as_u16(), 302);
    let location = away.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(
        location.contains(&format!("/e/{EVENT}?return_to=")),
        "{location}"
    );
    assert!(location.ends_with("/checkout/?seat=4"), "{location}");
    if site != queue {
        assert!(
            location.starts_with(&format!("http://{queue}/e/")),
            "{location}"
        );
    }
    let page = edge.get(queue, &format!("/e/{EVENT}"), None).await;
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.unwrap().contains("waitroom.js"));

    // Waiting, then admitted, as the page does it (through the edge).
    let join = |edge: &Edge| {
        edge.client
            .post(edge.url(queue, &format!("/v1/events/{EVENT}/join")))
            .send()
    };
    let joined: serde_json::Value = join(&edge).await.unwrap().json().await.unwrap();
    let token = joined["token"].as_str().unwrap().to_owned();
    app.advance(EVENT, 1).await;
    let pass = status_pass(&edge, queue, &token).await;

    // The hand-over on the site's domain: the pass becomes a cookie there.
    let to = edge.url(site, "/checkout/");
    let handed = edge
        .get(
            site,
            &format!("/_waitroom/claim?waitroom_pass={pass}&to={to}"),
            None,
        )
        .await;
    assert_eq!(handed.status().as_u16(), 303, "{:?}", handed.text().await);
    assert_eq!(handed.headers()[LOCATION], to.as_str());
    let set = handed.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    let cookie = set.split(';').next().unwrap().to_owned();
    assert_eq!(cookie, format!("waitroom_{EVENT}.pass={pass}"));
    assert!(edge.through(site, &cookie).await, "a pass gets through");
    assert!(
        edge.through(site, &cookie).await,
        "and again, on a reusable pass"
    );

    // What stays out.
    let pass_cookie = |pass: &str| format!("waitroom_{EVENT}.pass={pass}");
    let now = waitroom::clock::unix_s();
    for (what, bad) in [
        ("forged", format!("{pass}x")),
        (
            "expired",
            sign_token(TokenKind::Pass, EVENT, 1, now - 3_600, 60),
        ),
        (
            "other event",
            sign_token(TokenKind::Pass, "other", 1, now, 60),
        ),
        ("garbage", "not-a-pass".to_owned()),
    ] {
        assert!(
            !edge.through(site, &pass_cookie(&bad)).await,
            "{what} pass got through"
        );
    }
    assert!(!edge.through(site, "unrelated=1").await);
    // The admin API is not on the public side.
    let admin = edge.get(queue, "/v1/admin/events", None).await;
    assert_ne!(admin.status().as_u16(), 200);

    // The event's bypass rules, through the shipped configuration: a payment provider's callback
    // and a monitoring probe carrying the secret reach the site without a token; nothing else does.
    app.api
        .put_event(
            EVENT,
            &waitroom::domain::Patch::default()
                .with("bypass_paths", ["/checkout/payment-callback"])
                .with("bypass_secret", "monitoring-secret-0123"),
        )
        .await
        .unwrap();
    let callback = edge
        .get(site, "/checkout/payment-callback?order=7", None)
        .await;
    assert_eq!(callback.status().as_u16(), 200, "the callback waited");
    assert_eq!(callback.text().await.unwrap(), "booking: payment callback");
    let probe = edge
        .client
        .get(edge.url(site, "/checkout/"))
        .header("x-waitroom-bypass", "monitoring-secret-0123")
        .send()
        .await
        .unwrap();
    assert_eq!(probe.status().as_u16(), 200, "the probe waited");
    for path in [
        "/checkout/payment-callbacks",
        "/checkout/?to=/checkout/payment-callback",
    ] {
        let waits = edge.get(site, path, None).await;
        assert_eq!(waits.status().as_u16(), 302, "{path} skipped the line");
    }

    // Single-use passes: the first request through consumes it; a replay stays out.
    app.api
        .put_event(
            EVENT,
            &waitroom::domain::Patch::default().with("single_use_passes", true),
        )
        .await
        .unwrap();
    let second: serde_json::Value = join(&edge).await.unwrap().json().await.unwrap();
    app.advance(EVENT, 1).await;
    let single = status_pass(&edge, queue, second["token"].as_str().unwrap()).await;
    assert!(edge.through(site, &pass_cookie(&single)).await, "first use");
    assert!(
        !edge.through(site, &pass_cookie(&single)).await,
        "replayed single-use pass"
    );
}

/// The admitted visitor's pass, from a status check through the edge (within a second or two:
/// the page polls likewise).
async fn status_pass(edge: &Edge, queue: &str, token: &str) -> String {
    for _ in 0..50 {
        let status: serde_json::Value = edge
            .client
            .get(edge.url(queue, &format!("/v1/events/{EVENT}/status")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(pass) = status["pass"].as_str() {
            return pass.to_owned();
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    panic!("no pass");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_same_origin_kit_lets_the_admitted_through() {
    visitor_gets_through("same-origin.conf", "shop.example.com", "shop.example.com").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_cross_origin_kit_lets_the_admitted_through() {
    visitor_gets_through(
        "cross-origin.conf",
        "tickets.example.com",
        "queue.example.com",
    )
    .await;
}

/// Session renewal through both shipped configurations: a visitor whose pass is about to end and
/// who keeps using the site gets the renewed pass as the site's cookie (nginx hands on the gate's
/// `Set-Cookie`), and it lets them through; a request with time left on the pass sets no cookie.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_kits_hand_the_visitor_a_renewed_pass() {
    for (conf, site) in [
        ("same-origin.conf", "shop.example.com"),
        ("cross-origin.conf", "tickets.example.com"),
    ] {
        let app = spawn_config(config_for(Backend::Memory, "unused")).await;
        let waitroom = app.address.trim_start_matches("http://").to_owned();
        let edge = Edge::start(conf, &waitroom, &[site]);
        app.create_event(
            EVENT,
            json!({ "batch_size": 0, "pass_ttl_s": 10, "pass_renewal_max_s": 3600 }),
        )
        .await;
        let (joined, fresh) = app.admitted_visitor(EVENT).await;
        let now = chrono::Utc::now().timestamp();
        let ending = sign_token(TokenKind::Pass, EVENT, joined.position(), now - 8, 10);
        let cookie = |pass: &str| format!("waitroom_{EVENT}.pass={pass}");

        let kept = edge.get(site, "/checkout/", Some(&cookie(&fresh))).await;
        assert_eq!(kept.status().as_u16(), 200, "{conf}");
        assert!(kept.headers().get(SET_COOKIE).is_none(), "{conf}");

        let used = edge.get(site, "/checkout/", Some(&cookie(&ending))).await;
        assert_eq!(used.status().as_u16(), 200, "{conf}");
        let set = used.headers()[SET_COOKIE].to_str().unwrap().to_owned();
        let renewed = set
            .strip_prefix(&format!("waitroom_{EVENT}.pass="))
            .and_then(|rest| rest.split(';').next())
            .unwrap_or_else(|| panic!("{conf}: {set}"))
            .to_owned();
        assert!(set.contains("HttpOnly") && set.contains("Path=/"), "{set}");
        let exp = |token: &str| crate::helpers::claims(token)["exp"].as_i64().unwrap();
        assert!(
            exp(&renewed) >= now + 9,
            "{conf}: renewed for another pass lifetime"
        );
        assert!(edge.through(site, &cookie(&renewed)).await, "{conf}");
    }
}

/// `deploy/edge-js/check.mjs` as an edge runs it: passes of a real `waitroom serve` verified against
/// its JWKS, with `jose`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_javascript_verifier_checks_passes_against_the_jwks() {
    let dir = tempfile::tempdir().unwrap();
    crate::helpers::write_keys(dir.path(), &["passes-1"]);
    let serve = crate::helpers::ServeProcess::start(&[
        ("WAITROOM_KEYS_DIR", dir.path().display().to_string()),
        ("WAITROOM_ACTIVE_KEY", KEY_ID.to_owned()),
        ("WAITROOM_PASS_KEY", "passes-1".to_owned()),
    ])
    .await;
    let app: &TestApp = &serve.app;
    app.create_event("tour", json!({})).await;
    let (joined, pass) = app.admitted_visitor("tour").await;
    let keys = KeySet::from_dir(dir.path(), Some(KEY_ID))
        .unwrap()
        .with_pass_key(Some("passes-1"))
        .unwrap();
    let signer = Tokens::new(&keys, "waitroom");
    let now = waitroom::clock::unix_s();
    let sign = |event: &str, kind: TokenKind, issued_at: i64| {
        let event = EventId::parse(event).unwrap();
        signer
            .sign(
                kind,
                &event.clone().into(),
                &VisitorId::generate(),
                1,
                issued_at,
                60,
            )
            .0
    };
    let jwks = app.url("/.well-known/jwks.json");
    let check = |pass: String| {
        let jwks = jwks.clone();
        async move {
            node(
                "deploy/edge-js/check.mjs",
                &[&jwks, "waitroom", "tour", &pass],
            )
            .await
        }
    };
    let (ok, answer) = check(pass.clone()).await;
    assert!(ok, "{answer}");
    assert_eq!(answer["claims"]["pos"], 1);
    for (what, bad, code) in [
        ("forged", format!("{pass}x"), "invalid"),
        (
            "expired",
            sign("tour", TokenKind::Pass, now - 3_600),
            "expired",
        ),
        (
            "other event",
            sign("other", TokenKind::Pass, now),
            "wrong-claims",
        ),
        ("HS256 waiting token", joined.token(), "invalid"),
        (
            "EdDSA-signed waiting token",
            waiting_signed_like_a_pass(dir.path(), &pass),
            "not-a-pass",
        ),
    ] {
        let (ok, answer) = check(bad).await;
        assert!(!ok, "{what} accepted: {answer}");
        assert_eq!(answer["code"], code, "{what}: {answer}");
    }
}

/// The gate's answers in the Prometheus exposition, by status.
const GATE_ANSWERS: &str =
    r#"waitroom_request_duration_seconds_count{route="/v1/events/{event}/gate""#;

/// Runs a node script of the repository with `args`: whether it exited 0, and the JSON it printed.
async fn node(script: &str, args: &[&str]) -> (bool, serde_json::Value) {
    let output = tokio::process::Command::new("node")
        .arg(repo().join(script))
        .args(args)
        .output()
        .await
        .expect("node runs (scripts/install-test-deps.sh installs the kit's packages)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let answer =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout} {stderr}"));
    (output.status.success(), answer)
}

/// `deploy/edge-js/worker.mjs` in front of a site, on a real `waitroom serve`: no pass goes to the
/// waiting page with where it was going; a pass with time left goes through without a call to
/// waitroom's gate; one near its end goes through and comes back renewed as the site's cookie (the
/// gate renews it), when the event renews passes and only then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_javascript_worker_renews_a_pass_near_its_end() {
    let dir = tempfile::tempdir().unwrap();
    crate::helpers::write_keys(dir.path(), &["passes-1"]);
    let serve = crate::helpers::ServeProcess::start(&[
        ("WAITROOM_KEYS_DIR", dir.path().display().to_string()),
        ("WAITROOM_ACTIVE_KEY", KEY_ID.to_owned()),
        ("WAITROOM_PASS_KEY", "passes-1".to_owned()),
    ])
    .await;
    let app: &TestApp = &serve.app;
    let settings = |renewal_max_s: u64| json!({ "batch_size": 0, "pass_ttl_s": 60, "pass_renewal_max_s": renewal_max_s });
    app.create_event("tour", settings(3600)).await;
    app.create_event("plain", settings(0)).await;
    let keys = KeySet::from_dir(dir.path(), Some(KEY_ID))
        .unwrap()
        .with_pass_key(Some("passes-1"))
        .unwrap();
    let signer = Tokens::new(&keys, "waitroom");
    // Past half its life, with 20 s left: time enough for node to start on a loaded machine.
    let ending = |event: &str, position: u64| {
        let line = EventId::parse(event).unwrap().into();
        let visitor = VisitorId::generate();
        let issued = waitroom::clock::unix_s() - 40;
        (signer.sign(TokenKind::Pass, &line, &visitor, position, issued, 60)).0
    };
    let worker = |event: &'static str, pass: Option<String>| {
        let address = app.address.clone();
        async move {
            let mut args = vec![address.as_str(), event];
            args.extend(pass.as_deref());
            let (ok, answer) = node("tests/fixtures/edge-worker.mjs", &args).await;
            assert!(ok, "{answer}");
            answer
        }
    };

    let sent = worker("tour", None).await;
    assert_eq!(sent["status"], 302, "{sent}");
    let location = sent["location"].as_str().unwrap();
    assert!(
        location.starts_with(&app.url("/e/tour?return_to=")),
        "{location}"
    );

    let gate_calls = || async {
        let text = app.metrics_text().await;
        text.lines()
            .filter(|line| line.starts_with(GATE_ANSWERS))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
            .sum::<u64>()
    };
    let (joined, fresh) = app.admitted_visitor("tour").await;
    let before = gate_calls().await;
    let kept = worker("tour", Some(fresh)).await;
    assert_eq!(
        (kept["status"].as_u64(), kept["body"].as_str()),
        (Some(200), Some("the site"))
    );
    assert_eq!(
        kept["setCookie"],
        json!([]),
        "no renewal while time is left"
    );
    assert_eq!(gate_calls().await, before, "verified at the edge alone");

    let used = worker("tour", Some(ending("tour", joined.position()))).await;
    assert_eq!(used["status"], 200, "{used}");
    assert_eq!(gate_calls().await, before + 1, "the gate asked to renew");
    let set = used["setCookie"][0].as_str().unwrap_or_default();
    let renewed = set
        .strip_prefix("waitroom_tour.pass=")
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("no renewed pass: {used}"))
        .to_owned();
    let exp = crate::helpers::claims(&renewed)["exp"].as_i64().unwrap();
    assert!(
        exp > waitroom::clock::unix_s() + 40,
        "renewed for another pass lifetime"
    );
    let again = worker("tour", Some(renewed)).await;
    assert_eq!(again["status"], 200, "{again}");

    let (plain, _) = app.admitted_visitor("plain").await;
    let not_renewed = worker("plain", Some(ending("plain", plain.position()))).await;
    assert_eq!(not_renewed["status"], 200, "{not_renewed}");
    assert_eq!(
        not_renewed["setCookie"],
        json!([]),
        "the event renews nothing"
    );
}

/// The claims of `pass` with `kind` turned to `waiting`, signed with the pass key itself: genuine,
/// but no pass (waitroom never makes one; the verifier must refuse it all the same).
fn waiting_signed_like_a_pass(keys: &Path, pass: &str) -> String {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use base64::Engine;
    let pem = std::fs::read_to_string(keys.join("passes-1.pem")).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = STANDARD.decode(body).unwrap();
    let payload = pass.split('.').nth(1).unwrap();
    let mut claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["kind"] = json!("waiting");
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some("passes-1".into());
    jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_ed_der(&der),
    )
    .unwrap()
}

/// `examples/booking-service` behind the shipped cross-origin nginx configuration, as an operator
/// runs it: the visitor is handed over to the site's domain, nginx's gate lets the pass through to
/// the example's checkout, which verifies it with the JWKS alone and consumes it (a second visit
/// with the same pass is refused), and reports the visitor done, which frees their slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_booking_service_verifies_consumes_and_completes_behind_nginx() {
    const SERVICE_TOKEN: &str = "example-service-token-0123456789";
    const SITE: &str = "tickets.example.com";
    const QUEUE: &str = "queue.example.com";
    let keys = tempfile::tempdir().unwrap();
    crate::helpers::write_keys(keys.path(), &["passes-1"]);
    let mut config = crate::helpers::config_with_keys(keys.path(), "passes-1");
    config.service_token = Some(SERVICE_TOKEN.into());
    let app = spawn_config(config).await;
    let waitroom = app.address.trim_start_matches("http://").to_owned();

    let script = repo().join("examples/booking-service/server.mjs");
    let service = Daemon::spawn(
        "node",
        &script.display().to_string(),
        &[
            ("PORT", "{port}".to_owned()),
            ("WAITROOM_URL", app.address.clone()),
            ("WAITROOM_EVENT", EVENT.to_owned()),
            ("WAITROOM_SERVICE_TOKEN", SERVICE_TOKEN.to_owned()),
        ],
        None,
    );
    let edge = Edge::in_front_of(
        "cross-origin.conf",
        &waitroom,
        service,
        tempfile::tempdir().unwrap(),
        &[SITE, QUEUE],
    );
    let claim_url = edge.url(SITE, "/_waitroom/claim");
    app.create_event(EVENT, json!({ "max_active": 5, "target_url": claim_url }))
        .await;

    // Without a pass, nginx sends the visitor to the line before the site sees them.
    let away = edge.get(SITE, "/checkout/", None).await;
    assert_eq!(away.status().as_u16(), 302);

    // Joined and admitted through the edge, handed over to the site's domain.
    let joined: serde_json::Value = edge
        .client
        .post(edge.url(QUEUE, &format!("/v1/events/{EVENT}/join")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    app.advance(EVENT, 1).await;
    let pass = status_pass(&edge, QUEUE, joined["token"].as_str().unwrap()).await;
    assert_eq!(app.show(EVENT).await.active, 1);
    let to = edge.url(SITE, "/checkout/");
    let handed = edge
        .get(
            SITE,
            &format!("/_waitroom/claim?waitroom_pass={pass}&to={to}"),
            None,
        )
        .await;
    assert_eq!(handed.status().as_u16(), 303);
    let cookie = handed.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();

    let first = edge.get(SITE, "/checkout/", Some(&cookie)).await;
    assert_eq!(first.status().as_u16(), 200, "{:?}", first.text().await);
    let welcome: serde_json::Value = first.json().await.unwrap();
    assert_eq!(welcome["position"], 1);
    assert_eq!(welcome["welcome"], joined["visitor"]);
    let again = edge.get(SITE, "/checkout/", Some(&cookie)).await;
    assert_eq!(
        again.status().as_u16(),
        403,
        "a pass lets one person in once"
    );
    let forged = edge
        .get(SITE, "/checkout/", Some(&format!("{cookie}x")))
        .await;
    assert_eq!(forged.status().as_u16(), 302, "nginx's gate turns it away");
    assert!(forged.headers()[LOCATION]
        .to_str()
        .unwrap()
        .contains(&format!("/e/{EVENT}?return_to=")));

    let done = edge
        .client
        .post(edge.url(SITE, "/checkout/done"))
        .header(COOKIE, &cookie)
        .body(pass)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status().as_u16(), 200, "{:?}", done.text().await);
    assert_eq!(app.show(EVENT).await.active, 0, "the slot is free again");
}

/// Through the shipped nginx configuration with `trusted_proxies` naming nginx: 300 visitors, each
/// from an address of their own, all join although a join's limit is a burst of 5 per address; one
/// client that rotates forged `X-Forwarded-For` addresses (its own and several header lines) is
/// limited as the one client it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_nginx_each_visitor_is_limited_by_their_own_address() {
    let mut config = config_for(Backend::Memory, "unused");
    config.trusted_proxies = "127.0.0.1/32".into();
    let app = spawn_config(config).await;
    app.create_event(
        "summer-tour",
        json!({ "rate_limits": { "joins_per_minute": 5, "join_burst": 5, "checks_per_second": 50, "check_burst": 100 } }),
    )
    .await;
    let waitroom = app.address.trim_start_matches("http://").to_owned();
    let edge = Edge::start("cross-origin.conf", &waitroom, &["queue.example.com"]);
    let join_url = edge.url("queue.example.com", "/v1/events/summer-tour/join");
    let from = |n: u32| {
        // 127.0.0.2 upwards: loopback addresses other than nginx's own.
        let address =
            std::net::Ipv4Addr::from(u32::from(std::net::Ipv4Addr::new(127, 0, 0, 2)) + n);
        reqwest::Client::builder()
            .local_address(IpAddr::V4(address))
            .resolve(
                "queue.example.com",
                SocketAddr::from(([127, 0, 0, 1], edge.port)),
            )
            .build()
            .unwrap()
    };
    let mut created = 0;
    for n in 0..300 {
        let answer = from(n).post(&join_url).send().await.unwrap();
        assert_eq!(answer.status().as_u16(), 201, "visitor {n}");
        created += 1;
    }
    assert_eq!(created, 300);

    let rotating = from(400);
    let mut statuses = Vec::new();
    for n in 0..20 {
        let answer = rotating
            .post(&join_url)
            .header("x-forwarded-for", format!("198.51.100.{n}"))
            .header("x-forwarded-for", format!("203.0.113.{n}, 192.0.2.{n}"))
            .send()
            .await
            .unwrap();
        statuses.push(answer.status().as_u16());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        5,
        "one client's burst, whatever it forges: {statuses:?}"
    );
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
    assert_eq!(app.show("summer-tour").await.issued, 305);
}

/// Through the shipped nginx configuration balancing three replicas on one Redis: 40 visitors, each
/// from an address of their own, ask for 9 places each (the visitors at once, each one's asks in
/// turn: the test's nginx takes 256 connections); nginx spreads the asks over the
/// replicas, and each address gets its quota of 3 places (counted in Redis with each join), not 3
/// per replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_nginx_three_replicas_give_each_address_its_quota_once() {
    let mut config = config_for(
        Backend::Redis,
        &format!("t{}", waitroom::domain::random_token_id()),
    );
    config.trusted_proxies = "127.0.0.1/32".into();
    let replicas = crate::helpers::three_replicas(config).await;
    replicas[0]
        .create_event(
            EVENT,
            json!({ "batch_size": 0, "rate_limits": { "joins_per_minute": 3, "join_burst": 3, "checks_per_second": 50, "check_burst": 100 } }),
        )
        .await;
    crate::helpers::known_everywhere(&replicas, EVENT).await;
    let upstreams: Vec<&str> = replicas
        .iter()
        .map(|app| app.address.trim_start_matches("http://"))
        .collect();
    // The kit's one upstream server line becomes three.
    let waitroom = upstreams.join(";\n    server ");
    let edge = Edge::start("cross-origin.conf", &waitroom, &["queue.example.com"]);
    let join_url = edge.url("queue.example.com", "/v1/events/summer-tour/join");
    let visitors = (0..40u32).map(|n| {
        let address =
            std::net::Ipv4Addr::from(u32::from(std::net::Ipv4Addr::new(127, 0, 1, 2)) + n);
        let client = reqwest::Client::builder()
            .local_address(IpAddr::V4(address))
            .resolve(
                "queue.example.com",
                SocketAddr::from(([127, 0, 0, 1], edge.port)),
            )
            .build()
            .unwrap();
        let join_url = join_url.clone();
        async move {
            let mut statuses = Vec::new();
            for _ in 0..9 {
                let answer = client.post(&join_url).send().await.unwrap();
                statuses.push(answer.status().as_u16());
            }
            (address, statuses)
        }
    });
    for (address, statuses) in futures_util::future::join_all(visitors).await {
        let placed = statuses.iter().filter(|s| **s == 201).count();
        assert_eq!(placed, 3, "{address}: {statuses:?}");
        assert!(
            statuses.iter().all(|s| [201, 429].contains(s)),
            "{address}: {statuses:?}"
        );
    }
}
