//! Reading the admin listener's `/metrics` (Prometheus text).

use super::get;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The Prometheus text of `GET /metrics` on the admin listener `admin` (asserts 200).
pub async fn scrape_metrics(admin: SocketAddr) -> String {
    let resp = get(admin, "/metrics").await;
    assert_eq!(
        resp.status,
        200,
        "/metrics answered {}: {}",
        resp.status,
        resp.text()
    );
    resp.text()
}

/// The value of the sample `name` whose label set is exactly `labels` (in any order), from a
/// Prometheus text exposition; `None` when there is no such sample.
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut wanted: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    wanted.sort();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (sample, mut found) = match series.split_once('{') {
                Some((n, rest)) => {
                    let inner = rest.strip_suffix('}')?;
                    let pairs: Option<Vec<(String, String)>> = inner
                        .split(',')
                        .filter(|p| !p.is_empty())
                        .map(|p| {
                            let (k, v) = p.split_once('=')?;
                            Some((k.to_owned(), v.trim_matches('"').to_owned()))
                        })
                        .collect();
                    (n, pairs?)
                }
                None => (series, Vec::new()),
            };
            found.sort();
            (sample == name && found == wanted)
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
}

/// [`metric`], absent counted as 0 (label values of a vector appear at their first use).
pub fn counter(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    metric(text, name, labels).unwrap_or(0.0)
}

/// The sum of every sample of `name`, whatever its labels.
pub fn total(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{'))
        })
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

/// Scrapes until `check` holds on the text, and returns it: counters are updated once an answer
/// is sent, so a scrape right after the last answer may be early. Fails after 3 s, naming `what`.
pub async fn scrape_until(admin: SocketAddr, what: &str, check: impl Fn(&str) -> bool) -> String {
    let since = Instant::now();
    loop {
        let text = scrape_metrics(admin).await;
        if check(&text) {
            return text;
        }
        assert!(
            since.elapsed() < Duration::from_secs(3),
            "{what} not seen within 3 s:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
