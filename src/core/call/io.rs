//! What goes into and comes out of a [`super::CallMachine`]: small domain inputs and
//! commands that know nothing of ARI JSON (the `ari` module translates both ways).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::FailureReason;
use crate::core::scenario::NodeId;

/// A point on the caller's monotonic clock, in milliseconds. The machine never reads a
/// clock: every input comes with the time it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Millis(pub u64);

impl Millis {
    pub fn plus(self, ms: u64) -> Millis {
        Millis(self.0.saturating_add(ms))
    }

    pub fn since(self, earlier: Millis) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// A timer the machine asked for; it comes back as [`Input::Timer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerId(pub u32);

/// What the machine knows of the lead it calls (data, never instructions).
#[derive(Debug, Clone, Default)]
pub struct Lead {
    pub name: String,
    pub phone: String,
    pub timezone: String,
    pub custom: BTreeMap<String, String>,
}

/// Everything a call needs besides its scenario.
#[derive(Debug, Clone)]
pub struct CallSetup {
    /// The attempt's id; every id the machine sends is derived from it.
    pub attempt_id: String,
    pub lead: Lead,
    /// 1 for the first attempt at this lead.
    pub attempt: u32,
    /// The campaign's ring timeout, replacing the scenario's when set.
    pub ring_timeout_ms: Option<u64>,
    /// The campaign's safe-harbor rule for calls waiting on an agent, if it has agents.
    pub safe_harbor: Option<SafeHarbor>,
}

/// A customer who waits for an agent longer than `after_ms` (from entering
/// `connect_agent`) hears `prompt` and is hung up: the call is dropped (abandoned), as
/// telemarketing rules require (2 s in the US).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafeHarbor {
    pub after_ms: u64,
    /// A prompt of the scenario's prompt set.
    pub prompt: String,
}

/// Something that happened to the call, translated from ARI or produced by the runtime.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Asterisk refused an originate (HTTP 4xx/5xx). An originate whose outcome is unknown
    /// is not reported: the watchdog decides.
    OriginateFailed {
        channel: String,
        status: Option<u16>,
        message: String,
    },
    /// Any sign of life of a channel before it enters the app: Dial, state changes.
    ChannelProgress {
        channel: String,
        dialstatus: Option<String>,
    },
    /// The channel entered the app (`StasisStart`): answered, or back from a dialplan hop.
    StasisStarted {
        channel: String,
        args: Vec<String>,
    },
    /// The channel left the app (`StasisEnd`): a hop into the dialplan, or the end.
    StasisEnded {
        channel: String,
    },
    PlaybackStarted {
        playback: String,
    },
    /// `failed` when Asterisk could not play it (missing file, channel gone).
    PlaybackFinished {
        playback: String,
        failed: bool,
    },
    /// `talking_ms`: Asterisk's own (coarse, unreliable) measure of speech.
    RecordingFinished {
        recording: String,
        talking_ms: Option<u64>,
    },
    RecordingFailed {
        recording: String,
    },
    Dtmf {
        channel: String,
        digit: char,
    },
    /// `ChannelHangupRequest`: the far end (or we) hung up; the channel is going.
    HangupRequested {
        channel: String,
        cause: u16,
    },
    /// `ChannelDestroyed`, with Q.850 cause and Asterisk's text for it.
    ChannelGone {
        channel: String,
        cause: u16,
        cause_txt: String,
    },
    EnteredBridge {
        bridge: String,
        channel: String,
    },
    Timer(TimerId),
    /// The answer of speech-to-text and the intent classifier for a `Classify` command.
    Classified(Classification),
    /// A command other than originate, play and record that Asterisk refused.
    CommandFailed {
        what: String,
        status: Option<u16>,
    },
    /// The desk reserved `agent` for this call's `connect_agent`.
    AgentAssigned {
        agent: String,
        reach: AgentReach,
    },
    /// No desk runs (no agents configured): a `connect_agent` finds none at once.
    NoDesk,
    /// The agent bridged to the customer hung up from their screen (the agent API):
    /// the conversation is over, as if their leg had hung up. Ignored before the
    /// bridge and after the end.
    AgentHungUp,
    /// dialflow is stopping and the grace time is over: end the call now, hanging up
    /// (the result becomes `failed:shutdown`, unless a status was already reported).
    Shutdown,
}

/// The result of classifying a recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classification {
    Intent {
        intent: String,
        transcript: String,
    },
    /// Speech-to-text heard nothing.
    Empty,
    /// `reason` becomes `failed:<reason>`, e.g. `stt_failure`, `recording`.
    Failed {
        reason: String,
    },
    /// A provider refused for quota or balance: `stt_quota` or `llm_quota`.
    Quota {
        reason: String,
    },
}

