//! Attempts as CSV, for `dialflow attempts export` and the API: one row per attempt in
//! the order they started, times in RFC 3339 (UTC), written page by page so a campaign
//! of millions of calls never sits in memory.

use std::io::Write;

use crate::store::{AttemptView, Store, StoreError};

/// The columns, in order.
pub const COLUMNS: [&str; 16] = [
    "attempt",
    "campaign",
    "lead_id",
    "phone",
    "attempt_number",
    "scenario",
    "scenario_hash",
    "started",
    "answered",
    "ended",
    "result",
    "status",
    "channels",
    "path",
    "transcript",
    "note",
];

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("cannot write the export: {0}")]
    Write(#[from] csv::Error),
}

/// Writes every attempt of `campaign` to `out`.
pub fn attempts_csv(store: &Store, campaign: &str, out: impl Write) -> Result<(), ExportError> {
    store.campaign(campaign)?;
    let mut w = csv::Writer::from_writer(out);
    w.write_record(COLUMNS)?;
    let mut after = 0;
    loop {
        let page = store.attempts(campaign, after, 1000)?;
        let Some(last) = page.last() else { break };
        after = last.start.seq;
        for a in &page {
            w.write_record(row(a))?;
        }
    }
    w.flush().map_err(csv::Error::from)?;
    Ok(())
}

fn row(a: &AttemptView) -> [String; 16] {
    let end = a.end.clone().unwrap_or_default();
    let open = a.end.is_none();
    [
        a.start.id.clone(),
        a.start.campaign.clone(),
        a.start.lead_id.to_string(),
        a.start.phone.clone(),
        a.start.number.to_string(),
        a.start.scenario.clone(),
        a.start.scenario_hash.clone(),
        time(a.start.started_ms),
        end.answered_ms.map(time).unwrap_or_default(),
        if open {
            String::new()
        } else {
            time(end.ended_ms)
        },
        end.result,
        end.status,
        end.channels.join(" "),
        end.path.join(" > "),
        end.transcript.unwrap_or_default(),
        end.note.unwrap_or_default(),
    ]
}

/// RFC 3339 in UTC, to the second.
pub fn time(ms: u64) -> String {
    jiff::Timestamp::from_millisecond(i64::try_from(ms).unwrap_or(i64::MAX))
        .map(|t| t.round(jiff::Unit::Second).unwrap_or(t).to_string())
        .unwrap_or_else(|_| ms.to_string())
}
