//! JWT (HS256) bearer authentication: the user is the token's `sub`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The user id used when auth is disabled (development only).
pub const ANONYMOUS_USER: &str = "anonymous";

/// The claims this server reads and issues.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    /// Subject: the user id.
    pub sub: String,
    /// Expiry (seconds since the epoch).
    pub exp: u64,
    /// Issued at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Not before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
}

/// Why a request was rejected; each is a 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer` header.
    #[error("missing bearer token: send Authorization: Bearer <JWT>")]
    Missing,
    /// Not a JWT at all, or its claims are unreadable.
    #[error("malformed bearer token: send a JWT signed with HS256")]
    Malformed,
    /// `exp` is in the past.
    #[error("token expired: obtain a new token")]
    Expired,
    /// `nbf` is in the future.
    #[error("token not yet valid (nbf is in the future): check the issuer's clock")]
    NotYetValid,
    /// The HS256 signature does not match the secret.
    #[error("invalid token signature: the token was not signed with this server's secret")]
    BadSignature,
    /// `alg` is `none` or anything but HS256.
    #[error("unsupported token algorithm: only HS256 is accepted")]
    UnsupportedAlgorithm,
    /// A required claim (`sub`, `exp`) is missing or empty; names the claim.
    #[error("token lacks the required claim `{0}`: issue a token with both sub and exp")]
    MissingClaim(&'static str),
    /// The header lists critical extensions (`crit`, RFC 7515 §4.1.11), none of which this
    /// server understands.
    #[error(
        "token header has a `crit` parameter; this server supports no critical JWS extensions"
    )]
    UnsupportedCritical,
    /// More than one `Authorization` header: which one is meant cannot be known.
    #[error("more than one Authorization header: send exactly one Authorization: Bearer <JWT>")]
    AmbiguousAuthorization,
}

impl AuthError {
    /// Stable short reason for logs and the error `code`.
    pub fn reason(self) -> &'static str {
        match self {
            AuthError::Missing => "missing_token",
            AuthError::Malformed => "malformed_token",
            AuthError::Expired => "token_expired",
            AuthError::NotYetValid => "token_not_yet_valid",
            AuthError::BadSignature => "invalid_signature",
            AuthError::UnsupportedAlgorithm => "unsupported_algorithm",
            AuthError::MissingClaim(_) => "missing_claim",
            AuthError::UnsupportedCritical => "unsupported_critical_header",
            AuthError::AmbiguousAuthorization => "ambiguous_authorization",
        }
    }
}

/// Verifies bearer tokens.
#[derive(Clone)]
pub struct Authenticator {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Authenticator(<secret>)")
    }
}

impl Authenticator {
    /// A verifier for `secret` with `leeway_s` seconds of clock skew.
    pub fn new(secret: &str, leeway_s: u64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = leeway_s;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            key: DecodingKey::from_secret(secret.as_bytes()),
            validation,
        }
    }

    /// Checks an `Authorization` header value and returns the user id.
    pub fn verify_header(&self, header: Option<&str>) -> Result<String, AuthError> {
        let header = header.ok_or(AuthError::Missing)?;
        let mut parts = header.trim().splitn(2, ' ');
        let scheme = parts.next().unwrap_or("");
        let token = parts.next().map(str::trim).unwrap_or("");
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::Missing);
        }
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        self.verify(token)
    }

    /// Checks a compact JWT and returns its `sub`.
    pub fn verify(&self, token: &str) -> Result<String, AuthError> {
        check_header_alg(token)?;
        // Optional fields, so a missing claim is reported by name by the claim validation
        // rather than as a deserialisation failure ("malformed").
        let data = jsonwebtoken::decode::<PresentClaims>(token, &self.key, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::ImmatureSignature => AuthError::NotYetValid,
                ErrorKind::InvalidSignature => AuthError::BadSignature,
                ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                    AuthError::UnsupportedAlgorithm
                }
                ErrorKind::MissingRequiredClaim(claim) => {
                    AuthError::MissingClaim(claim_name(claim))
                }
                _ => AuthError::Malformed,
            })?;
        let sub = data.claims.sub.unwrap_or_default();
        if sub.trim().is_empty() {
            return Err(AuthError::MissingClaim("sub"));
        }
        if data.claims.exp.is_none() {
            return Err(AuthError::MissingClaim("exp"));
        }
        Ok(sub)
    }
}

/// The claims as read for verification: every one optional, so absence is named, not "malformed".
#[derive(Debug, Deserialize)]
struct PresentClaims {
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    exp: Option<u64>,
}

/// The static name of a required claim (only `sub` and `exp` are required).
fn claim_name(claim: &str) -> &'static str {
    match claim {
        "sub" => "sub",
        _ => "exp",
    }
}

/// Rejects `alg: none` (and any non-HS256 alg) before signature checks, so the reason is
/// exact; and any `crit` header (RFC 7515 §4.1.11: a recipient that does not understand a
/// listed extension must reject the token, and this server understands none).
fn check_header_alg(token: &str) -> Result<(), AuthError> {
    let segments: Vec<&str> = token.split('.').collect();
    if segments.len() != 3 {
        return Err(AuthError::Malformed);
    }
    let header = URL_SAFE_NO_PAD
        .decode(segments[0].trim_end_matches('='))
        .map_err(|_| AuthError::Malformed)?;
    let header: serde_json::Value =
        serde_json::from_slice(&header).map_err(|_| AuthError::Malformed)?;
    match header.get("alg").and_then(serde_json::Value::as_str) {
        Some("HS256") => {}
        Some(_) => return Err(AuthError::UnsupportedAlgorithm),
        None => return Err(AuthError::Malformed),
    }
    if header.get("crit").is_some() {
        return Err(AuthError::UnsupportedCritical);
    }
    Ok(())
}

