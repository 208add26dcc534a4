//! Alerts: every one raised is kept (`campaign show` lists them), and, while alert
//! delivery is on, the ones the rate limit lets through go into the alert outbox in
//! the same transaction, for the delivery to send to `alerts.url`. The same alert
//! (kind and campaign) goes out at most once per window; the ones held back are
//! counted into the next.

use std::sync::atomic::Ordering;
use std::time::Duration;

use redb::{ReadableDatabase as _, ReadableTable as _};

use super::schema::{ALERT_OUTBOX, ALERT_RATE, ALERTS, META, OUTBOX};
use super::{Alert, AlertOut, OutboxEntry, Store, StoreError, decode, encode, next_id};
use crate::core::alerts::{AlertKind, Rate, RateState, admit};

/// An alert to raise.
#[derive(Debug, Clone, Copy)]
pub struct NewAlert<'a> {
    pub kind: AlertKind,
    /// The campaign, or `""` for dialflow as a whole.
    pub campaign: &'a str,
    /// Why, in a few words (a paused campaign's reason).
    pub reason: &'a str,
    /// The whole sentence.
    pub message: &'a str,
}

/// `alert_window` when alert delivery is off.
pub(super) const DELIVERY_OFF: u64 = u64::MAX;

impl Store {
    /// Turns alert delivery on (with the rate limit's window) or off. Off, alerts are
    /// only kept, so the alert outbox does not fill with what nobody will send.
    pub fn set_alert_delivery(&self, window: Option<Duration>) {
        let ms = window.map_or(DELIVERY_OFF, |w| {
            u64::try_from(w.as_millis()).unwrap_or(DELIVERY_OFF - 1)
        });
        self.alert_window.store(ms, Ordering::Relaxed);
    }

    /// Raises an alert: kept, and queued for delivery when the rate limit allows.
    pub fn add_alert(&self, alert: &NewAlert<'_>, now_ms: u64) -> Result<Alert, StoreError> {
        let tx = self.db.begin_write()?;
        let alert = self.insert_alert(&tx, alert, now_ms)?;
        super::commit(tx, "alerts")?;
        Ok(alert)
    }

    /// `add_alert` inside the caller's transaction.
    pub(super) fn insert_alert(
        &self,
        tx: &redb::WriteTransaction,
        new: &NewAlert<'_>,
        now_ms: u64,
    ) -> Result<Alert, StoreError> {
        let mut meta = tx.open_table(META)?;
        let seq = next_id(&mut meta, "next_alert")?;
        let alert = Alert {
            seq,
            campaign: new.campaign.into(),
            at_ms: now_ms,
            message: new.message.into(),
            kind: Some(new.kind),
            reason: new.reason.into(),
        };
        tx.open_table(ALERTS)?
            .insert(seq, encode(&alert).as_slice())?;
        let window = self.alert_window.load(Ordering::Relaxed);
        if window == DELIVERY_OFF {
            return Ok(alert);
        }
        let mut rates = tx.open_table(ALERT_RATE)?;
        let key = (new.campaign, new.kind.as_str());
        let previous: Option<RateState> = match rates.get(key)? {
            Some(v) => Some(decode("alert_rate", v.value())?),
            None => None,
        };
        let (rate, state) = admit(previous, now_ms, window);
        rates.insert(key, encode(&state).as_slice())?;
        if let Rate::Send { repeats } = rate {
            let out = AlertOut {
                alert: alert.clone(),
                repeats,
            };
            tx.open_table(ALERT_OUTBOX)?
                .insert(seq, encode(&out).as_slice())?;
        }
        Ok(alert)
    }

    /// Alerts of one campaign (or all), oldest first.
    pub fn alerts(&self, campaign: Option<&str>) -> Result<Vec<Alert>, StoreError> {
        let tx = self.db.begin_read()?;
        let alerts = tx.open_table(ALERTS)?;
        let mut out = Vec::new();
        for row in alerts.iter()? {
            let alert: Alert = decode("alerts", row?.1.value())?;
            if campaign.is_none_or(|c| c == alert.campaign) {
                out.push(alert);
            }
        }
        Ok(out)
    }

    /// Alerts waiting to be sent, oldest first.
    pub fn alert_outbox(&self, limit: usize) -> Result<Vec<AlertOut>, StoreError> {
        let tx = self.db.begin_read()?;
        let outbox = tx.open_table(ALERT_OUTBOX)?;
        let mut out = Vec::new();
        for row in outbox.iter()?.take(limit) {
            out.push(decode("alert_outbox", row?.1.value())?);
        }
        Ok(out)
    }

    /// Alert `seq` was sent (or refused for good): it leaves the alert outbox.
    pub fn alert_sent(&self, seq: u64) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        tx.open_table(ALERT_OUTBOX)?.remove(seq)?;
        super::commit(tx, "alerts")?;
        Ok(())
    }

    /// When the oldest report still waiting for the panel was written.
    pub fn outbox_oldest_ms(&self) -> Result<Option<u64>, StoreError> {
        let tx = self.db.begin_read()?;
        let outbox = tx.open_table(OUTBOX)?;
        match outbox.first()? {
            Some((_, v)) => Ok(Some(decode::<OutboxEntry>("outbox", v.value())?.at_ms)),
            None => Ok(None),
        }
    }
}
