//! `comments.publish` and the pieces of `comments.reply` every provider runs alike.
//!
//! [`publish_parts`] is the whole "sticky comment" flow: a report's bodies are posted
//! once and updated in place by later runs (a new head commit, the apply after the plan),
//! parts a shorter report no longer needs are emptied, never deleted, and the state is
//! saved after every comment sent, by compare-and-swap ([`CasStore`] at [`state_key`]),
//! so a retried publish never posts twice. A provider supplies only how its platform
//! posts and edits a comment ([`CommentApi`]).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::Provider;
use crate::comments::{
    CommitStatus, PostedComment, PublishAction, PublishOptions, PublishResult, RunKind, RunReport,
};
use crate::error::{ProviderError, Result};
use crate::host::{Host, Level};
use crate::render::Fnv64;
use crate::split::MARKER_PREFIX;
use crate::types::PullRequestRef;
use crate::views::{comment_limit, workspace_set_hash};

/// Comment state is forgotten after a year without a publish.
pub const STATE_TTL_SECONDS: u32 = 365 * 24 * 3600;

/// Content of a part that a shorter report no longer needs (comments are never deleted,
/// so links to them keep working).
pub const UNUSED_PART: &str = "_(this part is no longer used)_";

/// The storage key of the comment state of `report`'s workspace set on pull request
/// `target`: `comment:{repository id}:{number}:{workspace-set hash}`.
pub fn state_key(target: &PullRequestRef, report: &RunReport) -> String {
    format!(
        "comment:{}:{}:{}",
        target.repository.id,
        target.number,
        workspace_set_hash(report)
    )
}

/// What a part that is no longer needed says, marker included.
pub fn unused_part(report: &RunReport) -> String {
    format!(
        "{MARKER_PREFIX}{} part=unused -->\n{UNUSED_PART}\n",
        workspace_set_hash(report)
    )
}

/// A short hash of a body, to tell whether a posted part must be updated.
pub fn content_hash(body: &str) -> String {
    let mut hash = Fnv64::new();
    hash.write(body.as_bytes());
    format!("{:016x}-{}", hash.finish(), body.len())
}

/// Refuse a reply that is empty or longer than `P`'s [`Provider::COMMENT_LIMIT`].
pub fn check_reply<P: Provider + ?Sized>(markdown: &str) -> Result<()> {
    if markdown.trim().is_empty() {
        return Err(ProviderError::InvalidPayload(
            "the reply is empty; give it some text".into(),
        ));
    }
    let limit = comment_limit::<P>()?;
    let length = limit.unit.length(markdown);
    let cap = limit.max_length as usize;
    if length > cap {
        return Err(ProviderError::InvalidPayload(format!(
            "the reply is {length} {} long, over {} limit of {cap}; shorten it",
            limit.unit.name(),
            P::POSSESSIVE
        )));
    }
    Ok(())
}

/// `text` cut to at most `max_chars` characters, the last one `…` where it was cut (status
/// descriptions have a hard limit).
pub fn clip(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let kept: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    format!("{kept}…")
}

/// A full commit id (hex); anything else would address the wrong object or path.
pub fn commit_sha(raw: &str) -> Result<&str> {
    let sha = raw.trim();
    if sha.len() >= 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(sha)
    } else {
        Err(ProviderError::InvalidPayload(format!(
            "{raw:?} is not a full commit id (40 hexadecimal digits)"
        )))
    }
}

/// A status's target URL, checked to be http(s).
pub fn http_url(raw: &str) -> Result<String> {
    match url::Url::parse(raw.trim()) {
        Ok(url) if matches!(url.scheme(), "https" | "http") => Ok(url.to_string()),
        _ => Err(ProviderError::InvalidConfig(format!(
            "the status target URL {raw:?} is not an http(s) URL"
        ))),
    }
}

/// The genre (context prefix) of a status whose caller names none.
pub const DEFAULT_STATUS_GENRE: &str = "scalr";

