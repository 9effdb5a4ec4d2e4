//! Webhooks: an event's turns told to a real HTTP receiver, signed as Standard Webhooks are, once
//! per turn however many replicas saw it, again after the receiver was down, and given up in the
//! end.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::Engine;
use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use serde_json::{json, Value};
use sha2::Sha256;
use waitroom::config::Config;
use waitroom::domain::random_token_id;

use crate::helpers::{config_for, eventually, in_ms, put_settings, spawn_config, Backend, TestApp};
use crate::{on_both_stores, on_every_store, on_stores};

on_every_store!(an_events_turns_reach_its_webhook_signed_once_each);
on_both_stores!(a_receiver_down_for_a_while_is_told_when_it_is_back);
on_stores!([redis Redis, cluster Cluster] a_data_loss_is_told);
on_stores!([memory Memory] a_notice_nobody_takes_is_given_up_in_the_end);
on_both_stores!(a_line_with_lanes_is_told_each_time_it_empties);
on_every_store!(a_delivery_taken_is_kept_from_other_takers_for_its_lease);
on_both_stores!(a_break_on_the_schedule_is_made_once_told_and_counted_in_the_wait);

/// 32 bytes, as `whsec_` and base64 in the configuration.
const WEBHOOK_KEY: &[u8] = b"the-webhook-key-of-these-tests!!";

/// One request the receiver took.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    timestamp: i64,
    signature: String,
    body: Value,
    raw: String,
    /// Whether the receiver was up (answered 204) or down (503).
    taken: bool,
}

impl Received {
    fn topic(&self) -> &str {
        self.body["type"].as_str().unwrap_or_default()
    }

    /// Whether its signature is the Standard Webhooks one of [`WEBHOOK_KEY`]: computed here
    /// apart from the server's code.
    fn signed(&self) -> bool {
        let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_KEY).unwrap();
        mac.update(format!("{}.{}.{}", self.id, self.timestamp, self.raw).as_bytes());
        let expected =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        self.signature == format!("v1,{expected}")
    }
}

/// A real HTTP server taking notices, up or down as the test says.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
    up: Arc<AtomicBool>,
}

async fn take(
    request: HttpRequest,
    body: String,
    got: web::Data<Mutex<Vec<Received>>>,
    up: web::Data<AtomicBool>,
) -> HttpResponse {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let taken = up.load(Ordering::Acquire);
    got.lock().push(Received {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp").parse().unwrap_or_default(),
        signature: header("webhook-signature"),
        body: serde_json::from_str(&body).unwrap_or_default(),
        raw: body,
        taken,
    });
    if taken {
        HttpResponse::NoContent().finish()
    } else {
        HttpResponse::ServiceUnavailable().finish()
    }
}

impl Receiver {
    async fn start(up: bool) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let got = web::Data::new(Mutex::new(Vec::new()));
        let up = web::Data::new(AtomicBool::new(up));
        let (data, state) = (got.clone(), up.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(state.clone())
                .default_service(web::to(take))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Self {
            url: format!("http://127.0.0.1:{port}/hooks"),
            got: got.into_inner(),
            up: up.into_inner(),
        }
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().clone()
    }

    /// The requests of `topic` the receiver took (answered 204).
    fn taken(&self, topic: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.taken && r.topic() == topic)
            .collect()
    }

    /// Waits until a notice of `topic` was taken.
    async fn wait_for(&self, topic: &str) -> Received {
        eventually(Duration::from_secs(15), || async {
            !self.taken(topic).is_empty()
        })
        .await
        .unwrap_or_else(|| panic!("no {topic} notice; received {:#?}", self.received()));
        self.taken(topic).remove(0)
    }
}

fn hooked_config(backend: Backend) -> Config {
    let mut config = config_for(backend, &format!("t{}", random_token_id()));
    let key = base64::engine::general_purpose::STANDARD.encode(WEBHOOK_KEY);
    config.webhook_secret = Some(format!("whsec_{key}").as_str().into());
    config.webhook_retry = Duration::from_millis(100);
    config.webhook_timeout = Duration::from_millis(2000);
    config
}

/// A replica, and on a shared store a second one: both look for turns and send notices.
async fn replicas(config: Config, backend: Backend) -> Vec<TestApp> {
    let mut apps = vec![spawn_config(config.clone()).await];
    if backend != Backend::Memory {
        apps.push(spawn_config(config).await);
    }
    apps
}

