//! The `x-control-auth-token` JWT (spec §1.2).

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

/// The subject the coordinator requires.
pub const CONTROL_SUBJECT: &str = "hls-control";

/// The token is only checked at the upgrade, so it can be short-lived.
const LIFETIME_SECS: u64 = 300;

/// Claims of the control token. No `nbf`: a coordinator whose clock is behind ours would reject it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlClaims {
    pub sub: String,
    pub iat: u64,
    pub exp: u64,
}

/// A fresh HS256 token signed with the bytes of `secret` as given, or `None` when the secret is
/// empty (the header is then omitted).
pub fn control_token(secret: &str, now_unix: u64) -> Option<String> {
    if secret.is_empty() {
        return None;
    }
    let claims =
        ControlClaims { sub: CONTROL_SUBJECT.to_string(), iat: now_unix, exp: now_unix.saturating_add(LIFETIME_SECS) };
    let key = EncodingKey::from_secret(secret.as_bytes());
    match jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key) {
        Ok(token) => Some(token),
        Err(e) => {
            // HMAC signing of a small struct has no real failure mode; without a token the
            // coordinator answers 403, which the session reports with its hint.
            tracing::error!(error = %e, "could not sign the control token");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};
    use std::time::{SystemTime, UNIX_EPOCH};

    fn now() -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
    }

    fn strict_validation() -> Validation {
        let mut v = Validation::new(Algorithm::HS256);
        v.set_required_spec_claims(&["exp", "sub"]);
        v.sub = Some(CONTROL_SUBJECT.to_string());
        v
    }

    #[test]
    fn empty_secret_means_no_token() {
        assert_eq!(control_token("", now()), None);
    }

    #[test]
    fn token_verifies_with_the_secret_and_carries_sub_iat_exp() {
        let t = now();
        let token = control_token("s", t).expect("a token");
        let key = DecodingKey::from_secret(b"s");
        let data =
            jsonwebtoken::decode::<serde_json::Value>(&token, &key, &strict_validation()).expect("token verifies");
        let claims = data.claims.as_object().unwrap();
        assert_eq!(claims["sub"], CONTROL_SUBJECT);
        assert_eq!(claims["iat"], t);
        assert_eq!(claims["exp"], t + 300);
        assert!(!claims.contains_key("nbf"));
        assert_eq!(claims.len(), 3);
        assert_eq!(data.header.alg, Algorithm::HS256);
        assert_eq!(data.header.typ.as_deref(), Some("JWT"));
    }

    #[test]
    fn token_does_not_verify_with_another_secret() {
        let token = control_token("s", now()).unwrap();
        let key = DecodingKey::from_secret(b"other");
        assert!(jsonwebtoken::decode::<ControlClaims>(&token, &key, &strict_validation()).is_err());
    }

    #[test]
    fn secret_bytes_are_used_untrimmed() {
        let token = control_token(" s ", now()).unwrap();
        let trimmed = DecodingKey::from_secret(b"s");
        let exact = DecodingKey::from_secret(b" s ");
        let v = strict_validation();
        assert!(jsonwebtoken::decode::<ControlClaims>(&token, &trimmed, &v).is_err());
        assert!(jsonwebtoken::decode::<ControlClaims>(&token, &exact, &v).is_ok());
    }

    #[test]
    fn jose_header_is_exactly_alg_and_typ() {
        let token = control_token("s", now()).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        let json = serde_json::to_value(&header).unwrap();
        let fields: Vec<_> = json
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or_default()))
            .collect();
        assert_eq!(fields.len(), 2, "{json}");
        assert!(fields.contains(&("alg", "HS256")));
        assert!(fields.contains(&("typ", "JWT")));
    }
}
