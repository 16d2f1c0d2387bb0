//! Checking a component against the world, and compiling it once.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::wit::ContractVersion;

/// The contract package every provider must export.
pub const PACKAGE: &str = "vcs:provider";
/// WASI interfaces granted (over an empty context) because Rust's std imports them.
/// Sockets, HTTP and anything else are refused.
pub const GRANTED_WASI: [&str; 19] = [
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:filesystem/types",
];
/// Granted too: preopens, which the empty context leaves empty.
const GRANTED_WASI_EXTRA: [&str; 1] = ["wasi:filesystem/preopens"];

/// Why a component was not loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read component {path}: {source}")]
    Read {
        /// The path given.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The bytes are not a WebAssembly component.
    #[error("{0}")]
    NotAComponent(String),
    /// wasmtime could not compile it.
    #[error("cannot compile component {name}: {message}")]
    Compile {
        /// The component's name (path).
        name: String,
        /// wasmtime's reason.
        message: String,
    },
    /// It does not fit the world: a missing or incompatible export, or an import the
    /// host does not grant.
    #[error("component {name} is rejected: {reason}")]
    Rejected {
        /// The component's name (path).
        name: String,
        /// What is wrong and what to change.
        reason: String,
    },
    /// Linking failed (types of an import or export do not match the contract).
    #[error("component does not link against vcs:provider@{version}: {message}")]
    Link {
        /// The contract version it claims.
        version: ContractVersion,
        /// wasmtime's reason.
        message: String,
    },
}

/// A parsed component-model interface name: `namespace:package/interface@version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceName {
    /// `namespace:package`, e.g. `vcs:provider`.
    pub package: String,
    /// Interface name, e.g. `auth`; empty for a bare function or instance import.
    pub interface: String,
    /// Version, when the name carries one.
    pub version: Option<String>,
}

impl InterfaceName {
    /// Parse `ns:pkg/iface@1.2.3`; plain names (`foo`) have an empty package.
    pub fn parse(name: &str) -> Self {
        let (path, version) = match name.split_once('@') {
            Some((path, version)) => (path, Some(version.to_string())),
            None => (name, None),
        };
        match path.split_once('/') {
            Some((package, interface)) => Self {
                package: package.to_string(),
                interface: interface.to_string(),
                version,
            },
            None => Self {
                package: String::new(),
                interface: path.to_string(),
                version,
            },
        }
    }

    /// `namespace:package/interface` without the version.
    pub fn unversioned(&self) -> String {
        format!("{}/{}", self.package, self.interface)
    }

    /// The semver line of the version, `(major, minor)` for `0.y.z` (where the minor is
    /// the breaking digit) and `(major, 0)` from `1.0` on; `None` without a full
    /// `x.y.z` version.
    pub fn semver_line(&self) -> Option<(u64, u64)> {
        let version = self.version.as_deref()?;
        let core = version.split(['-', '+']).next().unwrap_or("");
        let mut parts = core.split('.').map(str::parse::<u64>);
        let (Some(Ok(major)), Some(Ok(minor)), Some(Ok(_patch)), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        Some(if major == 0 { (0, minor) } else { (major, 0) })
    }

    /// The contract version this name belongs to, when the host supports its line.
    pub fn contract_version(&self) -> Option<ContractVersion> {
        if self.package != PACKAGE {
            return None;
        }
        let (major, minor) = self.semver_line()?;
        ContractVersion::from_line(major, minor)
    }
}

impl fmt::Display for InterfaceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.package.is_empty() {
            write!(f, "{}", self.interface)?;
        } else {
            write!(f, "{}/{}", self.package, self.interface)?;
        }
        if let Some(version) = &self.version {
            write!(f, "@{version}")?;
        }
        Ok(())
    }
}

/// What a component is, as `inspect` prints it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ComponentInfo {
    /// The provider package and version, e.g. `vcs:provider@0.1.0`, when it exports one.
    pub package: Option<String>,
    /// The supported contract version that package belongs to.
    #[serde(serialize_with = "version_text")]
    pub contract: Option<ContractVersion>,
    /// Export names.
    pub exports: Vec<String>,
    /// Import names, each with whether the host grants it.
    pub imports: Vec<ImportInfo>,
    /// Size of the component file in bytes.
    pub size_bytes: usize,
}

/// One import and the host's answer to it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImportInfo {
    /// The import's name.
    pub name: String,
    /// Why it is granted, or `None` when it is refused.
    pub granted: Option<&'static str>,
}

fn version_text<S: serde::Serializer>(
    version: &Option<ContractVersion>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match version {
        Some(version) => serializer.serialize_str(&version.to_string()),
        None => serializer.serialize_none(),
    }
}

