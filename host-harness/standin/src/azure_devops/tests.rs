//! The stand-in over real HTTP (ureq), and its routing table on its own.

use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use super::api::{Route, locate};
use super::*;

const REPO: &str = "0f6e2c4a-8d3b-4e21-b6a9-5c7d1e2f3a4b";
const PROJECT_ID: &str = "7c5a1b7e-1f0c-4b7a-9a51-2a0f7b3c9d11";
const HEAD: &str = "3f1c2a9e8b7d6c5f4e3a2b1c0d9e8f7a6b5c4d3e";
const BASE: &str = "1111111111111111111111111111111111111111";

/// One answer, read whole.
#[derive(Debug)]
struct Got {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Got {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn headers(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The `typeKey` of an Azure DevOps error body, after checking its shape.
    fn type_key(&self) -> String {
        let body = self.json();
        assert_eq!(body["$id"], "1", "{body}");
        assert!(body["innerException"].is_null(), "{body}");
        assert_eq!(body["errorCode"], 0, "{body}");
        assert_eq!(body["eventId"], 3000, "{body}");
        assert!(body["typeName"].as_str().is_some(), "{body}");
        assert!(body["message"].as_str().is_some(), "{body}");
        body["typeKey"].as_str().unwrap_or_default().to_string()
    }

    fn message(&self) -> String {
        self.json()["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

fn basic(pat: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!(":{pat}"))
    )
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .new_agent()
}

/// Send a request with exactly these headers.
fn raw(method: &str, url: &str, headers: &[(&str, String)], body: Option<&[u8]>) -> Got {
    let mut builder = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, value.as_str());
    }
    let agent = agent();
    let sent = match body {
        Some(body) => agent.run(builder.body(body).expect("request")),
        None => agent.run(builder.body(()).expect("request")),
    };
    let mut response = sent.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    Got {
        status: response.status().as_u16(),
        headers,
        body: response
            .body_mut()
            .read_to_string()
            .unwrap_or_else(|e| panic!("body of {method} {url}: {e}")),
    }
}

/// The headers the provider sends.
fn provider_headers(body: bool) -> Vec<(&'static str, String)> {
    let mut headers = vec![
        ("Accept", "application/json".to_string()),
        ("X-TFS-FedAuthRedirect", "Suppress".to_string()),
        ("Authorization", basic(DEFAULT_PAT)),
    ];
    if body {
        headers.push(("Content-Type", "application/json; charset=utf-8".into()));
    }
    headers
}

/// A request as the provider makes it, to `{base}{path}`.
fn call(stand_in: &StandIn, method: &str, path: &str, body: Option<Value>) -> Got {
    let url = format!("{}{path}", stand_in.base_url());
    let bytes = body.map(|b| b.to_string().into_bytes());
    raw(
        method,
        &url,
        &provider_headers(bytes.is_some()),
        bytes.as_deref(),
    )
}

fn pr_path(tail: &str) -> String {
    format!("{PROJECT_ID}/_apis/git/repositories/{REPO}/pullRequests/42{tail}")
}

fn versioned(path: &str) -> String {
    let joiner = if path.contains('?') { '&' } else { '?' };
    format!("{path}{joiner}api-version=7.1")
}

fn seeded() -> StandIn {
    let stand_in = StandIn::start(StandInOptions::default()).expect("start");
    stand_in
        .seed_pull_request(PullRequestSeed::default())
        .expect("seed");
    stand_in
}

#[test]
fn routes_are_found_case_insensitively_with_or_without_a_project() {
    let segments = |path: &str| -> Vec<String> { path.split('/').map(str::to_string).collect() };
    let located = |path: &str| locate(&segments(path)).expect("valid").expect("a route");
    let at = located("Infra Team/_apis/git/repositories/r1/pullrequests/42/threads/7/comments/2");
    assert_eq!(at.project.as_deref(), Some("Infra Team"));
    assert_eq!(
        at.route,
        Route::Comment {
            repo: "r1".into(),
            number: 42,
            thread: 7,
            comment: 2
        }
    );
    let at = located("_apis/git/repositories/r1/commits/abc/statuses");
    assert_eq!(at.project, None);
    assert_eq!(
        at.route,
        Route::CommitStatuses {
            repo: "r1".into(),
            sha: "abc".into()
        }
    );
    for (path, route) in [
        ("_apis/connectionData", Route::ConnectionData),
        ("_APIS/Git/Repositories", Route::Repositories),
        ("p/_apis/policy/evaluations", Route::PolicyEvaluations),
        (
            "p/_apis/git/repositories/r/diffs/commits",
            Route::CommitDiffs { repo: "r".into() },
        ),
        (
            "p/_apis/git/repositories/r/pullRequests/3/iterations/2/changes",
            Route::IterationChanges {
                repo: "r".into(),
                number: 3,
                iteration: 2,
            },
        ),
    ] {
        assert_eq!(located(path).route, route, "{path}");
    }
    // connectionData belongs to the organization; evaluations to a project.
    for missing in [
        "p/_apis/connectionData",
        "_apis/policy/evaluations",
        "p/_apis/git/repositories/r/pullRequests/3/reviewers",
        "p/_git/r",
        "",
    ] {
        assert_eq!(
            locate(&segments(missing)).expect("valid"),
            None,
            "{missing}"
        );
    }
    let bad = locate(&segments("_apis/git/repositories/r/pullRequests/x")).unwrap_err();
    assert_eq!(bad.status, 400);
}

#[test]
fn credentials_are_checked_like_the_service_does() {
    let options = StandInOptions {
        bearer_tokens: vec!["entra-access-token".into()],
        ..StandInOptions::default()
    };
    let stand_in = StandIn::start(options).expect("start");
    let url = format!("{}_apis/connectionData", stand_in.base_url());
    let suppress = ("X-TFS-FedAuthRedirect", "Suppress".to_string());

    // No credential, redirect suppressed: 401 with the challenges and a typed body.
    let got = raw("GET", &url, std::slice::from_ref(&suppress), None);
    assert_eq!(got.status, 401);
    assert_eq!(got.type_key(), "VssUnauthorizedException");
    assert!(got.message().starts_with("VS30063"), "{}", got.message());
    let challenges = got.headers("www-authenticate");
    assert_eq!(challenges.len(), 2, "{challenges:?}");
    assert!(challenges.iter().any(|c| c.starts_with("Basic realm=")));
    // A wrong PAT: the same.
    let wrong = ("Authorization", basic("not-the-pat"));
    let got = raw("GET", &url, &[suppress.clone(), wrong.clone()], None);
    assert_eq!(got.status, 401);
    // Without the suppression header: a 203 sign-in page.
    let got = raw("GET", &url, std::slice::from_ref(&wrong), None);
    assert_eq!(got.status, 203);
    assert!(got.header("content-type").unwrap().starts_with("text/html"));
    assert!(got.body.starts_with("<!DOCTYPE html>"), "{}", got.body);
    // A user name before the PAT is ignored, as by the service; Bearer tokens work.
    let named = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("anyone:{DEFAULT_PAT}"))
    );
    for credential in [
        basic(DEFAULT_PAT),
        named,
        "Bearer entra-access-token".into(),
    ] {
        let got = raw("GET", &url, &[("Authorization", credential.clone())], None);
        assert_eq!(got.status, 200, "{credential}: {}", got.body);
    }
    for refused in ["Bearer nope", "Basic !!!", "Basic", "Digest x"] {
        let got = raw(
            "GET",
            &url,
            &[suppress.clone(), ("Authorization", refused.into())],
            None,
        );
        assert_eq!(got.status, 401, "{refused}");
    }
    // Another organization: an empty 404, before any credential check.
    let other = url.replace("/contoso/", "/fabrikam/");
    let got = raw("GET", &other, &[], None);
    assert_eq!((got.status, got.body.as_str()), (404, ""));
    // Every one of those is in the log, with its status.
    let statuses: Vec<u16> = stand_in.requests().iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [401, 401, 203, 200, 200, 200, 401, 401, 401, 401, 404]
    );
}

