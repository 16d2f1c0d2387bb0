//! Issue 5's acceptance through the component: rendering (speed, limits, balance,
//! losslessness, escaping), publishing against hand-written cassettes, statuses, and the
//! `host-harness render` command.

// A failing test is the point: tests may unwrap, expect, panic and index.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use provider_tests::{AZURE_DEVOPS, load};
use vcs_host::CallContext;
use vcs_host::http::{HttpBackend, HttpError, InboundResponse, OutboundRequest, Replayer};
use vcs_host::json::RunReportJson;
use vcs_host::storage::{KvStore, MemoryStorage};
use vcs_host::types::{
    CommandSettings, Connection, Credential, ProviderError, PullRequestRef, Repository,
};
use vcs_host::types::{
    CommitStatus, CommitStatusTarget, PublishAction, PublishOptions, PublishResult,
    PullRequestStatusTarget, RenderOptions, RunKind, RunReport, RunStatus, StatusState,
    StatusTarget, WorkspaceReport,
};
use vcs_host_store::TxStore;

/// Azure DevOps' comment limit, in UTF-16 code units.
const LIMIT: usize = 150_000;

const INTEGRATION: &str = "integration-comments";
const PAT: &str = "pat-secret-0123456789";
const HEAD: &str = "3f1c2a9e8b7d6c5f4e3a2b1c0d9e8f7a6b5c4d3e";
const PR_URL: &str = "https://dev.azure.com/contoso/7c5a1b7e-1f0c-4b7a-9a51-2a0f7b3c9d11/_apis/git/repositories/0f6e2c4a-8d3b-4e21-b6a9-5c7d1e2f3a4b/pullRequests/42";

/// The opening of every part's hidden marker.
const MARKER_PREFIX: &str = "<!-- scalr:run workspace-set=";
/// Written after a fence whose piece stops inside a line that goes on in the next part.
const NOTE_CONTINUES: &str = "<sub>This line continues in the next part.</sub>\n";
/// Written after the last fence of an output that does not end with a newline.
const NOTE_NO_NEWLINE: &str = "<!-- the output ends without a newline -->\n";

fn report_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/reports")
        .join(name)
}

/// A run report from `tests/fixtures/reports`, in the format `host-harness render` reads.
fn report_fixture(name: &str) -> RunReport {
    let path = report_path(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    let json: RunReportJson =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} is not a run report: {e}"));
    json.into_report()
}

fn cassette(name: &str) -> Arc<Replayer> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../plugin/tests/fixtures/cassettes/comments")
        .join(name);
    Arc::new(
        Replayer::from_file(&path, vec![PAT.to_string()])
            .unwrap_or_else(|e| panic!("cassette {name}: {e}")),
    )
}

fn context(http: Arc<dyn HttpBackend>, storage: Arc<dyn TxStore>) -> CallContext {
    CallContext::new(INTEGRATION, http, storage)
}

/// A context whose HTTP answers nothing: for calls that must not send anything.
fn offline() -> CallContext {
    let http: Arc<dyn HttpBackend> = Arc::new(Replayer::new(Default::default(), vec![]));
    context(http, Arc::new(MemoryStorage::default()))
}

fn connection() -> Connection {
    Connection {
        base_url: "https://dev.azure.com/contoso/".into(),
        credential: Credential::PersonalAccessToken(PAT.into()),
        options: vec![],
    }
}

fn repository() -> Repository {
    Repository {
        id: "0f6e2c4a-8d3b-4e21-b6a9-5c7d1e2f3a4b".into(),
        name: "infra".into(),
        project: Some("Infra Team".into()),
        project_id: Some("7c5a1b7e-1f0c-4b7a-9a51-2a0f7b3c9d11".into()),
        organization: "contoso".into(),
        web_url: Some("https://dev.azure.com/contoso/Infra%20Team/_git/infra".into()),
        clone_url: None,
        api_url: "https://dev.azure.com/contoso/".into(),
        default_branch: Some("main".into()),
    }
}

fn pull_request() -> PullRequestRef {
    PullRequestRef {
        repository: repository(),
        number: 42,
    }
}

fn default_render() -> RenderOptions {
    RenderOptions {
        max_length: None,
        commands: None,
    }
}

