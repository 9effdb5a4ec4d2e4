//! A small async load generator: keep-alive HTTP/1.1 connections (hyper's client connection, no
//! pool), each sending requests back to back until the deadline, latencies in an HDR histogram.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::net::TcpStream;

/// What one request of a scenario looks like.
pub trait Shape: Send + Sync + 'static {
    fn request(&self) -> Request<Empty<Bytes>>;
    fn expected(&self, status: StatusCode) -> bool;
}

/// A GET (or POST) of a fixed path, optionally with a bearer token per request, taken from a list
/// in turn across all connections (so a token comes back only after all the others). The parts are
/// prepared once, as wrk prepares its requests: formatting and validating a bearer header
/// per request cost the load generator more than some answers cost the server.
pub struct Simple {
    method: Method,
    uri: Uri,
    host: HeaderValue,
    authorizations: Vec<HeaderValue>,
    next: AtomicUsize,
    expect: fn(StatusCode) -> bool,
}

impl Simple {
    pub fn new(
        method: Method,
        path_and_query: &str,
        tokens: &[String],
        host: &str,
        expect: fn(StatusCode) -> bool,
    ) -> Self {
        Self {
            method,
            uri: path_and_query.parse().expect("a valid path"),
            host: HeaderValue::from_str(host).expect("a valid host"),
            authorizations: tokens
                .iter()
                .map(|token| {
                    HeaderValue::from_str(&format!("Bearer {token}")).expect("a token header")
                })
                .collect(),
            next: AtomicUsize::new(0),
            expect,
        }
    }
}

impl Shape for Simple {
    fn request(&self) -> Request<Empty<Bytes>> {
        let mut request = Request::new(Empty::new());
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        let headers = request.headers_mut();
        headers.insert(header::HOST, self.host.clone());
        if !self.authorizations.is_empty() {
            let chosen = self.next.fetch_add(1, Ordering::Relaxed) % self.authorizations.len();
            headers.insert(header::AUTHORIZATION, self.authorizations[chosen].clone());
        }
        request
    }

    fn expected(&self, status: StatusCode) -> bool {
        (self.expect)(status)
    }
}

pub struct Outcome {
    pub requests: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub latency: Histogram<u64>,
}

impl Outcome {
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    /// A latency quantile in microseconds.
    pub fn micros(&self, quantile: f64) -> u64 {
        self.latency.value_at_quantile(quantile)
    }

    /// Adds another slice of the same scenario.
    pub fn absorb(&mut self, other: Outcome) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.elapsed += other.elapsed;
        self.latency.add(other.latency).expect("same precision");
    }
}

impl Default for Outcome {
    fn default() -> Self {
        Self {
            requests: 0,
            errors: 0,
            elapsed: Duration::ZERO,
            latency: Histogram::new(3).expect("a histogram"),
        }
    }
}

/// A progress bar for a scenario of `steps` steps.
pub fn progress_bar(label: &str, steps: u64) -> ProgressBar {
    let progress = ProgressBar::new(steps);
    progress.set_style(
        ProgressStyle::with_template("  {prefix:<22} [{bar:30}] {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    progress.set_prefix(label.to_owned());
    progress
}

/// Runs `connections` keep-alive connections against `target` for `duration`, with a progress
/// bar named `label` if one is given.
pub async fn drive(
    target: SocketAddr,
    connections: usize,
    duration: Duration,
    shape: Arc<dyn Shape>,
    label: Option<&str>,
) -> Outcome {
    let progress = match label {
        Some(label) => progress_bar(label, duration.as_millis() as u64),
        None => ProgressBar::hidden(),
    };
    let counter = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::with_capacity(connections);
    for _ in 0..connections {
        let (shape, counter) = (shape.clone(), counter.clone());
        tasks.push(tokio::spawn(async move {
            run_connection(target, deadline, shape, counter).await
        }));
    }
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let elapsed = started.elapsed();
        progress.set_position(elapsed.as_millis() as u64);
        let done = counter.load(Ordering::Relaxed);
        progress.set_message(format!("{:.0} req/s", done as f64 / elapsed.as_secs_f64()));
    }
    let mut latency = Histogram::<u64>::new(3).expect("a histogram");
    let (mut requests, mut errors) = (0, 0);
    for task in tasks {
        if let Ok((histogram, done, failed)) = task.await {
            latency.add(histogram).expect("same precision");
            requests += done;
            errors += failed;
        }
    }
    let elapsed = started.elapsed();
    progress.finish_and_clear();
    Outcome {
        requests,
        errors,
        elapsed,
        latency,
    }
}

async fn run_connection(
    target: SocketAddr,
    deadline: Instant,
    shape: Arc<dyn Shape>,
    counter: Arc<AtomicU64>,
) -> (Histogram<u64>, u64, u64) {
    let mut histogram = Histogram::<u64>::new(3).expect("a histogram");
    let (mut done, mut failed) = (0u64, 0u64);
    'reconnect: while Instant::now() < deadline {
        let Ok(stream) = TcpStream::connect(target).await else {
            failed += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let Ok((mut sender, conn)) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
        else {
            failed += 1;
            continue;
        };
        tokio::spawn(conn);
        while Instant::now() < deadline {
            let request = shape.request();
            let sent = Instant::now();
            let ok = match sender.send_request(request).await {
                Ok(response) => {
                    let status = response.status();
                    let body = response.into_body().collect().await;
                    body.is_ok() && shape.expected(status)
                }
                Err(_) => {
                    failed += 1;
                    continue 'reconnect;
                }
            };
            let micros = sent.elapsed().as_micros() as u64;
            let _ = histogram.record(micros.max(1));
            done += 1;
            if !ok {
                failed += 1;
            }
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }
    (histogram, done, failed)
}