/// A status's context and link, checked: what every platform's status call starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusContext<'a> {
    /// The context's name (`plan/prod`), trimmed and never empty.
    pub name: &'a str,
    /// Its genre, [`DEFAULT_STATUS_GENRE`] when the status names none.
    pub genre: &'a str,
    /// The link, checked to be http(s).
    pub target_url: Option<String>,
}

impl<'a> StatusContext<'a> {
    /// The context of `status`; an empty name or a link that is not http(s) is
    /// `invalid-config`.
    pub fn of(status: &'a CommitStatus) -> Result<Self> {
        let name = status.context_name.trim();
        if name.is_empty() {
            return Err(ProviderError::InvalidConfig(
                "the status has no context name; name it, for example `plan/prod`".into(),
            ));
        }
        let genre = status
            .context_genre
            .as_deref()
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .unwrap_or(DEFAULT_STATUS_GENRE);
        let target_url = status.target_url.as_deref().map(http_url).transpose()?;
        Ok(Self {
            name,
            genre,
            target_url,
        })
    }
}

/// One JSON value at one key, as read by [`CasStore::open`]; [`CasStore::save`] writes
/// only if nobody changed it since (compare-and-swap), so two publishes racing on the
/// same pull request cannot both think they posted the comment.
pub struct CasStore<'h, H: Host + ?Sized, T> {
    host: &'h H,
    key: String,
    raw: Option<Vec<u8>>,
    state: Option<T>,
}

impl<'h, H: Host + ?Sized, T: Serialize + DeserializeOwned + Clone> CasStore<'h, H, T> {
    /// Read the value at `key`. An unreadable value is logged and treated as absent (a
    /// new comment is posted), and still guards the next [`CasStore::save`].
    pub fn open(host: &'h H, key: String) -> Result<Self> {
        let raw = host.get(&key)?;
        let state = match raw.as_deref().map(serde_json::from_slice::<T>) {
            Some(Ok(state)) => Some(state),
            Some(Err(e)) => {
                host.log(
                    Level::Warn,
                    "the stored comment state is unreadable; a new comment will be posted",
                    &[("key".into(), key.clone()), ("error".into(), e.to_string())],
                );
                None
            }
            None => None,
        };
        Ok(Self {
            host,
            key,
            raw,
            state,
        })
    }

    /// The value as last read or saved, when there is a readable one.
    pub fn state(&self) -> Option<&T> {
        self.state.as_ref()
    }

    /// Write `state` if the stored value is still the one read or saved last; a
    /// concurrent change is a `conflict` (retry the publish).
    pub fn save(&mut self, state: &T) -> Result<()> {
        let bytes = serde_json::to_vec(state).map_err(|e| {
            ProviderError::Storage(format!("could not encode the comment state: {e}"))
        })?;
        let swapped = self.host.compare_and_swap(
            &self.key,
            self.raw.as_deref(),
            Some(&bytes),
            Some(STATE_TTL_SECONDS),
        )?;
        if !swapped {
            return Err(ProviderError::Conflict(
                "another publish for this pull request and workspaces changed the comment \
                 state at the same time; retry the publish"
                    .into(),
            ));
        }
        self.raw = Some(bytes);
        self.state = Some(state.clone());
        Ok(())
    }
}

/// How a platform posts and edits the comments of a report: all [`publish_parts`] needs
/// of a provider.
pub trait CommentApi {
    /// What the provider keeps to find one posted comment again (its ids, a link). It is
    /// stored as JSON fields beside the part's content hash, so it must serialize as a
    /// struct (a map).
    type Part: Serialize + DeserializeOwned + Clone + PartialEq;

    /// Post `body` as a new comment. `first` is the report's first part when this is a
    /// later one (a platform with threads replies in the first part's thread).
    fn create(&self, body: &str, first: Option<&Self::Part>) -> Result<Self::Part>;

    /// Replace the body of a posted comment; `not-found` when it was deleted. The part
    /// may be refreshed (a new link).
    fn update(&self, part: &mut Self::Part, body: &str) -> Result<()>;

