//! Supervised worker pool.