/// SHA-256 of the component bytes: the cache and dedupe key.
pub fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compile the component, or deserialize the precompiled artifact cached for this
/// component and this engine's compatibility hash.
pub fn compile(
    engine: &Engine,
    name: &str,
    bytes: &[u8],
    digest: &[u8; 32],
    cache_dir: Option<&Path>,
) -> Result<Component, LoadError> {
    check_header(bytes)?;
    let cached = cache_dir.map(|dir| {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        dir.join(format!("{}-{:016x}.cwasm", hex(digest), hasher.finish()))
    });
    if let Some(path) = &cached
        && path.exists()
    {
        // SAFETY: the cache directory is the host's own; the artifact was written by
        // `Component::serialize` of an engine with the same compatibility hash (part
        // of the file name), and wasmtime re-checks the header before use.
        #[allow(unsafe_code)]
        match unsafe { Component::deserialize_file(engine, path) } {
            Ok(component) => return Ok(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), "ignoring a stale cached component: {e:#}")
            }
        }
    }
    let component = Component::new(engine, bytes).map_err(|e| LoadError::Compile {
        name: name.to_string(),
        message: format!("{e:#}"),
    })?;
    if let Some(path) = &cached
        && let Err(e) = write_atomically(path, &component)
    {
        tracing::warn!(path = %path.display(), "cannot cache the compiled component: {e:#}");
    }
    Ok(component)
}

fn write_atomically(path: &Path, component: &Component) -> anyhow::Result<()> {
    let serialized = component.serialize()?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // Write beside, then rename: a concurrent reader sees the old file or the whole new one.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, serialized)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn check_header(bytes: &[u8]) -> Result<(), LoadError> {
    const MAGIC: &[u8; 4] = b"\0asm";
    match bytes.get(..8) {
        Some(header) if header.starts_with(MAGIC) => match header.get(4..8) {
            Some([_, _, 1, 0]) => Ok(()),
            Some([1, 0, 0, 0]) => Err(LoadError::NotAComponent(
                "this is a core WebAssembly module, not a component: build the provider for \
                 wasm32-wasip2 (or wrap it with `wasm-tools component new`)"
                    .into(),
            )),
            _ => Err(LoadError::NotAComponent(
                "unknown WebAssembly binary version: expected a component".into(),
            )),
        },
        _ => Err(LoadError::NotAComponent(
            "not a WebAssembly file (no \\0asm header)".into(),
        )),
    }
}

/// Why the host grants an import to a component of contract `version`, or `None`.
fn grant(name: &InterfaceName, version: Option<ContractVersion>) -> Option<&'static str> {
    let unversioned = name.unversioned();
    if let Some(version) = version
        && name.contract_version() == Some(version)
        && version.world_imports().contains(&name.interface.as_str())
    {
        return Some("vcs:provider world import");
    }
    let is_wasi_02 = name
        .version
        .as_deref()
        .is_some_and(|v| v.starts_with("0.2."));
    if is_wasi_02
        && (GRANTED_WASI.contains(&unversioned.as_str())
            || GRANTED_WASI_EXTRA.contains(&unversioned.as_str()))
    {
        return Some("WASI, empty context");
    }
    None
}

/// Describe a compiled component.
pub fn describe(engine: &Engine, component: &Component, size_bytes: usize) -> ComponentInfo {
    let ty = component.component_type();
    let exports: Vec<String> = ty
        .exports(engine)
        .map(|(name, _)| name.to_string())
        .collect();
    let provider_export = exports
        .iter()
        .map(|e| InterfaceName::parse(e))
        .find(|n| n.package == PACKAGE);
    let contract = provider_export
        .as_ref()
        .and_then(InterfaceName::contract_version);
    let package =
        provider_export.map(|n| format!("{}@{}", n.package, n.version.unwrap_or_default()));
    let imports = ty
        .imports(engine)
        .map(|(name, _)| ImportInfo {
            name: name.to_string(),
            granted: grant(&InterfaceName::parse(name), contract),
        })
        .collect();
    ComponentInfo {
        package,
        contract,
        exports,
        imports,
        size_bytes,
    }
}

