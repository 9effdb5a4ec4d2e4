//! Test harness: spawns the service in-process on port 0 against either store, a real
//! `redis-server` shared by all tests of this binary (each test isolated by a random key prefix),
//! and Kafka-protocol brokers.

use std::net::TcpListener;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, SET_COOKIE};
use reqwest::{Response, StatusCode};
use serde_json::Value;
use waitroom::client::{Client, EventStream};
use waitroom::config::Config;
use waitroom::domain::{random_token_id, EventId, EventSettings, EventView, Patch, VisitorId};
use waitroom::keys::KeySet;
use waitroom::startup::Application;
use waitroom::token::{TokenKind, Tokens};
pub use waitroom_testkit::Daemon;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
pub const KEY_ID: &str = "test-2026";
/// 32 bytes, base64: the key every test app signs with, so tests can sign tokens of their own.
pub const KEY_B64: &str = "dGVzdC1zaWduaW5nLWtleS1vZi0zMi1ieXRlcy0hISE=";
pub const ISSUER: &str = "waitroom";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Memory,
    Redis,
    /// A Redis Cluster of three primaries.
    Cluster,
}

/// Runs each scenario once per store named: `on_stores!([memory Memory, redis Redis] scenario, ...)`
/// makes `scenario::memory` and `scenario::redis`, calling `scenario(Backend::Memory)` and so on.
#[macro_export]
macro_rules! on_stores {
    ([$($test:ident $backend:ident),*] $(,)?) => {};
    ([$($test:ident $backend:ident),*] $scenario:ident $(, $rest:ident)* $(,)?) => {
        mod $scenario {
            use $crate::helpers::Backend;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$scenario(Backend::$backend).await
                }
            )*
        }
        $crate::on_stores!([$($test $backend),*] $($rest),*);
    };
}

/// Runs a scenario once on the embedded store and once on Redis.
#[macro_export]
macro_rules! on_both_stores {
    ($($scenario:ident),* $(,)?) => {
        $crate::on_stores!([memory Memory, redis Redis] $($scenario),*);
    };
}

/// Runs a scenario on the embedded store, on Redis and on a Redis Cluster.
#[macro_export]
macro_rules! on_every_store {
    ($($scenario:ident),* $(,)?) => {
        $crate::on_stores!([memory Memory, redis Redis, cluster Cluster] $($scenario),*);
    };
}

/// The Redis Cluster every test shares (three primaries started for this test process), as
/// `redis_url` lists it.
pub fn shared_cluster_urls() -> String {
    static SHARED: OnceLock<String> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            let cluster = waitroom_testkit::RedisCluster::start();
            let urls = cluster.urls().join(",");
            // Lives as long as the test process; the watchdog shells stop it afterwards.
            std::mem::forget(cluster);
            urls
        })
        .clone()
}

/// The Redis every test shares: `TEST_REDIS_URL`, or a server started for this test process.
pub fn shared_redis_url() -> String {
    static SHARED: OnceLock<String> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| {
                let server = Daemon::redis();
                let url = server.redis_url();
                // Lives as long as the test process; the watchdog shell stops it afterwards.
                std::mem::forget(server);
                url
            })
        })
        .clone()
}

/// The defaults, with no environment, as a test's starting point.
pub fn base_config() -> Config {
    let mut config = Config::defaults().expect("defaults parse");
    config.listen = ([127, 0, 0, 1], 0).into();
    config.workers = 1;
    config.demo_event = false;
    config.admin_token = Some(ADMIN_TOKEN.into());
    config.signing_keys = [(KEY_ID.to_owned(), KEY_B64.into())].into();
    config.pointer_poll = Duration::from_millis(100);
    // Drain tests switch it on with a sink of their own; elsewhere it would only print.
    config.drain_in_serve = false;
    config
}

pub fn config_for(backend: Backend, prefix: &str) -> Config {
    let mut config = base_config();
    match backend {
        Backend::Memory => {}
        Backend::Redis => config.redis_url = Some(shared_redis_url().as_str().into()),
        Backend::Cluster => {
            config.redis_url = Some(shared_cluster_urls().as_str().into());
            config.redis_cluster = true;
        }
    }
    config.redis_prefix = prefix.to_owned();
    config
}

/// Per-client rate limits switched off.
pub const UNLIMITED: waitroom::domain::RateLimits = waitroom::domain::RateLimits {
    joins_per_minute: 0,
    join_burst: 0,
    checks_per_second: 0,
    check_burst: 0,
};

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    /// The typed client, with the admin token: for setting up what a test needs.
    pub api: Client,
}

