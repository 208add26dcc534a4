//! Campaign records and their state changes.

use std::collections::BTreeMap;

use redb::{ReadableDatabase as _, ReadableTable as _};

use super::schema::{CAMPAIGNS, COUNTERS, DUE, LEAD_PHONES, LEADS, LEASES};
use super::{
    CampaignRecord, CampaignState, LeadRecord, LeadState, NewAlert, Store, StoreError, bump,
    decode, encode,
};
use crate::core::campaign::settings::CampaignSettings;

/// A state change an operator (or the dialer) asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Start,
    Pause,
    /// Stop; `cancel_pending` also cancels every lead not yet dialed.
    Stop {
        cancel_pending: bool,
    },
    Archive,
    /// The dialer: nothing left to dial and nothing in flight.
    Complete,
}

impl Transition {
    fn verb(self) -> &'static str {
        match self {
            Self::Start => "start it",
            Self::Pause => "pause it",
            Self::Stop { .. } => "stop it",
            Self::Archive => "archive it",
            Self::Complete => "complete it",
        }
    }

    fn target(self, from: CampaignState) -> Option<CampaignState> {
        use CampaignState::*;
        match (self, from) {
            (Self::Start, Draft | Paused | Stopped | Completed) => Some(Running),
            (Self::Pause, Running) => Some(Paused),
            (Self::Stop { .. }, Draft | Running | Paused) => Some(Stopped),
            (Self::Archive, Stopped | Completed | Draft) => Some(Archived),
            (Self::Complete, Running) => Some(Completed),
            _ => None,
        }
    }
}

/// A campaign name: it appears in commands and URLs, so letters, digits, `_` and `.`.
pub fn check_name(name: &str) -> Result<(), StoreError> {
    let ok = name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(StoreError::BadInput(format!(
            "`{name}` is not a campaign name (letters, digits, `_` and `.`, starting with a letter or digit; at most 64)"
        )))
    }
}

impl Store {
    pub fn create_campaign(
        &self,
        name: &str,
        settings: CampaignSettings,
        now_ms: u64,
    ) -> Result<CampaignRecord, StoreError> {
        check_name(name)?;
        let tx = self.db.begin_write()?;
        let record = {
            let mut campaigns = tx.open_table(CAMPAIGNS)?;
            if campaigns.get(name)?.is_some() {
                return Err(StoreError::CampaignExists(name.into()));
            }
            let record = CampaignRecord {
                name: name.into(),
                settings,
                state: CampaignState::Draft,
                reason: None,
                created_ms: now_ms,
                updated_ms: now_ms,
            };
            campaigns.insert(name, encode(&record).as_slice())?;
            record
        };
        super::commit(tx, "campaigns")?;
        Ok(record)
    }

    pub fn campaign(&self, name: &str) -> Result<CampaignRecord, StoreError> {
        let tx = self.db.begin_read()?;
        let campaigns = tx.open_table(CAMPAIGNS)?;
        let bytes = campaigns
            .get(name)?
            .ok_or_else(|| StoreError::NoCampaign(name.into()))?;
        decode("campaigns", bytes.value())
    }

    pub fn campaigns(&self) -> Result<Vec<CampaignRecord>, StoreError> {
        let tx = self.db.begin_read()?;
        let campaigns = tx.open_table(CAMPAIGNS)?;
        let mut out = Vec::new();
        for row in campaigns.iter()? {
            let (_, v) = row?;
            out.push(decode("campaigns", v.value())?);
        }
        Ok(out)
    }

    /// Replaces a campaign's settings (any state but archived).
    pub fn update_settings(
        &self,
        name: &str,
        settings: CampaignSettings,
        now_ms: u64,
    ) -> Result<CampaignRecord, StoreError> {
        let tx = self.db.begin_write()?;
        let record = {
            let mut campaigns = tx.open_table(CAMPAIGNS)?;
            let mut record: CampaignRecord = match campaigns.get(name)? {
                Some(v) => decode("campaigns", v.value())?,
                None => return Err(StoreError::NoCampaign(name.into())),
            };
            if record.state == CampaignState::Archived {
                return Err(StoreError::BadTransition {
                    name: name.into(),
                    state: record.state,
                    action: "change its settings",
                });
            }
            record.settings = settings;
            record.updated_ms = now_ms;
            campaigns.insert(name, encode(&record).as_slice())?;
            record
        };
        super::commit(tx, "campaigns")?;
        Ok(record)
    }

