//! The stand-in's answers as Azure DevOps writes them: error bodies, records, dates.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::state::{
    CommentRecord, CommitStatusRecord, FileChange, FileChangeKind, IterationRecord, ProjectRecord,
    PullRequestRecord, PullRequestStatusRecord, RepositoryRecord, StandInIdentity, StandInState,
    ThreadRecord, guid, object_id,
};

/// The `Content-Type` of JSON answers (Azure DevOps names the api-version in it).
pub(super) const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8; api-version=7.1";

/// The newest api-version the stand-in accepts, like Azure DevOps Services today.
pub(super) const NEWEST_API_VERSION: (u32, u32) = (7, 2);

/// An answer before it becomes an HTTP response.
#[derive(Debug)]
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) headers: Vec<(&'static str, String)>,
    pub(super) body: Vec<u8>,
}

impl Answer {
    pub(super) fn json(status: u16, value: &Value) -> Self {
        Self {
            status,
            headers: vec![("content-type", JSON_CONTENT_TYPE.to_string())],
            body: value.to_string().into_bytes(),
        }
    }

    /// `{"count": n, "value": [...]}`, the shape of every list.
    pub(super) fn list(values: Vec<Value>) -> Self {
        Self::json(200, &json!({"count": values.len(), "value": values}))
    }

    pub(super) fn empty(status: u16) -> Self {
        Self {
            status,
            headers: vec![("content-length", "0".into())],
            body: Vec::new(),
        }
    }

    pub(super) fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }
}

/// An error answer in Azure DevOps' shape:
/// `{"$id":"1","innerException":null,"message":...,"typeName":...,"typeKey":...,"errorCode":0,"eventId":3000}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ApiError {
    pub(super) status: u16,
    pub(super) message: String,
    pub(super) type_name: &'static str,
    pub(super) type_key: &'static str,
}

impl ApiError {
    fn new(status: u16, message: String, type_name: &'static str, type_key: &'static str) -> Self {
        Self {
            status,
            message,
            type_name,
            type_key,
        }
    }

    pub(super) fn answer(&self) -> Answer {
        Answer::json(
            self.status,
            &json!({
                "$id": "1",
                "innerException": null,
                "message": self.message,
                "typeName": self.type_name,
                "typeKey": self.type_key,
                "errorCode": 0,
                "eventId": 3000,
            }),
        )
    }

    pub(super) fn project_not_found(name: &str) -> Self {
        Self::new(
            404,
            format!(
                "TF200016: The following project does not exist: {name}. Verify that the name \
                 of the project is correct and that the project exists on the specified Azure \
                 DevOps Server."
            ),
            "Microsoft.TeamFoundation.Core.WebApi.ProjectDoesNotExistWithNameException, Microsoft.TeamFoundation.Core.WebApi",
            "ProjectDoesNotExistWithNameException",
        )
    }

    pub(super) fn repository_not_found(key: &str) -> Self {
        Self::new(
            404,
            format!(
                "TF401019: The Git repository with name or identifier {key} does not exist or \
                 you do not have permissions for the operation you are attempting."
            ),
            "Microsoft.TeamFoundation.Git.Server.GitRepositoryNotFoundException, Microsoft.TeamFoundation.SourceControl.WebServer",
            "GitRepositoryNotFoundException",
        )
    }

    pub(super) fn pull_request_not_found() -> Self {
        Self::new(
            404,
            "TF401180: The requested pull request was not found.".into(),
            "Microsoft.TeamFoundation.Git.Server.GitPullRequestNotFoundException, Microsoft.TeamFoundation.Git.Server",
            "GitPullRequestNotFoundException",
        )
    }

    pub(super) fn thread_not_found(id: u64) -> Self {
        Self::new(
            404,
            format!("The requested pull request comment thread {id} was not found."),
            "Microsoft.TeamFoundation.Git.Server.GitPullRequestCommentThreadNotFoundException, Microsoft.TeamFoundation.Git.Server",
            "GitPullRequestCommentThreadNotFoundException",
        )
    }

    pub(super) fn comment_not_found(thread: u64, id: u64) -> Self {
        Self::new(
            404,
            format!("The requested comment {id} of thread {thread} was not found."),
            "Microsoft.VisualStudio.Services.CodeReview.Server.CommentNotFoundException, Microsoft.VisualStudio.Services.CodeReview.Server",
            "CommentNotFoundException",
        )
    }

