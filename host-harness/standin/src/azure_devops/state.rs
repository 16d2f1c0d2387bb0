//! What the stand-in knows and what was posted to it, kept in memory.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, bail};
use sha2::{Digest, Sha256};

use super::fault::{Fault, FaultKind};

/// An Azure DevOps identity, as IdentityRef records show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandInIdentity {
    /// The identity id (a GUID).
    pub id: String,
    /// The display name (`displayName`, `providerDisplayName`).
    pub display_name: String,
    /// The unique name (`uniqueName`; the account, usually an e-mail address).
    pub unique_name: String,
}

impl StandInIdentity {
    /// An identity from its id, display name and unique name.
    pub fn new(id: &str, display_name: &str, unique_name: &str) -> Self {
        Self {
            id: id.to_string(),
            display_name: display_name.to_string(),
            unique_name: unique_name.to_string(),
        }
    }

    /// The bot the recorded cassettes post as: `Scalr Bot`, `scalr-bot@contoso.com`.
    pub fn bot() -> Self {
        Self::new(
            "b2a3c4d5-e6f7-4a8b-9c0d-1e2f3a4b5c6d",
            "Scalr Bot",
            "scalr-bot@contoso.com",
        )
    }

    /// A person who opens pull requests: `Alice Example`.
    pub fn alice() -> Self {
        Self::new(
            "5d1e3c0a-6f6e-4b8e-8a39-7c7a0c2b9e41",
            "Alice Example",
            "alice@contoso.com",
        )
    }
}

impl Default for StandInIdentity {
    fn default() -> Self {
        Self::bot()
    }
}

/// How a file changed in a pull request or commit range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileChangeKind {
    /// Added (`changeType: "add"`).
    Add,
    /// Edited (`"edit"`).
    Edit,
    /// Deleted (`"delete"`).
    Delete,
    /// Renamed from `from` (`"rename"`, with the old path in `originalPath` or
    /// `sourceServerItem`).
    Rename {
        /// The path before the rename.
        from: String,
    },
}

impl FileChangeKind {
    /// The `changeType` Azure DevOps writes.
    pub fn wire(&self) -> &'static str {
        match self {
            FileChangeKind::Add => "add",
            FileChangeKind::Edit => "edit",
            FileChangeKind::Delete => "delete",
            FileChangeKind::Rename { .. } => "rename",
        }
    }
}

/// One changed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// The path in the repository, without a leading `/` (the answers add it).
    pub path: String,
    /// How it changed.
    pub kind: FileChangeKind,
}

impl FileChange {
    /// An added file.
    pub fn add(path: &str) -> Self {
        Self::of(path, FileChangeKind::Add)
    }

    /// An edited file.
    pub fn edit(path: &str) -> Self {
        Self::of(path, FileChangeKind::Edit)
    }

    /// A deleted file.
    pub fn delete(path: &str) -> Self {
        Self::of(path, FileChangeKind::Delete)
    }

    /// A file renamed from `from` to `to`.
    pub fn rename(from: &str, to: &str) -> Self {
        Self::of(
            to,
            FileChangeKind::Rename {
                from: from.trim_start_matches('/').to_string(),
            },
        )
    }

    fn of(path: &str, kind: FileChangeKind) -> Self {
        Self {
            path: path.trim_start_matches('/').to_string(),
            kind,
        }
    }
}

/// A repository to create (with its project, if that is new).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositorySeed {
    /// The project name.
    pub project: String,
    /// The project id (a GUID); derived from the name when `None`.
    pub project_id: Option<String>,
    /// The repository id (a GUID).
    pub repository_id: String,
    /// The repository name.
    pub repository_name: String,
    /// The default branch, without `refs/heads/`.
    pub default_branch: String,
}

impl Default for RepositorySeed {
    /// The repository of the recorded cassettes: `infra` in project `Infra Team`.
    fn default() -> Self {
        Self {
            project: "Infra Team".into(),
            project_id: Some("7c5a1b7e-1f0c-4b7a-9a51-2a0f7b3c9d11".into()),
            repository_id: "0f6e2c4a-8d3b-4e21-b6a9-5c7d1e2f3a4b".into(),
            repository_name: "infra".into(),
            default_branch: "main".into(),
        }
    }
}

