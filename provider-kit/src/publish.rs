//! Pieces of `comments.publish` and `comments.reply` every provider runs alike: the
//! comment state in storage ([`CasStore`] at [`state_key`]), the hash that tells whether
//! a part changed, the body of a part no longer used, and the length check of replies.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Provider;
use crate::comments::{CommitStatus, RunReport};
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
