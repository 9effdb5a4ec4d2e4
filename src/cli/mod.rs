//! The `waitroom` command: serve, drain, manage keys, look into tokens, and drive the admin API
//! (`admin`).

mod admin;
mod audit;
mod error;
mod simulate;

pub use self::error::CliError;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use serde_json::Value;

use crate::config::Config;
use crate::drain::{DrainSettings, DrainWorker};
use crate::startup::{
    build_sink, drain_status_server, load_keys, metered_store, synced_cache, Application,
    StartError,
};
use crate::token::Tokens;

#[derive(Debug, Parser)]
#[command(
    name = "waitroom",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("BUILD_REVISION"), ")"),
    about = "A self-hosted virtual waiting room"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP service.
    Serve(ConfigArg),
    /// Run the drain worker alone: forward admitted visitors to Kafka (or the log sink). Needs Redis.
    Drain(ConfigArg),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Look into a token.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Drive a running service through its admin API.
    Admin(admin::AdminArgs),
    /// Check an event's pre-queue draw: the published seed matches the commitment, and every
    /// position holds the entry the seed's permutation gives it (no credentials needed).
    Audit(audit::AuditArgs),
    /// Play a sale through before it happens: the real scheduler, admission and estimates on a
    /// virtual clock, for an arrival curve and an event's settings; prints how long people wait and
    /// writes a report with plots.
    Simulate(simulate::SimulateArgs),
    /// Print the API's OpenAPI 3.1 contract (what `docs/openapi.json` holds).
    Openapi,
    /// Ask each URL (GET) and succeed only if every one answers 2xx: the chart's `helm test`, or a
    /// container health check in an image without a shell.
    Probe {
        #[arg(required = true)]
        urls: Vec<String>,
    },
}

