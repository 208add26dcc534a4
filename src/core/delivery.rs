//! Report delivery's rules, pure: what a panel's answer means for a report (delivered,
//! tried again, parked) and when the next try is due (exponential backoff with full
//! jitter from 1 s up to 5 min, a `Retry-After` on 429 and 503 honoured). The jitter is
//! an argument, so the schedule is a function a test can hold to its bounds.

use std::time::Duration;

/// The first retry waits up to this long.
pub const FIRST_DELAY: Duration = Duration::from_secs(1);
/// No retry waits longer than this (unless the panel asks, with `Retry-After`).
pub const MAX_DELAY: Duration = Duration::from_secs(300);
/// A `Retry-After` longer than this is taken as this: a panel cannot park a report
/// by asking for a day.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// What becomes of a report after one try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A 2xx: the panel has it.
    Delivered,
    /// Try again after this long.
    Retry(Duration),
    /// The panel refused it for good (a 4xx other than 408 and 429).
    Park,
}

/// What the panel answered, or that it could not be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Status {
        code: u16,
        /// Its `Retry-After`, in seconds, if it sent one.
        retry_after: Option<u64>,
    },
    /// No answer: refused, reset, timed out.
    Unreachable,
}

/// The delay before retry number `failures` (1 for the first retry): a uniform draw
/// in `[0, min(MAX_DELAY, FIRST_DELAY · 2^(failures-1))]` ("full jitter"), where
/// `jitter` in `[0, 1]` is the draw. Retries of many reports after an outage spread
/// out instead of arriving at the panel together.
pub fn backoff(failures: u32, jitter: f64) -> Duration {
    let exponent = failures.saturating_sub(1).min(20);
    let ceiling = FIRST_DELAY.saturating_mul(1u32 << exponent).min(MAX_DELAY);
    // Never sooner than a tenth of the first delay, so a draw of 0 does not spin.
    ceiling
        .mul_f64(jitter.clamp(0.0, 1.0))
        .max(FIRST_DELAY / 10)
}

/// What `answer` means for a report that has now failed `failures` times in a row
/// (counting this answer, if it is a failure).
pub fn verdict(answer: Answer, failures: u32, jitter: f64) -> Verdict {
    match answer {
        Answer::Status { code, .. } if (200..300).contains(&code) => Verdict::Delivered,
        Answer::Status {
            code: 429 | 503,
            retry_after: Some(seconds),
        } => Verdict::Retry(Duration::from_secs(seconds).min(MAX_RETRY_AFTER)),
        Answer::Status { code, .. } if (400..500).contains(&code) && code != 408 && code != 429 => {
            Verdict::Park
        }
        _ => Verdict::Retry(backoff(failures, jitter)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn status(code: u16) -> Answer {
        Answer::Status {
            code,
            retry_after: None,
        }
    }

    #[test]
    fn a_2xx_delivers_a_refusal_parks_and_the_rest_are_tried_again() {
        assert_eq!(verdict(status(200), 0, 0.5), Verdict::Delivered);
        assert_eq!(verdict(status(204), 0, 0.5), Verdict::Delivered);
        for code in [400, 401, 403, 404, 409, 422] {
            assert_eq!(verdict(status(code), 1, 0.5), Verdict::Park, "{code}");
        }
        for code in [408, 429, 500, 502, 503, 301] {
            assert!(
                matches!(verdict(status(code), 1, 0.5), Verdict::Retry(_)),
                "{code}"
            );
        }
        assert!(matches!(
            verdict(Answer::Unreachable, 1, 0.5),
            Verdict::Retry(_)
        ));
    }

    #[test]
    fn retry_after_is_honoured_on_429_and_503_only() {
        let asked = |code| Answer::Status {
            code,
            retry_after: Some(2),
        };
        assert_eq!(
            verdict(asked(429), 1, 0.0),
            Verdict::Retry(Duration::from_secs(2))
        );
        assert_eq!(
            verdict(asked(503), 9, 1.0),
            Verdict::Retry(Duration::from_secs(2))
        );
        assert_eq!(verdict(asked(500), 1, 1.0), Verdict::Retry(FIRST_DELAY));
        let day = Answer::Status {
            code: 429,
            retry_after: Some(86_400),
        };
        assert_eq!(verdict(day, 1, 0.0), Verdict::Retry(MAX_RETRY_AFTER));
    }

    #[test]
    fn the_ceiling_doubles_from_one_second_to_five_minutes() {
        let ceilings: Vec<u64> = (1..=11).map(|n| backoff(n, 1.0).as_secs()).collect();
        assert_eq!(ceilings, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
    }

    proptest! {
        #[test]
        fn every_delay_lies_within_its_ceiling(failures in 0u32..100_000, jitter in 0.0f64..=1.0) {
            let delay = backoff(failures, jitter);
            let ceiling = FIRST_DELAY
                .saturating_mul(1 << failures.saturating_sub(1).min(20))
                .min(MAX_DELAY);
            prop_assert!(delay >= FIRST_DELAY / 10);
            prop_assert!(delay <= ceiling.max(FIRST_DELAY / 10));
        }

        #[test]
        fn more_failures_never_lower_the_ceiling(failures in 1u32..1000) {
            prop_assert!(backoff(failures + 1, 1.0) >= backoff(failures, 1.0));
        }
    }
}
