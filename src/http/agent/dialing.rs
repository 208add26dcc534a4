//! An agent's own calls: `POST /api/agent/dial` dials a number the agent typed (manual
//! dialing, seed 001 §5) or a lead they previewed, and `GET /api/agent/preview` shows a
//! campaign's next lead before it is dialed (the `preview` mode). The number is put in
//! E.164 in the campaign's region and checked against the DNC lists here, and every
//! check of a campaign's call (window, local hours, DNC, attempts) is made again when
//! the dialer leases it. The campaign's prefix and caller id are applied when dialflow
//! dials, from its settings: the agent never sends them. An agent dials only for the
//! campaigns they may work.

use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::{agent_of, campaign_now, desk_of};
use crate::control::{AgentCall, AgentCallError, Control};
use crate::http::auth::Caller;
use crate::http::extract::{Json, Query};
use crate::http::{ApiError, ApiState, ErrorBody, blocking};
use crate::leads::phone::{normalize_phone, parse_region};
use crate::store::{LeadRecord, NewLead};

/// How long the API waits for the dialer to place the call (it does so within a round).
const PLACE_WAIT: Duration = Duration::from_secs(10);

/// What to dial: a number (manual dialing) or a lead of the campaign (after a preview).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"campaign": "spring", "number": "0912 345 6789"}))]
pub struct CallRequest {
    pub campaign: String,
    /// As the agent typed it: national or international; never a prefix of the trunk.
    #[serde(default)]
    pub number: Option<String>,
    /// A lead of the campaign (from `GET /api/agent/preview`).
    #[serde(default)]
    pub lead: Option<u64>,
}

/// The call placed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CallPlaced {
    pub attempt: String,
    pub lead: u64,
    /// E.164.
    pub phone: String,
}

/// `POST /api/agent/dial`.
#[utoipa::path(
    post,
    path = "/api/agent/dial",
    tag = "agent",
    operation_id = "agent_dial",
    request_body = CallRequest,
    responses(
        (status = 201, description = "The customer is being dialed; the agent is reserved for the call", body = CallPlaced),
        (status = 400, description = "Neither (or both) of `number` and `lead`, or a number that is not one", body = ErrorBody),
        (status = 403, description = "A campaign the agent may not work", body = ErrorBody),
        (status = 404, description = "No such campaign or lead", body = ErrorBody),
        (status = 409, description = "On a DNC list, outside the window or the lead's hours, no attempts left, the agent not free, or the campaign not dialing", body = ErrorBody),
        (status = 503, description = "No desk or no dialer behind this API", body = ErrorBody),
    )
)]
pub async fn dial(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Json(request): Json<CallRequest>,
) -> Result<(StatusCode, axum::Json<CallPlaced>), ApiError> {
    let agent = agent_of(&caller)?;
    may_work(&s, &agent, &request.campaign)?;
    let lead = match (&request.number, request.lead) {
        (Some(number), None) => lead_for_number(&s, &request.campaign, number).await?,
        (None, Some(id)) => lead_by_id(&s, &request.campaign, id).await?,
        _ => {
            return Err(bad(
                "give either `number` (manual dialing) or `lead` (a preview)",
            ));
        }
    };
    let control = s
        .control
        .clone()
        .ok_or_else(|| unavailable("no dialer runs"))?;
    let (reply, placed) = oneshot::channel();
    let asked = AgentCall {
        agent,
        campaign: request.campaign.clone(),
        lead_id: lead.id,
        reply,
    };
    control
        .send(Control::AgentCall(asked))
        .map_err(|_| unavailable("the daemon is stopping"))?;
    let attempt = match tokio::time::timeout(PLACE_WAIT, placed).await {
        Ok(Ok(outcome)) => outcome.map_err(refusal)?,
        _ => return Err(unavailable("the dialer did not answer")),
    };
    let body = CallPlaced {
        attempt,
        lead: lead.id,
        phone: lead.phone,
    };
    Ok((StatusCode::CREATED, axum::Json(body)))
}

