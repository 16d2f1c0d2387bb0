//! Changed files of a pull request or a commit range.
//!
//! - Pull requests: `GET /repos/{o}/{r}/pulls/{n}/files?per_page=100&page=N`; the cursor
//!   is the next page number. GitHub lists at most 3,000 files of a pull request.
//! - Commit ranges: `GET /repos/{o}/{r}/compare/{base}...{head}`, one page: GitHub lists
//!   at most 300 files of a comparison, on its first page only. When a comparison reaches
//!   that cap a warning is logged, since later files are not listed.

use serde::Deserialize;

use crate::comments::owner_and_name;
use crate::rest::Client;
use provider_kit::error::{ProviderError, Result};
use provider_kit::host::{Host, Level};
use provider_kit::types::Connection;
use provider_kit::webhooks::{ChangeKind, ChangeSource, ChangedFile, ChangedFilesPage};

/// Files per page of a pull request's file list (GitHub's maximum).
const PAGE_SIZE: usize = 100;

/// GitHub lists at most 3,000 files of a pull request: 30 pages.
const MAX_PULL_REQUEST_PAGES: u32 = 30;

/// GitHub lists at most 300 files of a comparison.
const MAX_COMPARE_FILES: usize = 300;

#[derive(Debug, Deserialize)]
struct FileEntry {
    filename: String,
    status: String,
    previous_filename: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Comparison {
    #[serde(default)]
    files: Vec<FileEntry>,
}

/// One page of changed files.
pub fn changed_files(
    host: &impl Host,
    connection: &Connection,
    source: &ChangeSource,
    cursor: Option<&str>,
) -> Result<ChangedFilesPage> {
    let client = Client::new(host, connection)?;
    match source {
        ChangeSource::PullRequest(target) => {
            let page = match cursor {
                None => 1,
                Some(raw) => raw
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|p| (1..=MAX_PULL_REQUEST_PAGES).contains(p))
                    .ok_or_else(|| {
                        ProviderError::InvalidPayload(format!(
                            "cursor {raw:?} is not one this provider returned (a page number \
                             from 1 to {MAX_PULL_REQUEST_PAGES})"
                        ))
                    })?,
            };
            let (owner, name) = owner_and_name(&target.repository)?;
            let page_text = page.to_string();
            let url = client.repo_url(
                owner,
                name,
                &["pulls", &target.number.to_string(), "files"],
                &[("per_page", "100"), ("page", &page_text)],
            )?;
            let entries: Vec<FileEntry> = client.get(&url)?;
            let full = entries.len() >= PAGE_SIZE;
            let files = entries.into_iter().map(file).collect();
            Ok(ChangedFilesPage {
                files,
                next_cursor: (full && page < MAX_PULL_REQUEST_PAGES)
                    .then(|| (page + 1).to_string()),
            })
        }
        ChangeSource::Commits(range) => {
            if let Some(raw) = cursor {
                return Err(ProviderError::InvalidPayload(format!(
                    "cursor {raw:?} is not one this provider returned: a commit range has one page"
                )));
            }
            let base = commit_sha(&range.base_sha)?;
            let head = commit_sha(&range.head_sha)?;
            let (owner, name) = owner_and_name(&range.repository)?;
            let url =
                client.repo_url(owner, name, &["compare", &format!("{base}...{head}")], &[])?;
            let comparison: Comparison = client.get(&url)?;
            if comparison.files.len() >= MAX_COMPARE_FILES {
                host.log(
                    Level::Warn,
                    "GitHub lists at most 300 files of a comparison; files past that are missing",
                    &[
                        ("base".into(), base.to_string()),
                        ("head".into(), head.to_string()),
                    ],
                );
            }
            Ok(ChangedFilesPage {
                files: comparison.files.into_iter().map(file).collect(),
                next_cursor: None,
            })
        }
    }
}

/// A file entry in neutral terms.
fn file(entry: FileEntry) -> ChangedFile {
    let change = match entry.status.as_str() {
        "added" | "copied" => ChangeKind::Added,
        "removed" => ChangeKind::Deleted,
        "renamed" => ChangeKind::Renamed,
        // modified, changed (mode only), unchanged.
        _ => ChangeKind::Modified,
    };
    ChangedFile {
        path: entry.filename.trim_start_matches('/').to_string(),
        previous_path: match change {
            ChangeKind::Renamed => entry.previous_filename,
            _ => None,
        },
        change,
    }
}

