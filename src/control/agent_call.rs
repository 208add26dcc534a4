//! An agent's own call, asked through the daemon: a manual call (the agent typed the
//! number) or a preview call (the agent saw the lead first). The dialer leases the
//! lead with every check a campaign's call gets, reserves the agent, and dials.

use tokio::sync::oneshot;

use crate::desk::DeskError;
use crate::store::{LeadRefusal, StoreError};

/// Lead `lead_id` of `campaign`, dialed now for `agent` alone; the reply is the
/// attempt's id, or why not.
#[derive(Debug)]
pub struct AgentCall {
    pub agent: String,
    pub campaign: String,
    pub lead_id: u64,
    pub reply: oneshot::Sender<Result<String, AgentCallError>>,
}

/// Why an agent's call was not placed.
#[derive(Debug, thiserror::Error)]
pub enum AgentCallError {
    #[error("this dialflow dials no campaigns (numbers given on the command line)")]
    NoDialer,
    #[error("the daemon is stopping")]
    Stopping,
    #[error("campaign `{campaign}` cannot dial now: {why}")]
    Campaign { campaign: String, why: String },
    #[error(transparent)]
    Lead(#[from] LeadRefusal),
    #[error(transparent)]
    Desk(#[from] DeskError),
    #[error(transparent)]
    Store(#[from] StoreError),
}
