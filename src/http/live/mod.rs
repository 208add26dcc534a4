//! What the dashboard watches: `GET /api/live` (one snapshot: the campaigns with their
//! counts, calling window and local clock; the calls in progress; the desk's agents)
//! and `GET /api/stream`
//! (the same as server-sent events, at most four a second and only when something
//! changed). One task makes the snapshots for every open dashboard (`feed.rs`), so ten
//! dashboards cost what one does.

mod feed;

pub use feed::LiveFeed;

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use serde::Serialize;

use super::agent::AgentView;
use super::extract::Json;
use super::{ApiError, ApiState, blocking};
use crate::dialer::policy::CampaignPolicy;
use crate::runtime::board::LiveCall;
use crate::store::{CampaignRecord, Store, StoreError};

/// Most calls one snapshot lists (the count says how many there are in all).
pub const MAX_LISTED_CALLS: usize = 2_000;

/// One look at everything live.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Snapshot {
    /// The campaigns' clock now (compressed under `--speed`), ms since the epoch.
    pub now_ms: u64,
    /// `on`, or `paused` (the daemon-wide pause).
    #[schema(value_type = String)]
    pub dialing: &'static str,
    /// Whether Asterisk's event stream is up.
    pub connected: bool,
    pub campaigns: Vec<CampaignLive>,
    pub calls: Vec<LiveCall>,
    /// Calls in progress in all (`calls` lists at most `MAX_LISTED_CALLS`).
    pub calls_total: usize,
    /// The agents the desk knows, by id, with their states (none without a desk).
    pub agents: Vec<AgentView>,
    /// The break reasons a supervisor may send an agent to.
    pub break_reasons: Vec<String>,
}

/// A campaign as the dashboard's list shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CampaignLive {
    pub name: String,
    pub state: String,
    pub scenario: String,
    pub time_zone: String,
    /// Its local time now, `HH:MM:SS`.
    pub local_time: String,
    /// Inside its calling window now; `next_open_ms` says when it opens if not.
    pub in_window: bool,
    pub next_open_ms: Option<u64>,
    /// Its calls in progress now.
    pub in_flight: usize,
    /// The store's counters: leads, pending, attempts, answered, `status:X`, …
    pub counts: BTreeMap<String, u64>,
    pub kpis: Kpis,
}

/// A campaign's KPIs (none of a rate whose denominator is still zero).
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Kpis {
    /// Answered ÷ attempts ended.
    pub answer_rate: Option<f64>,
    /// Average handle time: seconds from answer to end, over answered calls.
    pub aht_seconds: Option<f64>,
    /// Calls ending in one of the scenario's `success_statuses` ÷ answered calls.
    pub success_rate: Option<f64>,
    /// Answered calls the customer hung up before the flow's end (status `HANGUP`) ÷
    /// answered calls.
    pub abandonment: Option<f64>,
    /// Classification latency of its latest calls.
    pub classification: Option<crate::runtime::latency::Percentiles>,
}

/// `GET /api/live`.
#[utoipa::path(
    get,
    path = "/api/live",
    tag = "dashboard",
    operation_id = "live",
    responses((status = 200, description = "Everything live now: campaigns and calls in progress", body = Snapshot))
)]
pub async fn live(State(s): State<ApiState>) -> Result<Json<Snapshot>, ApiError> {
    Ok(Json(snapshot(&s).await?))
}