#[test]
fn connection_data_names_the_identity_and_wants_no_released_version() {
    let stand_in = StandIn::start(StandInOptions {
        identity: StandInIdentity::new(
            "6f3c1a52-1d4e-4c3b-9a0e-2b7e8d9c0f11",
            "Terraform Bot",
            "bot@contoso.com",
        ),
        ..StandInOptions::default()
    })
    .expect("start");
    let got = call(&stand_in, "GET", "_apis/connectionData", None);
    assert_eq!(got.status, 200);
    let user = &got.json()["authenticatedUser"];
    assert_eq!(user["id"], "6f3c1a52-1d4e-4c3b-9a0e-2b7e8d9c0f11");
    assert_eq!(user["providerDisplayName"], "Terraform Bot");
    assert_eq!(user["properties"]["Account"]["$value"], "bot@contoso.com");
    assert!(
        user["descriptor"]
            .as_str()
            .unwrap()
            .starts_with("Microsoft.IdentityModel.Claims.ClaimsIdentity;")
    );
    let got = call(
        &stand_in,
        "GET",
        "_apis/connectionData?api-version=7.1",
        None,
    );
    assert_eq!(got.status, 400);
    assert_eq!(got.type_key(), "VssInvalidPreviewVersionException");
    let got = call(
        &stand_in,
        "GET",
        "_apis/connectionData?api-version=7.1-preview.1",
        None,
    );
    assert_eq!(got.status, 200);
    let got = call(
        &stand_in,
        "GET",
        "_apis/connectionData?api-version=9.0-preview",
        None,
    );
    assert_eq!(got.type_key(), "VssVersionOutOfRangeException");
}

