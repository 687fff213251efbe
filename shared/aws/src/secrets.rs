//! Envelope encryption of the secrets the table keeps: channels' access tokens and bots'
//! signing secrets.
//!
//! With a cipher (the stack's KMS key, `RITMO_SECRETS_KEY_ID`), the store seals each secret
//! before it writes the item and opens it when it reads one: a fresh AES-256-GCM data key from
//! KMS `GenerateDataKey` per write, the data key kept only encrypted beside the ciphertext, and
//! an encryption context (and AES-GCM associated data) naming what the secret is and whose, so
//! that a sealed value copied into another item does not open. A role that may read the table
//! but not decrypt with the key (the public redirect's, the links API's) sees only ciphertext,
//! as do exports and point-in-time restores. Values written before sealing (plain text) are
//! read as they are and sealed at their next write.

use std::collections::HashMap;

use async_trait::async_trait;
use ritmo_core::PortError;

/// The prefix of a sealed value: `kms1.<encrypted data key>.<nonce>.<ciphertext>` (base64url).
pub const SEALED_PREFIX: &str = "kms1.";

/// What a sealed secret is, and whose: bound to the ciphertext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealContext {
    /// `channel-access-token` or `bot-secret`.
    pub kind: &'static str,
    pub tenant: String,
    pub id: String,
}

impl SealContext {
    pub fn pairs(&self) -> HashMap<String, String> {
        HashMap::from([
            ("ritmo:kind".to_string(), self.kind.to_string()),
            ("ritmo:tenant".to_string(), self.tenant.clone()),
            ("ritmo:id".to_string(), self.id.clone()),
        ])
    }

    /// The AES-GCM associated data.
    pub fn aad(&self) -> String {
        format!("{}\0{}\0{}", self.kind, self.tenant, self.id)
    }
}

/// Whether a stored value is sealed (else it is a plain value written before sealing).
pub fn is_sealed(value: &str) -> bool {
    value.starts_with(SEALED_PREFIX)
}

/// Seals and opens secrets for the store.
#[async_trait]
pub trait SecretCipher: Send + Sync + 'static {
    async fn seal(&self, plaintext: &str, context: &SealContext) -> Result<String, PortError>;
    async fn open(&self, sealed: &str, context: &SealContext) -> Result<String, PortError>;
}

/// How long an opened data key is kept, so that reading the same channel again (the sender
/// does, every few seconds) costs no KMS call.
#[cfg(feature = "kms")]
const DATA_KEY_TTL: std::time::Duration = std::time::Duration::from_secs(15 * 60);
/// Opened data keys kept at most (the cache is emptied when it is full).
#[cfg(feature = "kms")]
const DATA_KEYS_KEPT: usize = 512;

/// Opened data keys by their encrypted form, with when they were opened.
#[cfg(feature = "kms")]
type OpenedKeys = std::sync::Mutex<HashMap<Vec<u8>, ([u8; 32], std::time::Instant)>>;

/// [`SecretCipher`] on a KMS key.
#[cfg(feature = "kms")]
pub struct KmsCipher {
    client: aws_sdk_kms::Client,
    key_id: String,
    opened: OpenedKeys,
}

#[cfg(feature = "kms")]
impl KmsCipher {
    pub fn new(client: aws_sdk_kms::Client, key_id: impl Into<String>) -> Self {
        Self {
            client,
            key_id: key_id.into(),
            opened: std::sync::Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, edk: &[u8]) -> Option<[u8; 32]> {
        let opened = self
            .opened
            .lock()
            .expect("the data key cache is never poisoned");
        opened
            .get(edk)
            .filter(|(_, at)| at.elapsed() < DATA_KEY_TTL)
            .map(|(key, _)| *key)
    }

    fn keep(&self, edk: &[u8], key: [u8; 32]) {
        let mut opened = self
            .opened
            .lock()
            .expect("the data key cache is never poisoned");
        if opened.len() >= DATA_KEYS_KEPT {
            opened.clear();
        }
        opened.insert(edk.to_vec(), (key, std::time::Instant::now()));
    }
}

#[cfg(feature = "kms")]
fn data_key(bytes: &[u8]) -> Result<[u8; 32], PortError> {
    bytes
        .try_into()
        .map_err(|_| PortError::new("KMS returned a data key that is not 256 bits"))
}

#[cfg(feature = "kms")]
#[async_trait]
impl SecretCipher for KmsCipher {
    async fn seal(&self, plaintext: &str, context: &SealContext) -> Result<String, PortError> {
        use aes_gcm::aead::{Aead, KeyInit, Payload};
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        let out = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(aws_sdk_kms::types::DataKeySpec::Aes256)
            .set_encryption_context(Some(context.pairs()))
            .send()
            .await
            .map_err(|e| PortError::with_source("KMS GenerateDataKey failed", e))?;
        let key = data_key(
            out.plaintext()
                .ok_or_else(|| PortError::new("KMS returned no data key"))?
                .as_ref(),
        )?;
        let edk = out
            .ciphertext_blob()
            .ok_or_else(|| PortError::new("KMS returned no encrypted data key"))?
            .as_ref()
            .to_vec();
        let nonce: [u8; 12] = rand::random();
        let cipher = aes_gcm::Aes256Gcm::new_from_slice(&key)
            .map_err(|_| PortError::new("invalid data key length"))?;
        let sealed = cipher
            .encrypt(
                &aes_gcm::Nonce::from(nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: context.aad().as_bytes(),
                },
            )
            .map_err(|_| PortError::new("sealing the secret failed"))?;
        self.keep(&edk, key);
        Ok(format!(
            "{SEALED_PREFIX}{}.{}.{}",
            URL_SAFE_NO_PAD.encode(&edk),
            URL_SAFE_NO_PAD.encode(nonce),
            URL_SAFE_NO_PAD.encode(sealed)
        ))
    }

    async fn open(&self, sealed: &str, context: &SealContext) -> Result<String, PortError> {
        use aes_gcm::aead::{Aead, KeyInit, Payload};
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        let malformed = || PortError::new(format!("a sealed {} is malformed", context.kind));
        let rest = sealed.strip_prefix(SEALED_PREFIX).ok_or_else(malformed)?;
        let mut parts = rest.split('.');
        let mut next = || {
            parts
                .next()
                .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
                .ok_or_else(malformed)
        };
        let (edk, nonce, ciphertext) = (next()?, next()?, next()?);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| malformed())?;
        let key = match self.cached(&edk) {
            Some(key) => key,
            None => {
                let out = self
                    .client
                    .decrypt()
                    .key_id(&self.key_id)
                    .ciphertext_blob(aws_sdk_kms::primitives::Blob::new(edk.clone()))
                    .set_encryption_context(Some(context.pairs()))
                    .send()
                    .await
                    .map_err(|e| PortError::with_source("KMS Decrypt of a data key failed", e))?;
                let key = data_key(
                    out.plaintext()
                        .ok_or_else(|| PortError::new("KMS returned no data key"))?
                        .as_ref(),
                )?;
                self.keep(&edk, key);
                key
            }
        };
        let cipher = aes_gcm::Aes256Gcm::new_from_slice(&key)
            .map_err(|_| PortError::new("invalid data key length"))?;
        let plain = cipher
            .decrypt(
                &aes_gcm::Nonce::from(nonce),
                Payload {
                    msg: &ciphertext,
                    aad: context.aad().as_bytes(),
                },
            )
            .map_err(|_| {
                PortError::new(format!(
                    "a sealed {} does not open for this item",
                    context.kind
                ))
            })?;
        String::from_utf8(plain).map_err(|_| malformed())
    }
}
