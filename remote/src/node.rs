//! A node: this process's identity on the network, its listener and its links to peers.
//!
//! Its listener and dialling are in `node/connections.rs`, its topics across nodes in
//! `node/topics.rs`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use mycelium_actors::{Bus, NodeId, Recipient, ReplyRecipient};
use mycelium_codec::WireMessage;
use tokio::task::JoinHandle;

use crate::config::LinkConfig;
use crate::dispatch::Dispatch;
use crate::error::SetupError;
use crate::event::Observer;
use crate::handshake::{new_instance_id, Identity};
use crate::link::Link;
use crate::proxy::RemoteActor;
use crate::schema::LocalSchema;
use crate::secret::Secret;
use crate::service::RemoteService;
use crate::topics::TopicTypes;
use crate::topology::Topology;
use mycelium_actors::telemetry::ListenerMetrics;

/// The TLS a node of `topology` listens with, and dials each other node with.
#[cfg(feature = "tls")]
#[allow(clippy::type_complexity)]
fn tls_of(
    topology: &Topology,
    me: &crate::topology::NodeSpec,
) -> Result<
    (
        Option<crate::tls::ServerTls>,
        BTreeMap<String, crate::tls::ClientTls>,
    ),
    SetupError,
> {
    use crate::tls::{TlsClient, TlsServer};
    use crate::transport::Endpoint;
    let Some(mine) = &me.tls else {
        return Ok((None, BTreeMap::new()));
    };
    let server = match me.endpoint {
        Endpoint::Tcp(_) => Some(TlsServer::from_files(
            &mine.cert,
            &mine.key,
            mine.client_auth.then_some(mine.ca.as_path()),
        )?),
        // A Unix socket (or the one that sets up shared memory) never runs TLS.
        Endpoint::Unix(_) | Endpoint::Shm(_) => None,
    };
    let mut clients = BTreeMap::new();
    for peer in &topology.nodes {
        if peer.name == me.name || peer.tls.is_none() {
            continue;
        }
        if let Some(server_name) = peer.tls_server_name() {
            let client = TlsClient::from_files(
                &mine.ca,
                &server_name,
                Some((mine.cert.as_path(), mine.key.as_path())),
            )?;
            clients.insert(peer.name.clone(), client);
        }
    }
    Ok((server, clients))
}

/// Without the `tls` feature, a topology that asks for TLS cannot be served.
#[cfg(not(feature = "tls"))]
#[allow(clippy::type_complexity)]
fn tls_of(
    _topology: &Topology,
    me: &crate::topology::NodeSpec,
) -> Result<
    (
        Option<crate::tls::ServerTls>,
        BTreeMap<String, crate::tls::ClientTls>,
    ),
    SetupError,
> {
    match me.tls {
        Some(_) => Err(SetupError::TlsNotBuilt {
            node: me.name.clone(),
        }),
        None => Ok((None, BTreeMap::new())),
    }
}

/// This process's identity and links. Dropping it (or [`shutdown`](Node::shutdown)) stops
/// its listener and dialers.
pub struct Node {
    shared: Arc<Shared>,
}

struct Shared {
    me: Identity,
    config: LinkConfig,
    bus: Bus,
    dispatch: Arc<dyn Dispatch>,
    observer: Option<Observer>,
    links: Mutex<BTreeMap<String, Link>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// The socket files of this node's Unix listeners, removed at shutdown (at once, while
    /// the aborted accept task may still hold its listener for a moment).
    socket_files: Mutex<Vec<crate::transport::SocketFile>>,
    /// One supervisor per dialled link, over its connection driver.
    supervisors: Arc<Mutex<Vec<mycelium_supervisor::SupervisorRef>>>,
    topology: Mutex<Option<Topology>>,
    topics: Arc<TopicTypes>,
    /// The refusal counters of its listeners (resolved when the node is built).
    refused: ListenerMetrics,
}

/// Builds a [`Node`].
pub struct NodeBuilder {
    name: String,
    schema: LocalSchema,
    secret: Secret,
    config: LinkConfig,
    observer: Option<Observer>,
    instance: Option<u64>,
}

impl NodeBuilder {
    /// Link options for every link of the node.
    pub fn config(mut self, config: LinkConfig) -> Self {
        self.config = config;
        self
    }

    /// Receives every link event (state changes, loss reports).
    pub fn observer(
        mut self,
        observer: impl Fn(&crate::LinkEvent) + Send + Sync + 'static,
    ) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// Fixes the instance id (normally random at every start), which events and loss
    /// reports name. A process given its predecessor's id is still a new peer to the nodes
    /// it links to: the link's state refers to the node's incarnation, random at every
    /// start and never chosen.
    pub fn instance(mut self, instance: u64) -> Self {
        self.instance = Some(instance);
        self
    }

