//! Reports over a time range, for `dialflow report` and the API's `/api/reports/…`:
//! per agent their login, wait, talk, wrap-up and pause time and occupancy (from the
//! agent log, by `core::agent_time`), per campaign its attempts, answers, handle time,
//! speed of answer and drops (from the attempt records), and per lead every attempt
//! with its result, disposition and notes. Each report is plain data (JSON as is);
//! `render` makes it a table or CSV.

pub mod render;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::core::agent_time::{Change, agent_times};
use crate::store::{AttemptHistory, Store, StoreError};

/// Why a report cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(
        "`{0}` is not a time: write it RFC 3339 (2026-03-01T09:00:00+03:30, …Z) or as a date (2026-03-01, UTC)"
    )]
    BadTime(String),
    #[error("the range is empty: `from` must be before `to`")]
    EmptyRange,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A report's time range, `[from_ms, to_ms)` in Unix ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Range {
    pub from_ms: u64,
    pub to_ms: u64,
}

impl Range {
    /// From `from` (default: the beginning) to `to` (default, and at most: `now_ms`,
    /// since nothing has happened after it).
    pub fn parse(from: Option<&str>, to: Option<&str>, now_ms: u64) -> Result<Range, ReportError> {
        let from_ms = from.map(parse_time).transpose()?.unwrap_or(0);
        let to_ms = to
            .map(parse_time)
            .transpose()?
            .unwrap_or(now_ms)
            .min(now_ms);
        if from_ms >= to_ms {
            return Err(ReportError::EmptyRange);
        }
        Ok(Range { from_ms, to_ms })
    }
}

/// A time as people write it: RFC 3339, or a date (its midnight, UTC).
pub fn parse_time(text: &str) -> Result<u64, ReportError> {
    let text = text.trim();
    let bad = || ReportError::BadTime(text.to_string());
    let at = match text.parse::<jiff::Timestamp>() {
        Ok(at) => at,
        Err(_) => text
            .parse::<jiff::civil::Date>()
            .map_err(|_| bad())?
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map_err(|_| bad())?
            .timestamp(),
    };
    u64::try_from(at.as_millisecond()).map_err(|_| bad())
}

/// One agent's time in the range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgentRow {
    pub agent: String,
    pub name: String,
    pub login_ms: u64,
    /// Available, or reserved while a customer was being connected.
    pub wait_ms: u64,
    pub talk_ms: u64,
    pub wrap_up_ms: u64,
    /// On any break (`not_ready` after login included).
    pub pause_ms: u64,
    /// Calls they went on.
    pub calls: u64,
    /// (talk + wrap-up) ÷ login; none without login time.
    pub occupancy: Option<f64>,
}

/// `report agents`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgentsReport {
    pub range: Range,
    pub agents: Vec<AgentRow>,
}

/// Every agent's time in `range`, by id.
pub fn agents(store: &Store, range: Range) -> Result<AgentsReport, ReportError> {
    let mut rows = Vec::new();
    for record in store.agents()? {
        let id = record.agent.id.as_str();
        let log = store.agent_log(id, 0, usize::MAX)?;
        let changes = log.iter().map(|e| Change {
            at_ms: e.at_ms,
            from: &e.from,
            to: &e.to,
        });
        let t = agent_times(changes, range.from_ms, range.to_ms);
        rows.push(AgentRow {
            agent: id.to_string(),
            name: record.name.clone(),
            login_ms: t.login_ms,
            wait_ms: t.wait_ms,
            talk_ms: t.talk_ms,
            wrap_up_ms: t.wrap_up_ms,
            pause_ms: t.pause_ms,
            calls: t.calls,
            occupancy: t.occupancy(),
        });
    }
    Ok(AgentsReport {
        range,
        agents: rows,
    })
}

/// `report campaign`: its attempts that started in the range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CampaignReport {
    pub campaign: String,
    pub range: Range,
    pub attempts: u64,
    /// Attempts that have ended (the rest are on the line).
    pub ended: u64,
    pub answered: u64,
    /// Average handle time: answer to end, over the answered calls.
    pub aht_ms: Option<u64>,
    /// Calls bridged to an agent.
    pub bridged: u64,
    /// Average speed of answer: the customer's answer to the agent's, over the bridged.
    pub asa_ms: Option<u64>,
    /// Answered calls dropped by the safe-harbor rule (no agent in time).
    pub dropped: u64,
    /// Dropped ÷ answered.
    pub drop_rate: Option<f64>,
    /// Ended attempts by panel status (a disposition's status where one was set).
    pub statuses: BTreeMap<String, u64>,
    /// Dispositions set, by code.
    pub dispositions: BTreeMap<String, u64>,
}

