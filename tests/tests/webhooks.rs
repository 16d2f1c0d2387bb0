//! Service-hook deliveries through the Azure DevOps component and the host's delivery
//! pipeline: every fixture's normalized line (insta snapshots), credentials, ordering,
//! deduplication, and hostile bodies.

// A failing test is the point: tests may unwrap, expect, panic and index.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use provider_tests::{AZURE_DEVOPS, load};
use serde_json::Value;
use vcs_host::IntegrationConfig;
use vcs_host::RecordedDelivery;
use vcs_host::storage::MemoryStorage;
use vcs_host_store::TxStore;

const CONFIG: &str = r#"
id = "contoso-terraform"
[azure_devops]
organization_url = "https://dev.azure.com/contoso/"
[commands]
allow_plan = true
bot_user_id = "9c8b7a65-4321-4fed-ba98-76543210fedc"
[[workspaces]]
name = "prod"
vcs_dry_runs = true
"#;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin/tests/fixtures/deliveries")
}

fn pipeline(config_text: &str, storage: Arc<dyn TxStore>) -> provider_tests::LinePipeline {
    let config = IntegrationConfig::parse(config_text).unwrap();
    provider_tests::LinePipeline::new(
        &load(AZURE_DEVOPS),
        &config,
        provider_tests::context_with(&config.id, storage, config.host.http.clone()),
    )
}

fn fixture(name: &str) -> RecordedDelivery {
    RecordedDelivery::from_file_bytes(&std::fs::read(fixtures_dir().join(name)).unwrap())
}

#[test]
fn every_fixture_gives_its_snapshot_line_through_the_component() {
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(
        names.len() >= 40,
        "the corpus has {} deliveries",
        names.len()
    );
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for name in &names {
        // A fresh store per fixture: each line depends on its own delivery only.
        let line = pipeline(CONFIG, Arc::new(MemoryStorage::default())).process(&fixture(name));
        let outcome = line["outcome"].as_str().unwrap().to_string();
        assert_ne!(outcome, "error", "{name}: {line}");
        // The file name says what the fixture shows; the outcome must agree.
        let expected = if name.starts_with("invalid-") {
            "invalid"
        } else if name.starts_with("ignored-") {
            "ignored"
        } else {
            "event"
        };
        assert_eq!(outcome, expected, "{name}: {line}");
        *outcomes.entry(outcome).or_default() += 1;
        let snapshot = name
            .trim_end_matches(".json")
            .trim_end_matches(".txt")
            .to_string();
        insta::with_settings!({ snapshot_path => "../../plugin/tests/fixtures/snapshots", prepend_module_to_snapshot => false }, {
            insta::assert_json_snapshot!(snapshot, line);
        });
    }
    println!("outcomes over {} fixtures: {outcomes:?}", names.len());
}

#[test]
fn deliveries_need_the_configured_basic_credentials() {
    let config = format!("{CONFIG}\n[webhook]\nusername = \"hook\"\npassword = \"p4ss:word\"\n");
    let pipeline = pipeline(&config, Arc::new(MemoryStorage::default()));
    let mut delivery = fixture("pr-created.json");

    let missing = pipeline.process(&delivery);
    assert_eq!(missing["outcome"], "rejected", "{missing}");
    assert!(
        missing["reason"]
            .as_str()
            .unwrap()
            .contains("no Authorization header")
    );

    delivery.set_header("Authorization", "Basic aG9vazp3cm9uZw=="); // hook:wrong
    let wrong = pipeline.process(&delivery);
    assert_eq!(wrong["outcome"], "rejected", "{wrong}");
    assert!(
        !wrong.to_string().contains("wrong"),
        "the presented password is echoed: {wrong}"
    );

    delivery.set_header("Authorization", "Basic aG9vazpwNHNzOndvcmQ="); // hook:p4ss:word
    let good = pipeline.process(&delivery);
    assert_eq!(good["outcome"], "event", "{good}");
    assert_eq!(good["event"]["action"], "opened");
    assert!(!good.to_string().contains("p4ss"), "{good}");
}