    /// Moves a campaign to a new state; `reason` says why (shown by `campaign show`).
    /// Stopping with `cancel_pending` cancels every pending lead in the same transaction.
    pub fn transition(
        &self,
        name: &str,
        change: Transition,
        reason: Option<String>,
        now_ms: u64,
    ) -> Result<CampaignRecord, StoreError> {
        self.transition_with_alert(name, change, reason, None, now_ms)
    }

    /// `transition`, with an alert recorded in the same transaction (a campaign that
    /// pauses itself is never left paused without saying why).
    pub fn transition_with_alert(
        &self,
        name: &str,
        change: Transition,
        reason: Option<String>,
        alert: Option<NewAlert<'_>>,
        now_ms: u64,
    ) -> Result<CampaignRecord, StoreError> {
        let tx = self.db.begin_write()?;
        let record = {
            let mut campaigns = tx.open_table(CAMPAIGNS)?;
            let mut record: CampaignRecord = match campaigns.get(name)? {
                Some(v) => decode("campaigns", v.value())?,
                None => return Err(StoreError::NoCampaign(name.into())),
            };
            let Some(target) = change.target(record.state) else {
                return Err(StoreError::BadTransition {
                    name: name.into(),
                    state: record.state,
                    action: change.verb(),
                });
            };
            if change == Transition::Complete {
                // Only when truly idle: the dialer's view may be stale.
                let due = tx.open_table(DUE)?;
                let leases = tx.open_table(LEASES)?;
                let pending = due.range((name, 0, 0)..=(name, u64::MAX, u64::MAX))?.next();
                let leased = leases.range((name, 0)..=(name, u64::MAX))?.next();
                if pending.is_some() || leased.is_some() {
                    return Err(StoreError::StillHasWork(name.into()));
                }
            }
            if change == Transition::Archive {
                // Archived is read-only: a call still on would end into it.
                let leases = tx.open_table(LEASES)?;
                if leases.range((name, 0)..=(name, u64::MAX))?.next().is_some() {
                    return Err(StoreError::BadTransition {
                        name: name.into(),
                        state: record.state,
                        action: "archive it while its calls are still on (wait for them)",
                    });
                }
            }
            if let Transition::Stop {
                cancel_pending: true,
            } = change
            {
                cancel_due(&tx, name, None)?;
            }
            record.state = target;
            record.reason = reason;
            record.updated_ms = now_ms;
            campaigns.insert(name, encode(&record).as_slice())?;
            if let Some(alert) = alert {
                self.insert_alert(&tx, &alert, now_ms)?;
            }
            record
        };
        super::commit(tx, "campaigns")?;
        Ok(record)
    }

    /// The campaign's counters: leads by state (`pending`, `leased`, `done`, …),
    /// `leads`, `attempts`, and `status:<STATUS>` per panel status.
    pub fn counts(&self, name: &str) -> Result<BTreeMap<String, u64>, StoreError> {
        let tx = self.db.begin_read()?;
        let counters = tx.open_table(COUNTERS)?;
        let mut out = BTreeMap::new();
        for row in counters.range((name, "")..)? {
            let (k, v) = row?;
            let (campaign, key) = k.value();
            if campaign != name {
                break;
            }
            out.insert(key.to_string(), v.value());
        }
        Ok(out)
    }

    /// Whether the campaign has a pending lead or a lease.
    pub fn has_work(&self, name: &str) -> Result<bool, StoreError> {
        let tx = self.db.begin_read()?;
        let due = tx.open_table(DUE)?;
        let leases = tx.open_table(LEASES)?;
        Ok(due
            .range((name, 0, 0)..=(name, u64::MAX, u64::MAX))?
            .next()
            .is_some()
            || leases.range((name, 0)..=(name, u64::MAX))?.next().is_some())
    }

