//! The embedded store (redb): campaigns, leads, attempts, DNC lists, the report outbox
//! and alerts. Every state change is one transaction, written before it is acted on.
//!
//! The dialer sees only this module's domain operations (`lease`, `finish`, …), never a
//! redb type, so a shared-database backend for several nodes can take the same shape.

mod agents;
mod alerts;
pub mod campaigns;
mod dialing;
mod dispositions;
mod dnc;
mod drops;
mod history;
mod lead_table;
mod leads;
mod live;
mod outbox;
pub mod records;
mod schema;
mod space;
mod versions;

use std::path::{Path, PathBuf};

use redb::{ReadableTable as _, Table};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use agents::{AgentLogEntry, AgentRecord, NewAgent};
pub use alerts::NewAlert;
pub use dialing::{Admission, Finished, LeadNext, LeadRefusal, Leased};
pub use dispositions::{Disposition, NewDisposition};
pub use drops::{CAP_DAYS, DropWindow};
pub use history::AttemptHistory;
pub use lead_table::LeadRow;
pub use leads::ImportTally;
pub use live::LiveReported;
pub use outbox::{OutboxCounts, Settled};
pub use records::*;
pub use schema::SCHEMA_VERSION;
pub use space::{Space, TableSpace};
pub use versions::{NewVersion, ScenarioVersion, VersionFile, VersionTexts};

/// What can go wrong with the store. Messages name the campaign, lead or file;
/// [`StoreError::kind`] says what sort of failure it is, for callers that must tell a
/// caller's mistake from a conflict or a fault of the store itself.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the store {0} is in use by another dialflow process (stop it first)")]
    InUse(PathBuf),
    #[error("the store was written by a newer dialflow (schema {found}; this one knows {known})")]
    NewerSchema { found: u64, known: u64 },
    #[error("no campaign named `{0}`")]
    NoCampaign(String),
    #[error("no attempt `{0}` to finish")]
    NoAttempt(String),
    #[error("no parked report {0}")]
    NoParkedReport(u64),
    #[error("no lead {0} in that campaign")]
    NoLead(u64),
    #[error("no agent `{0}`")]
    NoAgent(String),
    /// A disposition for a call whose end is not recorded yet (the dialer records it
    /// a moment after the call ends).
    #[error("the call `{0}` has not been recorded as ended yet")]
    NotEnded(String),
    #[error("the call `{0}` has a disposition already")]
    Disposed(String),
    #[error("a campaign named `{0}` exists already")]
    CampaignExists(String),
    #[error("campaign `{name}` is {state}: cannot {action}")]
    BadTransition {
        name: String,
        state: CampaignState,
        action: &'static str,
    },
    /// The campaign was asked to complete but leads came in meanwhile.
    #[error("campaign `{0}` still has leads to dial")]
    StillHasWork(String),
    /// The caller's input is not acceptable (a name, a number); the message says why.
    #[error("{0}")]
    BadInput(String),
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("a record in `{table}` cannot be read: {message}")]
    Corrupt {
        table: &'static str,
        message: String,
    },
    /// The blocking task running a store operation panicked or was cancelled: the
    /// operation may or may not have committed.
    #[error("a store task failed: {0}")]
    TaskFailed(#[from] tokio::task::JoinError),
    #[error("storage: {0}")]
    Db(#[from] redb::Error),
}

/// The sort of a [`StoreError`]: what a caller matches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The caller's input is wrong; trying again with the same input fails again.
    BadInput,
    /// The campaign or attempt does not exist.
    NotFound,
    /// The state does not allow it now (it exists already, or changed meanwhile).
    Conflict,
    /// Another process holds the store file.
    InUse,
    /// The file was written by a newer dialflow.
    Incompatible,
    /// The disk or the database engine failed; may pass if tried again.
    Io,
    /// A record or table cannot be read.
    Corrupt,
    /// A store task panicked or was cancelled.
    Panicked,
}

