//! The drivers behind pipelines: `memory`, and `boltdb` (RoadRunner's keys,
//! stored in an embedded redb database), both [`Backlog`] drivers over a
//! [`Store`] ([`NoStore`], [`RedbStore`]).

pub mod backlog;
pub mod durable;

pub use backlog::{Backlog, BacklogOptions, NoStore, Store, Stored};
pub use durable::{open as open_durable, RedbStore};