fn command_settings() -> CommandSettings {
    CommandSettings {
        prefix: "/scalr".into(),
        allow_plan: true,
        allow_apply: true,
        bot_user_id: None,
        run_edited_comments: false,
        allowed_users: vec![],
        require_approval_for_apply: false,
        require_mergeable_for_apply: false,
    }
}

/// Render through the component.
fn render(report: &RunReport, options: &RenderOptions) -> Result<Vec<String>, ProviderError> {
    let provider = load(AZURE_DEVOPS);
    provider
        .render(&offline(), report, options)
        .expect("the render call returns")
}

fn units(text: &str) -> usize {
    text.encode_utf16().count()
}

fn is_fence_line(line: &str) -> bool {
    line.len() >= 3 && (line.bytes().all(|b| b == b'`') || line.bytes().all(|b| b == b'~'))
}

/// The raw output carried by `parts`, in order: the contents of every code fence, minus
/// the newline the renderer adds to a piece that does not end with one (such a piece is
/// followed, right after its closing fence, by [`NOTE_CONTINUES`] or [`NOTE_NO_NEWLINE`]).
fn extract_output(parts: &[String]) -> String {
    let mut output = String::new();
    for part in parts {
        let mut fence: Option<&str> = None;
        let mut just_closed = false;
        for line in part.split_inclusive('\n') {
            let bare = line.strip_suffix('\n').unwrap_or(line);
            match fence {
                Some(open) if bare == open => {
                    fence = None;
                    just_closed = true;
                }
                Some(_) => output.push_str(line),
                None => {
                    if is_fence_line(bare) {
                        fence = Some(bare);
                    } else if just_closed && (line == NOTE_CONTINUES || line == NOTE_NO_NEWLINE) {
                        assert_eq!(
                            output.pop(),
                            Some('\n'),
                            "a note follows a piece without the added newline"
                        );
                    }
                    just_closed = false;
                }
            }
        }
        assert!(fence.is_none(), "unclosed fence in part:\n{part}");
    }
    output
}

/// The text of a body outside its code fences (fence lines excluded).
fn outside_fences(body: &str) -> String {
    let mut outside = String::new();
    let mut fence: Option<&str> = None;
    for line in body.split_inclusive('\n') {
        let bare = line.strip_suffix('\n').unwrap_or(line);
        match fence {
            Some(open) if bare == open => fence = None,
            Some(_) => {}
            None if is_fence_line(bare) => fence = Some(bare),
            None => outside.push_str(line),
        }
    }
    outside
}

/// Every part fits `limit`, starts with its numbered marker, closes every fence, and
/// opens as many `<details>` as it closes (never nested), outside the code fences.
fn assert_well_formed(parts: &[String], limit: usize) {
    let count = parts.len();
    assert!(count > 0, "no parts");
    for (index, part) in parts.iter().enumerate() {
        let number = index + 1;
        assert!(
            units(part) <= limit,
            "part {number} is {} UTF-16 units, over {limit}",
            units(part)
        );
        let first_line = part.split_inclusive('\n').next().unwrap_or_default();
        assert!(
            first_line.starts_with(MARKER_PREFIX)
                && first_line.ends_with(&format!(" part={number}/{count} -->\n")),
            "part {number} starts with {first_line:?}"
        );
        let mut fence: Option<&str> = None;
        let mut depth = 0i32;
        for line in part.split_inclusive('\n') {
            let bare = line.strip_suffix('\n').unwrap_or(line);
            match fence {
                Some(open) if bare == open => fence = None,
                Some(_) => {}
                None => {
                    if is_fence_line(bare) {
                        fence = Some(bare);
                    }
                    depth += bare.matches("<details>").count() as i32;
                    depth -= bare.matches("</details>").count() as i32;
                    assert!(
                        (0..=1).contains(&depth),
                        "<details> nesting {depth} in part {number}"
                    );
                }
            }
        }
        assert!(fence.is_none(), "unclosed fence in part {number}");
        assert_eq!(depth, 0, "unbalanced <details> in part {number}");
    }
}

/// All of the outputs of a report, in order: what the parts must give back.
fn all_output(report: &RunReport) -> String {
    report
        .workspaces
        .iter()
        .map(|w| w.output.as_str())
        .collect()
}