/// A pull request to create, with its repository and project when they are new.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestSeed {
    /// The project name.
    pub project: String,
    /// The project id (a GUID); derived from the name when `None`.
    pub project_id: Option<String>,
    /// The repository id (a GUID).
    pub repository_id: String,
    /// The repository name.
    pub repository_name: String,
    /// The pull request number (`pullRequestId`).
    pub number: u64,
    /// The title.
    pub title: String,
    /// The source branch, without `refs/heads/`.
    pub source_branch: String,
    /// The target branch, without `refs/heads/`.
    pub target_branch: String,
    /// The head commit (`lastMergeSourceCommit`), 40 hex digits.
    pub head_sha: String,
    /// The target branch's commit (`lastMergeTargetCommit`), 40 hex digits.
    pub base_sha: String,
    /// Who opened it (`createdBy`).
    pub author: StandInIdentity,
    /// The files the pull request changes (its first iteration's changes).
    pub files: Vec<FileChange>,
}

impl Default for PullRequestSeed {
    /// Pull request 42 of the recorded cassettes' repository, one edited file.
    fn default() -> Self {
        let repository = RepositorySeed::default();
        Self {
            project: repository.project,
            project_id: repository.project_id,
            repository_id: repository.repository_id,
            repository_name: repository.repository_name,
            number: 42,
            title: "Update infra".into(),
            source_branch: "feature/infra".into(),
            target_branch: "main".into(),
            head_sha: "3f1c2a9e8b7d6c5f4e3a2b1c0d9e8f7a6b5c4d3e".into(),
            base_sha: "1111111111111111111111111111111111111111".into(),
            author: StandInIdentity::alice(),
            files: vec![FileChange::edit("main.tf")],
        }
    }
}

/// A project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectRecord {
    /// The id (a GUID, lower case).
    pub id: String,
    /// The name.
    pub name: String,
}

/// A repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryRecord {
    /// The id (a GUID, lower case).
    pub id: String,
    /// The name.
    pub name: String,
    /// The id of its project.
    pub project_id: String,
    /// The default branch, without `refs/heads/`.
    pub default_branch: String,
}

/// One iteration of a pull request: a push to its source branch (the first is its
/// creation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IterationRecord {
    /// The iteration id, from 1.
    pub id: u64,
    /// The head commit of the iteration (`sourceRefCommit`).
    pub source_commit: String,
    /// The target branch's commit (`targetRefCommit`, `commonRefCommit`).
    pub target_commit: String,
    /// The files changed against the target at this iteration.
    pub files: Vec<FileChange>,
    /// `create` for the first iteration, `push` for later ones.
    pub reason: String,
    /// When it was made.
    pub created: SystemTime,
}

/// A reviewer of a pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewerRecord {
    /// Who.
    pub identity: StandInIdentity,
    /// The vote: 10 approved, 5 approved with suggestions, 0 none, -5 waiting, -10 rejected.
    pub vote: i64,
    /// Whether the reviewer is required.
    pub is_required: bool,
}

/// A comment in a thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentRecord {
    /// The id, from 1 within its thread.
    pub id: u64,
    /// The comment it answers; 0 for the first comment of a thread.
    pub parent_comment_id: u64,
    /// Who wrote it.
    pub author: StandInIdentity,
    /// The Markdown content.
    pub content: String,
    /// `text`, `codeChange`, `system` or `unknown`.
    pub comment_type: String,
    /// When it was posted.
    pub published: SystemTime,
    /// When it last changed.
    pub last_updated: SystemTime,
    /// When its content last changed.
    pub last_content_updated: SystemTime,
    /// How many times its content was updated (PATCH) after it was posted.
    pub edits: u32,
}

/// A pull-request comment thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadRecord {
    /// The id (unique in the stand-in, as in an organization).
    pub id: u64,
    /// `active`, `fixed`, `wontFix`, `closed`, `byDesign`, `pending` or `unknown`.
    pub status: String,
    /// Its comments, in the order they were posted.
    pub comments: Vec<CommentRecord>,
    /// When it was opened.
    pub published: SystemTime,
    /// When it or one of its comments last changed.
    pub last_updated: SystemTime,
}

impl ThreadRecord {
    /// The comment with this id.
    pub fn comment(&self, id: u64) -> Option<&CommentRecord> {
        self.comments.iter().find(|c| c.id == id)
    }
}

