//! jargate: an enforcing reverse proxy for signed OAuth requests.
//!
//! - [`config`]: `jargate.toml` and `clients.json` into one validated, immutable [`config::Snapshot`].
//! - [`keys`]: registered credentials as verifying keys, parsed once.
//! - [`jose`]: compact JWS read once: shape, header and signature; no OAuth meaning.
//! - [`rules`]: every SPEC §5 token rule as one named check, in one order; the proxy stops at
//!   the first failure, `jargate explain` runs them all.
//! - [`request`]: path routing and parameter parsing.
//! - [`gate`]: the decision for one intercepted request (shape → client → tokens → single use).
//! - [`store`]: single-use `jti` and pushed requests.
//! - [`reject`]: every refusal, mapped to SPEC §6.
//! - [`roots`]: trust anchors for outgoing TLS (https upstream, remote JWK Sets).
//! - [`proxy`], [`admin`], [`server`]: the Pingora glue; [`admin_jwks`]: the clients' JWK Sets.
#![forbid(unsafe_code)]

pub mod admin;
pub mod admin_jwks;
pub mod app;
pub mod cli;
pub mod config;
pub mod gate;
pub mod jose;
pub mod keys;
pub mod lifecycle;
pub mod logs;
pub mod metrics;
pub mod proxy;
pub mod reject;
pub mod reload;
pub mod request;
pub mod roots;
pub mod rules;
pub mod server;
pub mod store;
pub mod tls;
