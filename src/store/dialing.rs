//! The dialer's transactions: leasing due leads (the attempt is written before its
//! originate), finishing attempts (end, lead's next step, outbox reports, DNC, counters
//! in one commit), and finding attempts a crash left open.

use redb::{ReadableDatabase as _, ReadableTable as _};

use super::schema::{
    ATTEMPT_ENDS, ATTEMPT_IDS, ATTEMPTS, CAMPAIGN_ATTEMPTS, CAMPAIGNS, COUNTERS, DAILY, DNC, DUE,
    LEAD_ATTEMPTS, LEADS, LEASES, LIVE_REPORTED, META, OUTBOX,
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

/// The tables a lease writes, open in one write transaction.
struct LeaseTables<'tx> {
    meta: redb::Table<'tx, &'static str, u64>,
    due: redb::Table<'tx, (&'static str, u64, u64), ()>,
    leads: redb::Table<'tx, u64, &'static [u8]>,
    leases: redb::Table<'tx, (&'static str, u64), u64>,
    attempts: redb::Table<'tx, u64, &'static [u8]>,
    ids: redb::Table<'tx, &'static str, u64>,
    listing: redb::Table<'tx, (&'static str, u64), ()>,
    by_lead: redb::Table<'tx, (u64, u64), ()>,
    counters: redb::Table<'tx, (&'static str, &'static str), u64>,
    dnc: redb::Table<'tx, (&'static str, &'static str), &'static [u8]>,
    deltas: Deltas,
    next_seq: u64,
}

/// What became of one lead a lease looked at.
enum LeaseOutcome {
    Leased(Box<Leased>),
    /// Due again later (outside its hours now), or not pending at all.
    NotNow,
    /// Out of the queue for good: DNC, no attempts left, cannot be dialed.
    Refused(LeadState),
}

/// What a lease writes on every attempt it starts.
struct LeaseTerms<'a> {
    campaign: &'a str,
    record: &'a CampaignRecord,
    now_ms: u64,
    lease_ms: u64,
    scenario: &'a str,
    scenario_hash: &'a str,
    tag: &'a str,
}

impl<'tx> LeaseTables<'tx> {
    fn open(tx: &'tx redb::WriteTransaction) -> Result<Self, StoreError> {
        let meta = tx.open_table(META)?;
        let next_seq = meta.get("next_attempt")?.map_or(1, |v| v.value());
        Ok(Self {
            meta,
            due: tx.open_table(DUE)?,
            leads: tx.open_table(LEADS)?,
            leases: tx.open_table(LEASES)?,
            attempts: tx.open_table(ATTEMPTS)?,
            ids: tx.open_table(ATTEMPT_IDS)?,
            listing: tx.open_table(CAMPAIGN_ATTEMPTS)?,
            by_lead: tx.open_table(LEAD_ATTEMPTS)?,
            counters: tx.open_table(COUNTERS)?,
            dnc: tx.open_table(DNC)?,
            deltas: Deltas::default(),
            next_seq,
        })
    }

