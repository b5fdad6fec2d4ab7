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

/// `N` random bytes for a value drawn on every request (request ids): from a per-thread
/// buffer of the system's randomness, refilled 4 KiB at a time, so that a request costs no
/// system call. As unpredictable as [`bytes`]; kept apart so that rare secrets (PAR
/// `request_uri`s, signing `jti`s) never sit in a buffer before use.
pub fn per_request<const N: usize>() -> Result<[u8; N], Unavailable> {
    const SIZE: usize = 4096;
    struct Buffer {
        bytes: [u8; SIZE],
        used: usize,
    }
    thread_local! {
        static BUFFER: std::cell::RefCell<Buffer> =
            const { std::cell::RefCell::new(Buffer { bytes: [0; SIZE], used: SIZE }) };
    }
    if N > SIZE {
        return bytes::<N>();
    }
    BUFFER.with_borrow_mut(|buffer| {
        if SIZE - buffer.used < N {
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut buffer.bytes)
                .map_err(|_| Unavailable)?;
            buffer.used = 0;
        }
        let mut out = [0u8; N];
        let taken = buffer.used..buffer.used + N;
        out.copy_from_slice(&buffer.bytes[taken.clone()]);
        // Drawn bytes are not kept: a later memory disclosure shows nothing already handed out.
        buffer.bytes[taken].fill(0);
        buffer.used += N;
        Ok(out)
    })
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_differ_and_hex_is_two_digits_a_byte() {
        let (a, b) = (bytes::<16>().unwrap(), bytes::<16>().unwrap());
        assert_ne!(a, b);
        assert_eq!(hex(&[0, 0xab, 7, 0xf0]), "00ab07f0");
    }

    #[test]
    fn per_request_draws_differ_across_refills() {
        let mut seen = std::collections::HashSet::new();
        // 600 draws of 16 bytes: more than two refills of the buffer.
        for _ in 0..600 {
            assert!(seen.insert(per_request::<16>().unwrap()));
        }
        assert_eq!(per_request::<0>().unwrap(), [0u8; 0]);
    }
}
