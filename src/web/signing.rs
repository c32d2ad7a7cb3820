//! Signed values in Tornado's version 2 format, so that cookies signed by a
//! Tornado app with the same secret are read here and the other way round:
//!
//! ```text
//! 2|<len>:<key_version>|<len>:<timestamp>|<len>:<name>|<len>:<base64(value)>|<hex HMAC-SHA256>
//! ```
//!
//! The signature covers everything before it (the trailing `|` included),
//! keyed by the secret of `key_version`. A value is accepted when the
//! signature matches (compared in constant time), the name is the cookie's
//! own name, and the timestamp is no older than `max_age_days`.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The secret (or secrets) cookies are signed with: Tornado's `cookie_secret`.
///
/// # Examples
///
/// ```
/// use squall::web::CookieSecret;
///
/// let secret = CookieSecret::new("a long random string");
/// let signed = secret.sign("user", b"ada");
/// assert!(signed.starts_with("2|1:0|10:"));
/// assert_eq!(secret.verify("user", &signed, 31.0), Some(b"ada".to_vec()));
/// assert_eq!(secret.verify("other", &signed, 31.0), None, "bound to its name");
///
/// // Rotation: sign with version 2, still accept values signed with 1.
/// let old = CookieSecret::rotating([(1, "old secret")], 1);
/// let new = CookieSecret::rotating([(1, "old secret"), (2, "new secret")], 2);
/// assert_eq!(new.verify("user", &old.sign("user", b"ada"), 31.0), Some(b"ada".to_vec()));
/// ```
#[derive(Clone)]
pub struct CookieSecret {
    keys: Keys,
}

#[derive(Clone)]
enum Keys {
    /// One secret: values carry key version 0, and any version is checked against it
    /// (Tornado's rule for a plain `cookie_secret`).
    Single(Vec<u8>),
    /// Secrets by key version; new values are signed with `current`.
    Versions { secrets: BTreeMap<u32, Vec<u8>>, current: u32 },
}

impl CookieSecret {
    /// One secret. Make it long and random (32 bytes from a secure source,
    /// say), and keep it out of the code.
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        CookieSecret { keys: Keys::Single(secret.into()) }
    }

    /// Several secrets by key version (Tornado's dict `cookie_secret` with
    /// its `key_version` setting): values are signed with `current` and
    /// accepted when signed with any listed version.
    ///
    /// # Panics
    ///
    /// If `current` is not among `secrets`: a configuration error.
    pub fn rotating<S: Into<Vec<u8>>>(secrets: impl IntoIterator<Item = (u32, S)>, current: u32) -> Self {
        let secrets: BTreeMap<u32, Vec<u8>> = secrets.into_iter().map(|(v, s)| (v, s.into())).collect();
        assert!(secrets.contains_key(&current), "the current key version {current} has no secret");
        CookieSecret { keys: Keys::Versions { secrets, current } }
    }

    fn signing_key(&self) -> (u32, &[u8]) {
        match &self.keys {
            Keys::Single(secret) => (0, secret),
            Keys::Versions { secrets, current } => (*current, &secrets[current]),
        }
    }

    fn key_for(&self, version: u32) -> Option<&[u8]> {
        match &self.keys {
            Keys::Single(secret) => Some(secret),
            Keys::Versions { secrets, .. } => secrets.get(&version).map(Vec::as_slice),
        }
    }

    /// Signs `value` under `name`, timestamped now.
    pub fn sign(&self, name: &str, value: &[u8]) -> String {
        self.sign_at(name, value, unix_now())
    }

    /// Signs `value` under `name` with the given timestamp (seconds since 1970).
    pub fn sign_at(&self, name: &str, value: &[u8], timestamp: u64) -> String {
        let (version, secret) = self.signing_key();
        let mut signed = String::from("2|");
        for field in [version.to_string(), timestamp.to_string(), name.to_owned(), STANDARD.encode(value)] {
            signed.push_str(&format!("{}:{field}|", field.len()));
        }
        let signature = signature(secret, signed.as_bytes());
        signed.push_str(&signature);
        signed
    }

    /// The value signed under `name` in `signed`, if the signature is good
    /// and the value is at most `max_age_days` old.
    pub fn verify(&self, name: &str, signed: &str, max_age_days: f64) -> Option<Vec<u8>> {
        self.verify_at(name, signed, max_age_days, unix_now())
    }

    /// [`verify`](Self::verify) as if the time were `now` (seconds since 1970).
    pub fn verify_at(&self, name: &str, signed: &str, max_age_days: f64, now: u64) -> Option<Vec<u8>> {
        let fields = Fields::parse(signed.as_bytes())?;
        let secret = self.key_for(fields.key_version)?;
        let expected = signature(secret, &signed.as_bytes()[..signed.len() - fields.signature.len()]);
        if !constant_time_eq(fields.signature, expected.as_bytes()) || fields.name != name.as_bytes() {
            return None;
        }
        let timestamp: u64 = std::str::from_utf8(fields.timestamp).ok()?.parse().ok()?;
        if (timestamp as f64) < now as f64 - max_age_days * 86_400.0 {
            return None; // expired
        }
        STANDARD.decode(fields.value).ok()
    }
}

