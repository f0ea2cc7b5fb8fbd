//! [`export_child`]: a supervised foreign child in the export table, found anew on every
//! call ([`export_gated_child`]: exported before its tree starts, found through its gate); [`child_recipient`] and [`child_reply_recipient`]: the same child behind the typed
//! addresses Rust code uses for its own children. A supervisor restarts a child in place (same ref), but spawns a killed one anew,
//! with a new ref: a service that kept the first ref would answer `Stopped` from then on.

use std::sync::{Arc, Weak};
use std::time::Duration;

use mycelium_actors::export::{ByteRefusal, ByteReply, ByteService, ExportError};
use mycelium_actors::{ActorId, AskError, BoxFuture, Bus, Receipt, Recipient, ReplyRecipient};
use mycelium_codec::WireMessage;
use mycelium_supervisor::SupervisorRef;

use crate::gate::GateInner;
use crate::{Foreign, ForeignActor, ForeignGate, ForeignRef};

/// Exports the foreign child `name` of the tree `sup` under `service`, for the contract
/// messages `type_ids`. Every tell and ask looks the child up in the tree, so the service
/// reaches the child that runs now, also after it was killed and spawned anew. With the
/// child's `gate` (from [`gated_child_spec`](crate::gated_child_spec)) its sends are counted
/// as a gated ref's are; the service holds the gate weakly.
pub fn export_child<F: Foreign>(
    bus: &Bus,
    sup: &SupervisorRef,
    name: &str,
    gate: Option<&ForeignGate<F>>,
    service: &str,
    type_ids: &[u16],
) -> Result<(), ExportError> {
    export(bus, service, type_ids, ChildService::new(sup, name, gate))
}

/// Exports the foreign child of `gate` (from [`gated_child_spec`](crate::gated_child_spec))
/// under `service` before its tree is spawned: from the child's first start on, the service
/// reaches the incarnation that runs now (also one spawned anew after a kill), so the
/// `on_start` of a child started after it reaches it by name. Before that, a tell is refused
/// as to a stopped actor. The service holds the gate weakly.
pub fn export_gated_child<F: Foreign>(
    bus: &Bus,
    gate: &ForeignGate<F>,
    service: &str,
    type_ids: &[u16],
) -> Result<(), ExportError> {
    let child = ChildService {
        sup: None,
        name: Arc::from(service),
        gate: Some(Arc::downgrade(&gate.inner)),
        first: None,
        last: std::sync::atomic::AtomicU64::new(0),
    };
    export(bus, service, type_ids, child)
}

fn export<F: Foreign>(
    bus: &Bus,
    service: &str,
    type_ids: &[u16],
    child: ChildService<F>,
) -> Result<(), ExportError> {
    bus.exports()
        .export_bytes(service, type_ids, Arc::new(child))
}

/// The foreign child `name` of the tree `sup` as a typed address for the contract message
/// `M`, as [`SupervisorRef::child_recipient`] gives for a Rust child: every tell finds the
/// child that runs now, so the address survives its restarts. `label` names the actor in
/// errors. The caller checks that the child handles `M` (its language knows).
pub fn child_recipient<F, M>(
    bus: &Bus,
    sup: &SupervisorRef,
    name: &str,
    gate: Option<&ForeignGate<F>>,
    label: &str,
) -> Recipient<M>
where
    F: Foreign,
    M: WireMessage + Send + 'static,
{
    crate::typed::typed_recipient(bus, Arc::new(ChildService::new(sup, name, gate)), label)
}

/// The foreign child `name` of the tree `sup` as a typed request/reply address (requests
/// `M`, replies `R`), as [`SupervisorRef::child_reply_recipient`] gives for a Rust child:
/// every ask finds the child that runs now. A handler that fails is [`AskError::Failed`],
/// a reply of another type than `R` too (naming `label`, `M` and both reply types).
pub fn child_reply_recipient<F, M, R>(
    bus: &Bus,
    sup: &SupervisorRef,
    name: &str,
    gate: Option<&ForeignGate<F>>,
    label: &str,
) -> ReplyRecipient<M, R>
where
    F: Foreign,
    M: WireMessage + Send + 'static,
    R: WireMessage + Send + 'static,
{
    crate::typed::typed_reply_recipient(bus, Arc::new(ChildService::new(sup, name, gate)), label)
}

