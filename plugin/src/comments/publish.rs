//! Publishing reports, statuses and replies on Azure DevOps pull requests.
//!
//! A report lives in one thread: its first part opens the thread, further parts are
//! replies in it. The thread and comment ids are kept in storage per pull request and
//! workspace set, so a later run (a new head commit, the apply after the plan) updates
//! the same comments. The state is saved after every comment sent and compared with what
//! a retry would send, so retried publishing never posts a duplicate.

use serde::{Deserialize, Serialize};
use url::Url;

use crate::rest::Client;
use provider_kit::comments::{
    CommitStatus, PostedComment, PublishOptions, PublishResult, RunReport, StatusState,
    StatusTarget,
};
use provider_kit::error::{ProviderError, Result};
use provider_kit::host::{Host, Level, Method};
use provider_kit::publish::{
    CommentApi, check_reply, clip, commit_sha, publish_parts, skipped, skips,
};
use provider_kit::types::{Connection, PullRequestRef, Repository};

/// Thread status used when `thread-status` is not set: closed, so the comment does not
/// block the "comments must be resolved" branch policy.
const DEFAULT_THREAD_STATUS: u8 = 4;

/// Azure DevOps' thread statuses by name.
const THREAD_STATUSES: &[(&str, u8)] = &[
    ("active", 1),
    ("fixed", 2),
    ("wontfix", 3),
    ("closed", 4),
    ("bydesign", 5),
    ("pending", 6),
];

/// Longest status description sent, in characters.
const MAX_DESCRIPTION_CHARS: usize = 256;

/// One posted comment of a report: its thread and its id in the thread, stored beside
/// its content hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Part {
    thread: u64,
    comment: u64,
}

/// Publish `report` on the pull request `target`.
pub fn publish(
    host: &impl Host,
    connection: &Connection,
    target: &PullRequestRef,
    report: &RunReport,
    options: &PublishOptions,
) -> Result<PublishResult> {
    if skips(report, options) {
        return Ok(skipped());
    }
    let thread_status = thread_status(&options.options)?;
    let bodies = super::render(report, &options.render)?;
    let client = Client::new(host, connection)?;
    let api = PullRequestApi::new(&client, target)?;
    let threads = Threads {
        api: &api,
        status: thread_status,
    };
    publish_parts(host, &threads, target, report, options, &bodies)
}

/// A report's parts as pull-request threads: the first part opens a thread with the
/// configured status, later parts reply in it.
struct Threads<'a, 'c, 'h, H: Host + ?Sized> {
    api: &'a PullRequestApi<'c, 'h, H>,
    status: u8,
}

impl<H: Host + ?Sized> CommentApi for Threads<'_, '_, '_, H> {
    type Part = Part;

    fn create(&self, body: &str, first: Option<&Part>) -> Result<Part> {
        let (thread, comment) = match first {
            Some(first) => (first.thread, self.api.reply_in_thread(first.thread, body)?),
            None => self.api.create_thread(body, self.status)?,
        };
        Ok(Part { thread, comment })
    }

    fn update(&self, part: &mut Part, body: &str) -> Result<()> {
        self.api.update_comment(part.thread, part.comment, body)
    }

    fn find_orphan(&self, marker: &str, bot_user_id: &str) -> Result<Option<Part>> {
        Ok(self
            .api
            .find_own_comment(marker, bot_user_id)?
            .map(|(thread, comment)| Part { thread, comment }))
    }

    fn posted(&self, part: &Part) -> PostedComment {
        PostedComment {
            thread_id: Some(part.thread.to_string()),
            comment_id: part.comment.to_string(),
            url: self.api.thread_url(part.thread),
        }
    }
}

