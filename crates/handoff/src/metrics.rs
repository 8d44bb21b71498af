//! The listeners' figures for Prometheus, read at every scrape:
//! `coyote_handoff_connections_open`, `coyote_handoff_accepted_total`,
//! `coyote_handoff_refused_total`, `coyote_handoff_queue_size`, each
//! labelled `listener`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::group::Group;

type Labels = Vec<(String, String)>;

/// Registers the current figures of `groups` with `registry`.
pub(crate) fn register(groups: &[Arc<Group>], registry: &mut Registry) {
    let open = Family::<Labels, Gauge>::default();
    let queued = Family::<Labels, Gauge>::default();
    let accepted = Family::<Labels, Counter>::default();
    let refused = Family::<Labels, Counter>::default();
    for group in groups {
        let labels = vec![("listener".to_owned(), group.spec.name.clone())];
        let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        open.get_or_create(&labels).set(as_i64(group.open()));
        queued
            .get_or_create(&labels)
            .set(as_i64(group.queued.load(Ordering::Relaxed)));
        accepted
            .get_or_create(&labels)
            .inc_by(group.accepted.load(Ordering::Relaxed));
        refused
            .get_or_create(&labels)
            .inc_by(group.refused.load(Ordering::Relaxed));
    }
    registry.register(
        "coyote_handoff_connections_open",
        "Connections the handoff workers hold open",
        open,
    );
    registry.register(
        "coyote_handoff_accepted",
        "Connections accepted by the handoff listeners",
        accepted,
    );
    registry.register(
        "coyote_handoff_refused",
        "Connections given the overflow action (no worker in time, queue full)",
        refused,
    );
    registry.register(
        "coyote_handoff_queue_size",
        "Accepted connections waiting for a worker (fd_passing)",
        queued,
    );
}
