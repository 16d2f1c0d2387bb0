//! Changed files of a pull request (its latest iteration) or between two commits,
//! one page at a time.
//!
//! Cursors are opaque to callers but readable in logs: `pr:{iteration}:{skip}` pins the
//! iteration the first page was read from, so later pages never mix two iterations;
//! `commits:{skip}` pages a commit diff.

use serde_json::Value;

use crate::rest::Client;
use provider_kit::error::invalid;
use provider_kit::error::{ProviderError, Result};
use provider_kit::host::Host;
use provider_kit::json::Node;
use provider_kit::types::{Connection, Repository, UpstreamError};
use provider_kit::webhooks::{ChangeKind, ChangeSource, ChangedFile, ChangedFilesPage};

/// Entries asked for per page: the most both APIs return at once.
pub const PAGE_SIZE: u64 = 2000;

/// Where to resume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cursor {
    PullRequest { iteration: u64, skip: u64 },
    Commits { skip: u64 },
}

impl Cursor {
    fn parse(text: &str) -> Result<Self> {
        let bad = || {
            invalid(format!(
                "the cursor {text:?} was not made by this provider; start again without a cursor"
            ))
        };
        let parts: Vec<&str> = text.split(':').collect();
        let number = |at: usize| -> Result<u64> {
            parts.get(at).and_then(|p| p.parse().ok()).ok_or_else(bad)
        };
        match parts.first().copied() {
            Some("pr") if parts.len() == 3 => Ok(Self::PullRequest {
                iteration: number(1)?,
                skip: number(2)?,
            }),
            Some("commits") if parts.len() == 2 => Ok(Self::Commits { skip: number(1)? }),
            _ => Err(bad()),
        }
    }

    fn render(self) -> String {
        match self {
            Self::PullRequest { iteration, skip } => format!("pr:{iteration}:{skip}"),
            Self::Commits { skip } => format!("commits:{skip}"),
        }
    }
}

/// See the module docs.
pub fn changed_files(
    host: &impl Host,
    connection: &Connection,
    source: &ChangeSource,
    cursor: Option<&str>,
) -> Result<ChangedFilesPage> {
    let client = Client::new(host, connection)?;
    let cursor = cursor.map(Cursor::parse).transpose()?;
    match source {
        ChangeSource::PullRequest(target) => {
            let (iteration, skip) = match cursor {
                Some(Cursor::PullRequest { iteration, skip }) => (iteration, skip),
                Some(Cursor::Commits { .. }) => {
                    return Err(invalid(
                        "the cursor belongs to a commit range, not a pull request; start again without a cursor",
                    ));
                }
                None => match latest_iteration(&client, &target.repository, target.number)? {
                    Some(iteration) => (iteration, 0),
                    None => {
                        return Ok(ChangedFilesPage {
                            files: Vec::new(),
                            next_cursor: None,
                        });
                    }
                },
            };
            iteration_changes(&client, &target.repository, target.number, iteration, skip)
        }
        ChangeSource::Commits(range) => {
            let skip = match cursor {
                Some(Cursor::Commits { skip }) => skip,
                Some(Cursor::PullRequest { .. }) => {
                    return Err(invalid(
                        "the cursor belongs to a pull request, not a commit range; start again without a cursor",
                    ));
                }
                None => 0,
            };
            commit_diff(
                &client,
                &range.repository,
                &range.base_sha,
                &range.head_sha,
                skip,
            )
        }
    }
}

/// Path segments up to and including the repository.
fn repository_segments(repository: &Repository) -> Vec<&str> {
    let mut segments = Vec::new();
    if let Some(project) = repository
        .project_id
        .as_deref()
        .or(repository.project.as_deref())
    {
        segments.push(project);
    }
    segments.extend(["_apis", "git", "repositories", repository.id.as_str()]);
    segments
}

