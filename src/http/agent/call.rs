//! `GET /api/agent/call`: the call the agent holds (reserved for, on, or wrapping up)
//! and what their screen shows with it: the lead, its latest attempt that ended with
//! its disposition, the campaign's script and its dispositions. Read from the desk (which call) and the
//! store (the rest), so it answers the same after a reload of the page.

use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use super::{agent_of, desk_of, on_desk};
use crate::core::agents::AgentState;
use crate::core::campaign::settings::DispositionSetting;
use crate::desk::DeskError;
use crate::http::auth::Caller;
use crate::http::extract::Json;
use crate::http::{ApiError, ApiState, ErrorBody, blocking};
use crate::store::{AttemptHistory, LeadRecord};

/// The call an agent holds.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CurrentCall {
    pub attempt: String,
    pub campaign: String,
    /// The agent's part in it: `reserved` (being connected), `on_call` or `wrap_up`.
    pub state: String,
    /// When the agent entered that state (Unix ms).
    pub since_ms: u64,
    /// When their wrap-up ends by itself (Unix ms), in wrap-up.
    pub wrap_up_until_ms: Option<u64>,
    /// When the call was dialed (Unix ms).
    pub started_ms: u64,
    /// Which attempt at the lead this is in its round (1: the first).
    pub number: u32,
    pub lead: CallLead,
    /// The campaign's `script`: what the agent reads to the customer (empty: none).
    pub script: String,
    /// The campaign's dispositions, one of which closes the call in wrap-up.
    pub dispositions: Vec<DispositionChoice>,
}

/// A disposition as the agent chooses it: what they send, what they see, and what it
/// asks of them (a callback time) or does (the number on the do-not-call list).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DispositionChoice {
    pub code: String,
    pub label: String,
    pub callback: bool,
    pub dnc: bool,
}

impl From<DispositionSetting> for DispositionChoice {
    fn from(d: DispositionSetting) -> Self {
        DispositionChoice {
            code: d.code,
            label: d.label,
            callback: d.callback,
            dnc: d.dnc,
        }
    }
}

/// The lead of the call, as the agent's screen shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CallLead {
    pub id: u64,
    pub name: String,
    /// E.164.
    pub phone: String,
    /// IANA time zone, when the lead has one.
    pub time_zone: Option<String>,
    /// The lead's own columns, as imported.
    pub custom: BTreeMap<String, String>,
    /// Attempts of the current round that ended: this call counts once its end is
    /// recorded (the call's own `number` says which attempt it is).
    pub attempts: u32,
    /// Result → how often the lead's attempts ended in it this round.
    pub results: BTreeMap<String, u32>,
    /// The lead's latest attempt that ended, with its disposition if one was set:
    /// the one before this call while it is on, this call's own once its end is
    /// recorded (in wrap-up). The whole history is a report (`/api/reports/leads/{id}`,
    /// a supervisor's token): the store keeps no index of attempts by lead to read it
    /// cheaply on every call.
    pub latest: Option<AttemptHistory>,
}

impl CallLead {
    fn new(lead: LeadRecord, latest: Option<AttemptHistory>) -> Self {
        CallLead {
            id: lead.id,
            name: lead.name,
            phone: lead.phone,
            time_zone: lead.time_zone,
            custom: lead.custom,
            attempts: lead.attempts,
            results: lead.results,
            latest,
        }
    }
}

/// `GET /api/agent/call`.
#[utoipa::path(
    get,
    path = "/api/agent/call",
    tag = "agent",
    operation_id = "agent_call",
    responses(
        (status = 200, description = "The call the agent holds: reserved for, on, or in wrap-up; its lead and the campaign's script", body = CurrentCall),
        (status = 404, description = "The agent holds no call (or no agent of the token's name)", body = ErrorBody),
        (status = 503, description = "No agent desk behind this API", body = ErrorBody),
    )
)]
pub async fn current(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<CurrentCall>, ApiError> {
    let agent = agent_of(&caller)?;
    let desk = desk_of(s.desk.as_ref())?;
    let record = on_desk(desk, agent.clone(), |desk, id| {
        desk.agent(id).ok_or_else(|| DeskError::NoAgent(id.into()))
    })
    .await?;
    let (attempt, wrap_up_until_ms) = match &record.agent.state {
        AgentState::Reserved { attempt } | AgentState::OnCall { attempt } => (attempt, None),
        AgentState::WrapUp { attempt, until_ms } => (attempt, Some(*until_ms)),
        other => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("agent `{agent}` is {} and holds no call", other.name()),
            ));
        }
    };
    let store = s.store.clone();
    let id = attempt.clone();
    let (view, lead, latest, settings) = blocking(move || {
        let view = store.attempt(&id)?;
        let (lead, latest) = store.lead_with_latest(view.start.lead_id)?;
        let settings = store.campaign(&view.start.campaign)?.settings;
        Ok((view, lead, latest, settings))
    })
    .await?;
    Ok(Json(CurrentCall {
        attempt: view.start.id,
        campaign: view.start.campaign,
        state: record.agent.state.name(),
        since_ms: record.agent.since_ms,
        wrap_up_until_ms,
        started_ms: view.start.started_ms,
        number: view.start.number,
        lead: CallLead::new(lead, latest),
        script: settings.script,
        dispositions: settings.dispositions.into_iter().map(Into::into).collect(),
    }))
}