async fn an_events_turns_reach_its_webhook_signed_once_each(backend: Backend) {
    let receiver = Receiver::start(true).await;
    let apps = replicas(hooked_config(backend), backend).await;
    let app = &apps[0];
    app.create_event(
        "tour",
        json!({
            "prequeue_from": in_ms(1000),
            "opens_at": in_ms(2500),
            "webhooks": [{ "url": receiver.url }]
        }),
    )
    .await;

    let prequeue = receiver.wait_for("prequeue.opened").await;
    assert_eq!(prequeue.body["data"]["phase"], "prequeue");
    let opened = receiver.wait_for("event.opened").await;
    assert_eq!(opened.body["data"]["event"], "tour", "{:?}", opened.body);
    assert_eq!(opened.body["data"]["phase"], "live");

    for _ in 0..2 {
        let joined = app.join("tour").await;
        assert_eq!(joined.status.as_u16(), 201, "{}", joined.body);
    }
    // Every replica sees someone waiting before the line moves.
    tokio::time::sleep(Duration::from_millis(800)).await;
    app.advance("tour", 2).await;
    let emptied = receiver.wait_for("line.emptied").await;
    assert_eq!(emptied.body["data"]["waiting"], 0);
    assert_eq!(emptied.body["data"]["admitted_through"], 2);

    app.api.pause("tour").await.unwrap();
    let paused = receiver.wait_for("event.paused").await;
    assert_eq!(paused.body["data"]["state"], "paused");
    app.api.resume("tour").await.unwrap();
    receiver.wait_for("event.resumed").await;
    let closed = put_settings(app, "tour", json!({ "state": "closed" })).await;
    assert_eq!(closed.status.as_u16(), 200, "{}", closed.body);
    receiver.wait_for("event.closed").await;
    // Time for any replica to tell a turn twice.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let received = receiver.received();
    let topics: Vec<&str> = received.iter().map(Received::topic).collect();
    assert_eq!(
        topics,
        [
            "prequeue.opened",
            "event.opened",
            "line.emptied",
            "event.paused",
            "event.resumed",
            "event.closed"
        ],
        "each turn once, in order: {received:#?}"
    );
    let mut ids: Vec<&str> = received.iter().map(|r| r.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 6, "an id per turn: {received:#?}");
    let now = chrono::Utc::now().timestamp();
    for notice in &received {
        assert!(notice.signed(), "a valid signature: {notice:?}");
        assert!((now - notice.timestamp).abs() < 60, "{notice:?}");
        assert!(notice.body["timestamp"].as_str().is_some(), "{notice:?}");
    }
}

async fn a_receiver_down_for_a_while_is_told_when_it_is_back(backend: Backend) {
    let receiver = Receiver::start(false).await;
    let apps = replicas(hooked_config(backend), backend).await;
    let app = &apps[0];
    let hooks = json!([{ "url": receiver.url, "topics": ["event.paused", "event.resumed"] }]);
    app.create_event("tour", json!({ "webhooks": hooks })).await;
    app.api.pause("tour").await.unwrap();
    app.api.resume("tour").await.unwrap();

    // Refused, and tried again while the receiver is down.
    let retried = eventually(Duration::from_secs(15), || async {
        let received = receiver.received();
        ["event.paused", "event.resumed"]
            .iter()
            .all(|topic| received.iter().filter(|r| r.topic() == *topic).count() >= 3)
    })
    .await;
    assert!(retried.is_some(), "{:#?}", receiver.received());
    receiver.up.store(true, Ordering::Release);
    let paused = receiver.wait_for("event.paused").await;
    let resumed = receiver.wait_for("event.resumed").await;
    assert_ne!(paused.id, resumed.id);

    // Not a topic it asked for.
    let closed = put_settings(app, "tour", json!({ "state": "closed" })).await;
    assert_eq!(closed.status.as_u16(), 200, "{}", closed.body);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let received = receiver.received();
    for notice in &received {
        let first = if notice.topic() == "event.paused" {
            &paused
        } else {
            &resumed
        };
        assert_eq!(
            notice.id, first.id,
            "every try has the notice's id: {notice:?}"
        );
        assert_eq!(notice.raw, first.raw, "and its body");
        assert!(notice.signed(), "{notice:?}");
    }
    for topic in ["event.paused", "event.resumed"] {
        assert_eq!(receiver.taken(topic).len(), 1, "taken once: {received:#?}");
    }
}

