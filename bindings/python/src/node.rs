//! `Node`: a bus as one node of a `topology.toml`, so tell/ask by service name reach a
//! service wherever the topology puts it.

use std::sync::Arc;

use mycelium_actors::{Bus as RustBus, SubscribeOptions, Subscription as RustSubscription};
use mycelium_remote::{
    frame::Kind, DispatchError, GapReason, LocalSchema, Node as RustNode, RemoteAskError,
    TopicGap as RustTopicGap, GAP_TOPIC,
};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use tokio::runtime::Handle;

use crate::actor_ref::seconds;
use crate::errors::{self, ActorFailed, AskTimeout, MessageTypeError};
use crate::schema::BusSchema;
use crate::wait::wait;
use mycelium_foreign::recording::{
    report_answered_bytes, report_sent_by_name, report_sent_to_node,
};

/// This process's bus as a node of a topology: its exported services are reachable from the
/// other nodes, and its tell/ask reach the services of every node.
#[pyclass(module = "mycelium._native", frozen)]
pub(crate) struct Node {
    node: RustNode,
    bus: RustBus,
    handle: Handle,
    /// The bus's schema, whose digest the node gives at handshake.
    schema: BusSchema,
}

/// The exception for an ask of `type_id` to `service` on another node. A message type the
/// service does not take is refused by that node with a failure text: it is raised as
/// `MessageTypeError`, as the same ask to a local service is.
fn remote_error(e: RemoteAskError, service: &str, type_id: u16) -> PyErr {
    if let RemoteAskError::Failed(text) = &e {
        let refused = DispatchError::UnknownType {
            service: service.to_string(),
            type_id,
        }
        .to_string();
        if text.contains(&refused) {
            return MessageTypeError::new_err(format!(
                "service `{service}` does not handle {} (refused by the node that hosts it)",
                errors::message_name(type_id)
            ));
        }
    }
    let text = e.to_string();
    match e {
        RemoteAskError::NotSent(e) | RemoteAskError::Unsent { error: e, .. } => {
            errors::send_error(e, text)
        }
        RemoteAskError::LinkDown { .. } | RemoteAskError::Failed(_) => ActorFailed::new_err(text),
        RemoteAskError::BadReply(_) => MessageTypeError::new_err(text),
    }
}

impl Node {
    /// Starts node `name` of the topology file `path` on `bus` and returns once it listens.
    /// Its handshake gives the digest of the bus's schema, which must be set.
    pub(crate) fn start(
        py: Python<'_>,
        bus: &RustBus,
        handle: &Handle,
        schema: &BusSchema,
        path: String,
        name: String,
    ) -> PyResult<Self> {
        let digest = schema.require("Bus.join")?.digest_bytes()?;
        let b = bus.clone();
        let started = wait(py, handle, async move {
            let schema = LocalSchema::from_digest(digest);
            RustNode::from_topology(path, &name, schema, &b).await
        })?;
        let node = started.map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
        Ok(Node {
            node,
            bus: bus.clone(),
            handle: handle.clone(),
            schema: schema.clone(),
        })
    }

    /// Topics across nodes travel as the Rust types of their messages, which this process
    /// has for the example schema only: `MessageTypeError` naming `call` on a bus of another
    /// schema.
    fn typed_topics(&self, call: &str) -> PyResult<()> {
        let schema = self.schema.require(call)?;
        if schema.digest_bytes()? == mycelium_contracts::SCHEMA_DIGEST {
            return Ok(());
        }
        Err(MessageTypeError::new_err(format!(
            "Node.{call}: topics across nodes carry messages as Rust types, and this process has \
             Rust types for the example schema `trading` only, not for schema `{}`; tell and ask \
             across nodes work with any schema",
            schema.package
        )))
    }

    fn remote(&self, service: &str) -> Option<mycelium_remote::RemoteService> {
        let _entered = self.handle.enter();
        self.node.service(service)
    }
}

