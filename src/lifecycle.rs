//! The process lifecycle of SPEC §8: what SIGTERM, SIGINT and SIGQUIT do, the drain state the
//! proxy and the admin listener read, and the count of requests in flight that lets the process
//! exit as soon as it is idle instead of sleeping out Pingora's whole grace period.
//!
//! - SIGTERM: `/readyz` fails at once, every answer carries `Connection: close`, requests are
//!   still served for `listen.drain_delay_secs`; then Pingora closes the listeners and the
//!   process exits 0 once no request is in flight (Pingora's grace period is the upper bound).
//! - SIGINT: exit at once, whatever the load (no runtime shutdown, so no accept loop left to
//!   spin on a runtime going away).
//! - SIGQUIT: Pingora hands the listening sockets to a process started with `serve --upgrade`;
//!   answers carry `Connection: close` so that keep-alive clients move to the new process.

use async_trait::async_trait;
use pingora::server::{ExecutionPhase, ShutdownSignal, ShutdownSignalWatch};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::broadcast;

/// Read by the proxy (in-flight count, `Connection: close`) and the admin listener
/// (readiness). One per process, as signals are.
pub struct Lifecycle {
    /// SIGTERM received: readiness fails.
    terminating: AtomicBool,
    /// SIGTERM or SIGQUIT received: no connection is kept alive any more.
    closing: AtomicBool,
    in_flight: AtomicUsize,
}

static LIFECYCLE: Lifecycle = Lifecycle {
    terminating: AtomicBool::new(false),
    closing: AtomicBool::new(false),
    in_flight: AtomicUsize::new(0),
};

/// The process's lifecycle state.
pub fn lifecycle() -> &'static Lifecycle {
    &LIFECYCLE
}

impl Lifecycle {
    pub fn is_terminating(&self) -> bool {
        self.terminating.load(Ordering::Acquire)
    }

    /// Whether answers must carry `Connection: close`.
    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Counts a request until the returned guard is dropped (with the request's context).
    pub fn begin(&'static self) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self)
    }

    fn terminate(&self) {
        self.terminating.store(true, Ordering::Release);
        self.closing.store(true, Ordering::Release);
    }

    fn close_connections(&self) {
        self.closing.store(true, Ordering::Release);
    }
}

/// One request in flight; dropping it ends the count.
pub struct InFlight(&'static Lifecycle);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Pingora's signal source, replaced by ours (see the module doc).
pub struct Signals {
    pub drain_delay: Duration,
    /// Pingora's execution phases: tells when the listeners are closed.
    pub phases: std::sync::Mutex<Option<broadcast::Receiver<ExecutionPhase>>>,
}

#[async_trait]
impl ShutdownSignalWatch for Signals {
    async fn recv(&self) -> ShutdownSignal {
        let (Ok(mut term), Ok(mut int), Ok(mut quit)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::quit()),
        ) else {
            tracing::error!("cannot install the signal handlers");
            exit_now(1);
        };
        let graceful = tokio::select! {
            _ = int.recv() => exit_on_sigint(),
            _ = term.recv() => {
                lifecycle().terminate();
                tracing::info!(
                    drain_delay_secs = self.drain_delay.as_secs(),
                    "SIGTERM: draining (readiness fails, connections close after their answer)"
                );
                tokio::select! {
                    _ = int.recv() => exit_on_sigint(),
                    _ = tokio::time::sleep(self.drain_delay) => {}
                }
                ShutdownSignal::GracefulTerminate
            }
            _ = quit.recv() => {
                lifecycle().close_connections();
                tracing::info!("SIGQUIT: handing the listening sockets over to the new process");
                ShutdownSignal::GracefulUpgrade
            }
        };
        let phases = self.phases.lock().ok().and_then(|mut p| p.take());
        // Runs on Pingora's main runtime, which keeps its thread after this returns.
        tokio::spawn(exit_when_idle(phases, int));
        graceful
    }
}

/// Once Pingora has closed the listeners, exits 0 as soon as no request is in flight; exits at
/// once on SIGINT meanwhile.
async fn exit_when_idle(phases: Option<broadcast::Receiver<ExecutionPhase>>, mut int: Signal) {
    let closed = async {
        if let Some(mut phases) = phases {
            loop {
                match phases.recv().await {
                    Ok(ExecutionPhase::ShutdownGracePeriod) => break,
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    // Pingora is past its grace period: it exits by itself.
                    Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
                }
            }
        }
        // A connection accepted just before the close may still be sending its request head.
        let mut idle_checks = 0;
        while idle_checks < 5 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            idle_checks = if lifecycle().in_flight() == 0 {
                idle_checks + 1
            } else {
                0
            };
        }
    };
    tokio::select! {
        _ = int.recv() => exit_on_sigint(),
        () = closed => {
            tracing::info!("no request in flight, exiting");
            exit_now(0)
        }
    }
}

fn exit_on_sigint() -> ! {
    tracing::info!("SIGINT: exiting at once");
    exit_now(0)
}

/// Flushes the log buffer and ends the process without unwinding the runtimes.
pub fn exit_now(code: i32) -> ! {
    crate::logs::flush();
    std::process::exit(code)
}
