//! The size of what jargate hands Pingora per request: the context and every hook future
//! (`async_trait` boxes each hook's state, and a future holds its locals across its awaits), so
//! that what the common path allocates and copies is known and does not grow unnoticed.
//! `cargo test --lib hook_sizes -- --nocapture` prints them.

use super::{Ctx, Gateway};
use crate::app::App;
use crate::config::{parse_settings, Registry, Snapshot};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;
use pingora::protocols::l4::stream::Stream;
use pingora::proxy::{ProxyHttp, Session};
use std::mem::{size_of, size_of_val};
use std::path::Path;

fn gateway() -> Gateway {
    let settings = parse_settings(
        "[upstream]\nurl = \"http://127.0.0.1:9\"\n[clients]\nfile = \"clients.json\"\n",
    )
    .expect("settings");
    let registry =
        Registry::from_json(serde_json::json!({"clients": []}), Path::new("/")).expect("registry");
    let app = App::new(Snapshot::build(settings, registry).expect("snapshot")).expect("app");
    Gateway::new(app)
}

async fn session() -> Session {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    Session::new_h1(Box::new(Stream::from(stream)))
}

/// Every hook future's size in bytes, by hook, and the context's.
async fn measure() -> Vec<(&'static str, usize)> {
    let gw = gateway();
    let mut s = session().await;
    let mut ctx = gw.new_ctx();
    let mut req = RequestHeader::build("GET", b"/", None).expect("request");
    let mut resp = ResponseHeader::build(200, None).expect("response");
    let peer = HttpPeer::new("127.0.0.1:9", false, String::new());
    let err = Error::new(ErrorType::ConnectionClosed);
    let mut body = None;
    let mut out = vec![
        ("Ctx", size_of::<Ctx>()),
        (
            "  .forward (gate::Forward)",
            size_of::<crate::gate::Forward>(),
        ),
        ("  .trace", size_of::<super::Trace>()),
        ("  .outcome", size_of::<Option<super::Outcome>>()),
        ("  .token", size_of_val(&ctx.token)),
        ("  .document", size_of_val(&ctx.document)),
    ];
    macro_rules! hook {
        ($name:literal, $fut:expr) => {{
            let f = $fut;
            out.push(($name, size_of_val(&*f)));
        }};
    }
    hook!(
        "intercept (intercepted only)",
        gw.intercept_for_sizes(&mut s, &mut ctx)
    );
    hook!(
        "early_request_filter",
        gw.early_request_filter(&mut s, &mut ctx)
    );
    hook!("request_filter", gw.request_filter(&mut s, &mut ctx));
    hook!("upstream_peer", gw.upstream_peer(&mut s, &mut ctx));
    hook!(
        "connected_to_upstream",
        gw.connected_to_upstream(&mut s, true, &peer, 0, None, &mut ctx)
    );
    hook!(
        "upstream_request_filter",
        gw.upstream_request_filter(&mut s, &mut req, &mut ctx)
    );
    hook!(
        "request_body_filter",
        gw.request_body_filter(&mut s, &mut body, true, &mut ctx)
    );
    hook!(
        "upstream_response_filter",
        gw.upstream_response_filter(&mut s, &mut resp, &mut ctx)
    );
    hook!(
        "response_filter",
        gw.response_filter(&mut s, &mut resp, &mut ctx)
    );
    hook!("fail_to_proxy", gw.fail_to_proxy(&mut s, &err, &mut ctx));
    hook!("logging", gw.logging(&mut s, None, &mut ctx));
    out
}

/// Printed for the record; the hooks every request runs are held under a bound, so that a
/// change that puts a large state back on the common path fails here.
#[tokio::test]
async fn hook_sizes() {
    let sizes = measure().await;
    for (name, size) in &sizes {
        println!("{name:<36} {size:>6} bytes");
    }
    for (name, size) in sizes {
        let bound = match name {
            "Ctx" => 512,
            "intercept (intercepted only)" | "fail_to_proxy" => continue,
            _ if name.starts_with("  .") => continue,
            _ => 256,
        };
        assert!(size <= bound, "{name}: {size} bytes, more than {bound}");
    }
}
