//! Leads: import (deduplicated by number per campaign), listing, recycle and cancel.

use redb::{ReadableDatabase as _, ReadableTable as _};

use super::campaigns::cancel_due;
use super::schema::{CAMPAIGN_LEADS, CAMPAIGNS, COUNTERS, DUE, LEAD_PHONES, LEADS, META};
use super::{
    CampaignRecord, CampaignState, LeadRecord, LeadState, NewLead, Store, StoreError, bump, decode,
    encode, reserve_ids,
};

/// What one import batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportTally {
    pub added: u64,
    /// Numbers the campaign had already (in the store or earlier in the batch).
    pub duplicates: u64,
}

impl Store {
    /// Adds leads to a campaign in one transaction, pending and due at once; a number
    /// the campaign has already is skipped. Call it with batches of a few thousand.
    pub fn import_leads(
        &self,
        campaign: &str,
        batch: &[NewLead],
        now_ms: u64,
    ) -> Result<ImportTally, StoreError> {
        let tx = self.db.begin_write()?;
        let mut tally = ImportTally::default();
        {
            let record: CampaignRecord = match tx.open_table(CAMPAIGNS)?.get(campaign)? {
                Some(v) => decode("campaigns", v.value())?,
                None => return Err(StoreError::NoCampaign(campaign.into())),
            };
            if record.state == CampaignState::Archived {
                return Err(StoreError::BadTransition {
                    name: campaign.into(),
                    state: record.state,
                    action: "add leads",
                });
            }
            let mut meta = tx.open_table(META)?;
            // Ids for the whole batch at once; ids of skipped duplicates stay unused.
            let mut next = reserve_ids(&mut meta, "next_lead", batch.len() as u64)?;
            let mut leads = tx.open_table(LEADS)?;
            let mut phones = tx.open_table(LEAD_PHONES)?;
            let mut listing = tx.open_table(CAMPAIGN_LEADS)?;
            let mut due = tx.open_table(DUE)?;
            for new in batch {
                let id = next;
                // One lookup: claim the number, and put the owner back if it had one.
                let owner = phones
                    .insert((campaign, new.phone.as_str()), id)?
                    .map(|old| old.value());
                if let Some(owner) = owner {
                    phones.insert((campaign, new.phone.as_str()), owner)?;
                    tally.duplicates += 1;
                    continue;
                }
                next += 1;
                let lead = LeadRecord {
                    id,
                    campaign: campaign.into(),
                    phone: new.phone.clone(),
                    name: new.name.clone(),
                    time_zone: new.time_zone.clone(),
                    custom: new.custom.clone(),
                    state: LeadState::Pending { due_ms: now_ms },
                    attempts: 0,
                    results: Default::default(),
                    last_result: None,
                    last_status: None,
                    round: 0,
                    created_ms: now_ms,
                    cancel_requested: false,
                    last_attempt: None,
                    callback_agent: None,
                };
                leads.insert(id, encode(&lead).as_slice())?;
                listing.insert((campaign, id), ())?;
                due.insert((campaign, now_ms, id), ())?;
                tally.added += 1;
            }
            let mut counters = tx.open_table(COUNTERS)?;
            let added = i64::try_from(tally.added).unwrap_or(i64::MAX);
            bump(&mut counters, campaign, "leads", added)?;
            bump(&mut counters, campaign, "pending", added)?;
        }
        super::commit(tx, "leads")?;
        Ok(tally)
    }

    /// A campaign's leads in id order, starting after `after` (for paging).
    pub fn leads(
        &self,
        campaign: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<LeadRecord>, StoreError> {
        let tx = self.db.begin_read()?;
        let listing = tx.open_table(CAMPAIGN_LEADS)?;
        let leads = tx.open_table(LEADS)?;
        let mut out = Vec::new();
        for row in listing.range((campaign, after.saturating_add(1))..=(campaign, u64::MAX))? {
            if out.len() >= limit {
                break;
            }
            let id = row?.0.value().1;
            if let Some(bytes) = leads.get(id)? {
                out.push(decode("leads", bytes.value())?);
            }
        }
        Ok(out)
    }

    /// The lead with this number in this campaign.
    pub fn lead_by_phone(
        &self,
        campaign: &str,
        phone: &str,
    ) -> Result<Option<LeadRecord>, StoreError> {
        let tx = self.db.begin_read()?;
        let phones = tx.open_table(LEAD_PHONES)?;
        let leads = tx.open_table(LEADS)?;
        let Some(id) = phones.get((campaign, phone))?.map(|v| v.value()) else {
            return Ok(None);
        };
        match leads.get(id)? {
            Some(bytes) => Ok(Some(decode("leads", bytes.value())?)),
            None => Ok(None),
        }
    }

    /// Puts finished leads whose last result is one of `results` (all finished leads if
    /// empty) back in the queue for a new round of attempts, due now. Returns how many.
    pub fn recycle(
        &self,
        campaign: &str,
        results: &[String],
        now_ms: u64,
    ) -> Result<u64, StoreError> {
        let tx = self.db.begin_write()?;
        let mut recycled = 0;
        {
            let record: CampaignRecord = match tx.open_table(CAMPAIGNS)?.get(campaign)? {
                Some(v) => decode("campaigns", v.value())?,
                None => return Err(StoreError::NoCampaign(campaign.into())),
            };
            if record.state == CampaignState::Archived {
                return Err(StoreError::BadTransition {
                    name: campaign.into(),
                    state: record.state,
                    action: "recycle leads",
                });
            }
            let listing = tx.open_table(CAMPAIGN_LEADS)?;
            let mut leads = tx.open_table(LEADS)?;
            let mut due = tx.open_table(DUE)?;
            let mut counters = tx.open_table(COUNTERS)?;
            for row in listing.range((campaign, 0)..=(campaign, u64::MAX))? {
                let id = row?.0.value().1;
                let Some(bytes) = leads.get(id)? else {
                    continue;
                };
                let mut lead: LeadRecord = decode("leads", bytes.value())?;
                drop(bytes);
                let matches = lead.state == LeadState::Done
                    && (results.is_empty()
                        || lead
                            .last_result
                            .as_ref()
                            .is_some_and(|r| results.contains(r)));
                if !matches {
                    continue;
                }
                lead.state = LeadState::Pending { due_ms: now_ms };
                lead.round += 1;
                lead.attempts = 0;
                lead.results.clear();
                leads.insert(id, encode(&lead).as_slice())?;
                due.insert((campaign, now_ms, id), ())?;
                bump(&mut counters, campaign, "done", -1)?;
                bump(&mut counters, campaign, "pending", 1)?;
                recycled += 1;
            }
        }
        super::commit(tx, "leads")?;
        Ok(recycled)
    }

    /// Cancels pending leads: all of them, or the one with number `phone`.
    pub fn cancel_leads(&self, campaign: &str, phone: Option<&str>) -> Result<u64, StoreError> {
        let tx = self.db.begin_write()?;
        if tx.open_table(CAMPAIGNS)?.get(campaign)?.is_none() {
            return Err(StoreError::NoCampaign(campaign.into()));
        }
        let n = cancel_due(&tx, campaign, phone)?;
        super::commit(tx, "leads")?;
        Ok(n)
    }
}