    /// Checks lead `id` (out of the due queue already) and leases it when it passes.
    fn try_lease(
        &mut self,
        terms: &LeaseTerms<'_>,
        id: u64,
        admit: &mut impl FnMut(&LeadRecord) -> Admission,
    ) -> Result<LeaseOutcome, StoreError> {
        let campaign = terms.campaign;
        let Some(bytes) = self.leads.get(id)? else {
            return Ok(LeaseOutcome::NotNow);
        };
        let mut lead: LeadRecord = decode("leads", bytes.value())?;
        drop(bytes);
        if !matches!(lead.state, LeadState::Pending { .. }) {
            return Ok(LeaseOutcome::NotNow); // a stale queue entry
        }
        let blocked = self.dnc.get(("*", lead.phone.as_str()))?.is_some()
            || self.dnc.get((campaign, lead.phone.as_str()))?.is_some();
        let refused = if blocked {
            Some(LeadState::Dnc)
        } else if lead.attempts >= terms.record.settings.max_attempts {
            Some(LeadState::Done)
        } else {
            match admit(&lead) {
                Admission::Dial => None,
                Admission::Later(at) => {
                    let at = at.max(terms.now_ms + 1);
                    lead.state = LeadState::Pending { due_ms: at };
                    self.leads.insert(id, encode(&lead).as_slice())?;
                    self.due.insert((campaign, at, id), ())?;
                    return Ok(LeaseOutcome::NotNow);
                }
                Admission::Never(reason) => Some(LeadState::Skipped { reason }),
            }
        };
        if let Some(state) = refused {
            self.deltas.add(campaign, "pending", -1);
            self.deltas.add(campaign, state.key(), 1);
            lead.state = state.clone();
            self.leads.insert(id, encode(&lead).as_slice())?;
            return Ok(LeaseOutcome::Refused(state));
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let attempt_id = format!("{}a{seq}", terms.tag);
        let start = AttemptStart {
            id: attempt_id.clone(),
            seq,
            campaign: campaign.into(),
            lead_id: id,
            phone: lead.phone.clone(),
            number: lead.attempts + 1,
            scenario: terms.scenario.into(),
            scenario_hash: terms.scenario_hash.into(),
            started_ms: terms.now_ms,
        };
        let until_ms = terms.now_ms.saturating_add(terms.lease_ms);
        lead.state = LeadState::Leased {
            attempt: attempt_id.clone(),
            until_ms,
        };
        self.leads.insert(id, encode(&lead).as_slice())?;
        self.leases.insert((campaign, id), until_ms)?;
        self.attempts.insert(seq, encode(&start).as_slice())?;
        self.ids.insert(attempt_id.as_str(), seq)?;
        self.listing.insert((campaign, seq), ())?;
        self.by_lead.insert((id, seq), ())?;
        self.deltas.add(campaign, "pending", -1);
        self.deltas.add(campaign, "leased", 1);
        self.deltas.add(campaign, "attempts", 1);
        Ok(LeaseOutcome::Leased(Box::new(Leased {
            attempt: start,
            lead,
        })))
    }

    /// Writes the counters and the next attempt number.
    fn close(mut self) -> Result<(), StoreError> {
        self.meta.insert("next_attempt", self.next_seq)?;
        let deltas = std::mem::take(&mut self.deltas);
        deltas.apply(&mut self.counters)
    }
}

/// Why one lead could not be leased for an agent's call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeadRefusal {
    #[error("the campaign is {0}: it dials nothing now")]
    CampaignNotDialing(CampaignState),
    #[error("lead {0} is not waiting to be dialed (being dialed, done or cancelled)")]
    NotPending(u64),
    #[error("the number is on a do-not-call list")]
    Dnc,
    #[error("the lead has had all its attempts")]
    NoAttemptsLeft,
    #[error("not now: outside the calling window or the lead's local hours")]
    NotNow,
    #[error("cannot be dialed: {0}")]
    Never(String),
}

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
            let terms = LeaseTerms {
                campaign,
                record: &record,
                now_ms,
                lease_ms,
                scenario,
                scenario_hash,
                tag: &self.tag,
            };
            let mut tables = LeaseTables::open(&tx)?;
            let mut scanned = 0;
            while out.len() < max && scanned < MAX_SCAN_PER_LEASE {
                // The next due leads in one scan; skipped ones make another round.
                let want = (max - out.len()).min(MAX_SCAN_PER_LEASE - scanned);
                let keys: Vec<(u64, u64)> = tables
                    .due
                    .range((campaign, 0, 0)..=(campaign, now_ms, u64::MAX))?
                    .take(want)
                    .map(|r| r.map(|(k, _)| (k.value().1, k.value().2)))
                    .collect::<Result<_, _>>()?;
                if keys.is_empty() {
                    break;
                }
                for (due_ms, id) in keys {
                    scanned += 1;
                    tables.due.remove((campaign, due_ms, id))?;
                    if let LeaseOutcome::Leased(leased) =
                        tables.try_lease(&terms, id, &mut admit)?
                    {
                        out.push(*leased);
                    }
                }
            }
            tables.close()?;
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

    /// Leases lead `lead_id` of the campaign now, whenever it is due (an agent's
    /// manual or preview call): the same checks as `lease` inside the transaction,
    /// but a campaign that is paused may dial it too (its agents still work), and a
    /// refusal says why. The outer error is the store's; the inner, the lead's.
    #[allow(clippy::too_many_arguments)]
    pub fn lease_lead(
        &self,
        campaign: &str,
        lead_id: u64,
        now_ms: u64,
        lease_ms: u64,
        scenario: &str,
        scenario_hash: &str,
        mut admit: impl FnMut(&LeadRecord) -> Admission,
    ) -> Result<Result<Leased, LeadRefusal>, StoreError> {
        let tx = self.db.begin_write()?;
        let outcome = {
            let record: CampaignRecord = match tx.open_table(CAMPAIGNS)?.get(campaign)? {
                Some(v) => decode("campaigns", v.value())?,
                None => return Err(StoreError::NoCampaign(campaign.into())),
            };
            if !matches!(record.state, CampaignState::Running | CampaignState::Paused) {
                return Ok(Err(LeadRefusal::CampaignNotDialing(record.state)));
            }
            let mut tables = LeaseTables::open(&tx)?;
            let lead: LeadRecord = match tables.leads.get(lead_id)? {
                Some(v) if decode::<LeadRecord>("leads", v.value())?.campaign == campaign => {
                    decode("leads", v.value())?
                }
                _ => return Err(StoreError::NoLead(lead_id)),
            };
            let LeadState::Pending { due_ms } = lead.state else {
                return Ok(Err(LeadRefusal::NotPending(lead_id)));
            };
            tables.due.remove((campaign, due_ms, lead_id))?;
            let terms = LeaseTerms {
                campaign,
                record: &record,
                now_ms,
                lease_ms,
                scenario,
                scenario_hash,
                tag: &self.tag,
            };
            let outcome = match tables.try_lease(&terms, lead_id, &mut admit)? {
                LeaseOutcome::Leased(leased) => Ok(*leased),
                LeaseOutcome::NotNow => Err(LeadRefusal::NotNow),
                LeaseOutcome::Refused(LeadState::Dnc) => Err(LeadRefusal::Dnc),
                LeaseOutcome::Refused(LeadState::Skipped { reason }) => {
                    Err(LeadRefusal::Never(reason))
                }
                LeaseOutcome::Refused(_) => Err(LeadRefusal::NoAttemptsLeft),
            };
            tables.close()?;
            outcome
        };
        super::commit(tx, "dialing")?;
        Ok(outcome)
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
