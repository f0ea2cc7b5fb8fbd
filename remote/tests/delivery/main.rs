//! Delivery guarantees: order, reconnection without loss or duplicates, loss reports when a
//! peer restarts, asks failing when their link drops, backpressure, heartbeats.

#[path = "../common/mod.rs"]
mod common;

mod asks;
mod backpressure;
mod closing;
mod draining;
mod frame_size;
mod heartbeats;
mod ordering;
mod peer_restart;
mod reconnection;
mod socket_files;
mod tell_sink;