impl fmt::Debug for CookieSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secrets themselves.
        match &self.keys {
            Keys::Single(_) => f.write_str("CookieSecret(1 secret)"),
            Keys::Versions { secrets, current } => {
                write!(f, "CookieSecret(versions {:?}, signing with {current})", secrets.keys().collect::<Vec<_>>())
            }
        }
    }
}

/// The fields of a version 2 value.
#[derive(Debug)]
struct Fields<'a> {
    key_version: u32,
    timestamp: &'a [u8],
    name: &'a [u8],
    value: &'a [u8],
    signature: &'a [u8],
}

impl<'a> Fields<'a> {
    fn parse(signed: &'a [u8]) -> Option<Self> {
        let mut rest = signed.strip_prefix(b"2|")?;
        let mut field = || -> Option<&'a [u8]> {
            let colon = rest.iter().position(|&b| b == b':')?;
            let length = std::str::from_utf8(&rest[..colon]).ok()?;
            if length.is_empty() || !length.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let n: usize = length.parse().ok()?;
            let after = &rest[colon + 1..];
            let (value, tail) = (after.get(..n)?, after.get(n..)?);
            rest = tail.strip_prefix(b"|")?;
            Some(value)
        };
        let key_version = std::str::from_utf8(field()?).ok()?.parse().ok()?;
        let (timestamp, name, value) = (field()?, field()?, field()?);
        Some(Fields { key_version, timestamp, name, value, signature: rest })
    }
}

/// Tornado's `_create_signature_v2`: lowercase hex of HMAC-SHA256.
fn signature(secret: &[u8], message: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(message);
    hex(&mac.finalize().into_bytes())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// Equality whose time does not depend on where the inputs differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;

    #[test]
    fn the_layout_is_tornados() {
        let secret = CookieSecret::new("secret");
        let signed = secret.sign_at("user", b"ada", NOW);
        let (body, sig) = signed.rsplit_once('|').unwrap();
        assert_eq!(body, "2|1:0|10:1700000000|4:user|4:YWRh");
        assert_eq!(sig.len(), 64);
        assert!(sig.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    }

    #[test]
    fn tampered_truncated_expired_and_foreign_values_are_refused() {
        let secret = CookieSecret::new("secret");
        let signed = secret.sign_at("user", b"ada", NOW);
        assert_eq!(secret.verify_at("user", &signed, 31.0, NOW), Some(b"ada".to_vec()));
        let tampered = signed.replace("4:YWRh", "4:YWRi");
        assert_eq!(secret.verify_at("user", &tampered, 31.0, NOW), None);
        for cut in 1..signed.len() {
            assert_eq!(secret.verify_at("user", &signed[..cut], 31.0, NOW), None, "cut at {cut}");
        }
        assert_eq!(secret.verify_at("user", &signed, 31.0, NOW + 32 * 86_400), None, "expired");
        assert!(secret.verify_at("user", &signed, 31.0, NOW + 30 * 86_400).is_some());
        assert_eq!(CookieSecret::new("other").verify_at("user", &signed, 31.0, NOW), None);
        assert_eq!(secret.verify_at("user", "2|1:0|x", 31.0, NOW), None);
        assert_eq!(secret.verify_at("user", "2|99999999999999999999:0|", 31.0, NOW), None);
        assert_eq!(secret.verify_at("user", "", 31.0, NOW), None);
    }

    #[test]
    fn rotated_keys_sign_with_the_current_and_accept_the_listed() {
        let v1 = CookieSecret::rotating([(1, "one")], 1);
        let both = CookieSecret::rotating([(1, "one"), (2, "two")], 2);
        let only2 = CookieSecret::rotating([(2, "two")], 2);
        let old = v1.sign_at("user", b"ada", NOW);
        let new = both.sign_at("user", b"ada", NOW);
        assert!(new.starts_with("2|1:2|"), "{new}");
        assert!(both.verify_at("user", &old, 31.0, NOW).is_some());
        assert!(only2.verify_at("user", &new, 31.0, NOW).is_some());
        assert_eq!(only2.verify_at("user", &old, 31.0, NOW), None, "version 1 retired");
    }
}
