//! Topic interest across a link: this node's, sent to the peer (and again to a restarted
//! one), and the peer's, served with a subscription on this bus per pattern and type.

use std::sync::Arc;

use super::{Inner, Link};
use crate::error::SendError;
use crate::frame::Kind;

/// Distinct topic interests (pattern and type id) a peer may hold on one link: each costs a
/// subscription on this bus, so a peer that knows the secret still cannot grow them without
/// bound. Far above what a topology uses.
pub const MAX_TOPIC_INTERESTS: usize = 4096;

impl Link {
    /// Asks the peer to forward publications of type `type_id` on topics matching `pattern`
    /// (sent once per pattern and type; sent again to a restarted peer). An interest that
    /// could not be queued (the link is closed, the frame too large) is not kept.
    pub async fn subscribe_remote(&self, pattern: &str, type_id: u16) -> Result<(), SendError> {
        let name: Arc<str> = Arc::from(pattern);
        {
            let mut st = self.inner.lock();
            if st
                .interests
                .iter()
                .any(|(p, t)| **p == *pattern && *t == type_id)
            {
                return Ok(());
            }
            st.interests.push((name.clone(), type_id));
        }
        let sent = self
            .send_named(Kind::Subscribe, &name, type_id, "subscription", |_| {})
            .await;
        if sent.is_err() {
            // Not recorded: a later call sends it again, and a restarted peer is not asked
            // for an interest it never had.
            self.inner
                .lock()
                .interests
                .retain(|(p, t)| !(**p == *pattern && *t == type_id));
        }
        sent.map(|_| ())
    }

    /// Withdraws the interest [`subscribe_remote`](Self::subscribe_remote) sent: the peer
    /// stops forwarding `type_id` on `pattern`, and a restarted peer is not asked for it
    /// again. Sends nothing for an interest this link never sent.
    pub async fn unsubscribe_remote(&self, pattern: &str, type_id: u16) -> Result<(), SendError> {
        {
            let mut st = self.inner.lock();
            let before = st.interests.len();
            st.interests
                .retain(|(p, t)| !(**p == *pattern && *t == type_id));
            if st.interests.len() == before {
                return Ok(());
            }
        }
        let name: Arc<str> = Arc::from(pattern);
        self.send_named(Kind::Unsubscribe, &name, type_id, "unsubscription", |_| {})
            .await
            .map(|_| ())
    }

    /// The peer's topic interest this node serves: (pattern, type id), in order.
    pub fn forwarded_topics(&self) -> Vec<(String, u16)> {
        self.inner.lock().forwarded.keys().cloned().collect()
    }
}

impl Inner {
    /// The peer asks for publications of `type_id` on `pattern`. Refused beyond
    /// [`MAX_TOPIC_INTERESTS`] distinct interests on the link.
    pub fn on_subscribe(self: &Arc<Self>, pattern: &str, type_id: u16) -> Result<(), String> {
        let key = (pattern.to_owned(), type_id);
        {
            let mut st = self.lock();
            if st.forwarded.contains_key(&key) || st.waiting.contains(&key) {
                return Ok(());
            }
            if st.forwarded.len() + st.waiting.len() >= MAX_TOPIC_INTERESTS {
                return Err(format!(
                    "the peer already holds {MAX_TOPIC_INTERESTS} topic interests on this link, \
                     the most one link keeps; unsubscribe from others first"
                ));
            }
            if !self.topics.has(type_id) {
                // The node may name the type later (it starts its links first).
                tracing::debug!(target: "mycelium::remote", peer = %self.peer, pattern, type_id, "topic interest waits for forward_topic");
                st.waiting.push(key);
                return Ok(());
            }
        }
        let link = Link {
            inner: self.clone(),
        };
        // The error quotes the peer's pattern: escaped like the peer's other text.
        let subscription = self
            .topics
            .subscribe(&self.bus, link, pattern, type_id)
            .map_err(|e| crate::frame::peer_text(e.as_bytes()))?;
        let previous = self.lock().forwarded.insert(key, subscription);
        if let Some(previous) = previous {
            previous.cancel();
        }
        Ok(())
    }

    /// `type_id` is now forwarded: serves the interest that waited for it.
    pub fn serve_waiting(self: &Arc<Self>, type_id: u16) {
        let ready: Vec<(String, u16)> = {
            let mut st = self.lock();
            let (ready, rest) = std::mem::take(&mut st.waiting)
                .into_iter()
                .partition(|(_, t)| *t == type_id);
            st.waiting = rest;
            ready
        };
        for (pattern, type_id) in ready {
            if let Err(e) = self.on_subscribe(&pattern, type_id) {
                tracing::warn!(target: "mycelium::remote", peer = %self.peer, pattern = pattern.as_str(), type_id, error = %e, "topic interest not served");
            }
        }
    }

    /// The peer no longer wants `type_id` on `pattern`.
    pub fn on_unsubscribe(&self, pattern: &str, type_id: u16) {
        let key = (pattern.to_owned(), type_id);
        let mut st = self.lock();
        // Interest still waiting for `forward_topic` is withdrawn as well.
        st.waiting.retain(|k| *k != key);
        // Cancelled before the lock is let go: once `forwarded_topics` no longer lists the
        // interest, nothing published is forwarded for it.
        if let Some(subscription) = st.forwarded.remove(&key) {
            subscription.cancel();
        }
    }
}
