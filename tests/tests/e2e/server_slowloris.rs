//! End-to-end: a slowloris attack on the real binary. 2,500 connections — half send nothing,
//! half send one header byte a second and never finish their head — against a server whose
//! open-files limit is 2,304 (so the cap it derives is 2,016: the limit less 256 descriptors
//! of headroom and the 32-connection health reserve), reconnecting whenever the server
//! closes them, for 15 s: more connections than the server has descriptors. Throughout,
//! `/api/health` on a fresh connection (as the ALB's check) must answer 200 within 100 ms,
//! the server must never hold more than its cap plus the health reserve, and it must shed
//! the attackers by evicting the oldest silent connection at the cap. (The timeouts alone
//! are tested in `server_connections.rs`.) Prints the figures for the README.
// Test helpers may unwrap: a panic is the test failing.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tests::server_harness::{api_addr, env_with, events, metric_sum, raw_health, scrape, Server};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Attacking connections (the brief: thousands, bounded for a 2-core machine).
const ATTACKERS: usize = 2_500;
/// The server's open-files limit in this test, below the attackers.
const NOFILE: u64 = 2_304;
/// The cap the server derives from it (server/src/connections: limit − 256 − 32).
const CAP: u64 = NOFILE - 256 - 32;
/// Header-read timeout in this test (ms), short so it fires several times within the attack.
const HEADER_TIMEOUT_MS: u64 = 4_000;
/// How long health is probed under attack.
const ATTACK: Duration = Duration::from_secs(15);
/// One probe every this long.
const PROBE_EVERY: Duration = Duration::from_millis(100);
/// The functional bound on a health answer under attack.
const HEALTH_BOUND: Duration = Duration::from_millis(100);
/// A slowloris sends one byte this often.
const TRICKLE_EVERY: Duration = Duration::from_secs(1);
/// An attacker whose connection was closed reconnects after this pause (attack pacing; the
/// eviction loop would otherwise run as fast as the two cores can spin).
const RECONNECT_PAUSE: Duration = Duration::from_millis(500);

#[derive(Default)]
struct Stats {
    open: AtomicUsize,
    peak_open: AtomicUsize,
    closed_by_server: AtomicU64,
    connects: AtomicU64,
}

impl Stats {
    fn opened(&self) {
        self.connects.fetch_add(1, Ordering::Relaxed);
        let now = self.open.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak_open.fetch_max(now, Ordering::Relaxed);
    }

    fn closed(&self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
        self.closed_by_server.fetch_add(1, Ordering::Relaxed);
    }
}