async fn a_data_loss_is_told(backend: Backend) {
    let receiver = Receiver::start(true).await;
    let config = hooked_config(backend);
    let prefix = config.redis_prefix.clone();
    let apps = replicas(config, backend).await;
    let app = &apps[0];
    let hooks = json!([{ "url": receiver.url, "topics": ["data.lost"] }]);
    app.create_event("tour", json!({ "webhooks": hooks })).await;
    app.join("tour").await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Redis loses the line in place; the next join finds out, and the replica restores it.
    let key = |name: &str| format!("{prefix}:{{tour}}:{name}");
    let _: () = redis::pipe()
        .del(key("issued"))
        .del(key("line"))
        .query_async(&mut crate::helpers::raw_redis(backend).await)
        .await
        .unwrap();
    let joined = app.join("tour").await;
    assert!(
        joined.position() > 1,
        "no place given twice: {}",
        joined.body
    );

    let lost = receiver.wait_for("data.lost").await;
    assert_eq!(lost.body["data"]["event"], "tour");
    assert!(lost.signed(), "{lost:?}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(receiver.received().len(), 1, "{:#?}", receiver.received());
}

async fn a_delivery_taken_is_kept_from_other_takers_for_its_lease(backend: Backend) {
    use waitroom::domain::{EventId, LineId};

    let store: Arc<dyn waitroom::store::Store> = match backend {
        Backend::Memory => Arc::new(waitroom::store::MemoryStore::default()),
        _ => crate::helpers::shared_store(backend, &format!("t{}", random_token_id())).await,
    };
    let line = LineId::from(EventId::parse("tour").unwrap());
    let deliveries = [
        ("n:1/0".to_owned(), "a".to_owned()),
        ("n:1/1".to_owned(), "b".to_owned()),
    ];
    assert!(store
        .queue_notice(&line, "n:1", &deliveries, 1000)
        .await
        .unwrap());
    assert!(
        !store
            .queue_notice(&line, "n:1", &deliveries, 1001)
            .await
            .unwrap(),
        "a notice is queued once"
    );
    // Each taker holds what it takes for 5 s.
    let take = |now_ms: i64, most: u64| {
        let (store, line) = (store.clone(), line.clone());
        async move {
            store
                .take_deliveries(&line, now_ms, 5000, most)
                .await
                .unwrap()
        }
    };
    assert!(take(999, 10).await.is_empty(), "not due yet");
    let taken = take(1000, 1).await;
    assert_eq!(taken.len(), 1, "at most as many as asked");
    let (first, second) = (&taken[0], take(1000, 10).await);
    assert_eq!((first.tries, second.len()), (1, 1), "{second:?}");
    assert_ne!(first.key, second[0].key);
    assert!(take(5999, 10).await.is_empty(), "leased to their taker");
    // The first taker settles its delivery; the second died: its lease runs out, it is due again.
    store
        .settle_delivery(&line, &first.key, None)
        .await
        .unwrap();
    let again = take(6000, 10).await;
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(
        (again[0].key.as_str(), again[0].tries),
        (second[0].key.as_str(), 2)
    );
    assert_eq!(again[0].record, second[0].record);
    // Failed: due again when the worker says.
    store
        .settle_delivery(&line, &again[0].key, Some(20_000))
        .await
        .unwrap();
    assert!(take(19_999, 10).await.is_empty());
    assert_eq!(take(20_000, 10).await.len(), 1);
}

async fn a_notice_nobody_takes_is_given_up_in_the_end(backend: Backend) {
    let receiver = Receiver::start(false).await;
    let mut config = hooked_config(backend);
    config.webhook_give_up = Duration::from_secs(1);
    let app = spawn_config(config).await;
    let hooks = json!([{ "url": receiver.url, "topics": ["event.paused"] }]);
    app.create_event("tour", json!({ "webhooks": hooks })).await;
    app.api.pause("tour").await.unwrap();

    // Tried at once, then after 0.1, 0.2, 0.4 s... (on the worker's ticks), until a try would come
    // more than a second after the first.
    let given_up = eventually(Duration::from_secs(10), || async {
        app.metrics_text()
            .await
            .contains("waitroom_webhook_deliveries_total{outcome=\"given_up\"} 1")
    })
    .await;
    assert!(given_up.is_some(), "{}", app.metrics_text().await);
    let tries = receiver.received().len();
    assert!((2..=5).contains(&tries), "{:#?}", receiver.received());
    receiver.up.store(true, Ordering::Release);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.received().len(), tries, "no try after giving up");
    let failed = format!(
        "waitroom_webhook_deliveries_total{{outcome=\"failed\"}} {}",
        tries - 1
    );
    assert!(app.metrics_text().await.contains(&failed), "{failed}");
}

/// A certificate authority of the test's own, and a certificate it signed for `localhost` and
/// 127.0.0.1: (the authority's PEM file, the receiver's certificate and key).
fn authority(
    dir: &std::path::Path,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let openssl = |args: &[&str]| {
        let made = std::process::Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .output()
            .expect("openssl (scripts/install-test-deps.sh installs it)");
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=waitroom test authority",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign",
            ],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "receiver.key",
                "-out",
                "receiver.csr",
                "-subj",
                "/CN=localhost",
            ],
        ]
        .concat(),
    );
    std::fs::write(
        dir.join("receiver.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "receiver.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "receiver.pem",
        "-days",
        "2",
        "-extfile",
        "receiver.ext",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("receiver.pem"),
        dir.join("receiver.key"),
    )
}

