//! A JSON body read as a form (SPEC §5 "No parser differential"). Some stacks hand every POST
//! body to their form parser whatever its `Content-Type` (a WSGI application reading
//! `parse_qs(environ['wsgi.input'])`, PHP's `php://input` through `parse_str`, an Express app
//! with `express.urlencoded({type: () => true})`). A JSON body whose raw bytes, read as
//! `application/x-www-form-urlencoded`, name a parameter jargate interprets could then carry a
//! second, unvalidated `client_assertion` or `request` in a string value. Such a body is
//! refused; `&` and `=` in values are fine as long as no interpreted name appears.
//!
//! The reading is the most lenient one a stack might apply, so that no stack finds a name this
//! one misses: `&` and `;` separate (Go before 1.17, Python before 3.9.2); `+` and `%XX` are
//! decoded, an incomplete escape kept as it is; leading spaces, an array suffix (`a[]`,
//! `a[x]`), leading brackets (Rack) and what follows a NUL are dropped; `.`, space and `[`
//! count as `_` (PHP); names are compared ignoring case (ASP.NET). Linear in the body size.

use crate::reject::RequestFault;
use crate::request::params::INTERPRETED;

/// Refuses a JSON body whose raw bytes, read as a form by any stack, name an interpreted
/// parameter (`client_id`, `client_assertion`, `request`, …).
pub fn check(body: &[u8]) -> Result<(), RequestFault> {
    for piece in body.split(|b| *b == b'&' || *b == b';') {
        let name = piece.split(|b| *b == b'=').next().unwrap_or_default();
        if let Some(found) = interpreted(&lenient_decode(name)) {
            return Err(RequestFault::JsonReadsAsForm(found));
        }
    }
    Ok(())
}

/// The interpreted name `raw` reads as under any stack's mangling, if any: as it is
/// (ASP.NET compares ignoring case), as PHP (leading spaces dropped, an array suffix cut,
/// ` .[` as `_`) and as Rack (leading brackets dropped, cut at the next bracket); a NUL ends it.
fn interpreted(raw: &str) -> Option<&'static str> {
    let name = raw.split('\0').next().unwrap_or_default();
    let php = {
        let name = name.trim_start_matches(' ');
        let base = match name.find('[') {
            Some(i) if name[i..].contains(']') => &name[..i],
            _ => name,
        };
        base.chars()
            .map(|c| if matches!(c, ' ' | '.' | '[') { '_' } else { c })
            .collect::<String>()
    };
    let rack = name.trim_start_matches(['[', ']']);
    let rack = rack.split(['[', ']']).next().unwrap_or_default();
    INTERPRETED.iter().copied().find(|known| {
        [name, php.as_str(), rack]
            .iter()
            .any(|candidate| candidate.eq_ignore_ascii_case(known))
    })
}

/// `+` as a space and `%XX` as a byte, keeping a malformed escape as it is; invalid UTF-8
/// replaced (the name is only compared with ASCII names).
fn lenient_decode(raw: &[u8]) -> String {
    let plus_free: Vec<u8> = raw
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    percent_encoding::percent_decode(&plus_free)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_of_the_issue_is_refused() {
        let body = br#"{"grant_type":"client_credentials","client_id":"app","client_assertion_type":"t","client_assertion":"A","x":"&grant_type=client_credentials&client_assertion_type=t&client_assertion=B&"}"#;
        assert_eq!(
            check(body),
            Err(RequestFault::JsonReadsAsForm("client_assertion_type"))
        );
    }

    #[test]
    fn every_spelling_a_stack_reads_as_an_interpreted_name_is_refused() {
        for value in [
            "&client_id=x",
            ";client_id=x",
            "&Client_ID=x",
            "&client%5Fassertion=x",
            "&client+assertion=x",
            "&client.assertion=x",
            "&client[assertion=x",
            "&request[]=x",
            "&[request]=x",
            "&%20request_uri=x",
            "&request_uri%00junk=x",
            "&client_secret&",
            "&request&x",
        ] {
            let body = format!(r#"{{"scope":"openid","x":"{value}"}}"#);
            assert!(check(body.as_bytes()).is_err(), "{value}");
        }
    }

    #[test]
    fn values_with_ampersands_and_equals_signs_are_fine() {
        for body in [
            &br#"{"client_id":"app","client_assertion":"a.b.c"}"#[..],
            br#"{"scope":"a&b=c&state=x","redirect_uri":"https://c.example/cb?a=1&b=2"}"#,
            br#"{"x":"&client_idx=1&my_request=2&request_object=3"}"#,
            br#"{"x":"&%zz=1"}"#,
            b"{}",
        ] {
            assert_eq!(check(body), Ok(()), "{}", String::from_utf8_lossy(body));
        }
    }
}
