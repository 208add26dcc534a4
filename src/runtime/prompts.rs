//! How long a call's prompts really play against their audio: a busy PBX plays a prompt
//! slower than its WAV lasts, and that is the distress closest to what the customer
//! hears. One per call; the call task tells it what it asked to play and which events
//! came, and it answers each prompt's stretch for the health tracker.

use std::collections::HashMap;
use std::time::Instant;

/// A playback the call asked for.
#[derive(Debug)]
struct Watched {
    /// Its audio's length (from the prompt's WAV, read by the compiler), call ms.
    length_ms: u64,
    /// When its `PlaybackStarted` arrived.
    started: Option<Instant>,
    /// Stopped on purpose (barge-in, DTMF): it says nothing of the PBX's pace.
    stopped: bool,
}

/// The call's playbacks in progress.
#[derive(Debug, Default)]
pub(super) struct PromptWatch {
    playing: HashMap<String, Watched>,
}

impl PromptWatch {
    /// The call asked to play `playback`, whose audio lasts `length_ms` (none when the
    /// scenario was compiled without its prompt files: nothing to measure against).
    pub fn asked(&mut self, playback: &str, length_ms: Option<u64>) {
        if let Some(length_ms) = length_ms {
            let watched = Watched {
                length_ms,
                started: None,
                stopped: false,
            };
            self.playing.insert(playback.to_string(), watched);
        }
    }

    /// The call asked to stop `playback` before its end.
    pub fn stopping(&mut self, playback: &str) {
        if let Some(w) = self.playing.get_mut(playback) {
            w.stopped = true;
        }
    }

    /// `PlaybackStarted` for `playback` arrived at `at`.
    pub fn started(&mut self, playback: &str, at: Instant) {
        if let Some(w) = self.playing.get_mut(playback) {
            w.started.get_or_insert(at);
        }
    }

    /// `PlaybackFinished` for `playback` arrived at `at`: how much longer than its
    /// audio it played, in call ms at `speed` call ms per real ms (0 when on time).
    /// None when it says nothing of the PBX's pace: failed, stopped on purpose, or its
    /// start never seen. Both ends are arrival times, so a steady event lag and the
    /// offset between Asterisk's clock and ours cancel out.
    pub fn finished(
        &mut self,
        playback: &str,
        failed: bool,
        at: Instant,
        speed: f64,
    ) -> Option<u64> {
        let w = self.playing.remove(playback)?;
        let started = w.started?;
        if failed || w.stopped {
            return None;
        }
        let played_ms = at.saturating_duration_since(started).as_secs_f64() * 1000.0 * speed;
        Some((played_ms as u64).saturating_sub(w.length_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_prompt_played_past_its_length_is_stretched_by_the_difference() {
        let mut watch = PromptWatch::default();
        let t0 = Instant::now();
        watch.asked("a-p1", Some(2_000));
        watch.started("a-p1", t0);
        let end = t0 + Duration::from_millis(2_600);
        assert_eq!(watch.finished("a-p1", false, end, 1.0), Some(600));
        // At 10× a real 260 ms is 2,600 ms of call time.
        watch.asked("a-p2", Some(2_000));
        watch.started("a-p2", t0);
        let fast_end = t0 + Duration::from_millis(260);
        assert_eq!(watch.finished("a-p2", false, fast_end, 10.0), Some(600));
        // On time or early is no stretch.
        watch.asked("a-p3", Some(2_000));
        watch.started("a-p3", t0);
        let early = t0 + Duration::from_millis(1_990);
        assert_eq!(watch.finished("a-p3", false, early, 1.0), Some(0));
    }

    #[test]
    fn prompts_that_say_nothing_of_the_pace_are_not_measured() {
        let mut watch = PromptWatch::default();
        let t0 = Instant::now();
        let late = t0 + Duration::from_secs(10);
        // Stopped on purpose, failed, never started, length unknown, never asked.
        watch.asked("a-p1", Some(1_000));
        watch.started("a-p1", t0);
        watch.stopping("a-p1");
        assert_eq!(watch.finished("a-p1", false, late, 1.0), None);
        watch.asked("a-p2", Some(1_000));
        watch.started("a-p2", t0);
        assert_eq!(watch.finished("a-p2", true, late, 1.0), None);
        watch.asked("a-p3", Some(1_000));
        assert_eq!(watch.finished("a-p3", false, late, 1.0), None);
        watch.asked("a-p4", None);
        watch.started("a-p4", t0);
        assert_eq!(watch.finished("a-p4", false, late, 1.0), None);
        assert_eq!(watch.finished("a-p9", false, late, 1.0), None);
        assert!(watch.playing.is_empty(), "nothing kept after the end");
    }
}