#[derive(Debug, Args)]
struct ConfigArg {
    /// A TOML file layered over the defaults (environment variables still win).
    #[arg(long, env = "WAITROOM_CONFIG")]
    config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Write a new random key to `<dir>/<kid>.key`.
    Generate {
        /// The key id; a dated one (e.g. 2026-11) makes rotation easy to follow.
        #[arg(long)]
        kid: String,
        /// Not `keys/`: the public development key lives there, and is refused beside real keys.
        #[arg(long, default_value = "waitroom-keys")]
        dir: PathBuf,
        /// hs256: a secret (`<kid>.key`) for waiting tokens and passes; ed25519: a key pair
        /// (`<kid>.pem`) for passes that others verify with the public half (`pass_key`).
        #[arg(long, value_enum, default_value_t = KeyKind::Hs256)]
        kind: KeyKind,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum KeyKind {
    Hs256,
    Ed25519,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Print a token's header and claims WITHOUT checking its signature.
    Inspect { token: String },
    /// Check a token with the configured keys, as the service would.
    Verify {
        token: String,
        /// Require the token to belong to this event.
        #[arg(long)]
        event: Option<String>,
        #[command(flatten)]
        config: ConfigArg,
    },
}

pub async fn run(cli: Cli) -> ExitCode {
    let outcome = match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Drain(args) => drain(args).await,
        Command::Keys(KeysCommand::Generate { kid, dir, kind }) => generate_key(&kid, &dir, kind),
        Command::Openapi => {
            println!("{}", crate::routes::openapi::document());
            Ok(())
        }
        Command::Token(TokenCommand::Inspect { token }) => inspect(&token),
        Command::Token(TokenCommand::Verify {
            token,
            event,
            config,
        }) => verify(&token, event.as_deref(), config),
        Command::Admin(args) => admin::run(args).await,
        Command::Audit(args) => audit::run(args).await,
        Command::Simulate(args) => simulate::run(args),
        Command::Probe { urls } => probe(&urls).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", error.explained());
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ConfigArg) -> Result<(), CliError> {
    let config = Config::load(args.config.as_deref())?;
    crate::telemetry::init(config.log_format);
    warn_unknown_keys(&config);
    let listen = config.listen;
    let store = match (&config.redis_url, config.demo_event) {
        (Some(_), _) => "on Redis",
        (None, true) => "on the embedded store, with a demo line",
        (None, false) => "on the embedded store",
    };
    let demo = config.redis_url.is_none() && config.demo_event;
    let app = Application::build(config).await?;
    let host = if listen.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else {
        listen.ip().to_string()
    };
    let port = app.port();
    if demo {
        tracing::info!("waitroom is serving on http://{host}:{port}/ ({store}: open http://{host}:{port}/e/demo to join it)");
    } else {
        tracing::info!("waitroom is serving on http://{host}:{port}/ ({store})");
    }
    app.run(stop_signal())
        .await
        .map_err(|e| StartError::Io(e).into())
}

async fn drain(args: ConfigArg) -> Result<(), CliError> {
    let config = Config::load(args.config.as_deref())?;
    crate::telemetry::init(config.log_format);
    warn_unknown_keys(&config);
    if config.redis_url.is_none() {
        return Err(CliError::Usage("the drain worker needs the shared store: set redis_url (on the embedded store the drain runs inside serve)".into()));
    }
    let metrics = std::sync::Arc::new(crate::metrics::Metrics::default());
    let (store, _) = metered_store(&config, &metrics).await?;
    let sink = build_sink(&config)?;
    let listen = config.drain_listen;
    let status =
        drain_status_server(listen, store.clone(), metrics.clone()).map_err(StartError::Io)?;
    let status_handle = status.handle();
    let status = tokio::spawn(status);
    tracing::info!("drain worker status on http://{listen}/ (healthz, readyz, metrics)");
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let (cache, sync) = synced_cache(store.clone(), &config, stopping.clone()).await?;
    let settings = DrainSettings::from_config(&config);
    let worker = DrainWorker::new(store, cache, sink, settings, metrics);
    let worker = tokio::spawn(worker.run(stopping));
    stop_signal().await;
    let _ = stop.send(true);
    let stopped = worker.await.map_err(CliError::Stopped);
    let _ = sync.await;
    status_handle.stop(true).await;
    let _ = status.await;
    stopped
}

/// A key the configuration sets but waitroom does not know is most likely a typo: say so at start.
fn warn_unknown_keys(config: &Config) {
    for key in &config.unknown_keys {
        tracing::warn!(key, "unknown configuration key, ignored (a typo?)");
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

async fn probe(urls: &[String]) -> Result<(), CliError> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .map_err(|source| CliError::Unreachable {
            url: String::new(),
            source,
        })?;
    for url in urls {
        let answer = client
            .get(url)
            .send()
            .await
            .map_err(|source| CliError::Unreachable {
                url: url.clone(),
                source,
            })?;
        let status = answer.status();
        if !status.is_success() {
            return Err(CliError::Usage(format!("{url} answered {status}")));
        }
        println!("{url}: {status}");
    }
    Ok(())
}

fn generate_key(kid: &str, dir: &std::path::Path, kind: KeyKind) -> Result<(), CliError> {
    crate::keys::check_kid(kid)?;
    let (contents, extension) = match kind {
        KeyKind::Hs256 => (crate::keys::generate_key_file_contents(), "key"),
        KeyKind::Ed25519 => (crate::keys::generate_ed25519_pem(), "pem"),
    };
    let file_error = |doing, path: &std::path::Path| {
        let path = path.to_owned();
        move |source| CliError::File {
            doing,
            path,
            source,
        }
    };
    std::fs::create_dir_all(dir).map_err(file_error("create", dir))?;
    let path = dir.join(format!("{kid}.{extension}"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path).map_err(file_error("create", &path))?;
    std::io::Write::write_all(&mut file, contents.as_bytes())
        .map_err(file_error("write", &path))?;
    println!("{}", path.display());
    Ok(())
}

fn inspect(token: &str) -> Result<(), CliError> {
    let header = jsonwebtoken::decode_header(token).map_err(CliError::NotAToken)?;
    let claims: Value =
        jsonwebtoken::dangerous::insecure_decode_claims(token).map_err(CliError::NotAToken)?;
    let shown = serde_json::json!({
        "verified": false,
        "header": { "alg": format!("{:?}", header.alg), "kid": header.kid, "typ": header.typ },
        "claims": claims,
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&shown).unwrap_or_default()
    );
    Ok(())
}

fn verify(token: &str, event: Option<&str>, args: ConfigArg) -> Result<(), CliError> {
    let config = Config::load(args.config.as_deref())?;
    if config.keys_dir.is_none() && config.signing_keys.is_empty() {
        return Err(CliError::Usage(
            "no keys configured (set keys_dir or signing_keys): an ephemeral key verifies nothing"
                .into(),
        ));
    }
    let keys = load_keys(&config)?;
    let event = event.map(crate::domain::EventId::parse).transpose()?;
    let claims = Tokens::new(&keys, &config.issuer)
        .verify(token, event.as_ref(), crate::clock::unix_s())
        .map_err(CliError::Refused)?;
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({ "verified": true, "claims": *claims }))
            .unwrap_or_default()
    );
    Ok(())
}
