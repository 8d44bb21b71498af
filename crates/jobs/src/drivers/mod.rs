//! The drivers behind pipelines: `memory`, and `boltdb` (RoadRunner's keys,
//! stored in an embedded redb database), both [`Backlog`] drivers over a
//! [`Store`].

pub mod backlog;

pub use backlog::{Backlog, BacklogOptions, NoStore, Store, Stored};
