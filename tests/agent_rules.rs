//! Agents' rules under any sequence of events (proptest): only an available agent is
//! ever given a call, a failed connection always gives the agent back, and no agent
//! logs out with a call or a wrap-up pending.

use dialflow::core::agents::{Agent, AgentEvent, AgentState};
use proptest::prelude::*;

fn event() -> impl Strategy<Value = AgentEvent> {
    prop_oneof![
        Just(AgentEvent::Login),
        Just(AgentEvent::Ready),
        Just(AgentEvent::Break {
            reason: "lunch".into()
        }),
        Just(AgentEvent::Logout),
        Just(AgentEvent::Reserve {
            attempt: "a".into()
        }),
        Just(AgentEvent::ReleaseReservation),
        Just(AgentEvent::Bridged),
        (0u64..60_000).prop_map(|wrap_up_ms| AgentEvent::CallEnded { wrap_up_ms }),
        Just(AgentEvent::Disposed),
        Just(AgentEvent::WrapUpOver),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn the_rules_hold_whatever_happens(events in prop::collection::vec((event(), 0u64..5_000), 1..60)) {
        let mut agent = Agent {
            id: "ali".into(),
            state: AgentState::Offline,
            since_ms: 0,
            queues: vec!["sales".into()],
            break_after: None,
        };
        let mut now = 0;
        for (event, gap) in events {
            now += gap;
            let before = agent.state.clone();
            let Ok(after) = agent.apply(&event, now) else {
                continue;
            };
            match (&event, &after.state) {
                (AgentEvent::Reserve { .. }, _) => {
                    prop_assert_eq!(&before, &AgentState::Available, "a call for a busy agent")
                }
                (AgentEvent::ReleaseReservation, state) => prop_assert!(
                    matches!(state, AgentState::Available | AgentState::Break { .. }),
                    "a released agent is {:?}", state
                ),
                (AgentEvent::Logout, _) => prop_assert!(
                    matches!(before, AgentState::Available | AgentState::Break { .. }),
                    "logged out from {:?}", before
                ),
                _ => {}
            }
            if matches!(after.state, AgentState::Reserved { .. }) {
                let from_available_or_kept =
                    matches!(before, AgentState::Available | AgentState::Reserved { .. });
                prop_assert!(from_available_or_kept, "reserved from {:?}", before);
            }
            prop_assert!(after.since_ms <= now);
            agent = after;
        }
    }
}
