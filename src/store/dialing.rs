//! The dialer's transactions: leasing due leads (the attempt is written before its
//! originate), finishing attempts (end, lead's next step, outbox reports, DNC, counters
//! in one commit), and finding attempts a crash left open.

use redb::{ReadableDatabase as _, ReadableTable as _};

use super::schema::{
    ATTEMPT_ENDS, ATTEMPT_IDS, ATTEMPTS, CAMPAIGN_ATTEMPTS, CAMPAIGNS, COUNTERS, DAILY, DNC, DUE,
    LEADS, LEASES, LIVE_REPORTED, META, OUTBOX,
};
use super::{
    AttemptEnd, AttemptStart, AttemptView, CampaignRecord, CampaignState, Deltas, DncEntry,
    LeadRecord, LeadState, OutboxEntry, Store, StoreError, decode, encode,
};

/// The dialer's verdict on a due lead, checked inside the lease transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    Dial,
    /// Not now (e.g. outside the lead's local hours): due again at this time.
    Later(u64),
    /// Never as it stands (e.g. local hours required and the lead's zone is unknown).
    Never(String),
}

/// A lead leased for an attempt.
#[derive(Debug, Clone)]
pub struct Leased {
    pub attempt: AttemptStart,
    pub lead: LeadRecord,
}

/// An attempt's end, to record.
#[derive(Debug, Clone)]
pub struct Finished {
    pub attempt_id: String,
    pub end: AttemptEnd,
    /// Panel reports the call made: (status, result, transcript).
    pub reports: Vec<(String, String, Option<String>)>,
}

/// A report's reason: how the end was learned when it was not the call's own (a
/// crash), else the reason of a `failed:` result.
fn report_reason(result: &str, end: &AttemptEnd) -> Option<String> {
    end.note
        .clone()
        .or_else(|| result.strip_prefix("failed:").map(str::to_string))
}

/// A report of `start`'s call to `lead` as the outbox keeps it, before its end is
/// known (no reason, answer or end time: the caller sets what it knows).
pub(super) fn outbox_entry(
    seq: u64,
    start: &AttemptStart,
    lead: &LeadRecord,
    status: &str,
    result: &str,
    transcript: &Option<String>,
    at_ms: u64,
) -> OutboxEntry {
    OutboxEntry {
        seq,
        attempt: start.id.clone(),
        campaign: start.campaign.clone(),
        lead_id: lead.id,
        phone: lead.phone.clone(),
        status: status.into(),
        result: result.into(),
        transcript: transcript.clone(),
        at_ms,
        reason: None,
        scenario: start.scenario.clone(),
        scenario_hash: start.scenario_hash.clone(),
        started_ms: start.started_ms,
        answered_ms: None,
        ended_ms: None,
        custom: lead.custom.clone(),
    }
}

/// Every status a call reported, live (`sent`) or at its end, once each, in order.
fn reported(sent: &[String], reports: &[(String, String, Option<String>)]) -> Vec<String> {
    let mut all = sent.to_vec();
    for (status, _, _) in reports {
        if !all.contains(status) {
            all.push(status.clone());
        }
    }
    all
}

/// What becomes of the lead after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeadNext {
    RetryAt(u64),
    Done,
    /// Done, and the number goes on the campaign's DNC list.
    Dnc,
}

/// Upper bound on due leads looked at in one lease transaction, so a campaign whose
/// queue is full of DNC numbers cannot hold the write lock for long.
const MAX_SCAN_PER_LEASE: usize = 4096;