#[test]
fn unknown_things_get_azure_devops_404s() {
    let stand_in = seeded();
    let cases = [
        (
            "Nope/_apis/git/repositories".to_string(),
            "ProjectDoesNotExistWithNameException",
            "TF200016",
        ),
        (
            "_apis/git/repositories/00000000-0000-0000-0000-000000000000/pullRequests/1/threads"
                .to_string(),
            "GitRepositoryNotFoundException",
            "TF401019",
        ),
        (
            format!("{PROJECT_ID}/_apis/git/repositories/{REPO}/pullRequests/41"),
            "GitPullRequestNotFoundException",
            "TF401180",
        ),
        (
            pr_path("/threads/99"),
            "GitPullRequestCommentThreadNotFoundException",
            "99",
        ),
        (
            pr_path("/iterations/9/changes"),
            "GitPullRequestIterationNotFoundException",
            "9",
        ),
        (
            format!("Infra%20Team/_apis/git/repositories/{REPO}/pullRequests/42/reviewers"),
            "VssResourceNotFoundException",
            "reviewers",
        ),
    ];
    for (path, key, fragment) in cases {
        let got = call(&stand_in, "GET", &versioned(&path), None);
        assert_eq!(got.status, 404, "{path}: {}", got.body);
        assert_eq!(got.type_key(), key, "{path}");
        assert!(
            got.message().contains(fragment),
            "{path}: {}",
            got.message()
        );
    }
    // The probes of credential validation: a write to the all-zero repository.
    let got = call(
        &stand_in,
        "POST",
        &versioned(
            "_apis/git/repositories/00000000-0000-0000-0000-000000000000/commits/0000000000000000000000000000000000000000/statuses",
        ),
        Some(json!({"state": "notApplicable", "context": {"name": "credential-check"}})),
    );
    assert_eq!(got.status, 404);
    assert_eq!(got.type_key(), "GitRepositoryNotFoundException");
    // A repository is found by name within its project (by name or id), and by id alone.
    for path in [
        "Infra%20Team/_apis/git/repositories/infra",
        "infra%20team/_apis/git/repositories/INFRA",
        "_apis/git/repositories/0F6E2C4A-8D3B-4E21-B6A9-5C7D1E2F3A4B",
    ] {
        let got = call(&stand_in, "GET", &versioned(path), None);
        assert_eq!(got.status, 200, "{path}: {}", got.body);
        assert_eq!(got.json()["id"], REPO);
    }
    let got = call(
        &stand_in,
        "PUT",
        &versioned(&pr_path("/threads")),
        Some(json!({})),
    );
    assert_eq!(got.status, 405);
}

