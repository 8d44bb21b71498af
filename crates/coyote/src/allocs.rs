//! Allocation counting for bench builds (`--features count-allocs`): the
//! global allocator is `stats_alloc`'s instrumented system allocator, and
//! a plugin exports its count as `coyote_allocations_total` (allocations
//! plus reallocations since start) whenever a `metrics` section exists.
//! Never in a default build: every allocation pays two atomic adds.

use std::alloc::System;

use coyote_host::{BoxFuture, Plan, Planned, Plugin, Running, Start, StartError};
use prometheus_client::metrics::counter::Counter;
use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Allocations and reallocations since the process started.
pub fn allocations() -> u64 {
    let s = GLOBAL.stats();
    (s.allocations + s.reallocations) as u64
}

/// Exports [`allocations`] on `/metrics`.
#[derive(Clone, Copy, Default)]
pub struct AllocsPlugin;

struct Exporting;

impl Plugin for AllocsPlugin {
    fn name(&self) -> &'static str {
        "count-allocs"
    }

    fn plan(&self, plan: &mut Plan<'_>) -> Option<Box<dyn Planned>> {
        plan.section("metrics")?;
        Some(Box::new(Exporting))
    }
}

impl Planned for Exporting {
    fn start(
        self: Box<Self>,
        start: Start,
    ) -> BoxFuture<'static, Result<Box<dyn Running>, StartError>> {
        Box::pin(async move {
            start.registry.add_metrics(|r| {
                let c = Counter::<u64>::default();
                c.inc_by(allocations());
                r.register(
                    "coyote_allocations",
                    "Heap allocations and reallocations of the server process (count-allocs build)",
                    c,
                );
            });
            Ok(Box::new(Exporting) as Box<dyn Running>)
        })
    }
}

impl Running for Exporting {}