    /// A first part an earlier publish posted but did not get to record (it stopped
    /// between the post and the save): the integration's own comment (`bot_user_id`)
    /// whose first line starts with `marker`. `None` by default: such a platform posts the
    /// report again after a crash at that point.
    fn find_orphan(&self, marker: &str, bot_user_id: &str) -> Result<Option<Self::Part>> {
        let _ = (marker, bot_user_id);
        Ok(None)
    }

    /// The posted comment, as `comments.publish` reports it.
    fn posted(&self, part: &Self::Part) -> PostedComment;
}

/// What storage remembers about the comments of a pull request and workspace set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound = "P: Serialize + DeserializeOwned")]
struct CommentState<P> {
    head_sha: Option<String>,
    run_id: Option<String>,
    parts: Vec<StoredPart<P>>,
}

impl<P> Default for CommentState<P> {
    fn default() -> Self {
        Self {
            head_sha: None,
            run_id: None,
            parts: Vec::new(),
        }
    }
}

/// One posted comment and a hash of what it now says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound = "P: Serialize + DeserializeOwned")]
struct StoredPart<P> {
    #[serde(flatten)]
    part: P,
    content_hash: String,
}

/// Whether `options` leave `report` unpublished: comments are off, or it is an apply and
/// the apply summary is off (the plan's comment then stays as it is).
pub fn skips(report: &RunReport, options: &PublishOptions) -> bool {
    !options.comments_enabled || (report.kind == RunKind::Apply && !options.apply_summary)
}

/// The answer of a publish that [`skips`].
pub fn skipped() -> PublishResult {
    PublishResult {
        action: PublishAction::Skipped,
        comments: vec![],
    }
}

