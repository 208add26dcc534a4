//! A simulated Asterisk: answers the ARI requests dialflow makes and produces the events a
//! real Asterisk 22 sends for them (`shared/ari-traces`), on whatever clock drives it.
//!
//! Pure and time-driven: `request(now, …)` answers a request and schedules what follows;
//! `pop_due(until)` hands out the events due by then. Scripted tests drive it on a virtual
//! clock; the HTTP/WebSocket simulator drives it in (compressed) real time.
//!
//! With a capacity (`with_saturation`), media degrades past it as on an overloaded
//! Asterisk: prompts play longer and recordings keep less than they ran for, by the
//! load (channels up) when they are asked for (`sim::saturation`).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

use serde_json::{Value, json};

use crate::ari::Route;
use crate::ari::json as ari;
use crate::core::testcase::{Answer, CustomerScript, OperatorScript};

use super::saturation::{Saturation, Spoiled, cut_words};

/// What a simulated far end does.
#[derive(Debug, Clone)]
pub enum Behaviour {
    Customer(CustomerScript),
    Operator(OperatorScript),
}

/// An answer to a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub body: Option<Value>,
}

impl Response {
    fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            body: Some(body),
        }
    }
    fn empty(status: u16) -> Self {
        Self { status, body: None }
    }
    fn message(status: u16, text: &str) -> Self {
        Self::json(status, json!({ "message": text }))
    }
}

/// How long a simulated customer speaks when they say something.
pub const SPEECH_MS: u64 = 2_000;
const AMD_HUMAN_MS: u64 = 2_100;
const AMD_MACHINE_MS: u64 = 14_000;
const AMD_NOTSURE_MS: u64 = 5_000;
/// How long an operator's phone rings before the operator answers (`Answer()` at once).
const OPERATOR_ANSWER_MS: u64 = 2;

#[derive(Debug)]
enum Action {
    Emit(Value),
    Answer(String),
    CustomerHangsUp(String),
    Press(String, char),
}

#[derive(Debug)]
struct Chan {
    name: String,
    behaviour: Behaviour,
    up: bool,
    gone: bool,
    in_stasis: bool,
    busy_until: u64,
    answered_at: Option<u64>,
    recordings: usize,
    bridge: Option<String>,
    /// Scheduled actions to drop if the channel goes (its far end's own plans).
    plans: Vec<u64>,
    /// The Stasis application it was originated into, and the args it is (or will be,
    /// once answered or back from the AMD hop) there with: a channel's `dialplan` shows
    /// them, as `Stasis` with `app,args…` (reminder_human_accept.jsonl).
    app: String,
    stasis_args: Vec<String>,
}

#[derive(Debug)]
struct Playback {
    channel: String,
    media: String,
    finish: Option<u64>,
    /// When it starts playing and when it ends (never, for an unknown media scheme).
    starts: u64,
    ends: Option<u64>,
}

/// A recording in progress: Asterisk lists it under `/recordings/live` until it ends,
/// then forgets it; the file it leaves is the stored recording.
#[derive(Debug)]
struct LiveRecording {
    channel: String,
    format: String,
    starts: u64,
    ends: u64,
}

/// Finds the far end an endpoint (dial string) reaches.
type Resolver = Box<dyn Fn(&str) -> Option<Behaviour> + Send>;

/// The simulated PBX.
pub struct Pbx {
    now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    actions: HashMap<u64, Action>,
    channels: HashMap<String, Chan>,
    playbacks: HashMap<String, Playback>,
    /// Recordings by name → what the customer said into it (stored once it ends).
    recordings: BTreeMap<String, String>,
    live_recordings: HashMap<String, LiveRecording>,
    bridges: HashMap<String, bool>,
    /// Media name (`hello` of `sound:dialer/hello`) → length in milliseconds.
    prompts: HashMap<String, u64>,
    resolve: Resolver,
    counter: u64,
    /// Past its capacity, media degrades (`saturation`); what it spoiled is counted.
    saturation: Saturation,
    spoiled: Spoiled,
}

/// How a far end answers an originate: a customer as scripted, an operator by kind.
fn answer_of(behaviour: &Behaviour) -> Answer {
    match behaviour {
        Behaviour::Customer(script) => script.answer.clone(),
        Behaviour::Operator(OperatorScript::Answer) => Answer::After(OPERATOR_ANSWER_MS),
        Behaviour::Operator(OperatorScript::Busy) => Answer::Hangup {
            cause: 17,
            cause_txt: "User busy",
            dialstatus: "BUSY",
        },
        Behaviour::Operator(_) => Answer::NoAnswer,
    }
}

