//! Test cases written inside scenario files (`tests:`), compiled and validated with the
//! scenario and run by `dialflow test` against a simulated call.

use crate::core::call::{Classification, Lead};
use crate::core::expr::Value;

/// What the simulated customer's phone does when called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Answers after this many milliseconds.
    After(u64),
    /// Never answers: the far end hangs up with a cause (busy, poweroff, …).
    Hangup {
        cause: u16,
        cause_txt: &'static str,
        dialstatus: &'static str,
    },
    /// Rings until the originate timeout.
    NoAnswer,
    /// Asterisk sends no event at all for the channel.
    Lost,
    /// Asterisk refuses the originate (HTTP 500).
    Refused,
}

/// The customer behaviours of `shared/ari-traces/dialplan.conf` that end before answer.
pub const UNANSWERED: &[(&str, Answer)] = &[
    (
        "busy",
        Answer::Hangup {
            cause: 17,
            cause_txt: "User busy",
            dialstatus: "BUSY",
        },
    ),
    (
        "busy-tone",
        Answer::Hangup {
            cause: 0,
            cause_txt: "Unknown",
            dialstatus: "BUSY",
        },
    ),
    (
        "poweroff",
        Answer::Hangup {
            cause: 20,
            cause_txt: "Subscriber absent",
            dialstatus: "CHANUNAVAIL",
        },
    ),
    (
        "noresponse",
        Answer::Hangup {
            cause: 18,
            cause_txt: "No user responding",
            dialstatus: "NOANSWER",
        },
    ),
    (
        "unavailable",
        Answer::Hangup {
            cause: 19,
            cause_txt: "User alerting, no answer",
            dialstatus: "NOANSWER",
        },
    ),
    (
        "rejected",
        Answer::Hangup {
            cause: 21,
            cause_txt: "Call Rejected",
            dialstatus: "NOANSWER",
        },
    ),
    (
        "congestion",
        Answer::Hangup {
            cause: 34,
            cause_txt: "Circuit/channel congestion",
            dialstatus: "CONGESTION",
        },
    ),
    (
        "congestion-tone",
        Answer::Hangup {
            cause: 0,
            cause_txt: "Unknown",
            dialstatus: "CONGESTION",
        },
    ),
    ("noanswer", Answer::NoAnswer),
    ("lost", Answer::Lost),
    ("refused", Answer::Refused),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperatorScript {
    Answer,
    Busy,
    NoAnswer,
    Refused,
}

#[derive(Debug, Clone)]
pub struct CustomerScript {
    pub answer: Answer,
    /// What the customer says into each recording.
    pub says: Vec<String>,
    /// When each of `says` is spoken (start after answer, length), for simulations that
    /// follow a timeline (the dialplan customers); empty: every recording catches one.
    pub speech_ms: Vec<(u64, u64)>,
    pub hangs_up_at_ms: Option<u64>,
    /// (digit, milliseconds after answer)
    pub presses: Vec<(char, u64)>,
    /// HUMAN, MACHINE or NOTSURE.
    pub amd: String,
}

impl Default for CustomerScript {
    fn default() -> Self {
        Self {
            answer: Answer::After(2_000),
            says: Vec::new(),
            speech_ms: Vec::new(),
            hangs_up_at_ms: None,
            presses: Vec::new(),
            amd: "HUMAN".into(),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Expectations {
    pub result: Option<String>,
    pub status: Option<String>,
    pub path: Option<Vec<String>>,
    pub transcript_sent: Option<bool>,
    pub reports: Option<Vec<String>>,
    pub vars: Vec<(String, Value)>,
}

#[derive(Debug, Clone)]
pub struct TestCase {
    pub name: String,
    /// Line of the case in the scenario file, for failure messages.
    pub line: u32,
    pub customer: CustomerScript,
    pub operator: OperatorScript,
    /// The stubbed classifier's answer per recording, in order; a recording past its end
    /// is classified by the scenario's own word rules over what the customer says.
    pub classify: Vec<Classification>,
    pub lead: Lead,
    pub attempt: u32,
    pub expect: Expectations,
}

/// How a test case's n-th recording is classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stubbed<'a> {
    /// The case's `classify:` entry: used as it is.
    Stub(&'a Classification),
    /// No entry: what the customer said (empty when nothing), for the scenario's rules.
    Said(&'a str),
}

impl TestCase {
    /// The n-th recording's (0-based) stubbed answer, or what was said into it. The word
    /// rules live outside the pure core (`classify::rules`), so the caller applies them.
    pub fn classification(&self, n: usize) -> Stubbed<'_> {
        match self.classify.get(n) {
            Some(stub) => Stubbed::Stub(stub),
            None => Stubbed::Said(self.customer.says.get(n).map_or("", String::as_str)),
        }
    }
}