    pub(super) fn iteration_not_found(id: u64) -> Self {
        Self::new(
            404,
            format!("The requested pull request iteration {id} was not found."),
            "Microsoft.TeamFoundation.Git.Server.GitPullRequestIterationNotFoundException, Microsoft.TeamFoundation.Git.Server",
            "GitPullRequestIterationNotFoundException",
        )
    }

    pub(super) fn commit_not_found(sha: &str, repository: &str) -> Self {
        Self::new(
            404,
            format!(
                "TF401175: The version descriptor <Commit: {sha}> could not be resolved to a \
                 version in the repository {repository}"
            ),
            "Microsoft.TeamFoundation.Git.Server.GitUnresolvableToCommitException, Microsoft.TeamFoundation.Git.Server",
            "GitUnresolvableToCommitException",
        )
    }

    /// No route: the resource location is not registered.
    pub(super) fn no_route(method: &str, path: &str) -> Self {
        Self::new(
            404,
            format!(
                "API resource location {method} {path} is not registered on this stand-in of \
                 Azure DevOps."
            ),
            "Microsoft.VisualStudio.Services.WebApi.VssResourceNotFoundException, Microsoft.VisualStudio.Services.WebApi",
            "VssResourceNotFoundException",
        )
    }

    pub(super) fn method_not_allowed(method: &str) -> Self {
        Self::new(
            405,
            format!("The requested resource does not support http method '{method}'."),
            "System.Web.Http.HttpResponseException, System.Web.Http",
            "HttpResponseException",
        )
    }

    /// A body that is missing or not JSON: Azure DevOps' deserializer yields null.
    pub(super) fn null_argument(parameter: &str) -> Self {
        Self::new(
            400,
            format!("Value cannot be null.\r\nParameter name: {parameter}"),
            "System.ArgumentNullException, mscorlib",
            "ArgumentNullException",
        )
    }

    /// A field with a value the API refuses.
    pub(super) fn invalid_argument(message: String) -> Self {
        Self::new(
            400,
            message,
            "Microsoft.TeamFoundation.SourceControl.WebServer.InvalidArgumentValueException, Microsoft.TeamFoundation.SourceControl.WebServer",
            "InvalidArgumentValueException",
        )
    }

    pub(super) fn forbidden(message: String) -> Self {
        Self::new(
            403,
            message,
            "Microsoft.TeamFoundation.Framework.Server.UnauthorizedRequestException, Microsoft.TeamFoundation.Framework.Server",
            "UnauthorizedRequestException",
        )
    }

    pub(super) fn version_not_specified(method: &str) -> Self {
        Self::new(
            400,
            format!(
                "No api-version was supplied for the \"{method}\" request. The version must be \
                 supplied either as part of the Accept header (e.g. \"application/json; \
                 api-version=1.0\") or as a query parameter (e.g. '?api-version=1.0')."
            ),
            "Microsoft.VisualStudio.Services.WebApi.VssVersionNotSpecifiedException, Microsoft.VisualStudio.Services.WebApi",
            "VssVersionNotSpecifiedException",
        )
    }

    pub(super) fn invalid_preview_version(version: &str) -> Self {
        Self::new(
            400,
            format!(
                "The requested version \"{version}\" of the resource is under preview. The \
                 -preview flag must be supplied in the api-version for such requests. For \
                 example: \"{version}-preview\""
            ),
            "Microsoft.VisualStudio.Services.WebApi.VssInvalidPreviewVersionException, Microsoft.VisualStudio.Services.WebApi",
            "VssInvalidPreviewVersionException",
        )
    }

    pub(super) fn version_out_of_range(version: &str) -> Self {
        let (major, minor) = NEWEST_API_VERSION;
        Self::new(
            400,
            format!(
                "The requested REST API version of {version} is out of range for this server. \
                 The latest REST API version this server supports is {major}.{minor}."
            ),
            "Microsoft.VisualStudio.Services.WebApi.VssVersionOutOfRangeException, Microsoft.VisualStudio.Services.WebApi",
            "VssVersionOutOfRangeException",
        )
    }

    pub(super) fn invalid_version(version: &str) -> Self {
        Self::new(
            400,
            format!("The api-version '{version}' is not in a valid format."),
            "Microsoft.VisualStudio.Services.WebApi.VssInvalidApiVersionException, Microsoft.VisualStudio.Services.WebApi",
            "VssInvalidApiVersionException",
        )
    }

