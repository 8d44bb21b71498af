//! One module per driver: `memory`, `boltdb` (embedded redb), `redis`,
//! `memcached`.

pub mod boltdb;
pub mod memcached;
pub mod memory;
pub mod redis;