impl TestApp {
    fn at(address: String, client: reqwest::Client) -> Self {
        let api = Client::new(&address).with_admin_token(ADMIN_TOKEN);
        Self {
            address,
            client,
            api,
        }
    }
}

/// A store on the shared Redis under `prefix`, for tests that drive the store directly.
pub async fn redis_store(prefix: &str) -> std::sync::Arc<dyn waitroom::store::Store> {
    std::sync::Arc::new(
        waitroom::store::RedisStore::connect(&shared_redis_url(), prefix)
            .await
            .expect("the shared Redis"),
    )
}

fn shared_topology(backend: Backend) -> waitroom::store::topology::Topology {
    use waitroom::store::topology::Topology;
    match backend {
        Backend::Memory => panic!("the embedded store is not shared"),
        Backend::Redis => Topology::Single(shared_redis_url()),
        Backend::Cluster => Topology::Cluster(
            shared_cluster_urls()
                .split(',')
                .map(str::to_owned)
                .collect(),
        ),
    }
}

/// A connection to the shared Redis or the shared cluster, for tests that read or change its data
/// behind waitroom's back.
pub async fn raw_redis(backend: Backend) -> waitroom::store::topology::Conn {
    waitroom::store::topology::Conn::open(&shared_topology(backend))
        .await
        .expect("the shared Redis")
}

/// A store on the shared Redis or the shared cluster under `prefix`.
pub async fn shared_store(
    backend: Backend,
    prefix: &str,
) -> std::sync::Arc<dyn waitroom::store::Store> {
    let topology = shared_topology(backend);
    std::sync::Arc::new(
        waitroom::store::RedisStore::open(topology, prefix, Duration::from_millis(300))
            .await
            .expect("the shared Redis"),
    )
}

/// A real `waitroom serve` process on a free port, started through the test kit with the test key,
/// the admin token, its logs and drain log in its own directory, and `env` on top; stopped when
/// dropped.
pub struct ServeProcess {
    pub process: Daemon,
    pub app: TestApp,
    /// Holds its key, logs and drain log for as long as it runs.
    _dir: tempfile::TempDir,
}