/// Serves a cassette and notes every request the provider sent, as `METHOD URL`: the
/// replayer serves a repeated request again, so "nothing new was sent" is checked here.
struct Counting {
    replayer: Arc<Replayer>,
    sent: Mutex<Vec<String>>,
}

impl Counting {
    fn new(cassette_name: &str) -> Arc<Self> {
        Arc::new(Self {
            replayer: cassette(cassette_name),
            sent: Mutex::new(Vec::new()),
        })
    }

    /// The requests sent since the last call.
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.sent.lock().unwrap())
    }
}

impl HttpBackend for Counting {
    fn send(&self, request: &OutboundRequest) -> Result<InboundResponse, HttpError> {
        let url = request.url.replace("?api-version=7.1", "");
        let line = format!("{} {}", request.method, url.replace(PR_URL, "{pr}"));
        self.sent.lock().unwrap().push(line);
        self.replayer.send(request)
    }
}

fn publish(
    ctx: &CallContext,
    report: &RunReport,
    options: &PublishOptions,
) -> Result<PublishResult, ProviderError> {
    load(AZURE_DEVOPS)
        .publish(ctx, &connection(), &pull_request(), report, options)
        .expect("the publish call returns")
}

/// The switches of the publish scenarios: bodies of at most 2400 units, so the plan
/// and the apply reports take two comments each.
fn publish_options(apply_summary: bool) -> PublishOptions {
    PublishOptions {
        comments_enabled: true,
        apply_summary,
        new_comment_per_head: false,
        render: RenderOptions {
            max_length: Some(2400),
            commands: None,
        },
        options: vec![],
    }
}

