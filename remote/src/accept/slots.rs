//! The handshake slots of one listener: connections that have not authenticated yet, oldest
//! first. A new connection always gets a slot; when the slots are full it takes the oldest
//! one's, and that connection is closed. Over TCP one source address holds at most
//! [`MAX_HANDSHAKES_PER_SOURCE`] slots (an IPv6 /64 network counts as one address, since one
//! host commonly holds all of it): a new connection from a source at its limit takes the slot
//! of that source's own oldest, so a flood from one address closes only its own
//! connections. A peer that authenticates within a round trip or two therefore always gets
//! through, however many half-open connections others hold.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// Most connections in their handshake at once on one listener (until they authenticate,
/// each for at most the handshake deadline); a new one beyond them takes the slot of the
/// oldest, which is closed.
pub const MAX_HANDSHAKES: usize = 64;

/// Most connections from one TCP source address in their handshake at once on one listener;
/// a new one beyond them takes the slot of that address's oldest. An IPv6 /64 network counts
/// as one address (one host commonly holds all of it). A Unix socket's peers have no
/// address: only [`MAX_HANDSHAKES`] holds.
pub const MAX_HANDSHAKES_PER_SOURCE: usize = 16;

/// The source a connection from `addr` is counted under: its IPv4 address (an IPv4-mapped
/// IPv6 address as that IPv4 address), or its IPv6 /64 network.
pub(crate) fn source_of(addr: std::net::SocketAddr) -> IpAddr {
    match addr.ip() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
    }
}

/// The slots of one listener.
#[derive(Default)]
pub(crate) struct Slots {
    held: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    /// Slots in the order they were given (ids only grow).
    by_age: BTreeMap<u64, Holder>,
    next: u64,
    /// Connections closed to make room, for logging at a bounded rate.
    evicted: u64,
}

struct Holder {
    source: Option<IpAddr>,
    /// Dropped to close the connection that holds the slot.
    _evict: oneshot::Sender<()>,
}

/// One connection's slot, given back when dropped.
pub(crate) struct Slot {
    id: u64,
    slots: Arc<Slots>,
    evicted: oneshot::Receiver<()>,
}

/// A connection closed to make room, and how many have been so far (to log at a bounded
/// rate).
pub(crate) struct Eviction {
    pub total: u64,
}

impl Slots {
    /// A slot for a new connection from `source` (`None`: a Unix socket's peer), taking the
    /// oldest one's (of the same source when that source is at its limit) when needed.
    pub fn admit(self: &Arc<Self>, source: Option<IpAddr>) -> (Slot, Option<Eviction>) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let mut mine = held
            .by_age
            .iter()
            .filter(|(_, h)| source.is_some() && h.source == source)
            .map(|(id, _)| *id);
        let oldest_mine = mine.next();
        let oldest = if oldest_mine.is_some() && 1 + mine.count() >= MAX_HANDSHAKES_PER_SOURCE {
            oldest_mine
        } else if held.by_age.len() >= MAX_HANDSHAKES {
            held.by_age.keys().next().copied()
        } else {
            None
        };
        // Dropping the holder's sender is what closes its connection.
        let eviction = oldest.and_then(|id| held.by_age.remove(&id)).map(|_| {
            held.evicted += 1;
            Eviction {
                total: held.evicted,
            }
        });
        let id = held.next;
        held.next += 1;
        let (tx, rx) = oneshot::channel();
        held.by_age.insert(id, Holder { source, _evict: tx });
        let slot = Slot {
            id,
            slots: self.clone(),
            evicted: rx,
        };
        (slot, eviction)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .by_age
            .len()
    }
}

impl Slot {
    /// Completes when a newer connection took this slot: the connection is to be closed.
    pub async fn evicted(&mut self) {
        let _ = (&mut self.evicted).await;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots
            .held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .by_age
            .remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::task::{Context, Poll, Waker};

    fn is_evicted(slot: &mut Slot) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        let fut = std::pin::pin!(slot.evicted());
        fut.poll(&mut cx) == Poll::Ready(())
    }

    #[test]
    fn a_new_connection_beyond_the_limit_takes_the_oldest_slot() {
        let slots = Arc::new(Slots::default());
        let mut held: Vec<Slot> = (0..MAX_HANDSHAKES)
            .map(|_| {
                let (slot, eviction) = slots.admit(None);
                assert!(eviction.is_none());
                slot
            })
            .collect();
        let (mut newest, eviction) = slots.admit(None);
        assert_eq!(eviction.map(|e| e.total), Some(1));
        assert!(is_evicted(&mut held[0]));
        assert!(held[1..].iter_mut().all(|s| !is_evicted(s)));
        assert!(!is_evicted(&mut newest));
        assert_eq!(slots.len(), MAX_HANDSHAKES);
        // A slot given back makes room: the next one takes nobody's.
        held.pop();
        assert!(slots.admit(None).1.is_none());
    }

    #[test]
    fn an_ipv6_network_counts_as_one_source() {
        let at = |ip: &str| source_of(std::net::SocketAddr::new(ip.parse().unwrap(), 4000));
        assert_eq!(
            at("2001:db8:1:2::1"),
            at("2001:db8:1:2:ffff:ffff:ffff:ffff")
        );
        assert_ne!(at("2001:db8:1:2::1"), at("2001:db8:1:3::1"));
        assert_eq!(at("::ffff:192.0.2.7"), at("192.0.2.7"));
        assert_ne!(at("192.0.2.7"), at("192.0.2.8"));
    }

    #[test]
    fn a_source_at_its_limit_takes_its_own_oldest_slot() {
        let slots = Arc::new(Slots::default());
        let flood: IpAddr = "192.0.2.1".parse().unwrap();
        let peer: IpAddr = "192.0.2.2".parse().unwrap();
        let (mut first_peer, _) = slots.admit(Some(peer));
        let mut flooded: Vec<Slot> = (0..MAX_HANDSHAKES_PER_SOURCE)
            .map(|_| slots.admit(Some(flood)).0)
            .collect();
        for n in 1..=10 {
            let (slot, eviction) = slots.admit(Some(flood));
            assert_eq!(eviction.map(|e| e.total), Some(n));
            flooded.push(slot);
        }
        assert!(
            !is_evicted(&mut first_peer),
            "another source's slot is kept"
        );
        assert_eq!(slots.len(), 1 + MAX_HANDSHAKES_PER_SOURCE);
    }
}
