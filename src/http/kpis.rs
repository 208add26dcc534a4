//! What `/metrics` reads of agents and campaigns at a scrape, never on a call's path:
//! agents by state (the desk's memory, or the store without a desk), each open
//! campaign's drop rates (`Store::drop_window`), ASA and AHT (its counters), and each
//! agent's occupancy since the UTC day began (`core::agent_time` over the day's part
//! of their log, read backwards so old logs cost nothing).
//!
//! Bounded labels: states are the rules' names and `break:REASON` for the configured
//! reasons (and `not_ready`); campaigns only those not completed or archived; agents
//! only those logged in today.

use std::collections::BTreeMap;

use crate::core::agent_time::{Change, agent_times};
use crate::desk::Desk;
use crate::metrics::{CampaignKpis, KpiSample};
use crate::store::{AgentRecord, CampaignState, Store, StoreError};

const DAY_MS: u64 = 86_400_000;

/// The states every scrape writes, at 0 when nobody is in them, so a rate over the
/// series has no gaps.
const STATES: &[&str] = &["offline", "available", "reserved", "on_call", "wrap_up"];

/// The KPIs as of `now_ms` (the campaigns' clock); `break_reasons` are the configured
/// ones, written at 0 like the other states.
pub(super) fn read(
    store: &Store,
    desk: Option<&Desk>,
    break_reasons: &[String],
    now_ms: u64,
) -> Result<KpiSample, StoreError> {
    let agents = match desk {
        Some(desk) => desk.agents(),
        None => store.agents()?,
    };
    let day_start = now_ms - now_ms % DAY_MS;
    let mut occupancy_today = Vec::new();
    for record in &agents {
        if let Some(o) = occupancy(store, &record.agent.id, day_start, now_ms)? {
            occupancy_today.push((record.agent.id.clone(), o));
        }
    }
    Ok(KpiSample {
        agents_by_state: by_state(&agents, break_reasons),
        campaigns: campaigns(store, now_ms)?,
        occupancy_today,
    })
}

fn by_state(agents: &[AgentRecord], break_reasons: &[String]) -> Vec<(String, u64)> {
    let mut counts: BTreeMap<String, u64> = STATES.iter().map(|s| (s.to_string(), 0)).collect();
    counts.insert("break:not_ready".into(), 0);
    for reason in break_reasons {
        counts.insert(format!("break:{reason}"), 0);
    }
    for r in agents {
        *counts.entry(r.agent.state.name()).or_default() += 1;
    }
    counts.into_iter().collect()
}

/// An agent's occupancy in `[from_ms, to_ms)`; `None` when not logged in then.
fn occupancy(store: &Store, id: &str, from_ms: u64, to_ms: u64) -> Result<Option<f64>, StoreError> {
    let log = store.agent_log_since(id, from_ms)?;
    let changes = log.iter().map(|e| Change {
        at_ms: e.at_ms,
        from: &e.from,
        to: &e.to,
    });
    Ok(agent_times(changes, from_ms, to_ms).occupancy())
}

/// The rates of every campaign that may still dial.
fn campaigns(store: &Store, now_ms: u64) -> Result<Vec<CampaignKpis>, StoreError> {
    let mut out = Vec::new();
    for c in store.campaigns()? {
        if matches!(c.state, CampaignState::Completed | CampaignState::Archived) {
            continue;
        }
        let window = store.drop_window(&c.name, now_ms)?;
        let counts = store.counts(&c.name)?;
        let mean_s = |sum: &str, n: &str| {
            let n = counts.get(n).copied().unwrap_or(0);
            let sum = counts.get(sum).copied().unwrap_or(0);
            (n > 0).then(|| sum as f64 / n as f64 / 1000.0)
        };
        out.push(CampaignKpis {
            drop_rate_today: window.today.rate(),
            drop_rate_30_days: window.last_30_days.rate(),
            asa_seconds: mean_s("asa_ms", "agent_bridged"),
            aht_seconds: mean_s("talk_ms", "answered"),
            campaign: c.name,
        });
    }
    Ok(out)
}
