//! The integration suite, one test binary: every behaviour through the real `jargate` binary
//! over real sockets, one module per area. The harness is `tests/common`; `tests/e2e.rs` (a real
//! authorization server and relying party on Node) is a binary of its own.

#[path = "../common/mod.rs"]
mod common;

mod admin_jwks;
mod auth_method;
mod cli;
mod client_assertion;
mod compliance;
mod deploy;
mod differential;
mod discovery;
mod docs;
mod dpop;
mod fapi_responses;
mod faults;
mod jwks;
mod legacy;
mod lifecycle;
mod metrics;
mod mtls;
mod observability;
mod online;
mod operations;
mod par;
mod redis_cluster;
mod redis_sentinel;
mod redis_store;
mod registry;
mod reload;
mod report_mode;
mod request_object;
mod request_shape;
mod store_config;
mod tls;
mod upstream_pool;
mod walkthrough;
