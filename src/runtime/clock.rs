//! The runtime's clock: real time, optionally compressed (the demo and benchmarks run
//! calls many times faster than real time against the simulated PBX).

use std::time::{Duration, Instant};

use crate::core::call::Millis;

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
    /// Unix milliseconds at `start`, for the wall-clock time campaigns live in.
    origin_ms: u64,
    /// Call milliseconds per real millisecond: 1.0 in production.
    speed: f64,
}

impl Clock {
    pub fn new(speed: f64) -> Self {
        Self {
            start: Instant::now(),
            origin_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            speed: if speed.is_finite() && speed > 0.0 {
                speed
            } else {
                1.0
            },
        }
    }

    /// Now, on the calls' clock.
    pub fn now(&self) -> Millis {
        Millis((self.start.elapsed().as_secs_f64() * 1000.0 * self.speed) as u64)
    }

    /// Wall-clock Unix milliseconds, running at the clock's speed from the real time it
    /// was made: campaign windows, retry delays and attempt times use it, so a compressed
    /// demo retries a busy number "ten minutes later" in seconds.
    pub fn wall_ms(&self) -> u64 {
        self.origin_ms.saturating_add(self.now().0)
    }

    /// The real time that `ms` of call time takes.
    pub fn real(&self, ms: u64) -> Duration {
        Duration::from_secs_f64(ms as f64 / 1000.0 / self.speed)
    }

    pub fn speed(&self) -> f64 {
        self.speed
    }
}
