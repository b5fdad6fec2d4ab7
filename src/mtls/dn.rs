//! Distinguished names as `tls_client_auth` compares them (RFC 8705 §2.1.2, SPEC §10): a
//! registered `subject_dn` in Auth0's newline form (`C=GB\nO=Bank\nCN=app-1`, RDNs in the
//! certificate's order) or in RFC 4514's comma form (`CN=app-1,O=Bank,C=GB`, most specific RDN
//! first), and a certificate's subject, both turned into one typed [`Dn`]: RDNs in the
//! certificate's order, attribute types as OIDs, values normalised as distinguishedNameMatch
//! compares them (caseIgnoreMatch: surrounding spaces dropped, inner runs of spaces as one,
//! letter case ignored). Two DNs match when they are equal RDN by RDN.
//!
//! Decisions: a text with a newline is Auth0's form, one without is RFC 4514's (a one-RDN DN
//! reads the same either way); Auth0's lines carry no escapes; RFC 4514's `#`-hex (BER) values
//! are refused at load rather than guessed at; an attribute type jargate does not know by name
//! is refused at load (a dotted OID is always accepted), so a typo never makes a DN that
//! matches nothing in silence.

use x509_parser::x509::X509Name;

/// A DN: RDNs in the certificate's order (most general first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dn(Vec<Rdn>);

/// One relative DN: its attributes, sorted (a multi-valued RDN is a set).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rdn(Vec<Ava>);

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Ava {
    /// Dotted OID of the attribute type.
    oid: String,
    /// The value, normalised by [`normalise`].
    value: String,
}

/// Attribute type names (RFC 4514 §3, and the ones certificates commonly carry), upper case.
const NAMES: &[(&str, &str)] = &[
    ("CN", "2.5.4.3"),
    ("SN", "2.5.4.4"),
    ("SURNAME", "2.5.4.4"),
    ("SERIALNUMBER", "2.5.4.5"),
    ("C", "2.5.4.6"),
    ("L", "2.5.4.7"),
    ("ST", "2.5.4.8"),
    ("S", "2.5.4.8"),
    ("STREET", "2.5.4.9"),
    ("O", "2.5.4.10"),
    ("OU", "2.5.4.11"),
    ("TITLE", "2.5.4.12"),
    ("BUSINESSCATEGORY", "2.5.4.15"),
    ("POSTALCODE", "2.5.4.17"),
    ("GN", "2.5.4.42"),
    ("GIVENNAME", "2.5.4.42"),
    ("INITIALS", "2.5.4.43"),
    ("GENERATIONQUALIFIER", "2.5.4.44"),
    ("DNQUALIFIER", "2.5.4.46"),
    ("PSEUDONYM", "2.5.4.65"),
    ("ORGANIZATIONIDENTIFIER", "2.5.4.97"),
    ("UID", "0.9.2342.19200300.100.1.1"),
    ("DC", "0.9.2342.19200300.100.1.25"),
    ("EMAILADDRESS", "1.2.840.113549.1.9.1"),
    ("E", "1.2.840.113549.1.9.1"),
    ("JURISDICTIONL", "1.3.6.1.4.1.311.60.2.1.1"),
    ("JURISDICTIONST", "1.3.6.1.4.1.311.60.2.1.2"),
    ("JURISDICTIONC", "1.3.6.1.4.1.311.60.2.1.3"),
];

/// caseIgnoreMatch with insignificant-space handling (RFC 4518 §2.6.1, simplified to what
/// certificates carry): trimmed, inner whitespace runs as one space, lower case.
fn normalise(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for word in value.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    out
}

fn oid_of(name: &str) -> Result<String, String> {
    let name = name.trim();
    let bare = name
        .strip_prefix("OID.")
        .or_else(|| name.strip_prefix("oid."))
        .unwrap_or(name);
    let dotted = !bare.is_empty()
        && bare.split('.').count() >= 2
        && bare
            .split('.')
            .all(|arc| !arc.is_empty() && arc.bytes().all(|b| b.is_ascii_digit()));
    if dotted {
        return Ok(bare.to_owned());
    }
    let upper = bare.to_ascii_uppercase();
    NAMES
        .iter()
        .find(|(n, _)| *n == upper)
        .map(|(_, oid)| (*oid).to_owned())
        .ok_or_else(|| format!("unknown attribute type {bare:?} (use a dotted OID)"))
}

fn ava(type_name: &str, value: &str) -> Result<Ava, String> {
    Ok(Ava {
        oid: oid_of(type_name)?,
        value: normalise(value),
    })
}

impl Dn {
    /// A registered `subject_dn`: Auth0's newline form or RFC 4514's comma form.
    pub fn parse(text: &str) -> Result<Dn, String> {
        let text = text.trim_matches(|c| c == '\n' || c == '\r');
        if text.trim().is_empty() {
            return Err("the distinguished name is empty".into());
        }
        if text.contains('\n') {
            Dn::parse_lines(text)
        } else {
            Dn::parse_rfc4514(text)
        }
    }

