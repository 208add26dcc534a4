//! Classification latency per campaign, for the dashboard's KPIs: the last
//! `KEPT` classifications of each campaign (a ring), from which p50 and p99 are read.
//! Recorded once per classification, off the event path.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Samples kept per campaign.
pub const KEPT: usize = 1_024;

/// One campaign's latest samples, in milliseconds.
#[derive(Default)]
struct Ring {
    samples: Vec<u32>,
    next: usize,
}

impl Ring {
    fn push(&mut self, ms: u32) {
        if self.samples.len() < KEPT {
            self.samples.push(ms);
        } else {
            self.samples[self.next] = ms;
        }
        self.next = (self.next + 1) % KEPT;
    }
}

/// p50 and p99 of a campaign's latest classifications, and how many they are.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Percentiles {
    pub p50_ms: u32,
    pub p99_ms: u32,
    pub samples: usize,
}

/// Campaign → its ring.
#[derive(Default)]
pub struct CampaignLatencies {
    rings: Mutex<HashMap<String, Ring>>,
}

impl CampaignLatencies {
    pub fn record(&self, campaign: &str, took: Duration) {
        let ms = u32::try_from(took.as_millis()).unwrap_or(u32::MAX);
        let mut rings = self.rings.lock().unwrap_or_else(|e| e.into_inner());
        match rings.get_mut(campaign) {
            Some(ring) => ring.push(ms),
            None => rings.entry(campaign.to_string()).or_default().push(ms),
        }
    }

    /// The campaign's percentiles (none before its first classification).
    pub fn percentiles(&self, campaign: &str) -> Option<Percentiles> {
        let mut samples = {
            let rings = self.rings.lock().unwrap_or_else(|e| e.into_inner());
            rings.get(campaign)?.samples.clone()
        };
        samples.sort_unstable();
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
        Some(Percentiles {
            p50_ms: at(0.5),
            p99_ms: at(0.99),
            samples: samples.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_latest_samples_of_each_campaign() {
        let l = CampaignLatencies::default();
        assert_eq!(l.percentiles("spring"), None);
        for ms in 1..=100 {
            l.record("spring", Duration::from_millis(ms));
        }
        l.record("autumn", Duration::from_millis(7));
        let p = l.percentiles("spring").unwrap();
        assert_eq!((p.p50_ms, p.p99_ms, p.samples), (51, 99, 100));
        assert_eq!(l.percentiles("autumn").unwrap().p99_ms, 7);
        // The ring keeps only the latest: old fast samples fall out.
        for _ in 0..KEPT {
            l.record("spring", Duration::from_millis(500));
        }
        assert_eq!(l.percentiles("spring").unwrap().p50_ms, 500);
    }
}
