//! Turns a loaded configuration into running Pingora services: the proxy, the admin listener,
//! the background task that marks the proxy as serving, and the certificate resolver of TLS
//! termination.

use crate::admin::Admin;
use crate::app::App;
use crate::config::Snapshot;
use crate::lifecycle::Signals;
use crate::proxy::{Gateway, HeadDeadline};
use crate::reload::{KeyRefresher, Reloader};
use async_trait::async_trait;
use pingora::listeners::tls::TlsSettings;
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::{RunArgs, Server, ShutdownWatch};
use pingora::services::background::{background_service, BackgroundService};
use pingora::services::listening::Service;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How `serve` was started.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Take the listening sockets over from a running jargate (`serve --upgrade`), which hands
    /// them over on SIGQUIT.
    pub upgrade: bool,
    /// Where the two processes of an upgrade meet.
    pub upgrade_sock: String,
}

/// The default meeting point of a graceful upgrade.
pub const UPGRADE_SOCK: &str = "/tmp/jargate_upgrade.sock";

/// Runs until a signal ends the process (see `lifecycle`): SIGTERM drains and exits 0 once
/// idle, SIGINT exits at once, SIGQUIT hands the listeners to an upgrading process.
pub fn run(config_path: &Path, snapshot: Snapshot) -> Result<(), String> {
    let options = ServeOptions {
        upgrade: false,
        upgrade_sock: UPGRADE_SOCK.into(),
    };
    run_with(config_path, snapshot, &options)
}

pub fn run_with(
    config_path: &Path,
    snapshot: Snapshot,
    options: &ServeOptions,
) -> Result<(), String> {
    let proxy_addr = snapshot.proxy_addr;
    let admin_addr = snapshot.admin_addr;
    let terminate_tls = snapshot.tls.is_some();
    // The upstream connector's anchors as Pingora takes them: a file, read when the proxy
    // service is built. Only `upstream.ca_file` changes them from Pingora's system roots.
    let upstream = &snapshot.settings.upstream;
    let bundle = match &upstream.ca_file {
        None => None,
        Some(_) => Some(crate::roots::BundleFile::write(&crate::roots::load(
            upstream,
        )?)?),
    };
    let ca_file = bundle.as_ref().map(|b| b.path.display().to_string());
    let drain_delay = Duration::from_secs(snapshot.settings.listen.drain_delay_secs);
    let read_timeout = snapshot.upstream.read_timeout.min(Duration::from_secs(30));
    // Pingora retries a busy address forever; an operator (or a supervisor) is better served
    // by a clear error and an exit. An upgrading process takes the sockets over instead.
    if !options.upgrade {
        let mtls_addr = snapshot.mtls.addr;
        for addr in std::iter::once(proxy_addr)
            .chain(admin_addr)
            .chain(mtls_addr)
        {
            std::net::TcpListener::bind(addr)
                .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        }
    }
    let app = App::new(snapshot)?;

    let conf = ServerConf {
        // Trust anchors for an https upstream: the system roots extended by (or, with
        // `ca_only`, replaced by) `upstream.ca_file`.
        ca_file,
        threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
        // Once the listeners are closed, requests in flight get at most this long (the longest
        // an upstream answer may take, rounded up, + 1 s); the process exits earlier, as soon
        // as none is left (`lifecycle`).
        grace_period_seconds: Some(read_timeout.as_millis().div_ceil(1000) as u64 + 1),
        graceful_shutdown_timeout_seconds: Some(1),
        upgrade_sock: options.upgrade_sock.clone(),
        ..ServerConf::default()
    };
    let opt = Opt {
        upgrade: options.upgrade,
        ..Opt::default()
    };
    let mut server = Server::new_with_opt_and_conf(Some(opt), conf);
    server.bootstrap();

    // Pingora's proxy, behind the request-head deadline (`listen.header_timeout_ms`).
    let gateway = pingora::proxy::http_proxy(&server.configuration, Gateway::new(app.clone()));
    let mut proxy = Service::new(
        "Pingora HTTP Proxy Service".to_string(),
        HeadDeadline::new(gateway, app.clone()),
    );
    // The connector has read the anchors.
    drop(bundle);
    if terminate_tls {
        let mut tls = TlsSettings::intermediate("", "").map_err(|e| e.to_string())?;
        tls.set_cert_resolver(Arc::new(SnapshotCertificate { app: app.clone() }));
        proxy.add_tls_with_settings(&proxy_addr.to_string(), None, tls);
    } else {
        proxy.add_tcp(&proxy_addr.to_string());
    }
    if let Some(mtls_addr) = app.snapshot().mtls.addr {
        proxy.add_tls_with_settings(&mtls_addr.to_string(), None, mtls_listener(&app)?);
    }
    server.add_service(proxy);

    if let Some(admin_addr) = admin_addr {
        let mut admin = Service::new("admin".to_string(), Admin::new(app.clone()));
        admin.add_tcp(&admin_addr.to_string());
        server.add_service(admin);
    }
    server.add_service(background_service(
        "reloader",
        Reloader {
            app: app.clone(),
            config_path: config_path.to_path_buf(),
        },
    ));
    server.add_service(background_service(
        "jwks",
        KeyRefresher { app: app.clone() },
    ));
    server.add_service(background_service(
        "readiness",
        Readiness {
            app: app.clone(),
            proxy_addr,
        },
    ));
    let admin = admin_addr.map_or_else(|| "disabled".to_string(), |a| a.to_string());
    tracing::info!(%proxy_addr, admin, upgrade = options.upgrade, "jargate serving");
    crate::gate::report::log_unenforced(&app.snapshot());
    let signals = Signals {
        drain_delay,
        phases: std::sync::Mutex::new(Some(server.watch_execution_phase())),
    };
    // Bootstrap is over (sockets bound or received): from here on a slow stderr must not
    // block a request.
    crate::logs::buffer_from_now();
    server.run(RunArgs {
        shutdown_signal: Box::new(signals),
    });
    Ok(())
}

