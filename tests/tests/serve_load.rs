//! Load through `serve` over loopback: 10,000 deliveries (10% duplicates, 5% invalid)
//! from 8 concurrent senders into a durable (redb) store, with the Azure DevOps stand-in
//! answering the provider. Every good delivery is processed exactly once, and the p99
//! answer time stays under 100 ms.

// A failing test is the point: tests may unwrap, expect, panic and index.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use provider_tests::serve_story::*;
use vcs_host::IntegrationConfig;
use vcs_host::json::RunReportJson;
use vcs_host::{HostConfig, Runtime};
use vcs_host_serve::{Executor, ExecutorError, ProviderSet, RecordedExecutor, RunRequest};
use vcs_host_serve::{ServeSettings, Server, ServerOptions};
use vcs_host_store::RedbStorage;

/// Counts every run request by its idempotency key.
#[derive(Debug)]
struct CountingExecutor {
    inner: RecordedExecutor,
    runs: Mutex<HashMap<String, u32>>,
}

impl Executor for CountingExecutor {
    fn run(&self, request: &RunRequest) -> Result<RunReportJson, ExecutorError> {
        *self
            .runs
            .lock()
            .unwrap()
            .entry(request.idempotency_key.clone())
            .or_default() += 1;
        self.inner.run(request)
    }
}

#[derive(Clone)]
enum Kind {
    Good { event: String, queues: bool },
    Duplicate { event: String },
    Invalid,
}

