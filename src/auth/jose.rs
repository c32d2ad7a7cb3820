//! ID tokens: JSON Web Signatures (RFC 7515, compact form) signed with
//! RS256 or ES256 (RFC 7518, section 3), keys from a JWK Set (RFC 7517),
//! checked as OpenID Connect Core 1.0, section 3.1.3.7 says. Signatures are
//! verified by `ring`.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::Value;

use crate::web::signing::constant_time_eq;

/// Clock difference tolerated between the provider and this server.
pub(crate) const SKEW_SECONDS: i64 = 60;

/// A public key from the provider's JWK Set.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Jwk {
    kid: Option<String>,
    key: Key,
}

#[derive(Debug, Clone, PartialEq)]
enum Key {
    /// RSA: modulus and exponent, big-endian.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// P-256: the uncompressed point, `04 || x || y`.
    P256(Vec<u8>),
}

impl Jwk {
    pub(crate) fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }
}

impl Key {
    fn algorithm(&self) -> &'static str {
        match self {
            Key::Rsa { .. } => "RS256",
            Key::P256(_) => "ES256",
        }
    }
}

/// The signing keys of a JWK Set that this module can use (RSA and P-256;
/// keys marked for encryption only, or of other kinds, are left out).
pub(crate) fn parse_jwks(set: &Value) -> Vec<Jwk> {
    let keys = set.get("keys").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    keys.iter().filter_map(parse_jwk).collect()
}

fn parse_jwk(jwk: &Value) -> Option<Jwk> {
    let field = |name: &str| jwk.get(name).and_then(Value::as_str);
    let bytes = |name: &str| URL_SAFE_NO_PAD.decode(field(name)?).ok();
    if field("use").is_some_and(|u| u != "sig") {
        return None;
    }
    let key = match (field("kty")?, field("crv")) {
        ("RSA", _) => Key::Rsa { n: bytes("n")?, e: bytes("e")? },
        ("EC", Some("P-256")) => {
            let (x, y) = (bytes("x")?, bytes("y")?);
            if x.len() != 32 || y.len() != 32 {
                return None;
            }
            Key::P256([&[4u8][..], &x, &y].concat())
        }
        _ => return None,
    };
    Some(Jwk { kid: field("kid").map(str::to_owned), key })
}

/// What an ID token must say to be accepted.
#[derive(Debug)]
pub(crate) struct Expected<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) nonce: &'a str,
    /// Seconds since 1970.
    pub(crate) now: i64,
}

/// Why an ID token was refused.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Refused {
    /// The token response holds no ID token.
    Missing,
    /// Not three base64url parts of JSON.
    Malformed,
    /// An algorithm other than RS256 or ES256 (`none`, `HS256`…).
    Algorithm(String),
    /// No key in the provider's set has this token's `kid` and algorithm.
    UnknownKey(Option<String>),
    /// The signature does not verify: the token was changed, or signed by
    /// another key.
    Signature,
    Issuer(String),
    Audience(String),
    /// The user-info endpoint answered for another user than the ID token names.
    OtherSubject,
    /// Expired at this time (seconds since 1970).
    Expired(i64),
    IssuedInTheFuture(i64),
    Nonce,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::Missing => write!(f, "the token response holds no ID token"),
            Refused::Malformed => write!(f, "not a signed JWT"),
            Refused::Algorithm(alg) => write!(f, "algorithm {alg:?} is not accepted (RS256 or ES256 only)"),
            Refused::UnknownKey(kid) => write!(f, "no key {kid:?} in the provider's key set"),
            Refused::Signature => write!(f, "the signature does not verify with the provider's key"),
            Refused::Issuer(iss) => write!(f, "issued by {iss:?}, not by the provider"),
            Refused::Audience(aud) => write!(f, "issued for {aud}, not for this client"),
            Refused::OtherSubject => write!(f, "the user-info endpoint answered for another user"),
            Refused::Expired(at) => write!(f, "expired at {at} (seconds since 1970)"),
            Refused::IssuedInTheFuture(at) => write!(f, "issued in the future, at {at}"),
            Refused::Nonce => write!(f, "its nonce is not the one this login sent"),
        }
    }
}

/// The token's header and claims, before any check.
struct Parts {
    header: Value,
    claims: Value,
    signed: String,
    signature: Vec<u8>,
}

