//! The drivers behind pipelines: `memory`, and `boltdb` (RoadRunner's keys,
//! stored in an embedded redb database), both [`Backlog`] drivers over a
//! [`Store`].

pub mod backlog;

pub use backlog::{Backlog, BacklogOptions, NoStore, Store, Stored};

/// Placeholder until the durable store lands (replaced in the same series).
pub mod durable {
    use std::path::Path;
    use std::sync::Arc;

    use super::{Store, Stored};
    use crate::JobsError;

    /// Opens the durable store of `pipeline` at `path`.
    ///
    /// # Errors
    /// Always, for now.
    pub async fn open(
        path: &Path,
        _permissions: u32,
        pipeline: &str,
    ) -> Result<(Arc<dyn Store>, Vec<Stored>), JobsError> {
        Err(JobsError::Storage {
            pipeline: pipeline.to_owned(),
            message: format!("{}: the durable store is not built yet", path.display()),
        })
    }
}
