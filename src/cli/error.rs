//! What a command's failure says: one error type for every command, printed with its causes.

use std::path::PathBuf;

use crate::client::ClientError;
use crate::config::ConfigError;
use crate::domain::IdError;
use crate::keys::KeyError;
use crate::startup::StartError;
use crate::token::TokenError;

/// Why a command failed: printed with its causes, and the process exits with 1.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Start(#[from] StartError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Id(#[from] IdError),
    #[error("the draw does not hold up")]
    Audit(#[from] crate::domain::draw::AuditError),
    #[error("cannot {doing} {}", path.display())]
    File {
        doing: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("not a JWT")]
    NotAToken(#[source] jsonwebtoken::errors::Error),
    #[error("refused")]
    Refused(#[source] TokenError),
    #[error("cannot reach {url}")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the drain worker stopped unexpectedly")]
    Stopped(#[source] tokio::task::JoinError),
    /// What was asked cannot be done as asked: the sentence says why and what to do.
    #[error("{0}")]
    Usage(String),
}

impl CliError {
    /// The error and each of its causes, as one line.
    pub fn explained(&self) -> String {
        let mut line = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(e) = cause {
            let said = e.to_string();
            if !line.contains(&said) {
                line.push_str(": ");
                line.push_str(&said);
            }
            cause = e.source();
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_is_explained_with_its_causes_once() {
        let error = CliError::File {
            doing: "create",
            path: PathBuf::from("/nowhere/k.key"),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such directory"),
        };
        assert_eq!(
            error.explained(),
            "cannot create /nowhere/k.key: no such directory"
        );
        // A cause already in the sentence (transparent variants) is not said twice.
        let id = CliError::from(crate::domain::EventId::parse("a b").unwrap_err());
        assert_eq!(id.explained(), id.to_string());
    }
}
