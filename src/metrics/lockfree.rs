//! Lock-free metrics for hot paths: a histogram of atomics and a fixed-size family whose
//! label values are `&'static str`s named in the code, so recording one takes no lock
//! (prometheus-client's own `Histogram` takes a mutex per observation and its `Family`
//! a read lock per lookup). Both encode through prometheus-client's encoder.

use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

/// A histogram of durations in seconds: one atomic per bucket and one for the sum (in
/// nanoseconds, so adding needs no compare-and-swap loop on a float).
#[derive(Debug)]
pub struct AtomicHistogram {
    /// Upper bounds in seconds, ascending, as they are shown.
    bounds: &'static [f64],
    /// The same bounds in nanoseconds, compared against each observation.
    bounds_ns: Box<[u64]>,
    /// Observations per bucket, not cumulative; the last is past every bound (`+Inf`).
    counts: Box<[AtomicU64]>,
    sum_ns: AtomicU64,
}

impl AtomicHistogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            bounds_ns: bounds.iter().map(|b| (b * 1e9) as u64).collect(),
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_ns: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, took: Duration) {
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        let bucket = self.bounds_ns.partition_point(|&b| b < ns);
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// Observations so far (every bucket's count added up).
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }
}

impl TypedMetric for AtomicHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for AtomicHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let buckets: Vec<(f64, u64)> = self
            .bounds
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(self.counts.iter().map(|c| c.load(Ordering::Relaxed)))
            .collect();
        let count = buckets.iter().map(|(_, c)| c).sum();
        let sum = self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// Most label sets a [`StaticFamily`] holds: far more than the code names (ARI routes,
/// classification providers, delivery outcomes), so none is ever turned away.
const SLOTS: usize = 48;

/// A family of metrics keyed by label values the code names (`&'static str`s): a
/// lookup scans a fixed array of slots, each set once, so it takes no lock. The set of
/// keys is bounded by the code, never by data.
pub struct StaticFamily<K, M> {
    slots: Box<[OnceLock<(K, M)>]>,
    make: Box<dyn Fn() -> M + Send + Sync>,
}

impl<K: std::fmt::Debug, M: std::fmt::Debug> std::fmt::Debug for StaticFamily<K, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.slots.iter().map_while(|s| s.get()))
            .finish()
    }
}

impl<K: Copy + Eq, M> StaticFamily<K, M> {
    pub fn new(make: impl Fn() -> M + Send + Sync + 'static) -> Self {
        Self {
            slots: (0..SLOTS).map(|_| OnceLock::new()).collect(),
            make: Box::new(make),
        }
    }

    /// The metric of `key`, made on its first use; `None` only once every slot is taken
    /// by other keys (a bug: the code names fewer than `SLOTS`).
    pub fn get(&self, key: K) -> Option<&M> {
        for slot in self.slots.iter() {
            let (k, m) = slot.get_or_init(|| (key, (self.make)()));
            if *k == key {
                return Some(m);
            }
        }
        None
    }

    fn iter(&self) -> impl Iterator<Item = &(K, M)> {
        self.slots.iter().map_while(|s| s.get())
    }
}

impl<K, M> TypedMetric for StaticFamily<K, M>
where
    M: TypedMetric,
{
    const TYPE: MetricType = M::TYPE;
}

impl<K, M> EncodeMetric for StaticFamily<K, M>
where
    K: Copy + Eq + EncodeLabelSet + std::fmt::Debug + Send + Sync,
    M: EncodeMetric + TypedMetric,
{
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        for (key, metric) in self.iter() {
            metric.encode(encoder.encode_family(key)?)?;
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        M::TYPE
    }

    fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }
}

/// A metric the registry encodes while its owner records into it: prometheus-client's
/// registry takes ownership, and our lock-free metrics are not `Clone` themselves.
#[derive(Debug)]
pub struct Shared<M>(Arc<M>);

impl<M> Shared<M> {
    pub fn new(metric: M) -> Self {
        Self(Arc::new(metric))
    }
}

impl<M> Clone for Shared<M> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<M> Deref for Shared<M> {
    type Target = M;
    fn deref(&self) -> &M {
        &self.0
    }
}

impl<M: EncodeMetric> EncodeMetric for Shared<M> {
    fn encode(&self, encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        self.0.encode(encoder)
    }

    fn metric_type(&self) -> MetricType {
        self.0.metric_type()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_counts_each_observation_in_the_first_bucket_that_holds_it() {
        let h = AtomicHistogram::new(&[0.001, 0.01]);
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_millis(1));
        h.observe(Duration::from_millis(5));
        h.observe(Duration::from_secs(1));
        let counts: Vec<u64> = h.counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        assert_eq!(counts, [2, 1, 1]);
        assert_eq!(h.count(), 4);
        assert_eq!(h.sum_ns.load(Ordering::Relaxed), 1_006_500_000);
    }

    #[test]
    fn a_static_family_keeps_one_metric_per_key() {
        let f: StaticFamily<&'static str, AtomicU64> = StaticFamily::new(|| AtomicU64::new(0));
        for key in ["a", "b", "a"] {
            f.get(key).unwrap().fetch_add(1, Ordering::Relaxed);
        }
        let seen: Vec<_> = f
            .iter()
            .map(|(k, v)| (*k, v.load(Ordering::Relaxed)))
            .collect();
        assert_eq!(seen, [("a", 2), ("b", 1)]);
    }
}
