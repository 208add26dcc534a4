//! The PBX's capacity, learned from the calls: how many calls at once it carried before
//! it showed distress. The pacing's distress factor slows originates once a signal has
//! risen, but a saturated PBX spoils media at once (a stretched prompt, a cut
//! recording), and holding originates cannot take load off it: only calls ending do. So
//! the first sign of strain (a prompt a little late, events a little late, requests
//! queueing) sets a ceiling just under the calls in flight then, and no new call
//! starts over it. The ceiling stays after the distress has cleared, where the factor
//! alone would let the load climb back into the same trouble; it rises by one call at
//! a time after clean spells, but not back to a load that strained the PBX (each try
//! would spoil media again) until that has been forgotten after a long clean time, in
//! case the PBX carries more now.
//!
//! REST latency is left out on purpose: it includes the network's round trip, which a
//! PBX far away pays at every load. The signals used here are relative by nature (event
//! lag has the clocks' offset taken off, a prompt's stretch is against its own audio,
//! the queue is dialflow's own).

use super::pacing::{Distress, HEALTHY_ERROR_RATIO};

/// Event lag over this is the PBX falling behind.
pub const ONSET_EVENT_LAG_MS: u64 = 50;
/// Prompts playing this much longer than their audio are the PBX falling behind.
pub const ONSET_PROMPT_STRETCH_MS: u64 = 50;
/// Requests waiting this long for an ARI connection: more asked than answered.
pub const ONSET_QUEUE_WAIT_MS: u64 = 50;
/// After the ceiling moved, how long (call time) before distress may lower it again:
/// the strain of calls started before the ceiling takes a while to clear, and must not
/// push the ceiling down again and again for the same overload.
pub const SETTLE_MS: u64 = 10_000;
/// Strain must last this long (call time) before it counts: a burst of late events
/// on a busy network is not a PBX out of breath, and each one taken for strain would
/// take a call off the ceiling.
pub const CONFIRM_MS: u64 = 250;
/// A clean spell this long (call time) raises the ceiling by one call.
pub const PROBE_AFTER_MS: u64 = 30_000;
/// A clean spell this long (call time) forgets the load that strained the PBX.
pub const FORGET_AFTER_MS: u64 = 600_000;

/// Whether `d` shows the first sign of strain.
pub fn strained(d: &Distress) -> bool {
    d.event_lag_ms.max(d.recent_event_lag_ms) > ONSET_EVENT_LAG_MS
        || d.prompt_stretch_ms > ONSET_PROMPT_STRETCH_MS
        || d.queue_wait_ms > ONSET_QUEUE_WAIT_MS
        || d.error_ratio.is_nan()
        || d.error_ratio > HEALTHY_ERROR_RATIO
}

/// The learned ceiling on calls at once, over every campaign and batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapacityCeiling {
    ceiling: Option<u32>,
    /// When the ceiling last moved (or strain was last seen, before any ceiling).
    moved_at_ms: u64,
    /// When strain (lasting `CONFIRM_MS`) was last seen.
    strained_at_ms: Option<u64>,
    /// When the strain seen now began; `None` while clean.
    strain_began_ms: Option<u64>,
    /// When any strain, lasting or not, was last seen: no clean time.
    unclean_at_ms: Option<u64>,
    /// The calls in flight when strain first showed.
    first_strain_at: Option<u32>,
    /// The fewest calls in flight at which strain began after a clean spell: the
    /// ceiling does not climb back to it.
    strained_load: Option<u32>,
}

impl CapacityCeiling {
    /// Distress `d` seen at `now_ms` (call time) with `in_flight` calls up.
    /// Strain with no call up says nothing of how many calls the PBX carries (someone
    /// else loads it): it sets no ceiling, but is no clean time either.
    pub fn observe(&mut self, now_ms: u64, in_flight: u32, d: &Distress) {
        if !strained(d) {
            self.strain_began_ms = None;
            self.clean(now_ms);
            return;
        }
        self.unclean_at_ms = Some(now_ms);
        let began = *self.strain_began_ms.get_or_insert(now_ms);
        if in_flight > 0 && now_ms.saturating_sub(began) >= CONFIRM_MS {
            self.lasting_strain(now_ms, in_flight);
        }
    }

    /// Strain that has lasted, with `in_flight` calls up.
    fn lasting_strain(&mut self, now_ms: u64, in_flight: u32) {
        let onset = self
            .strained_at_ms
            .is_none_or(|at| now_ms.saturating_sub(at) >= SETTLE_MS);
        if onset {
            // Strain begun now, not the tail of an earlier one. It is seen a while
            // after it begins (a stretched prompt at its end), and calls may have
            // started meanwhile: one call fewer than now is taken as too much.
            let load = in_flight.saturating_sub(1).max(1);
            self.strained_load = Some(self.strained_load.map_or(load, |l| l.min(load)));
        }
        self.strained_at_ms = Some(now_ms);
        self.first_strain_at.get_or_insert(in_flight);
        let settled = now_ms.saturating_sub(self.moved_at_ms) >= SETTLE_MS;
        let under = in_flight.saturating_sub(1).max(1);
        match self.ceiling {
            None => self.lower_to(now_ms, under),
            Some(c) if (settled || onset) && under < c => {
                // Strain that outlasted a lowering: one call more than now was
                // already too much, whatever the load that started it.
                let known = self.strained_load.unwrap_or(u32::MAX);
                self.strained_load = Some(known.min(in_flight.saturating_add(1)));
                self.lower_to(now_ms, under);
            }
            Some(_) => {}
        }
    }

