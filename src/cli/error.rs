//! What goes wrong in the commands' shared plumbing (the configuration, the store, the
//! running daemon's API), typed so each command can say it in its own words; a
//! command's own last word is still a line of text (`From<CliError> for String`).

use std::path::PathBuf;

use crate::config::ConfigError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    /// The store file cannot be opened or read.
    #[error("{}: {source}", path.display())]
    Store { path: PathBuf, source: StoreError },
    /// A store operation (or a campaign name) refused.
    #[error("{0}")]
    Refused(#[from] StoreError),
    #[error(
        "no store at {}: create a campaign first, or name the store with --store or --config",
        .0.display()
    )]
    NoStore(PathBuf),
    #[error("{} is in use by a running dialflow, and its HTTP API is off (`listen`)", .0.display())]
    ApiOff(PathBuf),
    #[error(
        "{} is in use by a running dialflow, and its API at {listen} does not answer: {source}",
        path.display()
    )]
    ApiSilent {
        path: PathBuf,
        listen: String,
        source: Box<CliError>,
    },
    #[error("{} is in use by another process; the dialflow at {listen} holds {theirs}", path.display())]
    OtherDaemon {
        path: PathBuf,
        listen: String,
        theirs: String,
    },
    /// The daemon refused the request: its `{"error": …}`, else its status and text.
    #[error("{0}")]
    Daemon(String),
    /// The request did not get through, or its answer broke off.
    #[error("{0}")]
    Http(#[from] reqwest::Error),
    #[error("unexpected answer: {0}")]
    Answer(#[source] serde_json::Error),
    #[error("cannot write the export: {0}")]
    Export(#[source] std::io::Error),
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(#[from] crate::tls::TlsError),
    /// The daemon refused the command's token (or its lack of one).
    #[error(
        "the daemon refused: {0} (the commands send DIALFLOW_API_TOKEN, else the token a daemon made beside its store)"
    )]
    Unauthorized(String),
    /// `DIALFLOW_API_TOKEN` cannot go in an HTTP header.
    #[error("DIALFLOW_API_TOKEN holds characters a token cannot have")]
    BadToken,
    /// A command for a running daemon, and none holds the store.
    #[error("no `dialflow run` holds {}: nothing to reload (a daemon reads the scenarios when it starts)", .0.display())]
    NotRunning(PathBuf),
    /// No recorded scenario version matches what was asked.
    #[error("{0}")]
    NoVersion(String),
    /// The command's async runtime cannot start.
    #[error("{0}")]
    Runtime(#[source] std::io::Error),
}

impl From<CliError> for String {
    fn from(e: CliError) -> String {
        e.to_string()
    }
}
