//! Bounded-time fuzzing of the webhook parser and the command parser, natively (debug
//! assertions on, so overflow and slicing bugs panic). Seeded and time-capped so it runs
//! inside `cargo test` in CI: `FUZZ_SECONDS` (default 8 per target) and `FUZZ_SEED`
//! (default: a fixed seed; a failure prints the seed and the input to replay it).
//!
//! The webhook generator is structure-aware: it starts from the recorded deliveries and
//! replaces, deletes or retypes fields at random (strings become numbers, objects become
//! arrays, ids grow long or gain control characters), or builds envelopes from scratch
//! out of the field names Azure DevOps uses. The unit tests' byte mutations and the
//! command proptests cover the rest; this adds volume and shapes they do not reach.

// A test crate: helpers outside `#[test]` functions may panic too (clippy.toml allows it
// only inside them).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

use azure_devops_provider::AzureDevOps;
use provider_kit::Provider;
use provider_kit::host::MemoryHost;
use provider_kit::testing::fixtures;
use provider_kit::types::{CommandSettings, IntegrationSettings};
use provider_kit::webhooks::Delivery;
use serde_json::{Map, Value, json};

/// xorshift64*: small, seedable, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn budget() -> Duration {
    let seconds = std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8.0);
    Duration::from_secs_f64(seconds)
}

fn seed(salt: u64) -> u64 {
    std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_0000_0000_0001)
        ^ salt
        | 1
}

const KEYS: &[&str] = &[
    "id",
    "eventType",
    "resourceVersion",
    "resource",
    "resourceContainers",
    "createdDate",
    "refUpdates",
    "name",
    "oldObjectId",
    "newObjectId",
    "repository",
    "project",
    "remoteUrl",
    "webUrl",
    "url",
    "pushedBy",
    "uniqueName",
    "displayName",
    "commits",
    "commitId",
    "pullRequestId",
    "status",
    "isDraft",
    "sourceRefName",
    "targetRefName",
    "lastMergeSourceCommit",
    "lastMergeTargetCommit",
    "mergeStatus",
    "reviewers",
    "vote",
    "createdBy",
    "comment",
    "pullRequest",
    "content",
    "author",
    "commentType",
    "parentCommentId",
    "publishedDate",
    "lastUpdatedDate",
    "lastContentUpdatedDate",
    "_links",
    "self",
    "href",
    "threads",
    "collection",
    "account",
    "baseUrl",
    "date",
];

const STRINGS: &[&str] = &[
    "",
    "git.push",
    "git.pullrequest.created",
    "git.pullrequest.updated",
    "git.pullrequest.merged",
    "ms.vss-code.git-pullrequest-comment-event",
    "1.0",
    "2.0",
    "refs/heads/main",
    "refs/heads/",
    "refs/tags/v1",
    "0000000000000000000000000000000000000000",
    "active",
    "completed",
    "abandoned",
    "https://dev.azure.com/contoso/",
    "https://dev.azure.com/contoso/Infra/_git/repo",
    "https://user@dev.azure.com/contoso/Infra/_git/repo",
    "http://[::1",
    "not a url",
    "2026-11-20T09:12:40.117Z",
    "2026-13-45T99:99:99Z",
    "/scalr plan",
    "/scalr apply -w prod",
    "/scalr plan -w \"a b",
    "\u{0}\u{1f}\u{7f}",
    "🦀🦀🦀",
    "e\u{301}\u{301}\u{301}",
    "\u{202e}gnp.exe",
];

fn random_value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth > 4 { 6 } else { 9 }) {
        0 => Value::Null,
        1 => json!(rng.chance(2)),
        2 => json!(rng.next() as i64 >> rng.below(64)),
        3 => json!(f64::from_bits(rng.next() & 0x7fef_ffff_ffff_ffff)),
        4 => json!(*rng.pick(STRINGS)),
        5 => {
            let base = *rng.pick(STRINGS);
            json!(base.repeat(1 + rng.below(300)))
        }
        6 | 7 => {
            let mut map = Map::new();
            for _ in 0..rng.below(6) {
                map.insert((*rng.pick(KEYS)).to_string(), random_value(rng, depth + 1));
            }
            Value::Object(map)
        }
        _ => Value::Array(
            (0..rng.below(5))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
    }
}

/// Replace, delete or retype one node somewhere in `value`.
fn mutate(rng: &mut Rng, value: &mut Value, depth: usize) {
    let descend = depth < 8 && rng.below(4) != 0;
    match value {
        Value::Object(map) if !map.is_empty() => {
            let key = map
                .keys()
                .nth(rng.below(map.len()))
                .cloned()
                .unwrap_or_default();
            if descend {
                if let Some(child) = map.get_mut(&key) {
                    mutate(rng, child, depth + 1);
                }
            } else if rng.chance(3) {
                map.remove(&key);
            } else if rng.chance(4) {
                map.insert((*rng.pick(KEYS)).to_string(), random_value(rng, depth));
            } else {
                map.insert(key, random_value(rng, depth));
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let at = rng.below(items.len());
            if descend {
                mutate(rng, &mut items[at], depth + 1);
            } else if rng.chance(3) {
                items.remove(at);
            } else if rng.chance(3) {
                let copy = items[at].clone();
                items.push(copy);
            } else {
                items[at] = random_value(rng, depth);
            }
        }
        other => *other = random_value(rng, depth),
    }
}

fn fixtures() -> Vec<Value> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/deliveries");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("fixtures") {
        let path = entry.expect("entry").path();
        if let Ok(text) = std::fs::read_to_string(&path)
            && let Ok(mut value) = serde_json::from_str::<Value>(&text)
        {
            // Recorded deliveries wrap the body; fuzz the body.
            if let Some(body) = value.get("body").filter(|b| b.is_object()).cloned() {
                value = body;
            }
            if value.is_object() {
                out.push(value);
            }
        }
    }
    assert!(
        out.len() > 30,
        "found {} fixtures in {}",
        out.len(),
        dir.display()
    );
    out
}