    pub(super) fn unsupported_content_type(content_type: &str) -> Self {
        Self::new(
            415,
            format!(
                "The request content type {content_type:?} is not supported; send \
                 application/json."
            ),
            "Microsoft.VisualStudio.Services.WebApi.VssRequestContentTypeNotSupportedException, Microsoft.VisualStudio.Services.WebApi",
            "VssRequestContentTypeNotSupportedException",
        )
    }

    pub(super) fn too_large(limit: usize) -> Self {
        Self::new(
            413,
            format!("The request body is larger than the stand-in's limit of {limit} bytes."),
            "Microsoft.VisualStudio.Services.WebApi.VssRequestEntityTooLargeException, Microsoft.VisualStudio.Services.WebApi",
            "VssRequestEntityTooLargeException",
        )
    }

    /// The answer to a missing or wrong credential when the sign-in redirect is
    /// suppressed.
    pub(super) fn unauthorized(base_url: &str) -> Self {
        Self::new(
            401,
            format!("VS30063: You are not authorized to access {base_url}."),
            "Microsoft.VisualStudio.Services.Common.VssUnauthorizedException, Microsoft.VisualStudio.Services.Common",
            "VssUnauthorizedException",
        )
    }

    /// What an injected server error says.
    pub(super) fn injected(status: u16) -> Self {
        if status == 500 {
            return Self::new(
                500,
                format!(
                    "TF400898: An Internal Error Occurred. Activity Id: {}.",
                    guid(&format!("activity:{:?}", SystemTime::now()))
                ),
                "Microsoft.TeamFoundation.Framework.Server.InternalServerErrorException, Microsoft.TeamFoundation.Framework.Server",
                "InternalServerErrorException",
            );
        }
        Self::new(
            status,
            format!("The stand-in was told to fail this request with HTTP {status}."),
            "Microsoft.VisualStudio.Services.WebApi.VssServiceException, Microsoft.VisualStudio.Services.WebApi",
            "VssServiceException",
        )
    }
}

/// The answer to a request that hit a rate-limit fault.
pub(super) fn rate_limited(retry_after_seconds: u32) -> Answer {
    Answer::json(
        429,
        &json!({
            "$id": "1",
            "innerException": null,
            "message": "Request was blocked due to exceeding usage of resource 'Core' in namespace 'User'.",
            "typeName": "Microsoft.TeamFoundation.Framework.Server.RequestBlockedException, Microsoft.TeamFoundation.Framework.Server",
            "typeKey": "RequestBlockedException",
            "errorCode": 0,
            "eventId": 3000,
        }),
    )
    .with_header("retry-after", retry_after_seconds.to_string())
    .with_header("x-ratelimit-resource", "Core".into())
    .with_header("x-ratelimit-delay", retry_after_seconds.to_string())
    .with_header("x-ratelimit-limit", "200".into())
    .with_header("x-ratelimit-remaining", "0".into())
    .with_header(
        "x-ratelimit-reset",
        unix_seconds(SystemTime::now())
            .saturating_add(u64::from(retry_after_seconds))
            .to_string(),
    )
}

/// The 203 sign-in page Azure DevOps serves instead of data to a request it does not
/// authenticate and that did not suppress the redirect.
pub(super) fn sign_in_page() -> Answer {
    Answer {
        status: 203,
        headers: vec![("content-type", "text/html; charset=utf-8".into())],
        body: b"<!DOCTYPE html>\n<html><head><title>Azure DevOps Services | Sign In</title></head>\n\
<body><form action=\"https://login.microsoftonline.com/\">Sign in to your account</form></body></html>\n"
            .to_vec(),
    }
}

/// The 401 to a missing or wrong credential, with the challenge headers Azure DevOps sends.
pub(super) fn unauthorized(base_url: &str) -> Answer {
    ApiError::unauthorized(base_url)
        .answer()
        .with_header(
            "www-authenticate",
            "Bearer authorization_uri=https://login.microsoftonline.com/common".into(),
        )
        .with_header("www-authenticate", format!("Basic realm=\"{base_url}\""))
        .with_header("x-tfs-processid", guid("stand-in process"))
}

/// A time as Azure DevOps writes it: `2025-11-27T06:30:00.000Z`.
pub(super) fn timestamp(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs();
    let days = i64::try_from(seconds / 86_400).unwrap_or(0);
    let rest = seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        (rest % 3600) / 60,
        rest % 60,
        since.subsec_millis()
    )
}

fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// Howard Hinnant's days-to-civil conversion.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Percent-encode one path segment (project and repository names may hold spaces).
pub(super) fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Decode a percent-encoded path segment; `None` when the result is not UTF-8.
pub(super) fn decode_segment(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                let value = hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0);
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// An IdentityRef.
pub(super) fn identity(who: &StandInIdentity) -> Value {
    json!({
        "displayName": who.display_name,
        "id": who.id,
        "uniqueName": who.unique_name,
    })
}

/// `_apis/connectionData`.
pub(super) fn connection_data(state: &StandInState) -> Value {
    let who = state.identity();
    let tenant = guid(&format!("tenant:{}", state.organization));
    let user = json!({
        "id": who.id,
        "descriptor": format!(
            "Microsoft.IdentityModel.Claims.ClaimsIdentity;{tenant}\\{}",
            who.unique_name
        ),
        "subjectDescriptor": format!("aad.{}", base64_text(&who.id)),
        "providerDisplayName": who.display_name,
        "isActive": true,
        "properties": {"Account": {"$type": "System.String", "$value": who.unique_name}},
        "resourceVersion": 2,
        "metaTypeId": 0,
    });
    json!({
        "authenticatedUser": user,
        "authorizedUser": user,
        "instanceId": guid(&format!("instance:{}", state.organization)),
        "deploymentId": guid(&format!("deployment:{}", state.organization)),
        "deploymentType": "hosted",
        "locationServiceData": {
            "serviceOwner": "00025394-6065-48ca-87d9-7f5672854ef7",
            "defaultAccessMappingMoniker": "PublicAccessMapping",
            "lastChangeId": 1,
            "lastChangeId64": 1,
        },
    })
}

fn base64_text(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(text)
}

/// A TeamProjectReference.
pub(super) fn project(state: &StandInState, project: &ProjectRecord) -> Value {
    json!({
        "id": project.id,
        "name": project.name,
        "url": format!("{}_apis/projects/{}", state.base_url(), project.id),
        "state": "wellFormed",
        "revision": 1,
        "visibility": "private",
    })
}

/// The REST URL of a repository.
pub(super) fn repository_url(state: &StandInState, repository: &RepositoryRecord) -> String {
    format!(
        "{}{}/_apis/git/repositories/{}",
        state.base_url(),
        repository.project_id,
        repository.id
    )
}

/// A GitRepository.
pub(super) fn repository(state: &StandInState, repository: &RepositoryRecord) -> Value {
    let project_record = state
        .project_by_id(&repository.project_id)
        .cloned()
        .unwrap_or_else(|| ProjectRecord {
            id: repository.project_id.clone(),
            name: repository.project_id.clone(),
        });
    let path = format!(
        "{}/_git/{}",
        encode_segment(&project_record.name),
        encode_segment(&repository.name)
    );
    let host = state
        .origin
        .split_once("://")
        .map_or(state.origin.as_str(), |(_, host)| host);
    let scheme = state
        .origin
        .split_once("://")
        .map_or("http", |(scheme, _)| scheme);
    json!({
        "id": repository.id,
        "name": repository.name,
        "url": repository_url(state, repository),
        "project": project(state, &project_record),
        "defaultBranch": format!("refs/heads/{}", repository.default_branch),
        "size": 0,
        // Like the real service, the clone URL carries the organization as user name.
        "remoteUrl": format!("{scheme}://{org}@{host}/{org}/{path}", org = state.organization),
        "webUrl": format!("{}{path}", state.base_url()),
        "isDisabled": false,
        "isInMaintenance": false,
    })
}

/// A GitPullRequest.
pub(super) fn pull_request(
    state: &StandInState,
    repository_record: &RepositoryRecord,
    pr: &PullRequestRecord,
) -> Value {
    let repo_url = repository_url(state, repository_record);
    let commit = |sha: &str| json!({"commitId": sha, "url": format!("{repo_url}/commits/{sha}")});
    let reviewers: Vec<Value> = pr
        .reviewers
        .iter()
        .map(|r| {
            let mut value = identity(&r.identity);
            value["vote"] = json!(r.vote);
            value["hasDeclined"] = json!(false);
            value["isFlagged"] = json!(false);
            value["isRequired"] = json!(r.is_required);
            value
        })
        .collect();
    json!({
        "repository": repository(state, repository_record),
        "pullRequestId": pr.number,
        "codeReviewId": pr.number,
        "status": pr.status,
        "createdBy": identity(&pr.author),
        "creationDate": timestamp(pr.created),
        "title": pr.title,
        "description": pr.description,
        "sourceRefName": format!("refs/heads/{}", pr.source_branch),
        "targetRefName": format!("refs/heads/{}", pr.target_branch),
        "mergeStatus": pr.merge_status,
        "isDraft": pr.is_draft,
        "mergeId": guid(&format!("merge:{}:{}", pr.repository_id, pr.number)),
        "lastMergeSourceCommit": commit(&pr.head_sha),
        "lastMergeTargetCommit": commit(&pr.base_sha),
        "lastMergeCommit": commit(&object_id(&format!("merge:{}:{}", pr.head_sha, pr.base_sha))),
        "reviewers": reviewers,
        "url": format!("{repo_url}/pullRequests/{}", pr.number),
        "supportsIterations": true,
        "artifactId": format!(
            "vstfs:///Git/PullRequestId/{}%2f{}%2f{}",
            repository_record.project_id, pr.repository_id, pr.number
        ),
    })
}