#[pymethods]
impl Node {
    /// This node's name in the topology.
    #[getter]
    fn name(&self) -> String {
        self.node.name().to_string()
    }

    /// True if another node of the topology hosts `service`.
    fn is_remote(&self, service: &str) -> bool {
        self.remote(service).is_some()
    }

    /// Tells `service` the contract message `type_id` with `body`: over the link to the node
    /// that hosts it, or to this bus's export table. Waits (without the GIL) for room.
    fn tell(&self, py: Python<'_>, service: &str, type_id: u16, body: Vec<u8>) -> PyResult<()> {
        match self.remote(service) {
            Some(remote) => {
                let name: Arc<str> = Arc::from(remote.name());
                let link = remote.link().clone();
                report_sent_to_node(link.node_id(), false, type_id, &body);
                wait(py, &self.handle, async move {
                    link.send(Kind::Tell, &name, type_id, |out| {
                        out.extend_from_slice(&body)
                    })
                    .await
                })?
                .map(|_| ())
                .map_err(|e| {
                    let text = e.to_string();
                    errors::send_error(e, text)
                })
            }
            None => {
                report_sent_by_name(&self.bus, service, false, type_id, &body);
                let exports = self.bus.exports();
                let service = service.to_string();
                wait(py, &self.handle, async move {
                    exports.deliver(&service, type_id, &body).await
                })?
                .map_err(errors::delivery)
            }
        }
    }

    /// Asks `service` (remote or local, as `tell`) and waits (without the GIL) for the reply
    /// `(type_id, body)`; `timeout` in seconds of bus time.
    #[pyo3(signature = (service, type_id, body, timeout=None))]
    fn ask(
        &self,
        py: Python<'_>,
        service: &str,
        type_id: u16,
        body: Vec<u8>,
        timeout: Option<f64>,
    ) -> PyResult<(u16, Py<PyBytes>)> {
        let limit = seconds(timeout)?;
        let (t, b) = match self.remote(service) {
            Some(remote) => {
                let name: Arc<str> = Arc::from(remote.name());
                let asked_name = name.clone();
                let link = remote.link().clone();
                report_sent_to_node(link.node_id(), true, type_id, &body);
                let clock = self.bus.clock().clone();
                let asked = async move {
                    let asked = link.ask(&name, type_id, |out| out.extend_from_slice(&body));
                    match limit {
                        Some(limit) => clock.timeout(limit, asked).await.ok(),
                        None => Some(asked.await),
                    }
                };
                // The answer (or the error as the asker reads it) is an input of a recorded
                // actor whose handler asks.
                match wait(py, &self.handle, asked)? {
                    Some(Ok((t, b))) => {
                        report_answered_bytes(Ok((t, &b)));
                        (t, b)
                    }
                    Some(Err(e)) => {
                        let err = remote_error(e, &asked_name, type_id);
                        report_answered_bytes(Err(&err.to_string()));
                        return Err(err);
                    }
                    None => {
                        let text = format!(
                            "no reply from `{service}` within {:?}",
                            limit.unwrap_or_default()
                        );
                        report_answered_bytes(Err(&text));
                        return Err(AskTimeout::new_err(text));
                    }
                }
            }
            None => {
                let reported = report_sent_by_name(&self.bus, service, true, type_id, &body);
                let exports = self.bus.exports();
                let service = service.to_string();
                let asked = wait(py, &self.handle, async move {
                    match limit {
                        Some(t) => exports.ask_timeout(&service, type_id, &body, t).await,
                        None => exports.ask(&service, type_id, &body).await,
                    }
                })?;
                if reported {
                    match &asked {
                        Ok((t, b)) => report_answered_bytes(Ok((*t, b))),
                        Err(e) => report_answered_bytes(Err(&e.to_string())),
                    }
                }
                asked.map_err(errors::delivery)?
            }
        };
        Ok((t, PyBytes::new(py, &b).unbind()))
    }

