//! Draining a link: waiting until the peer has acknowledged everything queued so far, before a
//! planned restart or a close.

use std::time::Duration;

use super::Link;
use crate::error::DrainError;

impl Link {
    /// Waits until the peer has acknowledged every message queued on this link before the
    /// call, for `timeout` of bus time at most. The link stays open and sending meanwhile:
    /// messages queued after the call go out as usual, and are not waited for. Returns at
    /// once when nothing is queued.
    ///
    /// A planned restart drains first, so that nothing it sent is left unacknowledged:
    ///
    /// ```no_run
    /// # async fn restart(link: mycelium_remote::Link) {
    /// use std::time::Duration;
    /// match link.drain(Duration::from_secs(5)).await {
    ///     Ok(()) => { /* the peer has everything: restart */ }
    ///     Err(e) => eprintln!("restarting anyway: {e}"),
    /// }
    /// # }
    /// ```
    ///
    /// On a connection that drops meanwhile the wait goes on: the link resends what the peer
    /// has not acknowledged on its next one. It ends early with [`DrainError::Closed`] when the
    /// link closes for good, and with [`DrainError::Lost`] when messages leave the log
    /// unacknowledged (a restarted peer); [`DrainError::Timeout`] leaves the messages queued.
    /// [`Node::close`](crate::Node::close) drains every link of the node this way.
    pub async fn drain(&self, timeout: Duration) -> Result<(), DrainError> {
        let inner = &self.inner;
        let (point, removed_before) = {
            let st = inner.lock();
            (st.out.last_queued(), st.out.removed_unacknowledged())
        };
        let settled = async {
            loop {
                // Counted as a waiter before the look under the lock: an acknowledgement
                // after it wakes this wait (`Room::freed`), as the link's end and a new
                // connection do (`Room::wake_all`).
                let (_counted, freed) = inner.room.wait();
                let mut freed = std::pin::pin!(freed);
                freed.as_mut().enable();
                {
                    let st = inner.lock();
                    let removed = st.out.removed_unacknowledged() - removed_before;
                    if removed > 0 {
                        return Err(DrainError::Lost {
                            peer: inner.peer.clone(),
                            count: removed,
                        });
                    }
                    if st.out.settled_through(point) {
                        return Ok(());
                    }
                    if let Some(reason) = &st.closed {
                        return Err(DrainError::Closed {
                            peer: inner.peer.clone(),
                            reason: reason.clone(),
                        });
                    }
                }
                freed.await;
            }
        };
        match inner.clock.timeout(timeout, settled).await {
            Ok(drained) => drained,
            Err(_) => Err(DrainError::Timeout {
                peer: inner.peer.clone(),
                unacknowledged: inner.lock().out.unsettled_through(point),
                waited: timeout,
            }),
        }
    }
}