    /// The campaign's next lead due by `now_ms` that is for anyone or for `agent` (a
    /// preview: the agent sees it before it is dialed; nothing is leased).
    pub fn next_due_lead(
        &self,
        name: &str,
        now_ms: u64,
        agent: &str,
    ) -> Result<Option<LeadRecord>, StoreError> {
        let tx = self.db.begin_read()?;
        let due = tx.open_table(DUE)?;
        let leads = tx.open_table(LEADS)?;
        for row in due.range((name, 0, 0)..=(name, now_ms, u64::MAX))? {
            let id = row?.0.value().2;
            let Some(bytes) = leads.get(id)? else {
                continue;
            };
            let lead: LeadRecord = decode("leads", bytes.value())?;
            let theirs = lead.callback_agent.as_deref().is_none_or(|a| a == agent);
            if matches!(lead.state, LeadState::Pending { .. }) && theirs {
                return Ok(Some(lead));
            }
        }
        Ok(None)
    }

    /// When the campaign's next pending lead falls due (`None` if none is pending).
    pub fn next_due(&self, name: &str) -> Result<Option<u64>, StoreError> {
        let tx = self.db.begin_read()?;
        let due = tx.open_table(DUE)?;
        let first = due.range((name, 0, 0)..=(name, u64::MAX, u64::MAX))?.next();
        Ok(match first {
            Some(row) => Some(row?.0.value().1),
            None => None,
        })
    }
}

/// Cancels a campaign's pending leads (all, or those whose phone is `only`); returns
/// how many. Runs inside the caller's transaction.
pub(super) fn cancel_due(
    tx: &redb::WriteTransaction,
    campaign: &str,
    only: Option<&str>,
) -> Result<u64, StoreError> {
    let mut due = tx.open_table(DUE)?;
    let mut leads = tx.open_table(LEADS)?;
    let mut counters = tx.open_table(COUNTERS)?;
    if let Some(phone) = only {
        // One number: found through its index, not by reading every pending lead.
        let Some(id) = tx
            .open_table(LEAD_PHONES)?
            .get((campaign, phone))?
            .map(|v| v.value())
        else {
            return Ok(0);
        };
        let Some(bytes) = leads.get(id)? else {
            return Ok(0);
        };
        let mut lead: LeadRecord = decode("leads", bytes.value())?;
        drop(bytes);
        match lead.state {
            LeadState::Pending { due_ms } => {
                due.remove((campaign, due_ms, id))?;
                lead.state = LeadState::Cancelled;
                bump(&mut counters, campaign, "pending", -1)?;
                bump(&mut counters, campaign, "cancelled", 1)?;
            }
            LeadState::Leased { .. } if !lead.cancel_requested => lead.cancel_requested = true,
            _ => return Ok(0),
        }
        leads.insert(id, encode(&lead).as_slice())?;
        return Ok(1);
    }
    let keys: Vec<(u64, u64)> = due
        .range((campaign, 0, 0)..=(campaign, u64::MAX, u64::MAX))?
        .map(|r| r.map(|(k, _)| (k.value().1, k.value().2)))
        .collect::<Result<_, _>>()?;
    let mut cancelled = 0;
    for (due_ms, id) in keys {
        let Some(bytes) = leads.get(id)? else {
            continue;
        };
        let mut lead: LeadRecord = decode("leads", bytes.value())?;
        drop(bytes);
        due.remove((campaign, due_ms, id))?;
        lead.state = LeadState::Cancelled;
        leads.insert(id, encode(&lead).as_slice())?;
        bump(&mut counters, campaign, "pending", -1)?;
        bump(&mut counters, campaign, "cancelled", 1)?;
        cancelled += 1;
    }
    // Leads whose call is on now: marked, so the call's end cancels them instead of
    // scheduling a retry that a later start would dial.
    let leases = tx.open_table(LEASES)?;
    let leased: Vec<u64> = leases
        .range((campaign, 0)..=(campaign, u64::MAX))?
        .map(|r| r.map(|(k, _)| k.value().1))
        .collect::<Result<_, _>>()?;
    for id in leased {
        let Some(bytes) = leads.get(id)? else {
            continue;
        };
        let mut lead: LeadRecord = decode("leads", bytes.value())?;
        drop(bytes);
        if lead.cancel_requested {
            continue;
        }
        lead.cancel_requested = true;
        leads.insert(id, encode(&lead).as_slice())?;
        cancelled += 1;
    }
    Ok(cancelled)
}