#[test]
fn threads_and_comments_are_created_answered_and_edited() {
    let stand_in = seeded();
    let created = call(
        &stand_in,
        "POST",
        &versioned(&pr_path("/threads")),
        Some(json!({
            "comments": [{"parentCommentId": 0, "content": "plan: 1 to add", "commentType": 1}],
            "status": 4,
        })),
    );
    assert_eq!(created.status, 200, "{}", created.body);
    let thread = created.json();
    assert_eq!(thread["status"], "closed");
    assert_eq!(thread["isDeleted"], false);
    let first = &thread["comments"][0];
    assert_eq!(first["id"], 1);
    assert_eq!(first["parentCommentId"], 0);
    assert_eq!(first["commentType"], "text");
    assert_eq!(first["author"]["uniqueName"], "scalr-bot@contoso.com");
    assert!(
        first["_links"]["threads"]["href"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/pullRequests/42/threads/{}", thread["id"]))
    );
    let id = thread["id"].as_u64().unwrap();

    let reply = call(
        &stand_in,
        "POST",
        &versioned(&pr_path(&format!("/threads/{id}/comments"))),
        Some(json!({"parentCommentId": 1, "content": "part 2", "commentType": 1})),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["id"], 2);
    assert_eq!(reply.json()["parentCommentId"], 1);

    // The same records, for webhook payloads.
    let as_json = stand_in
        .state()
        .comment_json(REPO, 42, id, 2)
        .expect("the comment");
    assert_eq!(as_json, reply.json());
    let pr_json = stand_in
        .state()
        .pull_request_json(REPO, 42)
        .expect("the PR");
    assert_eq!(pr_json["pullRequestId"], 42);
    assert!(stand_in.state().comment_json(REPO, 42, id, 3).is_none());

    let edited = call(
        &stand_in,
        "PATCH",
        &versioned(&pr_path(&format!("/threads/{id}/comments/1"))),
        Some(json!({"content": "apply: 1 added"})),
    );
    assert_eq!(edited.status, 200, "{}", edited.body);
    assert_eq!(edited.json()["content"], "apply: 1 added");

    let listed = call(&stand_in, "GET", &versioned(&pr_path("/threads")), None).json();
    assert_eq!(listed["count"], 1);
    assert_eq!(listed["value"][0]["comments"][1]["content"], "part 2");

    let threads = stand_in.threads(REPO, 42);
    assert_eq!(threads.len(), 1);
    assert_eq!(threads[0].comments[0].content, "apply: 1 added");
    assert_eq!(threads[0].comments[0].edits, 1);
    assert_eq!(threads[0].comments[1].parent_comment_id, 1);

    // A person's comment cannot be edited by the bot; replying to a missing parent fails.
    let (theirs, _) = stand_in
        .state()
        .add_thread(REPO, 42, StandInIdentity::alice(), "/scalr plan")
        .expect("thread");
    assert!(theirs > id, "thread ids keep growing");
    let got = call(
        &stand_in,
        "PATCH",
        &versioned(&pr_path(&format!("/threads/{theirs}/comments/1"))),
        Some(json!({"content": "edited"})),
    );
    assert_eq!(got.status, 403);
    let got = call(
        &stand_in,
        "POST",
        &versioned(&pr_path(&format!("/threads/{theirs}/comments"))),
        Some(json!({"parentCommentId": 5, "content": "x"})),
    );
    assert_eq!(got.status, 400);
    // A deleted thread's comments are gone.
    assert!(stand_in.state().delete_thread(REPO, 42, id));
    let got = call(
        &stand_in,
        "PATCH",
        &versioned(&pr_path(&format!("/threads/{id}/comments/1"))),
        Some(json!({"content": "again"})),
    );
    assert_eq!(got.status, 404);

    let counts = stand_in.counts();
    assert_eq!(
        (counts.threads, counts.comments, counts.comment_edits),
        (1, 1, 1)
    );
}

#[test]
fn bad_writes_are_refused_without_panicking() {
    let stand_in = StandIn::start(StandInOptions {
        max_body_bytes: 256 * 1024,
        ..StandInOptions::default()
    })
    .expect("start");
    stand_in
        .seed_pull_request(PullRequestSeed::default())
        .expect("seed");
    let url = format!("{}{}", stand_in.base_url(), versioned(&pr_path("/threads")));
    let headers = provider_headers(true);
    let post = |body: &[u8]| raw("POST", &url, &headers, Some(body));

    for malformed in [
        &b"{not json"[..],
        b"",
        b"[1,2]",
        b"null",
        &[0xff, 0xfe, 0x00],
    ] {
        let got = post(malformed);
        assert_eq!(got.status, 400, "{malformed:?}");
        assert_eq!(got.type_key(), "ArgumentNullException");
        assert!(got.message().contains("commentThread"), "{}", got.message());
    }
    let thread = |content: Value, status: Value| {
        json!({"comments": [{"parentCommentId": 0, "content": content, "commentType": 1}], "status": status})
            .to_string()
    };
    let long = "x".repeat(api::MAX_COMMENT_UNITS + 1);
    for body in [
        thread(json!(long), json!(4)),
        thread(json!("ok"), json!("resolved")),
        thread(json!("ok"), json!(12)),
        thread(json!(null), json!(1)),
        json!({"comments": [], "status": 1}).to_string(),
    ] {
        let got = post(body.as_bytes());
        assert_eq!(got.status, 400, "{}", got.body);
        assert_eq!(got.type_key(), "InvalidArgumentValueException");
    }
    // Exactly at the limit is fine, counted in UTF-16 units.
    let astral = "📦".repeat(api::MAX_COMMENT_UNITS / 2);
    let small = StandIn::start(StandInOptions::default()).expect("start");
    small
        .seed_pull_request(PullRequestSeed::default())
        .expect("seed");
    let got = call(
        &small,
        "POST",
        &versioned(&pr_path("/threads")),
        Some(json!({"comments": [{"content": astral}]})),
    );
    assert_eq!(got.status, 200);
    assert_eq!(got.json()["status"], "active", "the default status");

    // Over the body limit: 413 (declared length), nothing stored.
    let huge = vec![b' '; 257 * 1024];
    let got = post(&huge);
    assert_eq!(got.status, 413);
    assert_eq!(got.type_key(), "VssRequestEntityTooLargeException");
    // Not JSON at all.
    let mut text = headers.clone();
    text.retain(|(n, _)| *n != "Content-Type");
    text.push(("Content-Type", "text/plain".into()));
    let got = raw("POST", &url, &text, Some(b"{}"));
    assert_eq!(got.status, 415);
    // A write without an api-version.
    let unversioned = url.replace("?api-version=7.1", "");
    let got = raw(
        "POST",
        &unversioned,
        &headers,
        Some(thread(json!("x"), json!(1)).as_bytes()),
    );
    assert_eq!(got.status, 400);
    assert_eq!(got.type_key(), "VssVersionNotSpecifiedException");
    assert!(stand_in.threads(REPO, 42).is_empty());
}

#[test]
fn statuses_land_on_pull_requests_and_commits() {
    let stand_in = seeded();
    let got = call(
        &stand_in,
        "POST",
        &versioned(&pr_path("/statuses")),
        Some(json!({
            "state": "succeeded",
            "description": "Plan: 1 to add",
            "context": {"name": "plan/prod", "genre": "scalr"},
            "targetUrl": "https://scalr.example/runs/1",
            "iterationId": 1,
        })),
    );
    assert_eq!(got.status, 200, "{}", got.body);
    let body = got.json();
    assert_eq!(body["iterationId"], 1);
    assert_eq!(body["createdBy"]["displayName"], "Scalr Bot");
    let got = call(
        &stand_in,
        "POST",
        &versioned(&pr_path("/statuses")),
        Some(json!({"state": "pending", "context": {"name": "plan/prod"}, "iterationId": 9})),
    );
    assert_eq!(got.status, 404);
    for bad in [
        json!({"state": "done", "context": {"name": "x"}}),
        json!({"state": "pending", "context": {"genre": "x"}}),
        json!({"state": "pending", "context": {"name": "x"}, "targetUrl": "javascript:alert(1)"}),
    ] {
        let got = call(
            &stand_in,
            "POST",
            &versioned(&pr_path("/statuses")),
            Some(bad),
        );
        assert_eq!(got.status, 400, "{}", got.body);
    }
    let statuses = stand_in.pull_request_statuses(REPO, 42);
    assert_eq!(statuses.len(), 1);
    assert_eq!(
        (
            statuses[0].state.as_str(),
            statuses[0].context_name.as_str(),
            statuses[0].context_genre.as_deref(),
            statuses[0].iteration_id
        ),
        ("succeeded", "plan/prod", Some("scalr"), Some(1))
    );

    let commit = format!("{PROJECT_ID}/_apis/git/repositories/{REPO}/commits/{HEAD}/statuses");
    let got = call(
        &stand_in,
        "POST",
        &versioned(&commit),
        Some(json!({"state": "failed", "context": {"name": "apply/prod", "genre": "acme"}})),
    );
    assert_eq!(got.status, 201, "{}", got.body);
    let listed = call(&stand_in, "GET", &versioned(&commit), None).json();
    assert_eq!(listed["count"], 1);
    assert_eq!(listed["value"][0]["context"]["genre"], "acme");
    let stored = stand_in.commit_statuses(REPO, &HEAD.to_uppercase());
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].state, "failed");
    let got = call(
        &stand_in,
        "POST",
        &versioned(&commit.replace(HEAD, "main")),
        Some(json!({"state": "failed", "context": {"name": "x"}})),
    );
    assert_eq!(got.status, 400);
}

