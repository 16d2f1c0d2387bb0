//! Repository identity: GUIDs, organization, clone and API URLs, from the payload's
//! repository record, its links and the envelope's resource containers.
//!
//! Three URL families exist: `https://dev.azure.com/{org}/`, the legacy
//! `https://{org}.visualstudio.com/` and Azure DevOps Server
//! `https://host[:port]/[tfs/]{collection}/`. The API base is taken from
//! `resourceContainers.collection.baseUrl` (or `account.baseUrl`) when the delivery has
//! it, else derived from the repository's REST URL.

use url::Url;

use provider_kit::error::Result;
use provider_kit::error::invalid;
use provider_kit::json::Node;
use provider_kit::types::Repository;

/// The API base announced by the envelope's resource containers, if any.
pub fn container_base(envelope: &Node<'_>) -> Result<Option<Url>> {
    let Some(containers) = envelope.opt_obj("resourceContainers")? else {
        return Ok(None);
    };
    for name in ["collection", "account"] {
        let Some(container) = containers.opt_obj(name)? else {
            continue;
        };
        if let Some(raw) = container.opt_str("baseUrl")? {
            let path = format!("{}.baseUrl", container.path);
            return Ok(Some(base_url(parse_url(raw, &path)?)));
        }
    }
    Ok(None)
}

/// The project id of the envelope's resource containers, if any.
pub fn container_project_id(envelope: &Node<'_>) -> Result<Option<String>> {
    let Some(containers) = envelope.opt_obj("resourceContainers")? else {
        return Ok(None);
    };
    let Some(project) = containers.opt_obj("project")? else {
        return Ok(None);
    };
    Ok(project.opt_str("id")?.map(str::to_string))
}

/// Parse an absolute http(s) URL found at `path` of the payload.
pub fn parse_url(raw: &str, path: &str) -> Result<Url> {
    let url = Url::parse(raw.trim())
        .map_err(|e| invalid(format!("{path} is not a valid URL ({e}): {raw:?}")))?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
        return Err(invalid(format!(
            "{path} must be an http(s) URL, found {raw:?}"
        )));
    }
    Ok(url)
}

/// A URL without user information, query or fragment.
fn scrubbed(mut url: Url) -> Url {
    // Cannot fail on an http(s) URL with a host, which parse_url guarantees.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_query(None);
    url.set_fragment(None);
    url
}

/// A base URL: scrubbed, ending with `/`.
fn base_url(url: Url) -> Url {
    let mut url = scrubbed(url);
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}

