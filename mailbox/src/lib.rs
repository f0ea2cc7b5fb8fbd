//! Mailboxes for Mycelium actors.
//!
//! A mailbox is a multi-producer, single-consumer queue with two lanes: a bounded *user* lane
//! for ordinary messages and an unbounded *system* lane for control signals, which is always
//! read first. Bounded is the default; a full mailbox makes [`Sender`]'s [`send`](Mailbox::send) wait and
//! [`try_send`](Mailbox::try_send) hand the message back, so nothing is dropped silently.
//!
//! ```
//! use mycelium_mailbox::{channel, MailboxConfig};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let (tx, mut rx) = channel::<&str>(MailboxConfig::Bounded(8));
//! tx.send("tick").await.unwrap();
//! tx.send_system("stop").unwrap();
//! assert_eq!(rx.recv().await, Some("stop")); // the signal overtakes the queued message
//! assert_eq!(rx.recv().await, Some("tick"));
//! rx.close();
//! assert!(tx.try_send("late").is_err()); // and the message comes back to the caller
//! # });
//! ```
//!
//! [`channel`] puts the shared part, a [`Mailbox`], behind an `Arc` for its [`Sender`]s and
//! [`Receiver`]. A structure that already has one shared home can hold the `Mailbox` inline,
//! send through `&Mailbox`, and keep the receiving side's state in an [`Inbox`]: an actor cell
//! does, which saves an allocation per actor.
//!
//! This crate is the local queue only. A mailbox that lives in another process (a socket
//! proxy, a shared-memory ring) does not implement anything here: it plugs in one level up,
//! as a `MessageSink<M>` (and `RequestSink<M, R>` for asks) behind the `Recipient<M>` and
//! `ReplyRecipient<M, R>` addresses of `mycelium-actors`, where messages are typed.

#![warn(missing_docs)]

mod chan;
mod config;
mod error;
mod lock;
mod loom;
#[cfg(test)]
mod tests;

pub use chan::{channel, Empty, Inbox, Mailbox, Receiver, Send, Sender, Unless};
pub use config::MailboxConfig;
pub use error::{SendError, TrySendError};
