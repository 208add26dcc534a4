//! The router: reads the event stream and sends each event to the call whose ids it
//! carries; after a loss of the stream, tells the calls to catch up once it is back
//! (`recover`) and reconciles them with the channels Asterisk still has.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::events::{self, StreamItem};
use super::recover::Listed;
use super::{Arrival, Shared, hang_up_in_background};
use crate::ari::models::Channel;
use crate::ari::{AriError, Event, translate};
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
        Input::AgentAssigned { .. } | Input::NoDesk | Input::AgentHungUp => None,
        Input::Timer(_) | Input::Classified(_) | Input::CommandFailed { .. } | Input::Shutdown => {
            None
        }
    }
}

/// The input queue of the live call `attempt`, if there is one.
fn sender_of(shared: &Shared, attempt: &str) -> Option<mpsc::UnboundedSender<Arrival>> {
    let call = shared
        .calls
        .lock()
        .ok()
        .and_then(|c| c.get(attempt).cloned());
    call.or_else(|| shared.legs.lock().ok()?.get(attempt).cloned())
}

/// Reads the event stream and sends every event to its call. After a loss, once the
/// stream is back, tells every call to catch up and reconciles them with Asterisk's
/// channel list (in the background, so events keep flowing meanwhile).
pub(super) async fn route(
    shared: Arc<Shared>,
    mut stream: events::EventStream,
    mut shutdown: watch::Receiver<bool>,
) {
    // The reconcile after the latest loss; a newer loss replaces it.
    let mut reconciling: Option<JoinHandle<()>> = None;
    loop {
        let item = tokio::select! {
            item = stream.next() => item,
            _ = shutdown.changed() => break,
        };
        match item {
            StreamItem::Event(event, arrived) => deliver(&shared, &event, arrived),
            StreamItem::Connected { reconnected } => {
                // `send_replace`: the value must change even when nobody is watching.
                shared.connected.send_replace(true);
                if shared.filter_events {
                    tokio::spawn(ask_for_used_events(Arc::clone(&shared)));
                }
                if reconnected {
                    crate::metrics::global().reconnected();
                    let epoch = shared.losses.load(Ordering::Acquire);
                    tell_every_call(&shared, |_| Arrival::Reconnected(epoch));
                }
            }
            StreamItem::Disconnected { .. } => {
                // Each failed attempt to connect again reports a loss: count the first.
                if shared.connected.send_replace(false) {
                    let epoch = shared.losses.fetch_add(1, Ordering::AcqRel) + 1;
                    if let Some(older) = reconciling.take() {
                        older.abort();
                    }
                    reconciling = Some(tokio::spawn(reconcile(Arc::clone(&shared), epoch)));
                }
            }
        }
    }
    if let Some(task) = reconciling {
        task.abort();
    }
}

/// Tries at asking for the event filter on one connection (0.5 s doubling: a PBX
/// busy enough to drop the stream may also be slow to answer).
const FILTER_TRIES: u32 = 4;

/// Asks Asterisk to send the application only the event types the calls use, on each
/// connection (in the background: events flow meanwhile, unfiltered). An Asterisk
/// older than 13.26 / 16.3 has no filter: it goes on sending everything, which costs
/// CPU on both sides and nothing else.
async fn ask_for_used_events(shared: Arc<Shared>) {
    let mut wait = Duration::from_millis(500);
    for attempt in 1..=FILTER_TRIES {
        let error = match shared
            .client
            .filter_events(translate::EVENT_TYPES_USED)
            .await
        {
            Ok(()) => return,
            Err(AriError::Refused { status, message }) if matches!(status, 404 | 405 | 501) => {
                tracing::info!(
                    status,
                    %message,
                    "this Asterisk has no application event filter: it sends every event type"
                );
                return;
            }
            Err(e @ AriError::Refused { status, .. }) if status < 500 => e,
            Err(e) if attempt < FILTER_TRIES => {
                tracing::debug!(error = %e, attempt, "the event filter: trying again");
                tokio::time::sleep(wait).await;
                wait *= 2;
                continue;
            }
            Err(e) => e,
        };
        tracing::warn!(
            error = %error,
            "Asterisk did not take the application's event filter: it sends every event type"
        );
        return;
    }
}

