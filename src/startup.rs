//! Builds the service from its configuration: keys, store, pointer cache, background tasks and the
//! HTTP server, bound to a listener the caller may choose (tests bind port 0).

use std::future::Future;
use std::net::TcpListener;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::cache::{PointerCache, Resync};
use crate::config::{Config, ConfigError, LogTarget};
use crate::demo;
use crate::drain::{DrainSettings, DrainWorker};
use crate::keys::{KeyError, KeySet};
use crate::limits::Limiters;
use crate::metrics::{Metrics, RequestTimers};
use crate::routes::state::StreamSlots;
use crate::routes::templates::Pages;
use crate::routes::{self, observe_request, ApiError, AppState, HotPaths, Surface};
use crate::scheduler::run_releases;
use crate::sink::{KafkaSink, LogSink, Sink, SinkError};
use crate::store::topology::Topology;
use crate::store::{
    put_event_and_lanes, MemoryStore, MeteredStore, PutMode, RedisStore, Store, StoreError,
    StoreProbe, WriteHealth,
};
use crate::token::Tokens;
use crate::webhooks::{run_webhooks, HookSettings};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("signing keys: {0}")]
    Keys(#[from] KeyError),
    #[error("the public development key (keys/dev.key) is among the signing keys: anyone can forge tokens with it, whichever key signs; remove it from the keys (or set dev_mode = true for a throwaway setup)")]
    DevKeyLoaded,
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("cannot listen: {0}")]
    Io(#[from] std::io::Error),
    #[error("sink: {0}")]
    Sink(#[from] SinkError),
    #[error(transparent)]
    Templates(#[from] crate::routes::templates::TemplateError),
}

pub struct Application {
    port: u16,
    server: Server,
    /// The internal listener's server and port, when `internal_listen` is set.
    internal: Option<(Server, u16)>,
    /// Tells background tasks (resync, release, drain) to stop.
    shutdown: watch::Sender<bool>,
    /// Tells push streams to close with a retry hint.
    closing: watch::Sender<bool>,
    /// False from the moment shutdown starts, so load balancers stop sending traffic first.
    ready: Arc<AtomicBool>,
    shutdown_delay: Duration,
    shutdown_timeout: Duration,
    tasks: Vec<JoinHandle<()>>,
}

/// Loads the signing keys the configuration names, or makes an ephemeral one for the embedded default.
pub fn load_keys(config: &Config) -> Result<KeySet, StartError> {
    let keys = if let Some(dir) = &config.keys_dir {
        KeySet::from_dir(dir, config.active_key.as_deref())?
    } else if !config.signing_keys.is_empty() {
        KeySet::from_pairs(
            config
                .signing_keys
                .iter()
                .map(|(kid, secret)| (kid.as_str(), secret.expose())),
            config.active_key.as_deref(),
        )?
    } else {
        KeySet::ephemeral()
    };
    let keys = keys.with_pass_key(config.pass_key.as_deref())?;
    if !config.dev_mode {
        if keys.holds_dev_key() {
            return Err(StartError::DevKeyLoaded);
        }
        if let Some(exposed) = keys.exposed_file() {
            return Err(StartError::Keys(exposed));
        }
    }
    Ok(keys)
}

/// The sink the configuration names: Kafka when brokers are set, else the JSON-lines log.
pub fn build_sink(config: &Config) -> Result<Arc<dyn Sink>, StartError> {
    Ok(match &config.kafka_brokers {
        Some(brokers) => {
            let sink = KafkaSink::new(
                brokers,
                &config.kafka_topic,
                config.kafka_topic_per_event,
                &config.kafka_producer,
            )?;
            Arc::new(if config.kafka_create_topics {
                sink.creating_topics(
                    i32::try_from(config.kafka_topic_partitions).unwrap_or(i32::MAX),
                    i32::try_from(config.kafka_topic_replication).unwrap_or(-1),
                )
            } else {
                sink
            })
        }
        None => match &config.drain_log {
            LogTarget::Stdout => Arc::new(LogSink::stdout()),
            LogTarget::File(path) => Arc::new(LogSink::file(path.clone())?),
        },
    })
}

/// A pointer cache filled from `store`, and the task that keeps it in step until `stopping` (a
/// replica's, or a drain worker's).
pub async fn synced_cache(
    store: Arc<dyn Store>,
    config: &Config,
    stopping: watch::Receiver<bool>,
) -> Result<(Arc<PointerCache>, JoinHandle<()>), StartError> {
    let resync = Resync {
        tick: config.pointer_poll,
        sweep: config.resync_sweep,
    };
    Ok(crate::cache::synced(store, resync, stopping).await?)
}

/// The Redis `url` (the configuration's `redis_url`) stands for.
fn redis_topology(config: &Config, url: &str) -> Topology {
    if config.redis_cluster {
        Topology::Cluster(url.split(',').map(|url| url.trim().to_owned()).collect())
    } else {
        Topology::Single(url.trim().to_owned())
    }
}

/// Connects to the store the configuration names.
pub async fn build_store(config: &Config) -> Result<Arc<dyn Store>, StartError> {
    Ok(match &config.redis_url {
        Some(url) => {
            let store = RedisStore::open(
                redis_topology(config, url.expose()),
                &config.redis_prefix,
                config.pointer_poll * 3,
            )
            .await?;
            for warning in store.durability_warnings().await {
                tracing::warn!("{warning}");
            }
            Arc::new(store)
        }
        None => {
            tracing::info!("no redis_url: using the embedded in-process store");
            Arc::new(MemoryStore::default())
        }
    })
}

/// The store both `serve` and `drain` run on: the configured one, timed and counted into `metrics`,
/// with the health of its writes (for readiness).
pub async fn metered_store(
    config: &Config,
    metrics: &Arc<Metrics>,
) -> Result<(Arc<dyn Store>, Arc<WriteHealth>), StartError> {
    let writes = Arc::new(WriteHealth::default());
    let store = MeteredStore::new(build_store(config).await?, metrics.clone(), writes.clone());
    Ok((Arc::new(store), writes))
}

impl Application {
    pub async fn build(config: Config) -> Result<Self, StartError> {
        let listener = TcpListener::bind(config.listen)?;
        Self::build_with_listener(config, listener).await
    }

    pub async fn build_with_listener(
        config: Config,
        listener: TcpListener,
    ) -> Result<Self, StartError> {
        let keys = load_keys(&config)?;
        let pages = Pages::load(config.page_templates.as_deref())?;
        if keys.is_ephemeral() {
            tracing::warn!(
                kid = keys.active_kid(),
                "signing with an ephemeral key: tokens stop verifying when this process stops"
            );
        } else {
            let kids: Vec<&str> = keys.kids().collect();
            tracing::info!(active = keys.active_kid(), passes = keys.pass_kid(), loaded = ?kids, sha_extensions = crate::token::sha_extensions(), token_memory = config.token_memory, "signing keys loaded");
        }
        if keys.holds_dev_key() {
            tracing::warn!("the public development key is loaded (dev_mode): for development only");
        }
        let port = listener.local_addr()?.port();

        let metrics = Arc::new(Metrics::default());
        let (store, writes) = metered_store(&config, &metrics).await?;
        for (event, settings) in config.declared_events()? {
            if put_event_and_lanes(store.as_ref(), &event, &settings, PutMode::CreateOnly).await? {
                tracing::info!(%event, "created event from configuration");
            }
        }
        let demo = config.redis_url.is_none() && config.demo_event;
        if demo {
            demo::seed(store.as_ref(), port).await?;
        }

        let (shutdown, stopping) = watch::channel(false);
        let (cache, sync) = synced_cache(store.clone(), &config, stopping.clone()).await?;
        let mut tasks = vec![
            sync,
            tokio::spawn(run_releases(store.clone(), cache.clone(), stopping.clone())),
        ];
        let store_probe = Arc::new(StoreProbe::default());
        if config.redis_url.is_some() {
            tasks.push(tokio::spawn(
                store_probe.clone().run(store.clone(), stopping.clone()),
            ));
        }
        if demo {
            tasks.push(tokio::spawn(demo::keep_arriving(
                store.clone(),
                cache.clone(),
                stopping.clone(),
            )));
        }
        let hooks = HookSettings::from_config(&config);
        if let Some(hooks) = hooks.clone() {
            tasks.push(tokio::spawn(run_webhooks(
                store.clone(),
                cache.clone(),
                hooks,
                metrics.clone(),
                stopping.clone(),
            )));
        }
        if config.drain_in_serve {
            let worker = DrainWorker::new(
                store.clone(),
                cache.clone(),
                build_sink(&config)?,
                DrainSettings::from_config(&config),
                metrics.clone(),
            );
            tasks.push(tokio::spawn(worker.run(stopping)));
        }

        let ready = Arc::new(AtomicBool::new(true));
        let (closing, streams_closing) = watch::channel(false);
        let state = web::Data::new(AppState {
            store,
            cache,
            challenges: crate::challenge::Issuer::new(
                crate::challenge::Challenges::new(&keys),
                match config.challenge_threads {
                    0 => std::thread::available_parallelism().map_or(1, usize::from),
                    threads => threads,
                },
            ),
            tokens: Tokens::new(&keys, &config.issuer)
                .with_memory(usize::try_from(config.token_memory).unwrap_or(usize::MAX)),
            admin_token: config.admin_token.clone(),
            service_token: config.service_token.clone(),
            invitations: config
                .invitation_secret
                .as_ref()
                .map(|secret| jsonwebtoken::DecodingKey::from_secret(secret.expose().as_bytes())),
            cookie_prefix: config.cookie_prefix.clone(),
            cookie_secure: config.cookie_secure,
            metrics,
            ready: ready.clone(),
            uses_redis: config.redis_url.is_some(),
            store_probe,
            writes,
            ready_stale_after: config.ready_stale_after,
            limiters: Limiters::default(),
            trusted_proxies: config.trusted_networks()?,
            metrics_events: usize::try_from(config.metrics_events).unwrap_or(usize::MAX),
            webhooks_signed: hooks.is_some(),
            sessions: config
                .admin_token
                .as_ref()
                .map(crate::routes::session::Sessions::new),
            streams: Arc::new(StreamSlots::new(
                config.max_streams,
                config.max_streams_per_visitor,
            )),
            closing: streams_closing,
            pages,
        });
        let fast_path = config.fast_path;
        let public = match config.internal_listen {
            Some(_) => Surface::Public,
            None => Surface::All,
        };
        let internal = match config.internal_listen {
            Some(address) => {
                let listener = TcpListener::bind(address)?;
                let port = listener.local_addr()?.port();
                let state = state.clone();
                let server = HttpServer::new(move || {
                    let timers = Rc::new(RequestTimers::new(&state.metrics));
                    app(&state, &timers, Surface::Internal)
                })
                .listen(listener)?
                .disable_signals()
                .workers(1)
                .shutdown_timeout(config.shutdown_timeout.as_secs())
                .run();
                tracing::info!(%address, port, "internal listener: admin API, metrics, booking service calls");
                Some((server, port))
            }
            None => None,
        };
        let mut server = HttpServer::new(move || {
            // Built per worker: a worker is one thread, so its timers need no lock.
            let timers = Rc::new(RequestTimers::new(&state.metrics));
            HotPaths::new(
                app(&state, &timers, public),
                state.clone(),
                timers,
                fast_path,
            )
        })
        .listen(listener)?
        // Signals are handled in `run`, which makes the server unready before it stops.
        .disable_signals()
        .shutdown_timeout(config.shutdown_timeout.as_secs());
        if config.workers > 0 {
            server = server.workers(config.workers);
        }
        Ok(Self {
            port,
            server: server.run(),
            internal,
            shutdown,
            closing,
            ready,
            shutdown_delay: config.shutdown_delay,
            shutdown_timeout: config.shutdown_timeout,
            tasks,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The internal listener's port, when there is one.
    pub fn internal_port(&self) -> Option<u16> {
        self.internal.as_ref().map(|(_, port)| *port)
    }

    /// Serves until the process is stopped from outside; for tests and embedding.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run(std::future::pending()).await
    }

    /// Serves until `shutdown` resolves (SIGTERM/SIGINT for the binary), then shuts down gracefully:
    /// readiness turns false first; after `shutdown_delay_ms` push streams close with a retry hint,
    /// the listener closes and in-flight requests finish; then the background tasks stop (the drain
    /// flushes its sink and gives back its leases), all within `shutdown_timeout_s`.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        let handle = self.server.handle();
        let mut server = tokio::spawn(self.server);
        let internal = self
            .internal
            .map(|(internal, _)| (internal.handle(), tokio::spawn(internal)));
        tokio::select! {
            finished = &mut server => return finished.unwrap_or_else(|e| Err(std::io::Error::other(e))),
            () = shutdown => {}
        }
        tracing::info!("shutting down: readiness is false from now on");
        self.ready.store(false, Ordering::Release);
        tokio::time::sleep(self.shutdown_delay).await;
        let _ = self.closing.send(true);
        handle.stop(true).await;
        let result = server
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        if let Some((handle, task)) = internal {
            handle.stop(true).await;
            let _ = task.await;
        }
        let _ = self.shutdown.send(true);
        let background = futures_util::future::join_all(self.tasks);
        if tokio::time::timeout(self.shutdown_timeout, background)
            .await
            .is_err()
        {
            tracing::warn!("background tasks did not stop within the shutdown deadline");
        }
        tracing::info!("stopped");
        result
    }
}

/// The app of one listener: the layers, the shared state, and the routes `surface` serves.
fn app(
    state: &web::Data<AppState>,
    timers: &Rc<RequestTimers>,
    surface: Surface,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<actix_web::body::BoxBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .wrap(from_fn(observe_request))
        .app_data(state.clone())
        .app_data(timers.clone())
        .configure(routes::configure(surface))
        .default_service(web::to(|| async {
            Err::<actix_web::HttpResponse, _>(ApiError::NotFound)
        }))
}

/// The small HTTP server of `waitroom drain`: `/healthz`, `/readyz` (Redis reachable) and `/metrics`,
/// for probes and scraping.
pub fn drain_status_server(
    listen: std::net::SocketAddr,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
) -> std::io::Result<Server> {
    Ok(HttpServer::new(move || {
        let (store, metrics) = (store.clone(), metrics.clone());
        App::new()
            .route("/healthz", web::get().to(routes::ops::healthz))
            .route(
                "/readyz",
                web::get().to(move || {
                    let store = store.clone();
                    async move {
                        let ready = routes::ops::store_reachable(store.as_ref()).await;
                        let body = serde_json::json!({ "ready": ready });
                        if ready {
                            actix_web::HttpResponse::Ok().json(body)
                        } else {
                            actix_web::HttpResponse::ServiceUnavailable().json(body)
                        }
                    }
                }),
            )
            .route(
                "/metrics",
                web::get().to(move || {
                    let text = metrics.render(&[], 0);
                    async move { routes::ops::exposition(text) }
                }),
            )
    })
    .workers(1)
    .disable_signals()
    .bind(listen)?
    .run())
}
