//! Request ids (SPEC §8): the client's `X-Request-Id` when it is 1–128 visible ASCII
//! characters, else a new random 128-bit id (32 lowercase hex digits). The id replaces the
//! header on the request itself, so the upstream receives it and every answer jargate writes
//! can echo it (`respond`); `traceparent` is only read, for the logs.

use crate::random;

pub const X_REQUEST_ID: &str = "x-request-id";

/// The id of a request that sent these `X-Request-Id` values.
pub fn accept_or_generate<'a>(mut sent: impl Iterator<Item = &'a [u8]>) -> String {
    match (sent.next(), sent.next()) {
        (Some(one), None) if (1..=128).contains(&one.len()) && visible_ascii(one) => {
            String::from_utf8_lossy(one).into_owned()
        }
        _ => generate(),
    }
}

/// A `traceparent` value fit for a log line (visible ASCII, at most 128 bytes).
pub fn loggable_traceparent(value: &[u8]) -> Option<String> {
    ((1..=128).contains(&value.len()) && visible_ascii(value))
        .then(|| String::from_utf8_lossy(value).into_owned())
}

fn visible_ascii(value: &[u8]) -> bool {
    value.iter().all(|b| (0x21..=0x7e).contains(b))
}

fn generate() -> String {
    // The system RNG does not fail on a supported platform; a fixed id would only lose
    // uniqueness in the logs, never weaken a check.
    random::hex(&random::per_request::<16>().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(values: &[&str]) -> String {
        accept_or_generate(values.iter().map(|v| v.as_bytes()))
    }

    fn is_generated(id: &str) -> bool {
        id.len() == 32
            && id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }

    #[test]
    fn a_valid_id_is_kept() {
        assert_eq!(id(&["abc-123"]), "abc-123");
        let long = "x".repeat(128);
        assert_eq!(id(&[&long]), long);
    }

    #[test]
    fn a_missing_invalid_or_repeated_id_is_replaced() {
        assert!(is_generated(&id(&[])));
        assert!(is_generated(&id(&[""])));
        assert!(is_generated(&id(&["has space"])));
        assert!(is_generated(&id(&[&"x".repeat(129)])));
        assert!(is_generated(&id(&["caf\u{e9}"])));
        assert!(is_generated(&id(&["a", "b"])));
        assert_ne!(id(&[]), id(&[]));
    }
}