    /// Builds the node on `bus`: incoming messages go to `dispatch`. On a bus that records
    /// metrics, its listeners' refusal counters are resolved here.
    pub fn build(self, bus: &Bus, dispatch: Arc<dyn Dispatch>) -> Node {
        Node {
            shared: Arc::new(Shared {
                me: Identity {
                    node: self.name,
                    instance: self.instance.unwrap_or_else(new_instance_id),
                    incarnation: new_instance_id(),
                    schema: self.schema,
                    secret: self.secret,
                    max_frame: self.config.max_frame.max(crate::config::MIN_MAX_FRAME),
                },
                config: self.config,
                bus: bus.clone(),
                dispatch,
                observer: self.observer,
                links: Mutex::new(BTreeMap::new()),
                tasks: Mutex::new(Vec::new()),
                socket_files: Mutex::new(Vec::new()),
                supervisors: Arc::default(),
                topology: Mutex::new(None),
                topics: Arc::default(),
                refused: ListenerMetrics::new(bus),
            }),
        }
    }
}

impl Node {
    /// A node named `name`, speaking `schema`, proving `secret`.
    pub fn builder(name: impl Into<String>, schema: LocalSchema, secret: Secret) -> NodeBuilder {
        NodeBuilder {
            name: name.into(),
            schema,
            secret,
            config: LinkConfig::default(),
            observer: None,
            instance: None,
        }
    }

    /// Starts node `name` of the topology in `path` on `bus`: loads and validates the file and
    /// the secret, listens on the node's endpoint for every other node, and dials each node
    /// whose name sorts after its own (so each pair has one connection, from the node whose
    /// name sorts first). Incoming messages go to the bus's export table
    /// ([`Bus::exports`](mycelium_actors::Bus::exports)): export local services there.
    /// Remote services are reached with [`recipient`](Node::recipient),
    /// [`reply_recipient`](Node::reply_recipient) or [`service`](Node::service).
    pub async fn from_topology(
        path: impl AsRef<std::path::Path>,
        name: &str,
        schema: LocalSchema,
        bus: &Bus,
    ) -> Result<Node, SetupError> {
        let topology = Topology::load(path)?;
        Node::start(topology, name, schema, bus, Arc::new(bus.exports()), None).await
    }

    /// As [`from_topology`](Node::from_topology), with `observer` receiving every link event
    /// (state changes, loss reports), as [`NodeBuilder::observer`] does: the events of the
    /// links this call dials and accepts start at their first attempt.
    pub async fn from_topology_observed(
        path: impl AsRef<std::path::Path>,
        name: &str,
        schema: LocalSchema,
        bus: &Bus,
        observer: impl Fn(&crate::LinkEvent) + Send + Sync + 'static,
    ) -> Result<Node, SetupError> {
        let topology = Topology::load(path)?;
        let (dispatch, observer): (_, Observer) = (Arc::new(bus.exports()), Arc::new(observer));
        Node::start(topology, name, schema, bus, dispatch, Some(observer)).await
    }

    /// As [`from_topology`](Node::from_topology), from a loaded topology, with an observer of
    /// link events.
    pub async fn start(
        topology: Topology,
        name: &str,
        schema: LocalSchema,
        bus: &Bus,
        dispatch: Arc<dyn Dispatch>,
        observer: Option<Observer>,
    ) -> Result<Node, SetupError> {
        let Some(me) = topology.node(name).cloned() else {
            let names: Vec<&str> = topology.nodes.iter().map(|n| n.name.as_str()).collect();
            return Err(topology
                .error(format!(
                    "no node `{name}` in this topology; it has: {}",
                    names.join(", ")
                ))
                .into());
        };
        let secret = topology.secret.load()?;
        let mut builder = Node::builder(name, schema, secret).config(topology.link.clone());
        builder.observer = observer;
        let node = builder.build(bus, dispatch);
        *node.shared.topology() = Some(topology.clone());
        let peers: Vec<&str> = topology
            .nodes
            .iter()
            .filter(|n| n.name != name)
            .map(|n| n.name.as_str())
            .collect();
        let (server, clients) = tls_of(&topology, &me)?;
        // The peers this node dials are marked so before it listens: `listen_with` gives up
        // only those that must dial it, were the dials late.
        for peer in peers.iter().filter(|peer| **peer > name) {
            node.shared
                .link_to(peer)
                .inner
                .dialled
                .store(true, std::sync::atomic::Ordering::Release);
        }
        node.listen_with(&me.endpoint, &peers, server).await?;
        #[cfg(test)]
        if let Some(late) = DIALS_COME_LATE.take() {
            late.await;
        }
        for peer in &topology.nodes {
            // The peers that dial this node are given up by `listen_with` if they never do.
            if peer.name.as_str() > name {
                let tls = clients.get(&peer.name).cloned();
                node.connect_with(&peer.name, peer.endpoint.clone(), tls);
            }
        }
        Ok(node)
    }

