//! The sticky-assignment cookie: which member a customer was sent to, for how long, signed so
//! nobody can pick an attendant by editing it.
//!
//! The value is `<member>.<expires unix seconds>.<signature>`, where the signature is the
//! base64url HMAC-SHA256 of the rotator's slug, the member and the expiry. The slug is bound by
//! the signature (and by the cookie's `Path`), so a value made for one rotator means nothing on
//! another.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::Slug;

type HmacSha256 = Hmac<Sha256>;

/// The cookie's name; its `Path` is the rotator's, so each rotator has its own.
pub const STICKY_COOKIE: &str = "ritmo_sticky";

const DOMAIN: &[u8] = b"ritmo.sticky.v1";
const SIGNATURE_LEN: usize = 32;

/// The HMAC key of sticky cookies.
#[derive(Clone)]
pub struct StickyKey {
    mac: HmacSha256,
}

impl StickyKey {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            mac: HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length"),
        }
    }

    /// A key derived from another secret (e.g. the token-signing secret), distinct from it.
    pub fn derive(secret: &[u8]) -> Self {
        let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
        mac.update(b"ritmo sticky-cookie key");
        Self::new(&mac.finalize().into_bytes())
    }

    fn mac(&self, slug: &str, member: &str, expires: i64) -> HmacSha256 {
        let mut mac = self.mac.clone();
        mac.update(DOMAIN);
        for part in [slug.as_bytes(), member.as_bytes()] {
            mac.update(&(part.len() as u32).to_be_bytes());
            mac.update(part);
        }
        mac.update(&expires.to_be_bytes());
        mac
    }

    /// The cookie value that sends the customer of `slug` to `member` until `expires`.
    pub fn sign(&self, slug: &Slug, member: &Slug, expires: DateTime<Utc>) -> String {
        let expires = expires.timestamp();
        let signature = self
            .mac(slug.as_str(), member.as_str(), expires)
            .finalize()
            .into_bytes();
        format!("{member}.{expires}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    /// The member a cookie value names, when it was signed with this key for `slug` and has not
    /// expired at `now`; `None` for anything else.
    pub fn verify<'v>(&self, slug: &Slug, value: &'v str, now: DateTime<Utc>) -> Option<&'v str> {
        let mut parts = value.splitn(3, '.');
        let member = parts.next()?;
        let expires_raw = parts.next()?;
        let signature_raw = parts.next()?;
        if !Slug::is_well_formed(member)
            || expires_raw.is_empty()
            || !expires_raw.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let expires: i64 = expires_raw.parse().ok()?;
        let mut signature = [0u8; SIGNATURE_LEN + 3];
        let len = URL_SAFE_NO_PAD
            .decode_slice(signature_raw, &mut signature)
            .ok()?;
        if len != SIGNATURE_LEN {
            return None;
        }
        // Constant-time comparison.
        self.mac(slug.as_str(), member, expires)
            .verify_slice(&signature[..len])
            .ok()?;
        (expires > now.timestamp()).then_some(member)
    }
}

impl fmt::Debug for StickyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StickyKey(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn slug(s: &str) -> Slug {
        Slug::parse(s).unwrap()
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 1, 7, 12, 0, 0).unwrap()
    }

    #[test]
    fn a_signed_cookie_names_its_member_until_it_expires() {
        let key = StickyKey::new(b"k");
        let value = key.sign(&slug("mystore"), &slug("ana"), now() + Duration::days(30));
        assert_eq!(key.verify(&slug("mystore"), &value, now()), Some("ana"));
        assert_eq!(
            key.verify(&slug("mystore"), &value, now() + Duration::days(30)),
            None
        );
    }

    #[test]
    fn tampered_or_foreign_cookies_are_ignored() {
        let key = StickyKey::new(b"k");
        let value = key.sign(&slug("mystore"), &slug("ana"), now() + Duration::days(30));
        let other_member = value.replacen("ana", "bia", 1);
        assert_eq!(key.verify(&slug("mystore"), &other_member, now()), None);
        let (head, _) = value.rsplit_once('.').unwrap();
        let later = format!(
            "ana.{}.{}",
            (now() + Duration::days(3000)).timestamp(),
            value.rsplit_once('.').unwrap().1
        );
        assert_eq!(key.verify(&slug("mystore"), &later, now()), None);
        let mut flipped = value.clone().into_bytes();
        let last = flipped.len() - 2;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert_eq!(key.verify(&slug("mystore"), &flipped, now()), None);
        assert_eq!(key.verify(&slug("other"), &value, now()), None);
        assert_eq!(
            StickyKey::new(b"other key").verify(&slug("mystore"), &value, now()),
            None
        );
        for junk in [
            "",
            "ana",
            "ana.1",
            &format!("{head}."),
            "ANA.1.x",
            "ana.-1.abc",
        ] {
            assert_eq!(key.verify(&slug("mystore"), junk, now()), None, "{junk}");
        }
    }

    #[test]
    fn derived_keys_differ_from_their_source() {
        let value = StickyKey::derive(b"jwt").sign(&slug("ab"), &slug("cd"), now());
        assert_ne!(
            StickyKey::new(b"jwt").sign(&slug("ab"), &slug("cd"), now()),
            value
        );
        assert!(!format!("{:?}", StickyKey::new(b"secret")).contains("secret"));
    }
}