#[test]
fn ten_thousand_deliveries_exactly_once_with_p99_under_100_ms() {
    const TOTAL: usize = 10_000;
    const PRS: u64 = 1_500;
    const COMMENTS: u64 = 1_000;
    let story = Story::load();
    let standin = start_standin();
    for number in 1..=PRS {
        story.seed(&standin, number);
    }

    // 85% good: pull requests opened and `/scalr plan` comments (each queues a plan),
    // and pushes (nothing to run); 10% redeliveries of good ones; 5% invalid bodies.
    let invalid_bodies: Vec<Vec<u8>> =
        std::fs::read_dir(workspace().join("plugin/tests/fixtures/deliveries"))
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("invalid-"))
            })
            .map(|p| vcs_host::RecordedDelivery::from_file_bytes(&std::fs::read(&p).unwrap()).body)
            .collect();
    assert!(invalid_bodies.len() >= 10);
    let good_count = TOTAL * 85 / 100;
    let mut good: Vec<(Kind, Vec<u8>)> = Vec::with_capacity(good_count);
    for number in 1..=PRS {
        let event = event_id(1, number);
        good.push((
            Kind::Good {
                event: event.clone(),
                queues: true,
            },
            story.pr_created(number, &event),
        ));
    }
    for number in 1..=COMMENTS {
        let event = event_id(2, number);
        good.push((
            Kind::Good {
                event: event.clone(),
                queues: true,
            },
            story.plan_comment(number, 1, &event),
        ));
    }
    let mut n = 0;
    while good.len() < good_count {
        n += 1;
        let event = event_id(3, n);
        good.push((
            Kind::Good {
                event: event.clone(),
                queues: false,
            },
            story.push(&event),
        ));
    }
    // A deterministic shuffle (LCG), then duplicates and invalid ones spread through.
    let mut seed: u64 = 0x5eed;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        seed >> 33
    };
    for i in (1..good.len()).rev() {
        let j = (next() as usize) % (i + 1);
        good.swap(i, j);
    }
    let mut deliveries: Vec<(Kind, Vec<u8>)> = Vec::with_capacity(TOTAL);
    let mut duplicates = 0;
    let mut invalid = 0;
    for (i, item) in good.iter().enumerate() {
        deliveries.push(item.clone());
        if i % 17 == 16 && invalid < TOTAL / 20 {
            deliveries.push((
                Kind::Invalid,
                invalid_bodies[invalid % invalid_bodies.len()].clone(),
            ));
            invalid += 1;
        }
        if i % 9 == 8 && duplicates < TOTAL / 10 {
            // Redeliver an earlier good one (Azure DevOps retries whole deliveries).
            let earlier = &good[(next() as usize) % (i + 1)];
            let Kind::Good { event, .. } = &earlier.0 else {
                unreachable!()
            };
            deliveries.push((
                Kind::Duplicate {
                    event: event.clone(),
                },
                earlier.1.clone(),
            ));
            duplicates += 1;
        }
    }
    while invalid < TOTAL / 20 {
        deliveries.push((
            Kind::Invalid,
            invalid_bodies[invalid % invalid_bodies.len()].clone(),
        ));
        invalid += 1;
    }
    while duplicates < TOTAL / 10 {
        let earlier = &good[(next() as usize) % good.len()];
        let Kind::Good { event, .. } = &earlier.0 else {
            unreachable!()
        };
        deliveries.push((
            Kind::Duplicate {
                event: event.clone(),
            },
            earlier.1.clone(),
        ));
        duplicates += 1;
    }
    assert_eq!(deliveries.len(), TOTAL);

    let dir = tempfile::tempdir().unwrap();
    let runtime = Arc::new(Runtime::new(HostConfig::default()).unwrap());
    let provider = runtime
        .load(Path::new(vcs_guests::AZURE_DEVOPS_PROVIDER))
        .unwrap();
    let executor = Arc::new(CountingExecutor {
        inner: RecordedExecutor::builtin().unwrap(),
        runs: Mutex::default(),
    });
    let integration =
        IntegrationConfig::parse(&story.integration_toml("load", standin.base_url())).unwrap();
    let server = Server::new(ServerOptions {
        providers: ProviderSet::new(runtime).with_provider(provider),
        storage: Arc::new(RedbStorage::open(&dir.path().join("state.redb")).unwrap()),
        executor: executor.clone(),
        integrations: vec![integration],
        settings: ServeSettings {
            workers: 4,
            ..ServeSettings::default()
        },
    })
    .unwrap();
    let running = server.start("127.0.0.1:0".parse().unwrap()).unwrap();
    let url = running.webhook_url("load");

    // 8 senders, each taking every 8th delivery.
    let started = Instant::now();
    let deliveries = Arc::new(deliveries);
    let senders: Vec<_> = (0..8)
        .map(|sender| {
            let deliveries = deliveries.clone();
            let url = url.clone();
            let authorization = story.authorization.clone();
            std::thread::spawn(move || {
                let agent = agent();
                deliveries
                    .iter()
                    .enumerate()
                    .skip(sender)
                    .step_by(8)
                    .map(|(i, (_, body))| {
                        let (status, outcome, elapsed) = post(&agent, &url, &authorization, body);
                        (i, status, outcome, elapsed)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut answers: Vec<(usize, u16, String, Duration)> = senders
        .into_iter()
        .flat_map(|s| s.join().unwrap())
        .collect();
    let sending = started.elapsed();
    answers.sort_by_key(|a| a.0);
    assert!(
        running
            .server()
            .wait_idle(Duration::from_secs(300))
            .unwrap(),
        "the queue did not drain"
    );
    let total = started.elapsed();

    // Answers: invalid → 400; per event id exactly one non-duplicate answer.
    let mut firsts: HashMap<&str, u32> = HashMap::new();
    let mut queued_events = 0;
    for (i, status, outcome, _) in &answers {
        match &deliveries[*i].0 {
            Kind::Invalid => assert_eq!(
                (*status, outcome.as_str()),
                (400, "invalid"),
                "delivery {i}"
            ),
            Kind::Good { event, .. } | Kind::Duplicate { event } => {
                assert!(
                    *status == 200 || *status == 202,
                    "delivery {i}: {status} {outcome}"
                );
                if outcome != "duplicate" {
                    *firsts.entry(event.as_str()).or_default() += 1;
                    if outcome == "queued" {
                        queued_events += 1;
                    }
                }
            }
        }
    }
    let unique_good: HashSet<&str> = good
        .iter()
        .map(|(k, _)| match k {
            Kind::Good { event, .. } => event.as_str(),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(
        firsts.len(),
        unique_good.len(),
        "every good delivery was taken"
    );
    assert!(
        firsts.values().all(|n| *n == 1),
        "no good delivery was taken twice"
    );
    let expected_jobs = good
        .iter()
        .filter(|(k, _)| matches!(k, Kind::Good { queues: true, .. }))
        .count();
    assert_eq!(queued_events, expected_jobs);

    // Runs: one per queued job, none twice.
    let runs = executor.runs.lock().unwrap().clone();
    assert_eq!(runs.len(), expected_jobs, "one run per queued job");
    assert!(runs.values().all(|n| *n == 1), "no job ran twice");
    // Effects: one result comment per pull request, final statuses succeeded.
    for number in 1..=PRS {
        assert_eq!(result_threads(&standin, number), 1, "PR {number}");
        let states = final_states(&standin, number);
        assert!(
            !states.is_empty() && states.iter().all(|s| s == "succeeded"),
            "PR {number}: {states:?}"
        );
    }
    assert!(running.server().queue().dead_letters().unwrap().is_empty());
    let metrics = running.server().metrics();
    assert_eq!(metrics.traps_total(), 0);
    assert_eq!(metrics.jobs_with_result("done") as usize, expected_jobs);

    let mut latencies: Vec<Duration> = answers.iter().map(|a| a.3).collect();
    latencies.sort();
    let (p50, p99, max) = (
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies[latencies.len() - 1],
    );
    eprintln!(
        "load: {TOTAL} deliveries ({} good, {duplicates} duplicates, {invalid} invalid) sent in {:.1} s \
         ({:.0}/s); {expected_jobs} jobs done after {:.1} s; answer p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; \
         stand-in requests {}",
        unique_good.len(),
        sending.as_secs_f64(),
        TOTAL as f64 / sending.as_secs_f64(),
        total.as_secs_f64(),
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3,
        standin.counts().requests,
    );
    assert!(p99 < Duration::from_millis(100), "p99 answer time {p99:?}");
    running.stop().unwrap();
}
