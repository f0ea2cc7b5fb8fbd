//! Dead letters: messages that were not handled, and why.

use std::any::Any;
use std::collections::VecDeque;
use std::fmt;
use std::sync::Mutex;

use tokio::sync::Notify;

use crate::{ActorId, Failure, NodeId, StopReason};

/// Why a message became a dead letter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeadLetterReason {
    /// Its handler failed (panicked, or a `tell`'s handler returned an error). The message was
    /// consumed by the handler, so only its type is recorded.
    HandlerFailed(Failure),
    /// It was still queued when its actor stopped for good. The message itself is kept.
    ActorStopped(StopReason),
    /// It left this process for `node` and was lost on the way: a link posts this for each
    /// tell it could not deliver (the connection dropped and could not resend, the peer
    /// restarted, the resend buffer overflowed). The message left as bytes, so only its type
    /// is recorded.
    Lost {
        /// The node it was sent to.
        node: NodeId,
        /// What the link knows of the loss.
        reason: String,
    },
}

impl fmt::Display for DeadLetterReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeadLetterReason::HandlerFailed(failure) => write!(f, "its handler {failure}"),
            DeadLetterReason::ActorStopped(reason) => {
                write!(f, "it was still queued when the actor {reason}")
            }
            DeadLetterReason::Lost { node, reason } => {
                write!(f, "it left this process for {node} and was lost ({reason})")
            }
        }
    }
}

/// A message that was not handled.
pub struct DeadLetter {
    /// The actor it was sent to.
    pub actor: ActorId,
    /// The actor's type name.
    pub actor_type: &'static str,
    /// The message's type name.
    pub message_type: &'static str,
    /// Why it was not handled.
    pub reason: DeadLetterReason,
    /// The message, when it was never given to a handler. Use
    /// [`downcast`](DeadLetter::downcast) to get it back.
    pub message: Option<Box<dyn Any + Send>>,
}

impl DeadLetter {
    /// Takes the message back as a `M`, if it is one and was kept.
    pub fn downcast<M: 'static>(&mut self) -> Option<M> {
        let boxed = self.message.take()?;
        match boxed.downcast::<M>() {
            Ok(m) => Some(*m),
            Err(other) => {
                self.message = Some(other);
                None
            }
        }
    }
}

impl fmt::Debug for DeadLetter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeadLetter")
            .field("actor", &self.actor)
            .field("actor_type", &self.actor_type)
            .field("message_type", &self.message_type)
            .field("reason", &self.reason)
            .field("kept", &self.message.is_some())
            .finish()
    }
}

