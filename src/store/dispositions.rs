//! Agents' dispositions, kept on their attempt: setting one is one transaction that
//! records it, makes its result the attempt's (the status counters and the lead's
//! latest result follow), reports its status to the panel through the outbox unless
//! the call reported that status already (live or at its end: `AttemptEnd::reported`), and moves the lead: called back at the
//! agent's time (for that agent, if they asked), onto the campaign's DNC list, or on
//! by the campaign's retry rules for the new result. An attempt has one disposition.

use redb::{ReadableDatabase as _, ReadableTable as _, Table};
use serde::{Deserialize, Serialize};

use super::dialing::{LeadNext, outbox_entry};
use super::schema::{
    ATTEMPT_ENDS, ATTEMPT_IDS, ATTEMPTS, COUNTERS, DISPOSITIONS, DNC, DUE, LEADS, META, OUTBOX,
};
use super::{
    AttemptEnd, AttemptStart, Deltas, DncEntry, LeadRecord, LeadState, OutboxEntry, Store,
    StoreError, decode, encode,
};

/// A disposition as the store keeps it, on its attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Disposition {
    pub code: String,
    /// The scenario result it stands for: the attempt's result from then on.
    pub result: String,
    /// The panel status that result maps to.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// The agent who set it.
    pub agent: String,
    pub at_ms: u64,
    /// When the lead is called back (a callback disposition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_at_ms: Option<u64>,
    /// Whom that callback is for (none: anyone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_agent: Option<String>,
    /// The number went on the campaign's do-not-call list.
    #[serde(default)]
    pub dnc: bool,
}

/// A disposition to set on the attempt `attempt_id`.
#[derive(Debug, Clone)]
pub struct NewDisposition {
    pub attempt_id: String,
    pub disposition: Disposition,
}

/// The tables a disposition writes, open in its transaction.
struct Tables<'tx> {
    leads: Table<'tx, u64, &'static [u8]>,
    due: Table<'tx, (&'static str, u64, u64), ()>,
    dnc: Table<'tx, (&'static str, &'static str), &'static [u8]>,
    deltas: Deltas,
}

impl Store {
    /// Sets `new`'s disposition (see the module's doc), in one transaction. `decide`
    /// gives the lead's next step by the campaign's rules when the disposition neither
    /// calls back nor blocks the number; it sees the lead and the attempt's end with
    /// the disposition's result. Refused when the attempt has not ended yet
    /// (`NotEnded`: the dialer records it a moment after the call) or has a
    /// disposition already (`Disposed`).
    pub fn set_disposition(
        &self,
        new: &NewDisposition,
        now_ms: u64,
        decide: impl FnOnce(&LeadRecord, &AttemptEnd) -> LeadNext,
    ) -> Result<Disposition, StoreError> {
        let d = &new.disposition;
        let tx = self.db.begin_write()?;
        {
            let seq = tx
                .open_table(ATTEMPT_IDS)?
                .get(new.attempt_id.as_str())?
                .map(|v| v.value())
                .ok_or_else(|| StoreError::NoAttempt(new.attempt_id.clone()))?;
            let mut end: AttemptEnd = match tx.open_table(ATTEMPT_ENDS)?.get(seq)? {
                Some(v) => decode("attempt_ends", v.value())?,
                None => return Err(StoreError::NotEnded(new.attempt_id.clone())),
            };
            let mut dispositions = tx.open_table(DISPOSITIONS)?;
            if dispositions.get(seq)?.is_some() {
                return Err(StoreError::Disposed(new.attempt_id.clone()));
            }
            let start: AttemptStart = match tx.open_table(ATTEMPTS)?.get(seq)? {
                Some(v) => decode("attempts", v.value())?,
                None => return Err(StoreError::NoAttempt(new.attempt_id.clone())),
            };
            let mut t = Tables {
                leads: tx.open_table(LEADS)?,
                due: tx.open_table(DUE)?,
                dnc: tx.open_table(DNC)?,
                deltas: Deltas::default(),
            };
            let lead: LeadRecord = match t.leads.get(start.lead_id)? {
                Some(v) => decode("leads", v.value())?,
                None => return Err(StoreError::NoLead(start.lead_id)),
            };
            let campaign = start.campaign.as_str();
            if d.status != end.status {
                t.deltas
                    .add(campaign, &format!("status:{}", end.status), -1);
                t.deltas.add(campaign, &format!("status:{}", d.status), 1);
            }
            // One report per status per call: the call's own are on its end (an end
            // recorded before they were kept names its final status only).
            let reported = if end.reported.is_empty() {
                std::slice::from_ref(&end.status)
            } else {
                end.reported.as_slice()
            };
            if !reported.contains(&d.status) {
                let mut meta = tx.open_table(META)?;
                let report = next_report(&mut meta)?;
                let entry = OutboxEntry {
                    answered_ms: end.answered_ms,
                    ended_ms: Some(end.ended_ms),
                    ..outbox_entry(report, &start, &lead, &d.status, &d.result, &None, now_ms)
                };
                tx.open_table(OUTBOX)?
                    .insert(report, encode(&entry).as_slice())?;
            }
            if d.dnc {
                block(&mut t, campaign, &lead.phone, d, now_ms)?;
            }
            // Only the lead's latest attempt steers it: an older call's disposition
            // must not undo what a later one decided.
            if lead.last_attempt == Some(seq) {
                let previous = std::mem::replace(&mut end.result, d.result.clone());
                move_lead(&mut t, lead, &previous, d, &end, decide)?;
            }
            dispositions.insert(seq, encode(d).as_slice())?;
            t.deltas.apply(&mut tx.open_table(COUNTERS)?)?;
        }
        super::commit(tx, "dispositions")?;
        Ok(d.clone())
    }