/// Set a status on a pull request (at the iteration of its head) or a commit.
pub fn set_status(
    host: &impl Host,
    connection: &Connection,
    target: &StatusTarget,
    status: &CommitStatus,
) -> Result<()> {
    // The kit's checked context; `StatusContext` here is Azure DevOps' wire shape.
    let provider_kit::publish::StatusContext {
        name,
        genre,
        target_url,
    } = provider_kit::publish::StatusContext::of(status)?;
    let mut body = StatusBody {
        state: match status.state {
            StatusState::Pending => "pending",
            StatusState::Succeeded => "succeeded",
            StatusState::Failed => "failed",
            StatusState::Error => "error",
            StatusState::NotApplicable => "notApplicable",
        },
        description: clip(status.description.trim(), MAX_DESCRIPTION_CHARS),
        context: StatusContext { name, genre },
        target_url,
        iteration_id: None,
    };
    let client = Client::new(host, connection)?;
    match target {
        StatusTarget::PullRequest(pr) => {
            let head = commit_sha(&pr.head_sha)?;
            let api = PullRequestApi::new(&client, &pr.pull_request)?;
            let iterations: IterationList = client.get(&api.url(&["iterations"])?)?;
            body.iteration_id = iterations
                .value
                .iter()
                .filter(|i| {
                    i.source_ref_commit
                        .as_ref()
                        .is_some_and(|c| c.commit_id.eq_ignore_ascii_case(head))
                })
                .map(|i| i.id)
                .max();
            if body.iteration_id.is_none() {
                host.log(
                    Level::Warn,
                    "no iteration of the pull request has the planned head commit; the status \
                     is set on the pull request without an iteration",
                    &[
                        ("pull_request".into(), pr.pull_request.number.to_string()),
                        ("head_sha".into(), head.to_string()),
                    ],
                );
            }
            post_ignoring_answer(&client, &api.url(&["statuses"])?, &body)
        }
        StatusTarget::Commit(commit) => {
            let sha = commit_sha(&commit.sha)?;
            let (project, repository) = project_and_repository(&commit.repository)?;
            let url = client.api_url(
                &[
                    project,
                    "_apis",
                    "git",
                    "repositories",
                    repository,
                    "commits",
                    sha,
                    "statuses",
                ],
                &[],
            )?;
            post_ignoring_answer(&client, &url, &body)
        }
    }
}

/// Post Markdown on a pull request: a new thread, or a reply in `thread_id`.
pub fn reply(
    host: &impl Host,
    connection: &Connection,
    target: &PullRequestRef,
    thread_id: Option<&str>,
    markdown: &str,
) -> Result<PostedComment> {
    check_reply::<crate::AzureDevOps>(markdown)?;
    let client = Client::new(host, connection)?;
    let api = PullRequestApi::new(&client, target)?;
    let (thread, comment) = match thread_id {
        Some(raw) => {
            let thread = raw.trim().parse::<u64>().map_err(|_| {
                ProviderError::InvalidPayload(format!(
                    "thread id {raw:?} is not an Azure DevOps thread id (a number)"
                ))
            })?;
            (thread, api.reply_in_thread(thread, markdown)?)
        }
        None => api.create_thread(markdown, DEFAULT_THREAD_STATUS)?,
    };
    Ok(PostedComment {
        thread_id: Some(thread.to_string()),
        comment_id: comment.to_string(),
        url: api.thread_url(thread),
    })
}

/// The `thread-status` option: a status name or number; closed when unset.
fn thread_status(options: &[(String, String)]) -> Result<u8> {
    let Some((_, raw)) = options
        .iter()
        .rev()
        .find(|(name, _)| name == "thread-status")
    else {
        return Ok(DEFAULT_THREAD_STATUS);
    };
    let wanted = raw.trim().to_ascii_lowercase();
    THREAD_STATUSES
        .iter()
        .find(|(name, number)| *name == wanted || number.to_string() == wanted)
        .map(|(_, number)| *number)
        .ok_or_else(|| {
            ProviderError::InvalidConfig(format!(
                "thread-status {raw:?} is not an Azure DevOps thread status; use one of active, \
                 fixed, wontFix, closed, byDesign, pending"
            ))
        })
}

/// The project (id preferred: names can change) and repository id of a repository.
fn project_and_repository(repository: &Repository) -> Result<(&str, &str)> {
    let project = repository
        .project_id
        .as_deref()
        .or(repository.project.as_deref())
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| {
            ProviderError::InvalidConfig(format!(
                "repository {:?} has no project; Azure DevOps addresses repositories within a \
                 project, so pass the project id or name",
                repository.name
            ))
        })?;
    let id = repository.id.trim();
    if id.is_empty() {
        return Err(ProviderError::InvalidConfig(format!(
            "repository {:?} has no id; pass its GUID",
            repository.name
        )));
    }
    Ok((project, id))
}

fn post_ignoring_answer<B: Serialize, H: Host + ?Sized>(
    client: &Client<'_, H>,
    url: &Url,
    body: &B,
) -> Result<()> {
    let bytes = serde_json::to_vec(body)
        .map_err(|e| ProviderError::InvalidPayload(format!("could not encode the request: {e}")))?;
    client.send(Method::Post, url, Some(bytes))?;
    Ok(())
}

/// The REST resources of one pull request.
struct PullRequestApi<'c, 'h, H: Host + ?Sized> {
    client: &'c Client<'h, H>,
    project: String,
    repository: String,
    number: String,
    web_url: Option<String>,
}

impl<'c, 'h, H: Host + ?Sized> PullRequestApi<'c, 'h, H> {
    fn new(client: &'c Client<'h, H>, target: &PullRequestRef) -> Result<Self> {
        let (project, repository) = project_and_repository(&target.repository)?;
        Ok(Self {
            client,
            project: project.to_string(),
            repository: repository.to_string(),
            number: target.number.to_string(),
            web_url: target.repository.web_url.clone(),
        })
    }

