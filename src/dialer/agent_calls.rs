//! Agents' own calls: a manual or preview call asked through the daemon
//! (`Signal::AgentCall`), and the agent reserved before a call that is theirs alone
//! is dialed (those and callbacks a disposition kept for them).

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::{Completion, Dialer, Live, blocking};
use crate::control::{AgentCall, AgentCallError};
use crate::core::scenario::Scenario;
use crate::desk::Ticket;
use crate::store::Leased;

use super::policy::CampaignPolicy;

impl Dialer {
    /// Places the agents' calls asked for since the last round.
    pub(super) async fn agent_calls(
        &self,
        calls: Vec<AgentCall>,
        campaigns: &mut BTreeMap<String, Live>,
        done_tx: &mpsc::UnboundedSender<Completion>,
    ) {
        for call in calls {
            let placed = self.agent_call(&call, campaigns, done_tx).await;
            let _ = call.reply.send(placed);
        }
    }

    /// One agent's call: the agent free, the lead leased with every check (window,
    /// local hours, DNC, attempts), the agent reserved, the customer dialed.
    async fn agent_call(
        &self,
        call: &AgentCall,
        campaigns: &mut BTreeMap<String, Live>,
        done_tx: &mpsc::UnboundedSender<Completion>,
    ) -> Result<String, AgentCallError> {
        let cannot = |why: &str| AgentCallError::Campaign {
            campaign: call.campaign.clone(),
            why: why.to_string(),
        };
        let live = campaigns
            .get_mut(&call.campaign)
            .ok_or_else(|| cannot("no such campaign"))?;
        let policy = live.policy.clone().map_err(|e| cannot(&e.to_string()))?;
        let scenario = self
            .scenarios
            .get(&live.record.settings.scenario)
            .ok_or_else(|| cannot("its scenario is not loaded"))?;
        let desk = self
            .desk
            .as_ref()
            .ok_or_else(|| cannot("no agents' desk runs"))?;
        if let Some(r) = desk.agent(&call.agent)
            && r.agent.state != crate::core::agents::AgentState::Available
        {
            return Err(crate::desk::DeskError::NotFree {
                agent: call.agent.clone(),
                state: r.agent.state.name(),
            }
            .into());
        }
        let now = self.now_ms();
        let (store, campaign, lead_id) =
            (Arc::clone(&self.store), call.campaign.clone(), call.lead_id);
        let (name, hash, lease_ms) = (
            live.record.settings.scenario.clone(),
            scenario.hash.to_string(),
            self.options.lease_ms,
        );
        let admission = Arc::clone(&policy);
        let leased = blocking(move || {
            store.lease_lead(&campaign, lead_id, now, lease_ms, &name, &hash, |lead| {
                admission.admit(lead, now)
            })
        })
        .await??;
        let attempt = leased.attempt.id.clone();
        live.pacer.started(now);
        live.in_flight += 1;
        live.agents.answers.placed_for_agent(&attempt, now);
        let record = live.record.clone();
        self.start_call(
            &record,
            &policy,
            scenario,
            leased,
            Some(call.agent.clone()),
            done_tx,
        );
        Ok(attempt)
    }

    /// Reserves `agent` (when a call is theirs alone) before the customer is dialed;
    /// when they were taken meanwhile, the call's `connect_agent` waits for them.
    pub(super) fn reserve_for(
        &self,
        agent: Option<&str>,
        campaign: &str,
        scenario: &Scenario,
        lease: &Leased,
        policy: &CampaignPolicy,
    ) {
        let (Some(agent), Some(desk)) = (agent, &self.desk) else {
            return;
        };
        let ticket = Ticket {
            attempt: lease.attempt.id.clone(),
            queue: scenario.queues().first().map_or("", |q| q).to_string(),
            agent: Some(agent.to_string()),
            campaign: Some(campaign.to_string()),
            wrap_up_ms: policy.wrap_up_ms,
        };
        if let Err(e) = desk.reserve_now(agent, ticket) {
            tracing::warn!(%agent, attempt = %lease.attempt.id, error = %e, "cannot reserve the agent before their call: it waits for them");
        }
    }
}