impl ErrorKind {
    /// A fault of the store itself rather than of the request: logged, answered 500.
    pub fn is_fault(self) -> bool {
        matches!(
            self,
            ErrorKind::Io | ErrorKind::Corrupt | ErrorKind::Panicked | ErrorKind::Incompatible
        )
    }
}

impl StoreError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::InUse(_) => ErrorKind::InUse,
            StoreError::NewerSchema { .. } => ErrorKind::Incompatible,
            StoreError::NoCampaign(_)
            | StoreError::NoAttempt(_)
            | StoreError::NoParkedReport(_)
            | StoreError::NoLead(_)
            | StoreError::NoAgent(_) => ErrorKind::NotFound,
            StoreError::CampaignExists(_)
            | StoreError::BadTransition { .. }
            | StoreError::StillHasWork(_)
            | StoreError::NotEnded(_)
            | StoreError::Disposed(_) => ErrorKind::Conflict,
            StoreError::BadInput(_) => ErrorKind::BadInput,
            StoreError::Io { .. } => ErrorKind::Io,
            StoreError::Corrupt { .. } => ErrorKind::Corrupt,
            StoreError::TaskFailed(_) => ErrorKind::Panicked,
            StoreError::Db(e) => redb_kind(e),
        }
    }
}

/// The sort of a database engine's error.
fn redb_kind(e: &redb::Error) -> ErrorKind {
    use redb::Error as E;
    match e {
        E::DatabaseAlreadyOpen => ErrorKind::InUse,
        E::UpgradeRequired(_) => ErrorKind::Incompatible,
        E::Corrupted(_)
        | E::TableTypeMismatch { .. }
        | E::TableIsMultimap(_)
        | E::TableIsNotMultimap(_)
        | E::TypeDefinitionChanged { .. } => ErrorKind::Corrupt,
        E::ValueTooLarge(_) => ErrorKind::BadInput,
        E::LockPoisoned(_) => ErrorKind::Panicked,
        // The disk, a closed database, a transaction still open: the engine's state,
        // not the data, so another try may pass.
        _ => ErrorKind::Io,
    }
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Db(e.into())
            }
        }
    )*};
}
from_redb!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// Commits `tx` (a write waits for the disk here), timing it for `/metrics` under
/// `area`, the module that wrote it.
fn commit(tx: redb::WriteTransaction, area: &'static str) -> Result<(), StoreError> {
    let started = std::time::Instant::now();
    tx.commit()?;
    crate::metrics::global().store_commit(area, started.elapsed());
    Ok(())
}

/// The store: one redb file, opened by one process at a time (redb locks it).
pub struct Store {
    db: redb::Database,
    path: PathBuf,
    /// Starts every attempt id, so ids from two stores never meet on one Asterisk.
    tag: String,
    /// The alert rate limit's window in ms while alert delivery is on, else
    /// `alerts::DELIVERY_OFF` (`set_alert_delivery`).
    alert_window: std::sync::atomic::AtomicU64,
}