/// A full commit id; branch names would race.
fn commit_sha(raw: &str) -> Result<&str> {
    let sha = raw.trim();
    if sha.len() >= 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(sha)
    } else {
        Err(ProviderError::InvalidPayload(format!(
            "{raw:?} is not a full commit id (40 hexadecimal digits)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use provider_kit::fake::FakeHost;
    use provider_kit::types::{Credential, PullRequestRef, Repository};
    use provider_kit::webhooks::CommitRange;

    fn connection() -> Connection {
        Connection {
            base_url: "https://api.github.com/".into(),
            credential: Credential::PersonalAccessToken("t".into()),
            options: vec![],
        }
    }

    fn repository() -> Repository {
        Repository {
            id: "1".into(),
            name: "infra".into(),
            project: Some("acme".into()),
            project_id: None,
            organization: "acme".into(),
            web_url: None,
            clone_url: None,
            api_url: "https://api.github.com/".into(),
            default_branch: None,
        }
    }

    fn entries(count: usize) -> String {
        let items: Vec<String> = (0..count)
            .map(|i| format!(r#"{{"filename":"mod/f{i}.tf","status":"modified"}}"#))
            .collect();
        format!("[{}]", items.join(","))
    }

    #[test]
    fn pull_request_files_page_by_page_with_renames() {
        let host = FakeHost::default();
        host.json(200, &entries(100)).json(
            200,
            r#"[{"filename":"new.tf","status":"renamed","previous_filename":"old.tf"},
                {"filename":"gone.tf","status":"removed"},{"filename":"a.tf","status":"added"},
                {"filename":"copy.tf","status":"copied","previous_filename":"a.tf"}]"#,
        );
        let source = ChangeSource::PullRequest(PullRequestRef {
            repository: repository(),
            number: 7,
        });
        let first = changed_files(&host, &connection(), &source, None).unwrap();
        assert_eq!(first.files.len(), 100);
        assert_eq!(first.next_cursor.as_deref(), Some("2"));
        let second = changed_files(&host, &connection(), &source, Some("2")).unwrap();
        assert_eq!(second.next_cursor, None);
        let got: Vec<(&str, Option<&str>, ChangeKind)> = second
            .files
            .iter()
            .map(|f| (f.path.as_str(), f.previous_path.as_deref(), f.change))
            .collect();
        assert_eq!(
            got,
            [
                ("new.tf", Some("old.tf"), ChangeKind::Renamed),
                ("gone.tf", None, ChangeKind::Deleted),
                ("a.tf", None, ChangeKind::Added),
                ("copy.tf", None, ChangeKind::Added),
            ]
        );
        let urls: Vec<String> = host
            .requests
            .borrow()
            .iter()
            .map(|r| r.url.clone())
            .collect();
        assert_eq!(
            urls,
            [1, 2].map(|p| format!(
                "https://api.github.com/repos/acme/infra/pulls/7/files?per_page=100&page={p}"
            ))
        );
        for bad in ["0", "31", "x"] {
            assert!(matches!(
                changed_files(&host, &connection(), &source, Some(bad)),
                Err(ProviderError::InvalidPayload(_))
            ));
        }
    }

    #[test]
    fn commit_ranges_use_compare() {
        let host = FakeHost::default();
        host.json(
            200,
            r#"{"status":"ahead","commits":[],"files":[{"filename":"main.tf","status":"modified"}]}"#,
        );
        let (base, head) = ("a".repeat(40), "b".repeat(40));
        let source = ChangeSource::Commits(CommitRange {
            repository: repository(),
            base_sha: base.clone(),
            head_sha: head.clone(),
        });
        let page = changed_files(&host, &connection(), &source, None).unwrap();
        assert_eq!(page.files.len(), 1);
        assert_eq!(page.next_cursor, None);
        assert_eq!(
            host.requests.borrow()[0].url,
            format!("https://api.github.com/repos/acme/infra/compare/{base}...{head}")
        );
        host.json(200, &format!(r#"{{"files":{}}}"#, entries(300)));
        let page = changed_files(&host, &connection(), &source, None).unwrap();
        assert_eq!(page.files.len(), 300);
        assert!(host.logs.borrow().iter().any(|l| l.contains("at most 300")));
        let branches = ChangeSource::Commits(CommitRange {
            repository: repository(),
            base_sha: "main".into(),
            head_sha: head,
        });
        assert!(changed_files(&host, &connection(), &branches, None).is_err());
    }
}
