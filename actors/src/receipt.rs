//! Receipts: a note that travels with a message into an actor's mailbox and is signed once
//! the message's handler has run.
//!
//! A link between processes acknowledges a message to its sender only once the receiving
//! actor has taken it for handling, not once it is queued: what sits in a mailbox when the
//! process dies is then still in the sender's resend log. The link gives each message it
//! delivers a [`Receipt`]; the mailbox carries it beside the message, and it is signed
//! ([`ReceiptBook::handled`]) once the actor's handler for it has returned (or failed), or when the
//! message can no longer be handled here and becomes a dead letter (the actor stopped for
//! good), which this node reports. A message handed back to the sender of the tell (a full
//! or closed mailbox) leaves its receipt unsigned: the sender still holds the message.

use std::fmt;
use std::sync::Arc;

/// Where receipts are signed: a link's record of the messages it delivered that were handed
/// to their handlers.
pub trait ReceiptBook: Send + Sync + 'static {
    /// The message numbered `seq` was handled (or became a dead letter here).
    /// May be called more than once for one `seq`, from any thread, in any order.
    fn handled(&self, seq: u64);
}

/// The note that travels with one message: signed once, when the message's handler has
/// returned, or when it is dropped undelivered (a dead letter); [`forget`](Self::forget)
/// leaves it unsigned.
#[must_use = "a receipt dropped here is signed at once"]
pub struct Receipt {
    book: Option<Arc<dyn ReceiptBook>>,
    seq: u64,
}

impl Receipt {
    /// A receipt for message `seq`, signed in `book`.
    pub fn new(book: Arc<dyn ReceiptBook>, seq: u64) -> Self {
        Receipt {
            book: Some(book),
            seq,
        }
    }

    /// The number of the message it is for.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Signs it now.
    pub fn sign(self) {
        drop(self);
    }

    /// Leaves it unsigned: the message was handed back, and its sender still holds it.
    pub fn forget(mut self) {
        self.book = None;
    }
}

impl Drop for Receipt {
    /// Signs the receipt, unless it is dropped while the thread unwinds from a panic: the
    /// message's delivery itself failed then (a dispatcher's bug, say), and a link that did
    /// not record the delivery hands the message over again.
    fn drop(&mut self) {
        if let Some(book) = self.book.take() {
            if !std::thread::panicking() {
                book.handled(self.seq);
            }
        }
    }
}

impl fmt::Debug for Receipt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receipt")
            .field("seq", &self.seq)
            .field("signed", &self.book.is_none())
            .finish()
    }
}
