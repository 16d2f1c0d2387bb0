//! Soak: 100,000 mixed deliveries (good, duplicate, invalid, adversarial, forged) through
//! one runtime (pooling allocator, a fresh instance per call) and one store. No good
//! delivery may be lost or doubled, every duplicate must be caught, and the process's
//! resident memory must stay flat apart from the store's own, legitimate growth.

// A failing test is the point: tests may unwrap, expect, panic and index.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use provider_tests::{AZURE_DEVOPS, test_limits};
use serde_json::{Value, json};
use vcs_host::IntegrationConfig;
use vcs_host::RecordedDelivery;
use vcs_host::http::{HttpBackend, HttpConfig, LiveHttp};
use vcs_host::storage::MemoryStorage;
use vcs_host::{CallContext, HostConfig, Runtime};
use vcs_host_store::TxStore;

const DELIVERIES: usize = 100_000;
const CONFIG: &str = "id = \"soak\"\n[azure_devops]\norganization_url = \"https://dev.azure.com/contoso/\"\n\
    [webhook]\nusername = \"svc\"\npassword = \"soak-password\"\n\
    [commands]\nallow_plan = true\n[[workspaces]]\nname = \"prod\"\n";
/// `svc:soak-password` and `svc:wrong`.
const GOOD_AUTH: &str = "Basic c3ZjOnNvYWstcGFzc3dvcmQ=";
const FORGED_AUTH: &str = "Basic c3ZjOndyb25n";

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/../plugin/tests/fixtures/deliveries/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("json")
}

fn delivery(body: Vec<u8>, auth: &str) -> RecordedDelivery {
    RecordedDelivery {
        headers: vec![
            (
                "Content-Type".into(),
                "application/json; charset=utf-8".into(),
            ),
            ("Authorization".into(), auth.into()),
        ],
        body,
    }
}

