//! .rr.yaml model.