    /// A clean look at `now_ms`: a long enough clean spell raises the ceiling.
    fn clean(&mut self, now_ms: u64) {
        let Some(c) = self.ceiling else { return };
        let clean_since = self.unclean_at_ms.unwrap_or(0).max(self.moved_at_ms);
        let clean_ms = now_ms.saturating_sub(clean_since);
        if clean_ms >= FORGET_AFTER_MS {
            self.strained_load = None;
        }
        let below_strain = self.strained_load.is_none_or(|l| c.saturating_add(1) < l);
        if clean_ms >= PROBE_AFTER_MS && below_strain {
            self.ceiling = Some(c.saturating_add(1));
            self.moved_at_ms = now_ms;
        }
    }

    fn lower_to(&mut self, now_ms: u64, ceiling: u32) {
        self.ceiling = Some(ceiling);
        self.moved_at_ms = now_ms;
    }

    /// Most calls at once, over everything dialflow dials; `None` before any strain.
    pub fn ceiling(&self) -> Option<u32> {
        self.ceiling
    }

    /// The calls in flight when the PBX first showed strain.
    pub fn first_strain_at(&self) -> Option<u32> {
        self.first_strain_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stretched(ms: u64) -> Distress {
        Distress {
            prompt_stretch_ms: ms,
            ..Distress::default()
        }
    }

    #[test]
    fn strain_sets_a_ceiling_under_the_calls_up_which_stays_then_rises_slowly() {
        let mut c = CapacityCeiling::default();
        c.observe(0, 12, &Distress::default());
        assert_eq!(c.ceiling(), None, "no strain, no ceiling");
        c.observe(750, 12, &stretched(90));
        assert_eq!(c.ceiling(), None, "not yet lasting");
        c.observe(1_000, 12, &stretched(90));
        assert_eq!(c.ceiling(), Some(11));
        // The same overload, still showing while the calls drain: no lower yet.
        c.observe(5_000, 9, &stretched(90));
        assert_eq!(c.ceiling(), Some(11));
        // Settled and still strained: lowered under the calls up now.
        c.observe(11_000, 9, &stretched(90));
        assert_eq!(c.ceiling(), Some(8));
        // Clean again: the ceiling holds, then rises by one per clean spell.
        c.observe(20_000, 8, &Distress::default());
        assert_eq!(c.ceiling(), Some(8));
        c.observe(11_000 + PROBE_AFTER_MS, 8, &Distress::default());
        assert_eq!(c.ceiling(), Some(9));
        c.observe(11_000 + PROBE_AFTER_MS + 1_000, 9, &Distress::default());
        assert_eq!(c.ceiling(), Some(9));
        assert_eq!(c.first_strain_at(), Some(12));
        // Up to just under the load the strain outlasted (9 calls up, so 10), and no
        // further.
        let mut now = 11_000 + PROBE_AFTER_MS;
        for _ in 0..5 {
            now += PROBE_AFTER_MS;
            c.observe(now, 9, &Distress::default());
        }
        assert_eq!(c.ceiling(), Some(9));
        // Forgotten after a long clean time: it tries more again.
        c.observe(now + FORGET_AFTER_MS, 9, &Distress::default());
        assert_eq!(c.ceiling(), Some(10));
    }

    #[test]
    fn strain_with_no_call_up_sets_no_ceiling() {
        let mut c = CapacityCeiling::default();
        c.observe(1_000, 0, &stretched(900));
        c.observe(2_000, 0, &stretched(900));
        assert_eq!((c.ceiling(), c.first_strain_at()), (None, None));
    }

    #[test]
    fn a_short_burst_of_strain_takes_nothing_off() {
        let mut c = CapacityCeiling::default();
        for at in [0, 100, 200, 300] {
            let d = if at == 300 {
                Distress::default()
            } else {
                stretched(90)
            };
            c.observe(at, 12, &d);
        }
        // Strain again, 200 ms of it: a new burst, counted from its own start.
        c.observe(400, 12, &stretched(90));
        c.observe(600, 12, &stretched(90));
        assert_eq!(c.ceiling(), None);
        c.observe(650, 12, &stretched(90));
        assert_eq!(c.ceiling(), Some(11), "lasting");
    }

    #[test]
    fn what_counts_as_strain() {
        assert!(!strained(&Distress::default()));
        assert!(!strained(&stretched(ONSET_PROMPT_STRETCH_MS)));
        assert!(strained(&stretched(ONSET_PROMPT_STRETCH_MS + 1)));
        let lag = Distress {
            event_lag_ms: 60,
            ..Distress::default()
        };
        assert!(strained(&lag));
        // A far PBX's round trip is not strain.
        let far = Distress {
            rest_latency_ms: 180,
            ..Distress::default()
        };
        assert!(!strained(&far));
        let unknown = Distress {
            error_ratio: f64::NAN,
            ..Distress::default()
        };
        assert!(strained(&unknown));
    }
}
