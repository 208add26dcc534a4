//! How a call that was never answered ends: hangup cause, cause text and dial status
//! mapped to a result through the scenario's telephony policy.

use crate::core::scenario::Telephony;

/// The result of a customer leg destroyed before it was answered.
///
/// `rang_out`: the leg lived to the originate timeout, so it rang unanswered whatever
/// cause Asterisk gives then (19, or 0 "Unknown").
pub fn result_for(
    t: &Telephony,
    cause: u16,
    cause_txt: &str,
    dialstatus: Option<&str>,
    rang_out: bool,
) -> String {
    if rang_out && !matches!(dialstatus, Some("BUSY" | "CONGESTION" | "CHANUNAVAIL")) {
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

    #[test]
    fn follows_the_outcome_matrix() {
        let t = Telephony::default();
        assert_eq!(result_for(&t, 17, "User busy", Some("BUSY"), false), "busy");
        assert_eq!(
            result_for(&t, 20, "Subscriber absent", Some("CHANUNAVAIL"), false),
            "power_off"
        );
        assert_eq!(
            result_for(&t, 18, "No user responding", Some("NOANSWER"), false),
            "power_off"
        );
        assert_eq!(
            result_for(&t, 19, "User alerting, no answer", Some("NOANSWER"), false),
            "power_off"
        );
        assert_eq!(
            result_for(&t, 21, "Call Rejected", Some("NOANSWER"), false),
            "banned"
        );
        assert_eq!(
            result_for(
                &t,
                34,
                "Circuit/channel congestion",
                Some("CONGESTION"),
                false
            ),
            "banned"
        );
        assert_eq!(result_for(&t, 0, "Unknown", Some("BUSY"), false), "busy");
        assert_eq!(
            result_for(&t, 0, "Unknown", Some("CONGESTION"), false),
            "banned"
        );
        assert_eq!(
            result_for(&t, 19, "User alerting, no answer", Some("RINGING"), true),
            "missed"
        );
        assert_eq!(result_for(&t, 0, "Unknown", None, true), "missed");
        assert_eq!(result_for(&t, 0, "Unknown", None, false), "missed");
        assert_eq!(
            result_for(&t, 99, "Network congestion", None, false),
            "banned"
        );
    }
}
