//! `serve` with a misbehaving provider: a delivery that traps it or runs it out of time
//! is answered 500 (Azure DevOps retries later), counted in `/metrics`, and holds up
//! neither the other deliveries nor the health check.

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

use provider_tests::{guests, test_limits};
use vcs_host::IntegrationConfig;
use vcs_host::storage::MemoryStorage;
use vcs_host::{HostConfig, Runtime};
use vcs_host_serve::RecordedExecutor;
use vcs_host_serve::{ProviderSet, RunningServer, ServeSettings, Server, ServerOptions};

fn serve(component: &str) -> RunningServer {
    let runtime = Arc::new(
        Runtime::new(HostConfig {
            limits: test_limits(),
            cache_dir: Some(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/component-cache"),
            ),
            ..HostConfig::default()
        })
        .unwrap(),
    );
    let provider = runtime.load(Path::new(component)).unwrap();
    Server::new(ServerOptions {
        providers: ProviderSet::new(runtime).with_provider(provider),
        storage: Arc::new(MemoryStorage::new()),
        executor: Arc::new(RecordedExecutor::builtin().unwrap()),
        integrations: vec![
            IntegrationConfig::parse(
                "id = \"hostile\"\n[vcs]\nbase_url = \"https://dev.azure.com/x/\"\n",
            )
            .unwrap(),
        ],
        settings: ServeSettings::default(),
    })
    .unwrap()
    .start("127.0.0.1:0".parse().unwrap())
    .unwrap()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn post(running: &RunningServer) -> (u16, String) {
    let response = agent()
        .post(&running.webhook_url("hostile"))
        .header("Content-Type", "application/json")
        .send(&br#"{"eventType": "git.push"}"#[..])
        .unwrap();
    let status = response.status().as_u16();
    (status, response.into_body().read_to_string().unwrap())
}

fn get(running: &RunningServer, path: &str) -> (u16, String, Duration) {
    let started = Instant::now();
    let response = agent()
        .get(&format!("http://{}{path}", running.addr()))
        .call()
        .unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.into_body().read_to_string().unwrap(),
        started.elapsed(),
    )
}

#[test]
fn a_panicking_provider_is_a_500_and_the_server_keeps_serving() {
    let running = serve(guests::PANIC);
    for _ in 0..3 {
        let (status, body) = post(&running);
        assert_eq!(status, 500, "{body}");
        assert!(body.contains("trapped"), "{body}");
    }
    let (status, metrics, _) = get(&running, "/metrics");
    assert_eq!(status, 200);
    assert!(
        metrics.contains("vcs_host_guest_traps_total{kind=\"trap\"} 3"),
        "{metrics}"
    );
    assert!(metrics.contains("outcome=\"error\"} 3"), "{metrics}");
    running.stop().unwrap();
}

#[test]
fn a_provider_that_never_returns_holds_up_nothing_else() {
    let running = serve(guests::LOOP_FOREVER);
    let stuck = std::thread::scope(|scope| {
        let slow = scope.spawn(|| {
            let started = Instant::now();
            let answer = post(&running);
            (answer, started.elapsed())
        });
        // While that delivery spins until its deadline, the server answers at once.
        std::thread::sleep(Duration::from_millis(200));
        for _ in 0..5 {
            let (status, _, took) = get(&running, "/healthz");
            assert_eq!(status, 200);
            assert!(took < Duration::from_millis(500), "healthz took {took:?}");
        }
        slow.join().unwrap()
    });
    let ((status, body), took) = stuck;
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("budget"), "{body}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    let (_, metrics, _) = get(&running, "/metrics");
    assert!(
        metrics.contains("vcs_host_guest_traps_total{kind=\"deadline\"} 1"),
        "{metrics}"
    );
    running.stop().unwrap();
}