/// Errors while issuing a token.
#[derive(Debug, thiserror::Error)]
#[error("could not sign token: {0}")]
pub struct IssueError(#[from] jsonwebtoken::errors::Error);

/// Issues an HS256 token for `sub` valid for `ttl_s` seconds (development and tests).
pub fn issue_token(
    secret: &str,
    sub: &str,
    ttl_s: i64,
    not_before_in_s: Option<i64>,
) -> Result<String, IssueError> {
    let now = i64::try_from(crate::api::unix_now()).unwrap_or(i64::MAX);
    let claims = Claims {
        sub: sub.to_string(),
        exp: u64::try_from(now.saturating_add(ttl_s)).unwrap_or(0),
        iat: u64::try_from(now).ok(),
        nbf: not_before_in_s.and_then(|d| u64::try_from(now.saturating_add(d)).ok()),
    };
    Ok(jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "unit-test-secret";

    fn auth() -> Authenticator {
        Authenticator::new(SECRET, 0)
    }

    #[test]
    fn accepts_a_valid_token_and_returns_sub() {
        let t = issue_token(SECRET, "alice", 60, None).unwrap();
        assert_eq!(
            auth().verify_header(Some(&format!("Bearer {t}"))).unwrap(),
            "alice"
        );
        assert_eq!(
            auth().verify_header(Some(&format!("bearer  {t}"))).unwrap(),
            "alice"
        );
    }

    #[test]
    fn rejects_missing_and_non_bearer() {
        assert_eq!(auth().verify_header(None), Err(AuthError::Missing));
        assert_eq!(
            auth().verify_header(Some("Basic abc")),
            Err(AuthError::Missing)
        );
        assert_eq!(
            auth().verify_header(Some("Bearer ")),
            Err(AuthError::Missing)
        );
    }

    #[test]
    fn rejects_malformed() {
        for t in ["abc", "a.b", "a.b.c", "!!!.e30.x", "e30.e30.x"] {
            assert_eq!(auth().verify(t), Err(AuthError::Malformed), "{t}");
        }
    }

    #[test]
    fn rejects_expired_and_not_yet_valid() {
        let t = issue_token(SECRET, "alice", -120, None).unwrap();
        assert_eq!(auth().verify(&t), Err(AuthError::Expired));
        let t = issue_token(SECRET, "alice", 600, Some(300)).unwrap();
        assert_eq!(auth().verify(&t), Err(AuthError::NotYetValid));
    }

    #[test]
    fn rejects_wrong_signature() {
        let t = issue_token("another-secret", "alice", 60, None).unwrap();
        assert_eq!(auth().verify(&t), Err(AuthError::BadSignature));
    }

    #[test]
    fn rejects_alg_none_and_other_algs() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"alice","exp":99999999999}"#);
        for alg in ["none", "None", "HS512", "RS256"] {
            let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
            let t = format!("{header}.{payload}.");
            assert_eq!(
                auth().verify(&t),
                Err(AuthError::UnsupportedAlgorithm),
                "{alg}"
            );
        }
    }

    #[test]
    fn rejects_empty_sub() {
        let t = issue_token(SECRET, "", 60, None).unwrap();
        assert_eq!(auth().verify(&t), Err(AuthError::MissingClaim("sub")));
    }

    /// A correctly signed HS256 token with this header and these claims.
    fn signed(header: serde_json::Value, claims: serde_json::Value) -> String {
        let h = URL_SAFE_NO_PAD.encode(header.to_string());
        let c = URL_SAFE_NO_PAD.encode(claims.to_string());
        let input = format!("{h}.{c}");
        let sig = jsonwebtoken::crypto::sign(
            input.as_bytes(),
            &EncodingKey::from_secret(SECRET.as_bytes()),
            Algorithm::HS256,
        )
        .unwrap();
        format!("{input}.{sig}")
    }

    #[test]
    fn a_missing_claim_is_named() {
        let exp = crate::api::unix_now() + 600;
        let hs = serde_json::json!({"alg": "HS256", "typ": "JWT"});
        let t = signed(hs.clone(), serde_json::json!({"exp": exp}));
        let err = auth().verify(&t).unwrap_err();
        assert_eq!(err, AuthError::MissingClaim("sub"));
        assert!(err.to_string().contains("`sub`"), "{err}");
        let t = signed(hs.clone(), serde_json::json!({"sub": "alice"}));
        let err = auth().verify(&t).unwrap_err();
        assert_eq!(err, AuthError::MissingClaim("exp"));
        assert!(err.to_string().contains("`exp`"), "{err}");
        // The same claims, well formed, are accepted: the helper signs correctly.
        let t = signed(hs, serde_json::json!({"sub": "alice", "exp": exp}));
        assert_eq!(auth().verify(&t).unwrap(), "alice");
    }

    #[test]
    fn a_crit_header_is_rejected() {
        let exp = crate::api::unix_now() + 600;
        let claims = serde_json::json!({"sub": "alice", "exp": exp});
        for crit in [
            serde_json::json!(["exp"]),
            serde_json::json!(["b64"]),
            serde_json::json!([]),
        ] {
            let t = signed(
                serde_json::json!({"alg": "HS256", "typ": "JWT", "crit": crit, "b64": true}),
                claims.clone(),
            );
            assert_eq!(
                auth().verify(&t),
                Err(AuthError::UnsupportedCritical),
                "{crit}"
            );
        }
    }
}