#[test]
fn rejected_invalid_and_ignored_deliveries_never_lose_a_later_good_one() {
    let config = format!("{CONFIG}\n[webhook]\nusername = \"hook\"\npassword = \"pw\"\n");
    let pipeline = pipeline(&config, Arc::new(MemoryStorage::default()));
    let authorize = |mut d: RecordedDelivery| {
        d.set_header("Authorization", "Basic aG9vazpwdw=="); // hook:pw
        d
    };
    let good = authorize(fixture("pr-created.json"));
    let good_body: Value = serde_json::from_slice(&good.body).unwrap();
    let id = good_body["id"].as_str().unwrap().to_string();

    // The same event id on a broken body must not mark the event as seen.
    let mut broken = good.clone();
    broken.body = format!(r#"{{"id":"{id}","eventType":"git.pullrequest.created","resource":{{"pullRequestId":"x"}}}}"#).into_bytes();
    let sequence = [
        (fixture("pr-created.json"), "rejected"),
        (authorize(fixture("invalid-not-json.txt")), "invalid"),
        (broken, "invalid"),
        (
            authorize(fixture("ignored-test-payload-pr-created.json")),
            "ignored",
        ),
        (good.clone(), "event"),
        (good, "duplicate"),
    ];
    for (i, (delivery, want)) in sequence.iter().enumerate() {
        let line = pipeline.process(delivery);
        assert_eq!(line["outcome"], *want, "step {i}: {line}");
    }
}

#[test]
fn a_redelivered_event_is_a_duplicate_in_its_integration_only() {
    let shared: Arc<dyn TxStore> = Arc::new(MemoryStorage::default());
    let first = pipeline(CONFIG, shared.clone());
    let other_tenant = pipeline(
        &CONFIG.replace("contoso-terraform", "fabrikam"),
        shared.clone(),
    );
    let delivery = fixture("push-branch-updated.json");
    assert_eq!(first.process(&delivery)["outcome"], "event");
    let again = first.process(&delivery);
    assert_eq!(again["outcome"], "duplicate");
    assert!(again["delivery_id"].is_string());
    assert_eq!(other_tenant.process(&delivery)["outcome"], "event");
}

#[test]
fn oversized_bodies_are_invalid_before_reaching_the_guest() {
    let pipeline = pipeline(CONFIG, Arc::new(MemoryStorage::default()));
    let mut delivery = fixture("push-branch-updated.json");
    delivery.body.resize(2 * 1024 * 1024 + 1, b' ');
    let line = pipeline.process(&delivery);
    assert_eq!(line["outcome"], "invalid", "{line}");
    assert!(
        line["reason"].as_str().unwrap().contains("at most 2097152"),
        "{line}"
    );
}

/// A small deterministic generator, so failures reproduce.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn hostile_bodies_never_trap_the_component() {
    let pipeline = pipeline(CONFIG, Arc::new(MemoryStorage::default()));
    let seeds: Vec<Vec<u8>> = [
        "pr-created.json",
        "comment-v2-created-command.json",
        "push-branch-deleted.json",
    ]
    .iter()
    .map(|f| fixture(f).body)
    .collect();
    let mut rng = Lcg(0x5eed);
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for round in 0..400 {
        let seed = &seeds[round % seeds.len()];
        let body: Vec<u8> = match rng.next() % 5 {
            0 => seed[..(rng.next() as usize % seed.len())].to_vec(),
            1 => {
                let mut b = seed.clone();
                for _ in 0..8 {
                    let i = rng.next() as usize % b.len();
                    b[i] = (rng.next() % 256) as u8;
                }
                b
            }
            2 => (0..(rng.next() % 512))
                .map(|_| (rng.next() % 256) as u8)
                .collect(),
            3 => {
                let depth = 10 + rng.next() as usize % 5000;
                format!(
                    r#"{{"eventType":"git.push","resource":{}{}}}"#,
                    "[".repeat(depth),
                    "]".repeat(depth)
                )
                .into_bytes()
            }
            _ => {
                // Swap a value's type: numbers become strings and strings numbers.
                let text = String::from_utf8_lossy(seed).into_owned();
                text.replacen("\"id\": \"", "\"id\": 1, \"x\": \"", 1)
                    .replacen(": 42", ": \"42\"", 1)
                    .into_bytes()
            }
        };
        let line = pipeline.process(&RecordedDelivery {
            headers: vec![],
            body,
        });
        let outcome = line["outcome"].as_str().unwrap().to_string();
        assert!(
            ["event", "ignored", "duplicate", "invalid"].contains(&outcome.as_str()),
            "round {round}: {line}"
        );
        *outcomes.entry(outcome).or_default() += 1;
    }
    println!("400 hostile bodies: {outcomes:?}");
}
