//! `/api/campaigns`: list, create, show, and the state changes (start, pause, stop,
//! archive).

use std::collections::BTreeMap;

use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::extract::{Json, Path, Query};
use super::{ApiError, ApiState, blocking};
use crate::control::Stale;
use crate::core::campaign::settings::CampaignSettings;
use crate::dialer::policy::CampaignPolicy;
use crate::store::campaigns::Transition;
use crate::store::{Alert, CampaignRecord, OutboxCounts};

/// A campaign with its counters.
#[derive(Debug, Serialize, Deserialize)]
pub struct CampaignView {
    #[serde(flatten)]
    pub record: CampaignRecord,
    pub counts: BTreeMap<String, u64>,
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
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
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

fn now_ms() -> u64 {
    jiff::Timestamp::now().as_millisecond().max(0) as u64
}

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

/// `POST /api/campaigns`: `{"name": ..., "settings": {...}}`.
#[derive(Debug, Deserialize)]
pub struct NewCampaign {
    pub name: String,
    pub settings: CampaignSettings,
}

pub async fn create(
    State(s): State<ApiState>,
    Json(new): Json<NewCampaign>,
) -> Result<Json<CampaignRecord>, ApiError> {
    CampaignPolicy::compile(&new.settings)
        .map_err(|e| ApiError::bad_request(format!("campaign `{}`: {e}", new.name)))?;
    let store = s.store.clone();
    let record = blocking(move || store.create_campaign(&new.name, new.settings, now_ms())).await?;
    Ok(Json(record))
}

/// `PUT /api/campaigns/{name}` with the new settings.
pub async fn update(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    Json(settings): Json<CampaignSettings>,
) -> Result<Json<CampaignRecord>, ApiError> {
    CampaignPolicy::compile(&settings)
        .map_err(|e| ApiError::bad_request(format!("campaign `{name}`: {e}")))?;
    let store = s.store.clone();
    let record = blocking(move || store.update_settings(&name, settings, now_ms())).await?;
    Ok(Json(record))
}

#[derive(Debug, Default, Deserialize)]
pub struct ActOptions {
    #[serde(default)]
    pub cancel_pending: bool,
}

/// `POST /api/campaigns/{name}/{start|pause|stop|archive}`.
pub async fn act(
    State(s): State<ApiState>,
    Path((name, action)): Path<(String, String)>,
    Query(options): Query<ActOptions>,
) -> Result<Json<CampaignRecord>, ApiError> {
    let change = match action.as_str() {
        "start" => Transition::Start,
        "pause" => Transition::Pause,
        "stop" => Transition::Stop {
            cancel_pending: options.cancel_pending,
        },
        "archive" => Transition::Archive,
        other => {
            return Err(ApiError::bad_request(format!(
                "`{other}` is not an action (start, pause, stop, archive)"
            )));
        }
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
    let record = blocking(move || store.transition(&name, change, None, now_ms())).await?;
    s.campaigns_changed();
    Ok(Json(record))
}
