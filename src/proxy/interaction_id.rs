//! `x-fapi-interaction-id` (SPEC §8, FAPI 2.0): with `compliance.interaction_id`, the client's
//! value when it is an RFC 4122 UUID (its textual form, any version, either case), else a new
//! random (version 4) one. It replaces the header on the request itself, so the upstream
//! receives it; it is kept in the request's extensions so every answer jargate writes echoes
//! it, and set on forwarded answers unless the upstream sent its own (which wins).

use crate::random;

pub const HEADER: &str = "x-fapi-interaction-id";

/// The request's interaction id, in the request header's extensions.
#[derive(Debug, Clone)]
pub struct InteractionId(pub String);

/// The id of a request that sent these `x-fapi-interaction-id` values.
pub fn accept_or_generate<'a>(mut sent: impl Iterator<Item = &'a [u8]>) -> String {
    match (sent.next(), sent.next()) {
        (Some(one), None) if is_uuid(one) => String::from_utf8_lossy(one).into_owned(),
        _ => generate(),
    }
}

/// `8-4-4-4-12` hexadecimal digits (RFC 4122 §3).
fn is_uuid(value: &[u8]) -> bool {
    value.len() == 36
        && value.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

fn generate() -> String {
    // As for request ids: the system RNG does not fail on a supported platform, and a fixed id
    // would only lose uniqueness in the logs.
    let mut bytes = random::per_request::<16>().unwrap_or_default();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = random::hex(&bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(values: &[&str]) -> String {
        accept_or_generate(values.iter().map(|v| v.as_bytes()))
    }

    #[test]
    fn a_uuid_is_kept_anything_else_replaced_by_a_version_4_uuid() {
        let sent = "C5A8F0A2-1B2C-4D3E-8F90-0123456789ab";
        assert_eq!(id(&[sent]), sent);
        for bad in [
            vec![],
            vec!["not-a-uuid"],
            vec!["c5a8f0a2-1b2c-4d3e-8f90-0123456789ab "],
            vec!["c5a8f0a21b2c4d3e8f900123456789ab"],
            vec!["g5a8f0a2-1b2c-4d3e-8f90-0123456789ab"],
            vec![sent, sent],
        ] {
            let new = id(&bad);
            assert!(is_uuid(new.as_bytes()), "{new}");
            assert_ne!(new, sent);
            assert_eq!(&new[14..15], "4", "version 4: {new}");
            assert!("89ab".contains(&new[19..20]), "RFC 4122 variant: {new}");
        }
        assert_ne!(id(&[]), id(&[]));
    }
}
