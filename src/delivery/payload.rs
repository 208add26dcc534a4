//! The JSON body a report is delivered with (docs/reports.md; docs/report.schema.json
//! is its JSON Schema, and a test holds real payloads to it).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::store::OutboxEntry;

/// The body's version: raised when a field changes meaning or goes away.
pub const VERSION: u32 = 1;

/// One report, as the panel receives it.
#[derive(Debug, Clone, Serialize)]
pub struct ReportBody<'a> {
    pub version: u32,
    /// The outbox sequence number: increases with every report written.
    pub seq: u64,
    pub campaign: &'a str,
    pub lead_id: u64,
    /// E.164.
    pub phone: &'a str,
    pub attempt_id: &'a str,
    /// The panel status (the scenario's `statuses` table).
    pub status: &'a str,
    /// dialflow's own result (`connected_to_operator`, `failed:stt_failure`, …).
    pub result: &'a str,
    pub reason: Option<&'a str>,
    /// What the customer said, only with statuses the scenario's `transcript_statuses`
    /// allow (the machine leaves it out of every other report).
    pub user_message: Option<&'a str>,
    pub started_at: String,
    pub answered_at: Option<String>,
    pub ended_at: Option<String>,
    pub reported_at: String,
    pub scenario: ScenarioRef<'a>,
    /// The lead's custom fields, only with `panel.include_custom_fields`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_fields: Option<&'a BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScenarioRef<'a> {
    pub name: &'a str,
    /// SHA-256 of the scenario's text and hook scripts.
    pub hash: &'a str,
}

impl<'a> ReportBody<'a> {
    pub fn new(entry: &'a OutboxEntry, include_custom_fields: bool) -> ReportBody<'a> {
        ReportBody {
            version: VERSION,
            seq: entry.seq,
            campaign: &entry.campaign,
            lead_id: entry.lead_id,
            phone: &entry.phone,
            attempt_id: &entry.attempt,
            status: &entry.status,
            result: &entry.result,
            reason: entry.reason.as_deref(),
            user_message: entry.transcript.as_deref(),
            started_at: rfc3339(entry.started_ms),
            answered_at: entry.answered_ms.map(rfc3339),
            ended_at: entry.ended_ms.map(rfc3339),
            reported_at: rfc3339(entry.at_ms),
            scenario: ScenarioRef {
                name: &entry.scenario,
                hash: &entry.scenario_hash,
            },
            custom_fields: include_custom_fields.then_some(&entry.custom),
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a report serializes")
    }
}

/// Unix milliseconds as RFC 3339 in UTC, to the millisecond.
fn rfc3339(ms: u64) -> String {
    let ts = jiff::Timestamp::from_millisecond(ms.min(i64::MAX as u64) as i64)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    format!("{ts:.3}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_in_utc_to_the_millisecond() {
        assert_eq!(rfc3339(1_733_356_800_123), "2024-12-05T00:00:00.123Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
    }
}