/// The versions this host supports, for messages: `0.1.x`.
fn supported_lines() -> String {
    ContractVersion::ALL
        .iter()
        .map(|v| {
            let (major, minor) = v.line();
            format!("{PACKAGE}@{major}.{minor}.x")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Check that the component exports one supported contract version's interfaces and
/// imports nothing beyond that version's world and the granted WASI interfaces.
pub fn check_world(
    engine: &Engine,
    component: &Component,
    name: &str,
) -> Result<ComponentInfo, LoadError> {
    let info = describe(engine, component, 0);
    let reject = |reason: String| LoadError::Rejected {
        name: name.to_string(),
        reason,
    };
    let exports: Vec<InterfaceName> = info
        .exports
        .iter()
        .map(|e| InterfaceName::parse(e))
        .collect();
    let Some(version) = info.contract else {
        return Err(reject(
            match exports.iter().find(|e| e.package == PACKAGE) {
                Some(export) => format!(
                    "it exports {export}, a contract version this host does not link (it \
                 supports {}): rebuild it against one of those (wit/since_v*)",
                    supported_lines()
                ),
                None => format!(
                    "it exports no {PACKAGE} interface (its exports: {})",
                    if info.exports.is_empty() {
                        "none".to_string()
                    } else {
                        info.exports.join(", ")
                    }
                ),
            },
        ));
    };
    let (major, minor) = version.line();
    for required in version.required_exports() {
        let found = exports
            .iter()
            .find(|e| e.package == PACKAGE && e.interface == *required);
        match found {
            Some(export) if export.contract_version() == Some(version) => {}
            Some(export) => {
                return Err(reject(format!(
                    "it exports {export} beside {PACKAGE}@{version}: every interface must come \
                     from one contract version"
                )));
            }
            None => {
                return Err(reject(format!(
                    "it does not export {PACKAGE}/{required}@{major}.{minor}.x (its exports: {})",
                    if info.exports.is_empty() {
                        "none".to_string()
                    } else {
                        info.exports.join(", ")
                    }
                )));
            }
        }
    }
    let refused: Vec<&str> = info
        .imports
        .iter()
        .filter(|i| i.granted.is_none())
        .map(|i| i.name.as_str())
        .collect();
    if !refused.is_empty() {
        return Err(reject(format!(
            "it imports {}, which this host does not grant: providers reach the network only \
             through {PACKAGE}/http and keep state only in {PACKAGE}/storage",
            refused.join(", ")
        )));
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_parse_and_check_versions() {
        let n = InterfaceName::parse("vcs:provider/auth@0.1.3");
        assert_eq!(n.package, "vcs:provider");
        assert_eq!(n.interface, "auth");
        assert_eq!(n.contract_version(), Some(ContractVersion::V0_1));
        assert_eq!(n.to_string(), "vcs:provider/auth@0.1.3");
        for incompatible in [
            "vcs:provider/auth@0.2.0",
            "vcs:provider/auth@1.1.0",
            "vcs:provider/auth@0.0.1",
            "vcs:provider/auth",
            "vcs:provider/auth@0.1",
            "vcs:provider/auth@0.1.x",
        ] {
            assert!(
                InterfaceName::parse(incompatible)
                    .contract_version()
                    .is_none(),
                "{incompatible}"
            );
        }
        assert_eq!(
            InterfaceName::parse("vcs:provider/auth@0.1.0-rc.1").contract_version(),
            Some(ContractVersion::V0_1)
        );
        assert_eq!(
            InterfaceName::parse("other:pkg/auth@0.1.0").contract_version(),
            None
        );
    }

    #[test]
    fn grants_cover_world_and_std_wasi_only() {
        for granted in [
            "vcs:provider/http@0.1.0",
            "vcs:provider/storage@0.1.9",
            "wasi:cli/environment@0.2.6",
            "wasi:io/streams@0.2.0",
            "wasi:filesystem/preopens@0.2.3",
            "wasi:random/random@0.2.6",
        ] {
            assert!(
                grant(&InterfaceName::parse(granted), Some(ContractVersion::V0_1)).is_some(),
                "{granted}"
            );
        }
        for refused in [
            "wasi:sockets/tcp@0.2.6",
            "wasi:sockets/ip-name-lookup@0.2.6",
            "wasi:http/outgoing-handler@0.2.6",
            "wasi:cli/environment@0.3.0",
            "vcs:provider/http@0.2.0",
            "vcs:provider/auth@0.1.0",
            "evil:backdoor/shell@1.0.0",
            "plain-function",
        ] {
            assert!(
                grant(&InterfaceName::parse(refused), Some(ContractVersion::V0_1)).is_none(),
                "{refused}"
            );
        }
    }

    #[test]
    fn headers_tell_modules_from_components() {
        assert!(check_header(b"\0asm\x0d\0\x01\0rest").is_ok());
        let module = check_header(b"\0asm\x01\0\0\0").unwrap_err().to_string();
        assert!(module.contains("core WebAssembly module"), "{module}");
        let text = check_header(b"hello world").unwrap_err().to_string();
        assert!(text.contains("not a WebAssembly file"), "{text}");
        assert!(check_header(b"").is_err());
    }
}
