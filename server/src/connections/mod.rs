//! Connection admission: the total and per-peer caps, the health-check reserve, and eviction
//! of connections that never sent a request.
//!
//! Every accepted socket asks the [`Registry`] for a slot. Below `max_connections` it gets
//! one. At the cap, the oldest connection that has not yet sent a complete request (a
//! slowloris or a silent client) is evicted to make room, so a flood of such connections can
//! never lock out a real client or the ALB's health check: their request arrives within
//! milliseconds of the connect, long before `max_connections` newer connections could push
//! them out in turn. Only when every slot carries a real request does a newcomer go to a
//! small reserve that serves `/api/health` alone; past that it is closed at once. The cap is
//! kept below the open-files limit (see [`effective_max_connections`]) so `accept` itself
//! never fails for lack of descriptors.

mod state;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

pub use state::{ActiveGuard, ConnState, GuardedBody, WatchedIo};

use crate::config::ServerConfig;
use crate::metrics as m;

/// Connections admitted past the cap when no connection can be evicted; each may only ask
/// for `/api/health` (enough for the ALB's and ECS's checks, which open one at a time).
pub const HEALTH_RESERVE: usize = 32;

/// Descriptors kept free beyond the connections and the reserve: the two listeners, the log
/// file, metrics scrapes, the runtime's own descriptors and a margin for connections being
/// evicted while their replacement is already open.
pub const FD_HEADROOM: u64 = 256;

/// A reserve connection gets at most this long to send its request (health checks send at once).
pub const RESERVE_HEADER_TIMEOUT: Duration = Duration::from_secs(1);

/// The limits one listener enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections admitted normally.
    pub max_connections: usize,
    /// Connections per peer address; 0 = no cap.
    pub max_per_peer: usize,
    /// Time for a complete request head.
    pub header_read_timeout: Duration,
    /// Time an idle keep-alive connection stays open.
    pub idle_timeout: Duration,
}

impl Limits {
    /// The limits from the config, with the connection cap already fitted to the descriptors.
    pub fn new(server: &ServerConfig, max_connections: usize) -> Self {
        Self {
            max_connections,
            max_per_peer: server.max_connections_per_peer,
            header_read_timeout: Duration::from_millis(server.header_read_timeout_ms),
            idle_timeout: Duration::from_millis(server.idle_timeout_ms),
        }
    }
}

/// The connection cap that fits `soft_limit` open files: the configured cap, lowered so the
/// connections (`fds_per_connection` each: 2 when streams may hold an upstream socket), the
/// health reserve and [`FD_HEADROOM`] all fit.
pub fn effective_max_connections(
    configured: usize,
    soft_limit: u64,
    fds_per_connection: u64,
) -> usize {
    let reserved = FD_HEADROOM + HEALTH_RESERVE as u64 * fds_per_connection;
    let fit = soft_limit.saturating_sub(reserved) / fds_per_connection.max(1);
    configured
        .min(usize::try_from(fit).unwrap_or(usize::MAX))
        .max(1)
}

/// How a connection was admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// A normal slot.
    Normal,
    /// Past the cap: may only ask for `/api/health`, and is closed after one answer.
    Reserve,
}

/// Why a connection was closed at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The peer already holds `max_connections_per_peer` connections.
    PerPeer,
    /// Every slot and the reserve carry requests.
    Full,
}

impl Refusal {
    /// Metric label.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::PerPeer => "per_peer_cap",
            Refusal::Full => "full",
        }
    }
}

impl Slots {
    /// Sets the open-connections gauge: connections holding a slot.
    fn publish(&self) {
        metrics::gauge!(m::OPEN_CONNECTIONS).set((self.normal + self.reserve) as f64);
    }
}

#[derive(Debug, Default)]
struct Slots {
    normal: usize,
    reserve: usize,
    per_peer: HashMap<IpAddr, usize>,
    /// Connections that have not yet sent a complete request, oldest first (ids only grow).
    waiting: BTreeMap<u64, Arc<ConnState>>,
    evicted: u64,
}

/// Open connections of one listener.
#[derive(Debug)]
pub struct Registry {
    limits: Limits,
    slots: Mutex<Slots>,
    next_id: AtomicU64,
}

