//! The CPU time this process has used, so `dialflow run` can tell what its calls cost
//! the machine: measured over the batch of calls alone (from when it starts placing
//! them to its last call's end, connected to ARI already), as a client measuring
//! itself would, and for the whole process with its start-up (loading the binary,
//! compiling the scenario, connecting).

use std::time::Duration;

/// User and system CPU time of the whole process so far (every thread); `None` where
/// the clock cannot be read.
#[cfg(unix)]
pub fn process_cpu() -> Option<Duration> {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec for the call's duration; the clock
    // id is a constant the C library defines.
    let read = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) };
    if read != 0 {
        return None;
    }
    let secs = u64::try_from(now.tv_sec).ok()?;
    let nanos = u32::try_from(now.tv_nsec).ok()?;
    Some(Duration::new(secs, nanos))
}

/// No process CPU clock is read off Unix.
#[cfg(not(unix))]
pub fn process_cpu() -> Option<Duration> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn work_on_this_thread_shows_in_the_process_cpu() {
        let before = process_cpu().expect("the process clock reads");
        // Busy for a while: at least 20 ms of CPU, however fast the machine.
        let mut x = 0u64;
        while process_cpu().unwrap() - before < Duration::from_millis(20) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let used = process_cpu().unwrap() - before;
        assert!(used >= Duration::from_millis(20), "{used:?}");
        assert!(used < Duration::from_secs(10), "{used:?}");
    }
}
