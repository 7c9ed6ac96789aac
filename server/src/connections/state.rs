//! One connection's timing state: which deadline applies now, what woke it, and the socket
//! and body wrappers that report reads and finished responses.
//!
//! A connection is *active* from the moment hyper hands a request to the service until its
//! response body is dropped (written out, or the client went away), so a long SSE stream is
//! never idle. When it is not active exactly one deadline applies:
//!
//! * no request yet: accept + header-read timeout (a client that sends nothing, or a head
//!   one byte a second, is closed then);
//! * HTTP/1 after a response, once the next request's first byte arrived: that byte's time +
//!   header-read timeout;
//! * otherwise: the end of the last response + idle timeout.

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Bytes, HttpBody};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::{after, Admission, Limits, Registry};

#[derive(Debug)]
struct Timing {
    active: usize,
    served: u64,
    idle_since: Instant,
    head_started: Option<Instant>,
    evicted: bool,
    close_requested: bool,
    auth_failures: u32,
}

/// Shared by the connection task, its socket, its requests and their response bodies.
#[derive(Debug)]
pub struct ConnState {
    id: u64,
    peer: IpAddr,
    admission: Admission,
    accepted: Instant,
    header_timeout: Duration,
    registry: Arc<Registry>,
    /// HTTP/1 and idle after a response: the next byte read starts a request head.
    awaiting_head: AtomicBool,
    /// The slot was given up (at eviction, or when the connection ended).
    slot_released: AtomicBool,
    http1: AtomicBool,
    timing: Mutex<Timing>,
    changed: Notify,
}

impl ConnState {
    pub(super) fn new(
        id: u64,
        peer: IpAddr,
        admission: Admission,
        header_timeout: Duration,
        registry: Arc<Registry>,
    ) -> Arc<Self> {
        let now = Instant::now();
        Arc::new(Self {
            id,
            peer,
            admission,
            accepted: now,
            header_timeout,
            registry,
            awaiting_head: AtomicBool::new(false),
            slot_released: AtomicBool::new(false),
            http1: AtomicBool::new(false),
            timing: Mutex::new(Timing {
                active: 0,
                served: 0,
                idle_since: now,
                head_started: None,
                evicted: false,
                close_requested: false,
                auth_failures: 0,
            }),
            changed: Notify::new(),
        })
    }

    fn timing(&self) -> MutexGuard<'_, Timing> {
        self.timing.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registry id (grows with accept order).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The peer's address.
    pub fn peer(&self) -> IpAddr {
        self.peer
    }

    /// Normal or reserve.
    pub fn admission(&self) -> Admission {
        self.admission
    }

    pub(super) fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The connection speaks HTTP/1 (its idle pauses end at the next byte, not the next frame).
    pub fn set_http1(&self) {
        self.http1.store(true, Ordering::Relaxed);
    }

    /// Resolves when the timing changed (a request started or ended, a head began, an
    /// eviction or close request), so the connection task recomputes its deadline.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// A request reached the service; it stays active until the returned guard drops.
    pub fn request_started(self: &Arc<Self>) -> ActiveGuard {
        self.awaiting_head.store(false, Ordering::Relaxed);
        let first = {
            let mut t = self.timing();
            t.active += 1;
            t.served += 1;
            t.head_started = None;
            t.served == 1
        };
        if first {
            self.registry.stop_waiting(self.id);
        }
        ActiveGuard(Arc::clone(self))
    }

    fn request_ended(&self) {
        {
            let mut t = self.timing();
            t.active = t.active.saturating_sub(1);
            if t.active == 0 {
                t.idle_since = Instant::now();
                self.awaiting_head
                    .store(self.http1.load(Ordering::Relaxed), Ordering::Relaxed);
            }
        }
        self.changed.notify_one();
    }

    fn bytes_read(&self) {
        if self.awaiting_head.swap(false, Ordering::Relaxed) {
            {
                let mut t = self.timing();
                if t.active == 0 {
                    t.head_started = Some(Instant::now());
                }
            }
            self.changed.notify_one();
        }
    }

    /// Gives up the slot; true the first time only.
    pub(super) fn release_slot(&self) -> bool {
        !self.slot_released.swap(true, Ordering::Relaxed)
    }

    pub(super) fn evict(&self) {
        self.timing().evicted = true;
        self.changed.notify_one();
    }

