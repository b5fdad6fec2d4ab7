//! Unguessable bytes from the operating system (through `ring`), for every value that must not
//! be predicted: PAR `request_uri`s, `jti`s of signed tokens, request ids, store nonces.

/// The platform has no system randomness (never the case on a supported platform).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unavailable;

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no system randomness")
    }
}

/// `N` random bytes.
pub fn bytes<const N: usize>() -> Result<[u8; N], Unavailable> {
    let mut bytes = [0u8; N];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| Unavailable)?;
    Ok(bytes)
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_differ_and_hex_is_two_digits_a_byte() {
        let (a, b) = (bytes::<16>().unwrap(), bytes::<16>().unwrap());
        assert_ne!(a, b);
        assert_eq!(hex(&[0, 0xab, 7]), "00ab07");
    }
}
