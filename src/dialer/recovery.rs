//! Closing the attempts a crash left open. Each one's originate may or may not have
//! happened; it is never sent again. Its channels still on Asterisk are hung up (unless
//! the customer is talking to an operator: that conversation is left to end by itself),
//! and the attempt ends as `failed:interrupted`, so the lead follows its retry rules
//! under a new attempt id.

use std::sync::Arc;

use super::policy::CampaignPolicy;
use super::{Dialer, blocking, transient};
use crate::ari::ChannelState;
use crate::core::call::FailureReason;
use crate::store::{AttemptEnd, Finished, LeadNext, StoreError};

/// The result of one whose customer was talking to an operator (seed 000's result).
const CONNECTED: &str = "connected_to_operator";
/// Operator legs tried by name when Asterisk's channel list is unavailable.
const MAX_OPERATOR_LEGS: u32 = 4;

impl Dialer {
    /// Whether the call's bridge holds its customer and an operator: an operator leg
    /// that is up proves nothing alone (the crash may have come before the bridging, or
    /// after the customer left). When Asterisk cannot say, no: a conversation cut short
    /// is retried, a customer left in silence is not.
    async fn talking_to_an_operator(&self, attempt: &str) -> bool {
        let bridge = match self.runtime.client().bridge(&format!("{attempt}-b")).await {
            Ok(bridge) => bridge,
            Err(e) => {
                tracing::warn!(%attempt, error = %e, "cannot see the call's bridge while recovering");
                return false;
            }
        };
        let customer = format!("{attempt}-c");
        let operator = format!("{attempt}-op");
        bridge.channels.contains(&customer)
            && bridge.channels.iter().any(|m| m.starts_with(&operator))
    }

    /// Closes every open attempt; returns how many.
    pub(super) async fn recover(&self) -> Result<usize, StoreError> {
        let store = Arc::clone(&self.store);
        let open = blocking(move || store.open_attempts()).await?;
        if open.is_empty() {
            return Ok(0);
        }
        let live = match self.runtime.client().channels().await {
            Ok(list) => Some(list),
            Err(e) => {
                tracing::warn!(error = %e, "cannot list channels while recovering open attempts");
                None
            }
        };
        let now = self.now_ms();
        // The result of an attempt whose call outlived the process that made it.
        let interrupted = FailureReason::Interrupted.result();
        let mut items = Vec::with_capacity(open.len());
        for attempt in &open {
            let prefix = format!("{}-", attempt.id);
            let channels: Vec<(String, Option<ChannelState>)> = match &live {
                Some(list) => list
                    .iter()
                    .filter(|c| c.id.starts_with(&prefix))
                    .map(|c| (c.id.clone(), Some(c.state.clone())))
                    .collect(),
                // Without the list, every channel the call may have made, by name (a 404
                // for one that does not exist is fine).
                None => std::iter::once(format!("{prefix}c"))
                    .chain((1..=MAX_OPERATOR_LEGS).map(|n| format!("{prefix}op{n}")))
                    .map(|id| (id, None))
                    .collect(),
            };
            let with_operator = channels.iter().any(|(id, state)| {
                id[prefix.len()..].starts_with("op") && *state == Some(ChannelState::Up)
            }) && self.talking_to_an_operator(&attempt.id).await;
            let mut note =
                "dialflow stopped during this call; closed when it started again".to_string();
            // A customer talking to an operator was connected: leave them be, and do not
            // call them again.
            let result = if with_operator {
                note.push_str("; the customer was left talking to the operator");
                CONNECTED
            } else {
                for (id, _) in &channels {
                    if let Err(e) = self.runtime.client().hangup(id).await {
                        tracing::warn!(channel = %id, error = %e, "cannot hang up a recovered channel");
                    }
                }
                interrupted.as_str()
            };
            let status = self
                .scenarios
                .get(&attempt.scenario)
                .and_then(|s| s.results.status_of(result).map(str::to_string))
                .unwrap_or_else(|| "FAILED".into());
            let seen = live.is_some();
            items.push(Finished {
                attempt_id: attempt.id.clone(),
                end: AttemptEnd {
                    result: result.into(),
                    status: status.clone(),
                    channels: if seen {
                        channels.iter().map(|(id, _)| id.clone()).collect()
                    } else {
                        Vec::new()
                    },
                    ended_ms: now,
                    note: Some(note),
                    ..AttemptEnd::default()
                },
                reports: vec![(status, result.into(), None)],
            });
        }
        let store = Arc::clone(&self.store);
        let count = items.len();
        blocking(move || {
            let policies: std::collections::HashMap<String, Option<CampaignPolicy>> = store
                .campaigns()?
                .into_iter()
                .map(|c| (c.name.clone(), CampaignPolicy::compile(&c.settings).ok()))
                .collect();
            let next = |lead: &crate::store::LeadRecord, end: &AttemptEnd| {
                match policies.get(&lead.campaign).and_then(Option::as_ref) {
                    Some(p) => p.next(lead, end, now),
                    None => LeadNext::Done,
                }
            };
            match store.finish(&items, now, next) {
                // One unreadable record must not keep dialflow from starting: close
                // the others one by one and leave that one for a person to look at.
                Err(e) if !transient(&e) => {
                    tracing::error!(error = %e, "cannot close the open attempts together; closing them one by one");
                    for item in &items {
                        if let Err(e) = store.finish(std::slice::from_ref(item), now, next) {
                            if transient(&e) {
                                return Err(e);
                            }
                            tracing::error!(attempt = %item.attempt_id, error = %e, "cannot close this attempt: left open");
                        }
                    }
                    Ok(Vec::new())
                }
                ok => ok,
            }
        })
        .await?;
        tracing::warn!(
            attempts = count,
            "closed attempts left open by a previous run"
        );
        Ok(count)
    }
}
