//! The drivers behind pipelines: `memory`, and `boltdb` (RoadRunner's keys,
//! stored in an embedded redb database), both [`Backlog`] drivers over a
//! [`Store`] ([`NoStore`], [`RedbStore`]); brokers plug in through
//! [`broker`] (one module and one [`broker::BROKERS`] entry each).

pub mod backlog;
pub mod broker;
pub mod durable;

pub use backlog::{Backlog, BacklogOptions, NoStore, Store, Stored};
pub use durable::{open as open_durable, RedbStore};
