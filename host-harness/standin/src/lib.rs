//! Local imitations of the services the providers talk to: real HTTP servers on loopback
//! that answer like the service does, keep what was posted in memory, and fail on request.
//!
//! - [`azure_devops`]: the Azure DevOps REST resources the Azure DevOps provider calls;
//! - [`github`]: the GitHub REST resources the GitHub provider calls.
//!
//! They exist for integration tests, `host-harness demo` and the `serve` load tests, and
//! are **never used in production**: the host's egress policy lets a guest reach loopback
//! only with `allow_loopback = true`, which only test configurations set.

// The imitations build their JSON answers with `value[key] = …` on objects they have just
// made, and route on path segments they have just counted; a request they cannot take is
// answered with the service's error, and a handler that panicked would end only its own
// connection. They are tests' instruments, not the host.
#![allow(clippy::indexing_slicing)]

pub mod azure_devops;
pub mod github;
mod server;
