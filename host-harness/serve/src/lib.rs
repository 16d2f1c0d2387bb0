//! `serve`: the platform side for real. An HTTP endpoint that receives webhook
//! deliveries for any number of integrations of any number of providers, a durable
//! queue, and workers that turn events into runs, pull-request comments and statuses.
//!
//! A delivery's path:
//!
//! 1. `POST /webhooks/{integration}` (or `/webhooks/{provider}/{integration}`): the
//!    integration's provider checks the delivery's credentials (401), the host the
//!    provider's size limit (413), then the provider normalizes it with its storage
//!    writes *staged* ([`staged`]) — the core's one delivery pipeline; the platform's
//!    decision ([`job`]) turns the event into jobs, and the staged writes and the queue
//!    entries are committed together, atomically, before the answer (202 queued, 200
//!    duplicate/ignored, 400 invalid). A crash before the commit loses nothing (the sender
//!    got no 2xx and retries); a crash after it loses nothing either.
//! 2. A dispatcher hands queued entries to a bounded set of workers, oldest first, one
//!    job per pull request at a time ([`queue`] leases and locks, shared by every process
//!    on the same store).
//! 3. A worker runs the job in checkpointed stages: pending statuses and the
//!    [`Executor`]'s run, then `comments.publish`, then final statuses; retryable
//!    failures back off, permanent ones go to the dead letters.
//!
//! `/healthz` and `/metrics` (Prometheus text) sit beside the webhook routes. One engine
//! serves every integration; each provider is compiled once and shared by the
//! integrations that name it.

mod activity;
mod config;
mod dispatch;
pub mod executor;
mod intake;
pub mod job;
pub mod metrics;
mod providers;
pub mod queue;
mod routes;
mod server;
pub mod staged;
mod worker;

pub use activity::{Activity, Observer};
pub use config::{ExecutorConfig, IntegrationEntry, ServeConfig, ServeSettings};
pub use executor::{Executor, ExecutorError, RecordedExecutor, RunRequest};
pub use metrics::Metrics;
pub use providers::ProviderSet;
pub use server::{RunningServer, Server, ServerOptions, run_from_config};
pub use vcs_host_store::StoreConfig;
