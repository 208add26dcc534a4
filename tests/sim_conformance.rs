//! The simulated PBX answers like the real Asterisk: for every recorded trace, the
//! simulator, sent the same requests at the same times, answers with the same HTTP
//! statuses and produces the same sequence of event types for every channel involved.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::Path;

use dialflow::ari::trace::{TraceLine, read_trace};
use dialflow::load;
use dialflow::sim::{behaviours, pbx::Pbx};
use serde_json::Value;

/// Dialplan internals that a simulator has no reason to imitate.
const IGNORED: &[&str] = &["ChannelVarset", "ChannelDialplan"];

/// Events keyed by what they are about, as `Type(detail)` strings.
fn key_and_label(event: &Value) -> Option<(String, String)> {
    let kind = event["type"].as_str()?;
    if IGNORED.contains(&kind) {
        return None;
    }
    let key = if let Some(c) = event.get("channel").and_then(|c| c["id"].as_str()) {
        c.to_string()
    } else if let Some(p) = event.get("peer").and_then(|c| c["id"].as_str()) {
        p.to_string()
    } else if let Some(pb) = event.get("playback") {
        format!("playbacks of {}", pb["target_uri"].as_str()?)
    } else if let Some(r) = event.get("recording") {
        format!("recordings of {}", r["target_uri"].as_str()?)
    } else if event.get("bridge").is_some() {
        "bridges".to_string()
    } else {
        "other".to_string()
    };
    let label = match kind {
        "Dial" => format!("Dial({})", event["dialstatus"].as_str().unwrap_or("")),
        "ChannelStateChange" => format!(
            "ChannelStateChange({})",
            event["channel"]["state"].as_str().unwrap_or("")
        ),
        "ChannelHangupRequest" if event["soft"].as_bool() == Some(true) => {
            "ChannelHangupRequest(soft)".into()
        }
        "ChannelHangupRequest" => format!("ChannelHangupRequest({})", event["cause"]),
        "PlaybackFinished" => format!(
            "PlaybackFinished({})",
            event["playback"]["state"].as_str().unwrap_or("")
        ),
        other => other.to_string(),
    };
    Some((key, label))
}

