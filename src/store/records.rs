//! What the store keeps: campaigns, leads, attempts, DNC entries, outbox reports and
//! alerts, as plain serde records. Times are Unix milliseconds on the dialer's clock.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::core::campaign::settings::CampaignSettings;

/// A campaign's life: created as a draft, started, paused and resumed, stopped (with its
/// pending leads kept or cancelled), completed when nothing is left, archived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CampaignState {
    Draft,
    Running,
    Paused,
    Stopped,
    Completed,
    Archived,
}

impl CampaignState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Stopped => "stopped",
            Self::Completed => "completed",
            Self::Archived => "archived",
        }
    }
}

impl std::fmt::Display for CampaignState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CampaignRecord {
    pub name: String,
    pub settings: CampaignSettings,
    pub state: CampaignState,
    /// Why it is in this state, when the dialer put it there (a quota refusal, …).
    #[serde(default)]
    pub reason: Option<String>,
    pub created_ms: u64,
    pub updated_ms: u64,
}

/// Where a lead is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LeadState {
    /// Waiting to be dialed at `due_ms` (now or a retry time).
    Pending { due_ms: u64 },
    /// An attempt is in progress (or was, when the process died).
    Leased { attempt: String, until_ms: u64 },
    /// Nothing more to do.
    Done,
    /// Taken out by an operator (`leads cancel`, `campaign stop --cancel-pending`).
    Cancelled,
    /// On a do-not-call list when it was due.
    Dnc,
    /// Cannot be dialed as it stands (e.g. local hours required and no known time zone).
    Skipped { reason: String },
}

impl LeadState {
    /// Its counter name.
    pub fn key(&self) -> &'static str {
        match self {
            Self::Pending { .. } => "pending",
            Self::Leased { .. } => "leased",
            Self::Done => "done",
            Self::Cancelled => "cancelled",
            Self::Dnc => "dnc",
            Self::Skipped { .. } => "skipped",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LeadRecord {
    pub id: u64,
    pub campaign: String,
    /// E.164.
    pub phone: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom: BTreeMap<String, String>,
    pub state: LeadState,
    /// Attempts in the current round (a recycle starts a new round).
    #[serde(default)]
    pub attempts: u32,
    /// Result → how often the lead ended in it this round (retry caps count these).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub results: BTreeMap<String, u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_result: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub round: u32,
    pub created_ms: u64,
    /// Cancelled while its call was on: when the call ends the lead is cancelled rather
    /// than retried.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cancel_requested: bool,
    /// The sequence number of its latest attempt that ended (none before the first,
    /// and for leads whose attempts ended before this was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt: Option<u64>,
    /// The agent a callback disposition reserved the lead's next call for (the one
    /// who promised it), for a dialer that honours it; none: anyone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_agent: Option<String>,
}

/// A lead to add (already validated and normalised by the importer).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewLead {
    pub phone: String,
    pub name: String,
    pub time_zone: Option<String>,
    pub custom: BTreeMap<String, String>,
}

/// How an attempt began, written in the same transaction as the lease, before the
/// originate: a crash after it can never cause a second dial for this attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AttemptStart {
    pub id: String,
    pub seq: u64,
    pub campaign: String,
    pub lead_id: u64,
    pub phone: String,
    /// Which attempt of the lead this is (1-based, this round).
    pub number: u32,
    pub scenario: String,
    pub scenario_hash: String,
    pub started_ms: u64,
}

/// How an attempt ended.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AttemptEnd {
    pub result: String,
    pub status: String,
    #[serde(default)]
    pub channels: Vec<String>,
    /// Nodes visited, in order.
    #[serde(default)]
    pub path: Vec<String>,
    #[serde(default)]
    pub answered_ms: Option<u64>,
    pub ended_ms: u64,
    #[serde(default)]
    pub transcript: Option<String>,
    /// How the end was learned when it was not the call's own (crash recovery, …).
    #[serde(default)]
    pub note: Option<String>,
    /// The answering-machine verdict, when the call ran `amd` (seed 003's table).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amd_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amd_cause: Option<String>,
    /// The digits the customer pressed last (a consent key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digits: Option<String>,
    /// The agent the customer was bridged to (`connect_agent`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// When customer and agent were bridged (ASA is this less `answered_ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_bridged_ms: Option<u64>,
    /// Dropped by the safe-harbor rule: answered, and no agent in time.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dropped: bool,
    /// The statuses the call reported to the panel, while it was on and at its end
    /// (set by `Store::finish`; empty in ends recorded before it was kept), so a
    /// disposition set later reports only a status the call has not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reported: Vec<String>,
}

/// An attempt with its end, if it has one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AttemptView {
    pub start: AttemptStart,
    pub end: Option<AttemptEnd>,
}

/// A DNC entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DncEntry {
    pub added_ms: u64,
    #[serde(default)]
    pub reason: String,
}

/// Which DNC list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DncScope {
    Global,
    Campaign(String),
}

impl DncScope {
    pub fn key(&self) -> &str {
        match self {
            Self::Global => "*",
            Self::Campaign(c) => c,
        }
    }
}

/// A status report waiting for delivery to the panel (the outbox).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OutboxEntry {
    pub seq: u64,
    pub attempt: String,
    pub campaign: String,
    pub lead_id: u64,
    pub phone: String,
    pub status: String,
    pub result: String,
    #[serde(default)]
    pub transcript: Option<String>,
    /// When it was written.
    pub at_ms: u64,
    /// Why the call ended as it did, where the result alone does not say (the reason of
    /// a `failed:` result, or how the end was learned after a crash).
    #[serde(default)]
    pub reason: Option<String>,
    /// The scenario the call ran, and the hash of its text.
    #[serde(default)]
    pub scenario: String,
    #[serde(default)]
    pub scenario_hash: String,
    #[serde(default)]
    pub started_ms: u64,
    #[serde(default)]
    pub answered_ms: Option<u64>,
    #[serde(default)]
    pub ended_ms: Option<u64>,
    /// The lead's custom fields as imported (sent only when `panel.include_custom_fields`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom: BTreeMap<String, String>,
}

/// A report the panel refused for good (a 4xx other than 408 and 429): kept, with the
/// panel's answer, until an operator retries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ParkedReport {
    pub entry: OutboxEntry,
    /// The HTTP status the panel answered.
    pub status: u16,
    /// The start of the panel's answer body.
    pub answer: String,
    pub parked_ms: u64,
}

/// Something ops must know about (a campaign paused itself).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Alert {
    pub seq: u64,
    /// The campaign, or empty for dialflow as a whole.
    pub campaign: String,
    pub at_ms: u64,
    pub message: String,
    /// What raised it (none in alerts written before kinds were kept).
    #[serde(default)]
    pub kind: Option<crate::core::alerts::AlertKind>,
    /// Why, in a few words.
    #[serde(default)]
    pub reason: String,
}

/// An alert waiting to be sent to `alerts.url`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertOut {
    pub alert: Alert,
    /// How many like it the rate limit held back before it.
    pub repeats: u64,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}
