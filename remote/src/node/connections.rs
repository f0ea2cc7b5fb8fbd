//! How a node reaches its peers: the listener that accepts them, each under a supervised
//! keeper, and the dialler of each peer it connects to.

use std::sync::Arc;

use super::Node;
use crate::accept;
use crate::dial::{self, Resolver};
use crate::error::TransportError;
use crate::link::Link;
use crate::transport::{Endpoint, Listener};

impl Node {
    /// Accepts connections from `peers` on `endpoint`; returns the endpoint bound (for TCP
    /// port 0, the port chosen). Each peer's link gets a supervisor over the keeper of its
    /// accepted connections (restarted after a panicking connection); a node not in `peers`
    /// (nor in an earlier call's) is refused at the handshake. A peer that has not connected
    /// within `give_up_after` of bus time is given up (what was queued for it is reported
    /// lost), unless this node dials it too.
    pub async fn listen(
        &self,
        endpoint: &Endpoint,
        peers: &[&str],
    ) -> Result<Endpoint, TransportError> {
        self.listen_with(endpoint, peers, None).await
    }

    /// As [`listen`](Node::listen), with TLS on every accepted connection (a TCP endpoint):
    /// the TLS handshake runs first, then the link's own handshake inside it. A client whose
    /// TLS handshake fails is logged with its address and never reaches a link.
    #[cfg(feature = "tls")]
    pub async fn listen_tls(
        &self,
        endpoint: &Endpoint,
        peers: &[&str],
        tls: crate::tls::TlsServer,
    ) -> Result<Endpoint, TransportError> {
        self.listen_with(endpoint, peers, Some(tls)).await
    }

    pub(super) async fn listen_with(
        &self,
        endpoint: &Endpoint,
        peers: &[&str],
        tls: Option<crate::tls::ServerTls>,
    ) -> Result<Endpoint, TransportError> {
        let mut listener = Listener::bind(endpoint).await?;
        let bound = listener
            .local_endpoint()
            .map_err(|source| TransportError::Io {
                what: "cannot read the address of",
                endpoint: endpoint.to_string(),
                source,
            })?;
        // Each peer's connections run under a supervised keeper (`accept.rs`).
        for peer in peers {
            let link = self.shared.link_to(peer);
            match accept::keep(&link, &self.shared.bus).await {
                Ok(Some(sup)) => {
                    self.shared
                        .supervisors
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(sup);
                    self.await_peer(peer);
                }
                Ok(None) => {}
                Err(reason) => {
                    return Err(TransportError::Io {
                        what: "cannot supervise the connections accepted on",
                        endpoint: endpoint.to_string(),
                        source: std::io::Error::other(reason),
                    })
                }
            }
        }
        // From here on the node removes the socket file (a failure above drops the listener,
        // and the file with it).
        if let Some(file) = listener.take_socket_file() {
            self.shared
                .socket_files
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(file);
        }
        let weak = Arc::downgrade(&self.shared);
        // Only the peers this node accepts: a node it merely dials is refused here.
        let resolve: Resolver = Arc::new(move |node: &str| {
            weak.upgrade()?
                .links()
                .get(node)
                .filter(|link| link.inner.keeper.get().is_some())
                .cloned()
        });
        let task = accept::accept(
            listener,
            tls,
            self.shared.me.clone(),
            resolve,
            self.shared.bus.clock().clone(),
            self.shared.config.handshake_timeout,
            self.shared.refused.clone(),
        );
        self.shared.tasks().push(task);
        Ok(bound)
    }

    /// Dials `peer` at `endpoint`, reconnecting with backoff until the link gives up.
    ///
    /// A link that gave up (or was closed) is opened again: senders may queue on it at once
    /// (once its closing connection has ended, if one still runs), and its dialler starts
    /// afresh, reporting its state changes as a new link's. What the link reported lost when
    /// it gave up stays reported; messages sent since are numbered after those, and the peer
    /// counts the skipped numbers as the sender's reported loss. Topic interest the peer had
    /// sent before is not restored: the peer sends it again only after this node restarts.
    ///
    /// A link this node dials already, and that has not given up, keeps its dialler (and the
    /// endpoint it dials): `connect` returns it as it is.
    pub fn connect(&self, peer: &str, endpoint: Endpoint) -> Link {
        self.connect_with(peer, endpoint, None)
    }

    /// As [`connect`](Node::connect), over TLS (a TCP endpoint). A server certificate that
    /// `tls` does not trust, that expired or that lacks the expected name, or a server that
    /// refuses this node's certificate, is a refusal: the link gives up at once
    /// ([`LinkEventKind::Refused`](crate::LinkEventKind::Refused), then a loss report for
    /// anything queued).
    #[cfg(feature = "tls")]
    pub fn connect_tls(&self, peer: &str, endpoint: Endpoint, tls: crate::tls::TlsClient) -> Link {
        self.connect_with(peer, endpoint, Some(tls))
    }

    pub(super) fn connect_with(
        &self,
        peer: &str,
        endpoint: Endpoint,
        tls: Option<crate::tls::ClientTls>,
    ) -> Link {
        let link = self.shared.link_to(peer);
        link.inner
            .dialled
            .store(true, std::sync::atomic::Ordering::Release);
        let Some(number) = link.inner.start_dialler() else {
            return link;
        };
        // Open now when it can be (the dialler waits for a closing connection to end).
        link.inner.revive();
        let task = dial::dial(
            link.clone(),
            number,
            endpoint,
            tls,
            self.shared.bus.seed(),
            self.shared.bus.clone(),
            self.shared.supervisors.clone(),
        );
        self.shared.tasks().push(task);
        link
    }

    /// The link to `peer` gives up (reporting what is queued) if the peer has not connected
    /// within `give_up_after` of bus time; for a link this node accepts and does not dial
    /// (one it dials gives up after the dialler's attempts). The peer's first connection
    /// opens it again.
    fn await_peer(&self, peer: &str) {
        let link = self.shared.link_to(peer);
        let wait = self.shared.config.give_up_after;
        let task = tokio::spawn(async move {
            link.clock().sleep(wait).await;
            let dialled = link
                .inner
                .dialled
                .load(std::sync::atomic::Ordering::Acquire);
            if link.inner.generation() == 1 && !dialled {
                // The peer's first connection, however late, opens the link again.
                link.inner
                    .give_up_waiting(&format!("the peer never connected within {wait:?}"));
            }
        });
        self.shared.tasks().push(task);
    }
}
