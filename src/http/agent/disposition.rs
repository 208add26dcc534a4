//! `POST /api/agent/disposition`: the agent closes the call they are wrapping up with
//! one of its campaign's dispositions. The store sets it in one transaction (see
//! `store::dispositions`), so it survives a restart however the agent's state goes;
//! then the desk applies `Disposed`, and the agent is available again (or on the break
//! they asked for).

use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::{AgentView, agent_of, campaign_now, desk_of, on_desk};
use crate::core::agents::{AgentEvent, AgentState};
use crate::core::campaign::settings::DispositionSetting;
use crate::desk::DeskError;
use crate::dialer::policy::CampaignPolicy;
use crate::http::auth::Caller;
use crate::http::extract::Json;
use crate::http::{ApiError, ApiState, ErrorBody, blocking};
use crate::store::{AttemptView, Disposition, NewDisposition, StoreError};

/// Notes longer than this are refused: they are a line or two, not a document.
const MAX_NOTES: usize = 4_000;

/// How long a disposition waits for the dialer to record its call's end (it does so
/// a moment after the call ends) before it is refused.
const END_WAIT: Duration = Duration::from_secs(3);

/// A disposition for the call in wrap-up.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "sale", "notes": "wants the yearly plan"}))]
pub struct DispositionRequest {
    /// One of the campaign's `dispositions` codes.
    pub code: String,
    #[serde(default)]
    pub notes: Option<String>,
    /// For a callback disposition: when to call back (RFC 3339, in the future).
    #[serde(default)]
    pub callback_at: Option<String>,
    /// For a callback: the call is for this agent (else for anyone).
    #[serde(default)]
    pub callback_for_me: bool,
}

/// The disposition set, and the agent after it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Disposed {
    pub disposition: Disposition,
    pub agent: AgentView,
}

/// `POST /api/agent/disposition`.
#[utoipa::path(
    post,
    path = "/api/agent/disposition",
    tag = "agent",
    operation_id = "agent_disposition",
    request_body = DispositionRequest,
    responses(
        (status = 200, description = "Set on the call; the agent is free again (or on the break asked for)", body = Disposed),
        (status = 400, description = "An unknown code, a callback without a time (or in the past), notes too long", body = ErrorBody),
        (status = 404, description = "No agent of the token's name", body = ErrorBody),
        (status = 409, description = "No call in wrap-up, a disposition set already, the call's end not recorded yet, or a campaign whose settings or scenario cannot map the disposition", body = ErrorBody),
        (status = 503, description = "No agent desk behind this API", body = ErrorBody),
    )
)]
pub async fn dispose(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Json(request): Json<DispositionRequest>,
) -> Result<Json<Disposed>, ApiError> {
    let agent = agent_of(&caller)?;
    let desk = desk_of(s.desk.as_ref())?;
    let record = on_desk(desk.clone(), agent.clone(), |desk, id| {
        desk.agent(id).ok_or_else(|| DeskError::NoAgent(id.into()))
    })
    .await?;
    let AgentState::WrapUp { attempt, .. } = &record.agent.state else {
        return Err(conflict(format!(
            "agent `{agent}` is {}: a disposition is set in the wrap-up after a call",
            record.agent.state.name()
        )));
    };
    let (new, policy) = prepare(&s, &agent, attempt, request).await?;
    let disposition = record_it(&s, new, policy).await?;
    let after = on_desk(desk, agent, |desk, id| {
        // The wrap-up may have run out meanwhile: the disposition is kept all the same.
        if let Err(e) = desk.act(id, AgentEvent::Disposed) {
            tracing::info!(agent = %id, error = %e, "disposition kept after the wrap-up");
        }
        desk.agent(id).ok_or_else(|| DeskError::NoAgent(id.into()))
    })
    .await?;
    Ok(Json(Disposed {
        disposition,
        agent: after.into(),
    }))
}

fn conflict(message: String) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, message)
}

