//! Report mode (SPEC §5): which enforcement mode decides a request, which refusals report mode
//! turns into `would_reject` forwards, and which clients are not enforced (for `check` and the
//! start-up log). The decision itself is unchanged: every rule runs as in enforce mode.

use crate::config::{EnforcementMode, Snapshot};
use crate::reject::Rejection;

/// The mode for a request: the client's `client_metadata.jargate_enforcement` once the client
/// is known (looked up in the registry), else the global `enforcement.mode`. Request-shape
/// failures are found before the client is looked up, so they follow the global mode.
pub fn mode_for(snapshot: &Snapshot, client_id: Option<&str>) -> EnforcementMode {
    client_id
        .and_then(|id| snapshot.registry.get(id))
        .and_then(|c| c.enforcement)
        .unwrap_or(snapshot.settings.enforcement.mode)
}

/// A refusal for a rule, which report mode forwards instead. A store outage (503) or an
/// upstream failure is no rule: it is answered as in enforce mode.
pub fn reportable(rejection: &Rejection) -> bool {
    !matches!(
        rejection,
        Rejection::StoreUnavailable | Rejection::UpstreamUnreachable | Rejection::UpstreamTimeout
    )
}

/// Whether `rejection` is forwarded as received (report mode) rather than answered.
pub fn forwards(snapshot: &Snapshot, client_id: Option<&str>, rejection: &Rejection) -> bool {
    mode_for(snapshot, client_id) == EnforcementMode::Report && reportable(rejection)
}

/// Ids of the registered clients whose requests are not enforced, sorted.
pub fn unenforced_clients(snapshot: &Snapshot) -> Vec<String> {
    let mut ids: Vec<String> = snapshot
        .registry
        .clients()
        .filter(|c| mode_for(snapshot, Some(&c.id)) == EnforcementMode::Report)
        .map(|c| c.id.clone())
        .collect();
    ids.sort();
    ids
}

/// Says loudly, at start-up and after each reload, what report mode leaves unenforced.
pub fn log_unenforced(snapshot: &Snapshot) {
    if snapshot.settings.enforcement.mode == EnforcementMode::Report {
        tracing::warn!(
            "enforcement.mode = \"report\": requests that break a rule are forwarded and logged \
             as would_reject, not refused (clients without jargate_enforcement = \"enforce\" and \
             unknown clients are not enforced)"
        );
    }
    let ids = unenforced_clients(snapshot);
    if !ids.is_empty() {
        tracing::warn!(
            count = ids.len(),
            clients = ids.join(",").as_str(),
            "report mode: these clients are not enforced"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reject::{ClientFault, RequestFault};

    #[test]
    fn rule_refusals_are_reportable_outages_are_not() {
        assert!(reportable(&Rejection::Client(ClientFault::Unknown)));
        assert!(reportable(&RequestFault::TwoAuthMethods.into()));
        assert!(reportable(&Rejection::BodyTooLarge));
        assert!(!reportable(&Rejection::StoreUnavailable));
        assert!(!reportable(&Rejection::UpstreamUnreachable));
        assert!(!reportable(&Rejection::UpstreamTimeout));
    }
}