    /// The service `name` if another node of the topology hosts it; `None` for a local
    /// service or an unknown one.
    pub fn service(&self, name: &str) -> Option<RemoteService> {
        let host = {
            let topology = self.shared.topology();
            let host = topology.as_ref()?.host_of(name)?;
            if host.name == self.shared.me.node {
                return None;
            }
            host.name.clone()
        };
        Some(RemoteService::new(self.link(&host)?, name))
    }

    /// The address of `service` on another node of the topology, for messages `M` answered
    /// with `R` (`()` for tells only): what [`recipient`](Self::recipient) and
    /// [`reply_recipient`](Self::reply_recipient) wrap, with tells that return their sequence
    /// number on the link ([`RemoteActor::tell_numbered`]), which the link's loss reports
    /// name. `None` when this node hosts it or no node does.
    pub fn remote_actor<M, R>(&self, service: &str) -> Option<RemoteActor<M, R>>
    where
        M: WireMessage + Send + 'static,
        R: Send + 'static,
    {
        let remote = self.service(service)?;
        Some(RemoteActor::<M, R>::new(remote.link().clone(), service))
    }

    /// A [`Recipient<M>`] for `service` on another node of the topology; `None` when this
    /// node hosts it (use the local actor) or no node does. Its tells return no sequence
    /// number: to know which loss report covers a tell, send it with
    /// [`remote_actor`](Self::remote_actor)'s [`RemoteActor::tell_numbered`].
    pub fn recipient<M>(&self, service: &str) -> Option<Recipient<M>>
    where
        M: WireMessage + Send + 'static,
    {
        let remote = self.service(service)?;
        Some(RemoteActor::<M>::new(remote.link().clone(), service).recipient())
    }

    /// A [`ReplyRecipient<M, R>`] for `service` on another node of the topology.
    pub fn reply_recipient<M, R>(&self, service: &str) -> Option<ReplyRecipient<M, R>>
    where
        M: WireMessage + Send + 'static,
        R: WireMessage + Send + 'static,
    {
        let remote = self.service(service)?;
        Some(RemoteActor::<M, R>::new(remote.link().clone(), service).reply_recipient())
    }

    /// True when this node hosts `service` according to its topology.
    pub fn hosts(&self, service: &str) -> bool {
        let topology = self.shared.topology();
        topology
            .as_ref()
            .and_then(|t| t.host_of(service))
            .is_some_and(|n| n.name == self.shared.me.node)
    }

    /// This node's name.
    pub fn name(&self) -> &str {
        &self.shared.me.node
    }

    /// This process's instance id.
    pub fn instance(&self) -> u64 {
        self.shared.me.instance
    }

    /// The link to `peer`, if one exists.
    pub fn link(&self, peer: &str) -> Option<Link> {
        self.shared.links().get(peer).cloned()
    }

    /// The link to `peer`, created if needed (not connected: see [`connect`](Node::connect)
    /// and [`listen`](Node::listen)).
    pub fn link_to(&self, peer: &str) -> Link {
        self.shared.link_to(peer)
    }

    /// Closes the node without losing what its links have queued, as far as the peers allow:
    /// waits until each peer has acknowledged everything queued on its link (the links drain
    /// together, [`Link::drain`], for [`LinkConfig::close_timeout`] of bus time at most,
    /// 5 s by default), then closes as [`close_now`](Self::close_now) does. So a tell that
    /// returned `Ok` before `close` reaches a live peer; what is still unacknowledged at the
    /// deadline (a peer away or stuck) is reported lost, and every link event, loss report
    /// and dead letter of the close is delivered before `close` returns. It returns within
    /// the deadline plus the Close frames' exchange (three seconds of bus time at most, for
    /// all the links together). Call it before the process ends.
    pub async fn close(&self) {
        let links: Vec<Link> = self.shared.links().values().cloned().collect();
        let clock = self.shared.bus.clock();
        let deadline = clock.now() + self.shared.config.close_timeout;
        // One deadline for all the links: their connections write and read on their own
        // tasks, so the links drain together while this waits for each in turn.
        for link in &links {
            let left = deadline.saturating_sub(clock.now());
            if let Err(e) = link.drain(left).await {
                tracing::warn!(target: "mycelium::remote", peer = %link.peer(), "closing: {e}");
            }
        }
        self.close_now().await;
    }