/// The disposition to record for `attempt`, checked against its campaign and
/// scenario, and the campaign's policy (whose rules move the lead on).
async fn prepare(
    s: &ApiState,
    agent: &str,
    attempt: &str,
    request: DispositionRequest,
) -> Result<(NewDisposition, CampaignPolicy), ApiError> {
    let store = s.store.clone();
    let id = attempt.to_string();
    let (view, campaign) = blocking(move || {
        let view = store.attempt(&id)?;
        let campaign = store.campaign(&view.start.campaign)?;
        Ok((view, campaign))
    })
    .await?;
    let settings = &campaign.settings;
    let setting = settings.disposition(&request.code).ok_or_else(|| {
        let codes: Vec<&str> = settings
            .dispositions
            .iter()
            .map(|d| d.code.as_str())
            .collect();
        ApiError::bad_request(format!(
            "`{}` is not a disposition of campaign `{}` (its codes: {})",
            request.code,
            campaign.name,
            codes.join(", ")
        ))
    })?;
    let policy = CampaignPolicy::compile(settings)
        .map_err(|e| conflict(format!("campaign `{}`: {e}", campaign.name)))?;
    let status = status_of(s, &view, setting)?;
    let disposition = Disposition {
        code: setting.code.clone(),
        result: setting.result.clone(),
        status,
        notes: notes(request.notes)?,
        agent: agent.to_string(),
        at_ms: campaign_now(s),
        callback_at_ms: callback_at(setting, request.callback_at.as_deref(), campaign_now(s))?,
        callback_agent: (setting.callback && request.callback_for_me).then(|| agent.to_string()),
        dnc: setting.dnc,
    };
    let new = NewDisposition {
        attempt_id: attempt.to_string(),
        disposition,
    };
    Ok((new, policy))
}

/// The panel status of the disposition's result in the scenario the call ran.
fn status_of(
    s: &ApiState,
    view: &AttemptView,
    setting: &DispositionSetting,
) -> Result<String, ApiError> {
    let name = &view.start.scenario;
    let scenario = s.scenarios.get(name).ok_or_else(|| {
        conflict(format!(
            "the scenario `{name}` is not served: no status for `{}`",
            setting.result
        ))
    })?;
    scenario
        .results
        .status_of(&setting.result)
        .map(str::to_string)
        .ok_or_else(|| {
            conflict(format!(
                "disposition `{}`: `{}` is not a result of the scenario `{name}`",
                setting.code, setting.result
            ))
        })
}

fn notes(notes: Option<String>) -> Result<Option<String>, ApiError> {
    let notes = notes
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    match notes {
        Some(n) if n.chars().count() > MAX_NOTES => Err(ApiError::bad_request(format!(
            "notes of {} characters: at most {MAX_NOTES}",
            n.chars().count()
        ))),
        other => Ok(other),
    }
}

/// The callback's time: required, and after `now_ms` (the campaigns' clock), for a
/// callback disposition; refused for any other.
fn callback_at(
    setting: &DispositionSetting,
    at: Option<&str>,
    now_ms: u64,
) -> Result<Option<u64>, ApiError> {
    match (setting.callback, at) {
        (false, None) => Ok(None),
        (false, Some(_)) => Err(ApiError::bad_request(format!(
            "`{}` does not call back: no callback_at",
            setting.code
        ))),
        (true, None) => Err(ApiError::bad_request(format!(
            "`{}` calls back: give callback_at (RFC 3339, like 2026-03-01T10:00:00+03:30)",
            setting.code
        ))),
        (true, Some(text)) => {
            let at: jiff::Timestamp = text.parse().map_err(|e| {
                ApiError::bad_request(format!("callback_at `{text}` is not an RFC 3339 time: {e}"))
            })?;
            let ms = u64::try_from(at.as_millisecond()).unwrap_or(0);
            if ms <= now_ms {
                return Err(ApiError::bad_request(format!(
                    "callback_at `{text}` is in the past"
                )));
            }
            Ok(Some(ms))
        }
    }
}

/// Records the disposition, waiting up to `END_WAIT` for the call's end to be
/// recorded first.
async fn record_it(
    s: &ApiState,
    new: NewDisposition,
    policy: CampaignPolicy,
) -> Result<Disposition, ApiError> {
    let deadline = tokio::time::Instant::now() + END_WAIT;
    loop {
        let (store, new, policy) = (s.store.clone(), new.clone(), policy.clone());
        let now = campaign_now(s);
        let set = tokio::task::spawn_blocking(move || {
            store.set_disposition(&new, now, |lead, end| policy.next(lead, end, now))
        })
        .await
        .map_err(StoreError::TaskFailed)?;
        match set {
            Err(StoreError::NotEnded(_)) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e @ StoreError::NotEnded(_)) => {
                return Err(conflict(format!("{e}: try again in a moment")));
            }
            other => return Ok(other?),
        }
    }
}
