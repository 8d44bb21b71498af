//! [`JobsError`]: what a push, a pipeline command or a driver can fail with.

/// Why a jobs operation failed. The texts are what RPC callers see.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JobsError {
    /// The named pipeline does not exist (RoadRunner's wording).
    #[error("no such pipeline, requested: {0}")]
    NoSuchPipeline(String),
    /// A pipeline of that name already exists (declare).
    #[error("pipeline {0} already exists")]
    PipelineExists(String),
    /// A job or a declared pipeline is invalid (empty id, negative priority, ...).
    #[error("{0}")]
    Invalid(String),
    /// The pipeline holds `pipeline_size` jobs already.
    #[error("pipeline {pipeline} is full: {limit} jobs are waiting (jobs.pipeline_size)")]
    Full {
        /// The pipeline.
        pipeline: String,
        /// `jobs.pipeline_size`.
        limit: usize,
    },
    /// The pipeline was stopped or destroyed.
    #[error("pipeline {0} is stopped")]
    Stopped(String),
    /// Pause / resume in the wrong state (RoadRunner's wording).
    #[error("{0}")]
    State(String),
    /// The durable store failed (disk, database).
    #[error("{pipeline}: storage: {message}")]
    Storage {
        /// The pipeline.
        pipeline: String,
        /// What the store said.
        message: String,
    },
}
