//! The one rejection type: every reason jargate refuses a request, each mapped to exactly one row
//! of SPEC §6 (status and OAuth `error` code) with a stable rule name for logs and metrics and a
//! description for the client. Nothing here ever contains key material or a whole token.

use crate::clock::{rfc3339, span};
use std::fmt;

mod compliance;
pub use compliance::ComplianceFault;

/// A problem with a JWT (client assertion or request object). The same fault maps to
/// `invalid_client` for an assertion and to `invalid_request_object` for a request object.
/// A fault carries the values its rule was decided on, for `jargate explain`; what the client
/// is told ([`TokenFault::describe`]) and the rule name stay free of them.
#[derive(Debug, Clone, PartialEq, Eq, strum::EnumIter)]
pub enum TokenFault {
    TooLarge {
        len: usize,
        max: usize,
    },
    /// Not three parts (`parts`), or three with an `empty` header or signature.
    NotCompact {
        parts: usize,
        empty: &'static str,
    },
    Encrypted,
    /// The `part` (header, payload or signature) is not unpadded base64url.
    BadEncoding {
        part: &'static str,
    },
    HeaderNotObject,
    AlgMissing,
    AlgTooLong {
        len: usize,
        max: usize,
    },
    AlgNotAllowed,
    Crit,
    UnknownKid,
    NoCredential,
    /// The client's keys are behind a `jwks_uri` that could not be fetched: an outage of the
    /// client's key host, not a registry problem.
    JwksUnavailable,
    BadSignature,
    ClaimsNotObject,
    /// The header or the claims name the member `name` twice.
    DuplicateMember {
        name: String,
    },
    TimeNotNumber(&'static str),
    MissingExp,
    Expired {
        exp: Seconds,
        now: i64,
        skew: i64,
    },
    /// `exp` minus `from` (`iat`, `nbf` or `now`) exceeds `max` + `skew`.
    LifetimeTooLong {
        lifetime: Seconds,
        from: &'static str,
        max: i64,
        skew: i64,
    },
    IssuedInFuture {
        iat: Seconds,
        now: i64,
        skew: i64,
    },
    NotYetValid {
        nbf: Seconds,
        now: i64,
        skew: i64,
    },
    NbfTooOld {
        nbf: Seconds,
        now: i64,
        max: i64,
        skew: i64,
    },
    MissingNbf,
    MissingAud,
    /// `actual` is the token's `aud` as JSON; `expected` the issuer identifier.
    AudienceMismatch {
        expected: String,
        actual: String,
    },
    AudienceNotStrict {
        expected: String,
        actual: String,
    },
    TypNotAllowed,
    MissingClaim(&'static str),
    ClaimNotString(&'static str),
    ClaimTooLong {
        claim: &'static str,
        chars: usize,
        max: usize,
    },
    IssSubDiffer,
    NotThisClient(&'static str),
    ForbiddenClaim(&'static str),
    SubIsClient,
    Replayed,
    /// `alg` is not one the client's compliance level allows (SPEC §9).
    AlgNotAllowedByLevel,
}

/// A NumericDate or a span of seconds as the token wrote it (JSON numbers may be fractional).
/// Never NaN: it comes from a JSON number, so it is equal to itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, PartialOrd)]
pub struct Seconds(pub f64);

impl Eq for Seconds {}

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Seconds {
    /// As the client wrote it and as a date.
    pub fn dated(self) -> String {
        format!("{self} ({})", rfc3339(self.0.floor() as i64))
    }
}

impl TokenFault {
    /// What the token had, from the values this fault carries (`None`: it carries none), for
    /// `jargate explain` to show next to what the rule expects.
    pub fn detail(&self) -> Option<String> {
        use TokenFault::*;
        let ago = |now: &i64, t: &Seconds| span(*now as f64 - t.0);
        Some(match self {
            TooLarge { len, .. } => format!("{len} bytes"),
            NotCompact { parts, empty: "" } => format!("{parts} part(s)"),
            NotCompact { empty, .. } => format!("an empty {empty} part"),
            Encrypted => "five parts: an encrypted JWT (JWE)".into(),
            BadEncoding { part } => format!("a {part} part that is not base64url"),
            DuplicateMember { name } => {
                format!("{name:?} appears twice (servers disagree on which counts)")
            }
            AlgTooLong { len, .. } | ClaimTooLong { chars: len, .. } => format!("{len} characters"),
            NoCredential => "no current credential".into(),
            Expired { exp, now, .. } => format!("{}, expired {} ago", exp.dated(), ago(now, exp)),
            LifetimeTooLong { lifetime, from, .. } => format!("exp − {from} = {lifetime} s"),
            IssuedInFuture { iat: t, now, .. } | NotYetValid { nbf: t, now, .. } => format!(
                "{}, {} in the future (check the client's clock)",
                t.dated(),
                ago(now, t)
            ),
            NbfTooOld { nbf, now, .. } => format!("{}, {} old", nbf.dated(), ago(now, nbf)),
            AudienceMismatch { actual, .. } | AudienceNotStrict { actual, .. } => actual.clone(),
            _ => return None,
        })
    }

    /// Stable, machine-friendly name of the rule (metrics label, log field).
    pub fn rule(&self) -> &'static str {
        use TokenFault::*;
        match self {
            TooLarge { .. } => "too_large",
            NotCompact { .. } => "not_compact",
            Encrypted => "encrypted",
            BadEncoding { .. } => "bad_encoding",
            HeaderNotObject => "header_not_object",
            AlgMissing => "alg_missing",
            AlgTooLong { .. } => "alg_too_long",
            AlgNotAllowed => "alg_not_allowed",
            Crit => "crit",
            UnknownKid => "unknown_kid",
            NoCredential => "no_credential",
            JwksUnavailable => "jwks_unavailable",
            BadSignature => "bad_signature",
            ClaimsNotObject => "claims_not_object",
            DuplicateMember { .. } => "duplicate_member",
            TimeNotNumber(_) => "time_not_number",
            MissingExp => "missing_exp",
            Expired { .. } => "expired",
            LifetimeTooLong { .. } => "lifetime_too_long",
            IssuedInFuture { .. } => "iat_in_future",
            NotYetValid { .. } => "nbf_in_future",
            NbfTooOld { .. } => "nbf_too_old",
            MissingNbf => "missing_nbf",
            MissingAud => "missing_aud",
            AudienceMismatch { .. } => "aud_mismatch",
            AudienceNotStrict { .. } => "aud_not_strict",
            TypNotAllowed => "typ_not_allowed",
            MissingClaim(_) => "missing_claim",
            ClaimNotString(_) => "claim_not_string",
            ClaimTooLong { .. } => "claim_too_long",
            IssSubDiffer => "iss_sub_differ",
            NotThisClient(_) => "not_this_client",
            ForbiddenClaim(_) => "forbidden_claim",
            SubIsClient => "sub_is_client",
            Replayed => "jti_replayed",
            AlgNotAllowedByLevel => "level_alg",
        }
    }

    /// Human-readable reason, safe to send to the client.
    pub fn describe(&self, what: &str) -> String {
        use TokenFault::*;
        match self {
            TooLarge { .. } => format!("{what} exceeds the size limit"),
            NotCompact { .. } => format!("{what} is not a compact JWS (three base64url parts)"),
            Encrypted => format!("{what} is encrypted (JWE); only signed JWTs are accepted"),
            BadEncoding { .. } => format!("{what} is not valid unpadded base64url"),
            HeaderNotObject => format!("{what} header is not a JSON object"),
            AlgMissing => format!("{what} header has no alg"),
            AlgTooLong { .. } => format!("{what} alg is too long"),
            AlgNotAllowed => {
                format!(
                    "{what} alg is not registered for this client (or for the key its kid names)"
                )
            }
            Crit => format!("{what} header carries crit, which is not supported"),
            UnknownKid => format!("{what} kid names no current credential of this client"),
            NoCredential => format!("no current credential of this client can verify the {what}"),
            JwksUnavailable => {
                format!("the client's JWK Set could not be fetched to verify the {what}")
            }
            BadSignature => format!("{what} signature does not verify"),
            ClaimsNotObject => format!("{what} claims are not a JSON object"),
            DuplicateMember { .. } => format!("{what} has a duplicate JSON member name"),
            TimeNotNumber(c) => format!("{what} claim {c} is not a number"),
            MissingExp => format!("{what} has no exp"),
            Expired { .. } => format!("{what} has expired"),
            LifetimeTooLong { .. } => format!("{what} lifetime exceeds the maximum"),
            IssuedInFuture { .. } => format!("{what} iat is in the future"),
            NotYetValid { .. } => format!("{what} nbf is in the future"),
            NbfTooOld { .. } => format!("{what} nbf is too far in the past"),
            MissingNbf => format!("{what} has no nbf"),
            MissingAud => format!("{what} has no aud"),
            AudienceMismatch { .. } => {
                format!("{what} aud does not name this authorization server")
            }
            AudienceNotStrict { .. } => {
                format!("{what} aud must be a single string equal to the issuer identifier")
            }
            TypNotAllowed => format!("{what} typ is not allowed"),
            MissingClaim(c) => format!("{what} has no {c}"),
            ClaimNotString(c) => format!("{what} claim {c} is not a string"),
            ClaimTooLong { claim, .. } => format!("{what} claim {claim} is too long"),
            IssSubDiffer => format!("{what} iss and sub differ"),
            NotThisClient(c) => format!("{what} {c} does not match the client_id"),
            ForbiddenClaim(c) => format!("{what} must not contain {c}"),
            SubIsClient => format!("{what} sub must not equal the client_id"),
            Replayed => "jti already used".to_string(),
            AlgNotAllowedByLevel => {
                format!("{what} alg is not allowed by the client's compliance level")
            }
        }
    }
}

/// A malformed request, answered `invalid_request` (400).
#[derive(Debug, Clone, PartialEq, Eq, strum::EnumIter)]
pub enum RequestFault {
    AmbiguousPath,
    QueryNotAllowed,
    UnsupportedMediaType,
    UnsupportedCharset,
    ContentEncoding,
    MalformedBody,
    RepeatedParameter(String),
    TwoAuthMethods,
    AssertionType,
    MissingAssertion,
    MissingParameter(&'static str),
    RequestWithRequestUri,
    RequestUriInPar,
    SignedRequestRequired,
    ParRequired,
    OutsideParameter(String),
    UnknownClient,
    // SPEC §5 "No parser differential": each form another server could read differently.
    /// The request target is neither origin form nor `http(s)://` absolute form.
    RequestTarget,
    /// The path is an intercepted path followed by a `.` suffix (`/oauth/token.json`).
    PathSuffix,
    /// A framing or body header given more than once.
    DuplicateHeader(&'static str),
    /// Both `Transfer-Encoding` and `Content-Length` (RFC 9112 §6.1: a smuggling vector).
    FramingConflict,
    /// `Connection` names a header (a proxy would drop it after the decision).
    ConnectionOption,
    /// `Upgrade` on an intercepted endpoint.
    Upgrade,
    /// A media-type parameter other than `charset` (`charset*`), or one that does not parse.
    MediaTypeParameter,
    /// More than `limits.max_parameters` parameters.
    TooManyParameters,
    /// A name with a byte other than ASCII letters, digits, `_`, `-`.
    ParameterName,
    /// A name equal ignoring case to another one, or to one jargate interprets.
    CaseVariantParameter(String),
    /// A raw `;` in a query or form (a separator to some parsers).
    Semicolon,
    /// A byte-order mark before a query or body.
    ByteOrderMark,
    /// A NUL in a parameter value.
    NulInValue,
    /// Two identities of the client (client_id, Basic user id) disagree.
    IdentityMismatch,
    /// A POST to `/authorize` with a query string: stacks that read only the body of a POST
    /// would process another request than the one validated.
    AuthorizePostWithQuery,
    /// A JSON body whose raw bytes, read as a form, name this interpreted parameter.
    JsonReadsAsForm(&'static str),
    /// `mtls.from_header` from a trusted proxy holds no usable certificate (malformed, expired,
    /// or neither CA-issued nor self-signed).
    ClientCertHeader,
    /// `mtls.forward = "auth0"`: the certificate exceeds the 4096 bytes of `client-certificate`.
    ClientCertTooLarge,
    /// At PAR, `dpop_jkt` names another key than the `DPoP` proof's (RFC 9449 §10).
    DpopJktMismatch,
}

impl RequestFault {
    pub fn rule(&self) -> &'static str {
        use RequestFault::*;
        match self {
            AmbiguousPath => "ambiguous_path",
            QueryNotAllowed => "query_not_allowed",
            UnsupportedMediaType => "unsupported_media_type",
            UnsupportedCharset => "unsupported_charset",
            ContentEncoding => "content_encoding",
            MalformedBody => "malformed_body",
            RepeatedParameter(_) => "repeated_parameter",
            TwoAuthMethods => "two_auth_methods",
            AssertionType => "assertion_type",
            MissingAssertion => "missing_assertion",
            MissingParameter(_) => "missing_parameter",
            RequestWithRequestUri => "request_with_request_uri",
            RequestUriInPar => "request_uri_in_par",
            SignedRequestRequired => "signed_request_required",
            ParRequired => "par_required",
            OutsideParameter(_) => "outside_parameter",
            UnknownClient => "unknown_client",
            RequestTarget => "request_target",
            PathSuffix => "path_suffix",
            DuplicateHeader(_) => "duplicate_header",
            FramingConflict => "framing_conflict",
            ConnectionOption => "connection_option",
            Upgrade => "upgrade",
            MediaTypeParameter => "media_type_parameter",
            TooManyParameters => "too_many_parameters",
            ParameterName => "parameter_name",
            CaseVariantParameter(_) => "case_variant_parameter",
            Semicolon => "semicolon",
            ByteOrderMark => "byte_order_mark",
            NulInValue => "nul_in_value",
            IdentityMismatch => "identity_mismatch",
            AuthorizePostWithQuery => "authorize_post_with_query",
            JsonReadsAsForm(_) => "json_reads_as_form",
            ClientCertHeader => "client_cert_header",
            ClientCertTooLarge => "client_cert_too_large",
            DpopJktMismatch => "dpop_jkt_mismatch",
        }
    }

    pub fn describe(&self) -> String {
        use RequestFault::*;
        match self {
            AmbiguousPath => "request path is not in normal form".into(),
            QueryNotAllowed => "query parameters are not allowed on this endpoint".into(),
            UnsupportedMediaType => {
                "content type must be application/x-www-form-urlencoded or application/json".into()
            }
            UnsupportedCharset => "charset must be UTF-8".into(),
            ContentEncoding => "content encoding is not supported".into(),
            MalformedBody => "request body is malformed".into(),
            RepeatedParameter(p) => format!("parameter {p} is repeated"),
            TwoAuthMethods => "more than one client authentication method".into(),
            AssertionType => "client_assertion_type must be \
                urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
                .into(),
            MissingAssertion => "client_assertion_type without client_assertion".into(),
            MissingParameter(p) => format!("parameter {p} is missing"),
            RequestWithRequestUri => "request and request_uri must not both be present".into(),
            RequestUriInPar => {
                "request_uri is not allowed in a pushed authorization request".into()
            }
            SignedRequestRequired => "this client must send a signed request object".into(),
            ParRequired => "authorization requests must use a pushed request_uri".into(),
            OutsideParameter(p) => format!("parameter {p} must be inside the request object"),
            UnknownClient => "unknown client_id".into(),
            RequestTarget => "request target must be an absolute path or an http(s) URL".into(),
            PathSuffix => "request path is an endpoint path with a suffix".into(),
            DuplicateHeader(h) => format!("header {h} is repeated"),
            FramingConflict => "Transfer-Encoding and Content-Length must not both be sent".into(),
            ConnectionOption => "Connection may only be close or keep-alive".into(),
            Upgrade => "protocol upgrades are not allowed on this endpoint".into(),
            MediaTypeParameter => {
                "content type parameters other than charset are not allowed".into()
            }
            TooManyParameters => "too many parameters".into(),
            ParameterName => {
                "parameter names may only contain ASCII letters, digits, _ and -".into()
            }
            CaseVariantParameter(p) => {
                format!("parameter {p} differs only in letter case from another name")
            }
            Semicolon => "a raw ; is not allowed in a query or form".into(),
            ByteOrderMark => "a byte-order mark is not allowed".into(),
            NulInValue => "a NUL character is not allowed in a parameter value".into(),
            IdentityMismatch => "the request names more than one client".into(),
            AuthorizePostWithQuery => {
                "a POST authorization request carries its parameters in the body only, \
                 not in the query string"
                    .into()
            }
            JsonReadsAsForm(p) => {
                format!("the JSON body, read as a form, names the parameter {p}")
            }
            ClientCertHeader => {
                "the client certificate forwarded by the proxy is not usable".into()
            }
            ClientCertTooLarge => "the client certificate is too large to forward".into(),
            DpopJktMismatch => "dpop_jkt does not match the DPoP proof's key".into(),
        }
    }
}

/// Why a client failed to authenticate: `invalid_client` (401).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFault {
    Unknown,
    /// `Authorization: Basic` whose credentials do not decode as RFC 7617 says.
    MalformedBasic,
    AssertionRequired,
    Assertion(TokenFault),
    /// mTLS client authentication without `client_id` (RFC 8705 §2).
    CertClientIdMissing,
    /// The client must use a registered method (private_key_jwt or mTLS) and used none; for
    /// an mTLS client, no client certificate came with the request.
    RegisteredMethodRequired,
    /// The client certificate matches none of the client's current mTLS credentials (or a
    /// self-signed one was offered for `tls_client_auth`).
    CertMismatch,
}

/// Why a PAR `request_uri` was refused: `invalid_request_uri` (400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestUriFault {
    UnknownOrUsed,
    OtherClient,
}

/// Every refusal jargate answers itself; one variant per row of SPEC §6.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    Client(ClientFault),
    Request(RequestFault),
    BodyTooLarge,
    /// The body did not arrive within `listen.body_timeout_ms`.
    BodyTimeout,
    MethodNotAllowed,
    RequestObject(TokenFault),
    RequestUri(RequestUriFault),
    RequestUriNotSupported,
    StoreUnavailable,
    UpstreamUnreachable,
    UpstreamTimeout,
    /// A rule of the client's compliance level (SPEC §9).
    Compliance(ComplianceFault),
    /// A DPoP proof missing where required, malformed, or failing a check of SPEC §11.
    Dpop(DpopFault),
    /// `dpop.nonce = "jargate"` and the proof's `nonce` is missing or stale: answered with a
    /// fresh `DPoP-Nonce` header (RFC 9449 §8).
    UseDpopNonce,
}

impl Rejection {
    pub fn status(&self) -> u16 {
        match self {
            Rejection::Client(_) => 401,
            Rejection::Request(_)
            | Rejection::RequestObject(_)
            | Rejection::RequestUri(_)
            | Rejection::RequestUriNotSupported
            | Rejection::Dpop(_)
            | Rejection::UseDpopNonce => 400,
            Rejection::BodyTooLarge => 413,
            Rejection::BodyTimeout => 408,
            Rejection::MethodNotAllowed => 405,
            Rejection::StoreUnavailable => 503,
            Rejection::UpstreamUnreachable => 502,
            Rejection::UpstreamTimeout => 504,
            Rejection::Compliance(f) => f.status(),
        }
    }

    pub fn error(&self) -> &'static str {
        match self {
            Rejection::Client(_) => "invalid_client",
            Rejection::Request(_)
            | Rejection::BodyTooLarge
            | Rejection::BodyTimeout
            | Rejection::MethodNotAllowed => "invalid_request",
            Rejection::RequestObject(_) => "invalid_request_object",
            Rejection::RequestUri(_) => "invalid_request_uri",
            Rejection::RequestUriNotSupported => "request_uri_not_supported",
            Rejection::Dpop(_) => "invalid_dpop_proof",
            Rejection::UseDpopNonce => "use_dpop_nonce",
            Rejection::StoreUnavailable
            | Rejection::UpstreamUnreachable
            | Rejection::UpstreamTimeout => "temporarily_unavailable",
            Rejection::Compliance(f) => f.error(),
        }
    }

    pub fn rule(&self) -> &'static str {
        match self {
            Rejection::Client(ClientFault::Unknown) => "unknown_client",
            Rejection::Client(ClientFault::MalformedBasic) => "malformed_basic",
            Rejection::Client(ClientFault::AssertionRequired) => "assertion_required",
            Rejection::Client(ClientFault::CertClientIdMissing) => "cert_client_id_missing",
            Rejection::Client(ClientFault::RegisteredMethodRequired) => {
                "registered_method_required"
            }
            Rejection::Client(ClientFault::CertMismatch) => "client_cert_mismatch",
            Rejection::Client(ClientFault::Assertion(t)) | Rejection::RequestObject(t) => t.rule(),
            Rejection::Request(r) => r.rule(),
            Rejection::BodyTooLarge => "body_too_large",
            Rejection::BodyTimeout => "body_timeout",
            Rejection::MethodNotAllowed => "method_not_allowed",
            Rejection::RequestUri(RequestUriFault::UnknownOrUsed) => "request_uri_unknown",
            Rejection::RequestUri(RequestUriFault::OtherClient) => "request_uri_other_client",
            Rejection::RequestUriNotSupported => "request_uri_not_par",
            Rejection::StoreUnavailable => "store_unavailable",
            Rejection::UpstreamUnreachable => "upstream_unreachable",
            Rejection::UpstreamTimeout => "upstream_timeout",
            Rejection::Compliance(f) => f.rule(),
            Rejection::Dpop(d) => d.rule(),
            Rejection::UseDpopNonce => "dpop_nonce",
        }
    }

    pub fn description(&self) -> String {
        match self {
            Rejection::Client(ClientFault::Unknown) => "unknown client".into(),
            Rejection::Client(ClientFault::MalformedBasic) => {
                "Basic credentials are not valid base64 of id:secret".into()
            }
            Rejection::Client(ClientFault::AssertionRequired) => {
                "this client must authenticate with private_key_jwt".into()
            }
            Rejection::Client(ClientFault::CertClientIdMissing) => {
                "client_id is required with mTLS client authentication".into()
            }
            Rejection::Client(ClientFault::RegisteredMethodRequired) => {
                "this client must authenticate with a registered method (mTLS or private_key_jwt)"
                    .into()
            }
            Rejection::Client(ClientFault::CertMismatch) => {
                "the client certificate matches no registered credential of this client".into()
            }
            Rejection::Client(ClientFault::Assertion(t)) => t.describe("client assertion"),
            Rejection::RequestObject(t) => t.describe("request object"),
            Rejection::Request(r) => r.describe(),
            Rejection::BodyTooLarge => "request body exceeds the size limit".into(),
            Rejection::BodyTimeout => "request body not received in time".into(),
            Rejection::MethodNotAllowed => "method not allowed on this endpoint".into(),
            Rejection::RequestUri(RequestUriFault::UnknownOrUsed) => {
                "request_uri is unknown, expired or already used".into()
            }
            Rejection::RequestUri(RequestUriFault::OtherClient) => {
                "request_uri was pushed by another client".into()
            }
            Rejection::RequestUriNotSupported => {
                "only request_uri values from pushed authorization requests are supported".into()
            }
            Rejection::StoreUnavailable => "replay store unavailable".into(),
            Rejection::UpstreamUnreachable => "authorization server unreachable".into(),
            Rejection::UpstreamTimeout => "authorization server timed out".into(),
            Rejection::Compliance(f) => f.describe().into(),
            Rejection::Dpop(d) => d.describe(),
            Rejection::UseDpopNonce => "a DPoP nonce from this server is required".into(),
        }
    }

    /// The JSON body of SPEC §6.
    pub fn body(&self) -> Vec<u8> {
        let body = serde_json::json!({
            "error": self.error(),
            "error_description": self.description(),
        });
        body.to_string().into_bytes()
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.error(),
            self.rule(),
            self.description()
        )
    }
}