/// A status posted on a pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestStatusRecord {
    /// The id, from 1 within the pull request.
    pub id: u64,
    /// `notSet`, `pending`, `succeeded`, `failed`, `error` or `notApplicable`.
    pub state: String,
    /// The description, if one was sent.
    pub description: Option<String>,
    /// `context.name`.
    pub context_name: String,
    /// `context.genre`, if one was sent.
    pub context_genre: Option<String>,
    /// `targetUrl`, if one was sent.
    pub target_url: Option<String>,
    /// The iteration it is attached to, if one was named.
    pub iteration_id: Option<u64>,
    /// Who posted it.
    pub created_by: StandInIdentity,
    /// When.
    pub created: SystemTime,
}

/// A status posted on a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitStatusRecord {
    /// The id (unique in the stand-in).
    pub id: u64,
    /// `notSet`, `pending`, `succeeded`, `failed`, `error` or `notApplicable`.
    pub state: String,
    /// The description, if one was sent.
    pub description: Option<String>,
    /// `context.name`.
    pub context_name: String,
    /// `context.genre`, if one was sent.
    pub context_genre: Option<String>,
    /// `targetUrl`, if one was sent.
    pub target_url: Option<String>,
    /// Who posted it.
    pub created_by: StandInIdentity,
    /// When.
    pub created: SystemTime,
}

/// A pull request and everything posted on it.
#[derive(Debug, Clone, PartialEq)]
pub struct PullRequestRecord {
    /// The repository id (lower case).
    pub repository_id: String,
    /// The number (`pullRequestId`).
    pub number: u64,
    /// The title.
    pub title: String,
    /// The description.
    pub description: String,
    /// The source branch, without `refs/heads/`.
    pub source_branch: String,
    /// The target branch, without `refs/heads/`.
    pub target_branch: String,
    /// The current head commit.
    pub head_sha: String,
    /// The current target commit.
    pub base_sha: String,
    /// Who opened it.
    pub author: StandInIdentity,
    /// `active`, `completed` or `abandoned`.
    pub status: String,
    /// Whether it is a draft.
    pub is_draft: bool,
    /// `notSet`, `queued`, `conflicts`, `succeeded`, `rejectedByPolicy` or `failure`.
    pub merge_status: String,
    /// Its reviewers and their votes.
    pub reviewers: Vec<ReviewerRecord>,
    /// The policy evaluation records `_apis/policy/evaluations` answers for it, as JSON
    /// (`{"status": "approved", "configuration": {...}}`); empty unless a test sets them.
    pub policy_evaluations: Vec<serde_json::Value>,
    /// Its iterations, oldest first.
    pub iterations: Vec<IterationRecord>,
    /// Its comment threads, oldest first.
    pub threads: Vec<ThreadRecord>,
    /// Its statuses, oldest first.
    pub statuses: Vec<PullRequestStatusRecord>,
    /// When it was opened.
    pub created: SystemTime,
}

impl PullRequestRecord {
    /// The thread with this id.
    pub fn thread(&self, id: u64) -> Option<&ThreadRecord> {
        self.threads.iter().find(|t| t.id == id)
    }

    /// The latest status of each context (`genre/name`), the way branch policies read them.
    pub fn latest_statuses(&self) -> Vec<&PullRequestStatusRecord> {
        let mut latest: BTreeMap<(Option<&str>, &str), &PullRequestStatusRecord> = BTreeMap::new();
        for status in &self.statuses {
            latest.insert(
                (
                    status.context_genre.as_deref(),
                    status.context_name.as_str(),
                ),
                status,
            );
        }
        latest.into_values().collect()
    }
}

/// One request the stand-in answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// The method.
    pub method: String,
    /// The path and query, as sent.
    pub target: String,
    /// The status answered.
    pub status: u16,
    /// When the request arrived.
    pub at: SystemTime,
    /// How long answering took.
    pub elapsed: Duration,
    /// The fault that hit it, if one did ([`FaultKind::label`]).
    pub fault: Option<&'static str>,
}

/// Totals of the stand-in's state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Requests answered, faulted ones included (also those no longer in the log).
    pub requests: u64,
    /// Requests a fault hit.
    pub faulted: u64,
    /// Pull-request threads.
    pub threads: usize,
    /// Comments in those threads.
    pub comments: usize,
    /// Comment edits (PATCH of a comment's content).
    pub comment_edits: u64,
    /// Pull-request statuses posted.
    pub pull_request_statuses: usize,
    /// Commit statuses posted.
    pub commit_statuses: usize,
}

