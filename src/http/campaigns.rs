//! `/api/campaigns`: list, create, show, and the state changes (start, pause, stop,
//! archive).

use std::collections::BTreeMap;

use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::extract::{Json, Path, Query};
use super::{ApiError, ApiState, ErrorBody, blocking};
use crate::control::Stale;
use crate::core::campaign::settings::CampaignSettings;
use crate::dialer::policy::CampaignPolicy;
use crate::store::campaigns::Transition;
use crate::store::{Alert, CampaignRecord, OutboxCounts};

/// A campaign with its counters.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CampaignView {
    #[serde(flatten)]
    pub record: CampaignRecord,
    /// Its leads by state (`pending`, `leased`, `done`, …).
    pub counts: BTreeMap<String, u64>,
    /// Its alerts (only from `GET /api/campaigns/{name}`).
    #[serde(default)]
    pub alerts: Vec<Alert>,
    /// Its reports waiting for the panel, and parked (shown by `campaign show`).
    #[serde(default)]
    pub outbox: OutboxCounts,
    /// The version of its scenario the daemon serves it now (`show` only; none
    /// when it serves no such scenario, or without a daemon).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<ScenarioServed>,
}

/// The version of a campaign's scenario that new calls run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ScenarioServed {
    pub name: String,
    /// The full hash new calls record.
    pub hash: String,
    /// Set when that is the last good version, not what the file says now: the file
    /// is gone or does not compile (with its diagnostics).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale: Option<Stale>,
}

/// What the daemon serves for scenario `name`, and whether it is stale.
fn served(s: &ApiState, name: &str) -> Option<ScenarioServed> {
    let scenario = s.scenarios.get(name)?;
    let stale = s.control.as_ref().and_then(|c| c.stale(name));
    Some(ScenarioServed {
        name: name.to_owned(),
        hash: scenario.hash.to_string(),
        stale,
    })
}

/// `GET /api/campaigns`: every campaign with its lead counters (its alerts and outbox
/// only in `GET /api/campaigns/{name}`).
#[utoipa::path(
    get,
    path = "/api/campaigns",
    tag = "campaigns",
    operation_id = "list_campaigns",
    responses((status = 200, description = "Every campaign", body = Vec<CampaignView>))
)]
pub async fn list(State(s): State<ApiState>) -> Result<Json<Vec<CampaignView>>, ApiError> {
    let store = s.store.clone();
    let views = blocking(move || {
        store
            .campaigns()?
            .into_iter()
            .map(|record| {
                let counts = store.counts(&record.name)?;
                Ok(CampaignView {
                    record,
                    counts,
                    alerts: Vec::new(),
                    outbox: OutboxCounts::default(),
                    scenario: None,
                })
            })
            .collect()
    })
    .await?;
    Ok(Json(views))
}

/// `GET /api/campaigns/{name}`: one campaign, with its counters, alerts and outbox.
#[utoipa::path(
    get,
    path = "/api/campaigns/{name}",
    tag = "campaigns",
    operation_id = "show_campaign",
    params(("name" = String, Path, description = "The campaign's name")),
    responses(
        (status = 200, description = "The campaign", body = CampaignView),
        (status = 404, description = "No such campaign", body = ErrorBody),
    )
)]
pub async fn show(
    State(s): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<CampaignView>, ApiError> {
    let store = s.store.clone();
    let mut view = blocking(move || {
        Ok(CampaignView {
            record: store.campaign(&name)?,
            counts: store.counts(&name)?,
            alerts: store.alerts(Some(&name))?,
            outbox: store.campaign_outbox_counts(&name)?,
            scenario: None,
        })
    })
    .await?;
    view.scenario = served(&s, &view.record.settings.scenario);
    Ok(Json(view))
}

/// A campaign to create: its name and settings.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewCampaign {
    /// Its name, unique in the store.
    pub name: String,
    /// What it dials and how (every field but `scenario` has a default).
    pub settings: CampaignSettings,
}