impl From<ComplianceFault> for Rejection {
    fn from(f: ComplianceFault) -> Self {
        Rejection::Compliance(f)
    }
}

/// Why a DPoP proof was refused (SPEC §11 steps 1–7): `invalid_dpop_proof` (400). Like
/// [`TokenFault`], a fault may carry what the rule was decided on, for `jargate explain`; the
/// description sent to the client names the rule only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DpopFault {
    /// Required (`dpop_bound_access_tokens`, a dpop level) and not sent.
    Missing,
    /// Step 1: more than one `DPoP` header.
    HeaderCount,
    /// Step 1: the header value is not one compact JWS within the size limit.
    Malformed(TokenFault),
    /// Step 2: `typ` is not `dpop+jwt`.
    Typ,
    /// Step 2: `alg` is not in `dpop.algs` (or the level's row).
    AlgNotAllowed,
    /// Step 2: `crit` present.
    Crit,
    /// Step 2: no `jwk` header, or one that is no public key of a supported type.
    Jwk(&'static str),
    /// Step 2: `jwk` carries a private or symmetric member (`d`, `p`, `k`, ...).
    PrivateJwk,
    /// Step 2: the key type does not fit the `alg`.
    JwkAlgMismatch,
    /// Step 2: an RSA key below 2048 bits (`bits`).
    JwkTooSmall { bits: usize },
    /// Step 3.
    BadSignature,
    /// Step 4: the claims are not a JSON object without duplicates.
    ClaimsNotObject,
    /// Step 4: a required claim is missing (or of the wrong type: `MissingClaim` too).
    MissingClaim(&'static str),
    ClaimTooLong {
        claim: &'static str,
        chars: usize,
        max: usize,
    },
    /// Step 4: `htm` is not the request's method.
    Htm,
    /// Step 4: `htu` is not this endpoint's URI (`actual`, as sent).
    Htu { actual: String },
    /// Step 5: `iat` older than `proof_max_age_secs` + skew.
    Stale { iat: i64, now: i64 },
    /// Step 5: `iat` in the future beyond the skew.
    IssuedInFuture { iat: i64, now: i64 },
    /// Step 7: the (thumbprint, `jti`) pair was seen before.
    Replayed,
}

impl DpopFault {
    /// One fault of each kind (payloads are placeholders), for the metric labels exported at 0.
    pub fn each() -> Vec<DpopFault> {
        use DpopFault::*;
        let all = vec![
            Missing,
            HeaderCount,
            Malformed(TokenFault::Encrypted),
            Typ,
            AlgNotAllowed,
            Crit,
            Jwk(""),
            PrivateJwk,
            JwkAlgMismatch,
            JwkTooSmall { bits: 0 },
            BadSignature,
            ClaimsNotObject,
            MissingClaim(""),
            ClaimTooLong {
                claim: "",
                chars: 0,
                max: 0,
            },
            Htm,
            Htu {
                actual: String::new(),
            },
            Stale { iat: 0, now: 0 },
            IssuedInFuture { iat: 0, now: 0 },
            Replayed,
        ];
        // Compiles only while the list above names every variant.
        for f in &all {
            match f {
                Missing
                | HeaderCount
                | Malformed(_)
                | Typ
                | AlgNotAllowed
                | Crit
                | Jwk(_)
                | PrivateJwk
                | JwkAlgMismatch
                | JwkTooSmall { .. }
                | BadSignature
                | ClaimsNotObject
                | MissingClaim(_)
                | ClaimTooLong { .. }
                | Htm
                | Htu { .. }
                | Stale { .. }
                | IssuedInFuture { .. }
                | Replayed => {}
            }
        }
        all
    }

    pub fn rule(&self) -> &'static str {
        use DpopFault::*;
        match self {
            Missing => "dpop_missing",
            HeaderCount => "dpop_header_count",
            Malformed(_) => "dpop_malformed",
            Typ => "dpop_typ",
            AlgNotAllowed => "dpop_alg_not_allowed",
            Crit => "dpop_crit",
            Jwk(_) => "dpop_jwk",
            PrivateJwk => "dpop_jwk_private",
            JwkAlgMismatch => "dpop_jwk_alg_mismatch",
            JwkTooSmall { .. } => "dpop_jwk_too_small",
            BadSignature => "dpop_bad_signature",
            ClaimsNotObject => "dpop_claims_not_object",
            MissingClaim(_) => "dpop_missing_claim",
            ClaimTooLong { .. } => "dpop_claim_too_long",
            Htm => "dpop_htm",
            Htu { .. } => "dpop_htu",
            Stale { .. } => "dpop_iat_too_old",
            IssuedInFuture { .. } => "dpop_iat_in_future",
            Replayed => "dpop_jti_replayed",
        }
    }

    pub fn describe(&self) -> String {
        use DpopFault::*;
        match self {
            Missing => "a DPoP proof is required for this client".into(),
            HeaderCount => "exactly one DPoP header is allowed".into(),
            Malformed(t) => t.describe("DPoP proof"),
            Typ => "DPoP proof typ must be dpop+jwt".into(),
            AlgNotAllowed => "DPoP proof alg is not allowed".into(),
            Crit => "DPoP proof header carries crit, which is not supported".into(),
            Jwk(why) => format!("DPoP proof jwk {why}"),
            PrivateJwk => "DPoP proof jwk must be a public key".into(),
            JwkAlgMismatch => "DPoP proof jwk does not fit its alg".into(),
            JwkTooSmall { .. } => "DPoP proof RSA key is shorter than 2048 bits".into(),
            BadSignature => "DPoP proof signature does not verify".into(),
            ClaimsNotObject => "DPoP proof claims are not a JSON object".into(),
            MissingClaim(c) => format!("DPoP proof has no {c} (or it has the wrong type)"),
            ClaimTooLong { claim, .. } => format!("DPoP proof claim {claim} is too long"),
            Htm => "DPoP proof htm does not match the request method".into(),
            Htu { .. } => "DPoP proof htu does not match this endpoint".into(),
            Stale { .. } => "DPoP proof iat is too old".into(),
            IssuedInFuture { .. } => "DPoP proof iat is in the future".into(),
            Replayed => "DPoP proof jti already used".into(),
        }
    }

    /// What the proof had, for `jargate explain` (`None`: nothing beyond the rule).
    pub fn detail(&self) -> Option<String> {
        use DpopFault::*;
        Some(match self {
            Malformed(t) => return t.detail(),
            JwkTooSmall { bits } => format!("{bits} bits"),
            ClaimTooLong { chars, .. } => format!("{chars} characters"),
            Htu { actual } => format!("{actual:?}"),
            Stale { iat, now } => {
                format!("iat {} ({} old)", rfc3339(*iat), span((now - iat) as f64))
            }
            IssuedInFuture { iat, now } => format!(
                "iat {} ({} in the future; check the client's clock)",
                rfc3339(*iat),
                span((iat - now) as f64)
            ),
            _ => return None,
        })
    }
}