fn split(token: &str) -> Result<Parts, Refused> {
    let mut pieces = token.split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (pieces.next(), pieces.next(), pieces.next(), pieces.next())
    else {
        return Err(Refused::Malformed);
    };
    let json = |part: &str| -> Result<Value, Refused> {
        let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| Refused::Malformed)?;
        serde_json::from_slice(&bytes).map_err(|_| Refused::Malformed)
    };
    Ok(Parts {
        header: json(header)?,
        claims: json(claims)?,
        signed: format!("{header}.{claims}"),
        signature: URL_SAFE_NO_PAD.decode(signature).map_err(|_| Refused::Malformed)?,
    })
}

/// The token's `kid` and algorithm, to look the key up before verifying.
pub(crate) fn key_id(token: &str) -> Option<String> {
    split(token).ok()?.header.get("kid")?.as_str().map(str::to_owned)
}

/// Verifies `token` with `keys` and checks its claims against `expected`;
/// returns the claims.
pub(crate) fn verify(token: &str, keys: &[Jwk], expected: &Expected<'_>) -> Result<Value, Refused> {
    let parts = split(token)?;
    let alg = parts.header.get("alg").and_then(Value::as_str).unwrap_or("").to_owned();
    if alg != "RS256" && alg != "ES256" {
        return Err(Refused::Algorithm(alg));
    }
    let kid = parts.header.get("kid").and_then(Value::as_str);
    let candidates: Vec<&Jwk> =
        keys.iter().filter(|k| k.key.algorithm() == alg && (kid.is_none() || k.kid.as_deref() == kid)).collect();
    if candidates.is_empty() {
        return Err(Refused::UnknownKey(kid.map(str::to_owned)));
    }
    let message = parts.signed.as_bytes();
    let verified = candidates.iter().any(|jwk| match &jwk.key {
        Key::Rsa { n, e } => RsaPublicKeyComponents { n, e }
            .verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, &parts.signature)
            .is_ok(),
        Key::P256(point) => {
            UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point).verify(message, &parts.signature).is_ok()
        }
    });
    if !verified {
        return Err(Refused::Signature);
    }
    check_claims(parts.claims, expected)
}

