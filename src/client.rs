//! A typed client of a waitroom replica, written once for everyone who drives one from outside: the
//! `waitroom admin` command, the benchmark and the tests. It speaks the admin API (with the admin
//! token), joins as a visitor, and reads a visitor's live-update stream.

use std::time::Duration;

use reqwest::{Method, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::domain::{EventSettings, EventView, Patch};
use crate::routes::draw::PublishedDraw;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach {base}: {reason}")]
    Unreachable { base: String, reason: String },
    /// The replica answered with a problem document.
    #[error("{title} ({status}): {detail}")]
    Problem {
        status: StatusCode,
        /// The problem type's slug, e.g. `unknown-event`.
        slug: String,
        title: String,
        detail: String,
    },
    #[error("unreadable answer ({status}): {reason}")]
    Unreadable { status: StatusCode, reason: String },
}

impl ClientError {
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ClientError::Problem { status, .. } | ClientError::Unreadable { status, .. } => {
                Some(*status)
            }
            ClientError::Unreachable { .. } => None,
        }
    }
}

/// What a join answers, as far as a client needs it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Joined {
    pub visitor: String,
    /// False when the visitor already held this place.
    pub fresh: bool,
    pub token: String,
    pub position: u64,
    pub ahead: u64,
    pub admitted_through: u64,
    pub status: String,
    /// The priority lane, for a place in one (not the event's first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lane: Option<String>,
    /// In the draw of an event that draws at random: the chance at the next release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draw_chance: Option<f64>,
}

/// A client of one replica.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    admin_token: Option<String>,
}

