//! Actors on two nodes, wired by one topology file: a `ReplyRecipient` and a `Recipient` for
//! a service on the other node work like local ones; the receiving bus's export table turns
//! frames into typed sends; a dropped link fails asks at once with `AskError::Lost`; lost
//! tells become dead letters; a full link queue hands the message back.

#[path = "../common/mod.rs"]
mod common;

mod addresses;
mod interest_renewal;
mod nodes;
mod remote_subscriptions;
mod topic_forwarding;