    /// Closes the node without waiting for acknowledgements: [`shutdown`](Self::shutdown),
    /// then waits until every link's end is over. Each connection has sent its Close frame,
    /// which acknowledges what this node delivered, and seen the peer close its end (three
    /// seconds of bus time at most, for all the links together); each link's `GaveUp` event,
    /// its loss report of what was still queued or unacknowledged, and the dead letters of
    /// it have been delivered, those of a link that gave up just as the node closed too.
    /// What the peer acknowledges in its answer to the Close frame is not reported lost.
    pub async fn close_now(&self) {
        let clock = self.shared.bus.clock();
        // The supervisors stop first, and are waited for (as long as a Close frame may
        // take): a keeper or driver that saw its link close would otherwise end by itself
        // while its supervisor stops, and its notice would be left in the supervisor's
        // mailbox, a dead letter. A peer that closes as its own drain ends, just as this
        // node closes, made that likely.
        let supervisors = self.shared.take_supervisors();
        for sup in &supervisors {
            sup.actor_ref().stop();
        }
        let stopped = async {
            for sup in &supervisors {
                sup.actor_ref().wait_for_stop().await;
            }
        };
        let _ = clock.timeout(crate::connection::CLOSE_GRACE, stopped).await;
        self.shutdown();
        let links: Vec<Link> = self.shared.links().values().cloned().collect();
        // The connections close together: one bound for all of them (a second to record a
        // delivery in progress, one to write the Close frame, one for the peer to close its
        // end), not one per link. A little past the connections' own bound (`CLOSE_LIFE`),
        // so that one cut at that bound has ended, and reported, first.
        let all_ended = async {
            for link in &links {
                link.inner.ended().await;
            }
        };
        let bound = crate::connection::CLOSE_LIFE + crate::connection::CLOSE_GRACE / 10;
        if clock.timeout(bound, all_ended).await.is_err() {
            tracing::warn!(
                target: "mycelium::remote",
                "closing: a link's connection outlived its bound; its loss report comes when it ends"
            );
        }
    }

    /// Stops the listener and dialers and closes every link at once, without draining: what
    /// the peer has not acknowledged once the link's connection has closed (after the peer's
    /// answer to the Close frame, or a grace period) is reported lost. Returns at once, and
    /// the reports come when the connections' tasks next run: [`close_now`](Self::close_now)
    /// also waits for them, [`close`](Self::close) first waits for the acknowledgements.
    pub fn shutdown(&self) {
        for task in self.shared.tasks().drain(..) {
            task.abort();
        }
        // Removed now, so that a node started next at the same path (a restart in this
        // process) finds it free and no late drop removes the successor's file.
        self.shared
            .socket_files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        for sup in self.shared.take_supervisors() {
            // Stopped, a supervisor restarts nothing more and kills its driver or keeper
            // (`Shutdown::Immediate`: their handlers run as long as the link). Killed instead,
            // it would leave the exits of the children it had not stopped itself queued, and
            // report them as dead letters on every shutdown.
            sup.actor_ref().stop();
        }
        let links: Vec<Link> = self.shared.links().values().cloned().collect();
        for link in links {
            link.shut_down("the node shut down");
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Shared {
    fn links(&self) -> MutexGuard<'_, BTreeMap<String, Link>> {
        self.links.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn topology(&self) -> MutexGuard<'_, Option<Topology>> {
        self.topology.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn tasks(&self) -> MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The supervisors of the links, taken: the caller stops them.
    fn take_supervisors(&self) -> Vec<mycelium_supervisor::SupervisorRef> {
        match self.supervisors.lock() {
            Ok(mut all) => all.drain(..).collect(),
            Err(poisoned) => poisoned.into_inner().drain(..).collect(),
        }
    }

    /// The link to `peer`, created if needed. Its node number is the peer's position in the
    /// topology plus one; without a topology, links are numbered in creation order from 1.
    fn link_to(&self, peer: &str) -> Link {
        let position = self
            .topology()
            .as_ref()
            .and_then(|t| t.nodes.iter().position(|n| n.name == peer));
        let mut links = self.links();
        let next = links.len() as u32 + 1;
        links
            .entry(peer.to_owned())
            .or_insert_with(|| {
                let node = NodeId::new(position.map_or(next, |p| p as u32 + 1));
                Link::new(
                    peer.to_owned(),
                    node,
                    self.me.clone(),
                    self.config.clone(),
                    &self.bus,
                    self.dispatch.clone(),
                    self.topics.clone(),
                    self.observer.clone(),
                )
            })
            .clone()
    }
}

#[cfg(test)]
thread_local! {
    /// In unit tests: awaited by [`Node::start`] between its `listen` and its dials, so that
    /// the dials come as late as on a loaded machine.
    static DIALS_COME_LATE: std::cell::Cell<Option<mycelium_actors::BoxFuture<'static, ()>>> =
        const { std::cell::Cell::new(None) };
}

mod connections;
mod topics;

#[cfg(test)]
#[path = "node_tests.rs"]
mod tests;
