//! Where the redis store lives, typed once: one server (a URL), a Sentinel set or a Cluster,
//! with the credentials each connection presents. Built by `config` from `[store]` (which owns
//! the key names and the errors about them); `redis` turns it into clients. No I/O here.
//!
//! Decisions (SPEC §3 leaves them open):
//! - A sentinel or cluster address is `host:port` or `[v6]:port`; the port is required (a
//!   sentinel's default 26379 and a cluster's 6379 or 7000 are both common, so none is guessed),
//!   and a URL (`redis://…`) is refused with a hint, since its password would go unused.
//! - With `redis_sentinel_password` set, the sentinels get that password and no username (a
//!   sentinel's ACL users are its own); `""` connects to them without credentials.

use std::fmt;
use std::net::Ipv6Addr;

/// One `host:port`, as written (`[v6]:port` keeps its host without the brackets).
#[derive(Clone, PartialEq, Eq)]
pub struct Address {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Parses `host:port` or `[v6]:port`. Errors quote the text unless it may hold a password.
pub fn parse_address(text: &str) -> Result<Address, String> {
    if text.contains("://") || text.contains('@') {
        return Err(
            "a URL or user@host is not an address: write host:port (credentials and TLS have \
             keys of their own)"
                .into(),
        );
    }
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (v6, port) = rest
            .split_once("]:")
            .ok_or_else(|| format!("{text:?}: expected [v6]:port"))?;
        v6.parse::<Ipv6Addr>()
            .map_err(|_| format!("{text:?}: {v6:?} is not an IPv6 address"))?;
        (v6, port)
    } else {
        let (host, port) = text
            .rsplit_once(':')
            .ok_or_else(|| format!("{text:?}: expected host:port"))?;
        if host.contains(':') {
            return Err(format!(
                "{text:?}: an IPv6 address goes in brackets: [v6]:port"
            ));
        }
        (host, port)
    };
    let valid_host = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'));
    if !valid_host {
        return Err(format!("{text:?}: {host:?} is not a host name or address"));
    }
    let port = match port.parse::<u16>() {
        Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()) => p,
        _ => return Err(format!("{text:?}: {port:?} is not a port (1-65535)")),
    };
    Ok(Address {
        host: host.to_owned(),
        port,
    })
}

/// The credentials and options of a connection to a Redis node.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Auth {
    pub username: Option<String>,
    pub password: Option<String>,
    pub tls: bool,
    pub db: i64,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("tls", &self.tls)
            .field("db", &self.db)
            .finish()
    }
}

/// The three forms of `[store]` for `backend = "redis"`.
#[derive(Clone, PartialEq, Eq)]
pub enum Topology {
    /// `redis_url`: one server; the URL carries credentials, TLS and database.
    Single { url: String },
    /// `redis_sentinels` + `redis_master`.
    Sentinel {
        sentinels: Vec<Address>,
        master: String,
        /// For the primary's connections.
        auth: Auth,
        /// For the sentinels' own connections.
        sentinel_auth: Auth,
    },
    /// `redis_cluster`: seed nodes; the rest of the cluster is discovered from them.
    Cluster { nodes: Vec<Address>, auth: Auth },
}

impl Topology {
    /// The topology in words, without any password (for logs and `check`).
    pub fn describe(&self) -> String {
        match self {
            Topology::Single { url } => match super::redis::parse_url(url) {
                Ok(client) => {
                    let info = client.get_connection_info();
                    format!("{}/{}", info.addr(), info.redis_settings().db())
                }
                Err(_) => "(unparsable URL)".into(),
            },
            Topology::Sentinel {
                sentinels, master, ..
            } => format!("sentinel service {master:?} via {}", list(sentinels)),
            Topology::Cluster { nodes, .. } => format!("cluster via {}", list(nodes)),
        }
    }
}

impl fmt::Debug for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

fn list(addresses: &[Address]) -> String {
    addresses
        .iter()
        .map(Address::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_host_port_or_bracketed_v6() {
        let a = parse_address("10.0.0.1:26379").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("10.0.0.1", 26379));
        let a = parse_address("redis-0.redis.svc:7000").unwrap();
        assert_eq!(a.to_string(), "redis-0.redis.svc:7000");
        let a = parse_address("[::1]:7000").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("::1", 7000));
        assert_eq!(a.to_string(), "[::1]:7000");
        for bad in [
            "",
            "host",
            "host:",
            ":7000",
            "host:0",
            "host:65536",
            "host:+80",
            "::1:7000",
            "[::1]",
            "[nope]:7000",
            "redis://host:7000",
            "user@host:7000",
            "host name:7000",
        ] {
            assert!(parse_address(bad).is_err(), "{bad:?} accepted");
        }
        for secret in ["redis://:hunter2@h:7000", ":hunter2@h:7000"] {
            let e = parse_address(secret).unwrap_err();
            assert!(!e.contains("hunter2"), "{e}");
        }
    }

    #[test]
    fn descriptions_never_show_a_password() {
        let auth = Auth {
            password: Some("hunter2".into()),
            ..Auth::default()
        };
        let t = Topology::Sentinel {
            sentinels: vec![parse_address("127.0.0.1:26379").unwrap()],
            master: "jargate".into(),
            auth: auth.clone(),
            sentinel_auth: auth.clone(),
        };
        assert!(!format!("{t:?} {}", t.describe()).contains("hunter2"));
        assert!(!format!("{auth:?}").contains("hunter2"));
        let t = Topology::Single {
            url: "redis://:hunter2@127.0.0.1:6379/1".into(),
        };
        assert_eq!(t.describe(), "127.0.0.1:6379/1");
    }
}