#[test]
fn the_simulator_produces_the_event_sequences_of_every_real_trace() {
    let prompts: HashMap<String, u64> = load::read_prompt_set(Path::new("../shared/audio/prompts"))
        .files
        .into_iter()
        .filter_map(|(name, ms)| ms.ok().map(|ms| (name, ms)))
        .collect();
    assert!(prompts.len() >= 9);
    let mut traces: Vec<_> = fs::read_dir("../shared/ari-traces")
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    traces.sort();
    assert!(traces.len() >= 25);
    let mut failures = Vec::new();
    for path in traces {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let trace = read_trace(&fs::read_to_string(&path).unwrap()).unwrap();
        let mut pbx = Pbx::new(prompts.clone(), behaviours::for_endpoint);
        let mut real: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut simulated: BTreeMap<String, Vec<String>> = BTreeMap::new();
        // Asterisk chose the playback ids of the recording; the simulator chooses its own.
        let mut playback_ids: HashMap<String, String> = HashMap::new();
        let record = |into: &mut BTreeMap<String, Vec<String>>, event: &Value| {
            if let Some((k, l)) = key_and_label(event) {
                into.entry(k).or_default().push(l);
            }
        };
        let count = |m: &BTreeMap<String, Vec<String>>| m.values().map(Vec::len).sum::<usize>();
        let mut now = 0u64;
        for line in &trace.lines {
            match line {
                TraceLine::Event { raw, .. } => record(&mut real, raw),
                TraceLine::Http(h) => {
                    // Like the recording client, send a request once what it reacted to has
                    // happened: the simulator's clock need not match Asterisk's to the ms.
                    let at = h.t_ms as u64;
                    while let Some((t, e)) = pbx.pop_due(at) {
                        now = now.max(t);
                        record(&mut simulated, &e);
                    }
                    while count(&simulated) < count(&real) {
                        match pbx.next_due() {
                            Some(t) if t <= at + 60_000 => {
                                if let Some((t, e)) = pbx.pop_due(t) {
                                    now = now.max(t);
                                    record(&mut simulated, &e);
                                }
                            }
                            _ => break,
                        }
                    }
                    let at = at.max(now);
                    let path = playback_ids
                        .iter()
                        .fold(h.request.path.clone(), |p, (real, sim)| {
                            p.replace(real.as_str(), sim)
                        });
                    let response = pbx.request(at, &h.request.method, &path, &h.request.query);
                    if let (Some(real), Some(sim)) = (
                        h.response.body.as_ref().and_then(|b| b["id"].as_str()),
                        response.body.as_ref().and_then(|b| b["id"].as_str()),
                    ) && h.request.path.ends_with("/play")
                    {
                        playback_ids.insert(real.to_string(), sim.to_string());
                    }
                    if response.status != h.response.status {
                        failures.push(format!(
                            "{name}: {} {} answered {}, Asterisk answered {}",
                            h.request.method, h.request.path, response.status, h.response.status
                        ));
                    }
                }
                TraceLine::Meta(_) => {}
            }
        }
        while let Some((_, e)) = pbx.pop_due(u64::MAX) {
            record(&mut simulated, &e);
        }
        // Playback and bridge ids differ (Asterisk chose them); channel ids are the
        // recording client's own and so the same.
        if real != simulated {
            let keys: std::collections::BTreeSet<&String> =
                real.keys().chain(simulated.keys()).collect();
            for k in keys {
                let (r, s) = (real.get(k), simulated.get(k));
                if r != s {
                    failures.push(format!(
                        "{name}: {k}\n   real:      {r:?}\n   simulated: {s:?}"
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Asks the simulator `GET path` at `now`: the status and the body.
fn get(pbx: &mut Pbx, now: u64, path: &str) -> (u16, Value) {
    let r = pbx.request(now, "GET", path, &BTreeMap::new());
    (r.status, r.body.unwrap_or(Value::Null))
}

/// Runs the simulator's clock to `until`.
fn run_to(pbx: &mut Pbx, until: u64) {
    while pbx.pop_due(until).is_some() {}
}

/// What a client that missed events asks after a reconnect, answered as Asterisk does
/// (the spec in `ari-api-docs/`, and NOTES.md): a channel while it lives, then 404; a
/// playback while it is queued or playing, then 404 (Asterisk forgets it once it has
/// ended); a live recording while it records, then 404, and from then on the stored one.
#[test]
fn the_simulator_answers_state_queries_as_asterisk_does() {
    use dialflow::ari::models::{Channel, LiveRecording, Playback, StoredRecording};
    let prompts = HashMap::from([("hello".to_string(), 1_000)]);
    let mut pbx = Pbx::new(prompts, behaviours::for_endpoint);
    let originate = |pbx: &mut Pbx, id: &str, endpoint: &str| {
        let q = BTreeMap::from([
            ("endpoint".to_string(), endpoint.to_string()),
            ("app".to_string(), "dialflow".to_string()),
            ("appArgs".to_string(), "customer,salehi".to_string()),
            ("channelId".to_string(), id.to_string()),
        ]);
        assert_eq!(pbx.request(0, "POST", "/ari/channels", &q).status, 200);
    };
    originate(&mut pbx, "c", "Local/yes@sim-customers");
    originate(&mut pbx, "ring", "Local/noanswer@sim-customers");
    run_to(&mut pbx, 100);
    let (status, body) = get(&mut pbx, 100, "/ari/channels/c");
    assert_eq!(status, 200);
    let channel: Channel = serde_json::from_value(body).expect("a Channel");
    assert_eq!(channel.state.as_str(), "Up");
    // In the app, `dialplan` shows `Stasis` with the app and its args.
    assert_eq!(channel.dialplan.app_name, "Stasis");
    assert_eq!(channel.dialplan.app_data, "dialflow,customer,salehi");
    let (status, body) = get(&mut pbx, 100, "/ari/channels/ring");
    let ringing: Channel = serde_json::from_value(body).expect("a Channel");
    assert_eq!((status, ringing.state.as_str()), (200, "Ringing"));
    // The AMD hop takes a channel out of the app, and brings it back with the verdict in
    // its args (reminder_human_accept.jsonl).
    originate(&mut pbx, "amd", "Local/yes@sim-customers");
    run_to(&mut pbx, 200);
    let hop = BTreeMap::from([("context".to_string(), "dialflow-amd".to_string())]);
    let r = pbx.request(200, "POST", "/ari/channels/amd/continue", &hop);
    assert_eq!(r.status, 204);
    let (_, body) = get(&mut pbx, 300, "/ari/channels/amd");
    let hopping: Channel = serde_json::from_value(body).expect("a Channel");
    assert_eq!(hopping.state.as_str(), "Up");
    assert_ne!(hopping.dialplan.app_name, "Stasis", "out of the app");
    run_to(&mut pbx, 5_000);
    let (_, body) = get(&mut pbx, 5_000, "/ari/channels/amd");
    let back: Channel = serde_json::from_value(body).expect("a Channel");
    assert_eq!(back.dialplan.app_name, "Stasis");
    assert_eq!(back.dialplan.app_data, "dialflow,amd,HUMAN,HUMAN-808-800");
    let (status, body) = get(&mut pbx, 100, "/ari/channels");
    let listed: Vec<Channel> = serde_json::from_value(body).expect("Channels");
    assert_eq!(status, 200);
    assert_eq!(listed.len(), 3);
    assert_eq!(get(&mut pbx, 100, "/ari/channels/nosuch").0, 404);

    let play = BTreeMap::from([("media".to_string(), "sound:dialer/hello".to_string())]);
    let r = pbx.request(5_100, "POST", "/ari/channels/c/play/p1", &play);
    assert_eq!(r.status, 201);
    let (status, body) = get(&mut pbx, 5_500, "/ari/playbacks/p1");
    let playing: Playback = serde_json::from_value(body).expect("a Playback");
    assert_eq!((status, playing.state.as_str()), (200, "playing"));
    run_to(&mut pbx, 6_200);
    let (status, body) = get(&mut pbx, 6_200, "/ari/playbacks/p1");
    assert_eq!(status, 404, "an ended playback is forgotten: {body}");
    assert_eq!(body["message"], "Playback not found");

    let record = BTreeMap::from([
        ("name".to_string(), "r1".to_string()),
        ("format".to_string(), "wav".to_string()),
        ("maxDurationSeconds".to_string(), "10".to_string()),
        ("maxSilenceSeconds".to_string(), "2".to_string()),
    ]);
    assert_eq!(
        pbx.request(6_200, "POST", "/ari/channels/c/record", &record)
            .status,
        201
    );
    let (status, body) = get(&mut pbx, 6_500, "/ari/recordings/live/r1");
    let live: LiveRecording = serde_json::from_value(body).expect("a LiveRecording");
    assert_eq!((status, live.state.as_str()), (200, "recording"));
    assert_eq!(get(&mut pbx, 6_500, "/ari/recordings/stored/r1").0, 404);
    run_to(&mut pbx, 25_000);
    let (status, body) = get(&mut pbx, 25_000, "/ari/recordings/live/r1");
    assert_eq!(status, 404, "an ended recording is no longer live: {body}");
    assert_eq!(body["message"], "Recording not found");
    let (status, body) = get(&mut pbx, 25_000, "/ari/recordings/stored/r1");
    let stored: StoredRecording = serde_json::from_value(body).expect("a StoredRecording");
    assert_eq!((status, stored.name.as_str()), (200, "r1"));

    assert_eq!(
        pbx.request(25_000, "DELETE", "/ari/channels/c", &BTreeMap::new())
            .status,
        204
    );
    assert_eq!(get(&mut pbx, 25_010, "/ari/channels/c").0, 404);
}