struct ChildService<F: Foreign> {
    /// The tree, where the child is looked up by `name` (`None`: through the gate alone).
    sup: Option<SupervisorRef>,
    name: Arc<str>,
    gate: Option<Weak<GateInner<F>>>,
    /// The child's id when exported, for a child no longer in the tree.
    first: Option<ActorId>,
    /// The local number of the child last found (0: none yet), which names the service
    /// once its child is gone (a tree that gave up or stopped).
    last: std::sync::atomic::AtomicU64,
}

impl<F: Foreign> ChildService<F> {
    fn new(sup: &SupervisorRef, name: &str, gate: Option<&ForeignGate<F>>) -> Self {
        ChildService {
            first: sup.child::<ForeignActor<F>>(name).map(|a| a.id()),
            sup: Some(sup.clone()),
            name: Arc::from(name),
            gate: gate.map(|g| Arc::downgrade(&g.inner)),
            last: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The child that runs now (or its last incarnation), with the gate.
    fn current(&self) -> Option<ForeignRef<F>> {
        let actor = match &self.sup {
            Some(sup) => sup.child::<ForeignActor<F>>(&self.name)?,
            None => self.gate.as_ref()?.upgrade()?.current()?,
        };
        let number = actor.id().local();
        if self.last.load(std::sync::atomic::Ordering::Relaxed) != number {
            self.last
                .store(number, std::sync::atomic::Ordering::Relaxed);
        }
        Some(ForeignRef::from_actor_ref(actor).with_weak_gate(self.gate.clone()))
    }
}

impl<F: Foreign> ByteService for ChildService<F> {
    fn id(&self) -> ActorId {
        let last = self.last.load(std::sync::atomic::Ordering::Relaxed);
        match (self.current(), self.first, &self.sup) {
            (Some(child), _, _) => child.id(),
            (None, _, _) if last != 0 => ActorId::new(mycelium_actors::NodeId::LOCAL, last),
            (None, Some(first), _) => first,
            (None, None, Some(sup)) => sup.id(),
            // Not started yet: no actor has an id of 0.
            (None, None, None) => ActorId::new(mycelium_actors::NodeId::LOCAL, 0),
        }
    }

    fn is_alive(&self) -> bool {
        self.current().is_some_and(|c| c.is_alive())
    }

    fn try_tell(&self, type_id: u16, body: &[u8]) -> Result<(), ByteRefusal> {
        match self.current() {
            Some(child) => ByteService::try_tell(&child, type_id, body),
            None => Err(ByteRefusal::Stopped),
        }
    }

    fn tell(&self, type_id: u16, body: &[u8]) -> BoxFuture<'static, Result<(), ByteRefusal>> {
        match self.current() {
            Some(child) => ByteService::tell(&child, type_id, body),
            None => Box::pin(async { Err(ByteRefusal::Stopped) }),
        }
    }

    fn try_tell_receipted(
        &self,
        type_id: u16,
        body: &[u8],
        receipt: Receipt,
    ) -> Result<(), (ByteRefusal, Receipt)> {
        match self.current() {
            Some(child) => ByteService::try_tell_receipted(&child, type_id, body, receipt),
            None => Err((ByteRefusal::Stopped, receipt)),
        }
    }

    fn tell_receipted(
        &self,
        type_id: u16,
        body: &[u8],
        receipt: Receipt,
    ) -> BoxFuture<'static, Result<(), ByteRefusal>> {
        match self.current() {
            Some(child) => ByteService::tell_receipted(&child, type_id, body, receipt),
            None => Box::pin(async move {
                drop(receipt);
                Err(ByteRefusal::Stopped)
            }),
        }
    }

    fn ask(
        &self,
        type_id: u16,
        body: &[u8],
        timeout: Option<Duration>,
    ) -> BoxFuture<'static, ByteReply> {
        match self.current() {
            Some(child) => ByteService::ask(&child, type_id, body, timeout),
            None => Box::pin(async { Err(AskError::Closed(())) }),
        }
    }
}
