//! [`Counts`]: the gate's count of the messages sent through gated refs that are queued or
//! running, and [`Count`], the share of it one message carries.
//!
//! A message counts itself off when its `Count` is dropped: handled, refused, dropped with a
//! send future that was cancelled while it waited for room. A message left in the mailbox
//! of an actor that has stopped for good goes to the dead letters, where it may stay: the
//! counts are kept per actor (a killed child is spawned anew, with a new mailbox, under the
//! same gate), and the next actor's start writes off those of the actors before it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use mycelium_actors::ActorId;

use crate::Foreign;

#[derive(Default)]
pub(crate) struct Counts {
    /// Counted messages, plus one while a direct call runs.
    pending: AtomicUsize,
    /// The counted messages of each actor (one, or two briefly after a kill). `pending` is
    /// changed under this lock, except by direct calls.
    by_actor: Mutex<Vec<(ActorId, usize)>>,
    /// How the gate's callbacks name their actor and its messages, for the dead letters of a
    /// counted message (weak: the callbacks may hold the gate).
    pub(crate) names: OnceLock<Weak<dyn Names>>,
}

/// How a language names its actor and its messages (see [`Foreign::label`]).
pub(crate) trait Names: Send + Sync {
    fn label(&self) -> &'static str;
    fn message_name(&self, type_id: u16) -> &'static str;
}

impl<F: Foreign> Names for F {
    fn label(&self) -> &'static str {
        Foreign::label(self)
    }

    fn message_name(&self, type_id: u16) -> &'static str {
        Foreign::message_name(self, type_id)
    }
}

/// One counted message, sent to `actor`: counted off when dropped.
pub(crate) struct Count {
    counts: Arc<Counts>,
    actor: ActorId,
}

impl Count {
    /// The actor label and the name of the message `type_id`, as the gate's callbacks name
    /// them, while they live.
    pub(crate) fn names(&self, type_id: u16) -> Option<(&'static str, &'static str)> {
        let names = self.counts.names.get()?.upgrade()?;
        Some((names.label(), names.message_name(type_id)))
    }
}

impl Counts {
    pub(crate) fn pending(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }

    fn actors(&self) -> std::sync::MutexGuard<'_, Vec<(ActorId, usize)>> {
        self.by_actor.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a message about to be sent to `actor`.
    pub(crate) fn count(self: &Arc<Self>, actor: ActorId) -> Count {
        let mut actors = self.actors();
        match actors.iter_mut().find(|(a, _)| *a == actor) {
            Some((_, n)) => *n += 1,
            None => actors.push((actor, 1)),
        }
        self.pending.fetch_add(1, Ordering::AcqRel);
        Count {
            counts: self.clone(),
            actor,
        }
    }

    /// Writes off the messages counted for actors other than `actor`, which starts: they
    /// were left in the mailboxes of actors that have stopped for good.
    pub(crate) fn write_off_all_but(&self, actor: ActorId) {
        let mut actors = self.actors();
        let gone: usize = actors
            .iter()
            .filter(|(a, _)| *a != actor)
            .map(|(_, n)| n)
            .sum();
        actors.retain(|(a, _)| *a == actor);
        self.pending.fetch_sub(gone, Ordering::AcqRel);
    }

    /// A direct call starts only on an idle actor: it moves the count from 0 to 1.
    pub(crate) fn begin_direct(&self) -> bool {
        self.pending
            .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The direct call begun with [`begin_direct`](Self::begin_direct) is over.
    pub(crate) fn end_direct(&self) {
        self.pending.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for Count {
    fn drop(&mut self) {
        let mut actors = self.counts.actors();
        // Absent once written off.
        if let Some(i) = actors.iter().position(|(a, _)| *a == self.actor) {
            actors[i].1 -= 1;
            if actors[i].1 == 0 {
                actors.swap_remove(i);
            }
            self.counts.pending.fetch_sub(1, Ordering::AcqRel);
        }
    }
}
