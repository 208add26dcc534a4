//! The runtime's clock: real time, optionally compressed (the demo and benchmarks run
//! calls many times faster than real time against the simulated PBX).

use std::time::{Duration, Instant};

use crate::core::call::Millis;

/// The system clock in Unix milliseconds.
fn system_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

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
            origin_ms: system_ms(),
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

    /// Wall-clock Unix milliseconds: campaign windows, retry delays and attempt times
    /// use it. At real speed it is the system clock itself, read each time, so a
    /// corrected clock (NTP stepping it after boot, a resumed VM) moves calling hours
    /// with it. Compressed, it runs at the clock's speed from the real time it was made,
    /// so a demo retries a busy number "ten minutes later" in seconds.
    pub fn wall_ms(&self) -> u64 {
        if self.speed == 1.0 {
            return system_ms();
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_speed_reads_the_system_clock_and_compressed_runs_fast() {
        let real = Clock::new(1.0);
        assert!(real.wall_ms().abs_diff(system_ms()) < 1_000);
        let fast = Clock::new(1_000.0);
        std::thread::sleep(Duration::from_millis(20));
        // 20 ms of real time is 20 s of compressed time.
        assert!(fast.wall_ms() >= system_ms() + 15_000);
    }
}