/// An https receiver: each request's head and body, answered 204.
async fn https_receiver(
    certificate: &std::path::Path,
    key: &std::path::Path,
) -> (u16, Arc<Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(certificate)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    let config = tokio_rustls::rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let taken = got.clone();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, taken) = (acceptor.clone(), taken.clone());
            tokio::spawn(async move {
                // A client that does not trust the certificate ends the handshake: nothing taken.
                let Ok(mut stream) = acceptor.accept(socket).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                loop {
                    let Ok(read) = stream.read(&mut buffer).await else {
                        return;
                    };
                    if read == 0 {
                        return;
                    }
                    request.extend_from_slice(&buffer[..read]);
                    let text = String::from_utf8_lossy(&request).into_owned();
                    let Some((head, body)) = text.split_once("\r\n\r\n") else {
                        continue;
                    };
                    let length: usize = head
                        .lines()
                        .find_map(|line| {
                            let (name, value) = line.split_once(':')?;
                            name.eq_ignore_ascii_case("content-length")
                                .then(|| value.trim().parse().ok())?
                        })
                        .unwrap_or(0);
                    if body.len() >= length {
                        taken.lock().push(text);
                        let _ = stream
                            .write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
                            .await;
                        let _ = stream.shutdown().await;
                        return;
                    }
                }
            });
        }
    });
    (port, got)
}

/// An https receiver is told, its certificate checked against the roots the system trusts (here
/// the test's own authority, in `SSL_CERT_FILE`); one the process does not trust is never told.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_receiver_is_told_when_its_authority_is_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let (authority, certificate, key) = authority(dir.path());
    let (port, got) = https_receiver(&certificate, &key).await;
    let secret = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(WEBHOOK_KEY)
    );
    let serve = |trusted: Option<&std::path::Path>| {
        let mut env = vec![
            ("WAITROOM_WEBHOOK_SECRET", secret.clone()),
            ("WAITROOM_WEBHOOK_RETRY_MS", "100".to_owned()),
            ("WAITROOM_DEMO_EVENT", "false".to_owned()),
        ];
        // Without it, the system's roots: which never signed the test's authority.
        env.push((
            "SSL_CERT_FILE",
            trusted.map_or_else(
                || "/etc/ssl/certs/ca-certificates.crt".to_owned(),
                |path| path.display().to_string(),
            ),
        ));
        async move { crate::helpers::ServeProcess::start(&env).await }
    };
    let hooks =
        json!([{ "url": format!("https://localhost:{port}/hook"), "topics": ["event.paused"] }]);

    let untrusting = serve(None).await;
    untrusting
        .app
        .create_event("tour", json!({ "webhooks": hooks }))
        .await;
    untrusting.app.api.pause("tour").await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        got.lock().is_empty(),
        "told through an unchecked certificate"
    );
    assert!(
        untrusting
            .process
            .log_text()
            .contains("could not be reached"),
        "{}",
        untrusting.process.log_text()
    );

    let trusting = serve(Some(&authority)).await;
    trusting
        .app
        .create_event("tour", json!({ "webhooks": hooks }))
        .await;
    trusting.app.api.pause("tour").await.unwrap();
    let told = eventually(Duration::from_secs(15), || async { !got.lock().is_empty() }).await;
    assert!(told.is_some(), "{}", trusting.process.log_text());
    let request = got.lock()[0].clone();
    let (head, body) = request.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("POST /hook HTTP/1.1"), "{head}");
    let header = |name: &str| {
        head.lines()
            .find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.eq_ignore_ascii_case(name)
                    .then(|| value.trim().to_owned())
            })
            .unwrap_or_default()
    };
    let received = Received {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp").parse().unwrap(),
        signature: header("webhook-signature"),
        body: serde_json::from_str(body).unwrap(),
        raw: body.to_owned(),
        taken: true,
    };
    assert_eq!(received.topic(), "event.paused");
    assert!(received.signed(), "{received:?}");
}

