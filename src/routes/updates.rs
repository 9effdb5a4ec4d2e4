//! Push updates: a Server-Sent Events stream per visitor. Every replica fans the pointer changes it
//! learns (from Redis pub/sub, or its own store) out to the visitors connected to it.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{web, HttpResponse};
use futures_util::stream;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;

use super::extract::{holder, Holder, KnownEvent, Presented};
use super::problem::{ApiError, Problem};
use super::state::{AppState, StreamRefused, StreamSlot};
use super::visitor::{current_place, Standing};
use crate::admission::{ExpiredReason, VisitorStatus};
use crate::domain::{EventState, LineId};
use crate::token::Claims;

/// A comment line this often keeps proxies from closing an idle stream.
const KEEPALIVE: Duration = Duration::from_secs(15);
/// What browsers wait before reconnecting a dropped stream.
const RETRY_MS: u64 = 2_000;
/// How long a refused stream waits after each poke of its place's open streams (see
/// [`super::state::StreamSlots::poke`]): about a round trip to a visitor.
const POKE_WAIT: Duration = Duration::from_millis(100);

#[derive(Debug, Deserialize)]
pub(super) struct StreamQuery {
    /// For clients that can set neither a header nor a cookie on an EventSource.
    token: Option<String>,
}

struct Watch {
    state: web::Data<AppState>,
    event: KnownEvent,
    claims: Arc<Claims>,
    changes: Receiver<LineId>,
    keepalive: tokio::time::Interval,
    /// The last status sent, so unchanged answers are not sent again.
    last: Option<(VisitorStatus, EventState, Option<String>, u64, u64, u64)>,
    done: bool,
    closing: tokio::sync::watch::Receiver<bool>,
    _connected: Connected,
    slot: StreamSlot,
}

/// Counts open streams for the metrics, for as long as it lives.
struct Connected(prometheus::IntGauge);

impl Connected {
    fn new(gauge: &prometheus::IntGauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for Connected {
    fn drop(&mut self) {
        self.0.dec();
    }
}

fn frame(kind: &str, data: &impl serde::Serialize) -> Bytes {
    let json = serde_json::to_string(data).unwrap_or_default();
    Bytes::from(format!("event: {kind}\ndata: {json}\n\n"))
}

impl Watch {
    /// The visitor's current answer, unless it is the same as the last one sent.
    async fn next_status(&mut self) -> Option<Bytes> {
        // A pre-queue place follows its drawn position once drawn.
        self.claims = crate::admission::at_drawn_place(&self.event.cached, self.claims.clone());
        if self.event.cached.gave_up(&self.claims) {
            self.done = true;
            return Some(frame(
                "left",
                &serde_json::json!({ "event": self.event.id(), "position": self.claims.pos }),
            ));
        }
        // A pass the store cannot decide now is not announced; the next look tries again.
        let mut place = current_place(&self.state, &self.event, &self.claims)
            .await
            .ok()?;
        if self.claims.exp <= crate::clock::unix_s() {
            place.standing = Standing::Expired {
                reason: ExpiredReason::TokenExpired,
            };
        }
        self.done = place.standing.poll_after_ms().is_none();
        let arrived = match &place.standing {
            Standing::Prequeue { in_prequeue, .. } => *in_prequeue,
            _ => 0,
        };
        let key = (
            place.standing.status(),
            place.state,
            place.resumes_at.clone(),
            place.ahead,
            place.admitted_through,
            arrived,
        );
        if !self.done && self.last.as_ref() == Some(&key) {
            return None;
        }
        self.last = Some(key);
        Some(frame("status", &place))
    }

    async fn next_frame(&mut self) -> Option<Bytes> {
        loop {
            if self.done {
                return None;
            }
            tokio::select! {
                change = self.changes.recv() => match change {
                    Ok(event) if event != self.event.line => continue,
                    // A missed change is caught up by looking again.
                    Ok(_) | Err(RecvError::Lagged(_)) => {
                        if let Some(frame) = self.next_status().await {
                            return Some(frame);
                        }
                    }
                    Err(RecvError::Closed) => return None,
                },
                _ = self.keepalive.tick() => return Some(Bytes::from_static(b": keepalive\n\n")),
                // Another stream for this place was refused: a write tells whether this one is
                // still read (a closed one then frees its slot).
                _ = self.slot.poked() => return Some(Bytes::from_static(b": still there?\n\n")),
                // This replica is stopping: the browser reconnects (to another replica) shortly.
                _ = self.closing.changed() => {
                    self.done = true;
                    return Some(Bytes::from_static(b"retry: 1000\nevent: closing\ndata: {}\n\n"));
                }
            }
        }
    }
}

/// `GET /v1/events/{event}/stream`: `status` events (the same JSON as the status answer) whenever
/// the visitor's answer changes; the stream ends once they are admitted, expired or left.
#[utoipa::path(get, path = "/v1/events/{event}/stream", tag = "visitors", params(("event" = String, Path, description = "The event's id: 1-64 of A-Z a-z 0-9 _ -", example = "tour")),
    security(("bearer" = [])),
    responses((status = 200, description = "Server-sent events: `status` (the status answer) whenever it changes, `left`; ends once admitted, expired or left", body = String, content_type = "text/event-stream"), (status = "default", description = "A problem document", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn updates(
    state: web::Data<AppState>,
    event: KnownEvent,
    presented: Presented,
    query: web::Query<StreamQuery>,
) -> Result<HttpResponse, ApiError> {
    let token = query.token.as_deref().or(presented.as_deref());
    let Holder { claims, lane } = holder(&state, &event, token)?;
    let event = lane.unwrap_or(event);
    let slot = match state.streams.take(&event.line, claims.pos) {
        // Perhaps the place's streams are a reloaded page's, closed but not yet written to: two
        // writes find out (the first may still be taken by the closed connection's socket).
        Err(StreamRefused::PlaceFull) => {
            for _ in 0..2 {
                state.streams.poke(&event.line, claims.pos);
                tokio::time::sleep(POKE_WAIT).await;
            }
            state.streams.take(&event.line, claims.pos)
        }
        taken => taken,
    };
    let slot = slot.map_err(|refused| {
        let reason = match refused {
            StreamRefused::Full => "replica-full",
            StreamRefused::PlaceFull => "place-full",
        };
        state
            .metrics
            .streams_refused
            .with_label_values(&[reason])
            .inc();
        match refused {
            StreamRefused::Full => ApiError::StreamsFull,
            StreamRefused::PlaceFull => ApiError::TooManyStreams,
        }
    })?;
    let mut keepalive = tokio::time::interval(KEEPALIVE);
    keepalive.reset();
    let mut watch = Watch {
        changes: state.cache.subscribe(),
        state: state.clone(),
        event,
        claims,
        keepalive,
        last: None,
        done: false,
        closing: state.closing.clone(),
        _connected: Connected::new(&state.metrics.sse_connections),
        slot,
    };
    let first = watch.next_status().await;
    let opening = Bytes::from(format!("retry: {RETRY_MS}\n\n"));
    let head = stream::iter(
        [opening]
            .into_iter()
            .chain(first)
            .map(Ok::<_, actix_web::Error>),
    );
    let rest = stream::unfold(watch, |mut watch| async move {
        let frame = watch.next_frame().await?;
        Some((Ok::<_, actix_web::Error>(frame), watch))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        // Tells nginx not to buffer the stream.
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(futures_util::StreamExt::chain(head, rest)))
}