    /// `{base}{project}/_apis/git/repositories/{repo}/pullRequests/{n}/{tail...}`.
    fn url(&self, tail: &[&str]) -> Result<Url> {
        let mut segments = vec![
            self.project.as_str(),
            "_apis",
            "git",
            "repositories",
            self.repository.as_str(),
            "pullRequests",
            self.number.as_str(),
        ];
        segments.extend_from_slice(tail);
        self.client.api_url(&segments, &[])
    }

    /// Open a thread with one comment: its thread and comment ids.
    fn create_thread(&self, content: &str, status: u8) -> Result<(u64, u64)> {
        let body = serde_json::json!({
            "comments": [{"parentCommentId": 0, "content": content, "commentType": 1}],
            "status": status,
        });
        let thread: ThreadAnswer = self.client.post(&self.url(&["threads"])?, &body)?;
        // The first comment of a thread is number 1 when the answer does not say.
        let comment = thread.comments.first().map_or(1, |c| c.id);
        Ok((thread.id, comment))
    }

    /// The first thread opened by `author_id` whose first comment starts with `marker`:
    /// its thread and comment ids.
    fn find_own_comment(&self, marker: &str, author_id: &str) -> Result<Option<(u64, u64)>> {
        let list: ThreadList = self.client.get(&self.url(&["threads"])?)?;
        Ok(list.value.iter().filter(|t| !t.is_deleted).find_map(|t| {
            let first = t.comments.iter().find(|c| !c.is_deleted)?;
            let own = first
                .author
                .as_ref()
                .is_some_and(|a| a.id.eq_ignore_ascii_case(author_id));
            (own && first.content.as_deref()?.starts_with(marker)).then_some((t.id, first.id))
        }))
    }

    /// Reply to a thread's first comment: the new comment's id.
    fn reply_in_thread(&self, thread: u64, content: &str) -> Result<u64> {
        let body = serde_json::json!({"parentCommentId": 1, "content": content, "commentType": 1});
        let thread = thread.to_string();
        let comment: CommentAnswer = self
            .client
            .post(&self.url(&["threads", &thread, "comments"])?, &body)?;
        Ok(comment.id)
    }

    fn update_comment(&self, thread: u64, comment: u64, content: &str) -> Result<()> {
        let body = serde_json::json!({ "content": content });
        let (thread, comment) = (thread.to_string(), comment.to_string());
        let _: serde_json::Value = self.client.patch(
            &self.url(&["threads", &thread, "comments", &comment])?,
            &body,
        )?;
        Ok(())
    }

    /// The browser URL of a thread, when the repository's web URL is known.
    fn thread_url(&self, thread: u64) -> Option<String> {
        let web = self.web_url.as_deref()?.trim_end_matches('/');
        Some(format!(
            "{web}/pullrequest/{}?discussionId={thread}",
            self.number
        ))
    }
}

#[derive(Debug, Deserialize)]
struct ThreadAnswer {
    id: u64,
    #[serde(default)]
    comments: Vec<CommentAnswer>,
}

#[derive(Debug, Deserialize)]
struct CommentAnswer {
    id: u64,
}