/// A GitPullRequestIteration.
pub(super) fn iteration(pr: &PullRequestRecord, iteration: &IterationRecord) -> Value {
    let commit = |sha: &str| json!({"commitId": sha});
    json!({
        "id": iteration.id,
        "description": pr.title,
        "author": identity(&pr.author),
        "createdDate": timestamp(iteration.created),
        "updatedDate": timestamp(iteration.created),
        "sourceRefCommit": commit(&iteration.source_commit),
        "targetRefCommit": commit(&iteration.target_commit),
        "commonRefCommit": commit(&iteration.target_commit),
        "hasMoreCommits": false,
        "reason": iteration.reason,
    })
}

/// A GitPullRequestChange of an iteration.
pub(super) fn iteration_change(index: usize, change: &FileChange, head: &str) -> Value {
    let path = format!("/{}", change.path);
    let mut item = json!({"objectId": object_id(&format!("{head}:{path}")), "path": path});
    if !matches!(change.kind, FileChangeKind::Add) {
        item["originalObjectId"] = json!(object_id(&format!("base:{path}")));
    }
    let mut entry = json!({
        "changeTrackingId": index + 1,
        "changeId": index + 1,
        "item": item,
        "changeType": change.kind.wire(),
    });
    if let FileChangeKind::Rename { from } = &change.kind {
        entry["originalPath"] = json!(format!("/{from}"));
    }
    entry
}

/// The entries of a commit diff: each changed blob, and (like the real API) each folder
/// above it once, as an edited tree.
pub(super) fn diff_changes(
    state: &StandInState,
    repository_record: &RepositoryRecord,
    files: &[FileChange],
    head: &str,
) -> Vec<Value> {
    let repo_url = repository_url(state, repository_record);
    let mut folders: Vec<String> = Vec::new();
    let mut changes = Vec::new();
    for change in files {
        let mut parts: Vec<&str> = change.path.split('/').collect();
        parts.pop();
        let mut folder = String::new();
        for part in parts {
            folder.push('/');
            folder.push_str(part);
            if !folders.contains(&folder) {
                folders.push(folder.clone());
                changes.push(json!({
                    "item": {
                        "objectId": object_id(&format!("{head}:{folder}")),
                        "gitObjectType": "tree",
                        "commitId": head,
                        "path": folder,
                        "isFolder": true,
                        "url": format!("{repo_url}/items{folder}?versionType=Commit&version={head}"),
                    },
                    "changeType": "edit",
                }));
            }
        }
        let path = format!("/{}", change.path);
        let mut entry = json!({
            "item": {
                "objectId": object_id(&format!("{head}:{path}")),
                "gitObjectType": "blob",
                "commitId": head,
                "path": path,
                "url": format!("{repo_url}/items{path}?versionType=Commit&version={head}"),
            },
            "changeType": change.kind.wire(),
        });
        if let FileChangeKind::Rename { from } = &change.kind {
            entry["sourceServerItem"] = json!(format!("/{from}"));
        }
        changes.push(entry);
    }
    changes
}

/// A Comment.
pub(super) fn comment(thread_url: &str, repo_url: &str, pr_url: &str, c: &CommentRecord) -> Value {
    let self_url = format!("{thread_url}/comments/{}", c.id);
    json!({
        "id": c.id,
        "parentCommentId": c.parent_comment_id,
        "author": identity(&c.author),
        "content": c.content,
        "publishedDate": timestamp(c.published),
        "lastUpdatedDate": timestamp(c.last_updated),
        "lastContentUpdatedDate": timestamp(c.last_content_updated),
        "commentType": c.comment_type,
        "usersLiked": [],
        "_links": {
            "self": {"href": self_url},
            "repository": {"href": repo_url},
            "threads": {"href": thread_url},
            "pullRequests": {"href": pr_url},
        },
    })
}

