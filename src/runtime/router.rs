//! The router: reads the event stream and sends each event to the call whose ids it
//! carries; after a reconnect, reconciles the calls with the channels Asterisk still has.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use super::events::{self, StreamItem};
use super::{Arrival, Shared, hang_up_in_background};
use crate::ari::models::{Channel, ChannelState};
use crate::ari::{Event, translate};
use crate::core::call::Input;

/// The attempt an id belongs to: the part before its first `-`.
fn attempt_of(id: &str) -> &str {
    id.split('-').next().unwrap_or(id)
}

fn input_target(input: &Input) -> Option<&str> {
    match input {
        Input::OriginateFailed { channel, .. }
        | Input::ChannelProgress { channel, .. }
        | Input::StasisStarted { channel, .. }
        | Input::StasisEnded { channel }
        | Input::Dtmf { channel, .. }
        | Input::HangupRequested { channel, .. }
        | Input::ChannelGone { channel, .. }
        | Input::EnteredBridge { channel, .. } => Some(channel),
        Input::PlaybackStarted { playback } | Input::PlaybackFinished { playback, .. } => {
            Some(playback)
        }
        Input::RecordingFinished { recording, .. } | Input::RecordingFailed { recording } => {
            Some(recording)
        }
        Input::Timer(_) | Input::Classified(_) | Input::CommandFailed { .. } | Input::Shutdown => {
            None
        }
    }
}

/// The input queue of the live call `attempt`, if there is one.
fn sender_of(shared: &Shared, attempt: &str) -> Option<mpsc::UnboundedSender<Arrival>> {
    shared
        .calls
        .lock()
        .ok()
        .and_then(|c| c.get(attempt).cloned())
}

/// Reads the event stream and sends every event to its call; reconciles after a
/// reconnect (in the background, so events keep flowing meanwhile).
pub(super) async fn route(
    shared: Arc<Shared>,
    mut stream: events::EventStream,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let item = tokio::select! {
            item = stream.next() => item,
            _ = shutdown.changed() => return,
        };
        match item {
            StreamItem::Event(event, arrived) => deliver(&shared, &event, arrived),
            StreamItem::Connected { reconnected } => {
                let _ = shared.connected.send(true);
                if reconnected {
                    tokio::spawn(reconcile(Arc::clone(&shared)));
                }
            }
            StreamItem::Disconnected { .. } => {
                let _ = shared.connected.send(false);
            }
        }
    }
}

/// Sends one event to the call it is for (counting its lag into the health first).
fn deliver(shared: &Shared, event: &Event, arrived: Instant) {
    if matches!(event, Event::Unknown { .. } | Event::Malformed { .. }) {
        tracing::debug!(
            event = event.type_name(),
            "skipping an event dialflow does not know"
        );
        return;
    }
    if let Some(stamp) = event.timestamp()
        && let Ok(mut health) = shared.health.lock()
    {
        health.event(stamp);
    }
    let Some(input) = translate::input(event) else {
        return;
    };
    let Some(target) = input_target(&input) else {
        return;
    };
    match (sender_of(shared, attempt_of(target)), input) {
        (Some(sender), input) => {
            let _ = sender.send((Some(arrived), input));
        }
        // A channel entered our app with no call behind it: an originate that reached
        // Asterisk after its call gave up on it, or a leg whose call has ended. Nobody
        // would ever hang it up.
        (None, Input::StasisStarted { channel, .. }) => {
            tracing::warn!(%channel, "hanging up a channel no live call owns");
            hang_up_in_background(
                &tokio::runtime::Handle::current(),
                shared.client.clone(),
                vec![channel],
            );
        }
        (None, _) => {}
    }
}

/// What a reconcile told the calls, for its log line.
#[derive(Default)]
struct Reconciled {
    lost: usize,
    answered: usize,
}

/// After a reconnect: every channel a live call owns that Asterisk no longer has ended
/// while we were away. Tell its call, so it finishes instead of waiting forever.
async fn reconcile(shared: Arc<Shared>) {
    // What we own before asking: a channel originated after the list was taken must not
    // look lost.
    let owned: Vec<(String, Vec<String>)> = shared
        .channels
        .lock()
        .map(|c| c.iter().map(|(a, ch)| (a.clone(), ch.clone())).collect())
        .unwrap_or_default();
    let originating = shared
        .originating
        .lock()
        .map(|o| o.clone())
        .unwrap_or_default();
    let Some(live) = list_channels(&shared).await else {
        return;
    };
    let mut told = Reconciled::default();
    for (attempt, channels) in owned {
        let Some(sender) = sender_of(&shared, &attempt) else {
            continue;
        };
        for channel in channels {
            // Its originate is still on its way: not lost.
            if !originating.contains(&channel) {
                reconcile_channel(&sender, channel, &live, &mut told);
            }
        }
    }
    tracing::info!(
        live = live.len(),
        lost = told.lost,
        answered = told.answered,
        "reconciled calls after reconnecting to ARI"
    );
}

/// Asterisk's channels, tried again with backoff: without the list, a call that missed
/// its hang-up would wait for its timers. `None` once it gives up.
async fn list_channels(shared: &Shared) -> Option<Vec<Channel>> {
    let mut wait = Duration::from_millis(250);
    loop {
        match shared.client.channels().await {
            Ok(list) => return Some(list),
            Err(e) if wait <= Duration::from_secs(8) => {
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "cannot list channels to reconcile after a reconnect");
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot list channels to reconcile after a reconnect; giving up");
                return None;
            }
        }
    }
}

/// Tells a call what became of one of its channels while the stream was down.
fn reconcile_channel(
    sender: &mpsc::UnboundedSender<Arrival>,
    channel: String,
    live: &[Channel],
    told: &mut Reconciled,
) {
    match live.iter().find(|c| c.id == channel) {
        None => {
            told.lost += 1;
            let cause_txt = "gone while disconnected".to_string();
            let _ = sender.send((
                None,
                Input::ChannelGone {
                    channel,
                    cause: 0,
                    cause_txt,
                },
            ));
        }
        // Answered while we were away: the machine ignores this if it saw it.
        Some(c) if c.state == ChannelState::Up => {
            told.answered += 1;
            let _ = sender.send((
                None,
                Input::StasisStarted {
                    channel,
                    args: Vec::new(),
                },
            ));
        }
        Some(_) => {}
    }
}
