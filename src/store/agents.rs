//! Agents in the store: who they are (id, name, endpoint, queues, the campaigns they
//! may work, their state and since when) and the agent log, one entry per change of
//! state (seed 002's `agent_log`), written in the same transaction as the change, so
//! the log never misses a state nor shows one that did not happen. Every change goes
//! through `core::agents`' rules.

use redb::{ReadableDatabase as _, ReadableTable as _};
use serde::{Deserialize, Serialize};

use super::schema::{AGENT_LOG, AGENTS};
use super::{Store, StoreError, decode, encode};
use crate::core::agents::{Agent, AgentEvent, AgentState};

/// An agent as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRecord {
    /// The rules' view: id, state, since when, queues, a break asked for.
    #[serde(flatten)]
    pub agent: Agent,
    pub name: String,
    /// A logical name or a dial string (`PJSIP/1001`).
    pub endpoint: String,
    /// The campaigns it may work (dialing, manual calls).
    #[serde(default)]
    pub campaigns: Vec<String>,
}

/// One change of an agent's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentLogEntry {
    pub at_ms: u64,
    /// The state left and the state entered (`break:lunch`, `on_call`, …).
    pub from: String,
    pub to: String,
    /// The call it was about, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<String>,
}

/// A new agent, offline until it logs in.
#[derive(Debug, Clone)]
pub struct NewAgent {
    pub id: String,
    pub name: String,
    pub endpoint: String,
    pub queues: Vec<String>,
    pub campaigns: Vec<String>,
}

impl Store {
    /// Adds an agent, or updates who it is (name, endpoint, queues, campaigns) while
    /// keeping its state.
    pub fn put_agent(&self, new: NewAgent, now_ms: u64) -> Result<AgentRecord, StoreError> {
        if !crate::core::agents::is_valid_id(&new.id) {
            return Err(StoreError::BadInput(format!(
                "`{}` is not an agent id (letters, digits, `-`, `_`, `.`)",
                new.id
            )));
        }
        let tx = self.db.begin_write()?;
        let record = {
            let mut agents = tx.open_table(AGENTS)?;
            let old: Option<AgentRecord> = match agents.get(new.id.as_str())? {
                Some(v) => Some(decode("agents", v.value())?),
                None => None,
            };
            let agent = match old {
                Some(old) => Agent {
                    queues: new.queues,
                    ..old.agent
                },
                None => Agent {
                    id: new.id.clone(),
                    state: AgentState::Offline,
                    since_ms: now_ms,
                    queues: new.queues,
                    break_after: None,
                },
            };
            let record = AgentRecord {
                agent,
                name: new.name,
                endpoint: new.endpoint,
                campaigns: new.campaigns,
            };
            agents.insert(new.id.as_str(), encode(&record).as_slice())?;
            record
        };
        super::commit(tx, "agents")?;
        Ok(record)
    }

    pub fn agent(&self, id: &str) -> Result<AgentRecord, StoreError> {
        let tx = self.db.begin_read()?;
        let agents = tx.open_table(AGENTS)?;
        match agents.get(id)? {
            Some(v) => decode("agents", v.value()),
            None => Err(StoreError::NoAgent(id.to_string())),
        }
    }

    /// Every agent, by id.
    pub fn agents(&self) -> Result<Vec<AgentRecord>, StoreError> {
        let tx = self.db.begin_read()?;
        let agents = tx.open_table(AGENTS)?;
        let mut out = Vec::new();
        for row in agents.iter()? {
            out.push(decode("agents", row?.1.value())?);
        }
        Ok(out)
    }

    /// Applies `event` to agent `id` by the rules, logging the change of state in the
    /// same transaction; a refused event changes nothing (`BadInput`, saying why).
    pub fn agent_event(
        &self,
        id: &str,
        event: &AgentEvent,
        now_ms: u64,
    ) -> Result<AgentRecord, StoreError> {
        let tx = self.db.begin_write()?;
        let record = {
            let mut agents = tx.open_table(AGENTS)?;
            let mut record: AgentRecord = match agents.get(id)? {
                Some(v) => decode("agents", v.value())?,
                None => return Err(StoreError::NoAgent(id.to_string())),
            };
            let next = record
                .agent
                .apply(event, now_ms)
                .map_err(|e| StoreError::BadInput(e.to_string()))?;
            if next.state != record.agent.state {
                let mut log = tx.open_table(AGENT_LOG)?;
                let seq = log
                    .range((id, 0)..=(id, u64::MAX))?
                    .next_back()
                    .transpose()?
                    .map_or(0, |(k, _)| k.value().1 + 1);
                let entry = AgentLogEntry {
                    at_ms: now_ms,
                    from: record.agent.state.name(),
                    to: next.state.name(),
                    attempt: attempt_of(&next.state).or_else(|| attempt_of(&record.agent.state)),
                };
                log.insert((id, seq), encode(&entry).as_slice())?;
            }
            record.agent = next;
            agents.insert(id, encode(&record).as_slice())?;
            record
        };
        super::commit(tx, "agents")?;
        Ok(record)
    }

    /// Agent `id`'s log, oldest first, from entry `after` on (0 for all).
    pub fn agent_log(
        &self,
        id: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AgentLogEntry>, StoreError> {
        let tx = self.db.begin_read()?;
        let log = tx.open_table(AGENT_LOG)?;
        let mut out = Vec::new();
        for row in log.range((id, after)..=(id, u64::MAX))? {
            if out.len() >= limit {
                break;
            }
            out.push(decode("agent_log", row?.1.value())?);
        }
        Ok(out)
    }

    /// Agent `id`'s log from the change in force at `from_ms` on (the latest at or
    /// before it, which says their state then), oldest first. Read backwards from the
    /// newest entry, so a scrape pays for the day's changes, not the whole log's.
    pub fn agent_log_since(
        &self,
        id: &str,
        from_ms: u64,
    ) -> Result<Vec<AgentLogEntry>, StoreError> {
        let tx = self.db.begin_read()?;
        let log = tx.open_table(AGENT_LOG)?;
        let mut out = Vec::new();
        for row in log.range((id, 0)..=(id, u64::MAX))?.rev() {
            let entry: AgentLogEntry = decode("agent_log", row?.1.value())?;
            let before = entry.at_ms <= from_ms;
            out.push(entry);
            if before {
                break;
            }
        }
        out.reverse();
        Ok(out)
    }
}

fn attempt_of(state: &AgentState) -> Option<String> {
    match state {
        AgentState::Reserved { attempt }
        | AgentState::OnCall { attempt }
        | AgentState::WrapUp { attempt, .. } => Some(attempt.clone()),
        _ => None,
    }
}