impl Store {
    /// Leases up to `max` of the campaign's leads that are due at `now_ms`, checking
    /// again inside the transaction: the campaign is running, the number is on no DNC
    /// list, the lead has attempts left, and `admit` (calling windows, local hours)
    /// agrees. Each lease writes its attempt record before the caller may originate.
    #[allow(clippy::too_many_arguments)]
    pub fn lease(
        &self,
        campaign: &str,
        now_ms: u64,
        max: usize,
        lease_ms: u64,
        scenario: &str,
        scenario_hash: &str,
        mut admit: impl FnMut(&LeadRecord) -> Admission,
    ) -> Result<Vec<Leased>, StoreError> {
        let tx = self.db.begin_write()?;
        let mut out = Vec::new();
        let touched;
        {
            let record: CampaignRecord = match tx.open_table(CAMPAIGNS)?.get(campaign)? {
                Some(v) => decode("campaigns", v.value())?,
                None => return Err(StoreError::NoCampaign(campaign.into())),
            };
            if record.state != CampaignState::Running || max == 0 {
                return Ok(out);
            }
            let mut meta = tx.open_table(META)?;
            let mut due = tx.open_table(DUE)?;
            let mut leads = tx.open_table(LEADS)?;
            let mut leases = tx.open_table(LEASES)?;
            let mut attempts = tx.open_table(ATTEMPTS)?;
            let mut ids = tx.open_table(ATTEMPT_IDS)?;
            let mut listing = tx.open_table(CAMPAIGN_ATTEMPTS)?;
            let mut counters = tx.open_table(COUNTERS)?;
            let dnc = tx.open_table(DNC)?;
            let mut deltas = Deltas::default();
            let mut next_seq = meta.get("next_attempt")?.map_or(1, |v| v.value());
            let mut scanned = 0;
            while out.len() < max && scanned < MAX_SCAN_PER_LEASE {
                // The next due leads in one scan; skipped ones make another round.
                let want = (max - out.len()).min(MAX_SCAN_PER_LEASE - scanned);
                let keys: Vec<(u64, u64)> = due
                    .range((campaign, 0, 0)..=(campaign, now_ms, u64::MAX))?
                    .take(want)
                    .map(|r| r.map(|(k, _)| (k.value().1, k.value().2)))
                    .collect::<Result<_, _>>()?;
                if keys.is_empty() {
                    break;
                }
                for (due_ms, id) in keys {
                    scanned += 1;
                    due.remove((campaign, due_ms, id))?;
                    let Some(bytes) = leads.get(id)? else {
                        continue;
                    };
                    let mut lead: LeadRecord = decode("leads", bytes.value())?;
                    drop(bytes);
                    if !matches!(lead.state, LeadState::Pending { .. }) {
                        continue; // a stale queue entry
                    }
                    let blocked = dnc.get(("*", lead.phone.as_str()))?.is_some()
                        || dnc.get((campaign, lead.phone.as_str()))?.is_some();
                    let verdict = if blocked {
                        Err(LeadState::Dnc)
                    } else if lead.attempts >= record.settings.max_attempts {
                        Err(LeadState::Done)
                    } else {
                        match admit(&lead) {
                            Admission::Dial => Ok(()),
                            Admission::Later(at) => {
                                let at = at.max(now_ms + 1);
                                lead.state = LeadState::Pending { due_ms: at };
                                leads.insert(id, encode(&lead).as_slice())?;
                                due.insert((campaign, at, id), ())?;
                                continue;
                            }
                            Admission::Never(reason) => Err(LeadState::Skipped { reason }),
                        }
                    };
                    if let Err(state) = verdict {
                        deltas.add(campaign, "pending", -1);
                        deltas.add(campaign, state.key(), 1);
                        lead.state = state;
                        leads.insert(id, encode(&lead).as_slice())?;
                        continue;
                    }
                    let seq = next_seq;
                    next_seq += 1;
                    let attempt_id = format!("{}a{seq}", self.tag);
                    let start = AttemptStart {
                        id: attempt_id.clone(),
                        seq,
                        campaign: campaign.into(),
                        lead_id: id,
                        phone: lead.phone.clone(),
                        number: lead.attempts + 1,
                        scenario: scenario.into(),
                        scenario_hash: scenario_hash.into(),
                        started_ms: now_ms,
                    };
                    let until_ms = now_ms.saturating_add(lease_ms);
                    lead.state = LeadState::Leased {
                        attempt: attempt_id.clone(),
                        until_ms,
                    };
                    leads.insert(id, encode(&lead).as_slice())?;
                    leases.insert((campaign, id), until_ms)?;
                    attempts.insert(seq, encode(&start).as_slice())?;
                    ids.insert(attempt_id.as_str(), seq)?;
                    listing.insert((campaign, seq), ())?;
                    deltas.add(campaign, "pending", -1);
                    deltas.add(campaign, "leased", 1);
                    deltas.add(campaign, "attempts", 1);
                    out.push(Leased {
                        attempt: start,
                        lead,
                    });
                }
            }
            meta.insert("next_attempt", next_seq)?;
            deltas.apply(&mut counters)?;
            touched = scanned > 0;
        }
        if !touched {
            // Nothing was due: no durable commit for a look that changed nothing (the
            // dialer looks several times a second while leads wait for their retry).
            tx.abort()?;
            return Ok(out);
        }
        super::commit(tx, "dialing")?;
        Ok(out)
    }

