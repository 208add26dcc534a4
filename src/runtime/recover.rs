//! A call catching up after the event stream broke: Asterisk does not replay what it
//! sent meanwhile, so the call asks for the state of what it was waiting on (its
//! channels, the playback, recording or bridge in progress) and is fed the inputs the
//! lost events would have given. Meanwhile its timers are held: a safety timer firing
//! while the call cannot see would end it for events that were only lost.

use std::sync::atomic::Ordering;

use crate::ari::client::AriClient;
use crate::ari::models::{Channel, ChannelState};
use crate::ari::translate;
use crate::core::call::{Command, Input, TimerId};

use super::Shared;

/// What Asterisk said of a call's channels: each id with the channel, `None` for one
/// it no longer has.
pub(super) type Listed = Vec<(String, Option<Channel>)>;

/// Playbacks kept per call: a call waits on one at a time, and the rest are at most
/// ones whose end was missed and that no longer matter.
const MAX_PLAYBACKS: usize = 4;

/// What one call keeps to catch up after a loss of the event stream.
#[derive(Debug, Default)]
pub(super) struct Missed {
    /// Playbacks started and not yet seen finishing, oldest first.
    playbacks: Vec<String>,
    /// The recording started and not yet seen ending.
    recording: Option<String>,
    /// The bridge the call added channels to, until it destroys it.
    bridge: Option<String>,
    /// The last loss this call has caught up with (or given up on): later ones hold
    /// its timers.
    recovered: u64,
    /// The last loss after which the call learnt what became of its channels.
    asked: u64,
    /// Timers that fired while the call could not see, in order.
    held: Vec<TimerId>,
}

impl Missed {
    /// For a call starting now: losses before its start cost it nothing, but one
    /// starting while the stream is down is as blind as the calls that lived through
    /// the loss (its originate's events are lost too).
    pub(super) fn new(shared: &Shared) -> Self {
        Self::starting(losses(shared), !*shared.connected.borrow())
    }

    /// For a call starting after `losses` losses, while the stream is down (`blind`) or
    /// not.
    fn starting(losses: u64, blind: bool) -> Self {
        let seen = if blind {
            losses.saturating_sub(1)
        } else {
            losses
        };
        Self {
            recovered: seen,
            asked: seen,
            ..Self::default()
        }
    }

    /// Notes what a command starts that only an event will say has ended.
    pub(super) fn command(&mut self, command: &Command) {
        match command {
            Command::Play { playback, .. } => {
                if self.playbacks.len() == MAX_PLAYBACKS {
                    self.playbacks.remove(0);
                }
                self.playbacks.push(playback.clone());
            }
            Command::Record { recording, .. } => self.recording = Some(recording.clone()),
            Command::AddToBridge { bridge, .. } => self.bridge = Some(bridge.clone()),
            Command::DestroyBridge { .. } => self.bridge = None,
            _ => {}
        }
    }

    /// Notes what an input has ended.
    pub(super) fn input(&mut self, input: &Input) {
        match input {
            Input::PlaybackFinished { playback, .. } => self.playbacks.retain(|p| p != playback),
            Input::RecordingFinished { recording, .. } | Input::RecordingFailed { recording }
                if self.recording.as_ref() == Some(recording) =>
            {
                self.recording = None;
            }
            _ => {}
        }
    }

    /// Whether `input` must wait: a timer, while the stream has been lost since the
    /// call last caught up. Held timers come back from [`Missed::caught_up`].
    /// `losses`: the stream's losses so far.
    pub(super) fn holds(&mut self, losses: u64, input: &Input) -> bool {
        let Input::Timer(timer) = input else {
            return false;
        };
        if losses <= self.recovered {
            return false;
        }
        self.held.push(*timer);
        true
    }

    /// Whether the call has yet to learn what became of its channels after `epoch`.
    pub(super) fn must_ask(&self, epoch: u64) -> bool {
        self.asked < epoch
    }

    /// The call has learnt its state after loss `epoch`.
    pub(super) fn asked(&mut self, epoch: u64) {
        self.asked = self.asked.max(epoch);
    }

    /// The call has caught up with loss `epoch` (or given up on it): the timers held
    /// meanwhile, to be handled now, unless the stream was lost again since.
    pub(super) fn caught_up(&mut self, losses: u64, epoch: u64) -> Vec<Input> {
        self.recovered = self.recovered.max(epoch);
        if losses > self.recovered {
            return Vec::new();
        }
        self.held.drain(..).map(Input::Timer).collect()
    }
}

/// How many times the event stream has been lost so far.
pub(super) fn losses(shared: &Shared) -> u64 {
    shared.losses.load(Ordering::Acquire)
}

