//! The store's tables and schema version, with the migrations that bring an older file
//! up to date. Values are JSON: self-describing, so a new optional field needs no
//! migration, and a file can be inspected by hand.

use redb::{ReadableDatabase as _, ReadableTable as _, TableDefinition, WriteTransaction};

use std::collections::BTreeMap;

use super::StoreError;

/// The schema this build writes. Raise it with a migration when a table's meaning
/// changes; a file written by a newer dialflow is refused rather than misread.
pub const SCHEMA_VERSION: u64 = 8;

/// `schema_version`, `store_tag`, and the id counters.
pub const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// Store tag (text), kept apart from the counters.
pub const META_TEXT: TableDefinition<&str, &str> = TableDefinition::new("meta_text");
/// Campaign name → campaign record.
pub const CAMPAIGNS: TableDefinition<&str, &[u8]> = TableDefinition::new("campaigns");
/// Lead id → lead record.
pub const LEADS: TableDefinition<u64, &[u8]> = TableDefinition::new("leads");
/// (campaign, E.164 number) → lead id: one lead per number per campaign.
pub const LEAD_PHONES: TableDefinition<(&str, &str), u64> = TableDefinition::new("lead_phones");
/// (campaign, lead id) in id order, for listing a campaign's leads.
pub const CAMPAIGN_LEADS: TableDefinition<(&str, u64), ()> = TableDefinition::new("campaign_leads");
/// (campaign, due time in ms, lead id): the pending leads in the order they fall due.
pub const DUE: TableDefinition<(&str, u64, u64), ()> = TableDefinition::new("due");
/// (campaign, lead id) → lease expiry in ms: leads with an attempt in progress.
pub const LEASES: TableDefinition<(&str, u64), u64> = TableDefinition::new("leases");
/// Attempt sequence number → how the attempt started (written before the originate).
pub const ATTEMPTS: TableDefinition<u64, &[u8]> = TableDefinition::new("attempts");
/// Attempt id → sequence number.
pub const ATTEMPT_IDS: TableDefinition<&str, u64> = TableDefinition::new("attempt_ids");
/// Attempt sequence number → how it ended. Attempts are append-only: a start, then
/// exactly one end.
pub const ATTEMPT_ENDS: TableDefinition<u64, &[u8]> = TableDefinition::new("attempt_ends");
/// (campaign, attempt sequence number), for listing a campaign's attempts in order.
pub const CAMPAIGN_ATTEMPTS: TableDefinition<(&str, u64), ()> =
    TableDefinition::new("campaign_attempts");
/// (scope, E.164 number) → DNC entry; scope `*` is the global list, else a campaign.
pub const DNC: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("dnc");
/// Sequence → a report waiting for delivery to the panel.
pub const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox");
/// Sequence → a report the panel refused for good (`ParkedReport`), until retried.
pub const PARKED: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox_parked");
/// Sequence → an alert raised (quota, breaker).
pub const ALERTS: TableDefinition<u64, &[u8]> = TableDefinition::new("alerts");
/// Attempt sequence number → the statuses it reported while its call was still on
/// (`Vec<String>`), so its end does not report them again; removed with the end.
pub const LIVE_REPORTED: TableDefinition<u64, &[u8]> = TableDefinition::new("live_reported");
/// Sequence (the alert's) → an alert waiting to be sent to `alerts.url` (`AlertOut`).
pub const ALERT_OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("alert_outbox");
/// (campaign, alert kind) → the rate limit's memory of that alert (`RateState`).
pub const ALERT_RATE: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("alert_rate");
/// (campaign, counter) → value: lead states, attempts, statuses, kept in step with every
/// change so `campaign show` and completion checks need no scans.
pub const COUNTERS: TableDefinition<(&str, &str), u64> = TableDefinition::new("counters");

/// (scenario name, sequence) → a version of the scenario that was served
/// (`ScenarioVersion`), one per change of its hash.
pub const SCENARIO_VERSIONS: TableDefinition<(&str, u64), &[u8]> =
    TableDefinition::new("scenario_versions");
