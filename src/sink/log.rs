//! The embedded default's sink: one JSON line per admitted visitor, on stdout or appended to a file.

use parking_lot::Mutex;
use std::io::Write;
use std::path::PathBuf;

use async_trait::async_trait;

use super::{AdmissionMessage, Sink, SinkError};
use crate::domain::Admitted;

pub struct LogSink {
    /// `None`: stdout.
    file: Option<(PathBuf, Mutex<std::fs::File>)>,
}

impl LogSink {
    pub fn stdout() -> Self {
        Self { file: None }
    }

    pub fn file(path: PathBuf) -> Result<Self, SinkError> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| SinkError::Config(format!("cannot open {}: {e}", path.display())))?;
        Ok(Self {
            file: Some((path, Mutex::new(file))),
        })
    }
}

#[async_trait]
impl Sink for LogSink {
    async fn deliver(&self, batch: &[Admitted]) -> Result<(), SinkError> {
        let mut lines = Vec::with_capacity(batch.len() * 160);
        for visitor in batch {
            serde_json::to_writer(&mut lines, &AdmissionMessage::from(visitor))
                .map_err(|e| SinkError::Delivery(e.to_string()))?;
            lines.push(b'\n');
        }
        let written = match &self.file {
            None => {
                let mut out = std::io::stdout().lock();
                out.write_all(&lines).and_then(|()| out.flush())
            }
            Some((_, file)) => {
                let mut file = file.lock();
                // Durable before the checkpoint moves past these visitors.
                file.write_all(&lines).and_then(|()| file.sync_data())
            }
        };
        written.map_err(|e| SinkError::Delivery(e.to_string()))
    }

    async fn flush(&self) {}

    fn kind(&self) -> &'static str {
        "log"
    }

    fn describe(&self) -> String {
        match &self.file {
            None => "log sink (stdout)".to_owned(),
            Some((path, _)) => format!("log sink ({})", path.display()),
        }
    }
}
