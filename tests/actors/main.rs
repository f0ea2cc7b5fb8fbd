//! The actor core: sending, mailboxes, asks, timers, pinned actors, dead letters, kill,
//! shutdown, and isolation between buses.

#[path = "../common/mod.rs"]
mod common;

mod bus_clock;
mod buses;
mod failures;
mod sending;
mod stopping;
