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

/// The far end a dial string reaches: `Local/<name>@sim-customers`,
/// `Local/<name>@sim-operators` or `Local/<name>@sim-agents`. `None` for anything else.
pub fn for_endpoint(endpoint: &str) -> Option<Behaviour> {
    let rest = endpoint.strip_prefix("Local/")?;
    let (exten, context) = rest.split_once('@')?;
    let (context, params) = context.split_once('/').unwrap_or((context, ""));
    match context {
        "sim-crowd" => crowd(exten, params).map(Behaviour::Customer),
        "sim-customers" => customer(exten).map(Behaviour::Customer),
        "sim-operators" => operator(exten).map(Behaviour::Operator),
        "sim-agents" => agent(exten).map(Behaviour::Customer),
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

/// A customer of a crowd (`Local/<number>@sim-crowd/<answer %>/<handle s>`): from a
/// hash of the number, answers with that probability after ringing 3–12 s, and talks
/// for half to one and a half times the handle time; the others ring out. For call
/// centre simulations with many numbers (the agents benchmark).
pub fn crowd(number: &str, params: &str) -> Option<CustomerScript> {
    let (answer, handle) = params.split_once('/')?;
    let answer_pct: u64 = answer.parse().ok()?;
    let handle_ms = handle.parse::<u64>().ok()? * 1000;
    let h = fnv(number);
    if h % 100 >= answer_pct {
        return Some(CustomerScript {
            answer: Answer::NoAnswer,
            ..CustomerScript::default()
        });
    }
    let ring_ms = 3_000 + (h >> 8) % 9_001;
    let talk_ms = handle_ms / 2 + (h >> 24) % (handle_ms + 1);
    Some(CustomerScript {
        answer: Answer::After(ring_ms),
        hangs_up_at_ms: Some(talk_ms),
        amd: "HUMAN".into(),
        ..CustomerScript::default()
    })
}

/// How long a simulated agent's phone rings before they pick up.
pub const AGENT_ANSWER_MS: u64 = 800;

/// A simulated agent's phone: `<name>` answers and stays until the call ends;
/// `<name>-<seconds>s` hangs up that long after answering (the talk time);
/// `<name>-<min>-<max>s` after a time between the two, drawn from the name itself so a
/// run repeats.
pub fn agent(exten: &str) -> Option<CustomerScript> {
    let talk_ms = match exten
        .rsplit_once('-')
        .and_then(|(rest, last)| Some((rest, last.strip_suffix('s')?.parse::<u64>().ok()?)))
    {
        Some((rest, most)) => match rest.rsplit_once('-').map(|(_, v)| v.parse::<u64>()) {
            Some(Ok(least)) if least <= most => {
                let spread = (most - least) * 1000;
                Some(least * 1000 + fnv(exten) % (spread + 1))
            }
            _ => Some(most * 1000),
        },
        None => None,
    };
    Some(CustomerScript {
        answer: Answer::After(AGENT_ANSWER_MS),
        hangs_up_at_ms: talk_ms,
        amd: "HUMAN".into(),
        ..CustomerScript::default()
    })
}

/// FNV-1a of a name: a repeatable draw.
fn fnv(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
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
    fn a_crowd_answers_at_its_rate_and_talks_about_its_handle_time() {
        let scripts: Vec<CustomerScript> = (0..2_000)
            .map(|i| crowd(&format!("+1555{i:07}"), "30/60").unwrap())
            .collect();
        let answering: Vec<&CustomerScript> = scripts
            .iter()
            .filter(|s| matches!(s.answer, Answer::After(_)))
            .collect();
        let share = answering.len() as f64 / scripts.len() as f64;
        assert!((0.26..0.34).contains(&share), "{share}");
        let talk: u64 = answering.iter().map(|s| s.hangs_up_at_ms.unwrap()).sum();
        let mean = talk as f64 / answering.len() as f64;
        assert!((55_000.0..65_000.0).contains(&mean), "{mean}");
        assert!(crowd("+15550000001", "thirty/60").is_none());
    }

    #[test]
    fn agents_answer_and_talk_as_their_names_say() {
        let stays = agent("ann").unwrap();
        assert_eq!(stays.hangs_up_at_ms, None);
        assert!(matches!(stays.answer, Answer::After(AGENT_ANSWER_MS)));
        assert_eq!(agent("ann-45s").unwrap().hangs_up_at_ms, Some(45_000));
        let drawn = agent("bob-30-90s").unwrap().hangs_up_at_ms.unwrap();
        assert!((30_000..=90_000).contains(&drawn), "{drawn}");
        assert_eq!(agent("bob-30-90s").unwrap().hangs_up_at_ms, Some(drawn));
        assert!(matches!(
            for_endpoint("Local/ann-45s@sim-agents"),
            Some(Behaviour::Customer(_))
        ));
    }

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
