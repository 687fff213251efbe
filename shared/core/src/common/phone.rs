//! The one phone-number type: E.164, parsed with a real numbering-plan check.

use serde::{Deserialize, Serialize};

/// A phone number in E.164 (`+5511987654321`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Phone(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPhone {
    #[error("is not a phone number in international format (+ and country code)")]
    Unparseable,
    #[error("is not a valid phone number for its country")]
    Invalid,
}

impl Phone {
    /// Parses any common writing of an international number (`+55 (11) 98765-4321`,
    /// `5511987654321`) into E.164, with a real numbering-plan check.
    pub fn parse(raw: &str) -> Result<Self, InvalidPhone> {
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.len() > 32 {
            return Err(InvalidPhone::Unparseable);
        }
        let with_plus = if trimmed.starts_with('+') {
            trimmed.to_string()
        } else if let Some(rest) = trimmed.strip_prefix("00") {
            format!("+{rest}")
        } else {
            format!("+{trimmed}")
        };
        let number = phonenumber::parse(None, &with_plus).map_err(|_| InvalidPhone::Unparseable)?;
        if !phonenumber::is_valid(&number) {
            return Err(InvalidPhone::Invalid);
        }
        Ok(Self(
            number.format().mode(phonenumber::Mode::E164).to_string(),
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits only, as WhatsApp's `to` and `wa.me` want them.
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }

    /// Wraps a value that is already E.164 (read back from storage).
    pub fn from_stored(e164: String) -> Self {
        Self(e164)
    }

    /// A number this system normalised earlier (as a store returns it): `+` and 8 to 15 digits.
    /// The numbering plan is not consulted again, so reading a stored item stays cheap.
    pub fn from_e164(raw: &str) -> Option<Self> {
        let digits = raw.strip_prefix('+')?;
        ((8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| Self(raw.to_string()))
    }
}

impl std::fmt::Display for Phone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_normalise_to_e164_from_any_common_writing() {
        for raw in [
            "+55 (11) 98765-4321",
            "5511987654321",
            "005511987654321",
            " +55.11.98765-4321 ",
        ] {
            assert_eq!(
                Phone::parse(raw).unwrap().as_str(),
                "+5511987654321",
                "{raw}"
            );
        }
        assert_eq!(
            Phone::parse("+1 415 555 2671").unwrap().digits(),
            "14155552671"
        );
    }

    #[test]
    fn numbers_outside_the_numbering_plan_are_refused() {
        for raw in [
            "12345",
            "not a phone",
            "",
            "+55 11",
            "+999 1234",
            "11987654321",
            "hello",
        ] {
            assert!(Phone::parse(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn stored_numbers_are_read_back_without_the_numbering_plan() {
        assert_eq!(
            Phone::from_e164("+5511987654321").unwrap().digits(),
            "5511987654321"
        );
        assert!(Phone::from_e164("5511987654321").is_none());
        assert!(Phone::from_e164("+55abc").is_none());
    }
}