impl Pbx {
    /// `prompts`: the length of every sound it can play; `resolve`: the far end an
    /// endpoint reaches (`None`: the endpoint's technology does not exist).
    pub fn new(
        prompts: HashMap<String, u64>,
        resolve: impl Fn(&str) -> Option<Behaviour> + Send + 'static,
    ) -> Self {
        Self {
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            actions: HashMap::new(),
            channels: HashMap::new(),
            playbacks: HashMap::new(),
            recordings: BTreeMap::new(),
            live_recordings: HashMap::new(),
            bridges: HashMap::new(),
            prompts,
            resolve: Box::new(resolve),
            counter: 0,
            saturation: Saturation::default(),
            spoiled: Spoiled::default(),
        }
    }

    /// The same PBX, degrading past a capacity (see `saturation`).
    pub fn with_saturation(mut self, saturation: Saturation) -> Self {
        self.saturation = saturation;
        self.spoiled.capacity = saturation.capacity();
        self
    }

    /// Channels up now: the load the saturation model reads.
    pub fn load(&self) -> usize {
        self.spoiled.load
    }

    /// What the saturation has spoiled so far (the REST and event peaks are the
    /// server's to fill in).
    pub fn spoiled(&self) -> Spoiled {
        self.spoiled.clone()
    }

    /// A channel went up (`true`) or down; counted once per change.
    fn note_up(&mut self, up: bool) {
        let load = if up {
            self.spoiled.load + 1
        } else {
            self.spoiled.load.saturating_sub(1)
        };
        self.spoiled.note_load(load);
    }

    /// When the next event or far-end action is due.
    pub fn next_due(&self) -> Option<u64> {
        self.queue.peek().map(|Reverse((at, _))| *at)
    }

    /// What the customer said into a stored recording (the simulated speech-to-text).
    pub fn transcript(&self, recording: &str) -> Option<&str> {
        self.recordings.get(recording).map(String::as_str)
    }

