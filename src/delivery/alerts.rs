//! Alert delivery: the store's alert outbox sent to `alerts.url` one at a time, in
//! order, with the retries, signature and idempotency key reports get. The body is
//! the default JSON or the user's `alerts.template`. An alert leaves the outbox once
//! the receiver answered 2xx, or refused it for good (logged: it stays in the store's
//! alerts, which `campaign show` lists).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::post::{Target, until_settled};
use crate::config::{AlertFields, AlertTemplate, AlertsConfig};
use crate::core::delivery::Verdict;
use crate::store::{AlertOut, Store};

/// How often the alert outbox is looked at while it is empty.
const POLL: Duration = Duration::from_millis(100);
/// The wait after the store failed.
const STORE_RETRY: Duration = Duration::from_secs(1);

/// What the alert worker holds.
pub(super) struct AlertSender {
    pub store: Arc<Store>,
    pub config: AlertsConfig,
    pub template: Option<AlertTemplate>,
    pub client: reqwest::Client,
}

impl AlertSender {
    pub(super) async fn run(self, mut stopped: watch::Receiver<bool>) {
        while !*stopped.borrow() {
            let store = Arc::clone(&self.store);
            let next = tokio::task::spawn_blocking(move || store.alert_outbox(1)).await;
            let wait = match next {
                Ok(Ok(mut next)) if !next.is_empty() => {
                    self.deliver(next.remove(0), &mut stopped).await;
                    continue;
                }
                Ok(Ok(_)) => POLL,
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "cannot read the alert outbox");
                    STORE_RETRY
                }
                Err(_) => STORE_RETRY,
            };
            tokio::select! {
                _ = stopped.changed() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Sends one alert until it is taken or refused, then takes it out of the outbox.
    async fn deliver(&self, out: AlertOut, stopped: &mut watch::Receiver<bool>) {
        let body = self.body(&out);
        let key = format!("alert:{}", out.alert.seq);
        let target = Target {
            client: &self.client,
            url: &self.config.url,
            secret: self.config.secret.as_deref(),
        };
        let send = || target.post(&key, body.clone());
        let Some((verdict, answer, text)) = until_settled(send, stopped).await else {
            return;
        };
        if verdict == Verdict::Park {
            tracing::error!(seq = out.alert.seq, ?answer, answer_text = %text,
                message = %out.alert.message, "the alert receiver refused an alert: dropped");
        }
        let (store, seq) = (Arc::clone(&self.store), out.alert.seq);
        match tokio::task::spawn_blocking(move || store.alert_sent(seq)).await {
            Ok(Ok(())) => {}
            // It goes again after the pause, under the same key.
            _ => tokio::time::sleep(STORE_RETRY).await,
        }
    }

    /// The body: the user's template, or the default JSON (also when the template
    /// fails on this alert, which the check at start makes unlikely: an alert is never
    /// held back for its wording).
    fn body(&self, out: &AlertOut) -> Vec<u8> {
        let alert = &out.alert;
        let at = jiff::Timestamp::from_millisecond(i64::try_from(alert.at_ms).unwrap_or(0))
            .map(|t| format!("{t:.3}"))
            .unwrap_or_default();
        let fields = AlertFields {
            kind: alert.kind.map_or("", |k| k.as_str()),
            campaign: &alert.campaign,
            message: &alert.message,
            reason: &alert.reason,
            at: &at,
            repeats: out.repeats,
        };
        if let Some(template) = &self.template {
            match template.render(&fields) {
                Ok(body) => return body.into_bytes(),
                Err(e) => tracing::error!(error = %e, "alerts.template: sending the default body"),
            }
        }
        serde_json::to_vec(&serde_json::json!({
            "version": 1,
            "kind": fields.kind,
            "campaign": (!fields.campaign.is_empty()).then_some(fields.campaign),
            "message": fields.message,
            "reason": fields.reason,
            "at": fields.at,
            "repeats": fields.repeats,
        }))
        .unwrap_or_default()
    }
}
