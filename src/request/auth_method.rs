//! Which client-authentication method a request used (SPEC §8 `jargate_client_auth_total`),
//! so "which clients still send a client_secret?" is one query. The method the client sent,
//! not the one jargate presents upstream in legacy mode.

use super::{basic, Params};

/// RFC 6749 §2.3 / RFC 7523 methods, as Auth0 names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    PrivateKeyJwt,
    ClientSecretPost,
    ClientSecretBasic,
    None,
    /// RFC 8705 §2.1: a CA-issued client certificate matched by subject DN.
    TlsClientAuth,
    /// RFC 8705 §2.2: a registered (self-signed) certificate matched by thumbprint.
    SelfSignedTlsClientAuth,
}

impl AuthMethod {
    pub const ALL: [AuthMethod; 6] = [
        AuthMethod::PrivateKeyJwt,
        AuthMethod::ClientSecretPost,
        AuthMethod::ClientSecretBasic,
        AuthMethod::None,
        AuthMethod::TlsClientAuth,
        AuthMethod::SelfSignedTlsClientAuth,
    ];

    /// The metric label and log field value.
    pub fn name(self) -> &'static str {
        match self {
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::None => "none",
            AuthMethod::TlsClientAuth => "tls_client_auth",
            AuthMethod::SelfSignedTlsClientAuth => "self_signed_tls_client_auth",
        }
    }

    /// The method of a request's parameters and `Authorization` header. A request carrying two
    /// methods is refused before it is forwarded (unless in report mode); the assertion is
    /// named first then, as it is the one jargate checks. A client certificate is never seen
    /// here: the decision names the mTLS method once the certificate authenticated the client.
    pub fn of(params: &Params, authorization: Option<&[u8]>) -> AuthMethod {
        let basic = authorization.is_some_and(basic::is_basic);
        if params.contains("client_assertion") {
            AuthMethod::PrivateKeyJwt
        } else if basic {
            AuthMethod::ClientSecretBasic
        } else if params.contains("client_secret") {
            AuthMethod::ClientSecretPost
        } else {
            AuthMethod::None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::params::Origin;

    fn params(form: &str) -> Params {
        let mut p = Params::default();
        p.add_form(form.as_bytes(), Origin::Form).expect("form");
        p
    }

    #[test]
    fn each_method_is_named_from_the_request() {
        let basic = Some(&b"Basic YXBwOnNlY3JldA=="[..]);
        let cases = [
            (
                "client_assertion=x&client_assertion_type=y",
                None,
                "private_key_jwt",
            ),
            ("client_id=a&client_secret=s", None, "client_secret_post"),
            ("grant_type=x", basic, "client_secret_basic"),
            (
                "grant_type=x",
                Some(&b"bAsIc YQ=="[..]),
                "client_secret_basic",
            ),
            ("client_id=a", None, "none"),
            ("client_id=a", Some(&b"Bearer t"[..]), "none"),
        ];
        for (form, header, want) in cases {
            assert_eq!(AuthMethod::of(&params(form), header).name(), want, "{form}");
        }
    }
}