/// A fault and how many more requests it will hit.
#[derive(Debug, Clone)]
struct ArmedFault {
    fault: Fault,
    left: u32,
}

/// Everything the stand-in knows and was sent: seeds, posted threads and statuses, the
/// request log and the armed faults. Shared with the server behind a mutex (see
/// [`super::StandIn::state`]).
#[derive(Debug)]
pub struct StandInState {
    pub(super) identity: StandInIdentity,
    pub(super) origin: String,
    pub(super) organization: String,
    projects: Vec<ProjectRecord>,
    repositories: Vec<RepositoryRecord>,
    pull_requests: BTreeMap<(String, u64), PullRequestRecord>,
    commit_statuses: BTreeMap<(String, String), Vec<CommitStatusRecord>>,
    next_thread_id: u64,
    next_commit_status_id: u64,
    comment_edits: u64,
    faults: Vec<ArmedFault>,
    requests: VecDeque<RequestRecord>,
    max_logged_requests: usize,
    total_requests: u64,
    faulted_requests: u64,
}

impl StandInState {
    pub(super) fn new(
        identity: StandInIdentity,
        origin: String,
        organization: String,
        max_logged_requests: usize,
    ) -> Self {
        Self {
            identity,
            origin,
            organization,
            projects: Vec::new(),
            repositories: Vec::new(),
            pull_requests: BTreeMap::new(),
            commit_statuses: BTreeMap::new(),
            next_thread_id: 1,
            next_commit_status_id: 1,
            comment_edits: 0,
            faults: Vec::new(),
            requests: VecDeque::new(),
            max_logged_requests,
            total_requests: 0,
            faulted_requests: 0,
        }
    }

    /// The identity requests are authenticated as: the author of everything posted.
    pub fn identity(&self) -> &StandInIdentity {
        &self.identity
    }

    /// The organization URL, e.g. `http://127.0.0.1:PORT/contoso/`.
    pub fn base_url(&self) -> String {
        format!("{}/{}/", self.origin, self.organization)
    }

    // ----------------------------------------------------------------------------------
    // Seeding
    // ----------------------------------------------------------------------------------

    /// Create a repository (and its project when new). Seeding an existing repository id
    /// again renames it and moves it to the given project.
    pub fn seed_repository(&mut self, seed: RepositorySeed) -> anyhow::Result<()> {
        let project_id = self.ensure_project(&seed.project, seed.project_id.as_deref())?;
        let id = seed.repository_id.trim().to_ascii_lowercase();
        if id.is_empty() || seed.repository_name.trim().is_empty() {
            bail!("a repository needs an id and a name");
        }
        let record = RepositoryRecord {
            id: id.clone(),
            name: seed.repository_name.trim().to_string(),
            project_id,
            default_branch: seed.default_branch.trim().to_string(),
        };
        match self.repositories.iter_mut().find(|r| r.id == id) {
            Some(existing) => *existing = record,
            None => self.repositories.push(record),
        }
        Ok(())
    }

    /// Create a pull request with one iteration (its head and changed files), and its
    /// repository and project when they are new. Seeding the same repository and number
    /// again replaces the pull request, dropping what was posted on it.
    pub fn seed_pull_request(&mut self, seed: PullRequestSeed) -> anyhow::Result<()> {
        let head = commit_id(&seed.head_sha).context("the head commit")?;
        let base = commit_id(&seed.base_sha).context("the base commit")?;
        let known_default = self
            .repositories
            .iter()
            .find(|r| r.id.eq_ignore_ascii_case(seed.repository_id.trim()))
            .map(|r| r.default_branch.clone());
        self.seed_repository(RepositorySeed {
            project: seed.project.clone(),
            project_id: seed.project_id.clone(),
            repository_id: seed.repository_id.clone(),
            repository_name: seed.repository_name.clone(),
            default_branch: known_default.unwrap_or_else(|| seed.target_branch.clone()),
        })?;
        let repository_id = seed.repository_id.trim().to_ascii_lowercase();
        let now = SystemTime::now();
        let record = PullRequestRecord {
            repository_id: repository_id.clone(),
            number: seed.number,
            title: seed.title,
            description: String::new(),
            source_branch: branch(&seed.source_branch),
            target_branch: branch(&seed.target_branch),
            head_sha: head.clone(),
            base_sha: base.clone(),
            author: seed.author,
            status: "active".into(),
            is_draft: false,
            merge_status: "succeeded".into(),
            reviewers: Vec::new(),
            policy_evaluations: Vec::new(),
            iterations: vec![IterationRecord {
                id: 1,
                source_commit: head,
                target_commit: base,
                files: seed.files,
                reason: "create".into(),
                created: now,
            }],
            threads: Vec::new(),
            statuses: Vec::new(),
            created: now,
        };
        self.pull_requests
            .insert((repository_id, seed.number), record);
        Ok(())
    }