impl Classification {
    /// A failure of dialflow's own classifier, routed by `failed`.
    pub fn failed(reason: FailureReason) -> Self {
        Classification::Failed {
            reason: reason.to_string(),
        }
    }

    /// A provider's quota refusal, routed by `quota`.
    pub fn quota(reason: FailureReason) -> Self {
        Classification::Quota {
            reason: reason.to_string(),
        }
    }
}

/// How to reach an agent the desk reserved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentReach {
    /// Ring their phone for this call (a logical name or a dial string).
    Ring { endpoint: String },
    /// Their leg is up in their own bridge: move the customer in.
    Nailed { bridge: String },
}

/// Which leg an originate is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leg {
    /// The lead; the runtime applies the campaign's prefix, trunk and caller id.
    Customer,
    /// A logical operator name and caller id, resolved by the configuration.
    Operator {
        operator: String,
        caller_id: Option<String>,
    },
    /// An agent's phone: a logical name resolved by the configuration, or a dial string.
    Agent { endpoint: String },
}

/// What the machine wants done. Ids are chosen by the machine.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Originate {
        channel: String,
        leg: Leg,
        timeout_ms: u64,
    },
    /// Play a prompt of the scenario's prompt set.
    Play {
        channel: String,
        playback: String,
        prompt: String,
    },
    StopPlayback {
        playback: String,
    },
    Record {
        channel: String,
        recording: String,
        max_duration_ms: u64,
        max_silence_ms: u64,
        beep: bool,
    },
    /// Send the channel through the dialplan's AMD hop; it comes back with `[amd, STATUS, CAUSE]`.
    ContinueToAmd {
        channel: String,
    },
    CreateBridge {
        bridge: String,
        /// A holding bridge (a customer waiting) rather than a mixing one.
        holding: bool,
    },
    /// Music on hold of `class` in a holding bridge.
    StartMoh {
        bridge: String,
        class: String,
    },
    AddToBridge {
        bridge: String,
        channels: Vec<String>,
    },
    DestroyBridge {
        bridge: String,
    },
    Hangup {
        channel: String,
    },
    StartTimer {
        timer: TimerId,
        after_ms: u64,
    },
    CancelTimer {
        timer: TimerId,
    },
    /// Fetch the recording and classify it; the answer comes back as [`Input::Classified`].
    Classify {
        recording: String,
        intents: Arc<[String]>,
        /// The scenario's words and patterns for its intents.
        rules: Arc<[crate::core::scenario::IntentRule]>,
        language: Option<String>,
    },
    /// Ask the desk for an agent of `queue` (answered by [`Input::AgentAssigned`]).
    RequestAgent {
        queue: String,
    },
    /// The agent reserved could not be reached: give them back (the call may ask again).
    ReleaseAgent,
    /// Customer and agent are bridged: the agent is on the call.
    AgentBridged,
    /// The call is done with agents: a request withdrawn, a reservation given back, the
    /// agent of a finished conversation to their wrap-up.
    EndAgentCall,
    /// The provisional result changed (persist it: it stands if the call ends now).
    SetResult {
        result: String,
    },
    Report(Report),
    /// The call is over; nothing more will be sent.
    Finish(Summary),
}

/// One report to the panel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub status: String,
    pub result: String,
    /// Only for statuses that carry it, and only when something was said.
    pub transcript: Option<String>,
}

/// One step of the path a call took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub node: NodeId,
    pub at: Millis,
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub result: String,
    pub status: String,
    pub transcript: Option<String>,
    pub answered_at: Option<Millis>,
    pub ended_at: Millis,
    pub path: Vec<Step>,
    /// What the call learned besides its result, for the lead table (seed 003).
    pub facts: CallFacts,
}

/// What a call learned along the way that its result alone does not say: the
/// answering-machine verdict and the digits the customer pressed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallFacts {
    /// `AMDSTATUS` (`HUMAN`, `MACHINE`, `NOTSURE`, `HANGUP`), when the call ran `amd`.
    pub amd_status: Option<String>,
    /// `AMDCAUSE` (`TOOLONG-5000`, `INITIALSILENCE-2500`, …).
    pub amd_cause: Option<String>,
    /// The last digits a `gather` took (a consent key).
    pub digits: Option<String>,
    /// The agent the customer was bridged to.
    pub agent: Option<String>,
    /// When the customer started waiting for an agent (entering `connect_agent`).
    pub queued_at: Option<Millis>,
    /// When they were bridged to one (ASA is this less the answer).
    pub agent_bridged_at: Option<Millis>,
    /// Dropped by the safe-harbor rule: answered, and no agent in time.
    pub dropped: bool,
}