async fn a_line_with_lanes_is_told_each_time_it_empties(backend: Backend) {
    let receiver = Receiver::start(true).await;
    let app = spawn_config(hooked_config(backend)).await;
    let hooks = json!([{ "url": receiver.url, "topics": ["line.emptied"] }]);
    let lanes = json!([{ "name": "public", "share": 50 }, { "name": "members", "share": 50 }]);
    app.create_event("tour", json!({ "webhooks": hooks, "lanes": lanes }))
        .await;
    let emptied = |times: usize| {
        let receiver = &receiver;
        async move {
            let told = eventually(Duration::from_secs(15), || async {
                receiver.taken("line.emptied").len() >= times
            })
            .await;
            assert!(told.is_some(), "{:#?}", receiver.received());
        }
    };
    for round in 1..=2usize {
        // The first time one waits in each lane, the second time in the members' lane only;
        // every replica sees them wait before the line moves.
        if round == 1 {
            app.join("tour").await;
        }
        app.api
            .trusted_join("tour", &format!("member-{round}"), Some("members"))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(800)).await;
        app.advance("tour", 3 - round as u64).await;
        emptied(round).await;
    }
    let told = receiver.taken("line.emptied");
    assert_eq!(told.len(), 2, "{told:#?}");
    assert_ne!(told[0].id, told[1].id, "each emptying its own notice");
}

/// A break announced on the schedule (`pauses_at`, `resumes_at`): whichever replica makes each
/// turn, it is made once, at its time, and told once; while it lasts, a visitor is told when the
/// line moves again (the page without script says so too) and the wait counts the rest of it.
async fn a_break_on_the_schedule_is_made_once_told_and_counted_in_the_wait(backend: Backend) {
    let receiver = Receiver::start(true).await;
    let apps = replicas(hooked_config(backend), backend).await;
    let app = &apps[0];
    let (pauses_at, resumes_at) = (in_ms(1_500), in_ms(6_000));
    let ms = |at: &str| {
        chrono::DateTime::parse_from_rfc3339(at)
            .unwrap()
            .timestamp_millis()
    };
    app.create_event(
        "tour",
        json!({
            "batch_size": 1,
            "release_interval_ms": 600_000,
            "pauses_at": pauses_at,
            "resumes_at": resumes_at,
            "webhooks": [{ "url": receiver.url }]
        }),
    )
    .await;
    let ahead = app.page_json("/v1/events/tour").await;
    let public = |info: &Value, field: &str| info[field].as_str().map(ms);
    assert_eq!(
        (public(&ahead, "pauses_at"), public(&ahead, "resumes_at")),
        (
            Some(ms(&pauses_at) / 1_000 * 1_000),
            Some(ms(&resumes_at) / 1_000 * 1_000)
        ),
        "the break is public: {ahead}"
    );
    let mut tokens = Vec::new();
    for _ in 0..3 {
        let joined = app.join("tour").await;
        assert_eq!(joined.status.as_u16(), 201, "{}", joined.body);
        tokens.push(joined.token());
    }
    let last = tokens.last().unwrap();

    let paused = receiver.wait_for("event.paused").await;
    assert_eq!(paused.body["data"]["state"], "paused");
    let shown = app.show("tour").await.settings;
    assert_eq!(
        shown.history.state_changed_ms,
        Some(ms(&pauses_at)),
        "made at its time"
    );
    for replica in &apps {
        let status = replica.status("tour", last).await;
        assert_eq!(status.body["state"], "paused", "{}", status.body);
        let told =
            chrono::DateTime::parse_from_rfc3339(status.body["resumes_at"].as_str().unwrap())
                .unwrap()
                .timestamp_millis();
        assert!((ms(&resumes_at) - told).abs() < 1_000, "{}", status.body);
        // The rest of the break, then at least one release interval (one is ahead).
        let wait_s = status.body["estimate"]["wait_s"]
            .as_u64()
            .expect("an estimate while paused");
        assert!(wait_s >= 600, "{}", status.body);
    }
    let during = app.page_json("/v1/events/tour").await;
    assert_eq!(during["state"], "paused", "{during}");
    assert!(
        during.get("pauses_at").is_none() && during["resumes_at"].is_string(),
        "{during}"
    );
    let page = app.page_of_holder("tour", last).await;
    assert!(page.contains("The line is paused until"), "{page}");

    receiver.wait_for("event.resumed").await;
    let shown = app.show("tour").await.settings;
    assert_eq!(shown.state, waitroom::domain::EventState::Open);
    assert_eq!(shown.history.state_changed_ms, Some(ms(&resumes_at)));
    let status = app.status("tour", last).await;
    assert!(status.body.get("resumes_at").is_none(), "{}", status.body);
    // Time for any replica to make or tell a turn twice.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let topics: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| r.topic().to_owned())
        .collect();
    assert_eq!(topics, ["event.paused", "event.resumed"], "each turn once");
}
