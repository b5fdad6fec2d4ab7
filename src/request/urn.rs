//! The syntax of a `request_uri` jargate lets through: a URN (RFC 8141), at most
//! [`MAX_REQUEST_URI_CHARS`] characters. Servers name their pushed requests differently
//! (`urn:ietf:params:oauth:request_uri:…` for Auth0 and node-oidc-provider, `urn:uuid:…` for
//! idpyoidc); what they share is that no server fetches a URN, so a `urn:` value can only be a
//! reference to something pushed. Syntax only: which URNs mean something is decided elsewhere.

/// The longest `request_uri` accepted (SPEC §5).
pub const MAX_REQUEST_URI_CHARS: usize = 512;

/// Whether `value` is an RFC 8141 `namestring` of at most [`MAX_REQUEST_URI_CHARS`]:
/// `urn:` (any case), a NID of 2 to 32 letters, digits and inner hyphens, `:`, a non-empty
/// NSS of `pchar` and `/`, then the optional `?+r`, `?=q` and `#f` components.
pub fn is_urn(value: &str) -> bool {
    if value.len() > MAX_REQUEST_URI_CHARS {
        return false;
    }
    let bytes = value.as_bytes();
    let Some(scheme) = bytes.get(..4) else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case(b"urn:") {
        return false;
    }
    let rest = bytes.get(4..).unwrap_or_default();
    let Some(colon) = rest.iter().position(|b| *b == b':') else {
        return false;
    };
    let (nid, rest) = rest.split_at(colon);
    if !valid_nid(nid) {
        return false;
    }
    let rest = rest.get(1..).unwrap_or_default();
    let (before_fragment, fragment) = match rest.iter().position(|b| *b == b'#') {
        Some(i) => (&rest[..i], rest.get(i + 1..)),
        None => (rest, None),
    };
    if fragment.is_some_and(|f| !all_chars(f, b"/?")) {
        return false;
    }
    let (nss, components) = match before_fragment.iter().position(|b| *b == b'?') {
        Some(i) => before_fragment.split_at(i),
        None => (before_fragment, &b""[..]),
    };
    !nss.is_empty() && nss.first() != Some(&b'/') && all_chars(nss, b"/") && rq(components)
}

/// `NID = alphanum 0*30ldh alphanum`.
fn valid_nid(nid: &[u8]) -> bool {
    let alnum = |b: Option<&u8>| b.is_some_and(u8::is_ascii_alphanumeric);
    (2..=32).contains(&nid.len())
        && alnum(nid.first())
        && alnum(nid.last())
        && nid.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-')
}

/// `[ "?+" r-component ] [ "?=" q-component ]`, each a non-empty run of `pchar / "/" / "?"`.
fn rq(mut text: &[u8]) -> bool {
    for marker in [&b"?+"[..], b"?="] {
        if let Some(after) = text.strip_prefix(marker) {
            let end = after
                .windows(2)
                .position(|w| w == b"?=")
                .filter(|_| marker == b"?+")
                .unwrap_or(after.len());
            let (component, next) = after.split_at(end);
            if component.is_empty() || !all_chars(component, b"/?") {
                return false;
            }
            text = next;
        }
    }
    text.is_empty()
}

/// Every byte is a `pchar` (RFC 3986: unreserved, `%XX`, sub-delims, `:`, `@`) or in `extra`.
fn all_chars(text: &[u8], extra: &[u8]) -> bool {
    let mut i = 0;
    while let Some(b) = text.get(i) {
        if *b == b'%' {
            let hex = text.get(i + 1..i + 3);
            if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                return false;
            }
            i += 3;
            continue;
        }
        let pchar = b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(b);
        if !pchar && !extra.contains(b) {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_urns_servers_answer_are_accepted() {
        for uri in [
            "urn:ietf:params:oauth:request_uri:6esc_11ACC5bwc014ltc14eY22c",
            "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
            "URN:UUID:F81D4FAE-7DEC-11D0-A765-00A0C91E6BF6",
            "urn:example:a%2Fb/c?+r?=q#frag",
            "urn:example:a?=q",
            "urn:ab:x",
        ] {
            assert!(is_urn(uri), "{uri}");
        }
    }

    #[test]
    fn anything_else_is_refused() {
        let long = format!("urn:uuid:{}", "a".repeat(MAX_REQUEST_URI_CHARS));
        for uri in [
            "https://evil.example/ro",
            "urn:",
            "urn:uuid",
            "urn:uuid:",
            "urn:a:x",
            "urn:-ab:x",
            "urn:ab-:x",
            "urn:a_b:x",
            "urn:ab:/x",
            "urn:ab:x y",
            "urn:ab:x%2",
            "urn:ab:x%zz",
            "urn:ab:x?",
            "urn:ab:x?+",
            "urn:ab:x?q",
            "urn:ab:x#a b",
            "urn:ab:x\u{e9}",
            "urn:ab:x\0",
            "urnx:ab:x",
            "",
            &long,
        ] {
            assert!(!is_urn(uri), "{uri:?}");
        }
        let at_limit = format!("urn:uuid:{}", "a".repeat(MAX_REQUEST_URI_CHARS - 9));
        assert!(is_urn(&at_limit));
    }
}
