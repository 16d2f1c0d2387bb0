//! Rendering a run report: the shared renderer ([`provider_kit::render`]) under
//! Azure DevOps' limit, over borrowed views of the WIT records (the outputs are not copied).

use provider_kit::render as kit;

use crate::bindings::exports::vcs::provider::comments::{
    RenderOptions, RunKind, RunReport, RunStatus, WorkspaceReport,
};
use crate::bindings::vcs::provider::types::CommandSettings;
use crate::error::Result;

pub use provider_kit::render::Fnv64;

/// Render `report` to bodies within the limit of `options`.
pub fn render(report: &RunReport, options: &RenderOptions) -> Result<Vec<String>> {
    let options = kit::RenderOptions {
        max_length: options.max_length,
        commands: options.commands.as_ref().map(allowed_commands),
    };
    Ok(kit::render(&view(report), &options, &super::COMMENT_LIMIT)?)
}

/// The hidden marker's workspace-set hash (see [`kit::workspace_set_hash`]).
pub fn workspace_set_hash(report: &RunReport) -> String {
    kit::workspace_set_hash(report.workspaces.iter().map(|w| w.name.as_str()))
}

fn view(report: &RunReport) -> kit::Report<'_> {
    kit::Report {
        kind: match report.kind {
            RunKind::Plan => kit::RunKind::Plan,
            RunKind::Apply => kit::RunKind::Apply,
        },
        run_url: report.run_url.as_deref(),
        workspaces: report.workspaces.iter().map(workspace_view).collect(),
    }
}

fn workspace_view(workspace: &WorkspaceReport) -> kit::WorkspaceReport<'_> {
    kit::WorkspaceReport {
        name: &workspace.name,
        status: match workspace.status {
            RunStatus::Success => kit::RunStatus::Success,
            RunStatus::NoChanges => kit::RunStatus::NoChanges,
            RunStatus::Failed => kit::RunStatus::Failed,
            RunStatus::Errored => kit::RunStatus::Errored,
        },
        add: workspace.add,
        change: workspace.change,
        destroy: workspace.destroy,
        import: workspace.import,
        output: &workspace.output,
    }
}

fn allowed_commands(settings: &CommandSettings) -> kit::AllowedCommands<'_> {
    kit::AllowedCommands {
        prefix: &settings.prefix,
        allow_plan: settings.allow_plan,
        allow_apply: settings.allow_apply,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::vcs::provider::types::ProviderError;

    fn workspace(name: &str, status: RunStatus, counts: [u32; 4], output: &str) -> WorkspaceReport {
        WorkspaceReport {
            name: name.into(),
            status,
            add: counts[0],
            change: counts[1],
            destroy: counts[2],
            import: counts[3],
            output: output.into(),
        }
    }

    fn report(kind: RunKind, workspaces: Vec<WorkspaceReport>) -> RunReport {
        RunReport {
            kind,
            run_url: Some("https://scalr.example/runs/run-1".into()),
            run_id: Some("run-1".into()),
            head_sha: None,
            workspaces,
        }
    }

    /// Every field of the WIT records reaches the shared renderer.
    #[test]
    fn the_records_reach_the_shared_renderer() {
        let report = report(
            RunKind::Apply,
            vec![
                workspace("prod", RunStatus::Success, [1, 2, 3, 4], "out-prod\n"),
                workspace("stage", RunStatus::NoChanges, [0; 4], "out-stage\n"),
                workspace("dev", RunStatus::Failed, [0; 4], "Error: boom\n"),
                workspace("qa", RunStatus::Errored, [0; 4], "pool down\n"),
            ],
        );
        let settings = CommandSettings {
            prefix: "/scalr".into(),
            allow_plan: true,
            allow_apply: false,
            bot_user_id: None,
            run_edited_comments: false,
            allowed_users: vec![],
            require_approval_for_apply: false,
            require_mergeable_for_apply: false,
        };
        let options = RenderOptions {
            max_length: None,
            commands: Some(settings),
        };
        let parts = render(&report, &options).unwrap();
        assert_eq!(parts.len(), 1);
        let body = &parts[0];
        assert!(body.starts_with(&format!(
            "<!-- scalr:run workspace-set={} part=1/1 -->\n",
            workspace_set_hash(&report)
        )));
        for expected in [
            "### ❌ Terraform apply of 4 workspaces: 4 imported, 1 added, 2 changed, 3 destroyed; 1 failed; 1 errored\n",
            "| <code>stage</code> | ✅ no changes |\n",
            "| <code>qa</code> | ⚠️ errored (the platform could not run it) |\n",
            "- <code>dev</code>: Error&#58; boom\n- <code>qa</code>: pool down\n",
            "\n[Open the run](https://scalr.example/runs/run-1)\n",
            "out-prod\n",
            "out-stage\n",
            "<sub>Comment <code>/scalr plan</code> to plan again.</sub>\n",
        ] {
            assert!(body.contains(expected), "{expected:?} missing:\n{body}");
        }
    }

    #[test]
    fn limits_are_azure_devops_own_and_errors_are_provider_errors() {
        let options = |max_length| RenderOptions {
            max_length,
            commands: None,
        };
        let empty = report(RunKind::Plan, vec![]);
        assert!(matches!(
            render(&empty, &options(None)),
            Err(ProviderError::InvalidPayload(_))
        ));
        let small = report(
            RunKind::Plan,
            vec![workspace("w", RunStatus::Success, [1, 0, 0, 0], "x\n")],
        );
        let Err(ProviderError::InvalidConfig(message)) = render(&small, &options(Some(10))) else {
            panic!("a limit of 10 is refused")
        };
        assert!(
            message.contains("UTF-16 code units for its summary")
                && message.ends_with("Azure DevOps' limit of 150000"),
            "{message}"
        );
        // A larger limit is capped to the provider's own.
        let output = "+ resource\n".repeat(30_000);
        let big = report(
            RunKind::Plan,
            vec![workspace("w", RunStatus::Success, [1, 0, 0, 0], &output)],
        );
        let parts = render(&big, &options(Some(u32::MAX))).unwrap();
        assert_eq!(parts.len(), 3);
        for part in &parts {
            assert!(part.encode_utf16().count() <= 150_000);
        }
        assert_eq!(super::super::limits().max_length, 150_000);
    }
}
