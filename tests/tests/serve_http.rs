//! `serve` in process against the Azure DevOps stand-in: the answer contract, health and
//! metrics, faults from Azure DevOps (retried, given up, never blocking other work), and
//! a graceful shutdown that re-queues what it could not finish.

// A failing test is the point: tests may unwrap, expect, panic and index.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use provider_tests::serve_story::*;
use standin::azure_devops::{Fault, FaultKind, StandIn};
use vcs_host::IntegrationConfig;
use vcs_host::storage::MemoryStorage;
use vcs_host::{HostConfig, Runtime};
use vcs_host_serve::RecordedExecutor;
use vcs_host_serve::queue::{JobQueue, Stage};
use vcs_host_serve::{ProviderSet, RunningServer, ServeSettings, Server, ServerOptions};
use vcs_host_store::{RedbStorage, TxStore};

fn server(
    standin: &StandIn,
    storage: Arc<dyn TxStore>,
    executor: RecordedExecutor,
    settings: ServeSettings,
) -> RunningServer {
    let story = Story::load();
    let runtime = Arc::new(Runtime::new(HostConfig::default()).unwrap());
    let provider = runtime
        .load(Path::new(vcs_guests::AZURE_DEVOPS_PROVIDER))
        .unwrap();
    Server::new(ServerOptions {
        providers: ProviderSet::new(runtime).with_provider(provider),
        storage,
        executor: Arc::new(executor),
        integrations: vec![
            IntegrationConfig::parse(&story.integration_toml("contoso", standin.base_url()))
                .unwrap(),
        ],
        settings,
    })
    .unwrap()
    .start("127.0.0.1:0".parse().unwrap())
    .unwrap()
}

fn fast() -> ServeSettings {
    ServeSettings {
        workers: 3,
        poll_interval_ms: 20,
        retry_base_ms: 100,
        ..ServeSettings::default()
    }
}

#[test]
fn answers_follow_the_contract() {
    let story = Story::load();
    let standin = start_standin();
    story.seed(&standin, 1);
    let running = server(
        &standin,
        Arc::new(MemoryStorage::new()),
        RecordedExecutor::builtin().unwrap(),
        fast(),
    );
    let agent = agent();
    let url = running.webhook_url("contoso");
    let auth = story.authorization.as_str();
    let created = story.pr_created(1, &event_id(1, 1));

    let (status, outcome, _) = post(&agent, &running.webhook_url("nobody"), auth, &created);
    assert_eq!((status, outcome.as_str()), (404, "unknown_integration"));
    let (status, outcome, _) = post(&agent, &url, "Basic d3Jvbmc6d3Jvbmc=", &created);
    assert_eq!((status, outcome.as_str()), (401, "rejected"));
    let huge = vec![b' '; 3 * 1024 * 1024];
    let (status, outcome, _) = post(&agent, &url, auth, &huge);
    assert_eq!((status, outcome.as_str()), (413, "too_large"));
    let (status, outcome, _) = post(&agent, &url, "Basic d3Jvbmc6d3Jvbmc=", &huge);
    assert_eq!(
        (status, outcome.as_str()),
        (401, "rejected"),
        "credentials are checked before the size"
    );
    let (status, outcome, _) = post(&agent, &url, auth, b"{\"eventType\": 7");
    assert_eq!((status, outcome.as_str()), (400, "invalid"));
    let (status, outcome, _) = post(&agent, &url, auth, &created);
    assert_eq!((status, outcome.as_str()), (202, "queued"));
    let (status, outcome, _) = post(&agent, &url, auth, &created);
    assert_eq!((status, outcome.as_str()), (200, "duplicate"));
    let (status, outcome, _) = post(&agent, &url, auth, &story.push(&event_id(3, 1)));
    assert_eq!(
        (status, outcome.as_str()),
        (200, "event"),
        "a push runs nothing here"
    );
    // Never 410 (Azure DevOps would disable the subscription), and no 5xx for a GET.
    let get = agent.get(&url).call().unwrap();
    assert_eq!(get.status().as_u16(), 405);

    assert!(running.server().wait_idle(Duration::from_secs(30)).unwrap());
    assert_eq!(result_threads(&standin, 1), 1);

    let health = agent
        .get(&format!("http://{}/healthz", running.addr()))
        .call()
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let health: serde_json::Value =
        serde_json::from_str(&health.into_body().read_to_string().unwrap()).unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["queue_depth"], 0);

    let metrics = agent
        .get(&format!("http://{}/metrics", running.addr()))
        .call()
        .unwrap();
    assert!(
        metrics
            .headers()
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap().starts_with("text/plain; version=0.0.4"))
    );
    let text = metrics.into_body().read_to_string().unwrap();
    for line in [
        "vcs_host_deliveries_total{integration=\"contoso\",outcome=\"queued\"} 1",
        "vcs_host_deliveries_total{integration=\"contoso\",outcome=\"duplicate\"} 1",
        "vcs_host_deliveries_total{integration=\"contoso\",outcome=\"rejected\"} 2",
        "vcs_host_deliveries_total{integration=\"contoso\",outcome=\"too_large\"} 1",
        "vcs_host_deliveries_total{integration=\"contoso\",outcome=\"invalid\"} 1",
        "vcs_host_deliveries_total{integration=\"(unknown)\",outcome=\"unknown_integration\"} 1",
        "vcs_host_delivery_answer_seconds_count 8",
        "vcs_host_queue_depth 0",
        "vcs_host_jobs_total{kind=\"plan\",result=\"done\"} 1",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    assert!(
        text.contains(
            "vcs_host_outbound_http_requests_total{integration=\"contoso\",status=\"200\"}"
        )
    );
    running.stop().unwrap();
}

