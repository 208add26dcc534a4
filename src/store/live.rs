//! Reports a call makes while it is still on (an operator bridged with `report: true`):
//! each goes into the outbox in its own transaction, with the attempt's record of what
//! it reported, so the panel hears of it during the call and the attempt's end (which
//! writes the rest) never reports the same status again.

use redb::ReadableTable as _;

use super::dialing::outbox_entry;
use super::schema::{ATTEMPT_ENDS, ATTEMPT_IDS, ATTEMPTS, CAMPAIGNS, LEADS, LIVE_REPORTED, META};
use super::{
    AttemptStart, CampaignRecord, LeadRecord, OutboxEntry, Store, StoreError, decode, encode,
};

/// A report made during a call, to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveReported {
    pub attempt_id: String,
    pub status: String,
    pub result: String,
    pub transcript: Option<String>,
    /// When it was made and when the customer answered (campaign time).
    pub at_ms: u64,
    pub answered_ms: Option<u64>,
}

impl Store {
    /// Writes reports made during calls into the outbox, one transaction for all of
    /// them. A report is left out when its attempt has ended already (the end wrote
    /// it) or its status was reported before: one report per status per call. The
    /// transcript goes only where the campaign keeps transcripts. Returns how many
    /// were written.
    pub fn report_live(&self, reports: &[LiveReported]) -> Result<usize, StoreError> {
        let tx = self.db.begin_write()?;
        let mut written = 0;
        {
            let mut meta = tx.open_table(META)?;
            let mut live = tx.open_table(LIVE_REPORTED)?;
            let mut outbox = tx.open_table(super::schema::OUTBOX)?;
            let ids = tx.open_table(ATTEMPT_IDS)?;
            let ends = tx.open_table(ATTEMPT_ENDS)?;
            let attempts = tx.open_table(ATTEMPTS)?;
            let leads = tx.open_table(LEADS)?;
            let campaigns = tx.open_table(CAMPAIGNS)?;
            let mut next_report = meta.get("next_outbox")?.map_or(1, |v| v.value());
            for report in reports {
                let Some(seq) = ids.get(report.attempt_id.as_str())?.map(|v| v.value()) else {
                    return Err(StoreError::NoAttempt(report.attempt_id.clone()));
                };
                if ends.get(seq)?.is_some() {
                    continue;
                }
                let mut sent: Vec<String> = match live.get(seq)? {
                    Some(v) => decode("live_reported", v.value())?,
                    None => Vec::new(),
                };
                if sent.contains(&report.status) {
                    continue;
                }
                let Some(start) = attempts.get(seq)? else {
                    continue;
                };
                let start: AttemptStart = decode("attempts", start.value())?;
                let Some(lead) = leads.get(start.lead_id)? else {
                    continue;
                };
                let lead: LeadRecord = decode("leads", lead.value())?;
                let keep = match campaigns.get(start.campaign.as_str())? {
                    Some(v) => {
                        decode::<CampaignRecord>("campaigns", v.value())?
                            .settings
                            .keep_transcripts
                    }
                    None => false,
                };
                let transcript = report.transcript.clone().filter(|_| keep);
                let entry = OutboxEntry {
                    reason: report.result.strip_prefix("failed:").map(str::to_string),
                    answered_ms: report.answered_ms,
                    ..outbox_entry(
                        next_report,
                        &start,
                        &lead,
                        &report.status,
                        &report.result,
                        &transcript,
                        report.at_ms,
                    )
                };
                outbox.insert(next_report, encode(&entry).as_slice())?;
                next_report += 1;
                sent.push(report.status.clone());
                live.insert(seq, encode(&sent).as_slice())?;
                written += 1;
            }
            meta.insert("next_outbox", next_report)?;
        }
        super::commit(tx, "live")?;
        Ok(written)
    }
}
