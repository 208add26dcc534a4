//! What the reports and the agent's screen read: a campaign's attempts with their
//! dispositions, one lead with every attempt it had, and one lead with its latest.

use redb::ReadableDatabase as _;
use serde::{Deserialize, Serialize};

use super::dialing::attempt_view;
use super::dispositions::disposition_of;
use super::schema::{
    ATTEMPT_ENDS, ATTEMPTS, CAMPAIGN_ATTEMPTS, CAMPAIGNS, DISPOSITIONS, LEAD_ATTEMPTS, LEADS,
};
use super::{AttemptView, Disposition, LeadRecord, Store, StoreError, decode};

/// An attempt, its end if it has one, and the agent's disposition if one was set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AttemptHistory {
    #[serde(flatten)]
    pub attempt: AttemptView,
    pub disposition: Option<Disposition>,
}

impl Store {
    /// A campaign's attempts that started in `[from_ms, to_ms)`, in the order they
    /// started, each with its disposition.
    pub fn attempt_history(
        &self,
        campaign: &str,
        from_ms: u64,
        to_ms: u64,
    ) -> Result<Vec<AttemptHistory>, StoreError> {
        let tx = self.db.begin_read()?;
        if tx.open_table(CAMPAIGNS)?.get(campaign)?.is_none() {
            return Err(StoreError::NoCampaign(campaign.to_string()));
        }
        let listing = tx.open_table(CAMPAIGN_ATTEMPTS)?;
        let (attempts, ends) = (tx.open_table(ATTEMPTS)?, tx.open_table(ATTEMPT_ENDS)?);
        let dispositions = tx.open_table(DISPOSITIONS)?;
        let mut out = Vec::new();
        for row in listing.range((campaign, 0)..=(campaign, u64::MAX))? {
            let seq = row?.0.value().1;
            let Some(attempt) = attempt_view(&attempts, &ends, seq)? else {
                continue;
            };
            if (from_ms..to_ms).contains(&attempt.start.started_ms) {
                let disposition = disposition_of(&dispositions, seq)?;
                out.push(AttemptHistory {
                    attempt,
                    disposition,
                });
            }
        }
        Ok(out)
    }

    /// Lead `id` and every attempt it had (all rounds), oldest first: keyed reads of
    /// its own attempts, however many its campaign has.
    pub fn lead_history(&self, id: u64) -> Result<(LeadRecord, Vec<AttemptHistory>), StoreError> {
        let tx = self.db.begin_read()?;
        let lead: LeadRecord = match tx.open_table(LEADS)?.get(id)? {
            Some(v) => decode("leads", v.value())?,
            None => return Err(StoreError::NoLead(id)),
        };
        let (attempts, ends) = (tx.open_table(ATTEMPTS)?, tx.open_table(ATTEMPT_ENDS)?);
        let dispositions = tx.open_table(DISPOSITIONS)?;
        let mut out = Vec::new();
        for row in tx
            .open_table(LEAD_ATTEMPTS)?
            .range((id, 0)..=(id, u64::MAX))?
        {
            let seq = row?.0.value().1;
            if let Some(attempt) = attempt_view(&attempts, &ends, seq)? {
                let disposition = disposition_of(&dispositions, seq)?;
                out.push(AttemptHistory {
                    attempt,
                    disposition,
                });
            }
        }
        Ok((lead, out))
    }
}

impl Store {
    /// Lead `id`.
    pub fn lead(&self, id: u64) -> Result<LeadRecord, StoreError> {
        let tx = self.db.begin_read()?;
        match tx.open_table(LEADS)?.get(id)? {
            Some(v) => decode("leads", v.value()),
            None => Err(StoreError::NoLead(id)),
        }
    }

    /// Lead `id` and its latest attempt that ended (`LeadRecord::last_attempt`) with
    /// its disposition: two keyed reads, cheap enough for every call an agent takes.
    pub fn lead_with_latest(
        &self,
        id: u64,
    ) -> Result<(LeadRecord, Option<AttemptHistory>), StoreError> {
        let tx = self.db.begin_read()?;
        let lead: LeadRecord = match tx.open_table(LEADS)?.get(id)? {
            Some(v) => decode("leads", v.value())?,
            None => return Err(StoreError::NoLead(id)),
        };
        let Some(seq) = lead.last_attempt else {
            return Ok((lead, None));
        };
        let (attempts, ends) = (tx.open_table(ATTEMPTS)?, tx.open_table(ATTEMPT_ENDS)?);
        let latest = match attempt_view(&attempts, &ends, seq)? {
            Some(attempt) => Some(AttemptHistory {
                attempt,
                disposition: disposition_of(&tx.open_table(DISPOSITIONS)?, seq)?,
            }),
            None => None,
        };
        Ok((lead, latest))
    }
}
