//! Redis topologies on loopback for the store tests: a Sentinel set (one primary, one replica,
//! three sentinels watching them as `jargate`, with tight failure detection) and a Cluster of
//! three primaries made with `redis-cli --cluster create`. Built from [`RedisServer`]s; every
//! process is killed on drop. A missing program fails the test ([`super::require_program`]).

use super::{free_ports, require_program, RedisServer};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The service name the sentinels monitor.
pub const SENTINEL_MASTER: &str = "jargate";

/// `cmd` against `port` on loopback (a Redis node or a sentinel), with a 2 s budget.
pub async fn redis_cmd<T: redis::FromRedisValue>(
    port: u16,
    cmd: &redis::Cmd,
) -> redis::RedisResult<T> {
    redis_cmd_as(port, None, cmd).await
}

/// [`redis_cmd`] with a password.
pub async fn redis_cmd_as<T: redis::FromRedisValue>(
    port: u16,
    password: Option<&str>,
    cmd: &redis::Cmd,
) -> redis::RedisResult<T> {
    let auth = password.map(|p| format!(":{p}@")).unwrap_or_default();
    let client = redis::Client::open(format!("redis://{auth}127.0.0.1:{port}/"))?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(2)));
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    cmd.query_async(&mut conn).await
}

/// Polls `probe` every 50 ms until it returns true, for at most `within`.
pub async fn wait_until<F, Fut>(what: &str, within: Duration, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !probe().await {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `redis-server --sentinel` with its own (writable) configuration file.
pub struct Sentinel {
    port: u16,
    /// The sentinel's own password (`requirepass`).
    password: Option<String>,
    _dir: tempfile::TempDir,
    child: Child,
}

impl Sentinel {
    fn start(primary_port: u16, passwords: &Passwords) -> Sentinel {
        let port = free_ports::<1>()[0];
        let mut auth = String::new();
        if let Some(p) = &passwords.servers {
            auth.push_str(&format!("sentinel auth-pass {SENTINEL_MASTER} {p}\n"));
        }
        if let Some(p) = &passwords.sentinels {
            auth.push_str(&format!("requirepass {p}\nsentinel sentinel-pass {p}\n"));
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let conf = dir.path().join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {dir}\n\
                 sentinel monitor {SENTINEL_MASTER} 127.0.0.1 {primary_port} 2\n\
                 sentinel down-after-milliseconds {SENTINEL_MASTER} 500\n\
                 sentinel failover-timeout {SENTINEL_MASTER} 3000\n\
                 sentinel parallel-syncs {SENTINEL_MASTER} 1\n{auth}",
                dir = dir.path().display()
            ),
        )
        .expect("write sentinel.conf");
        let child = Command::new(require_program("redis-server"))
            .arg(&conf)
            .arg("--sentinel")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn redis-server --sentinel: {e}"));
        Sentinel {
            port,
            password: passwords.sentinels.clone(),
            _dir: dir,
            child,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The primary's port as this sentinel names it.
    pub async fn primary_port(&self) -> Option<u16> {
        let mut cmd = redis::cmd("SENTINEL");
        cmd.arg("get-master-addr-by-name").arg(SENTINEL_MASTER);
        let addr: Option<(String, u16)> = redis_cmd_as(self.port, self.password.as_deref(), &cmd)
            .await
            .ok()?;
        addr.map(|(_, port)| port)
    }

    /// How many replicas this sentinel sees in good health.
    async fn healthy_replicas(&self) -> usize {
        let mut cmd = redis::cmd("SENTINEL");
        cmd.arg("replicas").arg(SENTINEL_MASTER);
        let replicas: Vec<std::collections::HashMap<String, String>> =
            redis_cmd_as(self.port, self.password.as_deref(), &cmd)
                .await
                .unwrap_or_default();
        replicas
            .iter()
            .filter(|r| {
                r.get("flags").map(String::as_str) == Some("slave")
                    && r.get("master-link-status").map(String::as_str) == Some("ok")
            })
            .count()
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Passwords of a [`SentinelSet`]: the servers' (`requirepass`, `masterauth`) and the
/// sentinels' own.
#[derive(Default)]
pub struct Passwords {
    pub servers: Option<String>,
    pub sentinels: Option<String>,
}

/// One primary, one replica, three sentinels.
pub struct SentinelSet {
    pub primary: RedisServer,
    pub replica: RedisServer,
    pub sentinels: Vec<Sentinel>,
}

impl SentinelSet {
    /// Starts the set and waits until every sentinel sees the replica healthy and in sync.
    pub async fn start() -> SentinelSet {
        SentinelSet::start_with(Passwords::default()).await
    }

    pub async fn start_with(passwords: Passwords) -> SentinelSet {
        let auth: Vec<String> = match &passwords.servers {
            Some(p) => vec![
                "--requirepass".into(),
                p.clone(),
                "--masterauth".into(),
                p.clone(),
            ],
            None => Vec::new(),
        };
        let primary = RedisServer::start_with(auth.clone()).await;
        let mut replica_args = vec![
            "--replicaof".to_string(),
            "127.0.0.1".to_string(),
            primary.port().to_string(),
        ];
        replica_args.extend(auth);
        let replica = RedisServer::start_with(replica_args).await;
        let server_password = passwords.servers.as_deref();
        wait_until("replica in sync", Duration::from_secs(10), || async {
            let info: String = redis_cmd_as(
                primary.port(),
                server_password,
                redis::cmd("INFO").arg("replication"),
            )
            .await
            .unwrap_or_default();
            info.contains("state=online")
        })
        .await;
        let sentinels: Vec<Sentinel> = (0..3)
            .map(|_| Sentinel::start(primary.port(), &passwords))
            .collect();
        for s in &sentinels {
            wait_until(
                "sentinel sees the replica",
                Duration::from_secs(15),
                || async {
                    s.primary_port().await == Some(primary.port())
                        && s.healthy_replicas().await == 1
                },
            )
            .await;
        }
        SentinelSet {
            primary,
            replica,
            sentinels,
        }
    }

    /// `["127.0.0.1:P", …]` of the sentinels, as TOML.
    pub fn toml_list(&self) -> String {
        let items: Vec<String> = self
            .sentinels
            .iter()
            .map(|s| format!("\"127.0.0.1:{}\"", s.port()))
            .collect();
        format!("[{}]", items.join(", "))
    }

    /// `SENTINEL FAILOVER` at the first sentinel: the replica is promoted without agreement.
    pub async fn force_failover(&self) {
        let mut cmd = redis::cmd("SENTINEL");
        cmd.arg("failover").arg(SENTINEL_MASTER);
        let first = &self.sentinels[0];
        let _: String = redis_cmd_as(first.port(), first.password.as_deref(), &cmd)
            .await
            .expect("SENTINEL FAILOVER");
    }

    /// Waits until every sentinel names `port` as the primary.
    pub async fn wait_primary(&self, port: u16, within: Duration) {
        for s in &self.sentinels {
            wait_until("sentinels name the new primary", within, || async {
                s.primary_port().await == Some(port)
            })
            .await;
        }
    }
}

/// Three primaries (no replicas) sharing the 16384 slots.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub async fn start() -> RedisCluster {
        let ports = free_ports::<6>();
        let mut nodes = Vec::new();
        for i in 0..3 {
            let mut node = RedisServer::stopped(
                ports[i],
                vec![
                    "--cluster-enabled".into(),
                    "yes".into(),
                    "--cluster-config-file".into(),
                    "nodes.conf".into(),
                    "--cluster-port".into(),
                    ports[3 + i].to_string(),
                    "--cluster-node-timeout".into(),
                    "2000".into(),
                ],
            );
            node.restart().await;
            nodes.push(node);
        }
        let mut create = Command::new(require_program("redis-cli"));
        create.arg("--cluster").arg("create");
        for node in &nodes {
            create.arg(format!("127.0.0.1:{}", node.port()));
        }
        let out = create
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("run redis-cli --cluster create");
        assert!(
            out.status.success(),
            "redis-cli --cluster create: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let cluster = RedisCluster { nodes };
        for node in &cluster.nodes {
            let port = node.port();
            wait_until("cluster_state:ok", Duration::from_secs(15), || async move {
                let info: String = redis_cmd(port, redis::cmd("CLUSTER").arg("INFO"))
                    .await
                    .unwrap_or_default();
                info.contains("cluster_state:ok")
            })
            .await;
        }
        cluster
    }

    /// The node id of the node on `port`.
    pub async fn node_id(port: u16) -> String {
        redis_cmd(port, redis::cmd("CLUSTER").arg("MYID"))
            .await
            .expect("CLUSTER MYID")
    }

    /// The port of the node serving `key`'s slot, as `CLUSTER SLOTS` at the first node says.
    pub async fn owner(&self, key: &str) -> u16 {
        let slot = self.slot(key).await;
        let ranges: Vec<redis::Value> =
            redis_cmd(self.nodes[0].port(), redis::cmd("CLUSTER").arg("SLOTS"))
                .await
                .expect("CLUSTER SLOTS");
        for range in ranges {
            // [start, end, [host, port, id], replicas...]
            let (start, end, primary): (u16, u16, Vec<redis::Value>) = match range {
                redis::Value::Array(items) if items.len() >= 3 => {
                    let mut items = items.into_iter();
                    let (Some(s), Some(e), Some(p)) = (items.next(), items.next(), items.next())
                    else {
                        continue;
                    };
                    (
                        redis::from_redis_value(s).expect("slot start"),
                        redis::from_redis_value(e).expect("slot end"),
                        redis::from_redis_value(p).expect("slot primary"),
                    )
                }
                other => panic!("CLUSTER SLOTS entry: {other:?}"),
            };
            if (start..=end).contains(&slot) {
                let port = primary.into_iter().nth(1).expect("primary port");
                return redis::from_redis_value(port).expect("primary port");
            }
        }
        panic!("no node owns slot {slot} of {key}");
    }

    /// `CLUSTER KEYSLOT key`.
    pub async fn slot(&self, key: &str) -> u16 {
        redis_cmd(
            self.nodes[0].port(),
            redis::cmd("CLUSTER").arg("KEYSLOT").arg(key),
        )
        .await
        .expect("CLUSTER KEYSLOT")
    }

    /// `["127.0.0.1:P", …]` of the nodes, as TOML.
    pub fn toml_list(&self) -> String {
        let items: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("\"127.0.0.1:{}\"", n.port()))
            .collect();
        format!("[{}]", items.join(", "))
    }
}