    /// Encodes `message`, a message of the bus's schema, for a node: `(type_id, body)`;
    /// `SchemaMismatch` for a class of another schema, `MessageTypeError` for a plain object.
    fn encode<'py>(&self, message: &Bound<'py, PyAny>) -> PyResult<(u16, Bound<'py, PyBytes>)> {
        let Some(plan) = crate::codec::contract_plan(message)? else {
            return Err(errors::cannot_leave(message, "be sent to a node"));
        };
        self.schema.admit(&plan)?;
        let body = plan.encode(message)?;
        Ok((plan.type_id_of(message)?, PyBytes::new(message.py(), &body)))
    }

    /// Decodes the reply `(type_id, body)` of an ask with the bus's schema.
    fn decode_reply<'py>(
        &self,
        py: Python<'py>,
        type_id: u16,
        body: &[u8],
    ) -> PyResult<Bound<'py, PyAny>> {
        self.schema
            .require("decoding a reply")?
            .decode(py, type_id, body)
    }

    /// The schema digest this node gives at handshake (lowercase hex).
    #[getter]
    fn schema_digest(&self) -> PyResult<String> {
        Ok(self.schema.require("a node")?.digest.clone())
    }

    /// Lets the other nodes subscribe to publications of the contract message `type_id` on
    /// this bus (`subscribe_remote` on their side): each publication travels once per link.
    fn forward_topic(&self, type_id: u16) -> PyResult<()> {
        self.typed_topics("forward_topic")?;
        let _entered = self.handle.enter();
        mycelium_foreign::forward_topic(&self.node, type_id).map_err(errors::topic)
    }

    /// Subscribes this node to publications of `type_id` on topics matching `pattern` on
    /// every other node that forwards them: they are published on this bus, where its own
    /// subscribers (Python or Rust) receive them. `overflow` (block, drop_newest,
    /// drop_oldest with `capacity`, latest_per_key) is what the publishing nodes do while the
    /// link to this node is full; `None`: the topology file's policy for `pattern`, else
    /// block. `ValueError` for an unknown policy or a capacity it does not take. Waits
    /// (without the GIL) for room on the links.
    #[pyo3(signature = (type_id, pattern, overflow=None, capacity=None))]
    fn subscribe_remote(
        &self,
        py: Python<'_>,
        type_id: u16,
        pattern: &str,
        overflow: Option<&str>,
        capacity: Option<u64>,
    ) -> PyResult<()> {
        let policy = match (overflow, capacity) {
            (None, None) => None,
            (name, capacity) => Some(
                mycelium_foreign::remote_overflow(name.unwrap_or("block"), capacity).map_err(
                    |e| {
                        pyo3::exceptions::PyValueError::new_err(format!(
                            "Node.subscribe_remote: {e}"
                        ))
                    },
                )?,
            ),
        };
        self.typed_topics("subscribe_remote")?;
        let subscribed = mycelium_foreign::subscribe_remote(&self.node, type_id, pattern, policy);
        wait(py, &self.handle, subscribed)?.map_err(errors::topic)
    }

    /// Calls `callback` with each `TopicGap` this node is told of (publications of a topic it
    /// subscribed to on another node that will never arrive), in order, one at a time, on a
    /// thread of the bus's blocking pool. An exception it raises goes to
    /// `sys.unraisablehook`; the next gap is delivered all the same. Until the returned
    /// watch's `cancel()`, or the bus's end.
    fn on_gap(&self, callback: Py<PyAny>) -> PyResult<GapWatch> {
        let _entered = self.handle.enter();
        let mut gaps = self
            .bus
            .subscribe_stream::<RustTopicGap>(GAP_TOPIC, SubscribeOptions::block())
            .map_err(|e| errors::topic(e.into()))?;
        let subscription = gaps.subscription();
        let callback = Arc::new(callback);
        self.handle.spawn(async move {
            while let Some(gap) = gaps.recv().await {
                let gap = gap.msg().clone();
                let callback = callback.clone();
                let called = tokio::task::spawn_blocking(move || {
                    Python::attach(|py| {
                        let called = Py::new(py, TopicGap::from(gap))
                            .and_then(|gap| callback.call1(py, (gap,)));
                        if let Err(e) = called {
                            e.write_unraisable(py, Some(callback.bind(py)));
                        }
                    })
                });
                if called.await.is_err() {
                    // The runtime is shutting down: no one is left to call.
                    break;
                }
            }
        });
        Ok(GapWatch { subscription })
    }

    /// Ends what `subscribe_remote` started: the other nodes stop forwarding `type_id` on
    /// `pattern` to this node.
    fn unsubscribe_remote(&self, py: Python<'_>, type_id: u16, pattern: &str) -> PyResult<()> {
        self.typed_topics("unsubscribe_remote")?;
        let withdrawn = mycelium_foreign::unsubscribe_remote(&self.node, type_id, pattern);
        wait(py, &self.handle, withdrawn)?.map_err(errors::topic)
    }

    /// Sends what is queued and waits up to the links' `close_timeout` (5 s by default;
    /// `close_timeout_ms` in the topology's `[link]`) for the peers to acknowledge it, reports
    /// what is still unacknowledged as lost (loss reports and dead letters, delivered before
    /// it returns), then stops the node's listener and links; the bus keeps running.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        wait(py, &self.handle, self.node.close())
    }

    /// The abrupt close: stops the node's listener and links at once, without waiting for
    /// acknowledgements; what is unacknowledged is reported lost.
    fn close_now(&self, py: Python<'_>) -> PyResult<()> {
        wait(py, &self.handle, self.node.close_now())
    }
}

