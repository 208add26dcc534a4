//! Importing a lead file into a campaign: the CSV reader's valid rows into the store in
//! batches (duplicates skipped there), its rejected rows into the error CSV.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::time::Instant;

use super::{ErrorCsv, LeadReader};
use crate::store::{NewLead, Store};

/// What an import did.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportReport {
    pub added: u64,
    pub duplicates: u64,
    pub rejected: u64,
    pub seconds: f64,
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
) -> Result<ImportReport, String> {
    let started = Instant::now();
    store.campaign(campaign).map_err(|e| e.to_string())?;
    let same = |a: &Path, b: &Path| match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    };
    if same(file, errors) {
        return Err(format!(
            "the error report cannot be the lead file itself ({})",
            errors.display()
        ));
    }
    // A report from an earlier import must not pass for this one's.
    let _ = std::fs::remove_file(errors);
    let size = std::fs::metadata(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?
        .len();
    let input = File::open(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let mut reader = LeadReader::new(BufReader::with_capacity(1 << 20, input), region)
        .map_err(|e| format!("{}: {e}", file.display()))?;
    let columns = reader.columns().to_vec();
    let mut error_csv: Option<ErrorCsv<std::io::BufWriter<File>>> = None;
    let mut report = ImportReport::default();
    let mut batch: Vec<NewLead> = Vec::with_capacity(BATCH);
    let flush = |batch: &mut Vec<NewLead>, report: &mut ImportReport| -> Result<(), String> {
        if batch.is_empty() {
            return Ok(());
        }
        let tally = store
            .import_leads(campaign, batch, now_ms())
            .map_err(|e| e.to_string())?;
        report.added += tally.added;
        report.duplicates += tally.duplicates;
        batch.clear();
        Ok(())
    };
    while let Some(row) = reader.next() {
        match row.map_err(|e| format!("{}: {e}", file.display()))? {
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
                    let out = File::create(errors)
                        .map_err(|e| format!("cannot write {}: {e}", errors.display()))?;
                    error_csv = Some(
                        ErrorCsv::new(std::io::BufWriter::new(out), &columns)
                            .map_err(|e| format!("cannot write {}: {e}", errors.display()))?,
                    );
                }
                if let Some(w) = error_csv.as_mut() {
                    w.write(&rejected)
                        .map_err(|e| format!("cannot write {}: {e}", errors.display()))?;
                }
            }
        }
        progress(reader.bytes_read(), size);
    }
    flush(&mut batch, &mut report)?;
    if let Some(w) = error_csv {
        w.finish()
            .map_err(|e| format!("cannot write {}: {e}", errors.display()))?;
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}