/// A GitPullRequestCommentThread.
pub(super) fn thread(repo_url: &str, pr_url: &str, t: &ThreadRecord) -> Value {
    let thread_url = format!("{pr_url}/threads/{}", t.id);
    let comments: Vec<Value> = t
        .comments
        .iter()
        .map(|c| comment(&thread_url, repo_url, pr_url, c))
        .collect();
    json!({
        "id": t.id,
        "publishedDate": timestamp(t.published),
        "lastUpdatedDate": timestamp(t.last_updated),
        "comments": comments,
        "status": t.status,
        "threadContext": null,
        "properties": {},
        "identities": null,
        "isDeleted": false,
        "_links": {
            "self": {"href": thread_url},
            "repository": {"href": repo_url},
        },
    })
}

/// A GitPullRequestStatus.
pub(super) fn pull_request_status(s: &PullRequestStatusRecord) -> Value {
    let mut value = status_fields(
        s.id,
        &s.state,
        s.description.as_deref(),
        &s.context_name,
        s.context_genre.as_deref(),
        s.target_url.as_deref(),
        &s.created_by,
        s.created,
    );
    if let Some(iteration) = s.iteration_id {
        value["iterationId"] = json!(iteration);
    }
    value
}

/// A GitStatus of a commit.
pub(super) fn commit_status(s: &CommitStatusRecord) -> Value {
    status_fields(
        s.id,
        &s.state,
        s.description.as_deref(),
        &s.context_name,
        s.context_genre.as_deref(),
        s.target_url.as_deref(),
        &s.created_by,
        s.created,
    )
}

#[allow(clippy::too_many_arguments)] // the fields of one wire record
fn status_fields(
    id: u64,
    state: &str,
    description: Option<&str>,
    name: &str,
    genre: Option<&str>,
    target_url: Option<&str>,
    created_by: &StandInIdentity,
    created: SystemTime,
) -> Value {
    let mut context = json!({"name": name});
    if let Some(genre) = genre {
        context["genre"] = json!(genre);
    }
    let mut value = json!({
        "id": id,
        "state": state,
        "context": context,
        "creationDate": timestamp(created),
        "updatedDate": timestamp(created),
        "createdBy": identity(created_by),
    });
    if let Some(description) = description {
        value["description"] = json!(description);
    }
    if let Some(url) = target_url {
        value["targetUrl"] = json!(url);
    }
    value
}

impl StandInState {
    /// A pull request as the REST API shows it (a GitPullRequest: also the `resource` of
    /// `git.pullrequest.*` service-hook deliveries), for building webhook payloads.
    pub fn pull_request_json(&self, repository_id: &str, number: u64) -> Option<Value> {
        let pr = self.pull_request(repository_id, number)?;
        let repository = self.find_repository(None, &pr.repository_id)?;
        Some(pull_request(self, repository, pr))
    }

    /// A comment as the REST API shows it, with its `_links` (the `comment` of
    /// `ms.vss-code.git-pullrequest-comment-event` deliveries), for building webhook
    /// payloads.
    pub fn comment_json(
        &self,
        repository_id: &str,
        number: u64,
        thread_id: u64,
        comment_id: u64,
    ) -> Option<Value> {
        let pr = self.pull_request(repository_id, number)?;
        let repository = self.find_repository(None, &pr.repository_id)?;
        let found = pr.thread(thread_id)?.comment(comment_id)?;
        let repo_url = repository_url(self, repository);
        let pr_url = format!("{repo_url}/pullRequests/{number}");
        let thread_url = format!("{pr_url}/threads/{thread_id}");
        Some(comment(&thread_url, &repo_url, &pr_url, found))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_azure_style() {
        let t = UNIX_EPOCH + Duration::from_millis(1_764_225_000_123);
        assert_eq!(timestamp(t), "2025-11-27T06:30:00.123Z");
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(timestamp(leap), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn segments_round_trip() {
        assert_eq!(encode_segment("Infra Team"), "Infra%20Team");
        assert_eq!(
            decode_segment("Infra%20Team").as_deref(),
            Some("Infra Team")
        );
        assert_eq!(decode_segment("caf%C3%A9").as_deref(), Some("café"));
        assert_eq!(decode_segment("100%").as_deref(), Some("100%"));
        assert_eq!(decode_segment("%FF"), None);
    }
}