/// Marks the proxy as serving once its listener accepts connections.
struct Readiness {
    app: Arc<App>,
    proxy_addr: SocketAddr,
}

#[async_trait]
impl BackgroundService for Readiness {
    async fn start(&self, _shutdown: ShutdownWatch) {
        let mut target = self.proxy_addr;
        if target.ip().is_unspecified() {
            target.set_ip(match target {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        while tokio::net::TcpStream::connect(target).await.is_err() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.app.set_serving();
    }
}

/// Serves the certificate of the current snapshot (loaded by `config::tls`), so a reload that
/// brings a renewed certificate takes effect at the next handshake.
struct SnapshotCertificate {
    app: Arc<App>,
}

impl std::fmt::Debug for SnapshotCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SnapshotCertificate")
    }
}

impl ResolvesServerCert for SnapshotCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.app.snapshot().tls.clone()
    }
}

/// The `listen.mtls` listener (SPEC §10): the snapshot's mTLS certificate, a client-certificate
/// verifier reading the snapshot's client CA trust at each handshake, and a callback that
/// attaches the verified certificate to the connection for the request hooks.
fn mtls_listener(app: &Arc<App>) -> Result<TlsSettings, String> {
    let mut tls = TlsSettings::with_callbacks(Box::new(HandshakeCert { app: app.clone() }))
        .map_err(|e| e.to_string())?;
    tls.set_cert_resolver(Arc::new(SnapshotMtlsCertificate { app: app.clone() }));
    let current = SnapshotTrust { app: app.clone() };
    tls.set_client_cert_verifier(Arc::new(crate::mtls::verifier::ListenerVerifier::new(
        current,
    )));
    Ok(tls)
}

struct SnapshotTrust {
    app: Arc<App>,
}

impl crate::mtls::verifier::CurrentTrust for SnapshotTrust {
    fn trust(&self) -> Arc<crate::mtls::Trust> {
        self.app.snapshot().mtls.trust.clone()
    }
}

/// Serves `listen.mtls_cert` (or the main certificate) of the current snapshot.
struct SnapshotMtlsCertificate {
    app: Arc<App>,
}

impl std::fmt::Debug for SnapshotMtlsCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SnapshotMtlsCertificate")
    }
}

impl ResolvesServerCert for SnapshotMtlsCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.app.snapshot().mtls.tls.clone()
    }
}

/// Once the handshake is complete: the client certificate it proved, classified, for the
/// request hooks (`proxy::client_cert`).
struct HandshakeCert {
    app: Arc<App>,
}

#[async_trait]
impl pingora::listeners::TlsAccept for HandshakeCert {
    async fn handshake_complete_callback(
        &self,
        tls: &pingora::protocols::tls::TlsRef,
    ) -> Option<Arc<dyn std::any::Any + Send + Sync>> {
        let chain = tls.peer_cert_chain_der()?;
        let trust = self.app.snapshot().mtls.trust.clone();
        let cert = crate::mtls::verifier::handshake_cert(&trust, chain, crate::clock::unix_now())?;
        Some(Arc::new(Arc::new(cert)))
    }
}