/// SHA-256 of a file's text (hex) → the text: what the versions' files were, kept once
/// however many versions share them.
pub const SCENARIO_TEXTS: TableDefinition<&str, &str> = TableDefinition::new("scenario_texts");

/// Agent id → its `AgentRecord` (who, what it serves, its state).
pub const AGENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("agents");
/// (agent id, sequence) → one change of its state (`AgentLogEntry`).
pub const AGENT_LOG: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("agent_log");

/// (campaign, `YYYY-MM-DD/answered` or `YYYY-MM-DD/dropped`, UTC days) → count: the
/// drop rate's day-by-day counts for predictive dialing's cap.
pub const DAILY: TableDefinition<(&str, &str), u64> = TableDefinition::new("daily");
/// Attempt sequence number → the disposition an agent set for it (`Disposition`).
pub const DISPOSITIONS: TableDefinition<u64, &[u8]> = TableDefinition::new("dispositions");
/// (lead id, attempt seq): every attempt of a lead, for its history without reading
/// its campaign's every attempt.
pub const LEAD_ATTEMPTS: TableDefinition<(u64, u64), ()> = TableDefinition::new("lead_attempts");

/// One migration: brings a file from `version - 1` to `version`.
struct Migration {
    version: u64,
    apply: fn(&WriteTransaction) -> Result<(), StoreError>,
}

/// In order. Version 1 creates the tables; version 2 adds the parked reports; version 3
/// the reports made while calls are on and the alerts' delivery; version 4 the scenario
/// versions; version 5 the agents and their log, and the answered calls counted;
/// version 6 the day-by-day answered and dropped calls; version 7 the agents'
/// dispositions; version 8 the attempts listed by lead.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        apply: create_tables,
    },
    Migration {
        version: 2,
        apply: create_parked,
    },
    Migration {
        version: 3,
        apply: create_version_3,
    },
    Migration {
        version: 4,
        apply: create_versions,
    },
    Migration {
        version: 5,
        apply: create_agents,
    },
    Migration {
        version: 6,
        apply: create_daily,
    },
    Migration {
        version: 7,
        apply: create_dispositions,
    },
    Migration {
        version: 8,
        apply: list_attempts_by_lead,
    },
];

/// The attempts-by-lead listing, with every attempt a file already holds.
fn list_attempts_by_lead(tx: &WriteTransaction) -> Result<(), StoreError> {
    let attempts = tx.open_table(ATTEMPTS)?;
    let mut by_lead = tx.open_table(LEAD_ATTEMPTS)?;
    for row in attempts.iter()? {
        let (seq, start) = row?;
        let start: super::AttemptStart = super::decode("attempts", start.value())?;
        by_lead.insert((start.lead_id, seq.value()), ())?;
    }
    Ok(())
}

/// The day-by-day table, with the answered calls a file already holds (none of them
/// was dropped: safe harbor came with version 6).
fn create_daily(tx: &WriteTransaction) -> Result<(), StoreError> {
    let mut by_day: BTreeMap<(String, String), u64> = BTreeMap::new();
    for_each_answered(tx, |campaign, end, answered| {
        let key = super::drops::day_key(answered, super::drops::ANSWERED);
        *by_day.entry((campaign, key)).or_default() += 1;
        let _ = end; // Only the day of the answer matters here.
    })?;
    let mut daily = tx.open_table(DAILY)?;
    for ((campaign, key), n) in by_day {
        daily.insert((campaign.as_str(), key.as_str()), n)?;
    }
    Ok(())
}

/// Calls `f` with the campaign, end and answer time of every answered attempt.
fn for_each_answered(
    tx: &WriteTransaction,
    mut f: impl FnMut(String, &super::AttemptEnd, u64),
) -> Result<(), StoreError> {
    let attempts = tx.open_table(ATTEMPTS)?;
    let ends = tx.open_table(ATTEMPT_ENDS)?;
    for row in ends.iter()? {
        let (seq, end) = row?;
        let end: super::AttemptEnd = super::decode("attempt_ends", end.value())?;
        let (Some(answered), Some(start)) = (end.answered_ms, attempts.get(seq.value())?) else {
            continue;
        };
        let start: super::AttemptStart = super::decode("attempts", start.value())?;
        f(start.campaign, &end, answered);
    }
    Ok(())
}