fn check_claims(claims: Value, expected: &Expected<'_>) -> Result<Value, Refused> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let issuer = text("iss").unwrap_or("");
    if issuer != expected.issuer {
        return Err(Refused::Issuer(issuer.to_owned()));
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    // With several audiences, the authorized party must be this client too.
    let azp_ok = audiences.len() < 2 || text("azp") == Some(expected.client_id);
    if !audiences.contains(&expected.client_id) || !azp_ok {
        return Err(Refused::Audience(format!("{audiences:?}")));
    }
    let time = |name: &str| claims.get(name).and_then(Value::as_i64);
    match time("exp") {
        Some(exp) if exp.saturating_add(SKEW_SECONDS) > expected.now => {}
        exp => return Err(Refused::Expired(exp.unwrap_or(0))),
    }
    if let Some(iat) = time("iat").filter(|iat| *iat > expected.now + SKEW_SECONDS) {
        return Err(Refused::IssuedInTheFuture(iat));
    }
    let nonce_ok = text("nonce").is_some_and(|n| constant_time_eq(n.as_bytes(), expected.nonce.as_bytes()));
    if !nonce_ok {
        return Err(Refused::Nonce);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    use serde_json::json;

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// An ES256 key pair, its JWK, and a signer for tokens.
    fn es256() -> (EcdsaKeyPair, Value) {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
        let point = pair.public_key().as_ref();
        let jwk = json!({"kty": "EC", "crv": "P-256", "kid": "k1", "use": "sig",
            "x": b64(&point[1..33]), "y": b64(&point[33..65])});
        (pair, jwk)
    }

    fn sign(pair: &EcdsaKeyPair, header: &Value, claims: &Value) -> String {
        let signed = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
        let signature = pair.sign(&SystemRandom::new(), signed.as_bytes()).unwrap();
        format!("{signed}.{}", b64(signature.as_ref()))
    }

    const NOW: i64 = 1_796_517_000;

    fn expected() -> Expected<'static> {
        Expected { issuer: "http://issuer", client_id: "app", nonce: "n1", now: NOW }
    }

    fn claims() -> Value {
        json!({"iss": "http://issuer", "aud": "app", "sub": "ada", "exp": NOW + 300, "iat": NOW, "nonce": "n1"})
    }

    #[test]
    fn a_token_signed_by_the_providers_key_with_the_right_claims_is_accepted() {
        let (pair, jwk) = es256();
        let keys = parse_jwks(&json!({"keys": [jwk]}));
        let token = sign(&pair, &json!({"alg": "ES256", "kid": "k1"}), &claims());
        assert_eq!(verify(&token, &keys, &expected()).unwrap()["sub"], "ada");
        assert_eq!(key_id(&token).as_deref(), Some("k1"));
    }

    #[test]
    fn each_claim_that_is_wrong_refuses_the_token() {
        let (pair, jwk) = es256();
        let keys = parse_jwks(&json!({"keys": [jwk]}));
        let with = |change: &dyn Fn(&mut Value)| {
            let mut c = claims();
            change(&mut c);
            verify(&sign(&pair, &json!({"alg": "ES256", "kid": "k1"}), &c), &keys, &expected())
        };
        assert_eq!(with(&|c| c["iss"] = json!("http://other")), Err(Refused::Issuer("http://other".into())));
        assert!(matches!(with(&|c| c["aud"] = json!("other-app")), Err(Refused::Audience(_))));
        assert!(matches!(with(&|c| c["aud"] = json!(["app", "other"])), Err(Refused::Audience(_))), "no azp");
        assert!(
            with(&|c| {
                c["aud"] = json!(["app", "other"]);
                c["azp"] = json!("app");
            })
            .is_ok()
        );
        assert_eq!(with(&|c| c["exp"] = json!(NOW - 61)), Err(Refused::Expired(NOW - 61)));
        assert!(with(&|c| c["exp"] = json!(NOW - 30)).is_ok(), "within the clock skew");
        // The skew is added without overflow: the far future is not the past.
        assert!(with(&|c| c["exp"] = json!(i64::MAX)).is_ok(), "exp at i64::MAX");
        assert_eq!(with(&|c| c["iat"] = json!(NOW + 600)), Err(Refused::IssuedInTheFuture(NOW + 600)));
        assert_eq!(with(&|c| c["nonce"] = json!("n2")), Err(Refused::Nonce));
        assert_eq!(with(&|c| c.as_object_mut().unwrap().clear()), Err(Refused::Issuer(String::new())));
    }

    #[test]
    fn a_changed_token_another_key_and_other_algorithms_are_refused() {
        let (pair, jwk) = es256();
        let keys = parse_jwks(&json!({"keys": [jwk]}));
        let token = sign(&pair, &json!({"alg": "ES256", "kid": "k1"}), &claims());
        // The claims changed after signing: the signature no longer matches.
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut forged = claims();
        forged["sub"] = json!("mallory");
        parts[1] = b64(forged.to_string().as_bytes());
        assert_eq!(verify(&parts.join("."), &keys, &expected()), Err(Refused::Signature));
        // Signed by another key under the same kid.
        let (other, _) = es256();
        let by_other = sign(&other, &json!({"alg": "ES256", "kid": "k1"}), &claims());
        assert_eq!(verify(&by_other, &keys, &expected()), Err(Refused::Signature));
        let unsigned = format!("{}.{}.", b64(br#"{"alg":"none"}"#), b64(claims().to_string().as_bytes()));
        assert_eq!(verify(&unsigned, &keys, &expected()), Err(Refused::Algorithm("none".into())));
        let hs = sign(&pair, &json!({"alg": "HS256", "kid": "k1"}), &claims());
        assert_eq!(verify(&hs, &keys, &expected()), Err(Refused::Algorithm("HS256".into())));
        let rs = sign(&pair, &json!({"alg": "RS256", "kid": "k1"}), &claims());
        assert_eq!(verify(&rs, &keys, &expected()), Err(Refused::UnknownKey(Some("k1".into()))), "no RSA key k1");
        for broken in ["", "a.b", "a.b.c.d", "!!.!!.!!", "e30.e30.%%"] {
            assert_eq!(verify(broken, &keys, &expected()), Err(Refused::Malformed), "{broken:?}");
        }
    }

    #[test]
    fn jwk_sets_keep_signing_keys_they_can_use() {
        let (_, ec) = es256();
        let set = json!({"keys": [
            ec,
            {"kty": "RSA", "kid": "r1", "n": "sXch", "e": "AQAB"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": "sXch", "e": "AQAB"},
            {"kty": "OKP", "crv": "Ed25519", "x": "abc"},
            {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"},
            "not an object"
        ]});
        let kids: Vec<Option<String>> = parse_jwks(&set).into_iter().map(|k| k.kid).collect();
        assert_eq!(kids, [Some("k1".to_owned()), Some("r1".to_owned())]);
        assert!(parse_jwks(&json!({"keys": "nope"})).is_empty());
    }
}