#[test]
fn iterations_and_changes_follow_pushes_and_page() {
    let stand_in = StandIn::start(StandInOptions::default()).expect("start");
    let files: Vec<FileChange> = (0..5)
        .map(|i| FileChange::add(&format!("modules/m{i}/main.tf")))
        .collect();
    stand_in
        .seed_pull_request(PullRequestSeed {
            files: files.clone(),
            ..PullRequestSeed::default()
        })
        .expect("seed");
    let newer = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";
    let mut pushed = files.clone();
    pushed.push(FileChange::rename("old.tf", "new.tf"));
    pushed.push(FileChange::delete("gone.tf"));
    assert_eq!(stand_in.set_head(REPO, 42, newer, pushed).expect("push"), 2);

    let iterations = call(&stand_in, "GET", &versioned(&pr_path("/iterations")), None).json();
    assert_eq!(iterations["count"], 2);
    assert_eq!(iterations["value"][0]["sourceRefCommit"]["commitId"], HEAD);
    assert_eq!(iterations["value"][1]["sourceRefCommit"]["commitId"], newer);
    assert_eq!(iterations["value"][1]["targetRefCommit"]["commitId"], BASE);
    assert_eq!(iterations["value"][1]["reason"], "push");

    let mut paths = Vec::new();
    let mut skip = 0;
    loop {
        let page = call(
            &stand_in,
            "GET",
            &versioned(&pr_path(&format!(
                "/iterations/2/changes?$top=3&$skip={skip}"
            ))),
            None,
        )
        .json();
        for entry in page["changeEntries"].as_array().unwrap() {
            paths.push(format!(
                "{} {}",
                entry["changeType"].as_str().unwrap(),
                entry["item"]["path"].as_str().unwrap()
            ));
            if entry["changeType"] == "rename" {
                assert_eq!(entry["originalPath"], "/old.tf");
            }
        }
        match page["nextSkip"].as_u64().unwrap() {
            0 => break,
            next => skip = usize::try_from(next).unwrap(),
        }
    }
    assert_eq!(paths.len(), 7, "{paths:?}");
    assert_eq!(paths[5], "rename /new.tf");
    assert_eq!(paths[6], "delete /gone.tf");

    // The commit diff between the base and the new head: blobs and their folders.
    let diff = call(
        &stand_in,
        "GET",
        &versioned(&format!(
            "Infra%20Team/_apis/git/repositories/{REPO}/diffs/commits?baseVersionType=commit&baseVersion={BASE}&targetVersionType=commit&targetVersion={newer}&$top=2000&$skip=0"
        )),
        None,
    );
    assert_eq!(diff.status, 200, "{}", diff.body);
    let changes = diff.json()["changes"].as_array().unwrap().clone();
    let blobs = changes
        .iter()
        .filter(|c| c["item"]["gitObjectType"] == "blob")
        .count();
    let folders = changes
        .iter()
        .filter(|c| c["item"]["isFolder"] == true)
        .count();
    assert_eq!((blobs, folders), (7, 6), "{changes:?}");
    let unknown = call(
        &stand_in,
        "GET",
        &versioned(&format!(
            "_apis/git/repositories/{REPO}/diffs/commits?baseVersionType=commit&baseVersion={BASE}&targetVersionType=commit&targetVersion={}",
            "9".repeat(40)
        )),
        None,
    );
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.type_key(), "GitUnresolvableToCommitException");

    // The pull request itself, in the shape the provider reads.
    let pr = call(
        &stand_in,
        "GET",
        &versioned(&format!(
            "Infra%20Team/_apis/git/repositories/{REPO}/pullRequests/42"
        )),
        None,
    )
    .json();
    assert_eq!(pr["pullRequestId"], 42);
    assert_eq!(pr["sourceRefName"], "refs/heads/feature/infra");
    assert_eq!(pr["lastMergeSourceCommit"]["commitId"], newer);
    assert_eq!(pr["lastMergeTargetCommit"]["commitId"], BASE);
    assert_eq!(pr["repository"]["project"]["id"], PROJECT_ID);
    assert_eq!(pr["repository"]["project"]["name"], "Infra Team");
    assert!(
        pr["repository"]["webUrl"]
            .as_str()
            .unwrap()
            .ends_with("/contoso/Infra%20Team/_git/infra")
    );
    assert_eq!(pr["mergeStatus"], "succeeded");
}