fn create_dispositions(tx: &WriteTransaction) -> Result<(), StoreError> {
    tx.open_table(DISPOSITIONS)?;
    Ok(())
}

fn create_agents(tx: &WriteTransaction) -> Result<(), StoreError> {
    tx.open_table(AGENTS)?;
    tx.open_table(AGENT_LOG)?;
    count_answered(tx)
}

/// The `answered` and `talk_ms` counters (the dashboard's answer rate and handle time)
/// from the attempts a file already holds, counted from version 5 on as calls end.
fn count_answered(tx: &WriteTransaction) -> Result<(), StoreError> {
    let mut by_campaign: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for_each_answered(tx, |campaign, end, answered| {
        let talk = i64::try_from(end.ended_ms.saturating_sub(answered)).unwrap_or(i64::MAX);
        let counted = by_campaign.entry(campaign).or_default();
        counted.0 += 1;
        counted.1 = counted.1.saturating_add(talk);
    })?;
    let mut counters = tx.open_table(COUNTERS)?;
    for (campaign, (answered, talk_ms)) in by_campaign {
        super::bump(&mut counters, &campaign, "answered", answered)?;
        super::bump(&mut counters, &campaign, "talk_ms", talk_ms)?;
    }
    Ok(())
}

fn create_version_3(tx: &WriteTransaction) -> Result<(), StoreError> {
    tx.open_table(LIVE_REPORTED)?;
    tx.open_table(ALERT_OUTBOX)?;
    tx.open_table(ALERT_RATE)?;
    Ok(())
}

fn create_versions(tx: &WriteTransaction) -> Result<(), StoreError> {
    tx.open_table(SCENARIO_VERSIONS)?;
    tx.open_table(SCENARIO_TEXTS)?;
    Ok(())
}

fn create_parked(tx: &WriteTransaction) -> Result<(), StoreError> {
    tx.open_table(PARKED)?;
    Ok(())
}

fn create_tables(tx: &WriteTransaction) -> Result<(), StoreError> {
    tx.open_table(META)?;
    tx.open_table(META_TEXT)?;
    tx.open_table(CAMPAIGNS)?;
    tx.open_table(LEADS)?;
    tx.open_table(LEAD_PHONES)?;
    tx.open_table(CAMPAIGN_LEADS)?;
    tx.open_table(DUE)?;
    tx.open_table(LEASES)?;
    tx.open_table(ATTEMPTS)?;
    tx.open_table(ATTEMPT_IDS)?;
    tx.open_table(ATTEMPT_ENDS)?;
    tx.open_table(CAMPAIGN_ATTEMPTS)?;
    tx.open_table(DNC)?;
    tx.open_table(OUTBOX)?;
    tx.open_table(ALERTS)?;
    tx.open_table(COUNTERS)?;
    Ok(())
}

/// The schema version of an open database (0 for a new file).
fn version(db: &redb::Database) -> Result<u64, StoreError> {
    let tx = db.begin_read()?;
    let meta = match tx.open_table(META) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    Ok(meta.get("schema_version")?.map_or(0, |v| v.value()))
}

/// Brings the file to `SCHEMA_VERSION`, each migration in its own transaction, and
/// gives a new file its tag (which makes its attempt ids unique on a shared Asterisk).
pub fn migrate(db: &redb::Database, new_tag: impl FnOnce() -> String) -> Result<(), StoreError> {
    let found = version(db)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            found,
            known: SCHEMA_VERSION,
        });
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > found) {
        let tx = db.begin_write()?;
        (m.apply)(&tx)?;
        tx.open_table(META)?.insert("schema_version", m.version)?;
        super::commit(tx, "schema")?;
    }
    let tx = db.begin_write()?;
    {
        let mut text = tx.open_table(META_TEXT)?;
        if text.get("store_tag")?.is_none() {
            text.insert("store_tag", new_tag().as_str())?;
        }
    }
    super::commit(tx, "schema")?;
    Ok(())
}