    /// Ids of the channels that are up or ringing (for `GET /ari/channels`).
    pub fn live_channels(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .channels
            .iter()
            .filter(|(_, c)| !c.gone)
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// The next event due at or before `until`, running far-end actions on the way.
    pub fn pop_due(&mut self, until: u64) -> Option<(u64, Value)> {
        while let Some(&Reverse((at, seq))) = self.queue.peek() {
            if at > until {
                return None;
            }
            self.queue.pop();
            let Some(action) = self.actions.remove(&seq) else {
                continue;
            };
            self.now = self.now.max(at);
            match action {
                Action::Emit(value) => return Some((at, value)),
                Action::Answer(id) => {
                    if let Some(c) = self.channels.get_mut(&id)
                        && !c.gone
                    {
                        let was_up = std::mem::replace(&mut c.up, true);
                        c.in_stasis = true;
                        c.busy_until = at;
                        c.answered_at.get_or_insert(at);
                        if !was_up {
                            self.note_up(true);
                        }
                    }
                }
                Action::CustomerHangsUp(id) => self.far_end_hangs_up(&id, 16),
                Action::Press(id, digit) => {
                    if self.channels.get(&id).is_some_and(|c| c.up && !c.gone) {
                        self.emit(0, ari::dtmf(&id, digit));
                    }
                }
            }
        }
        None
    }

    fn at(&mut self, when: u64, action: Action) -> u64 {
        self.seq += 1;
        self.queue.push(Reverse((when, self.seq)));
        self.actions.insert(self.seq, action);
        self.seq
    }

    fn emit(&mut self, delay: u64, value: Value) -> u64 {
        let when = self.now + delay;
        self.at(when, Action::Emit(value))
    }

    fn uuid(&mut self) -> String {
        self.counter += 1;
        format!("sim-{:08x}-{:04x}", self.now, self.counter)
    }

    /// A live channel as `GET /ari/channels` shows it: `Up` once answered, `Ringing`
    /// before.
    fn live_channel_json(&self, id: &str) -> Value {
        let Some(c) = self.channels.get(id) else {
            return self.channel_json(id, "Down");
        };
        let mut v = self.channel_json(id, if c.up { "Up" } else { "Ringing" });
        if c.in_stasis {
            let data = std::iter::once(c.app.as_str())
                .chain(c.stasis_args.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(",");
            v["dialplan"]["app_data"] = data.into();
        } else if c.up {
            // Out of the app only for the AMD hop.
            v["dialplan"]["context"] = "dialflow-amd".into();
            v["dialplan"]["app_name"] = "AMD".into();
            v["dialplan"]["app_data"] = "".into();
        }
        v
    }

    fn channel_json(&self, id: &str, state: &str) -> Value {
        let mut v = ari::channel(id, state);
        if let Some(c) = self.channels.get(id) {
            v["name"] = c.name.clone().into();
        }
        v
    }

    /// Answers one ARI request made at `now`.
    pub fn request(
        &mut self,
        now: u64,
        method: &str,
        path: &str,
        query: &BTreeMap<String, String>,
    ) -> Response {
        self.now = self.now.max(now);
        let Some(route) = Route::parse(method, path) else {
            return Response::message(404, "Resource not found");
        };
        match route {
            Route::Originate => self.originate(query),
            Route::ListChannels => {
                let list: Vec<Value> = self
                    .live_channels()
                    .iter()
                    .map(|id| self.live_channel_json(id))
                    .collect();
                Response::json(200, Value::Array(list))
            }
            Route::GetChannel { channel } => match self.channels.get(channel) {
                Some(c) if !c.gone => Response::json(200, self.live_channel_json(channel)),
                _ => Response::message(404, "Channel not found"),
            },
            Route::Hangup { channel } => self.hangup(channel),
            Route::Play {
                channel,
                playback: None,
            } => {
                let pb = query
                    .get("playbackId")
                    .cloned()
                    .unwrap_or_else(|| self.uuid());
                self.play(channel, &pb, query)
            }
            Route::Play {
                channel,
                playback: Some(pb),
            } => self.play(channel, pb, query),
            Route::Record { channel } => self.record(channel, query),
            Route::Continue { channel } => self.continue_amd(channel),
            Route::GetPlayback { playback } => self.get_playback(playback),
            Route::GetLiveRecording { name } => self.get_live_recording(name),
            Route::GetStoredRecording { name } => {
                let ended = self
                    .live_recordings
                    .get(name)
                    .is_none_or(|r| r.ends <= self.now);
                if ended && self.recordings.contains_key(name) {
                    Response::json(200, json!({"name": name, "format": "wav"}))
                } else {
                    Response::message(404, "Recording not found")
                }
            }
            Route::StopPlayback { playback } => self.stop_playback(playback),
            Route::CreateBridge => {
                let id = query
                    .get("bridgeId")
                    .cloned()
                    .unwrap_or_else(|| self.uuid());
                self.bridges.insert(id.clone(), false);
                Response::json(200, ari::bridge(&id, &[]))
            }
            Route::AddToBridge { bridge } => self.add_to_bridge(bridge, query),
            // Music is not modelled: the bridge must exist, as on Asterisk.
            Route::BridgeMoh { bridge } if self.bridges.contains_key(bridge) => {
                Response::empty(204)
            }
            Route::BridgeMoh { .. } => Response::message(404, "Bridge not found"),
            Route::GetBridge { bridge } => self.get_bridge(bridge),
            Route::DestroyBridge { bridge } => self.destroy_bridge(bridge),
            Route::StoredRecordingFile { name } => {
                let ended = self
                    .live_recordings
                    .get(name)
                    .is_none_or(|r| r.ends <= self.now);
                if ended && self.recordings.contains_key(name) {
                    Response::json(200, json!({"bytes": 0}))
                } else {
                    Response::message(404, "Recording not found")
                }
            }
            // The event filter is the server's, which sends the events (`event_filter`).
            Route::Events
            | Route::Answer { .. }
            | Route::DeleteStoredRecording { .. }
            | Route::SetEventFilter { .. } => Response::message(404, "Resource not found"),
        }
    }

    /// `GET` a playback: queued, then playing; once it has ended Asterisk has forgotten
    /// it (404), which is how a client that missed its `PlaybackFinished` learns it. One
    /// of an unknown media scheme never plays, and is not found either
    /// (play_missing_sound.jsonl).
    fn get_playback(&mut self, id: &str) -> Response {
        let now = self.now;
        let Some(p) = self.playbacks.get(id) else {
            return Response::message(404, "Playback not found");
        };
        if p.ends.is_none_or(|end| end <= now) {
            self.playbacks.remove(id);
            return Response::message(404, "Playback not found");
        }
        let state = if now < p.starts { "queued" } else { "playing" };
        Response::json(
            200,
            json!({"id": id, "media_uri": p.media, "target_uri": format!("channel:{}", p.channel),
                   "language": "en", "state": state}),
        )
    }

    /// `GET` a live recording: queued, then recording, until it ends; then 404.
    fn get_live_recording(&mut self, name: &str) -> Response {
        let now = self.now;
        let Some(r) = self.live_recordings.get(name) else {
            return Response::message(404, "Recording not found");
        };
        if r.ends <= now {
            self.live_recordings.remove(name);
            return Response::message(404, "Recording not found");
        }
        let state = if now < r.starts {
            "queued"
        } else {
            "recording"
        };
        Response::json(
            200,
            json!({"name": name, "format": r.format, "target_uri": format!("channel:{}", r.channel),
                   "state": state}),
        )
    }

    /// `GET` a bridge: the channels in it now.
    fn get_bridge(&self, id: &str) -> Response {
        if !self.bridges.contains_key(id) {
            return Response::message(404, "Bridge not found");
        }
        let mut channels: Vec<&str> = self
            .channels
            .iter()
            .filter(|(_, c)| !c.gone && c.bridge.as_deref() == Some(id))
            .map(|(channel, _)| channel.as_str())
            .collect();
        channels.sort();
        Response::json(200, ari::bridge(id, &channels))
    }

    /// `DELETE` a bridge; `BridgeDestroyed` only for one a channel entered.
    fn destroy_bridge(&mut self, id: &str) -> Response {
        match self.bridges.remove(id) {
            Some(entered) => {
                if entered {
                    self.emit(1, ari::bridge_destroyed(id));
                }
                Response::empty(204)
            }
            None => Response::message(404, "Bridge not found"),
        }
    }

    /// `POST /ari/channels`: checks the request as Asterisk does, then schedules what
    /// the far end's behaviour makes of the call.
    fn originate(&mut self, q: &BTreeMap<String, String>) -> Response {
        let Some(endpoint) = q.get("endpoint") else {
            return Response::message(400, "Endpoint must be specified");
        };
        if q.get("app").is_none() && q.get("extension").is_none() {
            return Response::message(400, "Application or extension must be specified");
        }
        if !endpoint.contains('/') {
            return Response::message(400, "Invalid endpoint specified");
        }
        let id = q.get("channelId").cloned().unwrap_or_else(|| self.uuid());
        if self.channels.get(&id).is_some_and(|c| !c.gone) {
            return Response::message(409, "Channel with given unique ID already exists");
        }
        let timeout_ms = q
            .get("timeout")
            .and_then(|t| t.parse::<u64>().ok())
            .unwrap_or(30)
            * 1000;
        let app_args: Vec<&str> = q
            .get("appArgs")
            .map(|a| a.split(',').collect())
            .unwrap_or_default();
        let Some(behaviour) = (self.resolve)(endpoint) else {
            if endpoint.starts_with("Local/") {
                return self.originate_into_nowhere(&id, endpoint);
            }
            return Response::json(500, json!({"error": "Allocation failed"}));
        };
        if matches!(
            behaviour,
            Behaviour::Customer(CustomerScript {
                answer: Answer::Refused,
                ..
            }) | Behaviour::Operator(OperatorScript::Refused)
        ) {
            return Response::json(500, json!({"error": "Allocation failed"}));
        }
        self.counter += 1;
        let name = format!("{endpoint}-{:08x};1", self.counter);
        let mut chan = Chan::new(name, behaviour.clone());
        chan.app = q.get("app").cloned().unwrap_or_default();
        chan.stasis_args = app_args.iter().map(|a| a.to_string()).collect();
        self.channels.insert(id.clone(), chan);
        let body = self.channel_json(&id, "Down");
        match answer_of(&behaviour) {
            Answer::After(ms) => self.schedule_answer(&id, ms.max(2), &app_args, &behaviour),
            Answer::Hangup {
                cause,
                cause_txt,
                dialstatus,
            } => self.schedule_rejection(&id, cause, cause_txt, dialstatus),
            Answer::NoAnswer => self.schedule_ringing(&id, timeout_ms),
            Answer::Lost | Answer::Refused => {}
        }
        Response::json(200, body)
    }

    /// A Local channel into a context that does not exist: created, then gone.
    fn originate_into_nowhere(&mut self, id: &str, endpoint: &str) -> Response {
        let name = format!("{endpoint}-{:08x};1", self.counter);
        self.channels.insert(
            id.to_string(),
            Chan::new(name, Behaviour::Customer(CustomerScript::default())),
        );
        self.emit(2, ari::destroyed(&format!("{id};2"), 0, "Unknown"));
        self.emit(2, ari::destroyed(id, 0, "Unknown"));
        self.channels.get_mut(id).expect("just inserted").gone = true;
        Response::json(200, self.channel_json(id, "Down"))
    }

    /// Answered after `ms`, entering the app with `args`; a customer's script then
    /// hangs up and presses digits at its times.
    fn schedule_answer(&mut self, id: &str, ms: u64, args: &[&str], behaviour: &Behaviour) {
        let half = format!("{id};2");
        // Up before StasisStart is handed out, so requests in answer to it work.
        let answered = self.now + ms;
        self.at(answered, Action::Answer(id.to_string()));
        self.emit(2, ari::dial(id, ""));
        self.emit(ms, ari::state_change(&half, "Up"));
        self.emit(ms, ari::state_change(id, "Up"));
        self.emit(ms, ari::dial(id, "ANSWER"));
        self.emit(ms, ari::stasis_start(id, args));
        if let Behaviour::Customer(script) = behaviour {
            let mut plans = Vec::new();
            if let Some(h) = script.hangs_up_at_ms {
                plans.push(self.at(answered + h, Action::CustomerHangsUp(id.to_string())));
            }
            for (digit, at) in &script.presses {
                plans.push(self.at(answered + at, Action::Press(id.to_string(), *digit)));
            }
            self.channels.get_mut(id).expect("just inserted").plans = plans;
        }
    }

    /// Turned down while dialing (busy, congestion…): both halves hung up with `cause`.
    fn schedule_rejection(&mut self, id: &str, cause: u16, cause_txt: &str, dialstatus: &str) {
        let half = format!("{id};2");
        self.emit(2, ari::dial(id, ""));
        self.emit(5, ari::hangup_request(id, cause, false));
        self.emit(5, ari::dial(id, dialstatus));
        self.emit(6, ari::hangup_request(&half, 16, true));
        self.emit(6, ari::destroyed(id, cause, cause_txt));
        self.emit(6, ari::destroyed(&half, cause, cause_txt));
        self.channels.get_mut(id).expect("just inserted").gone = true;
    }

    /// Rings until the originate's timeout ends it: cause 19 and no final `Dial`, as
    /// Asterisk does (noanswer.jsonl), which is how dialflow tells a ring-out from a far
    /// end's own `Hangup(19)` (a final `Dial` NOANSWER) on any clock. The timeout is in
    /// the simulator's time, so a compressed server scales it with everything else.
    fn schedule_ringing(&mut self, id: &str, timeout_ms: u64) {
        self.emit(2, ari::dial(id, ""));
        self.emit(3, ari::state_change(id, "Ringing"));
        self.emit(3, ari::dial(id, "RINGING"));
        let plan = self.at(
            self.now + timeout_ms,
            Action::CustomerHangsUp(format!("{id}!ringout")),
        );
        self.channels.get_mut(id).expect("just inserted").plans = vec![plan];
    }

    /// The far end hangs up (or, with `!ringout`, the originate timeout ends the ringing).
    fn far_end_hangs_up(&mut self, id: &str, cause: u16) {
        let (id, ringout) = match id.strip_suffix("!ringout") {
            Some(id) => (id, true),
            None => (id, false),
        };
        let Some(c) = self.channels.get_mut(id) else {
            return;
        };
        if c.gone {
            return;
        }
        c.gone = true;
        let was_up = std::mem::replace(&mut c.up, false);
        let (in_stasis, bridge) = (c.in_stasis, c.bridge.take());
        c.in_stasis = false;
        if was_up {
            self.note_up(false);
        }
        let half = format!("{id};2");
        if ringout {
            self.emit(0, ari::hangup_request(&half, 19, false));
            self.emit(0, ari::hangup_request(&half, 19, true));
            self.emit(1, ari::destroyed(id, 19, "User alerting, no answer"));
            self.emit(1, ari::destroyed(&half, 19, "User alerting, no answer"));
            return;
        }
        self.emit(0, ari::hangup_request(id, cause, false));
        self.fail_playbacks(id);
        if let Some(b) = bridge {
            self.emit(1, left_bridge(&b, id));
        }
        if in_stasis {
            self.emit(1, ari::stasis_end(id));
        }
        self.emit(1, ari::hangup_request(&half, 16, true));
        self.emit(1, ari::destroyed(id, cause, "Normal Clearing"));
        self.emit(1, ari::destroyed(&half, cause, "Normal Clearing"));
    }

    fn hangup(&mut self, id: &str) -> Response {
        let Some(c) = self.channels.get_mut(id) else {
            return Response::message(404, "Channel not found");
        };
        if c.gone {
            return Response::message(404, "Channel not found");
        }
        c.gone = true;
        let was_up = std::mem::replace(&mut c.up, false);
        let (in_stasis, bridge) = (c.in_stasis, c.bridge.take());
        c.in_stasis = false;
        let plans = std::mem::take(&mut c.plans);
        for p in plans {
            self.actions.remove(&p);
        }
        if was_up {
            self.note_up(false);
        }
        let half = format!("{id};2");
        self.emit(1, ari::hangup_request(id, 32, true));
        self.fail_playbacks(id);
        if let Some(b) = bridge {
            self.emit(1, left_bridge(&b, id));
        }
        if in_stasis {
            self.emit(2, ari::stasis_end(id));
        }
        if was_up {
            self.emit(2, ari::hangup_request(&half, 16, false));
            self.emit(2, ari::hangup_request(&half, 16, true));
            self.emit(2, ari::destroyed(id, 16, "Normal Clearing"));
        } else {
            // Still ringing: the dial ends unanswered.
            self.emit(2, ari::hangup_request(&half, 16, false));
            self.emit(2, ari::dial(id, "NOANSWER"));
            self.emit(2, ari::hangup_request(&half, 16, true));
            self.emit(2, ari::destroyed(id, 16, "Normal Clearing"));
        }
        self.emit(3, ari::destroyed(&half, 16, "Normal Clearing"));
        Response::empty(204)
    }

    fn live(&self, id: &str) -> Option<&Chan> {
        self.channels.get(id).filter(|c| c.up && !c.gone)
    }

    fn play(&mut self, channel: &str, id: &str, q: &BTreeMap<String, String>) -> Response {
        let Some(c) = self.live(channel) else {
            return Response::message(404, "Channel not found");
        };
        let media = q.get("media").cloned().unwrap_or_default();
        let start = c.busy_until.max(self.now);
        let body = json!({"id": id, "media_uri": media, "target_uri": format!("channel:{channel}"), "language": "en", "state": "queued"});
        let name = media.rsplit(['/', ':']).next().unwrap_or("").to_string();
        let prompt = name.clone();
        if !media.starts_with("sound:") {
            // An unknown scheme: it starts and never finishes (NOTES.md).
            self.at(
                start + 1,
                Action::Emit(ari::playback_started(id, channel, &prompt)),
            );
            self.playbacks.insert(
                id.to_string(),
                Playback {
                    channel: channel.to_string(),
                    media,
                    finish: None,
                    starts: start + 1,
                    ends: None,
                },
            );
            return Response::json(201, body);
        }
        self.at(
            start + 1,
            Action::Emit(ari::playback_started(id, channel, &prompt)),
        );
        let Some(&length) = self.prompts.get(&name) else {
            self.at(
                start + 2,
                Action::Emit(ari::playback_finished(id, channel, &prompt, true)),
            );
            return Response::json(201, body);
        };
        // An overloaded PBX plays the same audio for longer.
        let playing = self.saturation.playing_ms(self.load(), length);
        self.spoiled.note_playback(length, playing);
        let end = start + playing;
        self.channels.get_mut(channel).expect("live").busy_until = end;
        // Asterisk forgets a playback once it has ended.
        let now = self.now;
        self.playbacks
            .retain(|_, p| p.ends.is_none_or(|ends| ends > now));
        let finish = self.at(
            end,
            Action::Emit(ari::playback_finished(id, channel, &prompt, false)),
        );
        self.playbacks.insert(
            id.to_string(),
            Playback {
                channel: channel.to_string(),
                media,
                finish: Some(finish),
                starts: start + 1,
                ends: Some(end),
            },
        );
        Response::json(201, body)
    }

    fn stop_playback(&mut self, id: &str) -> Response {
        let Some(p) = self.playbacks.remove(id) else {
            return Response::message(404, "Playback not found");
        };
        match p.finish {
            Some(seq) if self.actions.remove(&seq).is_some() => {
                let prompt = p.media.rsplit(['/', ':']).next().unwrap_or("").to_string();
                self.emit(1, ari::playback_finished(id, &p.channel, &prompt, false));
                if let Some(c) = self.channels.get_mut(&p.channel) {
                    c.busy_until = self.now;
                }
                Response::empty(204)
            }
            _ => Response::message(404, "Playback not found"),
        }
    }

    fn fail_playbacks(&mut self, channel: &str) {
        let ids: Vec<String> = self
            .playbacks
            .iter()
            .filter(|(_, p)| p.channel == channel)
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            let p = self.playbacks.remove(&id).expect("listed");
            if let Some(seq) = p.finish
                && self.actions.remove(&seq).is_some()
            {
                let prompt = p.media.rsplit(['/', ':']).next().unwrap_or("").to_string();
                self.emit(1, ari::playback_finished(&id, channel, &prompt, true));
            }
        }
    }

    fn record(&mut self, channel: &str, q: &BTreeMap<String, String>) -> Response {
        let Some(c) = self.live(channel) else {
            return Response::message(404, "Channel not found");
        };
        let name = q
            .get("name")
            .cloned()
            .unwrap_or_else(|| format!("{channel}-rec"));
        let secs = |key: &str, default: u64| {
            q.get(key)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(default)
                * 1000
        };
        let (max_duration, max_silence) = (
            secs("maxDurationSeconds", 10).max(1000),
            secs("maxSilenceSeconds", 2),
        );
        let start = c.busy_until.max(self.now);
        let (said, length, talking_ms) = match &c.behaviour {
            Behaviour::Customer(script) if !script.speech_ms.is_empty() => {
                // Follow the customer's timeline: the recording catches the next utterance
                // if it starts before the silence limit, and ends that long after it.
                let rel = start - c.answered_at.unwrap_or(start);
                let next = script
                    .speech_ms
                    .iter()
                    .enumerate()
                    .find(|(_, (at, len))| at + len > rel);
                match next {
                    Some((i, (at, len))) if *at <= rel + max_silence => {
                        let end = (at + len).max(rel) + max_silence;
                        let said = script.says.get(i).cloned().unwrap_or_default();
                        (said, (end - rel).min(max_duration), *len)
                    }
                    _ => (String::new(), max_silence.max(1).min(max_duration), 0),
                }
            }
            Behaviour::Customer(script) => {
                let said = script.says.get(c.recordings).cloned().unwrap_or_default();
                let speaks = !said.trim().is_empty();
                let length = if speaks {
                    SPEECH_MS + max_silence
                } else {
                    max_silence.max(1)
                }
                .min(max_duration);
                (said, length, if speaks { SPEECH_MS } else { 0 })
            }
            Behaviour::Operator(_) => (String::new(), max_silence.max(1).min(max_duration), 0),
        };
        let c = self.channels.get_mut(channel).expect("live");
        c.recordings += 1;
        c.busy_until = start + length;
        // An overloaded PBX loses frames: the recording runs as long, keeps less audio,
        // and the words in the lost audio are gone.
        let kept = self.saturation.kept_ms(self.load(), length);
        let (said, words_lost) = cut_words(&said, kept as f64 / length.max(1) as f64);
        self.spoiled.note_recording(length, kept, words_lost);
        self.recordings.insert(name.clone(), said);
        let format = q.get("format").cloned().unwrap_or_else(|| "wav".into());
        let now = self.now;
        self.live_recordings.retain(|_, r| r.ends > now);
        self.live_recordings.insert(
            name.clone(),
            LiveRecording {
                channel: channel.to_string(),
                format: format.clone(),
                starts: start + 1,
                ends: start + length,
            },
        );
        self.at(
            start + 1,
            Action::Emit(ari::recording_started(&name, channel)),
        );
        let talking = self.saturation.kept_ms(self.load(), talking_ms);
        self.at(
            start + length,
            Action::Emit(ari::recording_finished(
                &name,
                channel,
                talking.div_ceil(1000),
                kept.div_ceil(1000),
            )),
        );
        Response::json(
            201,
            json!({"name": name, "format": format,
                   "target_uri": format!("channel:{channel}"), "state": "queued"}),
        )
    }

    fn continue_amd(&mut self, id: &str) -> Response {
        let Some(c) = self.live(id) else {
            return Response::message(404, "Channel not found");
        };
        let status = match &c.behaviour {
            Behaviour::Customer(script) => script.amd.clone(),
            Behaviour::Operator(_) => "HUMAN".into(),
        };
        let (delay, cause) = match status.as_str() {
            "HUMAN" => (AMD_HUMAN_MS, "HUMAN-808-800"),
            "MACHINE" => (AMD_MACHINE_MS, "LONGGREETING-1500-1500"),
            _ => (AMD_NOTSURE_MS, "TOOLONG-5000"),
        };
        self.emit(1, ari::stasis_end(id));
        let back = self.now + delay;
        let c = self.channels.get_mut(id).expect("live");
        c.in_stasis = false;
        c.busy_until = back;
        c.stasis_args = vec!["amd".into(), status.clone(), cause.into()];
        self.at(back, Action::Answer(id.to_string()));
        self.at(
            back,
            Action::Emit(ari::stasis_start(id, &["amd", &status, cause])),
        );
        Response::empty(204)
    }

    fn add_to_bridge(&mut self, bridge: &str, q: &BTreeMap<String, String>) -> Response {
        if !self.bridges.contains_key(bridge) {
            return Response::message(404, "Bridge not found");
        }
        let channels: Vec<String> = q
            .get("channel")
            .map(|c| c.split(',').map(str::to_string).collect())
            .unwrap_or_default();
        if channels.iter().any(|c| self.live(c).is_none()) {
            return Response::message(422, "Channel not in Stasis application");
        }
        for channel in channels {
            let Some(c) = self.channels.get_mut(&channel) else {
                continue;
            };
            // A channel in another bridge moves: Asterisk departs it from the old one.
            let left = c.bridge.replace(bridge.to_string()).filter(|b| b != bridge);
            // A channel enters the bridge once its queued prompt has played.
            let at = c.busy_until.max(self.now) + 1;
            if let Some(old) = left {
                self.at(at, Action::Emit(left_bridge(&old, &channel)));
            }
            self.at(at, Action::Emit(ari::entered_bridge(bridge, &channel)));
        }
        self.bridges.insert(bridge.to_string(), true);
        Response::empty(204)
    }
}

impl Chan {
    fn new(name: String, behaviour: Behaviour) -> Self {
        Self {
            name,
            behaviour,
            up: false,
            gone: false,
            in_stasis: false,
            busy_until: 0,
            answered_at: None,
            recordings: 0,
            bridge: None,
            plans: Vec::new(),
            app: String::new(),
            stasis_args: Vec::new(),
        }
    }
}

fn left_bridge(bridge: &str, channel: &str) -> Value {
    let mut v = ari::entered_bridge(bridge, channel);
    v["type"] = "ChannelLeftBridge".into();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ari::paths;
    use crate::sim::behaviours;

    /// Originates `behaviour` with `timeout` (seconds), then every event of the customer's
    /// own leg with its time: `Type(dial status or cause)`.
    fn customer_leg(behaviour: &str, timeout: &str) -> Vec<(u64, String)> {
        let mut pbx = Pbx::new(HashMap::new(), behaviours::for_endpoint);
        let query: BTreeMap<String, String> = [
            ("endpoint", format!("Local/{behaviour}@sim-customers")),
            ("app", "dialer".to_string()),
            ("channelId", "c1".to_string()),
            ("timeout", timeout.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let response = pbx.request(0, "POST", paths::CHANNELS, &query);
        assert_eq!(response.status, 200);
        let mut events = Vec::new();
        while let Some((at, e)) = pbx.pop_due(u64::MAX) {
            let id = e.get("channel").or_else(|| e.get("peer")).map(|c| &c["id"]);
            if id.and_then(Value::as_str) != Some("c1") {
                continue;
            }
            let detail = match e["type"].as_str() {
                Some("Dial") => e["dialstatus"].to_string(),
                _ => e["cause"].to_string(),
            };
            events.push((
                at,
                format!("{}({detail})", e["type"].as_str().unwrap_or("")),
            ));
        }
        events
    }

    fn query(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The time of the first event of `kind` about `id` (a channel, playback or recording).
    fn when(pbx: &mut Pbx, kind: &str, id: &str) -> u64 {
        while let Some((at, e)) = pbx.pop_due(u64::MAX) {
            let ids = [
                &e["channel"]["id"],
                &e["playback"]["id"],
                &e["recording"]["name"],
            ];
            if e["type"] == kind && ids.iter().any(|v| v.as_str() == Some(id)) {
                return at;
            }
        }
        panic!("no {kind} for {id}")
    }

    #[test]
    fn past_its_capacity_prompts_stretch_and_recordings_lose_words_until_the_load_falls() {
        let prompts = HashMap::from([("hello".to_string(), 2_000)]);
        let mut pbx =
            Pbx::new(prompts, behaviours::for_endpoint).with_saturation(Saturation::new(Some(1)));
        for id in ["c1", "c2"] {
            let q = query(&[
                ("endpoint", "Local/yes@sim-customers"),
                ("app", "dialer"),
                ("channelId", id),
            ]);
            assert_eq!(pbx.request(0, "POST", paths::CHANNELS, &q).status, 200);
        }
        when(&mut pbx, "StasisStart", "c2");
        assert_eq!(pbx.load(), 2, "twice the capacity");
        let play = |pbx: &mut Pbx, at: u64, pb: &str| {
            let q = query(&[("media", "sound:x/hello")]);
            let path = paths::channel_play("c1", pb);
            assert_eq!(pbx.request(at, "POST", &path, &q).status, 201);
            when(pbx, "PlaybackFinished", pb) - at
        };
        assert_eq!(play(&mut pbx, 100, "pb1"), 2_480, "2 s of audio in 2.48 s");
        let q = query(&[("name", "r1"), ("maxSilenceSeconds", "5")]);
        assert_eq!(
            pbx.request(2_600, "POST", &paths::channel_record("c1"), &q)
                .status,
            201
        );
        assert_eq!(pbx.transcript("r1"), Some("Yes, I am"));
        assert_eq!(
            pbx.request(2_700, "DELETE", &paths::channel("c2"), &query(&[]))
                .status,
            204
        );
        assert_eq!(pbx.load(), 1);
        assert_eq!(
            play(&mut pbx, 20_000, "pb2"),
            2_000,
            "at capacity: as long as its audio"
        );
        let spoiled = pbx.spoiled();
        assert_eq!(
            (spoiled.playbacks_stretched, spoiled.max_stretch_ms),
            (1, 480)
        );
        assert_eq!((spoiled.recordings_cut, spoiled.words_lost), (1, 1));
        assert_eq!((spoiled.load, spoiled.peak_load), (1, 2));
    }

    #[test]
    fn a_noanswer_customer_rings_to_the_originate_timeout_with_no_final_dial() {
        let events = customer_leg("noanswer", "45");
        let (at, last) = events.last().expect("events");
        assert_eq!(last, "ChannelDestroyed(19)");
        assert!((45_000..45_100).contains(at), "destroyed at {at} ms");
        let dials: Vec<&str> = events
            .iter()
            .filter(|(_, e)| e.starts_with("Dial"))
            .map(|(_, e)| e.as_str())
            .collect();
        assert_eq!(dials, [r#"Dial("")"#, r#"Dial("RINGING")"#]);
    }

    #[test]
    fn a_far_end_hangup_19_sends_the_final_dial_noanswer_first() {
        let events = customer_leg("unavailable", "45");
        let labels: Vec<&str> = events.iter().map(|(_, e)| e.as_str()).collect();
        let dial = labels.iter().position(|e| *e == r#"Dial("NOANSWER")"#);
        let destroyed = labels.iter().position(|e| *e == "ChannelDestroyed(19)");
        assert!(
            matches!((dial, destroyed), (Some(d), Some(x)) if d < x),
            "{labels:?}"
        );
        assert!(
            events.last().expect("events").0 < 1_000,
            "long before the timeout"
        );
    }
}