#[test]
fn policy_evaluations_want_a_preview_version_and_the_project_id() {
    let stand_in = seeded();
    stand_in
        .state()
        .pull_request_mut(REPO, 42)
        .expect("pr")
        .policy_evaluations
        .push(json!({"status": "queued", "configuration": {"isBlocking": true}}));
    let artifact = format!("vstfs:///CodeReview/CodeReviewId/{PROJECT_ID}/42");
    let path = |version: &str, artifact: &str| {
        format!("Infra%20Team/_apis/policy/evaluations?artifactId={artifact}&api-version={version}")
    };
    let got = call(&stand_in, "GET", &path("7.1-preview.1", &artifact), None);
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(got.json()["value"][0]["status"], "queued");
    let got = call(&stand_in, "GET", &path("7.1", &artifact), None);
    assert_eq!(got.type_key(), "VssInvalidPreviewVersionException");
    let by_name = artifact.replace(PROJECT_ID, "Infra%20Team");
    let got = call(&stand_in, "GET", &path("7.1-preview.1", &by_name), None);
    assert_eq!(got.status, 400);
}

#[test]
fn faults_fail_a_number_of_requests_then_heal() {
    let stand_in = seeded();
    let threads = versioned(&pr_path("/threads"));
    stand_in.inject(Fault::new(
        Some("get"),
        "/threads",
        2,
        FaultKind::RateLimited {
            retry_after_seconds: 30,
        },
    ));
    stand_in.inject(Fault::new(
        None,
        "connectionData",
        1,
        FaultKind::SignInPage203,
    ));
    stand_in.inject(Fault::new(
        Some("POST"),
        "/statuses",
        1,
        FaultKind::ServerError(500),
    ));
    stand_in.inject(Fault::new(
        Some("POST"),
        "/statuses",
        1,
        FaultKind::ServerError(503),
    ));
    stand_in.inject(Fault::new(
        Some("GET"),
        "/iterations",
        1,
        FaultKind::Delay(Duration::from_millis(300)),
    ));
    assert_eq!(stand_in.state().pending_faults().len(), 5);

    for _ in 0..2 {
        let got = call(&stand_in, "GET", &threads, None);
        assert_eq!(got.status, 429);
        assert_eq!(got.header("retry-after"), Some("30"));
        assert_eq!(got.header("x-ratelimit-remaining"), Some("0"));
        assert_eq!(got.type_key(), "RequestBlockedException");
    }
    assert_eq!(call(&stand_in, "GET", &threads, None).status, 200);
    // A POST to the same path was never matched by the GET fault.

    let got = call(&stand_in, "GET", "_apis/connectionData", None);
    assert_eq!(got.status, 203);
    assert!(got.body.contains("Sign In"));
    assert_eq!(
        call(&stand_in, "GET", "_apis/connectionData", None).status,
        200
    );

    let status = || {
        call(
            &stand_in,
            "POST",
            &versioned(&pr_path("/statuses")),
            Some(json!({"state": "pending", "context": {"name": "plan/prod"}})),
        )
    };
    let got = status();
    assert_eq!(got.status, 500);
    assert!(got.message().starts_with("TF400898"), "{}", got.message());
    assert_eq!(status().status, 503);
    assert_eq!(status().status, 200);
    assert_eq!(stand_in.pull_request_statuses(REPO, 42).len(), 1);

    let started = Instant::now();
    let got = call(&stand_in, "GET", &versioned(&pr_path("/iterations")), None);
    assert_eq!(got.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    assert!(stand_in.state().pending_faults().is_empty());
    let log = stand_in.requests();
    let faults: Vec<(u16, Option<&str>)> = log.iter().map(|r| (r.status, r.fault)).collect();
    assert_eq!(
        faults,
        [
            (429, Some("rate-limited")),
            (429, Some("rate-limited")),
            (200, None),
            (203, Some("sign-in-page-203")),
            (200, None),
            (500, Some("server-error")),
            (503, Some("server-error")),
            (200, None),
            (200, Some("delay")),
        ]
    );
    assert!(log[8].elapsed >= Duration::from_millis(300));
    assert!(log[0].target.contains("/threads?api-version=7.1"));
    let counts = stand_in.counts();
    assert_eq!((counts.requests, counts.faulted), (9, 6));
}

#[test]
fn the_log_keeps_the_latest_requests() {
    let stand_in = StandIn::start(StandInOptions {
        max_logged_requests: 3,
        ..StandInOptions::default()
    })
    .expect("start");
    for i in 0..5 {
        call(
            &stand_in,
            "GET",
            &format!("_apis/connectionData?n={i}"),
            None,
        );
    }
    let log = stand_in.requests();
    assert_eq!(log.len(), 3);
    assert!(log[0].target.ends_with("n=2"));
    assert_eq!(stand_in.counts().requests, 5);
}

#[test]
fn it_stops_on_request_or_drop_and_runs_inside_another_runtime() {
    let stand_in = StandIn::start(StandInOptions::default()).expect("start");
    let addr = stand_in.addr();
    assert!(
        stand_in
            .base_url()
            .starts_with(&format!("http://{addr}/contoso/"))
    );
    assert_eq!(
        call(&stand_in, "GET", "_apis/connectionData", None).status,
        200
    );
    stand_in.stop();
    stand_in.stop(); // twice is fine
    assert!(std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
    drop(stand_in);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let addr = runtime.block_on(async {
        let stand_in = StandIn::start(StandInOptions::default()).expect("start in a runtime");
        let addr = stand_in.addr();
        let base = stand_in.base_url().to_string();
        let got = tokio::task::spawn_blocking(move || {
            raw(
                "GET",
                &format!("{base}_apis/connectionData"),
                &provider_headers(false),
                None,
            )
        })
        .await
        .expect("request");
        assert_eq!(got.status, 200);
        drop(stand_in); // dropped inside the runtime: no panic
        addr
    });
    assert!(std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());

    assert!(
        StandIn::start(StandInOptions {
            organization: "two words".into(),
            ..StandInOptions::default()
        })
        .is_err()
    );
}
