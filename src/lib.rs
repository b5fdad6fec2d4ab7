//! jargate: an enforcing reverse proxy for signed OAuth requests.
//!
//! - [`config`]: `jargate.toml` and `clients.json` into one validated, immutable [`config::Snapshot`].
//! - [`keys`]: registered credentials as verifying keys, parsed once; [`keys::KeySource`] for
//!   remote JWK Sets, which [`jwks`] fetches and caches; [`keys::embedded`]: the one key taken
//!   from a request (a DPoP proof's `jwk`), a type apart.
//! - [`jose`]: compact JWS read once: shape, header and signature; no OAuth meaning.
//! - [`rules`]: every SPEC §5 token rule as one named check, in one order; the proxy stops at
//!   the first failure, `jargate explain` runs them all. [`rules::dpop`]: DPoP proofs (§11).
//! - [`request`]: path routing and parameter parsing.
//! - [`gate`]: the decision for one intercepted request (shape → client → tokens → the
//!   client's compliance level (SPEC §9) → single use, last), over a store and a key source.
//!   Levels are typed in `config::compliance`, their rules are `rules::compliance`.
//! - [`store`]: single-use `jti` and pushed requests; in memory, or on Redis (one server, a
//!   Sentinel set or a Cluster: [`store::topology`]).
//! - [`mtls`]: client certificates (RFC 8705, RFC 9440): classification, thumbprints, DN
//!   matching, mTLS credentials, the certificate header dialects, the `listen.mtls` verifier.
//! - [`reject`]: every refusal, mapped to SPEC §6.
//! - [`random`]: unguessable bytes from the system. [`roots`]: trust anchors for outgoing TLS (https upstream, remote JWK Sets).
//! - [`proxy`], [`admin`], [`server`]: the Pingora glue; [`admin_jwks`]: the clients' JWK Sets.
//! - [`metrics`]: Prometheus, which the decision never imports; [`clock`]: the wall clock
//!   (imports nothing); [`app`]: the running state shared by the services.
//!
//! The module graph has no cycle: `rules` and `jose` reach only `config`, `keys`, `reject`,
//! `request` and each other.
#![forbid(unsafe_code)]

pub mod admin;
pub mod admin_jwks;
pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod gate;
pub mod jose;
pub mod jwks;
pub mod keys;
pub mod lifecycle;
pub mod logs;
pub mod metrics;
pub mod mtls;
pub mod proxy;
pub mod random;
pub mod reject;
pub mod reload;
pub mod request;
pub mod roots;
pub mod rules;
pub mod server;
pub mod store;
