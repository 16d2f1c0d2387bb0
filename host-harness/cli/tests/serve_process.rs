//! `host-harness serve` as a process: killed mid-run and started again it loses no
//! accepted delivery; two processes on one PostgreSQL database process each event once;
//! SIGTERM shuts down gracefully.

// A failing test is the point: tests may unwrap, expect, panic and index.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use provider_tests::serve_story::*;
use serde_json::Value;

/// A running `host-harness serve` child.
struct ServeProcess {
    child: Child,
    addr: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl ServeProcess {
    fn start(config: &Path, env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_host-harness"));
        command
            .args(["serve", "--config"])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("spawn host-harness serve");
        let stderr = child.stderr.take().unwrap();
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("listening on http://").nth(1) {
                    let _ = tx.send(addr.trim().to_string());
                }
                sink.lock().unwrap().push(line);
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|_| panic!("serve did not start: {:?}", log.lock().unwrap()));
        Self { child, addr, log }
    }

    fn url(&self, integration: &str) -> String {
        format!("http://{}/webhooks/azure-devops/{integration}", self.addr)
    }

    fn get(&self, path: &str) -> String {
        agent()
            .get(&format!("http://{}{path}", self.addr))
            .call()
            .map(|r| r.into_body().read_to_string().unwrap_or_default())
            .unwrap_or_default()
    }

    fn queue_depth(&self) -> Option<u64> {
        serde_json::from_str::<Value>(&self.get("/healthz"))
            .ok()?
            .get("queue_depth")?
            .as_u64()
    }

    /// A counter's sum over all its label sets.
    fn metric_sum(&self, name: &str, label_filter: &str) -> u64 {
        self.get("/metrics")
            .lines()
            .filter(|l| l.starts_with(name) && l.contains(label_filter))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }

    /// SIGTERM, then wait for the exit.
    fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "serve did not stop on SIGTERM: {:?}",
                self.log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_configs(dir: &Path, story: &Story, base_url: &str, storage: &str) -> std::path::PathBuf {
    std::fs::write(
        dir.join("integration.toml"),
        story.integration_toml("contoso", base_url),
    )
    .unwrap();
    let serve = format!(
        "[serve]\nlisten = \"127.0.0.1:0\"\nworkers = 2\nlease_seconds = 2\npoll_interval_ms = 50\n\
         retry_base_ms = 100\nshutdown_grace_seconds = 10\n\n{storage}\n\n[executor]\ndelay_ms = 20\n\n\
         [[integration]]\nfile = \"integration.toml\"\n"
    );
    let path = dir.join("serve.toml");
    std::fs::write(&path, serve).unwrap();
    path
}

fn send_all(url: &str, authorization: &str, bodies: &[Vec<u8>]) -> Vec<(u16, String)> {
    let chunks: Vec<Vec<(usize, Vec<u8>)>> = (0..4)
        .map(|k| {
            bodies
                .iter()
                .cloned()
                .enumerate()
                .skip(k)
                .step_by(4)
                .collect()
        })
        .collect();
    let mut answers: Vec<(usize, u16, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                scope.spawn(move || {
                    let agent = agent();
                    chunk
                        .into_iter()
                        .map(|(i, body)| {
                            let (status, outcome, _) = post(&agent, url, authorization, &body);
                            (i, status, outcome)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    answers.sort_by_key(|a| a.0);
    answers.into_iter().map(|(_, s, o)| (s, o)).collect()
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_killed_server_loses_no_accepted_delivery() {
    const PRS: u64 = 120;
    let story = Story::load();
    let standin = start_standin();
    for number in 1..=PRS {
        story.seed(&standin, number);
    }
    let dir = tempfile::tempdir().unwrap();
    let config = write_configs(
        dir.path(),
        &story,
        standin.base_url(),
        "[storage]\nbackend = \"redb\"\npath = \"state.redb\"",
    );
    let bodies: Vec<Vec<u8>> = (1..=PRS)
        .map(|n| story.pr_created(n, &event_id(7, n)))
        .collect();

    let first = ServeProcess::start(&config, &[]);
    let answers = send_all(&first.url("contoso"), &story.authorization, &bodies);
    assert!(
        answers.iter().all(|(s, o)| *s == 202 && o == "queued"),
        "{answers:?}"
    );
    // Let some jobs finish, then kill -9 in the middle of the rest.
    wait_for("the first results", Duration::from_secs(60), || {
        (1..=PRS)
            .filter(|n| result_threads(&standin, *n) > 0)
            .count()
            >= 10
    });
    let mut first = first;
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let done_at_kill = (1..=PRS)
        .filter(|n| final_states(&standin, *n).iter().any(|s| s == "succeeded"))
        .count();
    assert!(
        done_at_kill < PRS as usize,
        "everything finished before the kill ({done_at_kill}); the test proves nothing"
    );
    drop(first);

    // Started again on the same store, it finishes every accepted delivery.
    let second = ServeProcess::start(&config, &[]);
    wait_for("the queue to drain", Duration::from_secs(120), || {
        second.queue_depth() == Some(0)
    });
    for number in 1..=PRS {
        assert_eq!(
            result_threads(&standin, number),
            1,
            "PR {number}: one result comment"
        );
        let states = final_states(&standin, number);
        assert!(
            !states.is_empty() && states.iter().all(|s| s == "succeeded"),
            "PR {number}: {states:?}"
        );
    }
    // Redeliveries of everything are duplicates now: the dedupe survived the kill.
    let again = send_all(&second.url("contoso"), &story.authorization, &bodies);
    assert!(
        again.iter().all(|(s, o)| *s == 200 && o == "duplicate"),
        "{again:?}"
    );
    eprintln!(
        "kill test: {PRS} accepted, {done_at_kill} finished before kill -9, all {PRS} finished after the restart"
    );

    let status = second.terminate();
    assert!(status.success(), "serve exited with {status}");
}

#[test]
fn two_servers_on_one_postgres_process_each_event_once() {
    let Some(base) = vcs_host_store::postgres_testing::test_postgres_url() else {
        return;
    };
    let schema = vcs_host_store::postgres_testing::TestSchema::create(&base).unwrap();
    const PRS: u64 = 60;
    let story = Story::load();
    let standin = start_standin();
    for number in 1..=PRS {
        story.seed(&standin, number);
    }
    let dir = tempfile::tempdir().unwrap();
    let config = write_configs(
        dir.path(),
        &story,
        standin.base_url(),
        "[storage]\nbackend = \"postgres\"\nurl_env = \"SERVE_TEST_DATABASE_URL\"",
    );
    let env = [("SERVE_TEST_DATABASE_URL", schema.url())];
    let a = ServeProcess::start(&config, &env);
    let b = ServeProcess::start(&config, &env);

    // Every event goes to both servers at once, as two load-balanced hosts might get it.
    let mut bodies = vec![];
    for n in 1..=PRS {
        bodies.push((event_id(8, n), story.pr_created(n, &event_id(8, n))));
    }
    for n in 1..=PRS / 2 {
        bodies.push((event_id(9, n), story.plan_comment(n, 1, &event_id(9, n))));
    }
    let (url_a, url_b) = (a.url("contoso"), b.url("contoso"));
    let raw: Vec<Vec<u8>> = bodies.iter().map(|(_, b)| b.clone()).collect();
    let (answers_a, answers_b) = std::thread::scope(|scope| {
        let to_a = scope.spawn(|| send_all(&url_a, &story.authorization, &raw));
        let to_b = scope.spawn(|| send_all(&url_b, &story.authorization, &raw));
        (to_a.join().unwrap(), to_b.join().unwrap())
    });
    let mut taken: HashMap<&str, u32> = HashMap::new();
    for (i, (event, _)) in bodies.iter().enumerate() {
        for (status, outcome) in [&answers_a[i], &answers_b[i]] {
            assert!(
                *status == 200 || *status == 202,
                "{event}: {status} {outcome}"
            );
            if outcome != "duplicate" {
                *taken.entry(event.as_str()).or_default() += 1;
            }
        }
    }
    assert_eq!(taken.len(), bodies.len());
    assert!(
        taken.values().all(|n| *n == 1),
        "an event was taken by both servers: {taken:?}"
    );

    let jobs = bodies.len() as u64;
    wait_for("both servers to finish", Duration::from_secs(120), || {
        a.metric_sum("vcs_host_jobs_total", "result=\"done\"")
            + b.metric_sum("vcs_host_jobs_total", "result=\"done\"")
            >= jobs
    });
    let (done_a, done_b) = (
        a.metric_sum("vcs_host_jobs_total", "result=\"done\""),
        b.metric_sum("vcs_host_jobs_total", "result=\"done\""),
    );
    assert_eq!(done_a + done_b, jobs, "each job done exactly once");
    for number in 1..=PRS {
        assert_eq!(result_threads(&standin, number), 1, "PR {number}");
        let states = final_states(&standin, number);
        assert!(
            states.iter().all(|s| s == "succeeded"),
            "PR {number}: {states:?}"
        );
    }
    eprintln!(
        "two servers: {} events sent to both; A took {} and ran {done_a} jobs, B took {} and ran {done_b}",
        bodies.len(),
        answers_a.iter().filter(|(_, o)| o != "duplicate").count(),
        answers_b.iter().filter(|(_, o)| o != "duplicate").count(),
    );
    for server in [a, b] {
        let log = server.log.clone();
        let status = server.terminate();
        assert!(status.success(), "{status}: {:?}", log.lock().unwrap());
    }
}
