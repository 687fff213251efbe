//! Pagination cursors: the sort key(s) of the last item of a page, signed with HMAC-SHA256 over
//! the query's scope (partition key and index). A cursor is only ever accepted for the exact
//! partition it was issued for, and the partition key itself is never read from the cursor: it
//! always comes from the caller's tenant.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of the MAC kept in a cursor.
const MAC_LEN: usize = 16;
pub const MIN_KEY_LEN: usize = 32;

/// The key that signs cursors.
#[derive(Clone)]
pub struct CursorKey(Vec<u8>);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be at least {MIN_KEY_LEN} bytes long")]
pub struct ShortKey;

impl CursorKey {
    pub fn new(key: &[u8]) -> Result<Self, ShortKey> {
        if key.len() < MIN_KEY_LEN {
            return Err(ShortKey);
        }
        Ok(Self(key.to_vec()))
    }

    /// A random key: cursors stay valid only as long as this process runs (local use).
    pub fn random() -> Self {
        use rand::RngCore;
        let mut key = vec![0u8; 32];
        rand::rng().fill_bytes(&mut key);
        Self(key)
    }

    fn mac(&self, scope: &str, payload: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(scope.as_bytes());
        mac.update(&[0]);
        mac.update(payload);
        mac
    }

    /// Signs a position within `scope`.
    pub fn encode(&self, scope: &str, position: &Position) -> String {
        let payload = serde_json::to_vec(position).expect("a position serializes");
        let tag = self.mac(scope, &payload).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(&tag[..MAC_LEN])
        )
    }

    /// The position of a cursor issued for `scope`; `None` for anything else (altered, issued
    /// for another partition or index, or not a cursor at all).
    pub fn decode(&self, scope: &str, cursor: &str) -> Option<Position> {
        let (payload, tag) = cursor.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        if tag.len() != MAC_LEN {
            return None;
        }
        self.mac(scope, &payload).verify_truncated_left(&tag).ok()?;
        serde_json::from_slice(&payload).ok()
    }
}

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(***)")
    }
}

/// Where the next page starts: after the item with these sort keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// The table's sort key.
    #[serde(rename = "s")]
    pub sk: String,
    /// The index's sort key, for a query on an index.
    #[serde(rename = "i", default, skip_serializing_if = "Option::is_none")]
    pub index_sk: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> CursorKey {
        CursorKey::new(&[7u8; 32]).unwrap()
    }

    fn position() -> Position {
        Position {
            sk: "SEQ#01JD0000000000000000000000".into(),
            index_sk: None,
        }
    }

    #[test]
    fn a_cursor_round_trips_within_its_scope() {
        let cursor = key().encode("T#acme", &position());
        assert_eq!(key().decode("T#acme", &cursor), Some(position()));
    }

    #[test]
    fn a_cursor_of_another_scope_or_key_is_refused() {
        let cursor = key().encode("T#acme", &position());
        assert_eq!(key().decode("T#other", &cursor), None);
        let other = CursorKey::new(&[8u8; 32]).unwrap();
        assert_eq!(other.decode("T#acme", &cursor), None);
    }

    #[test]
    fn an_altered_cursor_is_refused() {
        let cursor = key().encode("T#acme", &position());
        let (payload, tag) = cursor.split_once('.').unwrap();
        let mut raw = URL_SAFE_NO_PAD.decode(payload).unwrap();
        raw[10] ^= 1;
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(raw));
        assert_eq!(key().decode("T#acme", &forged), None);
        assert_eq!(key().decode("T#acme", "garbage"), None);
        assert_eq!(key().decode("T#acme", ""), None);
    }

    #[test]
    fn short_keys_are_refused() {
        assert!(CursorKey::new(b"too short").is_err());
    }
}
