//! Errors returned when a message cannot be queued. Every error hands the message back.

use std::fmt;

/// Why [`Mailbox::try_send`](crate::Mailbox::try_send) did not queue a message. The message is
/// returned inside, so nothing is lost.
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum TrySendError<T> {
    /// The bounded mailbox holds `capacity` messages already. Retry later, use `send` to wait
    /// for space, or raise the capacity.
    Full(T),
    /// The mailbox was closed (its actor stopped). The message will never be handled.
    Closed(T),
}

impl<T> TrySendError<T> {
    /// The message that was not queued.
    pub fn into_inner(self) -> T {
        match self {
            TrySendError::Full(m) | TrySendError::Closed(m) => m,
        }
    }

    /// True when the mailbox was full (and still open).
    pub fn is_full(&self) -> bool {
        matches!(self, TrySendError::Full(_))
    }
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str(
                "mailbox is full: wait for space with `send`, retry later, or raise its capacity",
            ),
            TrySendError::Closed(_) => f.write_str(
                "mailbox is closed: its actor has stopped and will not handle this message",
            ),
        }
    }
}

impl<T> std::error::Error for TrySendError<T> {}

/// [`Mailbox::send`](crate::Mailbox::send) failed because the mailbox is closed. The message is
/// returned inside.
#[derive(PartialEq, Eq, Clone, Copy)]
pub struct SendError<T>(pub T);

impl<T> SendError<T> {
    /// The message that was not queued.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("mailbox is closed: its actor has stopped and will not handle this message")
    }
}

impl<T> std::error::Error for SendError<T> {}
