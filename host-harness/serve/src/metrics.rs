//! `serve`'s counters, in the Prometheus text exposition format (version 0.0.4).
//!
//! Hand-written rather than a metrics crate: a handful of counters, one gauge pair and
//! one histogram, whose names and labels are part of the host's documented surface.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use vcs_host::CallError;
use vcs_host::http::{HttpBackend, HttpError, InboundResponse, OutboundRequest};

/// Upper bounds (seconds) of the answer-time histogram's buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Labelled counters: label values → count.
#[derive(Debug, Default)]
struct Family(Mutex<BTreeMap<Vec<String>, u64>>);

impl Family {
    fn add(&self, labels: &[&str], by: u64) {
        if let Ok(mut map) = self.0.lock() {
            let entry = map
                .entry(labels.iter().map(|l| (*l).to_owned()).collect())
                .or_default();
            *entry = entry.saturating_add(by);
        }
    }

    fn snapshot(&self) -> Vec<(Vec<String>, u64)> {
        self.0
            .lock()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default()
    }

    fn sum_where(&self, index: usize, value: &str) -> u64 {
        self.snapshot()
            .into_iter()
            .filter(|(labels, _)| labels.get(index).is_some_and(|l| l == value))
            .map(|(_, n)| n)
            .sum()
    }
}