    /// Records the ends of attempts in one transaction: each attempt's end, its lead's
    /// next step (`decide` sees the lead with this attempt counted), DNC additions, the
    /// panel reports into the outbox, and the counters. An attempt that has an end
    /// already is left alone, so finishing is idempotent. Returns the leads as updated.
    pub fn finish(
        &self,
        items: &[Finished],
        now_ms: u64,
        mut decide: impl FnMut(&LeadRecord, &AttemptEnd) -> LeadNext,
    ) -> Result<Vec<LeadRecord>, StoreError> {
        let tx = self.db.begin_write()?;
        let mut out = Vec::new();
        {
            let mut meta = tx.open_table(META)?;
            let ids = tx.open_table(ATTEMPT_IDS)?;
            let attempts = tx.open_table(ATTEMPTS)?;
            let mut ends = tx.open_table(ATTEMPT_ENDS)?;
            let mut leads = tx.open_table(LEADS)?;
            let mut leases = tx.open_table(LEASES)?;
            let mut due = tx.open_table(DUE)?;
            let mut dnc = tx.open_table(DNC)?;
            let mut outbox = tx.open_table(OUTBOX)?;
            let mut live = tx.open_table(LIVE_REPORTED)?;
            let mut counters = tx.open_table(COUNTERS)?;
            let mut daily = tx.open_table(DAILY)?;
            let mut deltas = Deltas::default();
            let mut next_report = meta.get("next_outbox")?.map_or(1, |v| v.value());
            for item in items {
                let Some(seq) = ids.get(item.attempt_id.as_str())?.map(|v| v.value()) else {
                    return Err(StoreError::NoAttempt(item.attempt_id.clone()));
                };
                if ends.get(seq)?.is_some() {
                    continue;
                }
                let start: AttemptStart = match attempts.get(seq)? {
                    Some(v) => decode("attempts", v.value())?,
                    None => continue,
                };
                let campaign = start.campaign.as_str();
                // What the call reported while it was on went out then: once only.
                let sent: Vec<String> = match live.remove(seq)? {
                    Some(v) => decode("live_reported", v.value())?,
                    None => Vec::new(),
                };
                let end = AttemptEnd {
                    reported: reported(&sent, &item.reports),
                    ..item.end.clone()
                };
                ends.insert(seq, encode(&end).as_slice())?;
                let Some(bytes) = leads.get(start.lead_id)? else {
                    continue;
                };
                let mut lead: LeadRecord = decode("leads", bytes.value())?;
                drop(bytes);
                let holds_lease = matches!(&lead.state,
                    LeadState::Leased { attempt, .. } if *attempt == item.attempt_id);
                deltas.add(campaign, &format!("status:{}", item.end.status), 1);
                if let Some(answered) = item.end.answered_ms {
                    deltas.add(campaign, "answered", 1);
                    let talk = item.end.ended_ms.saturating_sub(answered);
                    deltas.add(campaign, "talk_ms", i64::try_from(talk).unwrap_or(i64::MAX));
                    if let Some(bridged) = item.end.agent_bridged_ms {
                        let asa = bridged.saturating_sub(answered);
                        deltas.add(campaign, "agent_bridged", 1);
                        deltas.add(campaign, "asa_ms", i64::try_from(asa).unwrap_or(i64::MAX));
                    }
                    if item.end.dropped {
                        deltas.add(campaign, "dropped", 1);
                    }
                }
                super::drops::count_end(&mut daily, campaign, &item.end)?;
                for (status, result, transcript) in &item.reports {
                    if sent.contains(status) {
                        continue;
                    }
                    let seq = next_report;
                    next_report += 1;
                    let entry = OutboxEntry {
                        reason: report_reason(result, &item.end),
                        answered_ms: item.end.answered_ms,
                        ended_ms: Some(item.end.ended_ms),
                        ..outbox_entry(seq, &start, &lead, status, result, transcript, now_ms)
                    };
                    outbox.insert(seq, encode(&entry).as_slice())?;
                }
                if !holds_lease {
                    continue; // the lead moved on (never expected with one dialer)
                }
                leases.remove((campaign, lead.id))?;
                deltas.add(campaign, "leased", -1);
                lead.attempts += 1;
                *lead.results.entry(item.end.result.clone()).or_default() += 1;
                lead.last_result = Some(item.end.result.clone());
                lead.last_status = Some(item.end.status.clone());
                lead.last_attempt = Some(seq);
                let cancelled = std::mem::take(&mut lead.cancel_requested);
                lead.state = match decide(&lead, &item.end) {
                    LeadNext::RetryAt(_) if cancelled => LeadState::Cancelled,
                    LeadNext::RetryAt(at) => {
                        due.insert((campaign, at, lead.id), ())?;
                        LeadState::Pending { due_ms: at }
                    }
                    LeadNext::Done => LeadState::Done,
                    LeadNext::Dnc => {
                        let entry = DncEntry {
                            added_ms: now_ms,
                            reason: format!("result {}", item.end.result),
                        };
                        dnc.insert((campaign, lead.phone.as_str()), encode(&entry).as_slice())?;
                        LeadState::Dnc
                    }
                };
                deltas.add(campaign, lead.state.key(), 1);
                leads.insert(lead.id, encode(&lead).as_slice())?;
                out.push(lead);
            }
            meta.insert("next_outbox", next_report)?;
            deltas.apply(&mut counters)?;
        }
        super::commit(tx, "dialing")?;
        Ok(out)
    }

