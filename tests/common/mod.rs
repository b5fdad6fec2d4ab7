//! The harness of the integration suite (`tests/it`), one module per concern:
//!
//! * `proxy`: the real `jargate` binary ([`Jargate`]) on free loopback ports (`ports`), with a
//!   generated configuration, killed on drop; no secret may reach its logs.
//! * `upstream`: the authorization server's stand-ins (recording, silent, canned, closed).
//! * `client`: a raw HTTP/1.1 client that sends exact bytes.
//! * `jws`: an independent JWS oracle on `ring` ([`TestKey`], [`Jwt`]).
//! * `oauth`: endpoints, the default registry, valid claims, forms and headers.
//! * `contract`: assertions about the SPEC §6 error answers and what was forwarded.
//! * `cli`: the command line and its configuration directories; `metrics`: `/metrics`.
//! * `redis_server`: a private `redis-server`; `redis_topology`: a Sentinel set and a Cluster
//!   made of them; `tools`: programs the tests need, found or
//!   failing.
//! * `cases`: tables of cases ([`cases!`]), one test per row.

mod cases;
mod cli;
mod client;
mod contract;
mod jws;
mod metrics;
mod oauth;
mod ports;
mod proxy;
mod redis_server;
mod redis_topology;
mod tools;
mod upstream;

pub(crate) use cases::cases;
pub use cli::*;
pub use client::*;
pub use contract::*;
pub use jws::*;
pub use metrics::*;
pub use oauth::*;
pub use ports::*;
pub use proxy::*;
pub use redis_server::*;
pub use redis_topology::*;
pub use tools::*;
pub use upstream::*;

use std::time::Duration;

/// The issuer identifier every generated config uses.
pub const ISSUER: &str = "https://login.example.com/";
/// RFC 7523 client assertion type.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The same, percent-encoded as a form value.
pub const ASSERTION_TYPE_FORM: &str =
    "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer";
/// Timeout of every raw HTTP call.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);
