//! Importing a lead file into a campaign: the CSV reader's valid rows into the store in
//! batches (duplicates skipped there), its rejected rows into the error CSV.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::time::Instant;

use super::{ErrorCsv, LeadReader};
use crate::store::{NewLead, Store, StoreError};

/// What an import did.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportReport {
    pub added: u64,
    pub duplicates: u64,
    pub rejected: u64,
    pub seconds: f64,
}

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImportFailure {
    /// The campaign cannot take leads (missing, archived) or the store failed before
    /// anything was added.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The store failed part-way: the leads of earlier batches are in (importing the
    /// file again skips them as duplicates).
    #[error(
        "{error} (after {added} lead(s) were imported; importing the file again skips them as duplicates)"
    )]
    Partial { error: StoreError, added: u64 },
    /// The lead file cannot be imported as it is (its header, a row the CSV reader
    /// cannot read, the error report named as the file itself).
    #[error("{0}")]
    File(String),
    /// The lead file or the error report could not be read or written.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

impl ImportFailure {
    pub(crate) fn io(
        action: &'static str,
        path: &Path,
    ) -> impl Fn(std::io::Error) -> ImportFailure + Copy {
        move |source| ImportFailure::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Whether two paths name the same file (as given, when either does not exist).
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Rows per store transaction: big enough to amortise the commit, small enough to
/// keep memory flat.
const BATCH: usize = 5_000;

/// Streams `file` into the campaign in batches; rejected rows go to `errors` (written
/// only when there are some). `progress` hears (bytes read, file size) as it goes;
/// `now_ms` stamps the leads.
pub fn import_file(
    store: &Store,
    campaign: &str,
    file: &Path,
    region: &str,
    errors: &Path,
    now_ms: impl Fn() -> u64,
    mut progress: impl FnMut(u64, u64),
) -> Result<ImportReport, ImportFailure> {
    let started = Instant::now();
    store.campaign(campaign)?;
    if same_file(file, errors) {
        return Err(ImportFailure::File(format!(
            "the error report cannot be the lead file itself ({})",
            errors.display()
        )));
    }
    // A report from an earlier import must not pass for this one's.
    let _ = std::fs::remove_file(errors);
    let unreadable = ImportFailure::io("read", file);
    let size = std::fs::metadata(file).map_err(unreadable)?.len();
    let input = File::open(file).map_err(unreadable)?;
    let mut reader = LeadReader::new(BufReader::with_capacity(1 << 20, input), region)
        .map_err(|e| ImportFailure::File(format!("{}: {e}", file.display())))?;
    let unwritable = ImportFailure::io("write", errors);
    let columns = reader.columns().to_vec();
    let mut error_csv: Option<ErrorCsv<std::io::BufWriter<File>>> = None;
    let mut report = ImportReport::default();
    let mut batch: Vec<NewLead> = Vec::with_capacity(BATCH);
    let flush = |batch: &mut Vec<NewLead>,
                 report: &mut ImportReport|
     -> Result<(), ImportFailure> {
        if batch.is_empty() {
            return Ok(());
        }
        let tally = store
            .import_leads(campaign, batch, now_ms())
            .map_err(|error| match report.added {
                0 => ImportFailure::Store(error),
                added => ImportFailure::Partial { error, added },
            })?;
        report.added += tally.added;
        report.duplicates += tally.duplicates;
        batch.clear();
        Ok(())
    };
    while let Some(row) = reader.next() {
        match row.map_err(|e| ImportFailure::File(format!("{}: {e}", file.display())))? {
            Ok(lead) => {
                batch.push(NewLead {
                    phone: lead.phone,
                    name: lead.name,
                    time_zone: lead.time_zone,
                    custom: lead.custom,
                });
                if batch.len() >= BATCH {
                    flush(&mut batch, &mut report)?;
                }
            }
            Err(rejected) => {
                report.rejected += 1;
                if error_csv.is_none() {
                    let out = File::create(errors).map_err(unwritable)?;
                    error_csv = Some(
                        ErrorCsv::new(std::io::BufWriter::new(out), &columns)
                            .map_err(unwritable)?,
                    );
                }
                if let Some(w) = error_csv.as_mut() {
                    w.write(&rejected).map_err(unwritable)?;
                }
            }
        }
        progress(reader.bytes_read(), size);
    }
    flush(&mut batch, &mut report)?;
    if let Some(w) = error_csv {
        w.finish().map_err(unwritable)?;
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}