    /// Attempts that started and never ended: after a crash, the calls that were live.
    pub fn open_attempts(&self) -> Result<Vec<AttemptStart>, StoreError> {
        let tx = self.db.begin_read()?;
        let leases = tx.open_table(LEASES)?;
        let leads = tx.open_table(LEADS)?;
        let ids = tx.open_table(ATTEMPT_IDS)?;
        let attempts = tx.open_table(ATTEMPTS)?;
        let mut out = Vec::new();
        for row in leases.iter()? {
            let (key, _) = row?;
            let (_, lead_id) = key.value();
            let Some(bytes) = leads.get(lead_id)? else {
                continue;
            };
            let lead: LeadRecord = decode("leads", bytes.value())?;
            let LeadState::Leased { attempt, .. } = &lead.state else {
                continue;
            };
            let Some(seq) = ids.get(attempt.as_str())?.map(|v| v.value()) else {
                continue;
            };
            if let Some(v) = attempts.get(seq)? {
                out.push(decode("attempts", v.value())?);
            }
        }
        Ok(out)
    }

    /// A campaign's attempts in the order they started, after sequence `after`.
    pub fn attempts(
        &self,
        campaign: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AttemptView>, StoreError> {
        let tx = self.db.begin_read()?;
        let listing = tx.open_table(CAMPAIGN_ATTEMPTS)?;
        let attempts = tx.open_table(ATTEMPTS)?;
        let ends = tx.open_table(ATTEMPT_ENDS)?;
        let mut out = Vec::new();
        for row in listing.range((campaign, after.saturating_add(1))..=(campaign, u64::MAX))? {
            if out.len() >= limit {
                break;
            }
            let seq = row?.0.value().1;
            if let Some(view) = attempt_view(&attempts, &ends, seq)? {
                out.push(view);
            }
        }
        Ok(out)
    }
}

/// Attempt `seq` with its end, if it has one; `None` when no such attempt was started.
pub(super) fn attempt_view(
    attempts: &impl redb::ReadableTable<u64, &'static [u8]>,
    ends: &impl redb::ReadableTable<u64, &'static [u8]>,
    seq: u64,
) -> Result<Option<AttemptView>, StoreError> {
    let Some(start) = attempts.get(seq)? else {
        return Ok(None);
    };
    let start: AttemptStart = decode("attempts", start.value())?;
    let end = match ends.get(seq)? {
        Some(v) => Some(decode("attempt_ends", v.value())?),
        None => None,
    };
    Ok(Some(AttemptView { start, end }))
}