/// The campaign's next lead as a preview.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PreviewQuery {
    pub campaign: String,
}

/// `GET /api/agent/preview`.
#[utoipa::path(
    get,
    path = "/api/agent/preview",
    tag = "agent",
    operation_id = "agent_preview",
    params(PreviewQuery),
    responses(
        (status = 200, description = "The next lead due (for anyone, or a callback for this agent); nothing is leased until `POST /api/agent/dial`", body = LeadRecord),
        (status = 403, description = "A campaign the agent may not work", body = ErrorBody),
        (status = 404, description = "No such campaign, or no lead due now", body = ErrorBody),
        (status = 503, description = "No desk behind this API", body = ErrorBody),
    )
)]
pub async fn preview(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<PreviewQuery>,
) -> Result<axum::Json<LeadRecord>, ApiError> {
    let agent = agent_of(&caller)?;
    may_work(&s, &agent, &q.campaign)?;
    let (store, now) = (s.store.clone(), campaign_now(&s));
    let campaign = q.campaign.clone();
    blocking(move || store.campaign(&campaign)).await?;
    let store = s.store.clone();
    let found = blocking(move || store.next_due_lead(&q.campaign, now, &agent)).await?;
    found
        .map(axum::Json)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no lead is due now"))
}

/// Refuses a campaign the agent may not work (an agent with none listed works all).
fn may_work(s: &ApiState, agent: &str, campaign: &str) -> Result<(), ApiError> {
    let desk = desk_of(s.desk.as_ref())?;
    let record = desk
        .agent(agent)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no agent `{agent}`")))?;
    if record.campaigns.is_empty() || record.campaigns.iter().any(|c| c == campaign) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        format!("agent `{agent}` may not work campaign `{campaign}`"),
    ))
}

/// The campaign's lead for a typed number: in E.164 in the campaign's region, on no
/// DNC list, and added to the campaign when it is new.
async fn lead_for_number(
    s: &ApiState,
    campaign: &str,
    number: &str,
) -> Result<LeadRecord, ApiError> {
    let store = s.store.clone();
    let name = campaign.to_string();
    let record = blocking(move || store.campaign(&name)).await?;
    let region = parse_region(&record.settings.region)
        .ok_or_else(|| bad("the campaign's region is not a country code"))?;
    let phone = normalize_phone(number, region).map_err(|e| bad(&e.to_string()))?;
    let (store, name, e164) = (s.store.clone(), campaign.to_string(), phone.clone());
    if blocking(move || store.dnc_entry(&name, &e164))
        .await?
        .is_some()
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("{phone} is on a do-not-call list"),
        ));
    }
    let (store, name, now) = (s.store.clone(), campaign.to_string(), campaign_now(s));
    blocking(move || {
        if let Some(lead) = store.lead_by_phone(&name, &phone)? {
            return Ok(lead);
        }
        let new = NewLead {
            phone: phone.clone(),
            ..NewLead::default()
        };
        store.import_leads(&name, &[new], now)?;
        store
            .lead_by_phone(&name, &phone)?
            .ok_or(crate::store::StoreError::BadInput(format!(
                "{phone} could not be added"
            )))
    })
    .await
}

async fn lead_by_id(s: &ApiState, campaign: &str, id: u64) -> Result<LeadRecord, ApiError> {
    let (store, name) = (s.store.clone(), campaign.to_string());
    let lead = blocking(move || store.lead(id)).await?;
    if lead.campaign != name {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no lead {id} in campaign `{name}`"),
        ));
    }
    Ok(lead)
}

/// What a refused agent's call answers.
fn refusal(e: AgentCallError) -> ApiError {
    match e {
        AgentCallError::NoDialer | AgentCallError::Stopping => unavailable(&e.to_string()),
        AgentCallError::Store(store) => store.into(),
        other => ApiError::new(StatusCode::CONFLICT, other.to_string()),
    }
}

fn bad(message: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, message)
}

fn unavailable(message: &str) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message)
}