impl Store {
    /// Opens (or creates) the store at `path`, migrating an older schema. Parent
    /// directories are created.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                action: "create",
                path: dir.to_path_buf(),
                source,
            })?;
        }
        // After an unclean stop redb checks the whole file before it opens; on a big
        // store that takes a while, so say what is going on.
        let mut builder = redb::Database::builder();
        builder.set_repair_callback(|session| {
            tracing::warn!(
                progress = format!("{:.0} %", session.progress() * 100.0),
                "repairing the store after an unclean stop"
            );
        });
        let db = match builder.create(path) {
            Ok(db) => db,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                return Err(StoreError::InUse(path.to_path_buf()));
            }
            Err(e) => return Err(StoreError::Db(e.into())),
        };
        schema::migrate(&db, new_tag)?;
        let tag = {
            use redb::ReadableDatabase as _;
            let tx = db.begin_read()?;
            let text = tx.open_table(schema::META_TEXT)?;
            text.get("store_tag")?
                .map(|v| v.value().to_string())
                .unwrap_or_else(new_tag)
        };
        Ok(Store {
            db,
            path: path.to_path_buf(),
            tag,
            alert_window: alerts::DELIVERY_OFF.into(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A short tag unique enough per store: the creation time in base 36 (letters and
/// digits only, since attempt ids may not contain `-`).
fn new_tag() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut n = (nanos / 1000) as u64 ^ u64::from(std::process::id());
    let mut digits = Vec::new();
    while n > 0 && digits.len() < 7 {
        let d = (n % 36) as u8;
        digits.push(if d < 10 { b'0' + d } else { b'a' + d - 10 });
        n /= 36;
    }
    format!("d{}", String::from_utf8(digits).unwrap_or_default())
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Our records are plain data: serialising them cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

fn decode<T: DeserializeOwned>(table: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        table,
        message: e.to_string(),
    })
}

/// Counter changes gathered over a transaction and written once at its end: a batch of
/// a thousand leases changes three counters, not three thousand times.
#[derive(Default)]
struct Deltas(std::collections::BTreeMap<(String, String), i64>);

impl Deltas {
    fn add(&mut self, campaign: &str, key: &str, delta: i64) {
        *self
            .0
            .entry((campaign.to_string(), key.to_string()))
            .or_default() += delta;
    }

    fn apply(self, counters: &mut Table<(&str, &str), u64>) -> Result<(), StoreError> {
        for ((campaign, key), delta) in self.0 {
            if delta != 0 {
                bump(counters, &campaign, &key, delta)?;
            }
        }
        Ok(())
    }
}

/// Adds `delta` to a campaign counter (never below zero).
fn bump(
    counters: &mut Table<(&str, &str), u64>,
    campaign: &str,
    key: &str,
    delta: i64,
) -> Result<(), StoreError> {
    let now = counters.get((campaign, key))?.map_or(0, |v| v.value());
    let next = now.saturating_add_signed(delta);
    counters.insert((campaign, key), next)?;
    Ok(())
}

/// Next value of a META counter.
fn next_id(meta: &mut Table<&str, u64>, key: &str) -> Result<u64, StoreError> {
    reserve_ids(meta, key, 1)
}

/// Reserves `n` consecutive values of a META counter; returns the first.
fn reserve_ids(meta: &mut Table<&str, u64>, key: &str, n: u64) -> Result<u64, StoreError> {
    let first = meta.get(key)?.map_or(1, |v| v.value());
    meta.insert(key, first + n)?;
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_fault_is_never_a_conflict_or_the_callers_mistake() {
        let panicked = tokio::spawn(async { panic!("boom") }).await.unwrap_err();
        let disk = std::io::Error::other("disk full");
        for (e, kind) in [
            (StoreError::TaskFailed(panicked), ErrorKind::Panicked),
            (
                StoreError::Db(redb::StorageError::Io(disk).into()),
                ErrorKind::Io,
            ),
            (
                StoreError::Db(redb::StorageError::Corrupted("page".into()).into()),
                ErrorKind::Corrupt,
            ),
            (
                StoreError::Corrupt {
                    table: "campaigns",
                    message: "not JSON".into(),
                },
                ErrorKind::Corrupt,
            ),
            (
                StoreError::Db(redb::Error::DatabaseAlreadyOpen),
                ErrorKind::InUse,
            ),
            (
                StoreError::StillHasWork("spring".into()),
                ErrorKind::Conflict,
            ),
            (
                StoreError::CampaignExists("spring".into()),
                ErrorKind::Conflict,
            ),
            (StoreError::NoAttempt("a1".into()), ErrorKind::NotFound),
            (StoreError::BadInput("no".into()), ErrorKind::BadInput),
        ] {
            assert_eq!(e.kind(), kind, "{e}");
            assert_eq!(
                kind.is_fault(),
                matches!(
                    kind,
                    ErrorKind::Panicked | ErrorKind::Io | ErrorKind::Corrupt
                ),
                "{e}"
            );
        }
    }
}