/// Sends every live call the message `message` makes for its attempt id. Under the
/// calls' lock, so a call starting meanwhile either gets it or starts after it.
fn tell_every_call(shared: &Shared, mut message: impl FnMut(&str) -> Arrival) {
    if let Ok(calls) = shared.calls.lock() {
        for (attempt, sender) in calls.iter() {
            let _ = sender.send(message(attempt));
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
            let _ = sender.send(Arrival::Input(Some(arrived), input));
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

/// How long calls hold their timers for the channel list after a loss (call time):
/// past it, they go by their timers again. Asterisk restarting takes seconds; a PBX
/// gone for longer has ended the calls anyway.
const PATIENCE_MS: u64 = 60_000;
/// The first wait before the channel list is asked again, doubling up to the most.
const FIRST_RETRY: Duration = Duration::from_millis(250);
const MOST_RETRY: Duration = Duration::from_secs(2);

/// After loss `epoch`, once the stream is back: lists Asterisk's channels, asked again
/// until it answers while calls live, and tells each call what became of its channels.
/// A call whose own questions (`recover::ask`) were answered has caught up already;
/// the list is the net under the others. With no list within `PATIENCE_MS`, the calls
/// are let go (their timers decide), and the list is still awaited.
async fn reconcile(shared: Arc<Shared>, epoch: u64) {
    let patience = tokio::time::sleep(shared.clock.real(PATIENCE_MS));
    tokio::pin!(patience);
    let listing = list_after_reconnect(&shared);
    tokio::pin!(listing);
    let mut waited_out = false;
    let listed = loop {
        tokio::select! {
            listed = &mut listing => break listed,
            () = &mut patience, if !waited_out => {
                waited_out = true;
                tracing::error!(patience_ms = PATIENCE_MS, "no channel list after a reconnect in time: calls go by their timers");
                tell_every_call(&shared, |_| Arrival::Listed(epoch, None));
            }
        }
    };
    let Some((owned, live)) = listed else {
        return;
    };
    let mut verdicts: HashMap<String, Listed> = owned
        .into_iter()
        .map(|(attempt, channels)| {
            let states = channels
                .into_iter()
                .map(|c| {
                    let state = live.get(&c).cloned();
                    (c, state)
                })
                .collect();
            (attempt, states)
        })
        .collect();
    let gone = verdicts
        .values()
        .flatten()
        .filter(|(_, state)| state.is_none())
        .count();
    tell_every_call(&shared, |attempt| {
        Arrival::Listed(epoch, Some(verdicts.remove(attempt).unwrap_or_default()))
    });
    tracing::info!(
        live = live.len(),
        gone,
        "reconciled calls with Asterisk's channels after reconnecting to ARI"
    );
}

/// Waits for the stream to be back, then lists Asterisk's channels: the channels each
/// call owned before asking (one originated after the list was taken must not look
/// gone, nor one whose originate is still unanswered), and every live channel's state.
/// `None` once no call is left to tell.
async fn list_after_reconnect(
    shared: &Shared,
) -> Option<(Vec<(String, Vec<String>)>, HashMap<String, Channel>)> {
    let mut connected = shared.connected.subscribe();
    if connected.wait_for(|up| *up).await.is_err() {
        return None;
    }
    let originating = shared
        .originating
        .lock()
        .map(|o| o.clone())
        .unwrap_or_default();
    let owned: Vec<(String, Vec<String>)> = shared
        .channels
        .lock()
        .map(|c| {
            c.iter()
                .map(|(attempt, channels)| {
                    let settled = channels
                        .iter()
                        .filter(|ch| !originating.contains(*ch))
                        .cloned()
                        .collect();
                    (attempt.clone(), settled)
                })
                .collect()
        })
        .unwrap_or_default();
    let live = list_channels(shared).await?;
    Some((owned, live.into_iter().map(|c| (c.id.clone(), c)).collect()))
}

/// Asterisk's channels, asked again with backoff until they come: without the list, a
/// call that missed its events and could not ask for itself would wait for its timers.
/// `None` once no call is left to tell.
async fn list_channels(shared: &Shared) -> Option<Vec<Channel>> {
    let mut wait = FIRST_RETRY;
    loop {
        if shared.calls.lock().map_or(true, |c| c.is_empty()) {
            return None;
        }
        match shared.client.channels().await {
            Ok(list) => return Some(list),
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "cannot list channels to reconcile after a reconnect");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(MOST_RETRY);
            }
        }
    }
}