/// Decode `%XX` escapes (project names with spaces are encoded in links).
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        let hex = |at: usize| bytes.get(at).and_then(|b| (*b as char).to_digit(16));
        match (byte, hex(i + 1), hex(i + 2)) {
            (b'%', Some(high), Some(low)) => {
                // high and low are below 16, so this fits a byte.
                out.push(u8::try_from(high * 16 + low).unwrap_or(b'?'));
                i += 3;
            }
            _ => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn looks_like_guid(text: &str) -> bool {
    text.len() == 36
        && text.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// The API base derived from a REST URL (`.../{project}/_apis/...` or `.../_apis/...`):
/// everything before the project segment, or before `_apis` when there is no project.
/// `project_hints` are the project's id and name, which tell a project segment from a
/// collection name on Azure DevOps Server.
pub fn derive_base(url: &Url, project_hints: &[&str]) -> Option<Url> {
    let segments: Vec<String> = url.path_segments()?.map(percent_decode).collect();
    let apis = segments
        .iter()
        .position(|s| s.eq_ignore_ascii_case("_apis"))?;
    let mut keep = segments.get(..apis)?.to_vec();
    let is_project = |segment: &str| {
        looks_like_guid(segment)
            || project_hints
                .iter()
                .any(|hint| !hint.is_empty() && hint.eq_ignore_ascii_case(segment))
    };
    let minimum = if url.host_str() == Some("dev.azure.com") {
        1
    } else {
        0
    };
    if keep.len() > minimum && keep.last().is_some_and(|s| is_project(s)) {
        keep.pop();
    }
    let mut base = scrubbed(url.clone());
    {
        let mut path = base.path_segments_mut().ok()?;
        path.clear();
        for segment in &keep {
            path.push(segment);
        }
    }
    Some(base_url(base))
}

/// The lower-cased organization (Services) or collection (Server) of an API base.
pub fn organization(base: &Url) -> String {
    let host = base.host_str().unwrap_or_default().to_ascii_lowercase();
    let segments: Vec<String> = base
        .path_segments()
        .map(|s| s.filter(|s| !s.is_empty()).map(percent_decode).collect())
        .unwrap_or_default();
    let name = if host == "dev.azure.com" {
        segments.first().cloned()
    } else if let Some(subdomain) = host.strip_suffix(".visualstudio.com") {
        subdomain.split('.').next_back().map(str::to_string)
    } else {
        segments.last().cloned()
    };
    name.unwrap_or(host).to_lowercase()
}

/// Strip `refs/heads/` from a branch ref.
pub fn branch_name(reference: &str) -> &str {
    reference.strip_prefix("refs/heads/").unwrap_or(reference)
}

/// Read a `GitRepository` record. `base` is the envelope's API base, if it had one.
pub fn repository(node: &Node<'_>, base: Option<&Url>) -> Result<Repository> {
    let id = node.req_str("id")?.to_ascii_lowercase();
    let name = node.req_str("name")?.to_string();
    let (project, project_id) = match node.opt_obj("project")? {
        Some(project) => (
            project.opt_str("name")?.map(str::to_string),
            project.opt_str("id")?.map(str::to_ascii_lowercase),
        ),
        None => (None, None),
    };
    let rest_url = node
        .opt_str("url")?
        .map(|raw| parse_url(raw, &format!("{}.url", node.path)))
        .transpose()?;
    let clone_url = node
        .opt_str("remoteUrl")?
        .map(|raw| parse_url(raw, &format!("{}.remoteUrl", node.path)).map(scrubbed))
        .transpose()?;
    let web_url = match node.opt_str("webUrl")? {
        Some(raw) => Some(scrubbed(parse_url(raw, &format!("{}.webUrl", node.path))?)),
        None => clone_url.clone(),
    };
    let hints = [
        project_id.as_deref().unwrap_or_default(),
        project.as_deref().unwrap_or_default(),
    ];
    let api_url = match (base, &rest_url) {
        (Some(base), _) => base.clone(),
        (None, Some(rest)) => derive_base(rest, &hints).ok_or_else(|| {
            invalid(format!(
                "{}.url ({rest}) is not an Azure DevOps REST URL (no _apis segment), and the \
                 delivery has no resourceContainers.collection.baseUrl to take the API base from",
                node.path
            ))
        })?,
        (None, None) => {
            return Err(invalid(format!(
                "{}.url is missing, and the delivery has no resourceContainers.collection.baseUrl: \
                 cannot tell which organization or collection the repository belongs to",
                node.path
            )));
        }
    };
    Ok(Repository {
        id,
        name,
        project,
        project_id,
        organization: organization(&api_url),
        web_url: web_url.map(|u| u.to_string()),
        clone_url: clone_url.map(|u| u.to_string()),
        api_url: api_url.to_string(),
        default_branch: node
            .opt_str("defaultBranch")?
            .map(|b| branch_name(b).to_string()),
    })
}

/// A repository known only from a REST link such as
/// `https://dev.azure.com/org/{project}/_apis/git/repositories/{id}` (comment events of
/// resource version 1.0 carry nothing else). The name is unknown; the id stands in.
pub fn repository_from_link(
    link: &Url,
    base: Option<&Url>,
    project_id: Option<&str>,
) -> Option<Repository> {
    let segments: Vec<String> = link.path_segments()?.map(percent_decode).collect();
    let at = segments
        .iter()
        .position(|s| s.eq_ignore_ascii_case("repositories"))?;
    let id = segments.get(at + 1)?.to_ascii_lowercase();
    let apis = segments
        .iter()
        .position(|s| s.eq_ignore_ascii_case("_apis"))?;
    let project_segment = apis
        .checked_sub(1)
        .and_then(|i| segments.get(i))
        .filter(|s| looks_like_guid(s) || project_id.is_some_and(|p| p.eq_ignore_ascii_case(s)));
    let (project, link_project_id) = match project_segment {
        Some(s) if looks_like_guid(s) => (None, Some(s.to_ascii_lowercase())),
        Some(s) => (Some(s.clone()), None),
        None => (None, None),
    };
    let project_id = project_id.map(str::to_ascii_lowercase).or(link_project_id);
    let hints = [project_id.as_deref().unwrap_or_default()];
    let api_url = match base {
        Some(base) => base.clone(),
        None => derive_base(link, &hints)?,
    };
    Some(Repository {
        name: id.clone(),
        id,
        project,
        project_id,
        organization: organization(&api_url),
        web_url: None,
        clone_url: None,
        api_url: api_url.to_string(),
        default_branch: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_bases_are_derived_from_rest_urls() {
        let project = "6ce954b1-ce1f-45d1-b94d-e6bf2464ba2c";
        let cases = [
            (
                "https://dev.azure.com/Contoso/6ce954b1-ce1f-45d1-b94d-e6bf2464ba2c/_apis/git/repositories/r",
                "https://dev.azure.com/Contoso/",
                "contoso",
            ),
            (
                "https://dev.azure.com/contoso/_apis/git/repositories/r",
                "https://dev.azure.com/contoso/",
                "contoso",
            ),
            (
                "https://org@dev.azure.com/contoso/My%20Project/_apis/git/repositories/r",
                "https://dev.azure.com/contoso/",
                "contoso",
            ),
            (
                "https://Fabrikam.visualstudio.com/DefaultCollection/_apis/git/repositories/r",
                "https://fabrikam.visualstudio.com/DefaultCollection/",
                "fabrikam",
            ),
            (
                "https://fabrikam.visualstudio.com/My%20Project/_apis/git/repositories/r",
                "https://fabrikam.visualstudio.com/",
                "fabrikam",
            ),
            (
                "https://tfs.example.com:8443/tfs/DefaultCollection/My%20Project/_apis/git/repositories/r",
                "https://tfs.example.com:8443/tfs/DefaultCollection/",
                "defaultcollection",
            ),
            (
                "https://ado.example.com/Infra/_apis/git/repositories/r",
                "https://ado.example.com/Infra/",
                "infra",
            ),
        ];
        for (rest, base, org) in cases {
            let url = Url::parse(rest).unwrap();
            let got = derive_base(&url, &[project, "My Project"]).unwrap();
            assert_eq!(got.as_str(), base, "{rest}");
            assert_eq!(organization(&got), org, "{rest}");
        }
        let no_apis = Url::parse("https://dev.azure.com/contoso/p/_git/r").unwrap();
        assert!(derive_base(&no_apis, &[]).is_none());
    }

    #[test]
    fn percent_escapes_are_decoded_leniently() {
        assert_eq!(percent_decode("My%20Project"), "My Project");
        assert_eq!(percent_decode("caf%C3%A9"), "café");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
