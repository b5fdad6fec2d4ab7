//! `iss` on authorization responses (SPEC §12, RFC 9207): an authorization response is a 3xx
//! whose `Location` is a registered callback and whose query carries `code` or `error` and no
//! JARM `response`, whatever path sent it (IdPs often answer from a login step). jargate appends
//! `iss` when the query has none; an `iss` already there is the upstream's truth and is left as
//! it is (a different value is reported, never replaced: the mix-up defence needs it).
//! Fragment responses are not rewritten. A plain function over the `Location` value.

use crate::config::response_iss::IssCallbacks;

/// What became of one redirect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssOutcome {
    /// Not an authorization response to a callback that gains `iss`: left alone.
    NotApplicable,
    /// `iss` appended: the new `Location`.
    Added(String),
    /// The upstream's own `iss` equals `issuer.identifier`.
    Present,
    /// The upstream's own `iss` differs (as sent, for the log line); left as it is.
    Mismatch(String),
}

/// Inspects a 3xx answer's `Location`.
pub fn inspect(location: &[u8], callbacks: &IssCallbacks) -> IssOutcome {
    let Ok(location) = std::str::from_utf8(location) else {
        return IssOutcome::NotApplicable;
    };
    if location.contains('#') {
        return IssOutcome::NotApplicable;
    }
    let Some((target, query)) = location.split_once('?') else {
        return IssOutcome::NotApplicable;
    };
    if !callbacks.contains(target) {
        return IssOutcome::NotApplicable;
    }
    let (mut answer, mut jarm, mut iss) = (false, false, None);
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        match name.as_ref() {
            "code" | "error" => answer = true,
            "response" => jarm = true,
            "iss" => iss = Some(value),
            _ => {}
        }
    }
    if !answer || jarm {
        return IssOutcome::NotApplicable;
    }
    match iss {
        Some(iss) if iss == callbacks.issuer => IssOutcome::Present,
        Some(iss) => IssOutcome::Mismatch(iss.into_owned()),
        None => {
            let separator = if query.is_empty() { "" } else { "&" };
            IssOutcome::Added(format!(
                "{location}{separator}iss={}",
                callbacks.encoded_issuer
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::compliance::ResponseIss;
    use crate::config::{Level, Registry};
    use serde_json::json;
    use std::path::Path;

    fn callbacks(level: Option<&str>, policy: ResponseIss, global: Level) -> IssCallbacks {
        let mut client = json!({
            "client_id": "app",
            "callbacks": ["https://app.example/cb?static=1", "http://127.0.0.1/loop"],
        });
        if let Some(level) = level {
            client["compliance_level"] = json!(level);
        }
        let registry =
            Registry::from_json(json!({ "clients": [client] }), Path::new(".")).expect("registry");
        let mut registry = registry;
        registry.resolve_levels(&crate::config::compliance::ComplianceSettings {
            level: global,
            ..Default::default()
        });
        IssCallbacks::new(policy, global, &registry, "https://idp.example/t/")
    }

    fn fapi2() -> IssCallbacks {
        callbacks(Some("fapi2_sp_pkj_dpop"), ResponseIss::Auto, Level::None)
    }

    #[test]
    fn a_code_or_error_redirect_to_a_callback_gains_iss() {
        let cb = fapi2();
        assert_eq!(
            inspect(b"https://app.example/cb?code=abc&state=x", &cb),
            IssOutcome::Added(
                "https://app.example/cb?code=abc&state=x&iss=https%3A%2F%2Fidp.example%2Ft%2F"
                    .into()
            )
        );
        assert_eq!(
            inspect(b"http://127.0.0.1:49152/loop?error=access_denied", &cb),
            IssOutcome::Added(
                "http://127.0.0.1:49152/loop?error=access_denied&iss=https%3A%2F%2Fidp.example%2Ft%2F"
                    .into()
            )
        );
    }

    #[test]
    fn other_redirects_are_left_alone() {
        let cb = fapi2();
        for location in [
            "https://app.example/cb",
            "https://app.example/cb?state=x",
            "https://app.example/cb#code=abc",
            "https://app.example/cb?code=abc#frag",
            "https://app.example/cb?response=eyJ.eyJ.sig",
            "https://app.example/cb?code=abc&response=eyJ.eyJ.sig",
            "https://app.example/cb/?code=abc",
            "https://App.example/cb?code=abc",
            "https://evil.example/cb?code=abc",
            "/login?code=abc",
            "http://localhost/loop?code=abc",
        ] {
            assert_eq!(
                inspect(location.as_bytes(), &cb),
                IssOutcome::NotApplicable,
                "{location}"
            );
        }
        assert_eq!(
            inspect(b"https://app.example/cb?code=\xff", &cb),
            IssOutcome::NotApplicable
        );
    }

    #[test]
    fn an_iss_the_upstream_sent_is_kept_and_a_different_one_reported() {
        let cb = fapi2();
        assert_eq!(
            inspect(
                b"https://app.example/cb?code=a&iss=https%3A%2F%2Fidp.example%2Ft%2F",
                &cb
            ),
            IssOutcome::Present
        );
        assert_eq!(
            inspect(b"https://app.example/cb?code=a&iss=https://other/", &cb),
            IssOutcome::Mismatch("https://other/".into())
        );
    }

    #[test]
    fn the_policy_decides_whose_callbacks_count() {
        let location = b"https://app.example/cb?code=a";
        let added = |cb: &IssCallbacks| matches!(inspect(location, cb), IssOutcome::Added(_));
        assert!(added(&fapi2()));
        assert!(!added(&callbacks(None, ResponseIss::Auto, Level::None)));
        assert!(!added(&callbacks(
            Some("fapi1_adv_pkj_par"),
            ResponseIss::Auto,
            Level::None
        )));
        assert!(added(&callbacks(None, ResponseIss::Always, Level::None)));
        assert!(!added(&callbacks(
            Some("fapi2_sp_pkj_mtls"),
            ResponseIss::Never,
            Level::None
        )));
        // A global fapi2 level covers a client that opted out too (SPEC §12).
        assert!(added(&callbacks(
            Some("none"),
            ResponseIss::Auto,
            Level::Fapi2SpPkjMtls
        )));
        assert!(callbacks(None, ResponseIss::Never, Level::Fapi2SpPkjDpop).is_empty());
    }
}
