//! [`DeliverySwitch`]: ends a foreign actor's topic subscription at the handler, not only at
//! the topic table. Cancelling a [`Subscription`](mycelium_actors::Subscription) stops new
//! publications from reaching it, but those already in the actor's mailbox are still handled
//! (Rust's rule). A host whose unsubscribe promises that nothing more is delivered once it
//! returns (the OCaml binding's) subscribes through [`ForeignRef::switched`]: each
//! publication carries the switch, the actor's task looks at it right before the handler
//! runs, and [`DeliverySwitch::close`] waits for a delivery that has already started on
//! another thread.
//!
//! [`ForeignRef::switched`]: crate::ForeignRef::switched

use std::sync::{Condvar, Mutex, MutexGuard};
use std::thread::{self, ThreadId};

/// Whether a subscription's publications may still reach the handler. See the module doc.
#[derive(Default)]
pub struct DeliverySwitch {
    state: Mutex<State>,
    idle: Condvar,
}

#[derive(Default)]
struct State {
    closed: bool,
    /// The thread running the handler on one of its publications (one at a time: one actor).
    running: Option<ThreadId>,
    /// Closers waiting for that delivery to end. A delivery's end wakes them only if there
    /// are any: a wake is a system call whether anyone waits or not, and every publication
    /// ends a delivery.
    closers: usize,
}

/// A delivery under way: the switch waits for it to end before it counts as closed.
pub(crate) struct Delivering<'a>(&'a DeliverySwitch);

impl DeliverySwitch {
    /// An open switch.
    pub fn new() -> Self {
        DeliverySwitch::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A delivery about to run the handler on this thread, or `None` once closed.
    pub(crate) fn enter(&self) -> Option<Delivering<'_>> {
        let mut state = self.state();
        if state.closed {
            return None;
        }
        state.running = Some(thread::current().id());
        Some(Delivering(self))
    }

    /// Closes the switch: no delivery starts after this returns, and one running on another
    /// thread has ended. Called from the handler of one of the subscription's own
    /// publications, it does not wait for that one.
    pub fn close(&self) {
        let me = thread::current().id();
        let mut state = self.state();
        state.closed = true;
        while state.running.is_some_and(|t| t != me) {
            state.closers += 1;
            state = self.idle.wait(state).unwrap_or_else(|e| e.into_inner());
            state.closers -= 1;
        }
    }

    /// False once [`close`](Self::close) has been called.
    pub fn is_open(&self) -> bool {
        !self.state().closed
    }
}

impl Drop for Delivering<'_> {
    fn drop(&mut self) {
        let waited = {
            let mut state = self.0.state();
            state.running = None;
            state.closers > 0
        };
        if waited {
            self.0.idle.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{mpsc, Arc};

    #[test]
    fn no_delivery_starts_once_closed() {
        let switch = DeliverySwitch::new();
        drop(switch.enter().expect("open"));
        switch.close();
        assert!(switch.enter().is_none());
        assert!(!switch.is_open());
    }

    #[test]
    fn close_waits_for_a_delivery_running_on_another_thread() {
        let switch = Arc::new(DeliverySwitch::new());
        let (entered, has_entered) = mpsc::channel();
        let (go, may_go) = mpsc::channel::<()>();
        let (handled, was_handled) = mpsc::channel();
        let delivery = {
            let switch = switch.clone();
            thread::spawn(move || {
                let delivering = switch.enter();
                entered.send(()).unwrap();
                may_go.recv().unwrap();
                handled.send(()).unwrap();
                drop(delivering);
            })
        };
        has_entered.recv().unwrap();
        let closing = {
            let switch = switch.clone();
            thread::spawn(move || switch.close())
        };
        go.send(()).unwrap();
        closing.join().unwrap();
        assert!(
            was_handled.try_recv().is_ok(),
            "close returned before the delivery under way had ended"
        );
        delivery.join().unwrap();
    }

    #[test]
    fn close_from_the_delivery_itself_does_not_wait_for_it() {
        let switch = DeliverySwitch::new();
        let delivering = switch.enter();
        switch.close();
        assert!(switch.enter().is_none());
        drop(delivering);
    }
}
