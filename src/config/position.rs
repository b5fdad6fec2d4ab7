//! Where a configuration error is, said the way an editor jumps to it: `file:line:column`,
//! the key path (`clients[2].signed_request_object.credentials[0].alg`), and for a misspelt
//! name the closest known one. serde reports unknown fields and variants with the list of
//! expected names; that list is turned into one "did you mean" suggestion.

use std::path::Path;

/// `file:line:column: message` (line and column 1-based).
pub fn at(file: &Path, line: usize, column: usize, message: &str) -> String {
    format!("{}:{line}:{column}: {message}", file.display())
}

/// Line and column (1-based, in characters) of byte `offset` in `text`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// A serde_json message without the " at line L column C" serde_json appends.
pub fn json_message(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rsplit_once(" at line ") {
        Some((message, _)) if err.line() > 0 => message.to_string(),
        _ => text,
    }
}

/// serde's unknown field / unknown variant messages, rewritten with a suggestion:
/// ``unknown field `signed_request_objects`, expected one of `a`, `b` `` becomes
/// `unknown field "signed_request_objects" (did you mean "signed_request_object"?)`.
/// Other messages are returned unchanged.
pub fn humanize(message: &str) -> String {
    for (prefix, noun) in [
        ("unknown field `", "unknown field"),
        ("unknown variant `", "unknown value"),
    ] {
        let Some(rest) = message.strip_prefix(prefix) else {
            continue;
        };
        let Some((word, expected)) = rest.split_once('`') else {
            continue;
        };
        let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let mut out = format!("{noun} {word:?}");
        if noun == "unknown value" && !known.is_empty() {
            let list: Vec<String> = known.iter().map(|k| format!("{k:?}")).collect();
            out += &format!(", expected one of {}", list.join(", "));
        }
        if let Some(best) = closest(word, &known) {
            out += &format!(" (did you mean {best:?}?)");
        }
        return out;
    }
    message.to_string()
}

/// The known name nearest to `word`, if it is near enough to be a plausible typo.
pub fn closest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    let word_lower = word.to_ascii_lowercase();
    known
        .iter()
        .map(|k| {
            (
                strsim::damerau_levenshtein(&word_lower, &k.to_ascii_lowercase()),
                *k,
            )
        })
        .filter(|(distance, k)| *distance <= (k.chars().count() / 3).max(2))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_get_the_closest_known_one() {
        assert_eq!(
            humanize("unknown field `signed_request_objects`, expected one of `name`, `signed_request_object`"),
            "unknown field \"signed_request_objects\" (did you mean \"signed_request_object\"?)"
        );
        assert_eq!(
            humanize("unknown field `zzz`, expected `name`"),
            "unknown field \"zzz\""
        );
        assert_eq!(
            humanize("unknown variant `legacyy`, expected `passthrough` or `legacy`"),
            "unknown value \"legacyy\", expected one of \"passthrough\", \"legacy\" (did you mean \"legacy\"?)"
        );
        assert_eq!(humanize("invalid type: string"), "invalid type: string");
    }

    #[test]
    fn offsets_become_lines_and_columns() {
        assert_eq!(line_column("ab\ncd", 0), (1, 1));
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
        assert_eq!(line_column("ab", 99), (1, 3));
    }
}