fn settings() -> IntegrationSettings {
    let base = fixtures::integration_settings(
        "fuzz",
        "https://dev.azure.com/contoso/",
        "b07b07b0-0000-4000-8000-000000000000",
        true,
    );
    IntegrationSettings {
        commands: CommandSettings {
            require_approval_for_apply: true,
            require_mergeable_for_apply: true,
            ..base.commands
        },
        ..base
    }
}

#[test]
fn the_webhook_parser_survives_structured_random_deliveries() {
    let seed = seed(0x7765_6268);
    let mut rng = Rng(seed);
    let fixtures = fixtures();
    let settings = settings();
    let host = MemoryHost::new();
    let started = Instant::now();
    let mut runs = 0u64;
    let (mut ok, mut refused) = (0u64, 0u64);
    while started.elapsed() < budget() {
        let value = if rng.chance(5) {
            let mut envelope = Map::new();
            envelope.insert("id".into(), json!(format!("fuzz-{runs}")));
            envelope.insert("eventType".into(), json!(*rng.pick(&STRINGS[1..6])));
            envelope.insert("resourceVersion".into(), json!(*rng.pick(&["1.0", "2.0"])));
            envelope.insert("resource".into(), random_value(&mut rng, 0));
            Value::Object(envelope)
        } else {
            let mut value = rng.pick(&fixtures).clone();
            for _ in 0..1 + rng.below(4) {
                mutate(&mut rng, &mut value, 0);
            }
            value
        };
        let mut body = serde_json::to_vec(&value).expect("serialize");
        if rng.chance(20) {
            // Now and then raw bytes: cut short or with a stray byte.
            let at = rng.below(body.len());
            if rng.chance(2) {
                body.truncate(at);
            } else {
                body[at] = rng.next() as u8;
            }
        }
        let delivery = Delivery {
            headers: vec![("Content-Type".into(), "application/json".into())],
            body,
        };
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            azure_devops_provider::webhooks::handle_delivery(&host, &settings, None, &delivery)
        }));
        match outcome {
            Ok(Ok(_)) => ok += 1,
            Ok(Err(_)) => refused += 1,
            Err(_) => panic!(
                "handle_delivery panicked (FUZZ_SEED={seed}, run {runs}) on: {}",
                String::from_utf8_lossy(&delivery.body)
            ),
        }
        runs += 1;
        if host.len() > 50_000 {
            host.clear();
        }
    }
    println!("webhook fuzz: {runs} deliveries ({ok} handled, {refused} refused), seed {seed}");
    assert!(runs > 100, "only {runs} runs in the budget");
    assert!(ok > 0 && refused > 0, "the generator reaches both outcomes");
}

#[test]
fn the_command_parser_survives_random_comment_bodies() {
    let seed = seed(0x636d_6473);
    let mut rng = Rng(seed);
    const PIECES: &[&str] = &[
        "/scalr",
        "/SCALR",
        "/scalr-",
        "plan",
        "apply",
        "-w",
        "--workspace",
        "--workspace=",
        "prod",
        "\"",
        "'",
        "\\",
        " ",
        "  ",
        "\t",
        "\n",
        "\r\n",
        "`",
        "```",
        ">",
        "-",
        "--",
        "=",
        "@",
        "#",
        "🦀",
        "\u{0}",
        "\u{200b}",
        "\u{feff}",
        "e\u{301}",
        "ǅ",
        "İ",
        "ß",
        "a",
        "help",
        "unlock",
        "-",
        "—",
        "\u{2028}",
    ];
    let prefixes = ["/scalr", "/atlantis", "", "/", "ǅ", "/e\u{301}"];
    let started = Instant::now();
    let mut runs = 0u64;
    let mut parsed = 0u64;
    while started.elapsed() < budget() {
        let mut body = String::new();
        for _ in 0..rng.below(40) {
            let piece: &&str = rng.pick(PIECES);
            body.push_str(piece);
        }
        if rng.chance(50) {
            body = body.repeat(1 + rng.below(2_000));
        }
        let prefix = *rng.pick(&prefixes);
        let outcome =
            std::panic::catch_unwind(|| AzureDevOps::parse(&MemoryHost::new(), &body, prefix));
        match outcome {
            Ok(result) => parsed += u64::from(result.is_ok()),
            Err(_) => panic!(
                "commands::parse panicked (FUZZ_SEED={seed}, run {runs}) on prefix {prefix:?}, body {body:?}"
            ),
        }
        runs += 1;
    }
    println!("command fuzz: {runs} bodies ({parsed} parsed without error), seed {seed}");
    assert!(runs > 1_000, "only {runs} runs in the budget");
}
