//! A link that gave up, opened again: by `Node::connect`, or on the accepting side by the
//! peer's next connection when it gave up waiting for the peer.

use std::sync::atomic::Ordering;

use super::Inner;

impl Inner {
    /// Opens the link again if it is closed and its end is over (no connection of it runs
    /// and its loss report is made, so what it reported stays reported, and nothing queued
    /// from now on is counted in it). Returns whether the link is open now.
    pub(crate) fn revive(&self) -> bool {
        let reason = {
            let mut st = self.lock();
            if st.closed.is_none() {
                return true;
            }
            // Its end is over only once its loss report is made: the `GaveUp` event comes
            // before the report is owed, and a link opened in between would have what is
            // queued from then on taken into that report.
            if st.loss_owed || !st.end_reported || self.running.load(Ordering::Acquire) != 0 {
                return false;
            }
            self.revivable.store(false, Ordering::Release);
            let reason = st.closed.take();
            // What was published for the peer while the link was closed is told to it first
            // thing, before anything queued from now on.
            let lapsed = self.tell_lapsed(&mut st);
            (reason, lapsed)
        };
        let (reason, lapsed) = reason;
        tracing::info!(target: "mycelium::remote", peer = %self.peer, ?reason, "link opened again after it closed");
        self.report_lapsed(lapsed, "the link was closed when they were published");
        true
    }

    /// Gives up waiting for the peer: as [`give_up`](Self::give_up), and the peer's next
    /// connection opens the link again.
    pub(crate) fn give_up_waiting(&self, reason: &str) {
        if self.lock().closed.is_some() {
            // Closed already (on purpose, say): not for the peer to open again.
            return;
        }
        // Marked before the link closes, so that a peer whose handshake comes the moment it
        // closes (on its `GaveUp` event) finds it open to the peer, not refused for good.
        self.revivable.store(true, Ordering::Release);
        self.give_up(reason);
        if self.lock().closed.as_deref() != Some(reason) {
            // Closed for another reason in between.
            self.revivable.store(false, Ordering::Release);
        }
    }

    /// Whether the link gave up waiting for the peer ([`give_up_waiting`](Self::give_up_waiting))
    /// and is still closed.
    pub(crate) fn is_revivable(&self) -> bool {
        self.revivable.load(Ordering::Acquire) && self.lock().closed.is_some()
    }

    /// Waits until the closed link's end is over (no connection of it runs, its loss report
    /// made), then opens it again ([`revive`](Self::revive)).
    pub(crate) async fn revive_when_ended(&self) {
        loop {
            let ran = self.ran.notified();
            let mut ran = std::pin::pin!(ran);
            ran.as_mut().enable();
            let ended = self.ended.notified();
            let mut ended = std::pin::pin!(ended);
            ended.as_mut().enable();
            if self.revive() {
                return;
            }
            tokio::select! {
                _ = ran => {}
                _ = ended => {}
            }
        }
    }
}