/// Campaign `name`'s report over `range`.
pub fn campaign(store: &Store, name: &str, range: Range) -> Result<CampaignReport, ReportError> {
    let history = store.attempt_history(name, range.from_ms, range.to_ms)?;
    let mut r = CampaignReport {
        campaign: name.to_string(),
        range,
        attempts: history.len() as u64,
        ended: 0,
        answered: 0,
        aht_ms: None,
        bridged: 0,
        asa_ms: None,
        dropped: 0,
        drop_rate: None,
        statuses: BTreeMap::new(),
        dispositions: BTreeMap::new(),
    };
    let (mut handle, mut speed) = (0u64, 0u64);
    for h in &history {
        if let Some(d) = &h.disposition {
            *r.dispositions.entry(d.code.clone()).or_default() += 1;
        }
        let Some(end) = &h.attempt.end else { continue };
        r.ended += 1;
        let status = h.disposition.as_ref().map_or(&end.status, |d| &d.status);
        *r.statuses.entry(status.clone()).or_default() += 1;
        let Some(answered) = end.answered_ms else {
            continue;
        };
        r.answered += 1;
        handle += end.ended_ms.saturating_sub(answered);
        r.dropped += u64::from(end.dropped);
        if let Some(bridged) = end.agent_bridged_ms {
            r.bridged += 1;
            speed += bridged.saturating_sub(answered);
        }
    }
    r.aht_ms = (r.answered > 0).then(|| handle / r.answered);
    r.asa_ms = (r.bridged > 0).then(|| speed / r.bridged);
    r.drop_rate = (r.answered > 0).then(|| r.dropped as f64 / r.answered as f64);
    Ok(r)
}

/// One attempt of a lead, as its history shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LeadAttempt {
    pub attempt: String,
    /// Which attempt of its round.
    pub number: u32,
    pub started_ms: u64,
    pub answered_ms: Option<u64>,
    pub ended_ms: Option<u64>,
    /// The disposition's result where one was set, else the call's (none on the line).
    pub result: Option<String>,
    pub status: Option<String>,
    /// The agent who took the call.
    pub agent: Option<String>,
    pub disposition: Option<String>,
    pub notes: Option<String>,
    pub callback_at_ms: Option<u64>,
}

/// `report lead`: the lead and every attempt it had.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LeadReport {
    pub lead: u64,
    pub campaign: String,
    pub phone: String,
    pub name: String,
    /// Where the lead is now (`pending`, `done`, `dnc`, …).
    pub state: String,
    pub attempts: Vec<LeadAttempt>,
}

/// Lead `id`'s history.
pub fn lead(store: &Store, id: u64) -> Result<LeadReport, ReportError> {
    let (lead, history) = store.lead_history(id)?;
    Ok(LeadReport {
        lead: lead.id,
        campaign: lead.campaign,
        phone: lead.phone,
        name: lead.name,
        state: lead.state.key().to_string(),
        attempts: history.iter().map(lead_attempt).collect(),
    })
}

fn lead_attempt(h: &AttemptHistory) -> LeadAttempt {
    let (start, end, d) = (
        &h.attempt.start,
        h.attempt.end.as_ref(),
        h.disposition.as_ref(),
    );
    LeadAttempt {
        attempt: start.id.clone(),
        number: start.number,
        started_ms: start.started_ms,
        answered_ms: end.and_then(|e| e.answered_ms),
        ended_ms: end.map(|e| e.ended_ms),
        result: d
            .map(|d| d.result.clone())
            .or_else(|| end.map(|e| e.result.clone())),
        status: d
            .map(|d| d.status.clone())
            .or_else(|| end.map(|e| e.status.clone())),
        agent: end
            .and_then(|e| e.agent.clone())
            .or_else(|| d.map(|d| d.agent.clone())),
        disposition: d.map(|d| d.code.clone()),
        notes: d.and_then(|d| d.notes.clone()),
        callback_at_ms: d.and_then(|d| d.callback_at_ms),
    }
}