impl ServeProcess {
    /// Starts it and waits until it answers.
    pub async fn start(env: &[(&str, String)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        crate::helpers::write_key_file(dir.path().join(format!("{KEY_ID}.key")), KEY_B64);
        let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
        let mut settings = vec![
            ("WAITROOM_LISTEN", "127.0.0.1:{port}".to_owned()),
            ("WAITROOM_WORKERS", "1".into()),
            ("WAITROOM_ADMIN_TOKEN", ADMIN_TOKEN.into()),
            ("WAITROOM_KEYS_DIR", path("")),
            ("WAITROOM_DRAIN_LOG", path("admitted.jsonl")),
            ("RUST_LOG", "warn".into()),
        ];
        settings.extend(env.iter().cloned());
        let process = Daemon::spawn_isolated(
            env!("CARGO_BIN_EXE_waitroom"),
            "serve",
            &settings,
            Some(dir.path().join("serve.log")),
        );
        let app = TestApp::at(
            format!("http://{}", process.address()),
            reqwest::Client::new(),
        );
        let up = eventually(Duration::from_secs(20), || async {
            app.client.get(app.url("/healthz")).send().await.is_ok()
        })
        .await;
        assert!(
            up.is_some(),
            "waitroom serve did not answer: {}",
            process.log_text()
        );
        Self {
            process,
            app,
            _dir: dir,
        }
    }

    /// What its drain delivered to its log sink (`WAITROOM_DRAIN_LOG`, unless overridden).
    pub fn drained(&self) -> Vec<waitroom::sink::AdmissionMessage> {
        crate::drain::read_log(&self._dir.path().join("admitted.jsonl"))
    }

    /// Sends SIGTERM, as an orchestrator stopping the pod would.
    pub fn terminate(&self) {
        self.process.signal("TERM");
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_with(backend, &format!("t{}", random_token_id())).await
}

/// Spawns an app on a given key prefix, so several replicas can share one Redis line.
pub async fn spawn_with(backend: Backend, prefix: &str) -> TestApp {
    spawn_config(config_for(backend, prefix)).await
}

pub async fn spawn_config(config: Config) -> TestApp {
    spawn_listeners(config).await.0
}

/// An app with an internal listener (`internal_listen` set in `config`): the public side, then the
/// internal one.
pub async fn spawn_split(config: Config) -> (TestApp, TestApp) {
    let (public, internal) = spawn_listeners(config).await;
    (public, internal.expect("internal_listen is set"))
}

async fn spawn_listeners(config: Config) -> (TestApp, Option<TestApp>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let app = Application::build_with_listener(config, listener)
        .await
        .expect("the app starts");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let at = |port: u16| TestApp::at(format!("http://127.0.0.1:{port}"), client.clone());
    let public = at(app.port());
    let internal = app.internal_port().map(at);
    tokio::spawn(app.run_until_stopped());
    (public, internal)
}

/// A keys directory as an operator sets up passes others verify: the test HS256 key, and an Ed25519
/// key for each id in `ed25519` (kept when it exists already, as across a rotation).
/// Writes a key file as keys must be kept: readable by its owner only (others are refused).
pub fn write_key_file(path: impl AsRef<std::path::Path>, contents: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(&path, contents).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

pub fn write_keys(dir: &std::path::Path, ed25519: &[&str]) {
    crate::helpers::write_key_file(dir.join(format!("{KEY_ID}.key")), KEY_B64);
    for kid in ed25519 {
        let path = dir.join(format!("{kid}.pem"));
        if !path.exists() {
            write_key_file(&path, &waitroom::keys::generate_ed25519_pem());
        }
    }
}

/// The test configuration on the keys in `dir` (see [`write_keys`]), passes signed with `pass_key`.
pub fn config_with_keys(dir: &std::path::Path, pass_key: &str) -> Config {
    let mut config = base_config();
    config.signing_keys.clear();
    config.keys_dir = Some(dir.to_owned());
    config.active_key = Some(KEY_ID.into());
    config.pass_key = Some(pass_key.into());
    config
}

/// A token signed with the test key, for cases the API would never hand out (expired ones).
pub fn sign_token(
    kind: TokenKind,
    event: &str,
    position: u64,
    issued_at: i64,
    ttl_s: u64,
) -> String {
    let keys = KeySet::from_pairs([(KEY_ID, KEY_B64)], None).unwrap();
    Tokens::new(&keys, ISSUER)
        .sign(
            kind,
            &EventId::parse(event).unwrap().into(),
            &VisitorId::generate(),
            position,
            issued_at,
            ttl_s,
        )
        .0
}

pub struct Answer {
    pub status: StatusCode,
    pub content_type: String,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    async fn from(response: Response) -> Self {
        let status = response.status();
        let headers = response.headers().clone();
        let content_type = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self {
            status,
            content_type,
            headers,
            body,
        }
    }

    /// Asserts a problem document with this status and type slug.
    pub fn assert_problem(&self, status: u16, slug: &str) {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        assert_eq!(
            self.content_type, "application/problem+json",
            "{}",
            self.body
        );
        assert_eq!(
            self.body["type"],
            format!("urn:waitroom:problem:{slug}"),
            "{}",
            self.body
        );
        assert_eq!(self.body["status"], status);
        assert!(
            self.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{}",
            self.body
        );
    }

    pub fn token(&self) -> String {
        self.body["token"].as_str().expect("a token").to_owned()
    }

    pub fn position(&self) -> u64 {
        self.body["position"].as_u64().expect("a position")
    }

    pub fn cookie(&self) -> Option<String> {
        self.headers
            .get(SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// A public JSON document (an event's info), asserting it is there.
    pub async fn page_json(&self, path: &str) -> Value {
        let answer = self.send(self.client.get(self.url(path))).await;
        assert_eq!(answer.status.as_u16(), 200, "{path}: {}", answer.body);
        answer.body
    }

    /// The text of a page as a browser asks for it.
    pub async fn page_text(&self, path: &str) -> String {
        let response = self.client.get(self.url(path)).send().await.expect("sent");
        response.text().await.expect("a body")
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        Answer::from(request.send().await.expect("request sent")).await
    }

    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Answer {
        let mut request = self
            .client
            .request(method, self.url(path))
            .header(AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"));
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(request).await
    }

    /// Creates an event released by hand only and without per-client rate limits (every test
    /// client is 127.0.0.1), unless `settings` says otherwise.
    pub async fn create_event(&self, event: &str, settings: Value) -> EventView {
        let patch = Patch::<EventSettings>::try_from(settings)
            .expect("event settings")
            .or_with("batch_size", 0)
            .or_with("rate_limits", UNLIMITED);
        self.api.put_event(event, &patch).await.expect("the event")
    }

    pub async fn join(&self, event: &str) -> Answer {
        self.send(
            self.client
                .post(self.url(&format!("/v1/events/{event}/join"))),
        )
        .await
    }

    pub async fn join_with(&self, event: &str, token: &str) -> Answer {
        self.send(
            self.client
                .post(self.url(&format!("/v1/events/{event}/join")))
                .bearer_auth(token),
        )
        .await
    }

    pub async fn status(&self, event: &str, token: &str) -> Answer {
        self.send(
            self.client
                .get(self.url(&format!("/v1/events/{event}/status")))
                .bearer_auth(token),
        )
        .await
    }

    pub async fn gate(&self, event: &str, token: &str) -> Answer {
        self.send(
            self.client
                .get(self.url(&format!("/v1/events/{event}/gate")))
                .bearer_auth(token),
        )
        .await
    }

    pub async fn leave(&self, event: &str, token: &str) -> Answer {
        self.send(
            self.client
                .post(self.url(&format!("/v1/events/{event}/leave")))
                .bearer_auth(token),
        )
        .await
    }

    pub async fn verify(&self, body: Value) -> Answer {
        self.send(self.client.post(self.url("/v1/verify")).json(&body))
            .await
    }

    pub async fn advance(&self, event: &str, by: u64) -> EventView {
        self.api.advance(event, by).await.expect("an advance")
    }

    pub async fn show(&self, event: &str) -> EventView {
        self.api.event(event).await.expect("the event")
    }

    /// A visitor who joins `event`, is let in by hand, and collects their pass as the page does:
    /// their join answer and the pass.
    pub async fn admitted_visitor(&self, event: &str) -> (Answer, String) {
        let joined = self.join(event).await;
        self.advance(event, 1).await;
        let status = self.status(event, &joined.token()).await;
        let pass = status.body["pass"].as_str().expect("a pass").to_owned();
        (joined, pass)
    }

    /// The page without script of `event` as the holder of `token` sees it (the token in the
    /// cookie the join set).
    pub async fn page_of_holder(&self, event: &str, token: &str) -> String {
        self.client
            .get(self.url(&format!("/e/{event}?nojs=1")))
            .header("cookie", format!("waitroom_{event}={token}"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The Prometheus exposition at `/metrics`.
    pub async fn metrics_text(&self) -> String {
        let response = self.client.get(self.url("/metrics")).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        response.text().await.unwrap()
    }

    /// The live-update stream of the visitor holding `token`.
    pub async fn stream(&self, event: &str, token: &str) -> EventStream {
        self.api.stream(event, token).await.expect("a stream")
    }
}

/// Polls `check` until it holds or `within` passes; returns how long it took.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < within {
        if check().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// The claims of a token, read without checking it (the tests' own tokens).
pub fn claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

/// An app, and on a shared store a second replica on the same data.
pub async fn app_and_other_replica(backend: Backend) -> (TestApp, Option<TestApp>) {
    let config = config_for(backend, &format!("t{}", random_token_id()));
    let app = spawn_config(config.clone()).await;
    let other = match backend {
        Backend::Memory => None,
        _ => Some(spawn_config(config).await),
    };
    (app, other)
}

/// An RFC 3339 time `ms` milliseconds from now (to the millisecond), as settings take times.
pub fn in_ms(ms: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::milliseconds(ms))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Changes an event's settings.
pub async fn put_settings(app: &TestApp, event: &str, settings: Value) -> Answer {
    app.admin(
        reqwest::Method::PUT,
        &format!("/v1/admin/events/{event}"),
        Some(settings),
    )
    .await
}

/// Three replicas on the same data, as `config` says.
pub async fn three_replicas(config: Config) -> [TestApp; 3] {
    [
        spawn_config(config.clone()).await,
        spawn_config(config.clone()).await,
        spawn_config(config).await,
    ]
}

/// Waits until every replica has heard of `event`: one made through one replica reaches the others
/// by the store's push, and a join sent to a replica before that is answered 404.
pub async fn known_everywhere<'a>(replicas: impl IntoIterator<Item = &'a TestApp>, event: &str) {
    for replica in replicas {
        let info = replica.url(&format!("/v1/events/{event}"));
        let known = eventually(Duration::from_secs(5), || async {
            let answer = replica.client.get(&info).send().await;
            answer.is_ok_and(|answer| answer.status() == StatusCode::OK)
        })
        .await;
        assert!(
            known.is_some(),
            "{} did not hear of `{event}`",
            replica.address
        );
    }
}
