//! A call's timers, kept in one queue its task polls beside its inputs. A timer costs an
//! entry in a timer wheel, not a task of its own with a channel send when it fires
//! (issue 12: a task per timer cost more than the call logic).

use std::collections::HashMap;
use std::future::poll_fn;
use std::task::Poll;
use std::time::Duration;

use tokio_util::time::DelayQueue;
use tokio_util::time::delay_queue::Key;

use crate::core::call::TimerId;

#[derive(Default)]
pub(super) struct CallTimers {
    queue: DelayQueue<TimerId>,
    keys: HashMap<u32, Key>,
}

impl CallTimers {
    /// Starts `timer` to fire `after` from now; one of the same id still running is
    /// replaced (the machine started it again).
    pub fn start(&mut self, timer: TimerId, after: Duration) {
        self.cancel(timer);
        let key = self.queue.insert(timer, after);
        self.keys.insert(timer.0, key);
    }

    pub fn cancel(&mut self, timer: TimerId) {
        if let Some(key) = self.keys.remove(&timer.0) {
            self.queue.remove(&key);
        }
    }

    /// The next timer to fire, when it does; never, while none is running.
    pub async fn next_due(&mut self) -> TimerId {
        let expired = poll_fn(|cx| match self.queue.poll_expired(cx) {
            Poll::Ready(Some(expired)) => Poll::Ready(expired),
            // Empty: nothing will fire until a timer is started, which happens outside
            // this wait (the task's loop polls again after every input).
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        })
        .await;
        let timer = expired.into_inner();
        self.keys.remove(&timer.0);
        timer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn timers_fire_in_order_and_a_cancelled_or_restarted_one_only_once() {
        let mut timers = CallTimers::default();
        timers.start(TimerId(1), Duration::from_millis(300));
        timers.start(TimerId(2), Duration::from_millis(100));
        timers.start(TimerId(3), Duration::from_millis(200));
        timers.cancel(TimerId(3));
        // Restarted: fires once, at its new time.
        timers.start(TimerId(2), Duration::from_millis(400));
        assert_eq!(timers.next_due().await, TimerId(1));
        assert_eq!(timers.next_due().await, TimerId(2));
        let none = tokio::time::timeout(Duration::from_secs(60), timers.next_due()).await;
        assert!(none.is_err(), "nothing else fires");
    }
}
