//! `jargate explain --dpop --htu URL [--htm POST] PROOF`: SPEC §11 steps 1–6 on one DPoP
//! proof, as the proxy runs them at the endpoint `--htu` names (`rules::dpop::run`, without
//! stopping at the first failure), a ✓/✗ line per step with what it was decided on, the
//! decoded header and claims, the key's thumbprint and the verdict. Step 7 (single use) needs
//! the store and is not run.

use super::super::{rfc3339, Style};
use crate::config::dpop::HtuOrigin;
use crate::config::Snapshot;
use crate::reject::Rejection;
use crate::rules::dpop::{self, DpopProof, Step, Target};
use std::ops::ControlFlow;

/// Runs every step on `proof` for a `htm` request to `htu`; `true` when the proxy accepts it.
pub fn explain(
    snapshot: &Snapshot,
    proof: &str,
    htu: &str,
    htm: &str,
    now: i64,
    style: Style,
) -> Result<(String, bool), String> {
    let url = url::Url::parse(htu).map_err(|e| format!("--htu {htu:?} is not a URL: {e}"))?;
    let policy = &snapshot.dpop;
    let origin_known = HtuOrigin::parse(htu).is_ok_and(|o| policy.origins.contains(&o));
    let target = Target {
        method: htm,
        path: url.path(),
    };
    let proof = DpopProof::read(proof);
    let mut lines = Vec::new();
    let mut first: Option<Rejection> = None;
    let valid = dpop::run(&proof, policy, target, now, &mut |step, result| {
        lines.push((step, result.clone()));
        if let Err(r) = result {
            first.get_or_insert_with(|| r.clone());
        }
        ControlFlow::Continue(())
    });
    let mut out = format!("proof    DPoP proof for {htm} {htu}\n");
    if !origin_known {
        let configured: Vec<String> = policy
            .origins
            .iter()
            .map(|o| format!("{}://{}:{}", o.scheme, o.host, o.port))
            .collect();
        out += &format!(
            "note     {htu:?} is not at a configured origin ({}): the proxy refuses every htu \
             there\n",
            configured.join(", ")
        );
    }
    out += &format!("now      {now} ({})\n\n", rfc3339(now));
    out += &style.bold("checks, in the proxy's order\n");
    let width = lines.iter().map(|(s, _)| s.name().len()).max().unwrap_or(0);
    for (step, result) in &lines {
        let (mark, rule, detail) = match result {
            Ok(()) => (style.good("✓"), String::new(), String::new()),
            Err(r) => (style.bad("✗"), format!("  [{}]", r.rule()), detail(r)),
        };
        let name = step.name();
        out += &format!("  {mark} {name:width$} {}{detail}{rule}\n", step.rule());
    }
    let seen: Vec<Step> = lines.iter().map(|(s, _)| *s).collect();
    for step in ALL_STEPS.iter().filter(|s| !seen.contains(s)) {
        let skipped = style.dim("-");
        let name = step.name();
        out += &format!("  {skipped} {name:width$} not checked: an earlier step failed\n");
    }
    let jws = proof.jws();
    let pretty = |map| serde_json::to_string_pretty(map).unwrap_or_default();
    if let Ok(header) = jws.header() {
        out += &format!("\n{}\n{}\n", style.bold("header"), pretty(header));
        if let Ok(claims) = jws.claims() {
            out += &format!("\n{}\n{}\n", style.bold("claims"), pretty(claims));
        }
    }
    out += &match (&first, &valid) {
        (None, Some(v)) => format!(
            "\nverdict: {} the proxy accepts this proof (key thumbprint {}), provided its jti \
             was not used with this key before\n",
            style.good("VALID:"),
            v.thumbprint
        ),
        (Some(r), _) => format!(
            "\nverdict: {} (rule: {}) the proxy answers {} {}: {:?}\n",
            style.bad("INVALID"),
            r.rule(),
            r.status(),
            r.error(),
            r.description()
        ),
        (None, None) => format!("\nverdict: {}\n", style.bad("INVALID")),
    };
    Ok((out, first.is_none() && valid.is_some()))
}

const ALL_STEPS: [Step; 11] = [
    Step::Shape,
    Step::Typ,
    Step::Alg,
    Step::Crit,
    Step::Jwk,
    Step::Signature,
    Step::Claims,
    Step::Htm,
    Step::Htu,
    Step::Iat,
    Step::Nonce,
];

fn detail(r: &Rejection) -> String {
    match r {
        Rejection::Dpop(fault) => fault
            .detail()
            .map_or_else(String::new, |d| format!(": {d}")),
        _ => String::new(),
    }
}