/// Publish `bodies`, the rendering of `report`, on pull request `target` through `api`:
/// create what is new, update what changed, empty what is no longer needed, and say
/// which it was. A comment deleted by someone is posted afresh (the whole report).
pub fn publish_parts<A: CommentApi>(
    host: &(impl Host + ?Sized),
    api: &A,
    target: &PullRequestRef,
    report: &RunReport,
    options: &PublishOptions,
    bodies: &[String],
) -> Result<PublishResult> {
    let mut store = CasStore::<_, CommentState<A::Part>>::open(host, state_key(target, report))?;
    let previous = store.state().cloned();
    let new_head = report.kind == RunKind::Plan
        && report.head_sha.is_some()
        && previous
            .as_ref()
            .is_some_and(|p| p.head_sha != report.head_sha);
    let mut state = match previous {
        Some(state) if !(options.new_comment_per_head && new_head) => state,
        Some(_) => CommentState::default(),
        None => {
            // No state: either the first report here, or an earlier publish posted the
            // comment and stopped before saving its id (a crash, a timeout). Adopt such
            // an orphan rather than post the result twice.
            let mut fresh = CommentState::default();
            let bot = options
                .render
                .commands
                .as_ref()
                .and_then(|c| c.bot_user_id.as_deref());
            if let Some(bot) = bot {
                let marker = format!("{MARKER_PREFIX}{} part=1/", workspace_set_hash(report));
                if let Some(part) = api.find_orphan(&marker, bot)? {
                    fresh.parts.push(StoredPart {
                        part,
                        // Matches no body, so the orphan is brought up to date.
                        content_hash: String::new(),
                    });
                }
            }
            fresh
        }
    };
    state.head_sha = report.head_sha.clone().or(state.head_sha);
    state.run_id = report.run_id.clone();

    let mut created = false;
    let mut updated = false;
    let mut index = 0;
    while let Some(body) = bodies.get(index) {
        let hash = content_hash(body);
        match state.parts.get_mut(index) {
            Some(stored) if stored.content_hash == hash => {}
            Some(stored) => match api.update(&mut stored.part, body) {
                Err(ProviderError::NotFound(why)) => {
                    // Someone deleted the comment (or its thread): post the report afresh.
                    host.log(
                        Level::Warn,
                        "the report's earlier comment is gone; posting a new one",
                        &[("error".into(), why)],
                    );
                    state.parts.clear();
                    store.save(&state)?;
                    (index, created, updated) = (0, false, false);
                    continue;
                }
                Err(other) => return Err(other),
                Ok(()) => {
                    stored.content_hash = hash;
                    updated = true;
                    store.save(&state)?;
                }
            },
            None => {
                let part = api.create(body, state.parts.first().map(|first| &first.part))?;
                state.parts.push(StoredPart {
                    part,
                    content_hash: hash,
                });
                created = true;
                store.save(&state)?;
            }
        }
        index += 1;
    }
    let unused = unused_part(report);
    let unused_hash = content_hash(&unused);
    for index in bodies.len()..state.parts.len() {
        let Some(stored) = state.parts.get_mut(index) else {
            break;
        };
        if stored.content_hash != unused_hash {
            match api.update(&mut stored.part, &unused) {
                // Already deleted by someone: nothing left to empty.
                Err(ProviderError::NotFound(_)) | Ok(()) => {}
                Err(other) => return Err(other),
            }
            stored.content_hash = unused_hash.clone();
            updated = true;
            store.save(&state)?;
        }
    }
    if store.state() != Some(&state) {
        // Nothing was sent, but the run and head moved on.
        store.save(&state)?;
    }

    let action = match (created, updated) {
        (_, true) => PublishAction::Updated,
        (true, false) => PublishAction::Created,
        (false, false) => PublishAction::Unchanged,
    };
    let comments = state
        .parts
        .iter()
        .take(bodies.len())
        .map(|stored| api.posted(&stored.part))
        .collect();
    Ok(PublishResult { action, comments })
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::comments::{RenderOptions, RunStatus, WorkspaceReport};
    use crate::host::MemoryHost;
    use crate::types::Repository;

    /// A platform in memory: comments by id, and a script of failures for `update`.
    #[derive(Default)]
    struct Platform {
        comments: RefCell<Vec<Option<String>>>,
        fail_next_update: RefCell<Option<ProviderError>>,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Id {
        id: usize,
    }

    impl CommentApi for Platform {
        type Part = Id;

        fn create(&self, body: &str, _first: Option<&Id>) -> Result<Id> {
            let mut comments = self.comments.borrow_mut();
            comments.push(Some(body.to_owned()));
            Ok(Id {
                id: comments.len() - 1,
            })
        }

        fn update(&self, part: &mut Id, body: &str) -> Result<()> {
            if let Some(error) = self.fail_next_update.borrow_mut().take() {
                return Err(error);
            }
            match self.comments.borrow_mut().get_mut(part.id) {
                Some(slot @ Some(_)) => {
                    *slot = Some(body.to_owned());
                    Ok(())
                }
                _ => Err(ProviderError::NotFound("no such comment".into())),
            }
        }

        fn posted(&self, part: &Id) -> PostedComment {
            PostedComment {
                thread_id: None,
                comment_id: part.id.to_string(),
                url: None,
            }
        }
    }

    fn target() -> PullRequestRef {
        PullRequestRef {
            repository: Repository {
                id: "repo".into(),
                name: "infra".into(),
                project: Some("p".into()),
                project_id: None,
                organization: "o".into(),
                web_url: None,
                clone_url: None,
                api_url: "https://vcs.example/".into(),
                default_branch: None,
            },
            number: 7,
        }
    }

    fn report(kind: RunKind, run: &str) -> RunReport {
        RunReport {
            kind,
            run_url: None,
            run_id: Some(run.into()),
            head_sha: Some("a".repeat(40)),
            workspaces: vec![WorkspaceReport {
                name: "prod".into(),
                status: RunStatus::Success,
                add: 1,
                change: 0,
                destroy: 0,
                import: 0,
                output: String::new(),
            }],
        }
    }

    fn options() -> PublishOptions {
        PublishOptions {
            comments_enabled: true,
            apply_summary: true,
            new_comment_per_head: false,
            render: RenderOptions {
                max_length: None,
                commands: None,
            },
            options: vec![],
        }
    }

    fn bodies(texts: &[&str]) -> Vec<String> {
        texts.iter().map(|t| (*t).to_owned()).collect()
    }

    #[test]
    fn parts_are_created_updated_in_place_and_emptied_when_no_longer_needed() {
        let host = MemoryHost::new();
        let platform = Platform::default();
        let plan = report(RunKind::Plan, "run-1");
        let first = publish_parts(
            &host,
            &platform,
            &target(),
            &plan,
            &options(),
            &bodies(&["a", "b"]),
        )
        .unwrap();
        assert_eq!(first.action, PublishAction::Created);
        assert_eq!(first.comments.len(), 2);

        let again = publish_parts(
            &host,
            &platform,
            &target(),
            &plan,
            &options(),
            &bodies(&["a", "b"]),
        )
        .unwrap();
        assert_eq!(again.action, PublishAction::Unchanged);

        let apply = report(RunKind::Apply, "run-2");
        let shorter = publish_parts(
            &host,
            &platform,
            &target(),
            &apply,
            &options(),
            &bodies(&["c"]),
        )
        .unwrap();
        assert_eq!(shorter.action, PublishAction::Updated);
        assert_eq!(shorter.comments.len(), 1);
        let comments = platform.comments.borrow();
        assert_eq!(comments[0].as_deref(), Some("c"));
        assert!(
            comments[1].as_deref().unwrap().contains(UNUSED_PART),
            "{comments:?}"
        );
        assert_eq!(comments.len(), 2, "nothing posted twice");
    }

    #[test]
    fn a_deleted_comment_is_posted_afresh_and_other_failures_are_returned() {
        let host = MemoryHost::new();
        let platform = Platform::default();
        let plan = report(RunKind::Plan, "run-1");
        publish_parts(
            &host,
            &platform,
            &target(),
            &plan,
            &options(),
            &bodies(&["a"]),
        )
        .unwrap();

        *platform.fail_next_update.borrow_mut() = Some(ProviderError::Transport("reset".into()));
        let failed = publish_parts(
            &host,
            &platform,
            &target(),
            &plan,
            &options(),
            &bodies(&["b"]),
        );
        assert!(
            matches!(failed, Err(ProviderError::Transport(_))),
            "{failed:?}"
        );
        assert_eq!(platform.comments.borrow()[0].as_deref(), Some("a"));

        platform.comments.borrow_mut()[0] = None;
        let afresh = publish_parts(
            &host,
            &platform,
            &target(),
            &plan,
            &options(),
            &bodies(&["b"]),
        )
        .unwrap();
        assert_eq!(afresh.action, PublishAction::Created);
        assert_eq!(afresh.comments[0].comment_id, "1");
        assert_eq!(platform.comments.borrow()[1].as_deref(), Some("b"));
    }

    #[test]
    fn the_stored_part_keeps_the_providers_fields_flat_beside_its_hash() {
        let host = MemoryHost::new();
        let plan = report(RunKind::Plan, "run-1");
        publish_parts(
            &host,
            &Platform::default(),
            &target(),
            &plan,
            &options(),
            &bodies(&["a"]),
        )
        .unwrap();
        let stored: serde_json::Value =
            serde_json::from_slice(&host.value(&state_key(&target(), &plan)).unwrap()).unwrap();
        assert_eq!(stored["parts"][0]["id"], 0);
        assert_eq!(stored["parts"][0]["content_hash"], content_hash("a"));
        assert_eq!(stored["run_id"], "run-1");
    }

    #[test]
    fn switches_decide_what_is_skipped() {
        let plan = report(RunKind::Plan, "r");
        let apply = report(RunKind::Apply, "r");
        assert!(!skips(&plan, &options()));
        let off = PublishOptions {
            comments_enabled: false,
            ..options()
        };
        assert!(skips(&plan, &off));
        let no_summary = PublishOptions {
            apply_summary: false,
            ..options()
        };
        assert!(!skips(&plan, &no_summary));
        assert!(skips(&apply, &no_summary));
    }
}