    /// Simulate a push to a pull request's source branch: a new iteration with head
    /// `head_sha` whose changes against the target are `files` (all of them, not only
    /// what the push changed). Answers the new iteration's id.
    pub fn set_head(
        &mut self,
        repository_id: &str,
        number: u64,
        head_sha: &str,
        files: Vec<FileChange>,
    ) -> anyhow::Result<u64> {
        let head = commit_id(head_sha).context("the head commit")?;
        let pr = self
            .pull_request_mut(repository_id, number)
            .with_context(|| format!("no pull request {number} in repository {repository_id}"))?;
        let id = pr.iterations.last().map_or(1, |i| i.id + 1);
        pr.iterations.push(IterationRecord {
            id,
            source_commit: head.clone(),
            target_commit: pr.base_sha.clone(),
            files,
            reason: "push".into(),
            created: SystemTime::now(),
        });
        pr.head_sha = head;
        Ok(id)
    }

    /// Open a thread as someone else (a person commenting, for example), as if posted
    /// through the API: answers the thread id and the comment id (1).
    pub fn add_thread(
        &mut self,
        repository_id: &str,
        number: u64,
        author: StandInIdentity,
        content: &str,
    ) -> anyhow::Result<(u64, u64)> {
        let id = self.next_thread_id;
        let pr = self
            .pull_request_mut(repository_id, number)
            .with_context(|| format!("no pull request {number} in repository {repository_id}"))?;
        pr.threads.push(new_thread(
            id,
            "active",
            vec![(0, content.to_string(), "text")],
            &author,
        ));
        self.next_thread_id += 1;
        Ok((id, 1))
    }

    /// Add a comment to a thread as someone else, answering the first comment: answers
    /// the new comment's id.
    pub fn add_comment(
        &mut self,
        repository_id: &str,
        number: u64,
        thread_id: u64,
        author: StandInIdentity,
        content: &str,
    ) -> anyhow::Result<u64> {
        let pr = self
            .pull_request_mut(repository_id, number)
            .with_context(|| format!("no pull request {number} in repository {repository_id}"))?;
        let thread = pr
            .threads
            .iter_mut()
            .find(|t| t.id == thread_id)
            .with_context(|| format!("no thread {thread_id} in pull request {number}"))?;
        Ok(push_comment(
            thread,
            1,
            content.to_string(),
            "text",
            &author,
        ))
    }

    /// Remove a thread, as if someone deleted it: later updates of its comments get 404.
    /// Answers whether it existed.
    pub fn delete_thread(&mut self, repository_id: &str, number: u64, thread_id: u64) -> bool {
        let Some(pr) = self.pull_request_mut(repository_id, number) else {
            return false;
        };
        let before = pr.threads.len();
        pr.threads.retain(|t| t.id != thread_id);
        pr.threads.len() != before
    }

    // ----------------------------------------------------------------------------------
    // Reading
    // ----------------------------------------------------------------------------------

    /// The projects.
    pub fn projects(&self) -> &[ProjectRecord] {
        &self.projects
    }

    /// The repositories.
    pub fn repositories(&self) -> &[RepositoryRecord] {
        &self.repositories
    }

    /// A pull request by repository id (case-insensitive) and number.
    pub fn pull_request(&self, repository_id: &str, number: u64) -> Option<&PullRequestRecord> {
        self.pull_requests
            .get(&(repository_id.trim().to_ascii_lowercase(), number))
    }

    /// A pull request to change (reviewers, merge status, policy evaluations, ...).
    pub fn pull_request_mut(
        &mut self,
        repository_id: &str,
        number: u64,
    ) -> Option<&mut PullRequestRecord> {
        self.pull_requests
            .get_mut(&(repository_id.trim().to_ascii_lowercase(), number))
    }

    /// Every pull request.
    pub fn pull_requests(&self) -> impl Iterator<Item = &PullRequestRecord> {
        self.pull_requests.values()
    }