/// `GET /api/stream`: a `snapshot` event at once, then one whenever the snapshot
/// changes (looked at every 250 ms).
#[utoipa::path(
    get,
    path = "/api/stream",
    tag = "dashboard",
    operation_id = "stream",
    responses((status = 200, description = "Server-sent events: `snapshot`, whose data is a `Snapshot` as `GET /api/live` answers, at once and then on every change (at most four a second)", content_type = "text/event-stream", body = String))
)]
pub async fn stream(
    State(s): State<ApiState>,
) -> Sse<impl futures_util::Stream<Item = Result<Event, std::convert::Infallible>>> {
    let updates = s.feed.subscribe(&s);
    let events = futures_util::stream::unfold(updates, |mut updates| async move {
        let text = updates.next().await?;
        let event = Event::default().event("snapshot").data(text.as_str());
        Some((Ok(event), updates))
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}

/// Everything live now.
pub async fn snapshot(s: &ApiState) -> Result<Snapshot, ApiError> {
    let now_ms = match &s.runtime {
        Some(runtime) => runtime.clock().wall_ms(),
        None => jiff::Timestamp::now().as_millisecond().max(0) as u64,
    };
    let mut calls = s
        .runtime
        .as_ref()
        .map(|r| r.live_board())
        .unwrap_or_default();
    let store = s.store.clone();
    let records = blocking(move || campaigns_with_counts(&store)).await?;
    let campaigns = records
        .into_iter()
        .map(|(record, counts)| {
            let kpis = kpis(s, &record, &counts);
            campaign_live(record, counts, kpis, &calls, now_ms)
        })
        .collect();
    let calls_total = calls.len();
    calls.truncate(MAX_LISTED_CALLS);
    let paused = s
        .control
        .as_ref()
        .is_some_and(crate::control::Controller::is_paused);
    Ok(Snapshot {
        now_ms,
        dialing: if paused { "paused" } else { "on" },
        connected: s.runtime.as_ref().is_none_or(|r| r.is_connected()),
        campaigns,
        calls,
        calls_total,
        agents: agents(s),
        break_reasons: s.agents.break_reasons.clone(),
    })
}

/// The desk's agents, by id.
fn agents(s: &ApiState) -> Vec<AgentView> {
    let mut agents: Vec<AgentView> = s
        .desk
        .as_ref()
        .map(|desk| desk.agents().into_iter().map(Into::into).collect())
        .unwrap_or_default();
    agents.sort_by(|a, b| a.id.cmp(&b.id));
    agents
}

/// A campaign and its store counters.
type Counted = (CampaignRecord, BTreeMap<String, u64>);

fn campaigns_with_counts(store: &Store) -> Result<Vec<Counted>, StoreError> {
    store
        .campaigns()?
        .into_iter()
        .map(|record| {
            let counts = store.counts(&record.name)?;
            Ok((record, counts))
        })
        .collect()
}

/// A campaign's KPIs from its counters, its scenario's success statuses and the
/// runtime's classification latencies.
fn kpis(s: &ApiState, record: &CampaignRecord, counts: &BTreeMap<String, u64>) -> Kpis {
    let scenario = s.scenarios.get(&record.settings.scenario);
    let success = scenario
        .as_ref()
        .map(|sc| sc.results.success_statuses.as_slice());
    let classification = s
        .runtime
        .as_ref()
        .and_then(|r| r.classify_percentiles(&record.name));
    kpis_of(counts, success, classification)
}

/// The KPIs of these counters; success needs the scenario's success statuses.
fn kpis_of(
    counts: &BTreeMap<String, u64>,
    success_statuses: Option<&[String]>,
    classification: Option<crate::runtime::latency::Percentiles>,
) -> Kpis {
    let count = |k: &str| counts.get(k).copied().unwrap_or(0);
    let ratio = |n: u64, d: u64| (d > 0).then(|| n as f64 / d as f64);
    let ended: u64 = counts
        .iter()
        .filter(|(k, _)| k.starts_with("status:"))
        .map(|(_, n)| n)
        .sum();
    let answered = count("answered");
    let success = success_statuses.map(|statuses| {
        statuses
            .iter()
            .map(|st| count(&format!("status:{st}")))
            .sum::<u64>()
    });
    Kpis {
        answer_rate: ratio(answered, ended),
        aht_seconds: ratio(count("talk_ms"), answered).map(|ms| ms / 1000.0),
        success_rate: success.and_then(|n| ratio(n, answered)),
        abandonment: ratio(count("status:HANGUP"), answered),
        classification,
    }
}

fn campaign_live(
    record: CampaignRecord,
    counts: BTreeMap<String, u64>,
    kpis: Kpis,
    calls: &[LiveCall],
    now_ms: u64,
) -> CampaignLive {
    let window = CampaignPolicy::compile(&record.settings).map(|p| p.campaign_window(now_ms));
    let (in_window, next_open_ms) = match window {
        Ok(Ok(())) => (true, None),
        Ok(Err(next)) => (false, next),
        // Settings that no longer compile dial nothing: outside any window.
        Err(_) => (false, None),
    };
    let in_flight = calls
        .iter()
        .filter(|c| c.campaign.as_deref() == Some(record.name.as_str()))
        .count();
    CampaignLive {
        local_time: local_time(now_ms, &record.settings.time_zone),
        state: record.state.to_string(),
        scenario: record.settings.scenario.clone(),
        time_zone: record.settings.time_zone.clone(),
        name: record.name,
        in_window,
        next_open_ms,
        in_flight,
        counts,
        kpis,
    }
}

/// `HH:MM:SS` at `now_ms` in `zone` (UTC for a zone jiff does not know).
fn local_time(now_ms: u64, zone: &str) -> String {
    let at = jiff::Timestamp::from_millisecond(now_ms as i64).unwrap_or_default();
    let tz = jiff::tz::TimeZone::get(zone).unwrap_or(jiff::tz::TimeZone::UTC);
    at.to_zoned(tz).strftime("%H:%M:%S").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kpis_come_from_the_counters_and_the_scenario_s_success_statuses() {
        let counts: BTreeMap<String, u64> = [
            ("answered", 8),
            ("talk_ms", 96_000),
            ("status:CONNECTED", 3),
            ("status:DISCONNECTED", 1),
            ("status:HANGUP", 2),
            ("status:NOT_INTERESTED", 2),
            ("status:BUSY", 2),
        ]
        .map(|(k, v)| (k.to_string(), v))
        .into();
        let success = ["CONNECTED".to_string(), "DISCONNECTED".to_string()];
        let k = kpis_of(&counts, Some(&success), None);
        assert_eq!(k.answer_rate, Some(0.8));
        assert_eq!(k.aht_seconds, Some(12.0));
        assert_eq!(k.success_rate, Some(0.5));
        assert_eq!(k.abandonment, Some(0.25));
        let none = kpis_of(&BTreeMap::new(), None, None);
        assert_eq!(
            (none.answer_rate, none.aht_seconds, none.success_rate),
            (None, None, None)
        );
    }
}
