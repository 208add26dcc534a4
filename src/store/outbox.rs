//! The report outbox: reports waiting for the panel in the order they were written,
//! removed once delivered (so the file does not grow with every call), and the ones
//! the panel refused for good parked apart with its answer until an operator retries
//! them.

use redb::{ReadableDatabase as _, ReadableTable as _, ReadableTableMetadata as _};

use super::schema::{OUTBOX, PARKED};
use super::{NewAlert, OutboxEntry, ParkedReport, Store, StoreError, decode, encode};
use crate::core::alerts::AlertKind;

/// What became of a report sent to the panel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// Taken (a 2xx): it leaves the outbox.
    Delivered(u64),
    /// Refused for good: parked with the panel's status and answer.
    Parked {
        seq: u64,
        status: u16,
        answer: String,
    },
}

/// How many reports wait, and how many are parked.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
pub struct OutboxCounts {
    pub pending: u64,
    pub parked: u64,
}

impl Store {
    /// Reports waiting in the outbox, oldest first, after sequence `after`.
    pub fn outbox(&self, after: u64, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let tx = self.db.begin_read()?;
        let outbox = tx.open_table(OUTBOX)?;
        let mut out = Vec::new();
        for row in outbox.range(after.saturating_add(1)..)? {
            if out.len() >= limit {
                break;
            }
            out.push(decode("outbox", row?.1.value())?);
        }
        Ok(out)
    }

    /// The panel took report `seq`: it leaves the outbox. Idempotent.
    pub fn outbox_delivered(&self, seq: u64) -> Result<(), StoreError> {
        self.outbox_settle(&[Settled::Delivered(seq)], 0)
    }

    /// The panel refused report `seq` for good: it moves to the parked reports with the
    /// panel's answer, and the campaign gets an alert (shown by `campaign show`) in the
    /// same transaction. A report no longer in the outbox is left alone.
    pub fn outbox_park(
        &self,
        seq: u64,
        status: u16,
        answer: &str,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let parked = Settled::Parked {
            seq,
            status,
            answer: answer.to_string(),
        };
        self.outbox_settle(&[parked], now_ms)
    }

    /// What became of several reports, in one transaction (one commit for many
    /// deliveries: the commit, not the HTTP, bounds how fast the outbox drains).
    pub fn outbox_settle(&self, settled: &[Settled], now_ms: u64) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        for s in settled {
            match s {
                Settled::Delivered(seq) => {
                    tx.open_table(OUTBOX)?.remove(*seq)?;
                }
                Settled::Parked {
                    seq,
                    status,
                    answer,
                } => self.park(&tx, *seq, *status, answer, now_ms)?,
            }
        }
        super::commit(tx, "outbox")?;
        Ok(())
    }

    /// Parks report `seq` inside the caller's transaction, with its alert.
    fn park(
        &self,
        tx: &redb::WriteTransaction,
        seq: u64,
        status: u16,
        answer: &str,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let mut outbox = tx.open_table(OUTBOX)?;
        let Some(bytes) = outbox.remove(seq)? else {
            return Ok(());
        };
        let entry: OutboxEntry = decode("outbox", bytes.value())?;
        drop(bytes);
        drop(outbox);
        let short: String = answer.chars().take(200).collect();
        let reason = format!("the panel answered {status}: {short}");
        let message = format!(
            "report {seq} ({} {}) parked: {reason}",
            entry.attempt, entry.status
        );
        let alert = NewAlert {
            kind: AlertKind::Parked,
            campaign: &entry.campaign,
            reason: &reason,
            message: &message,
        };
        self.insert_alert(tx, &alert, now_ms)?;
        let parked = ParkedReport {
            entry,
            status,
            answer: answer.to_string(),
            parked_ms: now_ms,
        };
        tx.open_table(PARKED)?
            .insert(seq, encode(&parked).as_slice())?;
        Ok(())
    }

    /// Parked reports, oldest first.
    pub fn parked_reports(&self, limit: usize) -> Result<Vec<ParkedReport>, StoreError> {
        let tx = self.db.begin_read()?;
        let parked = tx.open_table(PARKED)?;
        let mut out = Vec::new();
        for row in parked.iter()? {
            if out.len() >= limit {
                break;
            }
            out.push(decode("outbox_parked", row?.1.value())?);
        }
        Ok(out)
    }

    /// Puts parked reports back in the outbox under their own sequence numbers (so
    /// they keep their place and their idempotency key): report `seq`, or all of them.
    /// Returns how many moved; a `seq` that is not parked is `NoParkedReport`.
    pub fn retry_parked(&self, seq: Option<u64>) -> Result<usize, StoreError> {
        let tx = self.db.begin_write()?;
        let moved;
        {
            let mut parked = tx.open_table(PARKED)?;
            let mut outbox = tx.open_table(OUTBOX)?;
            let seqs: Vec<u64> = match seq {
                Some(seq) => vec![seq],
                None => parked
                    .iter()?
                    .map(|row| row.map(|(k, _)| k.value()))
                    .collect::<Result<_, _>>()?,
            };
            let mut count = 0;
            for seq in seqs {
                let Some(bytes) = parked.remove(seq)? else {
                    continue;
                };
                let report: ParkedReport = decode("outbox_parked", bytes.value())?;
                drop(bytes);
                outbox.insert(seq, encode(&report.entry).as_slice())?;
                count += 1;
            }
            if let (Some(seq), 0) = (seq, count) {
                return Err(StoreError::NoParkedReport(seq));
            }
            moved = count;
        }
        super::commit(tx, "outbox")?;
        Ok(moved)
    }

    /// How many reports wait and how many are parked.
    pub fn outbox_counts(&self) -> Result<OutboxCounts, StoreError> {
        let tx = self.db.begin_read()?;
        Ok(OutboxCounts {
            pending: tx.open_table(OUTBOX)?.len()?,
            parked: tx.open_table(PARKED)?.len()?,
        })
    }

    /// How many of one campaign's reports wait and how many are parked (a scan: the
    /// outbox holds only what is owed, so it stays short while the panel answers).
    pub fn campaign_outbox_counts(&self, campaign: &str) -> Result<OutboxCounts, StoreError> {
        let tx = self.db.begin_read()?;
        let mut counts = OutboxCounts::default();
        for row in tx.open_table(OUTBOX)?.iter()? {
            let entry: OutboxEntry = decode("outbox", row?.1.value())?;
            counts.pending += u64::from(entry.campaign == campaign);
        }
        for row in tx.open_table(PARKED)?.iter()? {
            let parked: ParkedReport = decode("outbox_parked", row?.1.value())?;
            counts.parked += u64::from(parked.entry.campaign == campaign);
        }
        Ok(counts)
    }
}