impl fmt::Display for DeadLetter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` to {} {}: {}",
            self.message_type, self.actor_type, self.actor, self.reason
        )
    }
}

/// How many dead letters of one event ([`DeadLetters::post_all`]) are logged one by one; the
/// others are counted in one more warning.
pub const LOGGED_PER_EVENT: usize = 8;

/// The dead-letter office of one bus: the most recent dead letters (up to a limit) and a
/// count of all of them.
pub struct DeadLetters {
    inner: Mutex<Office>,
    notify: Notify,
    limit: usize,
}

struct Office {
    letters: VecDeque<DeadLetter>,
    total: u64,
    evicted: u64,
}

impl Office {
    /// Keeps `letter` (evicting the oldest when `limit` are held) and counts it.
    fn file(&mut self, letter: DeadLetter, limit: usize) {
        self.total += 1;
        if self.letters.len() == limit {
            self.letters.pop_front();
            self.evicted += 1;
        }
        self.letters.push_back(letter);
    }
}

impl DeadLetters {
    pub(crate) fn new(limit: usize) -> Self {
        DeadLetters {
            inner: Mutex::new(Office {
                letters: VecDeque::new(),
                total: 0,
                evicted: 0,
            }),
            notify: Notify::new(),
            limit: limit.max(1),
        }
    }

    /// Files a dead letter: logged as a `tracing` warning under target
    /// `mycelium::dead_letters`, kept (up to the bus's limit) and counted. The bus posts the
    /// messages its actors could not handle; a link to another process posts the tells it
    /// lost ([`DeadLetterReason::Lost`]).
    ///
    /// ```
    /// use mycelium_actors::{ActorId, Bus, DeadLetter, DeadLetterReason, NodeId};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let bus = Bus::new();
    /// bus.dead_letters().post(DeadLetter {
    ///     actor: ActorId::new(NodeId::new(2), 7),
    ///     actor_type: "remote",
    ///     message_type: "NewOrder",
    ///     reason: DeadLetterReason::Lost { node: NodeId::new(2), reason: "peer restarted".into() },
    ///     message: None,
    /// });
    /// let letters = bus.dead_letters().drain();
    /// assert_eq!(letters[0].to_string(), "`NewOrder` to remote #7@node2: it left this process for node2 and was lost (peer restarted)");
    /// # });
    /// ```
    pub fn post(&self, letter: DeadLetter) {
        log(&letter);
        self.lock().file(letter, self.limit);
        self.notify.notify_waiters();
    }

    /// Files the dead letters of one event (an actor that stopped with mail queued, a link
    /// that lost what it had queued), in order: each kept and counted as
    /// [`post`](Self::post) does, but only the first [`LOGGED_PER_EVENT`] logged one by one,
    /// the rest in one more warning with their count. An actor stopped with ten thousand
    /// messages queued, or a peer restarted under a full queue, is nine lines in the log, not
    /// ten thousand; every letter is still in the office (up to its limit) and in
    /// [`total`](Self::total).
    ///
    /// ```
    /// use mycelium_actors::{ActorId, Bus, DeadLetter, DeadLetterReason, NodeId, StopReason};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let bus = Bus::new();
    /// let letter = |n: u64| DeadLetter {
    ///     actor: ActorId::new(NodeId::new(1), n),
    ///     actor_type: "Probe",
    ///     message_type: "Record",
    ///     reason: DeadLetterReason::ActorStopped(StopReason::Normal),
    ///     message: None,
    /// };
    /// bus.dead_letters().post_all((0..100).map(letter)); // 9 warnings: 8 letters, then "92 more"
    /// assert_eq!(bus.dead_letters().len(), 100);
    /// assert_eq!(bus.dead_letters().total(), 100);
    /// # });
    /// ```
    pub fn post_all(&self, letters: impl IntoIterator<Item = DeadLetter>) {
        let mut filed = Vec::new();
        for letter in letters {
            if filed.len() < LOGGED_PER_EVENT {
                log(&letter);
            }
            filed.push(letter);
        }
        if filed.is_empty() {
            return;
        }
        if let Some(first) = filed.get(LOGGED_PER_EVENT) {
            let more = filed.len() - LOGGED_PER_EVENT;
            tracing::warn!(
                target: "mycelium::dead_letters",
                more,
                first_actor = %first.actor,
                first_actor_type = first.actor_type,
                first_message_type = first.message_type,
                "{more} more dead letters of the same event, not logged one by one (the bus \
                 keeps the latest {})",
                self.limit
            );
        }
        let mut office = self.lock();
        for letter in filed {
            office.file(letter, self.limit);
        }
        drop(office);
        self.notify.notify_waiters();
    }

    /// Takes every dead letter held now, oldest first.
    pub fn drain(&self) -> Vec<DeadLetter> {
        self.lock().letters.drain(..).collect()
    }

    /// Waits for the next dead letter and takes it.
    pub async fn recv(&self) -> DeadLetter {
        loop {
            let notified = self.notify.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if let Some(letter) = self.lock().letters.pop_front() {
                return letter;
            }
            notified.await;
        }
    }

    /// How many dead letters are held now.
    pub fn len(&self) -> usize {
        self.lock().letters.len()
    }

    /// True when none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many dead letters this bus has had in all, including drained and evicted ones.
    pub fn total(&self) -> u64 {
        self.lock().total
    }

    /// How many were dropped from the office because it held `limit` already.
    pub fn evicted(&self) -> u64 {
        self.lock().evicted
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Office> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Logs one dead letter: a `tracing` warning under target `mycelium::dead_letters`.
fn log(letter: &DeadLetter) {
    tracing::warn!(
        target: "mycelium::dead_letters",
        actor = %letter.actor,
        actor_type = letter.actor_type,
        message_type = letter.message_type,
        reason = %letter.reason,
        "dead letter"
    );
}
