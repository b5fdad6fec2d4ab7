//! Which endpoint a request path names. Intercepted paths match only as they are configured;
//! any other spelling that normalises to one of them (percent-encoding, dot segments, repeated
//! or trailing slashes, `;` parameters, letter case) is refused as ambiguous, because the
//! upstream might read it as the intercepted endpoint while jargate would have passed it through.
//!
//! A configured path may end in one `/` (Django and django-oauth-toolkit serve `/o/token/`, and
//! nothing else, for their endpoints): that exact spelling is the endpoint, and every other
//! spelling of the same normal form, the one without the slash included, is ambiguous. SPEC §5
//! does not name this case; refusing the slash-less form keeps "one spelling per endpoint".

use percent_encoding::percent_decode;

/// The intercepted endpoints of SPEC §3 `[paths]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Authorize,
    Par,
    Token,
    ClientAuth,
    /// `paths.userinfo`, intercepted under a global compliance level only (SPEC §9).
    Userinfo,
}

impl Endpoint {
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Authorize => "authorize",
            Endpoint::Par => "par",
            Endpoint::Token => "token",
            Endpoint::ClientAuth => "client_auth",
            Endpoint::Userinfo => "userinfo",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Intercept(Endpoint),
    /// Normalises to an intercepted path without being spelled as one.
    Ambiguous,
    /// An intercepted path with a `.` suffix (`/oauth/token.json`): Rails format routes and
    /// Spring MVC's suffix matching serve the endpoint there.
    Suffixed,
    Passthrough,
}

#[derive(Debug, Clone)]
pub struct Routes {
    table: Vec<(String, Endpoint)>,
    /// The normal form of each `table` path, in the same order (equal to it unless the path
    /// ends in `/`).
    normal_forms: Vec<String>,
}

impl Routes {
    /// The router of the `intercepted` paths, each with the endpoint it names, where `upgrade`
    /// lists the passthrough paths that may relay a tunnel. Every path must be in normal form
    /// itself, or its normal form followed by one `/`, else nothing could ever match it.
    pub fn new(intercepted: Vec<(String, Endpoint)>, upgrade: &[String]) -> Result<Routes, String> {
        let table = intercepted;
        let mut normal_forms: Vec<String> = Vec::with_capacity(table.len());
        for (path, _) in &table {
            let normal = normalize(path);
            let with_slash = normal != "/" && path.strip_suffix('/') == Some(normal.as_str());
            if normal != *path && !with_slash {
                return Err(format!(
                    "paths: {path:?} is not in normal form (write it as {normal:?}, or {:?})",
                    format!("{normal}/")
                ));
            }
            if normal_forms.contains(&normal) {
                return Err(format!(
                    "paths: {path:?} is listed twice (with or without a trailing slash)"
                ));
            }
            normal_forms.push(normal);
        }
        let routes = Routes {
            table,
            normal_forms,
        };
        // A tunnel is never allowed on an intercepted endpoint; listing one there is a mistake
        // worth refusing rather than a silent no-op.
        for path in upgrade {
            if !path.starts_with('/') || routes.classify(path) != Route::Passthrough {
                return Err(format!(
                    "paths.upgrade: {path:?} must be a passthrough path (not an intercepted endpoint)"
                ));
            }
        }
        Ok(routes)
    }

    /// Classifies a raw request path (without the query string).
    pub fn classify(&self, raw: &str) -> Route {
        if let Some((_, endpoint)) = self.table.iter().find(|(p, _)| p == raw) {
            return Route::Intercept(*endpoint);
        }
        // Most traffic is already in normal form: then it cannot be another spelling of an
        // intercepted path, and nothing needs to be decoded or allocated.
        let normal = if is_normal(raw) {
            std::borrow::Cow::Borrowed(raw)
        } else {
            std::borrow::Cow::Owned(normalize(raw))
        };
        // Not the configured spelling (that matched above), yet the same normal form.
        if self.is_intercepted(&normal) {
            return Route::Ambiguous;
        }
        if self.is_intercepted(without_suffix(&normal)) {
            return Route::Suffixed;
        }
        Route::Passthrough
    }

    fn is_intercepted(&self, normal: &str) -> bool {
        self.normal_forms.iter().any(|p| p == normal)
    }
}

/// Whether `normalize(raw) == raw` can be told without computing it: no escapes, parameters,
/// backslashes, capitals, empty or dot segments, or trailing slash.
fn is_normal(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    bytes.first() == Some(&b'/')
        && !bytes
            .iter()
            .any(|b| matches!(b, b'%' | b';' | b'\\') || b.is_ascii_uppercase() || !b.is_ascii())
        && raw[1..]
            .split('/')
            .all(|seg| !matches!(seg, "" | "." | ".."))
        || raw == "/"
}

/// A normal path without the `.` suffix of its last segment (`/a/b.json` → `/a/b`).
fn without_suffix(normal: &str) -> &str {
    let last = normal.rfind('/').unwrap_or(0);
    match normal[last..].find('.') {
        Some(dot) => &normal[..last + dot],
        None => normal,
    }
}

/// How many rounds of percent-decoding are undone; enough for double and triple encoding.
const DECODE_ROUNDS: usize = 3;

