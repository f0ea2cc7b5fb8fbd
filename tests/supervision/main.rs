//! Supervision trees: strategies, restart types, intensity and escalation, backoff,
//! determinism, and what survives a restart. All on the virtual clock.

#[path = "../common/mod.rs"]
mod common;

mod backoff;
mod dynamic_children;
mod escalation;
mod restart_triggers;
mod shutdown;
mod strategies;
mod surviving_a_restart;
