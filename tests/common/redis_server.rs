//! A private `redis-server` for the tests of the redis store backend: found on `PATH` or the
//! test fails naming the install command ([`super::require_program`]).

use super::{free_ports, require_program};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `redis-server` on a loopback port, without persistence; killed on drop.
pub struct RedisServer {
    port: u16,
    /// Extra arguments (TLS, password), kept for restarts.
    args: Vec<String>,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl RedisServer {
    pub async fn start() -> RedisServer {
        RedisServer::start_with(Vec::new()).await
    }

    /// `args` may contain `{port}`, replaced by the chosen port.
    pub async fn start_with(args: Vec<String>) -> RedisServer {
        for _ in 0..3 {
            let mut server = RedisServer::stopped(free_ports::<1>()[0], args.clone());
            if server.spawn().await {
                return server;
            }
        }
        panic!("redis-server did not start");
    }

    /// A server that will listen on `port` once [`RedisServer::restart`] is called.
    pub fn stopped(port: u16, args: Vec<String>) -> RedisServer {
        RedisServer {
            port,
            args,
            dir: tempfile::tempdir().expect("tempdir"),
            child: None,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Starts the process and waits until it accepts connections; false if it exited.
    async fn spawn(&mut self) -> bool {
        let tls = self.args.iter().any(|a| a == "--tls-port");
        let mut cmd = Command::new(require_program("redis-server"));
        if !tls {
            cmd.arg("--port").arg(self.port.to_string());
        }
        cmd.args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(
                self.args
                    .iter()
                    .map(|a| a.replace("{port}", &self.port.to_string())),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn redis-server: {e}"));
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                return false;
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                self.child = Some(child);
                return true;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server not listening within 5 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts again on the same port (empty: nothing is persisted).
    pub async fn restart(&mut self) {
        assert!(
            self.spawn().await,
            "redis-server did not restart on port {}",
            self.port
        );
    }

    pub async fn conn(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .expect("redis url")
            .get_multiplexed_async_connection()
            .await
            .expect("connect to redis")
    }

    pub async fn pttl(&self, key: &str) -> i64 {
        redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut self.conn().await)
            .await
            .expect("PTTL")
    }

    /// The keys matching `pattern` (`KEYS`: a test instance holds a handful).
    pub async fn keys(&self, pattern: &str) -> Vec<String> {
        redis::cmd("KEYS")
            .arg(pattern)
            .query_async(&mut self.conn().await)
            .await
            .expect("KEYS")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
