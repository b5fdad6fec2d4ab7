//! The demo's output: one aligned row per step (verdict, status, error code, what the upstream
//! saw), then the `error_description` of each refusal.

use super::upstream::Seen;
use crate::cli::{pad, Style};

/// How to describe the forwarded request in the table.
#[derive(Clone, Copy)]
pub enum Show {
    /// Method and path, then this note.
    Path(&'static str),
    /// Method, path and query as received.
    Query,
}

pub struct Row {
    pub step: &'static str,
    /// The `error_description` of a refusal.
    pub why: Option<String>,
    pub verdict: String,
    pub status: String,
    pub error: String,
    pub upstream: String,
    pub expected: Option<String>,
}

pub fn describe(seen: &Seen, show: Show) -> String {
    match show {
        Show::Query => shorten(&format!("{} {}", seen.method, seen.path_and_query), 120),
        Show::Path(note) => {
            let path = seen.path_and_query.split('?').next().unwrap_or_default();
            format!("{} {path} {note}", seen.method)
                .trim_end()
                .to_string()
        }
    }
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max - 1).collect();
    format!("{cut}…")
}

/// Prints the rows as an aligned table; true when every row went as expected.
pub fn print_table(rows: &[Row], style: Style) -> bool {
    let titles = ["#", "step", "verdict", "status", "error", "upstream saw"];
    let cells: Vec<[String; 6]> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            [
                (i + 1).to_string(),
                r.step.to_string(),
                r.verdict.clone(),
                r.status.clone(),
                r.error.clone(),
                r.upstream.clone(),
            ]
        })
        .collect();
    let width = |col: usize| {
        cells
            .iter()
            .map(|c| c[col].chars().count())
            .chain([titles[col].len()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..5).map(width).collect();
    let mut line = String::new();
    for (col, title) in titles.iter().enumerate().take(5) {
        line += &pad(title, widths[col] + 2);
    }
    outln!("{}", style.bold(&(line + titles[5])));
    for (row, c) in rows.iter().zip(&cells) {
        let mut line = String::new();
        for col in 0..5 {
            let text = pad(&c[col], widths[col] + 2);
            line += &match (col, c[2].as_str()) {
                (2, "forwarded" | "answered") => style.good(&text),
                (2, _) => style.bad(&text),
                _ => text,
            };
        }
        line += &c[5];
        if let Some(e) = &row.expected {
            line += &format!("   {} {e}", style.bad("✗"));
        }
        outln!("{line}");
    }
    let reasons: Vec<String> = rows
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let why = r.why.as_deref()?;
            Some(format!(
                "  {}  {}: {why}",
                pad(&(i + 1).to_string(), widths[0]),
                r.error
            ))
        })
        .collect();
    if !reasons.is_empty() {
        outln!("\n{}", style.bold("error_description of each refusal"));
        for r in reasons {
            outln!("{r}");
        }
    }
    rows.iter().all(|r| r.expected.is_none())
}
