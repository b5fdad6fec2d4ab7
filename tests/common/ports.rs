//! Free loopback ports for processes the tests start (`jargate serve`, `redis-server`), drawn
//! from below the kernel's ephemeral range: a stub upstream binding port 0, or an outgoing
//! connection, can never take one between its release here and the process's own bind (which
//! would make a health probe talk to the wrong server). Standard library only, so `tests/e2e.rs`
//! uses it too.

use std::net::TcpListener;

/// `N` distinct free loopback ports (each bound until all are found, then released).
pub fn free_ports<const N: usize>() -> [u16; N] {
    let (ephemeral_low, _) = ephemeral_range();
    let mut listeners: Vec<TcpListener> = Vec::with_capacity(N);
    if ephemeral_low > 12000 {
        let span = u64::from(ephemeral_low - 11000);
        for attempt in 0u64..1000 {
            if listeners.len() == N {
                break;
            }
            let port = 10000 + (random_u64(attempt) % span) as u16;
            if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) {
                listeners.push(listener);
            }
        }
    }
    while listeners.len() < N {
        listeners.push(TcpListener::bind("127.0.0.1:0").expect("bind a loopback port"));
    }
    std::array::from_fn(|i| listeners[i].local_addr().expect("local address").port())
}

/// The kernel's ephemeral port range (Linux), or the usual default elsewhere.
fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            let mut numbers = text.split_whitespace().map(|n| n.parse::<u16>().ok());
            Some((numbers.next()??, numbers.next()??))
        })
        .unwrap_or((32768, 60999))
}

/// A random number (randomly keyed SipHash of `salt`), enough to spread port choices.
fn random_u64(salt: u64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(salt);
    hasher.finish()
}