/// An answer of an unexpected shape, as an upstream error.
fn unexpected(error: ProviderError) -> ProviderError {
    match error {
        ProviderError::InvalidPayload(text) => ProviderError::Upstream(UpstreamError {
            status: None,
            message: format!("Azure DevOps answered with an unexpected document: {text}"),
        }),
        other => other,
    }
}

fn latest_iteration<H: Host>(
    client: &Client<'_, H>,
    repository: &Repository,
    number: u64,
) -> Result<Option<u64>> {
    let number = number.to_string();
    let mut segments = repository_segments(repository);
    segments.extend(["pullRequests", &number, "iterations"]);
    let url = client.api_url(&segments, &[])?;
    let answer: Value = client.get(&url)?;
    let read = || -> Result<Option<u64>> {
        let root = Node {
            value: &answer,
            path: "iterations".into(),
        };
        let mut latest = None;
        for iteration in root.req("value")?.arr()? {
            let id = iteration.obj()?.req("id")?.u64()?;
            latest = latest.max(Some(id));
        }
        Ok(latest)
    };
    read().map_err(unexpected)
}

fn iteration_changes<H: Host>(
    client: &Client<'_, H>,
    repository: &Repository,
    number: u64,
    iteration: u64,
    skip: u64,
) -> Result<ChangedFilesPage> {
    let (number, iteration_text, top, skip_text) = (
        number.to_string(),
        iteration.to_string(),
        PAGE_SIZE.to_string(),
        skip.to_string(),
    );
    let mut segments = repository_segments(repository);
    segments.extend([
        "pullRequests",
        &number,
        "iterations",
        &iteration_text,
        "changes",
    ]);
    let url = client.api_url(&segments, &[("$top", &top), ("$skip", &skip_text)])?;
    let answer: Value = client.get(&url)?;
    let read = || -> Result<ChangedFilesPage> {
        let root = Node {
            value: &answer,
            path: "changes".into(),
        };
        let entries = match root.get("changeEntries") {
            Some(list) => list.arr()?,
            None => Vec::new(),
        };
        let files = entries
            .iter()
            .filter_map(|entry| changed_file(entry).transpose())
            .collect::<Result<Vec<_>>>()?;
        // nextSkip is 0 (or absent) on the last page.
        let next_skip = root
            .get("nextSkip")
            .map(|n| n.u64())
            .transpose()?
            .unwrap_or(0);
        Ok(ChangedFilesPage {
            files,
            next_cursor: (next_skip > skip).then(|| {
                Cursor::PullRequest {
                    iteration,
                    skip: next_skip,
                }
                .render()
            }),
        })
    };
    read().map_err(unexpected)
}

fn commit_diff<H: Host>(
    client: &Client<'_, H>,
    repository: &Repository,
    base: &str,
    head: &str,
    skip: u64,
) -> Result<ChangedFilesPage> {
    for (name, sha) in [("base", base), ("head", head)] {
        if sha.is_empty() || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid(format!(
                "the {name} commit {sha:?} is not a commit SHA; pass commit ids, never branch names"
            )));
        }
    }
    let (top, skip_text) = (PAGE_SIZE.to_string(), skip.to_string());
    let mut segments = repository_segments(repository);
    segments.extend(["diffs", "commits"]);
    let url = client.api_url(
        &segments,
        &[
            ("baseVersionType", "commit"),
            ("baseVersion", base),
            ("targetVersionType", "commit"),
            ("targetVersion", head),
            ("$top", &top),
            ("$skip", &skip_text),
        ],
    )?;
    let answer: Value = client.get(&url)?;
    let read = || -> Result<ChangedFilesPage> {
        let root = Node {
            value: &answer,
            path: "diffs".into(),
        };
        let changes = match root.get("changes") {
            Some(list) => list.arr()?,
            None => Vec::new(),
        };
        let returned = u64::try_from(changes.len()).unwrap_or(u64::MAX);
        let files = changes
            .iter()
            .filter_map(|change| changed_file(change).transpose())
            .collect::<Result<Vec<_>>>()?;
        // A full page (counted before dropping folders) may have a successor.
        Ok(ChangedFilesPage {
            files,
            next_cursor: (returned >= PAGE_SIZE).then(|| {
                Cursor::Commits {
                    skip: skip.saturating_add(returned),
                }
                .render()
            }),
        })
    };
    read().map_err(unexpected)
}

