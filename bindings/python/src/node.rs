//! `Node`: a bus as one node of a `topology.toml`, so tell/ask by service name reach a
//! service wherever the topology puts it.

use std::sync::Arc;

use mycelium_actors::Bus as RustBus;
use mycelium_remote::{frame::Kind, DispatchError, LocalSchema, Node as RustNode, RemoteAskError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use tokio::runtime::Handle;

use crate::actor_ref::seconds;
use crate::errors::{self, ActorFailed, AskTimeout, MessageTypeError};
use crate::schema::BusSchema;
use crate::wait::wait;

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
                let clock = self.bus.clock().clone();
                let asked = async move {
                    let asked = link.ask(&name, type_id, |out| out.extend_from_slice(&body));
                    match limit {
                        Some(limit) => clock.timeout(limit, asked).await.ok(),
                        None => Some(asked.await),
                    }
                };
                match wait(py, &self.handle, asked)? {
                    Some(answer) => answer.map_err(|e| remote_error(e, &asked_name, type_id))?,
                    None => {
                        return Err(AskTimeout::new_err(format!(
                            "no reply from `{service}` within {:?}",
                            limit.unwrap_or_default()
                        )))
                    }
                }
            }
            None => {
                let exports = self.bus.exports();
                let service = service.to_string();
                wait(py, &self.handle, async move {
                    match limit {
                        Some(t) => exports.ask_timeout(&service, type_id, &body, t).await,
                        None => exports.ask(&service, type_id, &body).await,
                    }
                })?
                .map_err(errors::delivery)?
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
    /// subscribers (Python or Rust) receive them. Waits (without the GIL) for room on the
    /// links.
    fn subscribe_remote(&self, py: Python<'_>, type_id: u16, pattern: &str) -> PyResult<()> {
        self.typed_topics("subscribe_remote")?;
        let subscribed = mycelium_foreign::subscribe_remote(&self.node, type_id, pattern);
        wait(py, &self.handle, subscribed)?.map_err(errors::topic)
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