/// `POST /api/campaigns`: a new campaign, in the draft state.
#[utoipa::path(
    post,
    path = "/api/campaigns",
    tag = "campaigns",
    operation_id = "create_campaign",
    request_body(content = NewCampaign, example = json!({"name": "spring", "settings": {"scenario": "salehi"}})),
    responses(
        (status = 200, description = "The campaign created", body = CampaignRecord),
        (status = 400, description = "Settings that cannot be used", body = ErrorBody),
        (status = 409, description = "A campaign of that name exists", body = ErrorBody),
    )
)]
pub async fn create(
    State(s): State<ApiState>,
    Json(new): Json<NewCampaign>,
) -> Result<Json<CampaignRecord>, ApiError> {
    CampaignPolicy::compile(&new.settings)
        .map_err(|e| ApiError::bad_request(format!("campaign `{}`: {e}", new.name)))?;
    let store = s.store.clone();
    let record =
        blocking(move || store.create_campaign(&new.name, new.settings, super::wall_now_ms()))
            .await?;
    Ok(Json(record))
}

/// `PUT /api/campaigns/{name}`: the campaign's settings, replaced whole.
#[utoipa::path(
    put,
    path = "/api/campaigns/{name}",
    tag = "campaigns",
    operation_id = "update_campaign",
    params(("name" = String, Path, description = "The campaign's name")),
    request_body(content = CampaignSettings, example = json!({"scenario": "salehi", "max_attempts": 2})),
    responses(
        (status = 200, description = "The campaign with its new settings", body = CampaignRecord),
        (status = 400, description = "Settings that cannot be used", body = ErrorBody),
        (status = 404, description = "No such campaign", body = ErrorBody),
    )
)]
pub async fn update(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    Json(settings): Json<CampaignSettings>,
) -> Result<Json<CampaignRecord>, ApiError> {
    CampaignPolicy::compile(&settings)
        .map_err(|e| ApiError::bad_request(format!("campaign `{name}`: {e}")))?;
    let store = s.store.clone();
    let record =
        blocking(move || store.update_settings(&name, settings, super::wall_now_ms())).await?;
    Ok(Json(record))
}

/// Options of a state change.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActOptions {
    /// With `stop`: cancel the campaign's pending leads too.
    #[serde(default)]
    pub cancel_pending: bool,
}

/// A campaign's state change.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Start,
    Pause,
    Stop,
    Archive,
}

impl Action {
    /// The action a path names (as the document spells them).
    fn named(word: &str) -> Result<Action, ApiError> {
        use serde::de::value::{Error, StrDeserializer};
        Action::deserialize(StrDeserializer::<Error>::new(word)).map_err(|_| {
            ApiError::bad_request(format!(
                "`{word}` is not an action (start, pause, stop, archive)"
            ))
        })
    }
}

/// `POST /api/campaigns/{name}/{action}`: start, pause, stop or archive a campaign.
#[utoipa::path(
    post,
    path = "/api/campaigns/{name}/{action}",
    tag = "campaigns",
    operation_id = "change_campaign_state",
    params(
        ("name" = String, Path, description = "The campaign's name"),
        ("action" = inline(Action), Path, description = "The change"),
        ActOptions,
    ),
    responses(
        (status = 200, description = "The campaign in its new state", body = CampaignRecord),
        (status = 400, description = "Not an action, or a campaign that cannot start", body = ErrorBody),
        (status = 404, description = "No such campaign", body = ErrorBody),
        (status = 409, description = "The change is not allowed from the campaign's state", body = ErrorBody),
    )
)]
pub async fn act(
    State(s): State<ApiState>,
    Path((name, action)): Path<(String, String)>,
    Query(options): Query<ActOptions>,
) -> Result<Json<CampaignRecord>, ApiError> {
    let change = match Action::named(&action)? {
        Action::Start => Transition::Start,
        Action::Pause => Transition::Pause,
        Action::Stop => Transition::Stop {
            cancel_pending: options.cancel_pending,
        },
        Action::Archive => Transition::Archive,
    };
    let store = s.store.clone();
    if change == Transition::Start {
        let n = name.clone();
        let record = blocking(move || store.campaign(&n)).await?;
        CampaignPolicy::compile(&record.settings)
            .map_err(|e| ApiError::bad_request(format!("campaign `{name}` cannot start: {e}")))?;
        if !s.scenarios.contains(&record.settings.scenario) {
            return Err(ApiError::bad_request(format!(
                "campaign `{name}` cannot start: the daemon has no scenario `{}` (missing or does not compile)",
                record.settings.scenario
            )));
        }
    }
    let store = s.store.clone();
    let record =
        blocking(move || store.transition(&name, change, None, super::wall_now_ms())).await?;
    s.campaigns_changed();
    Ok(Json(record))
}