#[derive(Debug, Deserialize)]
struct ThreadList {
    #[serde(default)]
    value: Vec<ListedThread>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListedThread {
    id: u64,
    #[serde(default)]
    is_deleted: bool,
    #[serde(default)]
    comments: Vec<ListedComment>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListedComment {
    id: u64,
    #[serde(default)]
    is_deleted: bool,
    content: Option<String>,
    author: Option<ListedAuthor>,
}

#[derive(Debug, Deserialize)]
struct ListedAuthor {
    id: String,
}

#[derive(Debug, Deserialize)]
struct IterationList {
    #[serde(default)]
    value: Vec<Iteration>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Iteration {
    id: u64,
    source_ref_commit: Option<CommitRef>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommitRef {
    commit_id: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusBody<'a> {
    state: &'static str,
    description: String,
    context: StatusContext<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iteration_id: Option<u64>,
}

#[derive(Debug, Serialize)]
struct StatusContext<'a> {
    name: &'a str,
    genre: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use provider_kit::comments::{
        CommitStatusTarget, PublishAction, PullRequestStatusTarget, RunKind,
    };
    use provider_kit::fake::FakeHost;
    use provider_kit::publish::UNUSED_PART;
    use provider_kit::split::MARKER_PREFIX;
    use provider_kit::testing::fixtures;
    use provider_kit::types::CommandSettings;
    use serde_json::Value;

    const PR_URL: &str =
        "https://dev.azure.com/contoso/proj-guid/_apis/git/repositories/repo-guid/pullRequests/42";

    fn connection() -> Connection {
        fixtures::connection("https://dev.azure.com/contoso/", "pat")
    }

    fn repository() -> Repository {
        Repository {
            project: Some("Infra Team".into()),
            project_id: Some("proj-guid".into()),
            web_url: Some("https://dev.azure.com/contoso/Infra%20Team/_git/infra".into()),
            ..fixtures::repository(
                "repo-guid",
                "infra",
                "contoso",
                "https://dev.azure.com/contoso/",
            )
        }
    }

    fn target() -> PullRequestRef {
        PullRequestRef {
            repository: repository(),
            number: 42,
        }
    }

    use fixtures::{publish_options as options, run_report as report};

    /// Method, URL without the api-version and JSON body of every request sent so far,
    /// then forget them.
    fn sent(host: &FakeHost) -> Vec<(Method, String, Value)> {
        fixtures::sent(host)
            .into_iter()
            .map(|(method, url, body)| (method, url.replace("?api-version=7.1", ""), body))
            .collect()
    }

    fn ids(result: &PublishResult) -> Vec<(String, String)> {
        result
            .comments
            .iter()
            .map(|c| (c.thread_id.clone().unwrap(), c.comment_id.clone()))
            .collect()
    }

    fn publish_now(host: &FakeHost, report: &RunReport, options: &PublishOptions) -> PublishResult {
        publish(host, &connection(), &target(), report, options).unwrap()
    }

    #[test]
    fn a_plan_is_posted_once_then_updated_in_place() {
        let host = FakeHost::default();
        let plan = report(RunKind::Plan, 'a', "run-1", "+ aws_s3_bucket.logs\n");

        // First plan: one closed thread.
        host.json(200, r#"{"id":7,"status":"closed","comments":[{"id":1}]}"#);
        let first = publish_now(&host, &plan, &options());
        assert_eq!(first.action, PublishAction::Created);
        assert_eq!(ids(&first), [("7".to_string(), "1".to_string())]);
        assert_eq!(
            first.comments[0].url.as_deref(),
            Some(
                "https://dev.azure.com/contoso/Infra%20Team/_git/infra/pullrequest/42?discussionId=7"
            )
        );
        let requests = sent(&host);
        assert_eq!(requests.len(), 1);
        let (method, url, body) = &requests[0];
        assert_eq!(
            (method, url.as_str()),
            (&Method::Post, format!("{PR_URL}/threads").as_str())
        );
        assert_eq!(body["status"], 4);
        assert_eq!(body["comments"][0]["parentCommentId"], 0);
        assert_eq!(body["comments"][0]["commentType"], 1);
        let content = body["comments"][0]["content"].as_str().unwrap();
        assert!(
            content.starts_with("<!-- scalr:run workspace-set="),
            "{content}"
        );
        assert!(content.contains("+ aws_s3_bucket.logs\n"), "{content}");

        // The same run again: nothing sent.
        let again = publish_now(&host, &plan, &options());
        assert_eq!(again.action, PublishAction::Unchanged);
        assert_eq!(ids(&again), ids(&first));
        assert!(sent(&host).is_empty());

        // A new head commit: the same comment is updated.
        host.json(200, r#"{"id":1}"#);
        let newer = report(RunKind::Plan, 'b', "run-2", "+ aws_s3_bucket.audit\n");
        let second = publish_now(&host, &newer, &options());
        assert_eq!(second.action, PublishAction::Updated);
        assert_eq!(ids(&second), ids(&first));
        let requests = sent(&host);
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].0, Method::Patch);
        assert_eq!(requests[0].1, format!("{PR_URL}/threads/7/comments/1"));
        assert!(
            requests[0].2["content"]
                .as_str()
                .unwrap()
                .contains("aws_s3_bucket.audit")
        );

        // Its apply, with the apply summary on: the same comment again.
        host.json(200, r#"{"id":1}"#);
        let apply = report(RunKind::Apply, 'b', "run-2", "Apply complete!\n");
        let applied = publish_now(&host, &apply, &options());
        assert_eq!(applied.action, PublishAction::Updated);
        assert_eq!(ids(&applied), ids(&first));
        let requests = sent(&host);
        assert_eq!(requests[0].1, format!("{PR_URL}/threads/7/comments/1"));
        assert!(
            requests[0].2["content"]
                .as_str()
                .unwrap()
                .contains("Terraform apply")
        );
    }

    #[test]
    fn a_deleted_comment_is_posted_afresh() {
        let host = FakeHost::default();
        host.json(200, r#"{"id":7,"comments":[{"id":1}]}"#);
        publish_now(
            &host,
            &report(RunKind::Plan, 'a', "run-1", "x\n"),
            &options(),
        );
        sent(&host);
        host.json(
            404,
            r#"{"message":"TF401181: The thread could not be found."}"#,
        )
        .json(200, r#"{"id":12,"comments":[{"id":1}]}"#);
        let result = publish_now(
            &host,
            &report(RunKind::Plan, 'b', "run-2", "y\n"),
            &options(),
        );
        assert_eq!(result.action, PublishAction::Created);
        assert_eq!(ids(&result), [("12".to_string(), "1".to_string())]);
        let requests = sent(&host);
        assert_eq!(
            (requests[0].0, requests[1].0),
            (Method::Patch, Method::Post)
        );
        assert!(host.logs.borrow().iter().any(|l| l.contains("is gone")));
        // The new thread is the one remembered.
        assert_eq!(
            publish_now(
                &host,
                &report(RunKind::Plan, 'b', "run-2", "y\n"),
                &options()
            )
            .action,
            PublishAction::Unchanged
        );
    }

    #[test]
    fn switches_that_post_nothing() {
        let host = FakeHost::default();
        host.json(200, r#"{"id":7,"comments":[{"id":1}]}"#);
        let plan = report(RunKind::Plan, 'a', "run-1", "+ x\n");
        publish_now(&host, &plan, &options());
        sent(&host);
        let stored = host.store.borrow().clone();

        let no_summary = PublishOptions {
            apply_summary: false,
            ..options()
        };
        let disabled = PublishOptions {
            comments_enabled: false,
            ..options()
        };
        let apply = report(RunKind::Apply, 'a', "run-1", "done\n");
        for (name, report, options) in [
            ("apply without apply summary", &apply, &no_summary),
            ("comments disabled, plan", &plan, &disabled),
            ("comments disabled, apply", &apply, &disabled),
        ] {
            let result = publish_now(&host, report, options);
            assert_eq!(result.action, PublishAction::Skipped, "{name}");
            assert!(result.comments.is_empty(), "{name}");
            assert!(sent(&host).is_empty(), "{name}");
            assert_eq!(
                *host.store.borrow(),
                stored,
                "{name}: the plan's state is untouched"
            );
        }
    }

    #[test]
    fn a_new_head_gets_a_new_comment_when_asked() {
        let host = FakeHost::default();
        let per_head = PublishOptions {
            new_comment_per_head: true,
            ..options()
        };
        host.json(200, r#"{"id":7,"comments":[{"id":1}]}"#);
        publish_now(
            &host,
            &report(RunKind::Plan, 'a', "run-1", "x\n"),
            &per_head,
        );
        sent(&host);
        // The same head again (a re-plan): updated in place.
        host.json(200, r#"{"id":1}"#);
        let replan = publish_now(
            &host,
            &report(RunKind::Plan, 'a', "run-2", "y\n"),
            &per_head,
        );
        assert_eq!(replan.action, PublishAction::Updated);
        assert_eq!(ids(&replan), [("7".to_string(), "1".to_string())]);
        assert_eq!(sent(&host)[0].0, Method::Patch);
        // A new head: a new thread.
        host.json(200, r#"{"id":9,"comments":[{"id":1}]}"#);
        let newer = publish_now(
            &host,
            &report(RunKind::Plan, 'b', "run-3", "z\n"),
            &per_head,
        );
        assert_eq!(newer.action, PublishAction::Created);
        assert_eq!(ids(&newer), [("9".to_string(), "1".to_string())]);
        let requests = sent(&host);
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].1, format!("{PR_URL}/threads"));
    }

    fn three_part_plan() -> (PublishOptions, RunReport) {
        fixtures::three_part_plan(super::super::render)
    }

    #[test]
    fn parts_no_longer_needed_are_emptied_not_deleted() {
        let host = FakeHost::default();
        let (small, plan) = three_part_plan();
        let parts = super::super::render(&plan, &small.render).unwrap();

        host.json(200, r#"{"id":7,"comments":[{"id":1}]}"#)
            .json(200, r#"{"id":2}"#)
            .json(200, r#"{"id":3}"#);
        let first = publish_now(&host, &plan, &small);
        assert_eq!(first.action, PublishAction::Created);
        assert_eq!(
            ids(&first),
            [("7", "1"), ("7", "2"), ("7", "3")].map(|(t, c)| (t.to_string(), c.to_string()))
        );
        let requests = sent(&host);
        assert_eq!(requests[1].1, format!("{PR_URL}/threads/7/comments"));
        assert_eq!(requests[1].2["parentCommentId"], 1);
        assert_eq!(requests[1].2["content"], parts[1]);
        assert_eq!(requests[2].2["content"], parts[2]);

        host.json(200, r#"{"id":1}"#)
            .json(200, r#"{"id":2}"#)
            .json(200, r#"{"id":3}"#);
        let short = report(RunKind::Plan, 'b', "run-2", "+ one\n");
        let shrunk = publish_now(&host, &short, &small);
        assert_eq!(shrunk.action, PublishAction::Updated);
        assert_eq!(ids(&shrunk), [("7".to_string(), "1".to_string())]);
        let requests = sent(&host);
        let urls: Vec<&str> = requests.iter().map(|r| r.1.as_str()).collect();
        assert_eq!(
            urls,
            [1, 2, 3].map(|c| format!("{PR_URL}/threads/7/comments/{c}"))
        );
        assert!(requests.iter().all(|r| r.0 == Method::Patch));
        for request in &requests[1..] {
            let content = request.2["content"].as_str().unwrap();
            assert!(content.contains(UNUSED_PART), "{content}");
            assert!(content.starts_with(MARKER_PREFIX), "{content}");
        }
        // Publishing the short report again sends nothing, unused parts included.
        assert_eq!(
            publish_now(&host, &short, &small).action,
            PublishAction::Unchanged
        );
        assert!(sent(&host).is_empty());
    }

    #[test]
    fn a_comment_posted_before_a_crash_is_adopted_not_posted_twice() {
        let bot = "9C8B7A65-4321-4FED-BA98-76543210FEDC";
        let mut options = options();
        options.render.commands = Some(CommandSettings {
            prefix: "/scalr".into(),
            allow_plan: true,
            allow_apply: false,
            bot_user_id: Some(bot.to_lowercase()),
            run_edited_comments: false,
            allowed_users: vec![],
            require_approval_for_apply: false,
            require_mergeable_for_apply: false,
        });
        let plan = report(RunKind::Plan, 'a', "run-1", "Plan: 1 to add");
        let marker = format!(
            "<!-- scalr:run workspace-set={} part=1/1 -->",
            provider_kit::views::workspace_set_hash(&plan)
        );
        // No stored state, but the pull request already holds our comment (the earlier
        // publish died before saving its id), next to a person quoting the marker.
        let threads = serde_json::json!({"value": [
            {"id": 3, "comments": [{"id": 1, "author": {"id": "someone-else"}, "content": marker}]},
            {"id": 9, "isDeleted": true, "comments": [{"id": 1, "author": {"id": bot}, "content": marker}]},
            {"id": 11, "comments": [{"id": 1, "author": {"id": bot}, "content": format!("{marker}\nold")}]}
        ]});
        let host = FakeHost::default();
        host.json(200, &threads.to_string()).json(200, "{}");
        let result = publish_now(&host, &plan, &options);
        assert_eq!(result.action, PublishAction::Updated);
        let requests = sent(&host);
        assert_eq!(requests.len(), 2, "{requests:?}");
        assert_eq!(requests[0].0, Method::Get);
        assert_eq!(requests[0].1, format!("{PR_URL}/threads"));
        assert_eq!(requests[1].0, Method::Patch);
        assert_eq!(requests[1].1, format!("{PR_URL}/threads/11/comments/1"));

        // Without an orphan, the first publish lists the threads once, then posts.
        let host = FakeHost::default();
        host.json(200, r#"{"value": []}"#)
            .json(200, r#"{"id":5,"comments":[{"id":1}]}"#);
        let result = publish_now(&host, &plan, &options);
        assert_eq!(result.action, PublishAction::Created);
        let requests = sent(&host);
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[1].1, format!("{PR_URL}/threads"));
        assert_eq!(requests[1].0, Method::Post);
    }

    #[test]
    fn a_retry_after_a_failure_midway_never_posts_twice() {
        let host = FakeHost::default();
        let (small, plan) = three_part_plan();
        host.json(200, r#"{"id":7,"comments":[{"id":1}]}"#)
            .fail(provider_kit::host::HttpError::Timeout("no answer".into()));
        let err = publish(&host, &connection(), &target(), &plan, &small).unwrap_err();
        assert!(matches!(err, ProviderError::Transport(_)), "{err:?}");
        assert_eq!(sent(&host).len(), 2);

        host.json(200, r#"{"id":2}"#).json(200, r#"{"id":3}"#);
        let retried = publish_now(&host, &plan, &small);
        assert_eq!(retried.action, PublishAction::Created);
        assert_eq!(retried.comments.len(), 3);
        let requests = sent(&host);
        assert_eq!(requests.len(), 2, "only the missing parts are posted");
        assert!(
            requests
                .iter()
                .all(|r| r.1 == format!("{PR_URL}/threads/7/comments"))
        );
    }

    #[test]
    fn a_concurrent_publish_is_a_conflict() {
        struct Racing(FakeHost);
        impl Host for Racing {
            fn send(
                &self,
                r: &provider_kit::host::Request,
            ) -> std::result::Result<provider_kit::host::Response, provider_kit::host::HttpError>
            {
                // Another process saves its state while this one is posting.
                for value in self.0.store.borrow_mut().values_mut() {
                    value.push(b' ');
                }
                self.0.send(r)
            }
            fn get(
                &self,
                k: &str,
            ) -> std::result::Result<Option<Vec<u8>>, provider_kit::host::StorageError>
            {
                self.0.get(k)
            }
            fn set(
                &self,
                k: &str,
                v: &[u8],
                t: Option<u32>,
            ) -> std::result::Result<(), provider_kit::host::StorageError> {
                self.0.set(k, v, t)
            }
            fn delete(
                &self,
                k: &str,
            ) -> std::result::Result<bool, provider_kit::host::StorageError> {
                self.0.delete(k)
            }
            fn compare_and_swap(
                &self,
                k: &str,
                e: Option<&[u8]>,
                n: Option<&[u8]>,
                t: Option<u32>,
            ) -> std::result::Result<bool, provider_kit::host::StorageError> {
                self.0.compare_and_swap(k, e, n, t)
            }
            fn log(&self, l: Level, m: &str, f: &[(String, String)]) {
                self.0.log(l, m, f)
            }
        }
        let host = Racing(FakeHost::default());
        host.0.json(200, r#"{"id":7,"comments":[{"id":1}]}"#);
        let plan = report(RunKind::Plan, 'a', "run-1", "x\n");
        // Seed a state (without racing) so the racing writer has something to change.
        let seeded = publish(&host.0, &connection(), &target(), &plan, &options()).unwrap();
        assert_eq!(seeded.action, PublishAction::Created);
        host.0.json(200, r#"{"id":1}"#);
        let newer = report(RunKind::Plan, 'b', "run-2", "y\n");
        let err = publish(&host, &connection(), &target(), &newer, &options()).unwrap_err();
        assert!(
            matches!(&err, ProviderError::Conflict(m) if m.contains("retry")),
            "{err:?}"
        );
    }

    #[test]
    fn thread_status_option() {
        let cases = [
            (None, Ok(4)),
            (Some("active"), Ok(1)),
            (Some("Closed"), Ok(4)),
            (Some("wontFix"), Ok(3)),
            (Some("6"), Ok(6)),
            (Some("resolved"), Err(())),
        ];
        for (value, expected) in cases {
            let options: Vec<(String, String)> = value
                .map(|v| vec![("thread-status".to_string(), v.to_string())])
                .unwrap_or_default();
            let got = thread_status(&options).map_err(|e| {
                assert!(matches!(&e, ProviderError::InvalidConfig(m) if m.contains("active")));
            });
            assert_eq!(got, expected, "{value:?}");
        }
        // The chosen status is what the thread is created with.
        let host = FakeHost::default();
        host.json(200, r#"{"id":7,"comments":[{"id":1}]}"#);
        let active = PublishOptions {
            options: vec![("thread-status".into(), "active".into())],
            ..options()
        };
        publish_now(&host, &report(RunKind::Plan, 'a', "r", "x\n"), &active);
        assert_eq!(sent(&host)[0].2["status"], 1);
    }

    fn status(state: StatusState) -> CommitStatus {
        CommitStatus {
            state,
            context_name: "plan/prod".into(),
            context_genre: None,
            description: "Plan: 1 to add".into(),
            target_url: Some("https://scalr.example/runs/run-1".into()),
        }
    }

    #[test]
    fn pull_request_statuses_attach_to_the_iteration_of_the_head() {
        let head = "b".repeat(40);
        let iterations = format!(
            r#"{{"count":4,"value":[
                {{"id":1,"sourceRefCommit":{{"commitId":"{a}"}}}},
                {{"id":2,"sourceRefCommit":{{"commitId":"{b}"}}}},
                {{"id":3,"sourceRefCommit":{{"commitId":"{a}"}}}},
                {{"id":4}}]}}"#,
            a = "a".repeat(40),
            b = head.to_uppercase(),
        );
        let cases = [
            ("a".repeat(40), Some(3)),
            (head.clone(), Some(2)),
            ("c".repeat(40), None),
        ];
        for (sha, iteration) in cases {
            let host = FakeHost::default();
            host.json(200, &iterations).json(201, r#"{"id":1}"#);
            let pr_target = StatusTarget::PullRequest(PullRequestStatusTarget {
                pull_request: target(),
                head_sha: sha.clone(),
            });
            set_status(
                &host,
                &connection(),
                &pr_target,
                &status(StatusState::Succeeded),
            )
            .unwrap();
            let requests = sent(&host);
            assert_eq!(requests[0].1, format!("{PR_URL}/iterations"));
            assert_eq!(requests[1].0, Method::Post);
            assert_eq!(requests[1].1, format!("{PR_URL}/statuses"));
            let body = &requests[1].2;
            assert_eq!(body["state"], "succeeded");
            assert_eq!(
                body["context"],
                serde_json::json!({"name": "plan/prod", "genre": "scalr"})
            );
            assert_eq!(body["targetUrl"], "https://scalr.example/runs/run-1");
            assert_eq!(body["description"], "Plan: 1 to add");
            match iteration {
                Some(id) => assert_eq!(body["iterationId"], id, "{sha}"),
                None => {
                    assert!(body.get("iterationId").is_none(), "{body}");
                    assert!(
                        host.logs
                            .borrow()
                            .iter()
                            .any(|l| l.contains("no iteration"))
                    );
                }
            }
        }
    }

    #[test]
    fn commit_statuses_and_their_fields() {
        let states = [
            (StatusState::Pending, "pending"),
            (StatusState::Succeeded, "succeeded"),
            (StatusState::Failed, "failed"),
            (StatusState::Error, "error"),
            (StatusState::NotApplicable, "notApplicable"),
        ];
        let sha = "0123456789abcdef0123456789abcdef01234567";
        for (state, wire) in states {
            let host = FakeHost::default();
            host.json(201, r#"{"id":5}"#);
            let mut wanted = status(state);
            wanted.context_genre = Some("acme".into());
            wanted.description = "é".repeat(1000);
            wanted.target_url = None;
            let commit = StatusTarget::Commit(CommitStatusTarget {
                repository: repository(),
                sha: sha.into(),
            });
            set_status(&host, &connection(), &commit, &wanted).unwrap();
            let requests = sent(&host);
            assert_eq!(
                requests[0].1,
                format!(
                    "https://dev.azure.com/contoso/proj-guid/_apis/git/repositories/repo-guid/commits/{sha}/statuses"
                )
            );
            let body = &requests[0].2;
            assert_eq!(body["state"], wire);
            assert_eq!(body["context"]["genre"], "acme");
            assert_eq!(
                body["description"].as_str().unwrap().chars().count(),
                MAX_DESCRIPTION_CHARS
            );
            assert!(body.get("targetUrl").is_none());
        }
        // Bad input is refused before anything is sent.
        let host = FakeHost::default();
        let commit = |sha: &str| {
            StatusTarget::Commit(CommitStatusTarget {
                repository: repository(),
                sha: sha.into(),
            })
        };
        let mut unnamed = status(StatusState::Pending);
        unnamed.context_name = " ".into();
        let mut scripted = status(StatusState::Pending);
        scripted.target_url = Some("javascript:alert(1)".into());
        assert!(matches!(
            set_status(&host, &connection(), &commit(sha), &unnamed),
            Err(ProviderError::InvalidConfig(_))
        ));
        assert!(matches!(
            set_status(&host, &connection(), &commit(sha), &scripted),
            Err(ProviderError::InvalidConfig(_))
        ));
        assert!(matches!(
            set_status(
                &host,
                &connection(),
                &commit("main"),
                &status(StatusState::Pending)
            ),
            Err(ProviderError::InvalidPayload(_))
        ));
        assert!(sent(&host).is_empty());
    }

    #[test]
    fn replies_open_a_thread_or_answer_in_one() {
        let host = FakeHost::default();
        host.json(200, r#"{"id":11,"comments":[{"id":1}]}"#)
            .json(200, r#"{"id":4,"parentCommentId":1}"#);
        let new = reply(
            &host,
            &connection(),
            &target(),
            None,
            "Commands: `/scalr plan`",
        )
        .unwrap();
        assert_eq!(
            (new.thread_id.as_deref(), new.comment_id.as_str()),
            (Some("11"), "1")
        );
        let answer = reply(&host, &connection(), &target(), Some("5"), "Denied.").unwrap();
        assert_eq!(
            (answer.thread_id.as_deref(), answer.comment_id.as_str()),
            (Some("5"), "4")
        );
        let requests = sent(&host);
        assert_eq!(requests[0].1, format!("{PR_URL}/threads"));
        assert_eq!(
            requests[0].2["comments"][0]["content"],
            "Commands: `/scalr plan`"
        );
        assert_eq!(requests[1].1, format!("{PR_URL}/threads/5/comments"));
        assert_eq!(
            requests[1].2,
            serde_json::json!({"parentCommentId": 1, "content": "Denied.", "commentType": 1})
        );

        for (thread, text) in [
            (Some("five"), "x"),
            (None, " "),
            (None, &*"x".repeat(150_001)),
        ] {
            assert!(matches!(
                reply(&host, &connection(), &target(), thread, text),
                Err(ProviderError::InvalidPayload(_))
            ));
        }
        assert!(sent(&host).is_empty());
    }
}
