//! The simulated customers and operators, by the names of `shared/ari-traces/dialplan.conf`
//! (the dialplan the reference traces were recorded with), with its timings.

use crate::core::testcase::{Answer, CustomerScript, OperatorScript, UNANSWERED};

use super::pbx::Behaviour;

/// Every customer behaviour name, for mixes and messages.
pub const CUSTOMERS: &[&str] = &[
    "yes",
    "yes-hangup",
    "no",
    "number",
    "unknown",
    "silent",
    "human",
    "hangup-early",
    "machine",
    "dtmf1",
    "dtmf2",
    "busy",
    "busy-tone",
    "noanswer",
    "poweroff",
    "noresponse",
    "unavailable",
    "rejected",
    "congestion",
    "congestion-tone",
];

pub const OPERATORS: &[&str] = &["op-answer", "op-busy", "op-noanswer"];

/// The behaviour a phone number reaches on the simulated PBX: its last two digits, modulo
/// the number of behaviours, pick one in `CUSTOMERS` order (`…00` is `yes`, `…02` is
/// `no`, `…11` is `busy`, `…20` is `yes` again). So campaigns of real-looking E.164
/// numbers can run against `dialflow sim`. `None` for anything but digits (with an
/// optional leading `+`).
pub fn behaviour_of_number(exten: &str) -> Option<&'static str> {
    let digits = exten.strip_prefix('+').unwrap_or(exten);
    if digits.len() < 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let last_two: usize = digits[digits.len() - 2..].parse().ok()?;
    Some(CUSTOMERS[last_two % CUSTOMERS.len()])
}

/// A number (`prefix` followed by two digits) that reaches `behaviour` on the simulated
/// PBX; the inverse of `behaviour_of_number`.
pub fn number_for(prefix: &str, behaviour: &str) -> Option<String> {
    let index = CUSTOMERS.iter().position(|c| *c == behaviour)?;
    Some(format!("{prefix}{index:02}"))
}

/// The far end a dial string reaches: `Local/<name>@sim-customers` or
/// `Local/<name>@sim-operators`. `None` for anything else.
pub fn for_endpoint(endpoint: &str) -> Option<Behaviour> {
    let rest = endpoint.strip_prefix("Local/")?;
    let (exten, context) = rest.split_once('@')?;
    let context = context.split('/').next().unwrap_or(context);
    match context {
        "sim-customers" => customer(exten).map(Behaviour::Customer),
        "sim-operators" => operator(exten).map(Behaviour::Operator),
        _ => None,
    }
}

fn says(text: &[&str], hangs_up_at_ms: u64) -> CustomerScript {
    CustomerScript {
        answer: Answer::After(2),
        says: text.iter().map(|t| t.to_string()).collect(),
        speech_ms: Vec::new(),
        hangs_up_at_ms: Some(hangs_up_at_ms),
        presses: Vec::new(),
        amd: "HUMAN".into(),
    }
}

/// Speech at the times `dialplan.conf` plays it (after a 4.5 s silence, …).
fn spoken(script: CustomerScript, timeline: &[(u64, u64)]) -> CustomerScript {
    CustomerScript {
        speech_ms: timeline.to_vec(),
        ..script
    }
}

/// A customer of `dialplan.conf` (timings from its header: silence 4.5 s, then speech).
pub fn customer(name: &str) -> Option<CustomerScript> {
    let name = behaviour_of_number(name).unwrap_or(name);
    let script = match name {
        "yes" => spoken(says(&["Yes, I am interested."], 26_480), &[(4_500, 1_980)]),
        "yes-hangup" => spoken(says(&["Yes, I am interested."], 18_480), &[(4_500, 1_980)]),
        "no" => spoken(says(&["No, thank you."], 26_180), &[(4_500, 1_680)]),
        "number" => spoken(
            says(
                &["Where did you get my number?", "Yes, I am interested."],
                39_390,
            ),
            &[(4_500, 1_910), (17_410, 1_980)],
        ),
        "unknown" => spoken(says(&["Who is this?"], 25_680), &[(4_500, 1_180)]),
        "silent" => says(&[""], 20_000),
        "human" => says(&[], 21_210),
        "hangup-early" => says(&[], 1_000),
        "machine" => CustomerScript {
            amd: "MACHINE".into(),
            ..says(&[], 32_300)
        },
        "dtmf1" | "dtmf2" => CustomerScript {
            presses: vec![(if name == "dtmf1" { '1' } else { '2' }, 4_210)],
            ..says(&[], 24_210)
        },
        other => {
            let (_, answer) = UNANSWERED.iter().find(|(n, _)| *n == other)?;
            CustomerScript {
                answer: answer.clone(),
                ..CustomerScript::default()
            }
        }
    };
    Some(script)
}

pub fn operator(name: &str) -> Option<OperatorScript> {
    Some(match name {
        "op-answer" => OperatorScript::Answer,
        "op-busy" => OperatorScript::Busy,
        "op-noanswer" => OperatorScript::NoAnswer,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_resolves() {
        for c in CUSTOMERS {
            assert!(
                for_endpoint(&format!("Local/{c}@sim-customers")).is_some(),
                "{c}"
            );
        }
        for o in OPERATORS {
            assert!(
                for_endpoint(&format!("Local/{o}@sim-operators")).is_some(),
                "{o}"
            );
        }
        assert!(for_endpoint("Local/nosuch@nowhere").is_none());
        assert!(for_endpoint("PJSIP/foo").is_none());
    }
}