/// Every metric `serve` exposes at `/metrics`.
#[derive(Debug)]
pub struct Metrics {
    deliveries: Family,
    jobs: Family,
    traps: Family,
    outbound: Family,
    storage_conflicts: AtomicU64,
    queue_depth: AtomicI64,
    jobs_in_flight: AtomicI64,
    answer_buckets: [AtomicU64; BUCKETS.len()],
    answer_count: AtomicU64,
    answer_sum_micros: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            deliveries: Family::default(),
            jobs: Family::default(),
            traps: Family::default(),
            outbound: Family::default(),
            storage_conflicts: AtomicU64::new(0),
            queue_depth: AtomicI64::new(0),
            jobs_in_flight: AtomicI64::new(0),
            answer_buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            answer_count: AtomicU64::new(0),
            answer_sum_micros: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// A delivery was answered with `outcome` after `elapsed`.
    pub fn delivery(&self, integration: &str, outcome: &str, elapsed: Duration) {
        self.deliveries.add(&[integration, outcome], 1);
        let seconds = elapsed.as_secs_f64();
        for (bound, bucket) in BUCKETS.iter().zip(&self.answer_buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.answer_count.fetch_add(1, Ordering::Relaxed);
        self.answer_sum_micros.fetch_add(
            u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Deliveries answered with `outcome`, all integrations.
    pub fn deliveries_with_outcome(&self, outcome: &str) -> u64 {
        self.deliveries.sum_where(1, outcome)
    }

    /// A job finished with `result` (`done`, `retried`, `dead`, `released`).
    pub fn job(&self, kind: &str, result: &str) {
        self.jobs.add(&[kind, result], 1);
    }

    /// Jobs that finished with `result`, all kinds.
    pub fn jobs_with_result(&self, result: &str) -> u64 {
        self.jobs.sum_where(1, result)
    }

    /// A provider call did not return.
    pub fn trap(&self, error: &CallError) {
        let kind = match error {
            CallError::Deadline { .. } => "deadline",
            CallError::MemoryLimit { .. } => "memory",
            CallError::StackOverflow { .. } => "stack_overflow",
            CallError::Trap { .. } => "trap",
            CallError::Instantiate(_) => "instantiate",
            CallError::Invalid(_) => "invalid_call",
        };
        self.traps.add(&[kind], 1);
    }

    /// Guest traps so far, all kinds.
    pub fn traps_total(&self) -> u64 {
        self.traps.snapshot().iter().map(|(_, n)| n).sum()
    }

    /// A commit lost a race and was retried.
    pub fn storage_conflict(&self) {
        self.storage_conflicts.fetch_add(1, Ordering::Relaxed);
    }

    /// The queue's length at the last look.
    pub fn set_queue_depth(&self, depth: usize) {
        self.queue_depth
            .store(i64::try_from(depth).unwrap_or(i64::MAX), Ordering::Relaxed);
    }

    /// One job more (`+1`) or fewer (`-1`) running.
    pub fn jobs_in_flight(&self, delta: i64) {
        self.jobs_in_flight.fetch_add(delta, Ordering::Relaxed);
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        family(
            &mut out,
            "vcs_host_deliveries_total",
            "Webhook deliveries answered, by integration and outcome.",
            &["integration", "outcome"],
            &self.deliveries,
        );
        let _ = writeln!(
            out,
            "# HELP vcs_host_delivery_answer_seconds Time from request to answer of webhook deliveries.\n# TYPE vcs_host_delivery_answer_seconds histogram"
        );
        for (bound, bucket) in BUCKETS.iter().zip(&self.answer_buckets) {
            let _ = writeln!(
                out,
                "vcs_host_delivery_answer_seconds_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.answer_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "vcs_host_delivery_answer_seconds_bucket{{le=\"+Inf\"}} {count}\nvcs_host_delivery_answer_seconds_sum {}\nvcs_host_delivery_answer_seconds_count {count}",
            self.answer_sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(
            out,
            "# HELP vcs_host_queue_depth Jobs waiting or running in the durable queue.\n# TYPE vcs_host_queue_depth gauge\nvcs_host_queue_depth {}",
            self.queue_depth.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP vcs_host_jobs_in_flight Jobs this process is running.\n# TYPE vcs_host_jobs_in_flight gauge\nvcs_host_jobs_in_flight {}",
            self.jobs_in_flight.load(Ordering::Relaxed)
        );
        family(
            &mut out,
            "vcs_host_jobs_total",
            "Queued jobs finished, by kind and result (done, retried, dead, released).",
            &["kind", "result"],
            &self.jobs,
        );
        family(
            &mut out,
            "vcs_host_guest_traps_total",
            "Provider calls that did not return, by kind.",
            &["kind"],
            &self.traps,
        );
        family(
            &mut out,
            "vcs_host_outbound_http_requests_total",
            "Outbound HTTP requests of providers, by integration and status (or error).",
            &["integration", "status"],
            &self.outbound,
        );
        let _ = writeln!(
            out,
            "# HELP vcs_host_storage_conflicts_total Commits that lost a race and were retried.\n# TYPE vcs_host_storage_conflicts_total counter\nvcs_host_storage_conflicts_total {}",
            self.storage_conflicts.load(Ordering::Relaxed)
        );
        out
    }
}

fn family(out: &mut String, name: &str, help: &str, labels: &[&str], values: &Family) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
    for (values, count) in values.snapshot() {
        let pairs: Vec<String> = labels
            .iter()
            .zip(&values)
            .map(|(label, value)| format!("{label}=\"{}\"", escape_label(value)))
            .collect();
        let _ = writeln!(out, "{name}{{{}}} {count}", pairs.join(","));
    }
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Counts a provider's outbound requests by answer status.
pub struct CountingHttp {
    inner: std::sync::Arc<dyn HttpBackend>,
    integration: String,
    metrics: std::sync::Arc<Metrics>,
}

impl CountingHttp {
    /// Count `inner`'s requests for `integration` into `metrics`.
    pub fn new(
        inner: std::sync::Arc<dyn HttpBackend>,
        integration: String,
        metrics: std::sync::Arc<Metrics>,
    ) -> Self {
        Self {
            inner,
            integration,
            metrics,
        }
    }
}

impl HttpBackend for CountingHttp {
    fn send(&self, request: &OutboundRequest) -> Result<InboundResponse, HttpError> {
        let result = self.inner.send(request);
        let status = match &result {
            Ok(response) => response.status.to_string(),
            Err(_) => "error".to_string(),
        };
        self.metrics
            .outbound
            .add(&[self.integration.as_str(), status.as_str()], 1);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_every_family_and_cumulative_buckets() {
        let metrics = Metrics::default();
        metrics.delivery("contoso", "accepted", Duration::from_millis(3));
        metrics.delivery("contoso", "duplicate", Duration::from_millis(30));
        metrics.delivery("we\"ird", "invalid", Duration::from_secs(9));
        metrics.job("plan", "done");
        metrics.set_queue_depth(4);
        metrics.trap(&CallError::Deadline { budget_ms: 5 });
        let text = metrics.render();
        for needle in [
            "vcs_host_deliveries_total{integration=\"contoso\",outcome=\"accepted\"} 1",
            "vcs_host_deliveries_total{integration=\"we\\\"ird\",outcome=\"invalid\"} 1",
            "vcs_host_delivery_answer_seconds_bucket{le=\"0.005\"} 1",
            "vcs_host_delivery_answer_seconds_bucket{le=\"0.05\"} 2",
            "vcs_host_delivery_answer_seconds_bucket{le=\"+Inf\"} 3",
            "vcs_host_delivery_answer_seconds_count 3",
            "vcs_host_queue_depth 4",
            "vcs_host_jobs_total{kind=\"plan\",result=\"done\"} 1",
            "vcs_host_guest_traps_total{kind=\"deadline\"} 1",
            "# TYPE vcs_host_outbound_http_requests_total counter",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
        assert_eq!(metrics.deliveries_with_outcome("accepted"), 1);
        assert_eq!(metrics.jobs_with_result("done"), 1);
        assert_eq!(metrics.traps_total(), 1);
    }
}
