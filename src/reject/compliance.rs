//! Refusals of the compliance-level rules (SPEC §9): one variant per rule of §9's table that
//! is not already a §5 token rule, each with its §6 status and error, a rule name for metrics
//! and logs (all prefixed `level_`, so a dashboard can group them) and a description.

/// A request the client's compliance level refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumIter)]
pub enum ComplianceFault {
    /// `/authorize` without a PAR `request_uri` (a `request` by value included).
    ParRequired,
    /// A `request_uri` jargate never saw pushed.
    RequestUriNotPushed,
    /// A PAR `request_uri` older than 599 s (fapi2).
    RequestUriTooOld,
    /// No `code_challenge`.
    PkceMissing,
    /// A `code_challenge` that is not 43–128 characters of `A-Z a-z 0-9 - . _ ~`.
    PkceChallenge,
    /// `code_challenge_method` absent (`plain`) or other than `S256`.
    PkceMethod,
    /// `response_type` the level does not allow.
    ResponseType,
    /// `response_mode` the level does not allow (fapi2).
    ResponseMode,
    /// No `redirect_uri` (fapi2).
    RedirectUriMissing,
    /// A `redirect_uri` that is none of the client's `callbacks`.
    RedirectUriNotRegistered,
    /// A PAR without a signed request object (fapi1).
    SignedRequestRequired,
    /// The request authenticated the client with another method than the level's.
    ClientAuthMethod,
    /// A token request without the client certificate mtls sender-constraining needs.
    CertificateRequired,
    /// A token request without the valid DPoP proof dpop sender-constraining needs.
    DpopProofRequired,
    /// A password grant (fapi2).
    PasswordGrant,
    /// An access token in the query or body of `paths.userinfo`.
    UserinfoAccessToken,
}

impl ComplianceFault {
    pub fn status(self) -> u16 {
        match self {
            ComplianceFault::ClientAuthMethod => 401,
            _ => 400,
        }
    }

    pub fn error(self) -> &'static str {
        use ComplianceFault::*;
        match self {
            RequestUriNotPushed | RequestUriTooOld => "invalid_request_uri",
            ResponseType => "unsupported_response_type",
            ClientAuthMethod => "invalid_client",
            DpopProofRequired => "invalid_dpop_proof",
            PasswordGrant => "unauthorized_client",
            _ => "invalid_request",
        }
    }

    pub fn rule(self) -> &'static str {
        use ComplianceFault::*;
        match self {
            ParRequired => "level_par_required",
            RequestUriNotPushed => "level_request_uri_not_pushed",
            RequestUriTooOld => "level_request_uri_too_old",
            PkceMissing => "level_pkce_missing",
            PkceChallenge => "level_pkce_challenge",
            PkceMethod => "level_pkce_method",
            ResponseType => "level_response_type",
            ResponseMode => "level_response_mode",
            RedirectUriMissing => "level_redirect_uri_missing",
            RedirectUriNotRegistered => "level_redirect_uri_not_registered",
            SignedRequestRequired => "level_signed_request_required",
            ClientAuthMethod => "level_client_auth_method",
            CertificateRequired => "level_certificate_required",
            DpopProofRequired => "level_dpop_proof_required",
            PasswordGrant => "level_password_grant",
            UserinfoAccessToken => "level_userinfo_access_token",
        }
    }

    pub fn describe(self) -> &'static str {
        use ComplianceFault::*;
        match self {
            // Auth0's words, so a client written against Auth0 recognises the refusal.
            ParRequired => {
                "Pushed Authorization Requests are required by the configured compliance level"
            }
            RequestUriNotPushed => "request_uri was not pushed through this server",
            RequestUriTooOld => "request_uri was pushed too long ago for the compliance level",
            PkceMissing => "code_challenge is required by the compliance level",
            PkceChallenge => "code_challenge must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~",
            PkceMethod => "code_challenge_method must be S256",
            ResponseType => "response_type is not allowed by the compliance level",
            ResponseMode => "response_mode is not allowed by the compliance level",
            RedirectUriMissing => "redirect_uri is required by the compliance level",
            RedirectUriNotRegistered => "redirect_uri is not registered for this client",
            SignedRequestRequired => "a signed request object is required by the compliance level",
            ClientAuthMethod => {
                "the client authentication method is not allowed by the compliance level"
            }
            CertificateRequired => {
                "a client certificate is required by the compliance level (mTLS-bound tokens)"
            }
            DpopProofRequired => {
                "a valid DPoP proof is required by the compliance level (DPoP-bound tokens)"
            }
            PasswordGrant => "password grants are not allowed by the compliance level",
            UserinfoAccessToken => "the access token must be sent in the Authorization header",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::IntoEnumIterator;

    #[test]
    fn each_level_rule_has_its_own_name_and_spec_row() {
        let mut rules: Vec<&str> = ComplianceFault::iter().map(|f| f.rule()).collect();
        let n = rules.len();
        rules.sort_unstable();
        rules.dedup();
        assert_eq!(rules.len(), n);
        assert_eq!(
            ComplianceFault::ParRequired.describe(),
            "Pushed Authorization Requests are required by the configured compliance level"
        );
        let rows = [
            (
                ComplianceFault::ResponseType,
                400,
                "unsupported_response_type",
            ),
            (ComplianceFault::PasswordGrant, 400, "unauthorized_client"),
            (ComplianceFault::ClientAuthMethod, 401, "invalid_client"),
            (
                ComplianceFault::DpopProofRequired,
                400,
                "invalid_dpop_proof",
            ),
            (
                ComplianceFault::RequestUriTooOld,
                400,
                "invalid_request_uri",
            ),
            (ComplianceFault::PkceMethod, 400, "invalid_request"),
        ];
        for (f, status, error) in rows {
            assert_eq!((f.status(), f.error()), (status, error), "{f:?}");
        }
    }
}