/// Asks Asterisk what the call missed: what became of each of `channels` (unless the
/// channel list already says), then, while the customer's channel is up, of the
/// playbacks, the recording and the bridge it waits on. The inputs to feed the machine,
/// each one it ignores if it saw the event after all; `None` when a channel's state
/// could not be had (the call then waits for the channel list).
pub(super) async fn ask(
    client: &AriClient,
    customer: &str,
    channels: Vec<String>,
    listed: Option<Listed>,
    missed: &Missed,
) -> Option<Vec<Input>> {
    let states = match listed {
        Some(listed) => listed,
        None => channel_states(client, channels).await?,
    };
    let customer_up = states
        .iter()
        .any(|(id, c)| id == customer && c.as_ref().is_some_and(|c| c.state == ChannelState::Up));
    let mut inputs: Vec<Input> = states
        .iter()
        .map(|(id, channel)| translate::channel_now(id, channel.as_ref()))
        .collect();
    // A playback or recording that Asterisk no longer has may have ended with its
    // channel: only a channel known to be up makes a 404 mean "finished".
    if customer_up {
        media_states(client, missed, &mut inputs).await;
    }
    Some(inputs)
}

/// Each channel's state now, asked one by one; `None` if one cannot be had.
async fn channel_states(client: &AriClient, channels: Vec<String>) -> Option<Listed> {
    let mut states = Vec::with_capacity(channels.len());
    for channel in channels {
        match client.channel(&channel).await {
            Ok(found) => states.push((channel, found)),
            Err(e) => {
                tracing::warn!(%channel, error = %e, "cannot read a channel after a reconnect; waiting for the channel list");
                return None;
            }
        }
    }
    Some(states)
}

/// The inputs the playbacks, recording and bridge of `missed` owe the call, as far as
/// Asterisk answers (what it does not answer is left to the call's timers).
async fn media_states(client: &AriClient, missed: &Missed, inputs: &mut Vec<Input>) {
    for playback in &missed.playbacks {
        match client.playback(playback).await {
            Ok(found) => inputs.extend(translate::playback_now(playback, found.as_ref())),
            Err(e) => {
                tracing::warn!(%playback, error = %e, "cannot read a playback after a reconnect")
            }
        }
    }
    if let Some(recording) = &missed.recording {
        match recording_state(client, recording).await {
            Ok(input) => inputs.extend(input),
            Err(e) => {
                tracing::warn!(%recording, error = %e, "cannot read a recording after a reconnect")
            }
        }
    }
    if let Some(bridge) = &missed.bridge {
        match client.bridge(bridge).await {
            Ok(found) => {
                inputs.extend(
                    found
                        .channels
                        .into_iter()
                        .map(|channel| Input::EnteredBridge {
                            bridge: bridge.clone(),
                            channel,
                        }),
                )
            }
            Err(e) => tracing::warn!(%bridge, error = %e, "cannot read a bridge after a reconnect"),
        }
    }
}

/// A recording's end, if it has ended: live, its state; no longer live, finished if
/// Asterisk stored it.
async fn recording_state(
    client: &AriClient,
    recording: &str,
) -> Result<Option<Input>, crate::ari::AriError> {
    let live = client.live_recording(recording).await?;
    let stored = match live {
        Some(_) => false,
        None => client.stored_recording(recording).await?.is_some(),
    };
    Ok(translate::recording_now(recording, live.as_ref(), stored))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timer(n: u32) -> Input {
        Input::Timer(TimerId(n))
    }

    #[test]
    fn timers_wait_while_a_loss_is_not_caught_up_and_come_back_in_order() {
        let mut missed = Missed::starting(0, false);
        assert!(!missed.holds(0, &timer(1)), "nothing lost: a timer counts");
        assert!(missed.holds(1, &timer(2)));
        assert!(missed.holds(1, &timer(3)));
        assert!(!missed.holds(1, &Input::Shutdown), "only timers wait");
        assert!(missed.must_ask(1));
        // Lost again before catching up with the first loss: still waiting.
        assert!(missed.caught_up(2, 1).is_empty());
        assert!(missed.holds(2, &timer(4)));
        assert_eq!(missed.caught_up(2, 2), vec![timer(2), timer(3), timer(4)]);
        assert!(!missed.holds(2, &timer(5)));
    }

    #[test]
    fn a_call_started_while_the_stream_is_down_catches_up_too() {
        let mut blind = Missed::starting(3, true);
        assert!(blind.must_ask(3));
        assert!(blind.holds(3, &timer(1)));
        let sighted = Missed::starting(3, false);
        assert!(
            !sighted.must_ask(3),
            "losses before it started cost it nothing"
        );
    }

    #[test]
    fn only_what_has_not_ended_is_asked_for() {
        let mut missed = Missed::starting(0, false);
        for n in 1..=6 {
            missed.command(&Command::Play {
                channel: "a-c".into(),
                playback: format!("a-p{n}"),
                prompt: "hello".into(),
            });
        }
        missed.input(&Input::PlaybackFinished {
            playback: "a-p6".into(),
            failed: false,
        });
        assert_eq!(
            missed.playbacks,
            ["a-p3", "a-p4", "a-p5"],
            "a few, newest kept"
        );
        missed.command(&Command::Record {
            channel: "a-c".into(),
            recording: "a-c-r7".into(),
            max_duration_ms: 10_000,
            max_silence_ms: 2_000,
            beep: false,
        });
        missed.input(&Input::RecordingFailed {
            recording: "other".into(),
        });
        assert_eq!(missed.recording.as_deref(), Some("a-c-r7"));
        missed.input(&Input::RecordingFinished {
            recording: "a-c-r7".into(),
            talking_ms: None,
        });
        assert_eq!(missed.recording, None);
    }
}