fn ids(result: &PublishResult) -> Vec<(String, String)> {
    result
        .comments
        .iter()
        .map(|c| {
            (
                c.thread_id.clone().unwrap_or_default(),
                c.comment_id.clone(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(t, c)| (t.to_string(), c.to_string()))
        .collect()
}

/// Everything the integration keeps in storage, key by key.
fn stored(storage: &MemoryStorage) -> Vec<(String, Option<Vec<u8>>)> {
    let mut keys = storage.keys(INTEGRATION).expect("keys");
    keys.sort();
    keys.into_iter()
        .map(|key| {
            let value = storage.get(INTEGRATION, &key).expect("get");
            (key, value)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Rendering a 5 MB plan
// ---------------------------------------------------------------------------------------

/// A plan of 20,000 resources in Terraform's own layout, about 5 MB.
fn five_megabyte_plan() -> String {
    let mut output = String::with_capacity(5_800_000);
    output.push_str(
        "\nTerraform used the selected providers to generate the following execution\n\
         plan. Resource actions are indicated with the following symbols:\n  + create\n\n\
         Terraform will perform the following actions:\n\n",
    );
    for i in 0..20_000 {
        output.push_str(&format!(
            "  # aws_s3_object.file[\"objects/{i:05}.json\"] will be created\n\
             \x20 + resource \"aws_s3_object\" \"file\" {{\n\
             \x20     + bucket       = \"contoso-data-prod\"\n\
             \x20     + etag         = (known after apply)\n\
             \x20     + id           = (known after apply)\n\
             \x20     + key          = \"objects/{i:05}.json\"\n"
        ));
        if i % 100 == 0 {
            // Now and then a description in another script and an astral character,
            // so UTF-16 lengths differ from byte and character counts.
            output.push_str("      + metadata     = {\n          + \"description\" = \"Données de référence 📦 `v2`\"\n        }\n");
        }
        output.push_str("    }\n\n");
    }
    output.push_str("Plan: 20000 to add, 0 to change, 0 to destroy.\n");
    output
}

#[test]
fn a_five_megabyte_plan_renders_under_100_ms_in_balanced_lossless_parts() {
    let output = five_megabyte_plan();
    assert!(
        (5_000_000..6_000_000).contains(&output.len()),
        "the plan is {} bytes",
        output.len()
    );
    let report = RunReport {
        kind: RunKind::Plan,
        run_url: Some("https://scalr.example/v2/e/env-1/runs/run-big/".into()),
        run_id: Some("run-big".into()),
        head_sha: Some(HEAD.into()),
        workspaces: vec![WorkspaceReport {
            name: "prod".into(),
            status: RunStatus::Success,
            add: 20_000,
            change: 0,
            destroy: 0,
            import: 0,
            output: output.clone(),
        }],
    };
    let provider = load(AZURE_DEVOPS);
    let ctx = offline();
    let options = default_render();
    let timed = || {
        // The meter separates the instance's creation from the call itself.
        let meter = std::sync::Arc::new(vcs_host::CallMeter::default());
        let ctx = ctx.clone().metered(meter.clone());
        let started = Instant::now();
        let parts = provider
            .render(&ctx, &report, &options)
            .expect("the render call returns")
            .expect("the report renders");
        let whole_call = started.elapsed();
        let render_only = whole_call.saturating_sub(meter.instantiation_time());
        (parts, render_only, whole_call)
    };
    // One warm-up call (first instantiation, page faults), then the measured calls. The
    // other tests of this binary run in parallel on the same cores, so the figure kept is
    // the best of five: the call's own cost, not the time it waited for a core.
    let (warm_up, _, _) = timed();
    let mut figures = Vec::new();
    let mut measured = None;
    for _ in 0..5 {
        let (parts, render_only, whole_call) = timed();
        figures.push((render_only, whole_call));
        measured = Some(parts);
    }
    let parts = measured.expect("measured");
    assert_eq!(parts, warm_up, "rendering is deterministic");
    let render_only = figures.iter().map(|f| f.0).min().expect("figures");
    let whole_call = figures.iter().map(|f| f.1).min().expect("figures");
    // Where the time goes: the same call refused right after the arguments are lowered
    // (a limit too small for the scaffolding is refused before the output is scanned).
    let tiny = RenderOptions {
        max_length: Some(10),
        commands: None,
    };
    let started = Instant::now();
    let refused = provider
        .render(&ctx, &report, &tiny)
        .expect("the render call returns");
    let arguments_only = started.elapsed();
    assert!(
        matches!(&refused, Err(ProviderError::InvalidConfig(m)) if m.contains("too small")),
        "{refused:?}"
    );
    println!(
        "rendered {} bytes (20,000 resources) into {} parts: render call {render_only:?} \
         (best of {:?}), whole call with instantiation {whole_call:?}; the same call \
         refused after lowering the 5 MB argument: {arguments_only:?}",
        output.len(),
        parts.len(),
        figures.iter().map(|f| f.0).collect::<Vec<_>>(),
    );

    assert_well_formed(&parts, LIMIT);
    // No part but the last is left much emptier than the limit: the split wastes little.
    let total_units: usize = parts.iter().map(|p| units(p)).sum();
    assert!(
        parts.len() <= total_units.div_ceil(LIMIT) + 2,
        "{} parts",
        parts.len()
    );
    assert!(
        parts
            .iter()
            .take(parts.len() - 1)
            .all(|p| units(p) > LIMIT - 2_000),
        "every part but the last is nearly full"
    );
    assert!(parts[0].contains(&format!("_Part 1 of {}: the output continues", parts.len())));
    assert!(parts[1].contains(&format!(
        "### Terraform plan, continued (part 2 of {})",
        parts.len()
    )));
    assert_eq!(
        extract_output(&parts),
        output,
        "the parts give the output back"
    );
    assert!(
        render_only < Duration::from_millis(100),
        "rendering 5 MB took {render_only:?} through the component (budget 100 ms)"
    );
}

// ---------------------------------------------------------------------------------------
// Publishing
// ---------------------------------------------------------------------------------------

#[test]
fn a_plan_posts_one_thread_a_retry_nothing_and_its_apply_updates_the_same_comments() {
    let http = Counting::new("publish-plan-then-apply.json");
    let storage = Arc::new(MemoryStorage::default());
    let ctx = context(http.clone(), storage.clone());
    let plan = report_fixture("plan-success.json");
    let apply = report_fixture("apply-success.json");
    let options = publish_options(true);

    // The first plan: one thread, its second part a reply in it.
    let first = publish(&ctx, &plan, &options).expect("the plan is published");
    assert_eq!(first.action, PublishAction::Created);
    assert_eq!(ids(&first), pairs(&[("7", "1"), ("7", "2")]));
    let thread_url =
        "https://dev.azure.com/contoso/Infra%20Team/_git/infra/pullrequest/42?discussionId=7";
    assert!(
        first
            .comments
            .iter()
            .all(|c| c.url.as_deref() == Some(thread_url)),
        "{:?}",
        first.comments
    );
    assert_eq!(
        http.take(),
        ["POST {pr}/threads", "POST {pr}/threads/7/comments"]
    );

    // The same delivery again: nothing sent, the same comments.
    let again = publish(&ctx, &plan, &options).expect("the retry is answered");
    assert_eq!(again.action, PublishAction::Unchanged);
    assert_eq!(ids(&again), ids(&first));
    assert!(http.take().is_empty(), "a repeated delivery sends nothing");

    // The apply, with the apply summary on: the plan's comments are edited in place.
    let applied = publish(&ctx, &apply, &options).expect("the apply is published");
    assert_eq!(applied.action, PublishAction::Updated);
    assert_eq!(ids(&applied), ids(&first));
    assert_eq!(
        http.take(),
        [
            "PATCH {pr}/threads/7/comments/1",
            "PATCH {pr}/threads/7/comments/2"
        ]
    );
    // The apply delivered twice: nothing more.
    let applied_again = publish(&ctx, &apply, &options).expect("the retry is answered");
    assert_eq!(applied_again.action, PublishAction::Unchanged);
    assert_eq!(ids(&applied_again), ids(&first));
    assert!(http.take().is_empty());

    assert_eq!(
        http.replayer.unused(),
        Vec::<String>::new(),
        "every request of the cassette was made"
    );
}

#[test]
fn with_the_apply_summary_off_the_plan_comment_is_left_untouched() {
    let http = Counting::new("publish-apply-summary-off.json");
    let storage = Arc::new(MemoryStorage::default());
    let ctx = context(http.clone(), storage.clone());
    let plan = report_fixture("plan-success.json");
    let apply = report_fixture("apply-success.json");

    let first = publish(&ctx, &plan, &publish_options(false)).expect("the plan is published");
    assert_eq!(first.action, PublishAction::Created);
    assert_eq!(ids(&first), pairs(&[("8", "1"), ("8", "2")]));
    assert_eq!(
        http.take(),
        ["POST {pr}/threads", "POST {pr}/threads/8/comments"]
    );
    let state = stored(&storage);
    assert_eq!(state.len(), 1, "one comment state: {state:?}");

    let skipped = publish(&ctx, &apply, &publish_options(false)).expect("the apply is answered");
    assert_eq!(skipped.action, PublishAction::Skipped);
    assert!(skipped.comments.is_empty(), "{:?}", skipped.comments);
    assert!(http.take().is_empty(), "no request for a skipped apply");
    assert_eq!(stored(&storage), state, "the plan's state is untouched");

    // The plan's comment is still the one remembered, with its content.
    let again = publish(&ctx, &plan, &publish_options(false)).expect("the plan is answered");
    assert_eq!(again.action, PublishAction::Unchanged);
    assert_eq!(ids(&again), ids(&first));
    assert!(http.take().is_empty());

    assert_eq!(http.replayer.unused(), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------
// Statuses
// ---------------------------------------------------------------------------------------

fn set_status(
    ctx: &CallContext,
    target: &StatusTarget,
    status: &CommitStatus,
) -> Result<(), ProviderError> {
    load(AZURE_DEVOPS)
        .set_status(ctx, &connection(), target, status)
        .expect("the set-status call returns")
}

#[test]
fn pull_request_statuses_carry_the_iteration_of_the_planned_head() {
    // The pull request has three iterations: an old commit, the planned head, and a newer
    // push (its id in upper case). The body of each POST in the cassette names the
    // iteration expected: 2 for the planned head (not the latest), 3 for the newer one.
    let http = Counting::new("status-pull-request.json");
    let ctx = context(http.clone(), Arc::new(MemoryStorage::default()));
    let run = "https://scalr.example/v2/e/env-1/runs/run-v0o2f3/";
    let planned = StatusTarget::PullRequest(PullRequestStatusTarget {
        pull_request: pull_request(),
        head_sha: HEAD.into(),
    });
    set_status(
        &ctx,
        &planned,
        &CommitStatus {
            state: StatusState::Succeeded,
            context_name: "plan/prod".into(),
            context_genre: None,
            description: "Plan: 8 to add, 1 to change, 0 to destroy".into(),
            target_url: Some(run.into()),
        },
    )
    .expect("the status is set on iteration 2");
    assert_eq!(http.take(), ["GET {pr}/iterations", "POST {pr}/statuses"]);

    let newer = StatusTarget::PullRequest(PullRequestStatusTarget {
        pull_request: pull_request(),
        head_sha: "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00".into(),
    });
    set_status(
        &ctx,
        &newer,
        &CommitStatus {
            state: StatusState::Pending,
            context_name: " plan/prod ".into(),
            context_genre: Some(" ".into()),
            description: "Planning…".into(),
            target_url: Some(run.into()),
        },
    )
    .expect("the status is set on iteration 3");
    assert_eq!(http.take(), ["GET {pr}/iterations", "POST {pr}/statuses"]);
    assert_eq!(http.replayer.unused(), Vec::<String>::new());
}

#[test]
fn a_commit_status_goes_to_the_bare_commit() {
    let http = Counting::new("status-commit.json");
    let ctx = context(http.clone(), Arc::new(MemoryStorage::default()));
    let target = StatusTarget::Commit(CommitStatusTarget {
        repository: repository(),
        sha: HEAD.into(),
    });
    set_status(
        &ctx,
        &target,
        &CommitStatus {
            state: StatusState::Failed,
            context_name: "apply/prod".into(),
            context_genre: Some("acme".into()),
            description: "Apply failed: Error: creating S3 bucket".into(),
            target_url: None,
        },
    )
    .expect("the status is set");
    assert_eq!(
        http.take(),
        [format!(
            "POST https://dev.azure.com/contoso/7c5a1b7e-1f0c-4b7a-9a51-2a0f7b3c9d11/_apis/git/repositories/0f6e2c4a-8d3b-4e21-b6a9-5c7d1e2f3a4b/commits/{HEAD}/statuses"
        )]
    );
    assert_eq!(http.replayer.unused(), Vec::<String>::new());

    // A short commit id is refused before anything is sent.
    let short = StatusTarget::Commit(CommitStatusTarget {
        repository: repository(),
        sha: "3f1c2a9".into(),
    });
    let err = set_status(
        &ctx,
        &short,
        &CommitStatus {
            state: StatusState::Pending,
            context_name: "plan/prod".into(),
            context_genre: None,
            description: String::new(),
            target_url: None,
        },
    )
    .unwrap_err();
    assert!(
        matches!(&err, ProviderError::InvalidPayload(m) if m.contains("40 hexadecimal")),
        "{err:?}"
    );
    assert!(http.take().is_empty());
}

// ---------------------------------------------------------------------------------------
// Rendered bodies
// ---------------------------------------------------------------------------------------

/// Bodies one after the other, for a snapshot a person can read.
fn snapshot_text(bodies: &[String]) -> String {
    bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            format!(
                "======== comment {} of {} ========\n{body}",
                i + 1,
                bodies.len()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn rendered_bodies_match_their_snapshots() {
    let cases: &[(&str, bool)] = &[
        ("plan-success.json", false),
        ("plan-no-changes.json", true),
        ("plan-failed.json", false),
        ("plan-errored.json", false),
        ("plan-multi-workspace.json", true),
        ("apply-success.json", false),
    ];
    for (file, with_commands) in cases {
        let report = report_fixture(file);
        let options = RenderOptions {
            max_length: None,
            commands: with_commands.then(command_settings),
        };
        let bodies = render(&report, &options).unwrap_or_else(|e| panic!("{file}: {e:?}"));
        assert_eq!(bodies.len(), 1, "{file} fits one comment");
        assert_well_formed(&bodies, LIMIT);
        assert_eq!(extract_output(&bodies), all_output(&report), "{file}");
        let name = file.trim_end_matches(".json");
        insta::assert_snapshot!(name, snapshot_text(&bodies));
    }
}

#[test]
fn user_controlled_text_cannot_break_out() {
    let report = report_fixture("unsafe-names.json");
    let bodies = render(&report, &default_render()).expect("the report renders");
    assert_well_formed(&bodies, LIMIT);
    assert_eq!(extract_output(&bodies), all_output(&report));
    insta::assert_snapshot!("unsafe-names", snapshot_text(&bodies));

    let body = &bodies[0];
    let outside = outside_fences(body);
    // Outside the code fences nothing hostile is left raw: no tag, mention, code span,
    // emphasis, table pipe, or second marker.
    for needle in ["<script", "<b>", "@<", "`", "**", " | y", "<summary>fake"] {
        assert!(!outside.contains(needle), "{needle:?} leaked:\n{outside}");
    }
    assert_eq!(outside.matches(MARKER_PREFIX).count(), 1, "{outside}");
    // The only <details> blocks are the two the renderer opened, one per workspace.
    assert_eq!(outside.matches("<details>").count(), 2, "{outside}");
    assert_eq!(outside.matches("</details>").count(), 2, "{outside}");
    // The names are shown, escaped, in the heading, the table, the error and the summary.
    let name = "<code>prod&#96;&#60;/details&#62;&#60;script&#62;alert&#40;1&#41;&#60;/script&#62; &#64;&#60;6A7B1C2D-3E4F-5A6B-7C8D-9E0F1A2B3C4D&#62; &#42;&#42;x&#42;&#42; &#124; y</code>";
    assert_eq!(outside.matches(name).count(), 4, "{outside}");
    assert!(
        outside
            .contains("<summary>Output of <code>&#96;ok&#96; &#60;/details&#62;</code></summary>"),
        "{outside}"
    );
    assert!(
        outside.contains(
            "Error&#58; bad &#96;value&#96; &#60;b&#62;here&#60;/b&#62; &#64;&#60;6A7B1C2D-3E4F-5A6B-7C8D-9E0F1A2B3C4D&#62;"
        ),
        "{outside}"
    );
    // The run link's target cannot end the link or start markup.
    let target = outside
        .split_once("[Open the run](")
        .and_then(|(_, rest)| rest.split_once(")\n"))
        .map(|(target, _)| target)
        .expect("a run link");
    assert!(
        target.starts_with("https://scalr.example/runs/a%20b"),
        "{target}"
    );
    assert!(
        !target.contains([' ', '(', ')', '<', '>', '"', '@', '`', '[', ']']),
        "{target}"
    );
    // The output keeps its fences and fake tags verbatim, inside a fence longer than
    // any backtick run it holds (5), or of tildes longer than its tilde run (4).
    assert!(
        body.contains("\n`````\n```\n  + resource") || body.contains("\n~~~~~\n```\n  + resource"),
        "{body}"
    );
    assert!(body.contains("no newline at end\n~~~~~\n"), "{body}");
    assert!(body.contains(NOTE_NO_NEWLINE));
}

// ---------------------------------------------------------------------------------------
// host-harness render
// ---------------------------------------------------------------------------------------

fn host_harness_binary() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/host-harness");
    assert!(
        path.exists(),
        "{} does not exist: build it first with `cargo build -p host-harness`",
        path.display()
    );
    path
}

#[test]
fn the_render_command_prints_bodies_within_max_len() {
    let file = report_path("plan-multi-workspace.json");
    let run = std::process::Command::new(host_harness_binary())
        .args(["render", "--max-len", "2000"])
        .arg(&file)
        .output()
        .expect("host-harness runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{:?}: {stderr}", run.status);
    let stdout = String::from_utf8(run.stdout).expect("UTF-8 output");
    let bodies: Vec<String> =
        serde_json::from_str(stdout.trim_end()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert!(bodies.len() > 2, "{} bodies", bodies.len());
    for (i, body) in bodies.iter().enumerate() {
        assert!(
            units(body) <= 2000,
            "body {} is {} units",
            i + 1,
            units(body)
        );
    }
    assert_well_formed(&bodies, 2000);
    let report = report_fixture("plan-multi-workspace.json");
    assert_eq!(extract_output(&bodies), all_output(&report));

    // A limit the scaffolding cannot fit is refused with the minimum to use.
    let refused = std::process::Command::new(host_harness_binary())
        .args(["render", "--max-len", "100"])
        .arg(&file)
        .output()
        .expect("host-harness runs");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(refused.stdout.is_empty());
    assert!(stderr.contains("max-length 100 is too small"), "{stderr}");
}