    /// Asks the connection task to close the connection after the response in flight.
    pub fn request_close(&self) {
        self.timing().close_requested = true;
        self.changed.notify_one();
    }

    /// Counts one rejected authentication on this connection and returns the total.
    pub fn auth_failed(&self) -> u32 {
        let mut t = self.timing();
        t.auth_failures = t.auth_failures.saturating_add(1);
        t.auth_failures
    }

    /// True once evicted (and still without a request; a request that raced the eviction wins).
    pub fn is_evicted(&self) -> bool {
        let t = self.timing();
        t.evicted && t.served == 0
    }

    /// True when a close was requested.
    pub fn close_requested(&self) -> bool {
        self.timing().close_requested
    }

    /// No request has arrived on this connection yet.
    pub fn never_served(&self) -> bool {
        self.timing().served == 0
    }

    /// A reserve connection that has had its one answer.
    pub fn reserve_done(&self) -> bool {
        let t = self.timing();
        self.admission == Admission::Reserve && t.served > 0 && t.active == 0
    }

    /// The deadline in force now (`None` while a request is active), and which one it is.
    pub fn deadline(&self, limits: &Limits) -> Option<(Instant, Expiry)> {
        let t = self.timing();
        if t.active > 0 {
            None
        } else if t.served == 0 {
            Some((
                after(self.accepted, self.header_timeout),
                Expiry::HeaderRead,
            ))
        } else if let Some(started) = t.head_started {
            Some((after(started, self.header_timeout), Expiry::HeaderRead))
        } else {
            Some((after(t.idle_since, limits.idle_timeout), Expiry::Idle))
        }
    }
}

/// Which timeout closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// No complete request head in time.
    HeaderRead,
    /// Idle between requests for too long.
    Idle,
}

impl Expiry {
    /// Metric label.
    pub fn label(self) -> &'static str {
        match self {
            Expiry::HeaderRead => "header_read",
            Expiry::Idle => "idle",
        }
    }
}

/// Keeps a request active until dropped (moved into its response body).
#[derive(Debug)]
pub struct ActiveGuard(Arc<ConnState>);

impl ActiveGuard {
    /// The connection this request arrived on.
    pub fn conn(&self) -> &Arc<ConnState> {
        &self.0
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.request_ended();
    }
}

/// A response body that keeps its request active until hyper drops it.
#[derive(Debug)]
pub struct GuardedBody<B> {
    inner: B,
    _guard: ActiveGuard,
}

impl<B> GuardedBody<B> {
    /// Wraps `inner`.
    pub fn new(inner: B, guard: ActiveGuard) -> Self {
        Self {
            inner,
            _guard: guard,
        }
    }
}

impl<B: HttpBody<Data = Bytes> + Unpin> HttpBody for GuardedBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The socket, reporting reads to the connection's state.
#[derive(Debug)]
pub struct WatchedIo {
    tcp: TcpStream,
    state: Arc<ConnState>,
}

impl WatchedIo {
    /// Wraps `tcp`.
    pub fn new(tcp: TcpStream, state: Arc<ConnState>) -> Self {
        Self { tcp, state }
    }
}

impl AsyncRead for WatchedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.tcp).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.state.bytes_read();
        }
        r
    }
}

impl AsyncWrite for WatchedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::super::Registry;
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_connections: 10,
            max_per_peer: 0,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn deadlines_follow_the_request_cycle() {
        let l = limits();
        let r = Registry::new(l);
        let ticket = r.admit(IpAddr::from([127, 0, 0, 1])).unwrap();
        let s = Arc::clone(ticket.state());
        s.set_http1();
        let t0 = Instant::now();
        assert_eq!(
            s.deadline(&l),
            Some((t0 + Duration::from_secs(10), Expiry::HeaderRead))
        );
        let guard = s.request_started();
        assert_eq!(
            s.deadline(&l),
            None,
            "no deadline while a request is active"
        );
        tokio::time::advance(Duration::from_secs(100)).await;
        drop(guard);
        let t1 = Instant::now();
        assert_eq!(
            s.deadline(&l),
            Some((t1 + Duration::from_secs(75), Expiry::Idle))
        );
        tokio::time::advance(Duration::from_secs(5)).await;
        s.bytes_read();
        assert_eq!(
            s.deadline(&l),
            Some((t1 + Duration::from_secs(15), Expiry::HeaderRead)),
            "the next head's first byte starts the header-read timeout"
        );
    }
}