/// One attacker: connects, then sends nothing (`trickle == false`) or one byte of a head
/// that never ends every second, until the server closes it; then reconnects.
async fn attacker(addr: SocketAddr, trickle: bool, stats: Arc<Stats>) {
    let head = b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    loop {
        let Ok(mut tcp) = TcpStream::connect(addr).await else {
            tokio::time::sleep(RECONNECT_PAUSE).await;
            continue;
        };
        stats.opened();
        let mut buf = [0u8; 64];
        let mut sent = 0usize;
        let mut tick = tokio::time::interval(TRICKLE_EVERY);
        loop {
            tokio::select! {
                // EOF or reset: the server closed the connection.
                _ = tcp.read(&mut buf) => break,
                _ = tick.tick(), if trickle => {
                    let byte = head.get(sent).copied().unwrap_or(b'a');
                    sent += 1;
                    if tcp.write_all(&[byte]).await.is_err() {
                        break;
                    }
                }
            }
        }
        stats.closed();
        tokio::time::sleep(RECONNECT_PAUSE).await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// What one attack run saw.
struct Figures {
    latencies: Vec<Duration>,
    failures: Vec<String>,
    peak_server_open: f64,
    evicted: f64,
    timed_out: f64,
    stats: Arc<Stats>,
}

impl Figures {
    fn max(&self) -> Duration {
        *self.latencies.last().unwrap()
    }

    fn report(&self, what: &str, attackers: usize) {
        println!(
            "slowloris ({what}): {attackers} attackers (peak {} open client-side, {} connects, {} closed by the server); \
             server peak open {}; evicted {}, timed out {}; health {} probes: p50 {:?} p99 {:?} max {:?}",
            self.stats.peak_open.load(Ordering::Relaxed),
            self.stats.connects.load(Ordering::Relaxed),
            self.stats.closed_by_server.load(Ordering::Relaxed),
            self.peak_server_open,
            self.evicted,
            self.timed_out,
            self.latencies.len(),
            percentile(&self.latencies, 0.5),
            percentile(&self.latencies, 0.99),
            self.max(),
        );
    }
}

/// Runs `attackers` slowloris connections against `server` and probes health under them.
async fn attack(server: &Server, attackers: usize) -> Figures {
    let addr = api_addr(server);
    let stats = Arc::new(Stats::default());
    let mut tasks = Vec::with_capacity(attackers);
    // Ramp up over ~2.5 s so the listen backlog is not the bottleneck.
    for i in 0..attackers {
        tasks.push(tokio::spawn(attacker(addr, i % 2 == 1, Arc::clone(&stats))));
        if i % 100 == 99 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let mut latencies = Vec::new();
    let mut failures = Vec::new();
    let mut peak_server_open = 0.0f64;
    let started = std::time::Instant::now();
    let mut probe = tokio::time::interval(PROBE_EVERY);
    while started.elapsed() < ATTACK {
        probe.tick().await;
        let (status, latency) = raw_health(addr).await;
        if status != 200 {
            failures.push(format!("status {status} after {latency:?}"));
        }
        latencies.push(latency);
        if latencies.len() % 10 == 0 {
            let open = metric_sum(&scrape(server).await, "aistudio_open_connections");
            peak_server_open = peak_server_open.max(open);
        }
    }
    let metrics = scrape(server).await;
    for t in &tasks {
        t.abort();
    }
    latencies.sort();
    Figures {
        latencies,
        failures,
        peak_server_open,
        evicted: metric_sum(&metrics, "aistudio_connections_evicted_total"),
        timed_out: metric_sum(&metrics, "aistudio_connections_timed_out_total"),
        stats,
    }
}

/// The two attacks share two cores: never run them at once.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_within_100ms_while_2500_slowloris_connections_hold_the_cap() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let header_timeout = HEADER_TIMEOUT_MS.to_string();
    let server = Server::start_with_nofile(
        &env_with(&[
            ("HEADER_READ_TIMEOUT_MS", &header_timeout),
            ("LOG_SAMPLE_INTERVAL_MS", "1000"),
        ]),
        NOFILE,
    )
    .await;
    assert_eq!(
        events(&server.logs(), "server.started")[0]["maxConnections"],
        CAP
    );
    let f = attack(&server, ATTACKERS).await;
    f.report("over the cap", ATTACKERS);
    let cap = CAP as f64;
    assert!(
        f.failures.is_empty(),
        "health failed under attack: {:?}",
        f.failures
    );
    assert!(
        f.max() < HEALTH_BOUND,
        "health took {:?} under attack (bound {HEALTH_BOUND:?})",
        f.max()
    );
    assert!(
        f.stats.peak_open.load(Ordering::Relaxed) as f64 >= cap,
        "the attack reached the cap"
    );
    // Eviction hands the victim's slot to the newcomer: never past the cap, and the health
    // reserve is left for when every slot carries a real request.
    assert!(
        f.peak_server_open <= cap,
        "the server held {} connections, over its cap",
        f.peak_server_open
    );
    assert!(f.evicted > 0.0, "connections were evicted at the cap");
    let logs = server.stop(&[]).await;
    assert!(
        events(&logs, "server.accept_failed").is_empty(),
        "accept never ran out of descriptors"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn below_the_cap_the_header_timeout_sheds_2000_slowloris_connections() {
    const BELOW: usize = 2_000;
    let _serial = ONE_AT_A_TIME.lock().await;
    let header_timeout = HEADER_TIMEOUT_MS.to_string();
    let server = Server::start(&env_with(&[("HEADER_READ_TIMEOUT_MS", &header_timeout)])).await;
    let f = attack(&server, BELOW).await;
    f.report("below the cap", BELOW);
    assert!(
        f.failures.is_empty(),
        "health failed under attack: {:?}",
        f.failures
    );
    assert!(
        f.max() < HEALTH_BOUND,
        "health took {:?} under attack (bound {HEALTH_BOUND:?})",
        f.max()
    );
    assert!(
        f.stats.peak_open.load(Ordering::Relaxed) >= BELOW * 9 / 10,
        "the attackers were held open"
    );
    assert_eq!(f.evicted, 0.0, "below the cap nothing is evicted");
    // Every attacker connection ends at the header-read timeout, several times over in 15 s.
    assert!(
        f.timed_out >= BELOW as f64,
        "{} connections timed out",
        f.timed_out
    );
    server.stop(&[]).await;
}