#[test]
fn azure_devops_faults_are_retried_or_given_up_and_never_block_other_work() {
    let story = Story::load();
    let standin = start_standin();
    for number in 1..=10 {
        story.seed(&standin, number);
    }
    // PR 1: rate limited once (Retry-After 1 s). PR 2: two 500s. PR 3: every request
    // takes 3 s. PR 4: a sign-in page (the token is not taken), for good.
    standin.inject(Fault::new(
        Some("POST"),
        "pullRequests/1/threads",
        1,
        FaultKind::RateLimited {
            retry_after_seconds: 1,
        },
    ));
    standin.inject(Fault::new(
        Some("POST"),
        "pullRequests/2/threads",
        2,
        FaultKind::ServerError(500),
    ));
    standin.inject(Fault::new(
        None,
        "pullRequests/3/",
        100,
        FaultKind::Delay(Duration::from_secs(3)),
    ));
    standin.inject(Fault::new(
        None,
        "pullRequests/4/",
        1000,
        FaultKind::SignInPage203,
    ));
    let running = server(
        &standin,
        Arc::new(MemoryStorage::new()),
        RecordedExecutor::builtin().unwrap(),
        fast(),
    );
    let agent = agent();
    let url = running.webhook_url("contoso");
    let started = Instant::now();
    for number in 1..=10 {
        let (status, outcome, _) = post(
            &agent,
            &url,
            &story.authorization,
            &story.pr_created(number, &event_id(1, number)),
        );
        assert_eq!((status, outcome.as_str()), (202, "queued"), "PR {number}");
    }
    // The healthy pull requests finish while PR 3 is still waiting on its slow answers.
    let healthy = [5u64, 6, 7, 8, 9, 10];
    let deadline = Instant::now() + Duration::from_secs(20);
    while healthy.iter().any(|n| result_threads(&standin, *n) == 0) {
        assert!(
            Instant::now() < deadline,
            "healthy pull requests were held up"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let healthy_done = started.elapsed();
    assert!(
        result_threads(&standin, 3) == 0,
        "PR 3 should still be waiting (healthy ones took {healthy_done:?})"
    );

    assert!(running.server().wait_idle(Duration::from_secs(90)).unwrap());
    for number in [1u64, 2, 3, 5, 6, 7, 8, 9, 10] {
        assert_eq!(result_threads(&standin, number), 1, "PR {number}");
        let states = final_states(&standin, number);
        assert!(
            states.iter().all(|s| s == "succeeded"),
            "PR {number}: {states:?}"
        );
    }
    assert_eq!(result_threads(&standin, 4), 0);
    let dead = running.server().queue().dead_letters().unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].1.job.pull_request, 4);
    let reason = dead[0].1.last_error.clone().unwrap_or_default();
    assert!(reason.starts_with("unauthorized"), "{reason}");
    let metrics = running.server().metrics();
    assert!(
        metrics.jobs_with_result("retried") >= 3,
        "429 once, 500 twice"
    );
    assert_eq!(metrics.jobs_with_result("dead"), 1);
    eprintln!(
        "faults: healthy pull requests done after {healthy_done:?}; everything after {:?}",
        started.elapsed()
    );
    running.stop().unwrap();
}

#[test]
fn a_graceful_shutdown_requeues_unfinished_work_and_a_restart_finishes_it() {
    let story = Story::load();
    let standin = start_standin();
    for number in 1..=6 {
        story.seed(&standin, number);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let slow = || {
        RecordedExecutor::builtin()
            .unwrap()
            .with_delay(Duration::from_millis(400))
    };
    let settings = ServeSettings {
        workers: 2,
        ..fast()
    };
    let running = server(
        &standin,
        Arc::new(RedbStorage::open(&path).unwrap()),
        slow(),
        settings.clone(),
    );
    let agent = agent();
    for number in 1..=6 {
        let (status, ..) = post(
            &agent,
            &running.webhook_url("contoso"),
            &story.authorization,
            &story.pr_created(number, &event_id(1, number)),
        );
        assert_eq!(status, 202);
    }
    std::thread::sleep(Duration::from_millis(150));
    running.stop().unwrap();
    let finished = (1..=6).filter(|n| result_threads(&standin, *n) > 0).count();
    assert!(finished < 6, "all finished before the shutdown");

    let storage: Arc<dyn TxStore> = Arc::new(RedbStorage::open(&path).unwrap());
    {
        let queue = vcs_host_serve::queue::KvQueue::new(storage.clone(), Duration::from_secs(60));
        let pending = queue.pending().unwrap();
        assert_eq!(pending.len(), 6 - finished);
        for key in &pending {
            let item = queue.read(key).unwrap().unwrap();
            assert!(
                item.lease.is_none(),
                "released, not left to a lease: {item:?}"
            );
            // What was running finished its stage and kept its progress.
            assert!(matches!(
                item.stage,
                Stage::Queued | Stage::Ran | Stage::Published
            ));
        }
    }
    let restarted = server(&standin, storage, slow(), settings);
    assert!(
        restarted
            .server()
            .wait_idle(Duration::from_secs(30))
            .unwrap()
    );
    for number in 1..=6 {
        assert_eq!(result_threads(&standin, number), 1, "PR {number}");
    }
    restarted.stop().unwrap();
}