/// How a change type (a comma-separated flag list such as `edit, rename`, or its
/// numeric form) maps to a change kind.
fn change_kind(node: &Node<'_>) -> Result<ChangeKind> {
    const ADD: u64 = 1;
    const RENAME: u64 = 8;
    const DELETE: u64 = 16;
    let flags = match node.value {
        Value::Number(_) => node.u64()?,
        _ => node
            .str()?
            .split(',')
            .map(|flag| match flag.trim().to_ascii_lowercase().as_str() {
                "add" => ADD,
                "rename" => RENAME,
                "delete" => DELETE,
                _ => 0,
            })
            .fold(0, |all, flag| all | flag),
    };
    Ok(if flags & RENAME != 0 {
        ChangeKind::Renamed
    } else if flags & DELETE != 0 {
        ChangeKind::Deleted
    } else if flags & ADD != 0 {
        ChangeKind::Added
    } else {
        ChangeKind::Modified
    })
}

fn repository_path(path: &str) -> String {
    path.trim_start_matches('/').to_string()
}

/// One change entry, or `None` for folders (and submodule links reported as trees).
fn changed_file(entry: &Node<'_>) -> Result<Option<ChangedFile>> {
    let entry = entry.clone().obj()?;
    let item = entry.req_obj("item")?;
    let folder = item.opt_bool("isFolder")?.unwrap_or(false)
        || item
            .opt_str("gitObjectType")?
            .is_some_and(|t| !t.eq_ignore_ascii_case("blob"));
    if folder {
        return Ok(None);
    }
    let change = change_kind(&entry.req("changeType")?)?;
    let previous_path = match change {
        ChangeKind::Renamed => entry
            .opt_str("sourceServerItem")?
            .or(entry.opt_str("originalPath")?)
            .map(repository_path),
        _ => None,
    };
    Ok(Some(ChangedFile {
        path: repository_path(item.req_str("path")?),
        previous_path,
        change,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_strangers_are_refused() {
        for cursor in [
            Cursor::PullRequest {
                iteration: 3,
                skip: 4000,
            },
            Cursor::Commits { skip: 2000 },
        ] {
            assert_eq!(Cursor::parse(&cursor.render()).unwrap(), cursor);
        }
        for bad in ["", "pr:1", "pr:x:1", "commits:-1", "commits:1:2", "other:1"] {
            let err = Cursor::parse(bad).unwrap_err();
            assert!(
                provider_kit::error::message(&err).contains("start again"),
                "{bad}"
            );
        }
    }

    #[test]
    fn change_types_map_to_kinds() {
        let cases = [
            (serde_json::json!("add"), ChangeKind::Added),
            (serde_json::json!("edit"), ChangeKind::Modified),
            (serde_json::json!("delete"), ChangeKind::Deleted),
            (serde_json::json!("rename"), ChangeKind::Renamed),
            (serde_json::json!("edit, rename"), ChangeKind::Renamed),
            (
                serde_json::json!("delete, sourceRename"),
                ChangeKind::Deleted,
            ),
            (serde_json::json!("encoding"), ChangeKind::Modified),
            (serde_json::json!(1), ChangeKind::Added),
            (serde_json::json!(10), ChangeKind::Renamed),
            (serde_json::json!(16), ChangeKind::Deleted),
        ];
        for (value, want) in cases {
            assert_eq!(change_kind(&Node::root(&value)).unwrap(), want, "{value}");
        }
    }
}