fn with_id(template: &Value, id: &str) -> Vec<u8> {
    let mut value = template.clone();
    value["id"] = json!(id);
    serde_json::to_vec(&value).expect("serialize")
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// What a delivery is and what its line must say.
enum Expect {
    Event(String),
    Duplicate(String),
    Invalid,
    Rejected,
}

#[test]
fn one_hundred_thousand_mixed_deliveries_lose_nothing_and_keep_memory_flat() {
    let config = IntegrationConfig::parse(CONFIG).expect("config");
    let mut host = HostConfig {
        limits: test_limits(),
        ..HostConfig::default()
    };
    host.pooling.enabled = true;
    let runtime = Runtime::new(host).expect("runtime");
    let provider = runtime
        .load(std::path::Path::new(AZURE_DEVOPS))
        .expect("load");
    let storage = Arc::new(MemoryStorage::default());
    let http: Arc<dyn HttpBackend> = Arc::new(LiveHttp::new(HttpConfig::default()));
    let pipeline = provider_tests::LinePipeline::new(
        &provider,
        &config,
        CallContext::new(config.id.clone(), http, storage.clone()),
    );

    let templates = [
        fixture("push-branch-updated"),
        fixture("pr-updated-source-branch"),
        fixture("comment-v2-created-command"),
    ];
    let mut deep = String::from("{\"eventType\":\"git.push\",\"id\":\"deep\",\"resource\":");
    deep.push_str(&"[".repeat(10_000));
    deep.push_str(&"]".repeat(10_000));
    deep.push('}');
    let adversarial: Vec<Vec<u8>> = vec![
        deep.into_bytes(),
        // A 1 MB string where the ref updates belong.
        format!(
            "{{\"id\":\"x\",\"eventType\":\"git.push\",\"resourceVersion\":\"1.0\",\
             \"resource\":{{\"refUpdates\":\"{}\"}}}}",
            "A".repeat(1 << 20)
        )
        .into_bytes(),
        // A control character in the id, and a 200-byte id.
        br#"{"id":"a\u0000b","eventType":"git.push","resource":{}}"#.to_vec(),
        format!(
            "{{\"id\":\"{}\",\"eventType\":\"git.push\"}}",
            "9".repeat(200)
        )
        .into_bytes(),
        // Types swapped everywhere the parser looks.
        br#"{"id":7,"eventType":["git.push"],"resource":"x","resourceVersion":1}"#.to_vec(),
        b"\xff\xfe\x00garbage".to_vec(),
    ];

    let mut good_ids: Vec<String> = Vec::new();
    let mut seen_events: HashSet<String> = HashSet::new();
    let (mut goods, mut duplicates, mut invalids, mut rejected) = (0usize, 0, 0, 0);
    let mut rss = Vec::new();
    let mut goods_at = Vec::new();
    let started = Instant::now();
    for i in 0..DELIVERIES {
        let (delivery, expect) = match i % 10 {
            0..=5 => {
                let id = format!("50a40000-0000-4000-8000-{i:012x}");
                let body = with_id(&templates[i % 3], &id);
                good_ids.push(id.clone());
                (delivery(body, GOOD_AUTH), Expect::Event(id))
            }
            6 => {
                // A redelivery of a good one from a few deliveries back.
                let id = good_ids[good_ids.len() - 1 - (i / 10) % 5].clone();
                let n = usize::from_str_radix(&id[24..], 16).expect("hex");
                let body = with_id(&templates[n % 3], &id);
                (delivery(body, GOOD_AUTH), Expect::Duplicate(id))
            }
            7 => {
                // Invalid: a good body cut short, or without its resource.
                let id = format!("1a7a1000-0000-4000-8000-{i:012x}");
                let mut body = with_id(&templates[i % 3], &id);
                if i % 20 == 7 {
                    body.truncate(body.len() / 2);
                } else {
                    let mut value: Value = serde_json::from_slice(&body).expect("json");
                    value.as_object_mut().expect("object").remove("resource");
                    body = serde_json::to_vec(&value).expect("serialize");
                }
                (delivery(body, GOOD_AUTH), Expect::Invalid)
            }
            8 => (
                delivery(adversarial[(i / 10) % adversarial.len()].clone(), GOOD_AUTH),
                Expect::Invalid,
            ),
            _ => {
                // Forged: a good body with the wrong password; it must record nothing.
                let id = format!("f0f6ed00-0000-4000-8000-{i:012x}");
                let body = with_id(&templates[i % 3], &id);
                (delivery(body, FORGED_AUTH), Expect::Rejected)
            }
        };
        let line = pipeline.process(&delivery);
        let outcome = line["outcome"].as_str().unwrap_or_default();
        match expect {
            Expect::Event(id) => {
                assert_eq!(outcome, "event", "good delivery {i} ({id}): {line}");
                assert_eq!(line["delivery_id"], json!(id), "{line}");
                assert!(seen_events.insert(id), "delivery {i} reported twice");
                goods += 1;
            }
            Expect::Duplicate(id) => {
                assert_eq!(outcome, "duplicate", "redelivery {i} ({id}): {line}");
                assert_eq!(line["delivery_id"], json!(id), "{line}");
                duplicates += 1;
            }
            Expect::Invalid => {
                assert_eq!(outcome, "invalid", "delivery {i}: {line}");
                invalids += 1;
            }
            Expect::Rejected => {
                assert_eq!(outcome, "rejected", "delivery {i}: {line}");
                rejected += 1;
            }
        }
        if [DELIVERIES / 10, DELIVERIES / 2, DELIVERIES].contains(&(i + 1)) {
            rss.push(rss_kib());
            goods_at.push(goods);
        }
    }
    let elapsed = started.elapsed();

    assert_eq!(
        goods,
        DELIVERIES * 6 / 10,
        "every good delivery gave its event"
    );
    assert_eq!(seen_events.len(), goods, "and each exactly once");
    assert_eq!(duplicates, DELIVERIES / 10);
    assert_eq!(invalids, DELIVERIES * 2 / 10);
    assert_eq!(rejected, DELIVERIES / 10);
    // Only good deliveries are recorded: forged and invalid ones leave no dedupe key.
    let keys = storage.keys("soak").expect("keys");
    let dedupe_keys = keys.iter().filter(|k| k.starts_with("delivery:")).count();
    assert_eq!(dedupe_keys, goods, "one dedupe record per good delivery");

    // Memory: what may grow between 10% and 100% is the store (one dedupe record per good
    // delivery: a ~60-byte key and value, two map keys and the BTreeMap's node overhead,
    // under 512 bytes each) plus allocator slack (32 MiB). A leaked instance would cost
    // its 1.2 MiB linear memory per call, a leaked delivery body 4 to 8 KB: either breaks
    // this bound within the first thousand deliveries of the window.
    let grown_kib = rss[2].saturating_sub(rss[0]);
    let bound_kib = 32 * 1024 + (goods_at[2] - goods_at[0]) as u64 * 512 / 1024;
    println!(
        "soak: {DELIVERIES} deliveries ({goods} good, {duplicates} duplicate, {invalids} invalid \
         or adversarial, {rejected} forged) in {elapsed:.1?} ({:.0} deliveries/s, two calls \
         each); VmRSS at 10%/50%/100%: {} / {} / {} KiB, growth {grown_kib} KiB (bound \
         {bound_kib} KiB); {} keys stored",
        DELIVERIES as f64 / elapsed.as_secs_f64(),
        rss[0],
        rss[1],
        rss[2],
        keys.len()
    );
    assert!(
        grown_kib <= bound_kib,
        "resident memory grew {grown_kib} KiB between 10% and 100% (bound {bound_kib} KiB): {rss:?}"
    );
}