/// The canonical form of a path: decoded, `;` parameters and dot segments removed, no empty
/// segments, lower case.
pub fn normalize(raw: &str) -> String {
    let mut text = raw.to_string();
    for _ in 0..DECODE_ROUNDS {
        if !text.contains('%') {
            break;
        }
        text = percent_decode(text.as_bytes())
            .decode_utf8_lossy()
            .into_owned();
    }
    let text = text.replace('\\', "/");
    let mut segments: Vec<&str> = Vec::new();
    for segment in text.split('/') {
        let segment = segment.split(';').next().unwrap_or("");
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    format!("/{}", segments.join("/")).to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Vec<(String, Endpoint)> {
        [
            ("/authorize", Endpoint::Authorize),
            ("/oauth/par", Endpoint::Par),
            ("/oauth/token", Endpoint::Token),
            ("/oauth/revoke", Endpoint::ClientAuth),
        ]
        .map(|(p, e)| (p.to_owned(), e))
        .to_vec()
    }

    fn routes() -> Routes {
        Routes::new(table(), &[]).unwrap()
    }

    #[test]
    fn exact_paths_are_intercepted() {
        assert_eq!(
            routes().classify("/oauth/token"),
            Route::Intercept(Endpoint::Token)
        );
        assert_eq!(
            routes().classify("/authorize"),
            Route::Intercept(Endpoint::Authorize)
        );
        assert_eq!(
            routes().classify("/oauth/par"),
            Route::Intercept(Endpoint::Par)
        );
        assert_eq!(
            routes().classify("/oauth/revoke"),
            Route::Intercept(Endpoint::ClientAuth)
        );
    }

    #[test]
    fn every_other_spelling_of_an_intercepted_path_is_ambiguous() {
        for raw in [
            "/oauth//token",
            "/OAUTH/token",
            "/oauth/%74oken",
            "/oauth/%2574oken",
            "/oauth/token/",
            "/oauth/./token",
            "/oauth/x/../token",
            "/oauth/token;x=1",
            "//oauth/token",
            "/oauth\\token",
            "/Authorize",
        ] {
            assert_eq!(routes().classify(raw), Route::Ambiguous, "{raw}");
        }
    }

    #[test]
    fn intercepted_paths_with_a_suffix_are_refused() {
        for raw in [
            "/oauth/token.json",
            "/oauth/token.",
            "/oauth/token%2ejson",
            "/oauth/par.json",
            "/OAuth/Token.JSON",
            "/authorize.html/",
        ] {
            assert_eq!(routes().classify(raw), Route::Suffixed, "{raw}");
        }
        assert_eq!(routes().classify("/oauth.x/token"), Route::Passthrough);
    }

    #[test]
    fn unrelated_paths_pass_through() {
        for raw in [
            "/userinfo",
            "/",
            "/oauth/tokens",
            "/.well-known/openid-configuration",
        ] {
            assert_eq!(routes().classify(raw), Route::Passthrough, "{raw}");
        }
    }

    #[test]
    fn the_fast_path_agrees_with_normalize() {
        for raw in [
            "/",
            "/a",
            "/a/b",
            "/a/",
            "//a",
            "/a/./b",
            "/a/../b",
            "/A",
            "/a%2f",
            "/a;x",
            "/a\\b",
            "/.",
            "/..",
            "/a/.",
            "/oauth/token",
            "/ü",
        ] {
            if is_normal(raw) {
                assert_eq!(normalize(raw), raw, "{raw}");
            }
        }
        assert!(is_normal("/userinfo"));
        assert!(!is_normal("/oauth//token"));
    }

    #[test]
    fn upgrade_paths_must_be_passthrough_paths() {
        for bad in ["/oauth/token", "/OAuth/Token", "/oauth/token.ws", "ws"] {
            assert!(
                Routes::new(table(), &[bad.into()])
                    .unwrap_err()
                    .contains("paths.upgrade"),
                "{bad}"
            );
        }
        assert!(Routes::new(table(), &["/ws".into()]).is_ok());
    }

    #[test]
    fn a_path_configured_with_a_trailing_slash_is_the_only_spelling() {
        let routes = Routes::new(
            vec![
                ("/o/authorize/".into(), Endpoint::Authorize),
                ("/o/token/".into(), Endpoint::Token),
            ],
            &[],
        )
        .unwrap();
        assert_eq!(
            routes.classify("/o/token/"),
            Route::Intercept(Endpoint::Token)
        );
        assert_eq!(
            routes.classify("/o/authorize/"),
            Route::Intercept(Endpoint::Authorize)
        );
        for raw in [
            "/o/token",
            "/o/token//",
            "/o//token/",
            "/O/token/",
            "/o/%74oken/",
        ] {
            assert_eq!(routes.classify(raw), Route::Ambiguous, "{raw}");
        }
        assert_eq!(routes.classify("/o/token.json"), Route::Suffixed);
        assert_eq!(routes.classify("/o/tokens/"), Route::Passthrough);
    }

    #[test]
    fn one_endpoint_path_with_and_without_a_slash_is_listed_twice() {
        let error = Routes::new(
            vec![
                ("/o/token".into(), Endpoint::Token),
                ("/o/token/".into(), Endpoint::ClientAuth),
            ],
            &[],
        )
        .unwrap_err();
        assert!(error.contains("listed twice"), "{error}");
        for bad in ["/o/token//", "//", "/O/token/"] {
            let error = Routes::new(vec![(bad.into(), Endpoint::Token)], &[]).unwrap_err();
            assert!(error.contains("normal form"), "{bad}: {error}");
        }
    }

    #[test]
    fn configured_paths_must_be_normal() {
        let mut table = table();
        table.push(("/OAuth/Token".into(), Endpoint::Token));
        assert!(Routes::new(table, &[]).unwrap_err().contains("normal form"));
    }
}