    /// The attempt `attempt_id`, with its end if it has one.
    pub fn attempt(&self, attempt_id: &str) -> Result<super::AttemptView, StoreError> {
        let tx = self.db.begin_read()?;
        let missing = || StoreError::NoAttempt(attempt_id.to_string());
        let seq = tx
            .open_table(ATTEMPT_IDS)?
            .get(attempt_id)?
            .map(|v| v.value())
            .ok_or_else(missing)?;
        let (attempts, ends) = (tx.open_table(ATTEMPTS)?, tx.open_table(ATTEMPT_ENDS)?);
        super::dialing::attempt_view(&attempts, &ends, seq)?.ok_or_else(missing)
    }

    /// The disposition of the attempt `attempt_id`, if it has one.
    pub fn disposition(&self, attempt_id: &str) -> Result<Option<Disposition>, StoreError> {
        let tx = self.db.begin_read()?;
        let Some(seq) = tx
            .open_table(ATTEMPT_IDS)?
            .get(attempt_id)?
            .map(|v| v.value())
        else {
            return Err(StoreError::NoAttempt(attempt_id.to_string()));
        };
        disposition_of(&tx.open_table(DISPOSITIONS)?, seq)
    }
}

/// The disposition of attempt `seq`, if it has one.
pub(super) fn disposition_of(
    table: &impl redb::ReadableTable<u64, &'static [u8]>,
    seq: u64,
) -> Result<Option<Disposition>, StoreError> {
    match table.get(seq)? {
        Some(v) => Ok(Some(decode("dispositions", v.value())?)),
        None => Ok(None),
    }
}

fn next_report(meta: &mut Table<&str, u64>) -> Result<u64, StoreError> {
    super::next_id(meta, "next_outbox")
}

/// Puts `phone` on the campaign's DNC list, saying which disposition did.
fn block(
    t: &mut Tables<'_>,
    campaign: &str,
    phone: &str,
    d: &Disposition,
    now_ms: u64,
) -> Result<(), StoreError> {
    let entry = DncEntry {
        added_ms: now_ms,
        reason: format!("disposition {} by agent {}", d.code, d.agent),
    };
    t.dnc.insert((campaign, phone), encode(&entry).as_slice())?;
    Ok(())
}

/// The lead after its latest attempt's disposition: the result counted anew, then
/// blocked, called back, or moved on by `decide`. A lead an operator cancelled, or
/// one blocked already, stays so.
fn move_lead(
    t: &mut Tables<'_>,
    mut lead: LeadRecord,
    previous: &str,
    d: &Disposition,
    end: &AttemptEnd,
    decide: impl FnOnce(&LeadRecord, &AttemptEnd) -> LeadNext,
) -> Result<(), StoreError> {
    if let Some(n) = lead.results.get_mut(previous) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            lead.results.remove(previous);
        }
    }
    *lead.results.entry(d.result.clone()).or_default() += 1;
    lead.last_result = Some(d.result.clone());
    lead.last_status = Some(d.status.clone());
    lead.callback_agent = d.callback_agent.clone();
    let next = match (&lead.state, d.callback_at_ms) {
        (LeadState::Cancelled | LeadState::Dnc, _) => None,
        _ if d.dnc => Some(LeadState::Dnc),
        (_, Some(at)) => Some(LeadState::Pending { due_ms: at }),
        _ => Some(match decide(&lead, end) {
            LeadNext::RetryAt(at) => LeadState::Pending { due_ms: at },
            LeadNext::Done => LeadState::Done,
            LeadNext::Dnc => LeadState::Dnc,
        }),
    };
    if let Some(state) = next {
        set_state(t, &mut lead, state, d)?;
    }
    t.leads.insert(lead.id, encode(&lead).as_slice())?;
    Ok(())
}

/// Moves `lead` to `state`, keeping the due queue and the counters in step.
fn set_state(
    t: &mut Tables<'_>,
    lead: &mut LeadRecord,
    state: LeadState,
    d: &Disposition,
) -> Result<(), StoreError> {
    let campaign = lead.campaign.clone();
    if let LeadState::Pending { due_ms } = lead.state {
        t.due.remove((campaign.as_str(), due_ms, lead.id))?;
    }
    if let LeadState::Pending { due_ms } = state {
        t.due.insert((campaign.as_str(), due_ms, lead.id), ())?;
    }
    if state == LeadState::Dnc && !d.dnc {
        // The campaign's rules blocked the new result (a `dnc_results` one).
        block(t, &campaign, &lead.phone.clone(), d, d.at_ms)?;
    }
    t.deltas.add(&campaign, lead.state.key(), -1);
    t.deltas.add(&campaign, state.key(), 1);
    lead.state = state;
    Ok(())
}