    /// Auth0's form: one `TYPE=value` per line, in the certificate's order.
    fn parse_lines(text: &str) -> Result<Dn, String> {
        let mut rdns = Vec::new();
        for line in text.split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.trim().is_empty() {
                continue;
            }
            let (name, value) = line
                .split_once('=')
                .ok_or_else(|| format!("line {line:?} is not TYPE=value"))?;
            rdns.push(Rdn(vec![ava(name, value)?]));
        }
        Ok(Dn(rdns))
    }

    /// RFC 4514: RDNs separated by `,`, attributes of one RDN by `+`, `\` escapes (a special
    /// character or two hex digits); the last RDN written is the certificate's first.
    fn parse_rfc4514(text: &str) -> Result<Dn, String> {
        let mut rdns = Vec::new();
        let mut avas = Vec::new();
        let mut name = String::new();
        let mut value: Vec<u8> = Vec::new();
        let mut in_value = false;
        let bytes = text.as_bytes();
        let mut i = 0;
        let finish = |name: &mut String, value: &mut Vec<u8>| -> Result<Ava, String> {
            let text = String::from_utf8(std::mem::take(value))
                .map_err(|_| "a value is not UTF-8".to_string())?;
            if text.starts_with('#') {
                return Err("hex-encoded (#) attribute values are not supported".into());
            }
            ava(&std::mem::take(name), &text)
        };
        while let Some(&b) = bytes.get(i) {
            i += 1;
            if !in_value {
                match b {
                    b'=' => in_value = true,
                    b',' | b'+' => return Err(format!("attribute type {name:?} has no value")),
                    _ => name.push(b as char),
                }
                continue;
            }
            match b {
                b'\\' => {
                    let next = *bytes.get(i).ok_or("a trailing \\ escapes nothing")?;
                    let hex = |c: u8| (c as char).to_digit(16);
                    match (hex(next), bytes.get(i + 1).and_then(|c| hex(*c))) {
                        (Some(hi), Some(lo)) => {
                            value.push((hi * 16 + lo) as u8);
                            i += 2;
                        }
                        _ => {
                            value.push(next);
                            i += 1;
                        }
                    }
                }
                b'+' => {
                    avas.push(finish(&mut name, &mut value)?);
                    in_value = false;
                }
                b',' => {
                    avas.push(finish(&mut name, &mut value)?);
                    rdns.push(Rdn(std::mem::take(&mut avas)));
                    in_value = false;
                }
                _ => value.push(b),
            }
        }
        if !in_value {
            return Err(format!("attribute type {name:?} has no value"));
        }
        avas.push(finish(&mut name, &mut value)?);
        rdns.push(Rdn(avas));
        rdns.reverse();
        Ok(Dn::sorted(rdns))
    }

    fn sorted(mut rdns: Vec<Rdn>) -> Dn {
        for rdn in &mut rdns {
            rdn.0.sort();
        }
        Dn(rdns)
    }

    /// A certificate's subject; `None` when a value is not a string type jargate reads
    /// (such a certificate matches no `subject_dn`).
    pub fn of_x509(name: &X509Name<'_>) -> Option<Dn> {
        let mut rdns = Vec::new();
        for rdn in name.iter() {
            let mut avas = Vec::new();
            for attr in rdn.iter() {
                avas.push(Ava {
                    oid: attr.attr_type().to_id_string(),
                    value: normalise(attr.as_str().ok()?),
                });
            }
            rdns.push(Rdn(avas));
        }
        Some(Dn::sorted(rdns))
    }

    /// distinguishedNameMatch: the same RDNs in the same order, attribute by attribute.
    pub fn matches(&self, other: &Dn) -> bool {
        self == other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dn(text: &str) -> Dn {
        Dn::parse(text).expect(text)
    }

    #[test]
    fn auth0_lines_and_rfc4514_name_the_same_dn() {
        let auth0 = dn("C=GB\nO=Bank\nCN=app-1");
        assert!(auth0.matches(&dn("CN=app-1,O=Bank,C=GB")));
        assert!(auth0.matches(&dn("cn=APP-1, o=bank , c=gb")));
        assert!(auth0.matches(&dn("2.5.4.3=app-1,OID.2.5.4.10=Bank,C=GB")));
        assert!(!auth0.matches(&dn("CN=app-1,O=Bank,C=US")));
        assert!(!auth0.matches(&dn("C=GB,O=Bank,CN=app-1")), "order counts");
        assert!(!auth0.matches(&dn("CN=app-1,C=GB")));
    }

    #[test]
    fn values_compare_as_distinguished_name_match_does() {
        assert!(dn("CN=  Big   Bank  Ltd ").matches(&dn("CN=big bank ltd")));
        assert!(!dn("CN=bigbank").matches(&dn("CN=big bank")));
    }

    #[test]
    fn rfc4514_escapes_and_multi_valued_rdns() {
        let escaped = dn(r"CN=Bank\, Inc.,O=A\2BB");
        assert_eq!(escaped, dn("O=A+B\nCN=Bank, Inc."));
        assert!(dn("CN=a+UID=b,O=x").matches(&dn("UID=b+CN=a,O=x")));
        assert!(!dn("CN=a+UID=b,O=x").matches(&dn("CN=a,UID=b,O=x")));
    }

    #[test]
    fn malformed_names_are_refused() {
        for bad in [
            "",
            "CN",
            "CN=a,O",
            "FOO=a",
            "CN=#04024869",
            "CN=a\\",
            "\n\n",
        ] {
            assert!(Dn::parse(bad).is_err(), "{bad:?}");
        }
    }
}
