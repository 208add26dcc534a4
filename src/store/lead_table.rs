//! Seed 003's lead-centric table: each lead with its latest finished attempt (time,
//! duration, outcome, AMD verdict, consent digit, transcript), a page at a time; and
//! its actions on one lead: recycle it (dial again, or reset it to a fresh round) and
//! delete it, which a campaign that dials may not do.

use redb::{ReadableDatabase as _, ReadableTable as _};
use serde::{Deserialize, Serialize};

use super::dialing::attempt_view;
use super::schema::{
    ATTEMPT_ENDS, ATTEMPTS, CAMPAIGN_LEADS, CAMPAIGNS, COUNTERS, DUE, LEAD_PHONES, LEADS,
};
use super::{
    AttemptView, CampaignRecord, CampaignState, LeadRecord, LeadState, Store, StoreError, bump,
    decode, encode,
};

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LeadRow {
    pub lead: LeadRecord,
    /// Its latest attempt that ended (none before its first).
    pub last: Option<AttemptView>,
}

impl Store {
    /// A page of a campaign's leads in id order after `after`, each with its latest
    /// finished attempt.
    pub fn lead_rows(
        &self,
        campaign: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<LeadRow>, StoreError> {
        let leads = self.leads(campaign, after, limit)?;
        // A lead names its attempt only once that attempt's end is written (one
        // transaction), so a later read finds it.
        let tx = self.db.begin_read()?;
        let attempts = tx.open_table(ATTEMPTS)?;
        let ends = tx.open_table(ATTEMPT_ENDS)?;
        leads
            .into_iter()
            .map(|lead| {
                let last = match lead.last_attempt {
                    Some(seq) => attempt_view(&attempts, &ends, seq)?,
                    None => None,
                };
                Ok(LeadRow { lead, last })
            })
            .collect()
    }

    /// Puts lead `id` back in line, due at `now_ms`: another attempt of its round, or
    /// (`reset`) a new round with its attempts and results cleared. A lead on the DNC
    /// list is never dialed again this way, nor one pending or on a call.
    pub fn recycle_lead(
        &self,
        campaign: &str,
        id: u64,
        reset: bool,
        now_ms: u64,
    ) -> Result<LeadRecord, StoreError> {
        let tx = self.db.begin_write()?;
        let lead = {
            let campaigns = tx.open_table(CAMPAIGNS)?;
            let record: CampaignRecord = match campaigns.get(campaign)? {
                Some(v) => decode("campaigns", v.value())?,
                None => return Err(StoreError::NoCampaign(campaign.into())),
            };
            if record.state == CampaignState::Archived {
                return Err(StoreError::BadTransition {
                    name: campaign.into(),
                    state: record.state,
                    action: "recycle a lead",
                });
            }
            let mut leads = tx.open_table(LEADS)?;
            let mut lead: LeadRecord = match leads.get(id)? {
                Some(v) => decode("leads", v.value())?,
                None => return Err(StoreError::NoLead(id)),
            };
            if lead.campaign != campaign {
                return Err(StoreError::NoLead(id));
            }
            let refused = match lead.state {
                LeadState::Dnc => Some("is on the do-not-call list: it is never dialed again"),
                LeadState::Pending { .. } => Some("is already waiting to be dialed"),
                LeadState::Leased { .. } => Some("is on a call"),
                LeadState::Done | LeadState::Cancelled | LeadState::Skipped { .. } => None,
            };
            if let Some(why) = refused {
                return Err(StoreError::BadInput(format!("lead {id} {why}")));
            }
            let mut counters = tx.open_table(COUNTERS)?;
            bump(&mut counters, campaign, lead.state.key(), -1)?;
            bump(&mut counters, campaign, "pending", 1)?;
            lead.state = LeadState::Pending { due_ms: now_ms };
            if reset {
                lead.round += 1;
                lead.attempts = 0;
                lead.results.clear();
            }
            leads.insert(id, encode(&lead).as_slice())?;
            tx.open_table(DUE)?.insert((campaign, now_ms, id), ())?;
            lead
        };
        super::commit(tx, "leads")?;
        Ok(lead)
    }

    /// Deletes lead `id` of `campaign` (its attempts stay, as history). Refused while
    /// the campaign runs, and for a lead on a call.
    pub fn delete_lead(&self, campaign: &str, id: u64) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        {
            let campaigns = tx.open_table(CAMPAIGNS)?;
            let record: CampaignRecord = match campaigns.get(campaign)? {
                Some(v) => decode("campaigns", v.value())?,
                None => return Err(StoreError::NoCampaign(campaign.into())),
            };
            if record.state == CampaignState::Running {
                return Err(StoreError::BadTransition {
                    name: campaign.into(),
                    state: record.state,
                    action: "delete a lead (pause or stop it first)",
                });
            }
            let mut leads = tx.open_table(LEADS)?;
            let lead: LeadRecord = match leads.get(id)? {
                Some(v) => decode("leads", v.value())?,
                None => return Err(StoreError::NoLead(id)),
            };
            if lead.campaign != campaign {
                return Err(StoreError::NoLead(id));
            }
            if let LeadState::Leased { .. } = lead.state {
                return Err(StoreError::BadInput(format!(
                    "lead {id} is on a call: delete it once the call ends"
                )));
            }
            if let LeadState::Pending { due_ms } = lead.state {
                tx.open_table(DUE)?.remove((campaign, due_ms, id))?;
            }
            leads.remove(id)?;
            tx.open_table(CAMPAIGN_LEADS)?.remove((campaign, id))?;
            tx.open_table(LEAD_PHONES)?
                .remove((campaign, lead.phone.as_str()))?;
            let mut counters = tx.open_table(COUNTERS)?;
            bump(&mut counters, campaign, lead.state.key(), -1)?;
            bump(&mut counters, campaign, "leads", -1)?;
        }
        super::commit(tx, "leads")?;
        Ok(())
    }
}
