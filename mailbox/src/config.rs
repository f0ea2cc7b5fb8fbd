//! How a mailbox is sized.

/// The capacity of a mailbox.
///
/// Bounded is the default: a sender that outruns its actor waits (`send`) or gets its message
/// back (`try_send`) instead of growing memory without limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailboxConfig {
    /// At most this many user messages wait in the queue. A capacity of 0 is raised to 1.
    Bounded(usize),
    /// No limit: senders never wait. Use only where the producer is known to be slower than the
    /// consumer.
    Unbounded,
}

impl MailboxConfig {
    /// The default capacity of a bounded mailbox.
    pub const DEFAULT_CAPACITY: usize = 1024;

    pub(crate) fn capacity(self) -> usize {
        match self {
            MailboxConfig::Bounded(n) => n.max(1),
            MailboxConfig::Unbounded => usize::MAX,
        }
    }
}

impl Default for MailboxConfig {
    fn default() -> Self {
        MailboxConfig::Bounded(Self::DEFAULT_CAPACITY)
    }
}