    /// The threads of a pull request (empty when it does not exist).
    pub fn threads(&self, repository_id: &str, number: u64) -> &[ThreadRecord] {
        self.pull_request(repository_id, number)
            .map_or(&[], |pr| pr.threads.as_slice())
    }

    /// The statuses posted on a pull request, oldest first.
    pub fn pull_request_statuses(
        &self,
        repository_id: &str,
        number: u64,
    ) -> &[PullRequestStatusRecord] {
        self.pull_request(repository_id, number)
            .map_or(&[], |pr| pr.statuses.as_slice())
    }

    /// The statuses posted on a commit, oldest first.
    pub fn commit_statuses(&self, repository_id: &str, sha: &str) -> &[CommitStatusRecord] {
        self.commit_statuses
            .get(&(
                repository_id.trim().to_ascii_lowercase(),
                sha.trim().to_ascii_lowercase(),
            ))
            .map_or(&[], Vec::as_slice)
    }

    /// The request log, oldest first (the latest `max_logged_requests` requests).
    pub fn requests(&self) -> impl Iterator<Item = &RequestRecord> {
        self.requests.iter()
    }

    /// Forget the request log (the totals in [`Counts`] stay).
    pub fn clear_requests(&mut self) {
        self.requests.clear();
    }

    /// Totals.
    pub fn counts(&self) -> Counts {
        let prs = self.pull_requests.values();
        let mut counts = Counts {
            requests: self.total_requests,
            faulted: self.faulted_requests,
            comment_edits: self.comment_edits,
            commit_statuses: self.commit_statuses.values().map(Vec::len).sum(),
            ..Counts::default()
        };
        for pr in prs {
            counts.threads += pr.threads.len();
            counts.comments += pr.threads.iter().map(|t| t.comments.len()).sum::<usize>();
            counts.pull_request_statuses += pr.statuses.len();
        }
        counts
    }

    // ----------------------------------------------------------------------------------
    // Faults
    // ----------------------------------------------------------------------------------

    /// Arm a fault (see [`Fault`]).
    pub fn inject(&mut self, fault: Fault) {
        let left = fault.times;
        self.faults.push(ArmedFault { fault, left });
    }

    /// The faults that still have uses left, with how many.
    pub fn pending_faults(&self) -> Vec<(Fault, u32)> {
        self.faults
            .iter()
            .filter(|f| f.left > 0)
            .map(|f| (f.fault.clone(), f.left))
            .collect()
    }

    /// Disarm every fault.
    pub fn clear_faults(&mut self) {
        self.faults.clear();
    }

    /// The fault that takes this request, if any (using it up once).
    pub(super) fn take_fault(&mut self, method: &str, target: &str) -> Option<FaultKind> {
        let armed = self
            .faults
            .iter_mut()
            .find(|f| f.left > 0 && f.fault.matches(method, target))?;
        armed.left -= 1;
        let kind = armed.fault.kind.clone();
        self.faults.retain(|f| f.left > 0);
        Some(kind)
    }

    pub(super) fn log(&mut self, record: RequestRecord) {
        self.total_requests += 1;
        if record.fault.is_some() {
            self.faulted_requests += 1;
        }
        if self.max_logged_requests == 0 {
            return;
        }
        while self.requests.len() >= self.max_logged_requests {
            self.requests.pop_front();
        }
        self.requests.push_back(record);
    }

    // ----------------------------------------------------------------------------------
    // What the API handlers use
    // ----------------------------------------------------------------------------------

    /// A project by id or name (case-insensitive).
    pub(super) fn find_project(&self, key: &str) -> Option<&ProjectRecord> {
        self.projects
            .iter()
            .find(|p| p.id.eq_ignore_ascii_case(key) || p.name.eq_ignore_ascii_case(key))
    }

    pub(super) fn project_by_id(&self, id: &str) -> Option<&ProjectRecord> {
        self.projects.iter().find(|p| p.id == id)
    }

    /// A repository by id, or by name within `project`.
    pub(super) fn find_repository(
        &self,
        project: Option<&ProjectRecord>,
        key: &str,
    ) -> Option<&RepositoryRecord> {
        self.repositories.iter().find(|r| match project {
            Some(p) => {
                r.project_id == p.id
                    && (r.id.eq_ignore_ascii_case(key) || r.name.eq_ignore_ascii_case(key))
            }
            None => r.id.eq_ignore_ascii_case(key),
        })
    }

