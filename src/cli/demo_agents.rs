//! The demo's call centre (`dialflow demo --agents N --mode predictive`): N simulated
//! agents, each with a token of their own, who log in and get ready through the agent
//! API, hear of their calls on its WebSocket, and close each call with a disposition
//! after a short wrap-up, exactly as an agent's browser would; their phones are the
//! simulator's (`Local/agN@sim-agents`). The customers are the simulator's crowd: 30 %
//! answer, and talk a minute on average.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::StreamExt as _;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use crate::core::campaign::settings::{CampaignSettings, DialMode, DispositionSetting};

/// The dial modes the demo's call centre can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AgentMode {
    Progressive,
    Predictive,
}

impl AgentMode {
    pub fn dial_mode(self) -> DialMode {
        match self {
            AgentMode::Progressive => DialMode::Progressive,
            AgentMode::Predictive => DialMode::Predictive,
        }
    }
}
use crate::http::auth;
use crate::reports::{self, Range};
use crate::store::{NewAgent, NewLead, Store};

/// The crowd the agents' customers come from: share answering (%) and handle time (s).
pub const CROWD: &str = "sim-crowd/30/60";
/// How long a simulated agent takes over a wrap-up (campaign time).
const WRAP_UP: Duration = Duration::from_secs(5);

/// Agent `i`'s id and API token (the demo's store is a throwaway, and so are they).
fn agent(i: usize) -> (String, String) {
    (
        format!("ag{i}"),
        format!("demo-agent-{i:04}-token-0123456789"),
    )
}

/// The agents' tokens, for the daemon's token set.
pub fn tokens(agents: usize) -> Vec<(String, auth::Role, String)> {
    (0..agents)
        .map(|i| {
            let (id, token) = agent(i);
            (id, auth::Role::Agent, token)
        })
        .collect()
}

/// The agents, in the store, serving `queues`.
pub fn add_agents(store: &Store, agents: usize, queues: &[String]) -> Result<(), String> {
    for i in 0..agents {
        let (id, _) = agent(i);
        let new = NewAgent {
            name: format!("Demo agent {i}"),
            endpoint: format!("Local/{id}@sim-agents"),
            id,
            queues: queues.to_vec(),
            campaigns: Vec::new(),
        };
        store.put_agent(new, 0).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The demo campaign's settings for agents: its mode, one disposition, the safe
/// harbor's prompt from the scenario's set.
pub fn agent_settings(mut settings: CampaignSettings, mode: DialMode) -> CampaignSettings {
    settings.mode = mode;
    settings.wrap_up = "30s".into();
    settings.safe_harbor.prompt = "goodby".into();
    settings.dispositions = vec![DispositionSetting {
        code: "done".into(),
        label: "Done".into(),
        result: "connected_to_operator".into(),
        callback: false,
        dnc: false,
    }];
    settings
}

/// `count` customers of the crowd.
pub fn crowd_leads(count: usize) -> Vec<NewLead> {
    (0..count)
        .map(|i| NewLead {
            phone: format!("+98912{i:07}"),
            name: format!("Demo lead {i}"),
            ..NewLead::default()
        })
        .collect()
}

/// Starts every agent: logged in, ready, and closing their calls as they come.
pub fn start(api: SocketAddr, agents: usize, speed: f64) -> Vec<JoinHandle<()>> {
    let wrap_up = WRAP_UP.div_f64(speed.max(0.01));
    (0..agents)
        .map(|i| tokio::spawn(work(api, agent(i).1, wrap_up)))
        .collect()
}

/// One agent's day: log in, get ready, and after each call's end wait `wrap_up`, then
/// set its disposition. Ends when the API goes away.
async fn work(api: SocketAddr, token: String, wrap_up: Duration) {
    let Some(client) = bearer_client(&token) else {
        return;
    };
    let url = |path: &str| format!("http://{api}/api/agent/{path}");
    for step in ["login", "ready"] {
        if let Err(e) = client.post(url(step)).send().await {
            tracing::warn!(error = %e, "a demo agent cannot {step}");
            return;
        }
    }
    let Ok(mut request) = format!("ws://{api}/api/agent/events").into_client_request() else {
        return;
    };
    let Ok(value) = format!("Bearer {token}").parse() else {
        return;
    };
    request.headers_mut().insert("authorization", value);
    let Ok((mut events, _)) = tokio_tungstenite::connect_async(request).await else {
        return;
    };
    while let Some(Ok(message)) = events.next().await {
        let Ok(text) = message.to_text() else {
            continue;
        };
        let Ok(event) = serde_json::from_str::<serde_json::Value>(text) else {
            continue;
        };
        if event["event"] == "state" && event["state"] == "wrap_up" {
            tokio::time::sleep(wrap_up).await;
            let body = serde_json::json!({"code": "done"});
            let _ = client.post(url("disposition")).json(&body).send().await;
        }
    }
}

/// An HTTP client that sends `token`.
fn bearer_client(token: &str) -> Option<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    let value = format!("Bearer {token}").parse().ok()?;
    headers.insert(reqwest::header::AUTHORIZATION, value);
    let tls = crate::tls::client_config(None).ok()?;
    crate::tls::http_client_builder(&tls)
        .default_headers(headers)
        .build()
        .ok()
}

/// The call centre's figures for campaign `demo` over the run.
pub fn print_kpis(store: &Store, from_ms: u64, to_ms: u64) -> Result<(), String> {
    let range = Range { from_ms, to_ms };
    let campaign = reports::campaign(store, "demo", range).map_err(|e| e.to_string())?;
    let agents = reports::agents(store, range).map_err(|e| e.to_string())?;
    let (mut busy, mut logged) = (0u64, 0u64);
    for row in &agents.agents {
        busy += row.talk_ms + row.wrap_up_ms;
        logged += row.login_ms;
    }
    let seconds =
        |ms: Option<u64>| ms.map_or("-".into(), |ms| format!("{:.1} s", ms as f64 / 1000.0));
    let share = |r: Option<f64>| r.map_or("-".into(), |r| format!("{:.1} %", r * 100.0));
    let occupancy = (logged > 0).then(|| busy as f64 / logged as f64);
    println!("\ncall centre ({} agents):", agents.agents.len());
    let rows = BTreeMap::from([
        ("1 answered", campaign.answered.to_string()),
        ("2 put through to an agent", campaign.bridged.to_string()),
        ("3 AHT", seconds(campaign.aht_ms)),
        ("4 ASA", seconds(campaign.asa_ms)),
        ("5 dropped (safe harbor)", campaign.dropped.to_string()),
        ("6 drop rate", share(campaign.drop_rate)),
        ("7 agents' occupancy", share(occupancy)),
    ]);
    for (label, value) in rows {
        println!("  {:<26} {value:>10}", &label[2..]);
    }
    Ok(())
}