impl From<DpopFault> for Rejection {
    fn from(f: DpopFault) -> Self {
        Rejection::Dpop(f)
    }
}

impl From<RequestFault> for Rejection {
    fn from(f: RequestFault) -> Self {
        Rejection::Request(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_row_of_the_error_table_has_its_status_and_code() {
        let rows = [
            (
                Rejection::Client(ClientFault::Unknown),
                401,
                "invalid_client",
            ),
            (
                Rejection::Request(RequestFault::TwoAuthMethods),
                400,
                "invalid_request",
            ),
            (Rejection::BodyTooLarge, 413, "invalid_request"),
            (Rejection::BodyTimeout, 408, "invalid_request"),
            (Rejection::MethodNotAllowed, 405, "invalid_request"),
            (
                Rejection::RequestObject(TokenFault::Expired {
                    exp: Seconds(1.0),
                    now: 2,
                    skew: 0,
                }),
                400,
                "invalid_request_object",
            ),
            (
                Rejection::RequestUri(RequestUriFault::UnknownOrUsed),
                400,
                "invalid_request_uri",
            ),
            (
                Rejection::RequestUriNotSupported,
                400,
                "request_uri_not_supported",
            ),
            (Rejection::StoreUnavailable, 503, "temporarily_unavailable"),
            (
                Rejection::UpstreamUnreachable,
                502,
                "temporarily_unavailable",
            ),
            (Rejection::UpstreamTimeout, 504, "temporarily_unavailable"),
        ];
        for (r, status, code) in rows {
            assert_eq!(r.status(), status, "{r}");
            assert_eq!(r.error(), code, "{r}");
        }
    }

    #[test]
    fn every_parser_differential_rule_is_its_own_invalid_request() {
        use RequestFault::*;
        let faults = [
            RequestTarget,
            PathSuffix,
            DuplicateHeader("content-type"),
            FramingConflict,
            ConnectionOption,
            Upgrade,
            MediaTypeParameter,
            TooManyParameters,
            ParameterName,
            CaseVariantParameter("Client_Id".into()),
            Semicolon,
            ByteOrderMark,
            NulInValue,
            IdentityMismatch,
            AuthorizePostWithQuery,
            JsonReadsAsForm("client_assertion"),
        ];
        let mut rules: Vec<&str> = faults.iter().map(RequestFault::rule).collect();
        for fault in faults {
            let r = Rejection::Request(fault);
            assert_eq!((r.status(), r.error()), (400, "invalid_request"), "{r}");
        }
        rules.sort_unstable();
        rules.dedup();
        assert_eq!(rules.len(), 16, "each rule has its own name");
        let basic = Rejection::Client(ClientFault::MalformedBasic);
        assert_eq!((basic.status(), basic.error()), (401, "invalid_client"));
        assert_eq!(basic.rule(), "malformed_basic");
    }

    #[test]
    fn replay_is_described_as_the_spec_says() {
        let r = Rejection::Client(ClientFault::Assertion(TokenFault::Replayed));
        let body: serde_json::Value = serde_json::from_slice(&r.body()).unwrap();
        assert_eq!(body["error_description"], "jti already used");
    }
}