    pub(super) fn next_thread_id(&mut self) -> u64 {
        let id = self.next_thread_id;
        self.next_thread_id += 1;
        id
    }

    pub(super) fn next_commit_status_id(&mut self) -> u64 {
        let id = self.next_commit_status_id;
        self.next_commit_status_id += 1;
        id
    }

    pub(super) fn note_comment_edit(&mut self) {
        self.comment_edits += 1;
    }

    pub(super) fn commit_statuses_mut(
        &mut self,
        repository_id: &str,
        sha: &str,
    ) -> &mut Vec<CommitStatusRecord> {
        self.commit_statuses
            .entry((repository_id.to_string(), sha.to_ascii_lowercase()))
            .or_default()
    }

    /// Whether a commit is known in a repository (a head or base of one of its pull
    /// requests' iterations).
    pub(super) fn iteration_with_head(
        &self,
        repository_id: &str,
        sha: &str,
    ) -> Option<&IterationRecord> {
        self.pull_requests
            .values()
            .filter(|pr| pr.repository_id == repository_id)
            .flat_map(|pr| pr.iterations.iter())
            .rfind(|i| i.source_commit.eq_ignore_ascii_case(sha))
    }

    pub(super) fn knows_commit(&self, repository_id: &str, sha: &str) -> bool {
        self.pull_requests
            .values()
            .filter(|pr| pr.repository_id == repository_id)
            .flat_map(|pr| pr.iterations.iter())
            .any(|i| {
                i.source_commit.eq_ignore_ascii_case(sha)
                    || i.target_commit.eq_ignore_ascii_case(sha)
            })
    }

    fn ensure_project(&mut self, name: &str, id: Option<&str>) -> anyhow::Result<String> {
        let name = name.trim();
        if name.is_empty() {
            bail!("a project needs a name");
        }
        let id = match id.map(str::trim).filter(|i| !i.is_empty()) {
            Some(id) => id.to_ascii_lowercase(),
            None => guid(&format!("project:{name}")),
        };
        if let Some(existing) = self
            .projects
            .iter_mut()
            .find(|p| p.id == id || p.name.eq_ignore_ascii_case(name))
        {
            if existing.id != id || existing.name != name {
                bail!(
                    "project {name:?} ({id}) clashes with the seeded project {:?} ({})",
                    existing.name,
                    existing.id
                );
            }
            return Ok(id);
        }
        self.projects.push(ProjectRecord {
            id: id.clone(),
            name: name.to_string(),
        });
        Ok(id)
    }
}

/// A new thread whose comments are `(parent, content, type)`.
pub(super) fn new_thread(
    id: u64,
    status: &str,
    comments: Vec<(u64, String, &str)>,
    author: &StandInIdentity,
) -> ThreadRecord {
    let now = SystemTime::now();
    let mut thread = ThreadRecord {
        id,
        status: status.to_string(),
        comments: Vec::new(),
        published: now,
        last_updated: now,
    };
    for (parent, content, kind) in comments {
        push_comment(&mut thread, parent, content, kind, author);
    }
    thread
}

/// Append a comment to a thread: answers its id.
pub(super) fn push_comment(
    thread: &mut ThreadRecord,
    parent: u64,
    content: String,
    comment_type: &str,
    author: &StandInIdentity,
) -> u64 {
    let now = SystemTime::now();
    let id = thread.comments.iter().map(|c| c.id).max().unwrap_or(0) + 1;
    thread.comments.push(CommentRecord {
        id,
        parent_comment_id: parent,
        author: author.clone(),
        content,
        comment_type: comment_type.to_string(),
        published: now,
        last_updated: now,
        last_content_updated: now,
        edits: 0,
    });
    thread.last_updated = now;
    id
}

/// A GUID-shaped id derived from `text` (stable across runs).
pub(super) fn guid(text: &str) -> String {
    let hex = hex_digest(text);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A 40-hex-digit object id derived from `text`.
pub(super) fn object_id(text: &str) -> String {
    hex_digest(text)[..40].to_string()
}

fn hex_digest(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn commit_id(raw: &str) -> anyhow::Result<String> {
    let sha = raw.trim();
    if sha.len() != 40 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("{raw:?} is not a commit id (40 hexadecimal digits)");
    }
    Ok(sha.to_ascii_lowercase())
}

fn branch(name: &str) -> String {
    name.trim()
        .strip_prefix("refs/heads/")
        .unwrap_or(name.trim())
        .to_string()
}