impl Client {
    /// A client of the replica at `base` (`http://host:port`).
    pub fn new(base: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            admin_token: None,
        }
    }

    /// Sends the admin token with admin calls.
    pub fn with_admin_token(mut self, token: &str) -> Self {
        self.admin_token = Some(token.to_owned());
        self
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn unreachable(&self, e: reqwest::Error) -> ClientError {
        ClientError::Unreachable {
            base: self.base.clone(),
            reason: e.to_string(),
        }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Result<T, ClientError> {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| self.unreachable(e))?;
        read_answer(response).await
    }

    async fn admin<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<T, ClientError> {
        let token = self.admin_token.as_deref().unwrap_or_default();
        self.call(
            method,
            &format!("/v1/admin/events{path}"),
            Some(token),
            body,
        )
        .await
    }

    /// Every event with its figures.
    pub async fn events(&self) -> Result<Vec<EventView>, ClientError> {
        self.admin(Method::GET, "", None).await
    }

    /// One event with its current figures.
    pub async fn event(&self, event: &str) -> Result<EventView, ClientError> {
        self.admin(Method::GET, &format!("/{event}"), None).await
    }

    /// Whether the event exists.
    pub async fn exists(&self, event: &str) -> Result<bool, ClientError> {
        match self.event(event).await {
            Ok(_) => Ok(true),
            Err(e) if e.status() == Some(StatusCode::NOT_FOUND) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Creates the event or changes the settings the patch names.
    pub async fn put_event(
        &self,
        event: &str,
        patch: &Patch<EventSettings>,
    ) -> Result<EventView, ClientError> {
        let body = serde_json::to_value(patch).map_err(|e| ClientError::Unreadable {
            status: StatusCode::OK,
            reason: e.to_string(),
        })?;
        self.admin(Method::PUT, &format!("/{event}"), Some(body))
            .await
    }

    /// Deletes the event and all its data, on every replica.
    pub async fn delete_event(&self, event: &str) -> Result<(), ClientError> {
        self.admin(Method::DELETE, &format!("/{event}"), None).await
    }

    /// Admits the next `by` visitors now.
    pub async fn advance(&self, event: &str, by: u64) -> Result<EventView, ClientError> {
        let body = json!({ "by": by });
        self.admin(Method::POST, &format!("/{event}/advance"), Some(body))
            .await
    }

    /// Issues `count` single-use enqueue codes for an invite-only event: shown this once.
    pub async fn issue_codes(&self, event: &str, count: u64) -> Result<Vec<String>, ClientError> {
        #[derive(serde::Deserialize)]
        struct Issued {
            codes: Vec<String>,
        }
        let body = json!({ "count": count });
        let issued: Issued = self
            .admin(Method::POST, &format!("/{event}/codes"), Some(body))
            .await?;
        Ok(issued.codes)
    }

    pub async fn pause(&self, event: &str) -> Result<EventView, ClientError> {
        self.admin(Method::POST, &format!("/{event}/pause"), None)
            .await
    }

    pub async fn resume(&self, event: &str) -> Result<EventView, ClientError> {
        self.admin(Method::POST, &format!("/{event}/resume"), None)
            .await
    }

    /// Joins a known user: the same id always gets the same place.
    pub async fn trusted_join(
        &self,
        event: &str,
        visitor: &str,
        lane: Option<&str>,
    ) -> Result<Joined, ClientError> {
        let body = json!({ "visitor": visitor, "lane": lane });
        self.admin(Method::POST, &format!("/{event}/join"), Some(body))
            .await
    }

    /// The event's pre-queue draw, as published.
    pub async fn draw(&self, event: &str) -> Result<PublishedDraw, ClientError> {
        self.call(Method::GET, &format!("/v1/events/{event}/draw"), None, None)
            .await
    }

    /// Joins as an anonymous visitor.
    pub async fn join(&self, event: &str) -> Result<Joined, ClientError> {
        self.call(
            Method::POST,
            &format!("/v1/events/{event}/join"),
            None,
            None,
        )
        .await
    }

    /// Opens a visitor's live-update stream.
    pub async fn stream(&self, event: &str, token: &str) -> Result<EventStream, ClientError> {
        let response = self
            .http
            .get(self.url(&format!("/v1/events/{event}/stream")))
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let status = response.status();
        let is_stream = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes() == b"text/event-stream");
        if !status.is_success() || !is_stream {
            return Err(read_answer::<Value>(response).await.err().unwrap_or(
                ClientError::Unreadable {
                    status,
                    reason: "not an event stream".into(),
                },
            ));
        }
        Ok(EventStream {
            response,
            buffer: String::new(),
        })
    }
}

/// The JSON of a successful answer, or the problem it carries.
async fn read_answer<T: DeserializeOwned>(response: Response) -> Result<T, ClientError> {
    let status = response.status();
    let text = response.text().await.map_err(|e| ClientError::Unreadable {
        status,
        reason: e.to_string(),
    })?;
    if status.is_success() {
        // No content reads as JSON `null` (a deletion answers nothing).
        let text = if text.is_empty() {
            "null"
        } else {
            text.as_str()
        };
        return serde_json::from_str(text).map_err(|e| ClientError::Unreadable {
            status,
            reason: e.to_string(),
        });
    }
    let problem: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let field = |name: &str| problem[name].as_str().unwrap_or_default().to_owned();
    Err(ClientError::Problem {
        status,
        slug: field("type")
            .rsplit(':')
            .next()
            .unwrap_or_default()
            .to_owned(),
        title: problem["title"]
            .as_str()
            .unwrap_or("request failed")
            .to_owned(),
        detail: field("detail"),
    })
}

/// A Server-Sent Events stream as a client reads it.
pub struct EventStream {
    response: Response,
    buffer: String,
}

impl EventStream {
    /// The next event (its kind and JSON data) within `within`, skipping comments and retry hints;
    /// `None` if none came in time or the stream ended.
    pub async fn next(&mut self, within: Duration) -> Option<(String, Value)> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse_frame(&frame) {
                    return Some(event);
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk()).await;
            match chunk {
                Ok(Ok(Some(bytes))) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                _ => return None,
            }
        }
    }
}

/// The kind and data of one SSE frame, if it carries both.
fn parse_frame(frame: &str) -> Option<(String, Value)> {
    let mut kind = None;
    let mut data = None;
    for line in frame.lines() {
        if let Some(k) = line.strip_prefix("event: ") {
            kind = Some(k.to_owned());
        } else if let Some(d) = line.strip_prefix("data: ") {
            data = serde_json::from_str(d).ok();
        }
    }
    Some((kind?, data?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_need_a_kind_and_json_data() {
        assert_eq!(
            parse_frame("event: status\ndata: {\"ahead\":3}\n\n"),
            Some(("status".into(), json!({ "ahead": 3 })))
        );
        assert_eq!(parse_frame(": keepalive\n\n"), None);
        assert_eq!(parse_frame("retry: 2000\n\n"), None);
        assert_eq!(parse_frame("event: status\ndata: not json\n\n"), None);
    }
}