/// Publications of a topic this node subscribed to on another node that will never arrive:
/// `count` of them from node `source`, of the message class `message`.
#[pyclass(module = "mycelium._native", frozen, get_all)]
pub(crate) struct TopicGap {
    /// The node that published them.
    source: String,
    /// The topic they were published on (for `dropped`: the subscription's pattern).
    topic: String,
    /// Their contract type id.
    type_id: u16,
    /// Their message class's name (`Quote`), or `type id N` for a class no generated module
    /// in this process has.
    message: String,
    /// The first lost publication's sequence number on the link (0 for `dropped`).
    first: u64,
    /// The last one's (0 for `dropped`).
    last: u64,
    /// How many were lost.
    count: u64,
    /// Why: `restarted`, `forgot`, `too_large`, `dropped` or `other`.
    reason: String,
    /// The whole story in a sentence.
    text: String,
}

impl From<RustTopicGap> for TopicGap {
    fn from(gap: RustTopicGap) -> Self {
        let reason = match gap.reason {
            GapReason::Restarted => "restarted",
            GapReason::Forgot => "forgot",
            GapReason::TooLarge => "too_large",
            GapReason::Dropped => "dropped",
            GapReason::Closed => "closed",
            GapReason::Other => "other",
        };
        TopicGap {
            text: gap.to_string(),
            message: errors::message_class(gap.type_id),
            source: gap.source,
            topic: gap.topic,
            type_id: gap.type_id,
            first: gap.first_seq,
            last: gap.last_seq,
            count: gap.count,
            reason: reason.to_string(),
        }
    }
}

#[pymethods]
impl TopicGap {
    fn __str__(&self) -> String {
        self.text.clone()
    }

    fn __repr__(&self) -> String {
        format!(
            "TopicGap(source={:?}, topic={:?}, message={:?}, first={}, last={}, count={}, reason={:?})",
            self.source, self.topic, self.message, self.first, self.last, self.count, self.reason
        )
    }
}

/// What `Node.on_gap` returned: `cancel()` ends the calls.
#[pyclass(module = "mycelium._native", frozen)]
pub(crate) struct GapWatch {
    subscription: RustSubscription,
}

#[pymethods]
impl GapWatch {
    /// No more calls once it returns (one under way finishes).
    fn cancel(&self) {
        self.subscription.cancel();
    }

    /// False once cancelled.
    fn is_active(&self) -> bool {
        self.subscription.is_active()
    }
}
