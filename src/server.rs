//! Turns a loaded configuration into running Pingora services: the proxy, the admin listener,
//! and the background task that marks the proxy as serving.

use crate::admin::Admin;
use crate::app::App;
use crate::config::Snapshot;
use crate::proxy::Gateway;
use crate::reload::{KeyRefresher, Reloader};
use crate::tls::SnapshotCertificate;
use async_trait::async_trait;
use pingora::listeners::tls::TlsSettings;
use pingora::server::configuration::ServerConf;
use pingora::server::{Server, ShutdownWatch};
use pingora::services::background::{background_service, BackgroundService};
use pingora::services::listening::Service;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Runs until SIGTERM (graceful: stop accepting, let requests in flight finish for up to
/// `upstream.read_timeout_ms` + 1 s, exit 0) or SIGINT (at once).
pub fn run(config_path: &Path, snapshot: Snapshot) -> Result<(), String> {
    let proxy_addr = snapshot.proxy_addr;
    let admin_addr = snapshot.admin_addr;
    let terminate_tls = snapshot.tls.is_some();
    let ca_file = snapshot.settings.upstream.ca_file.clone();
    let drain = snapshot
        .upstream
        .read_timeout
        .min(std::time::Duration::from_secs(30));
    // Pingora retries a busy address forever; an operator (or a supervisor) is better served
    // by a clear error and an exit.
    for addr in std::iter::once(proxy_addr).chain(admin_addr) {
        std::net::TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    }
    let app = App::new(snapshot)?;

    let conf = ServerConf {
        // Trust anchors for an https upstream (replacing the system roots when set).
        ca_file,
        threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
        // After SIGTERM Pingora stops accepting, then waits the whole grace period while
        // requests in flight finish, then cancels what is left: the period must outlast the
        // longest an upstream answer may take.
        grace_period_seconds: Some(drain.as_secs() + 1),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();

    let mut proxy =
        pingora::proxy::http_proxy_service(&server.configuration, Gateway::new(app.clone()));
    if terminate_tls {
        let mut tls = TlsSettings::intermediate("", "").map_err(|e| e.to_string())?;
        tls.set_cert_resolver(Arc::new(SnapshotCertificate::new(app.clone())));
        proxy.add_tls_with_settings(&proxy_addr.to_string(), None, tls);
    } else {
        proxy.add_tcp(&proxy_addr.to_string());
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
    tracing::info!(%proxy_addr, admin = ?admin_addr, "jargate serving");
    crate::gate::report::log_unenforced(&app.snapshot());
    server.run_forever()
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
