//! What a server did, as it happened: for the demo's timeline, tests and embedders.

use std::sync::Arc;

/// Something that happened, for the demo's timeline and for tests.
#[derive(Debug, Clone, PartialEq)]
pub enum Activity {
    /// A delivery was answered.
    Answered {
        /// Integration id.
        integration: String,
        /// HTTP status.
        status: u16,
        /// Outcome label (as in `/metrics`).
        outcome: String,
        /// The provider's delivery id.
        delivery_id: Option<String>,
        /// A reason or summary for people.
        detail: String,
        /// Jobs queued.
        queued: Vec<String>,
    },
    /// A job started (or resumed).
    JobStarted {
        /// What it is.
        job: String,
    },
    /// The executor returned a report.
    RunFinished {
        /// The job.
        job: String,
        /// Per workspace: name and summary.
        summary: String,
    },
    /// The report was published on the pull request.
    Published {
        /// The job.
        job: String,
        /// created / updated / unchanged / skipped.
        action: String,
        /// Comment ids.
        comments: Vec<String>,
    },
    /// A status was set.
    StatusSet {
        /// The job.
        job: String,
        /// Context (`genre/name`).
        context: String,
        /// State.
        state: String,
    },
    /// A reply was posted.
    Replied {
        /// The job.
        job: String,
    },
    /// Something was skipped or failed without failing the job.
    Note {
        /// The job.
        job: String,
        /// What.
        message: String,
    },
    /// The job finished.
    JobDone {
        /// The job.
        job: String,
    },
    /// The job failed and will be retried.
    JobRetrying {
        /// The job.
        job: String,
        /// Why.
        error: String,
    },
    /// The job was given up.
    JobDead {
        /// The job.
        job: String,
        /// Why.
        error: String,
    },
}

/// Receives every [`Activity`] (from several threads).
pub type Observer = Arc<dyn Fn(&Activity) + Send + Sync>;
