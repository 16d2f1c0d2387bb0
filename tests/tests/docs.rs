//! The project's documents point only at things the project has: every relative link in
//! its Markdown resolves, and none names a document that lives outside the repository.

// A failing test is the point: tests may unwrap, expect, panic and index.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Markdown files a reader of the repository meets.
fn documents() -> Vec<PathBuf> {
    let root = workspace();
    let mut files = vec![root.join("README.md"), root.join("wit/README.md")];
    for dir in ["docs", "github-plugin/tests/fixtures"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "md") {
                files.push(path);
            }
        }
    }
    files
}

/// The targets of `[text](target)` links in `text`, without their `#fragment`.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("](") {
        rest = &rest[start + 2..];
        let Some(end) = rest.find(')') else { break };
        let target = rest[..end].split('#').next().unwrap_or_default().trim();
        if !target.is_empty() {
            targets.push(target.to_owned());
        }
        rest = &rest[end..];
    }
    targets
}

#[test]
fn every_relative_link_in_the_documents_resolves() {
    let mut broken = Vec::new();
    let documents = documents();
    assert!(documents.len() >= 4, "{documents:?}");
    for document in &documents {
        let text = std::fs::read_to_string(document).unwrap();
        for target in link_targets(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let resolved = document.parent().unwrap().join(&target);
            if !resolved.exists() {
                broken.push(format!("{}: {target}", document.display()));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "links to nothing:\n{}",
        broken.join("\n")
    );
}

#[test]
fn no_document_points_outside_the_repository() {
    for document in documents() {
        let text = std::fs::read_to_string(&document).unwrap();
        for outside in [
            "DESIGN.md",
            "ARCHITECTURE.md",
            "AZURE_DEVOPS.md",
            "../shared/",
        ] {
            assert!(
                !text.contains(outside),
                "{} refers to {outside}, which is not in the repository",
                document.display()
            );
        }
    }
}

#[test]
fn links_are_read_as_written() {
    assert_eq!(
        link_targets("see [the guide](docs/guide.md#top) and [x](https://a.example/)."),
        vec!["docs/guide.md", "https://a.example/"]
    );
}
