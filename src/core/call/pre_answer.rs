//! How a call that was never answered ends: hangup cause, cause text and dial status
//! mapped to a result through the scenario's telephony policy.
//!
//! The events decide before dialflow's clock does. Asterisk ending a dial at the
//! originate timeout destroys the channel with cause 19 and sends no final `Dial` (the
//! last dial status is RINGING, NOTES.md); a far end answering `Hangup(19)` sends a final
//! `Dial` NOANSWER first. Only when the events leave it open (no final `Dial`, a cause
//! other than 19, as the 0 "Unknown" some timeouts give) does the ring timer decide.

use crate::core::scenario::Telephony;

/// Q.850 cause 19, "User alerting, no answer": what Asterisk gives at the originate
/// timeout, and what a far end may send itself.
const ALERTING_NO_ANSWER: u16 = 19;

/// Whether a dial status ends the dial (`ANSWER`, `BUSY`, `NOANSWER`, …) rather than
/// report its progress (empty, `RINGING`, `PROGRESS`, `PROCEEDING`).
pub fn is_final_dialstatus(dialstatus: &str) -> bool {
    !matches!(dialstatus, "" | "RINGING" | "PROGRESS" | "PROCEEDING")
}

/// The result of a customer leg destroyed before it was answered.
///
/// `dialstatus`: the last one the leg's `Dial` events gave (none: no `Dial` said one).
/// `rang_out`: by dialflow's clock, the leg lived to the originate timeout; it counts
/// only when no final `Dial` came, since a final one says who ended the dial.
pub fn result_for(
    t: &Telephony,
    cause: u16,
    cause_txt: &str,
    dialstatus: Option<&str>,
    rang_out: bool,
) -> String {
    let dial_ended = dialstatus.is_some_and(is_final_dialstatus);
    if !dial_ended && (cause == ALERTING_NO_ANSWER || rang_out) {
        return t.rang_out_result.clone();
    }
    if cause != 0
        && let Some((result, _)) = t.causes.iter().find(|(_, causes)| causes.contains(&cause))
    {
        return result.clone();
    }
    let text = cause_txt.to_lowercase();
    if !text.is_empty()
        && let Some((result, _)) = t
            .cause_text
            .iter()
            .find(|(_, parts)| parts.iter().any(|p| text.contains(p.as_str())))
    {
        return result.clone();
    }
    // Busy() and Congestion() hang up with cause 0 and say it only in the dial status:
    // use the result that the matching Q.850 cause maps to.
    let equivalent = match dialstatus {
        Some("BUSY") => Some(17),
        Some("CONGESTION") => Some(34),
        Some("CHANUNAVAIL") => Some(20),
        _ => None,
    };
    if let Some(code) = equivalent
        && let Some((result, _)) = t.causes.iter().find(|(_, causes)| causes.contains(&code))
    {
        return result.clone();
    }
    t.other_result.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One row of the outcome matrix: cause, cause text, last dial status, whether
    /// dialflow's clock says the leg rang to the timeout, and the result.
    type Row = (u16, &'static str, Option<&'static str>, bool, &'static str);

    fn check(rows: &[Row]) {
        let t = Telephony::default();
        for &(cause, text, dialstatus, rang_out, expected) in rows {
            assert_eq!(
                result_for(&t, cause, text, dialstatus, rang_out),
                expected,
                "cause {cause} {text:?}, dial status {dialstatus:?}, rang out {rang_out}"
            );
        }
    }

    #[test]
    fn a_far_end_that_ends_the_dial_is_mapped_by_the_table() {
        check(&[
            (17, "User busy", Some("BUSY"), false, "busy"),
            (
                20,
                "Subscriber absent",
                Some("CHANUNAVAIL"),
                false,
                "power_off",
            ),
            (
                18,
                "No user responding",
                Some("NOANSWER"),
                false,
                "power_off",
            ),
            (
                19,
                "User alerting, no answer",
                Some("NOANSWER"),
                false,
                "power_off",
            ),
            (21, "Call Rejected", Some("NOANSWER"), false, "banned"),
            (
                34,
                "Circuit/channel congestion",
                Some("CONGESTION"),
                false,
                "banned",
            ),
            (0, "Unknown", Some("BUSY"), false, "busy"),
            (0, "Unknown", Some("CONGESTION"), false, "banned"),
            (99, "Network congestion", None, false, "banned"),
            (0, "Unknown", None, false, "missed"),
        ]);
    }

    #[test]
    fn cause_19_without_a_final_dial_is_a_ring_out_whatever_the_clock_says() {
        // The simulator at --speed 10 ends the ringing ten times sooner than dialflow's
        // clock expects: the events alone must say `missed` (noanswer.jsonl).
        check(&[
            (
                19,
                "User alerting, no answer",
                Some("RINGING"),
                false,
                "missed",
            ),
            (
                19,
                "User alerting, no answer",
                Some("PROGRESS"),
                false,
                "missed",
            ),
            (19, "User alerting, no answer", None, false, "missed"),
            (
                19,
                "User alerting, no answer",
                Some("RINGING"),
                true,
                "missed",
            ),
        ]);
    }

    #[test]
    fn a_final_dial_outweighs_the_clock() {
        // A far end's Hangup(19) just at our timeout still sent its final Dial NOANSWER.
        check(&[
            (
                19,
                "User alerting, no answer",
                Some("NOANSWER"),
                true,
                "power_off",
            ),
            (17, "User busy", Some("BUSY"), true, "busy"),
            (0, "Unknown", Some("CONGESTION"), true, "banned"),
            (
                20,
                "Subscriber absent",
                Some("CHANUNAVAIL"),
                true,
                "power_off",
            ),
        ]);
    }

    #[test]
    fn the_clock_decides_when_the_events_leave_it_open() {
        // Some timeouts give cause 0 "Unknown" with no final Dial: only the clock knows.
        check(&[
            (0, "Unknown", Some("RINGING"), true, "missed"),
            (0, "Unknown", None, true, "missed"),
            (18, "No user responding", Some("RINGING"), true, "missed"),
            (
                18,
                "No user responding",
                Some("RINGING"),
                false,
                "power_off",
            ),
        ]);
    }

    #[test]
    fn progress_statuses_are_not_final() {
        for status in ["", "RINGING", "PROGRESS", "PROCEEDING"] {
            assert!(!is_final_dialstatus(status), "{status}");
        }
        for status in [
            "ANSWER",
            "BUSY",
            "NOANSWER",
            "CANCEL",
            "CONGESTION",
            "CHANUNAVAIL",
        ] {
            assert!(is_final_dialstatus(status), "{status}");
        }
    }

    #[test]
    fn a_scenarios_own_ring_out_result_is_used() {
        let t = Telephony {
            rang_out_result: "no_pickup".into(),
            ..Telephony::default()
        };
        assert_eq!(
            result_for(&t, 19, "User alerting, no answer", Some("RINGING"), false),
            "no_pickup"
        );
    }
}