impl Registry {
    /// An empty registry enforcing `limits`.
    pub fn new(limits: Limits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            slots: Mutex::new(Slots::default()),
            next_id: AtomicU64::new(0),
        })
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    fn slots(&self) -> MutexGuard<'_, Slots> {
        // A poisoned lock only means a panic mid-update elsewhere; the counts are still usable.
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Admits a connection from `peer`, evicting the oldest waiting one at the cap.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Ticket, Refusal> {
        let mut slots = self.slots();
        let from_peer = slots.per_peer.get(&peer).copied().unwrap_or(0);
        if self.limits.max_per_peer > 0 && from_peer >= self.limits.max_per_peer {
            return Err(Refusal::PerPeer);
        }
        let kind = if slots.normal < self.limits.max_connections {
            Admission::Normal
        } else if let Some((_, victim)) = slots.waiting.pop_first() {
            // The slot passes to the newcomer now, not when the victim's task has closed its
            // socket (the descriptor headroom covers that moment), so the count never
            // exceeds the cap and the reserve stays for connections with real requests.
            victim.evict();
            victim.release_slot();
            slots.normal = slots.normal.saturating_sub(1);
            slots.evicted += 1;
            metrics::counter!(m::CONNECTIONS_EVICTED).increment(1);
            Admission::Normal
        } else if slots.reserve < HEALTH_RESERVE {
            Admission::Reserve
        } else {
            return Err(Refusal::Full);
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let header_timeout = match kind {
            Admission::Normal => self.limits.header_read_timeout,
            Admission::Reserve => self.limits.header_read_timeout.min(RESERVE_HEADER_TIMEOUT),
        };
        let state = ConnState::new(id, peer, kind, header_timeout, Arc::clone(self));
        match kind {
            Admission::Normal => slots.normal += 1,
            Admission::Reserve => slots.reserve += 1,
        }
        *slots.per_peer.entry(peer).or_insert(0) += 1;
        if kind == Admission::Normal {
            // Reserve connections are not evictable: they have a 1 s header deadline anyway.
            slots.waiting.insert(id, Arc::clone(&state));
        }
        slots.publish();
        Ok(Ticket(state))
    }

    /// The connection sent its first request: it can no longer be evicted.
    fn stop_waiting(&self, id: u64) {
        self.slots().waiting.remove(&id);
    }

    fn release(&self, state: &ConnState) {
        let mut slots = self.slots();
        if state.release_slot() {
            match state.admission() {
                Admission::Normal => slots.normal = slots.normal.saturating_sub(1),
                Admission::Reserve => slots.reserve = slots.reserve.saturating_sub(1),
            }
        }
        if let Some(n) = slots.per_peer.get_mut(&state.peer()) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                slots.per_peer.remove(&state.peer());
            }
        }
        slots.waiting.remove(&state.id());
        slots.publish();
    }

    /// Open connections: (normal, reserve).
    pub fn open(&self) -> (usize, usize) {
        let slots = self.slots();
        (slots.normal, slots.reserve)
    }

    /// Connections evicted so far.
    pub fn evicted(&self) -> u64 {
        self.slots().evicted
    }
}

/// A connection's slot; dropping it (when the connection task ends) frees the slot.
#[derive(Debug)]
pub struct Ticket(Arc<ConnState>);

impl Ticket {
    /// The connection's shared state.
    pub fn state(&self) -> &Arc<ConnState> {
        &self.0
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.0.registry().release(&self.0);
    }
}

/// Deadline helper: `at` plus `d`, saturating far in the future.
fn after(at: Instant, d: Duration) -> Instant {
    at.checked_add(d)
        .unwrap_or_else(|| at + Duration::from_secs(86_400 * 365))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: usize, per_peer: usize) -> Limits {
        Limits {
            max_connections: max,
            max_per_peer: per_peer,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
        }
    }

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

    #[test]
    fn cap_fits_the_descriptor_limit() {
        assert_eq!(effective_max_connections(10_000, 65_535, 1), 10_000);
        // 20,000 descriptors: 20,000 − 256 − 32 = 19,712 connections at most.
        assert_eq!(effective_max_connections(50_000, 20_000, 1), 19_712);
        // With upstream sockets every stream needs two.
        assert_eq!(effective_max_connections(50_000, 20_000, 2), 9_840);
        assert_eq!(effective_max_connections(10, 100, 1), 1);
    }

    #[test]
    fn at_the_cap_the_oldest_waiting_connection_is_evicted() {
        let r = Registry::new(limits(2, 0));
        let first = r.admit(A).unwrap();
        let second = r.admit(A).unwrap();
        // The second sent a request: only the first can be evicted.
        let _g = second.state().request_started();
        let third = r.admit(A).unwrap();
        assert_eq!(third.state().admission(), Admission::Normal);
        assert!(first.state().is_evicted());
        assert!(!second.state().is_evicted());
        assert_eq!(r.evicted(), 1);
        assert_eq!(r.open(), (2, 0), "the victim's slot passed to the newcomer");
        drop(first);
        assert_eq!(r.open(), (2, 0), "and is not freed twice");
    }

    #[test]
    fn with_nothing_to_evict_the_reserve_then_refusal() {
        let r = Registry::new(limits(1, 0));
        let busy = r.admit(A).unwrap();
        let _g = busy.state().request_started();
        let mut reserve = Vec::new();
        for _ in 0..HEALTH_RESERVE {
            let t = r.admit(B).unwrap();
            assert_eq!(t.state().admission(), Admission::Reserve);
            let g = t.state().request_started();
            reserve.push((t, g));
        }
        assert_eq!(r.admit(B).unwrap_err(), Refusal::Full);
        drop(reserve);
        assert_eq!(r.open(), (1, 0));
    }

    #[test]
    fn per_peer_cap_counts_each_address() {
        let r = Registry::new(limits(100, 2));
        let _a1 = r.admit(A).unwrap();
        let a2 = r.admit(A).unwrap();
        assert_eq!(r.admit(A).unwrap_err(), Refusal::PerPeer);
        let _b = r.admit(B).unwrap();
        drop(a2);
        let _a3 = r.admit(A).unwrap();
    }
}
