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

/// Brazilian mobile numbers with and without the ninth digit are the same WhatsApp contact:
/// `55` + a two-digit area code (each digit 1-9) + `9` + 8 digits ≡ `55` + area code + the same
/// 8 digits. Accounts registered before the ninth digit (2012-2016) keep an 8-digit WhatsApp id
/// (`551187654321` for `+55 11 98765-4321`). Only mobile ranges take part: the 8 digits begin
/// with 6, 7, 8 or 9 (numbers beginning with 2-5 are landlines, which never had a ninth digit).
fn brazilian_mobile(digits: &str) -> Option<(&str, &str)> {
    let rest = digits.strip_prefix("55")?;
    if !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (area, subscriber) = rest.split_at_checked(2)?;
    if area.bytes().any(|b| b == b'0') {
        return None;
    }
    let eight = match subscriber.len() {
        9 => subscriber.strip_prefix('9')?,
        8 => subscriber,
        _ => return None,
    };
    matches!(eight.as_bytes()[0], b'6'..=b'9').then_some((area, eight))
}

impl Phone {
    /// A WhatsApp id or phone as Meta reports it (`recipient_id`, `from`, `wa_id`: digits, or
    /// E.164), without the numbering-plan check: Meta's 8-digit Brazilian ids are not valid
    /// numbers any more, and they still name a contact.
    pub fn from_wa_id(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        let digits = raw.strip_prefix('+').unwrap_or(raw);
        Self::from_e164(&format!("+{digits}"))
    }

    /// The key every writing of this contact shares: the E.164 number, with a Brazilian mobile
    /// in its nine-digit form (`+5511987654321` for `551187654321` too).
    pub fn contact_key(&self) -> String {
        match brazilian_mobile(self.digits()) {
            Some((area, eight)) => format!("+55{area}9{eight}"),
            None => self.0.clone(),
        }
    }

    /// Every writing of this contact a store may hold: the number itself first, then, for a
    /// Brazilian mobile, the other form (with or without the ninth digit).
    pub fn equivalents(&self) -> Vec<Phone> {
        let mut all = vec![self.clone()];
        if let Some((area, eight)) = brazilian_mobile(self.digits()) {
            let with_nine = format!("+55{area}9{eight}");
            let without = format!("+55{area}{eight}");
            for other in [with_nine, without] {
                if other != self.0 {
                    all.push(Self(other));
                }
            }
        }
        all
    }

    /// Whether two numbers are the same WhatsApp contact.
    pub fn same_contact(&self, other: &Phone) -> bool {
        self.contact_key() == other.contact_key()
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

    fn wa(raw: &str) -> Phone {
        Phone::from_wa_id(raw).unwrap()
    }

    #[test]
    fn a_brazilian_mobile_with_and_without_the_ninth_digit_is_one_contact() {
        let enrolled = Phone::parse("+55 11 98765-4321").unwrap();
        assert!(enrolled.same_contact(&wa("551187654321")));
        assert!(wa("551187654321").same_contact(&enrolled));
        assert_eq!(wa("551187654321").contact_key(), "+5511987654321");
        assert_eq!(enrolled.contact_key(), "+5511987654321");
        assert_eq!(
            wa("551187654321").equivalents(),
            [wa("551187654321"), wa("5511987654321")]
        );
        assert_eq!(
            enrolled.equivalents(),
            [enrolled.clone(), wa("551187654321")]
        );
        // Every area code, every mobile range.
        for (nine, eight) in [
            ("5521996543210", "552196543210"),
            ("5599976543210", "559976543210"),
            ("5561961234567", "556161234567"),
        ] {
            assert!(wa(nine).same_contact(&wa(eight)), "{nine} {eight}");
        }
    }

    #[test]
    fn landlines_other_countries_and_other_numbers_are_not_reconciled() {
        // A landline (8 digits from 2 to 5) never had a ninth digit.
        assert_eq!(wa("551132654321").equivalents(), [wa("551132654321")]);
        assert!(!wa("551132654321").same_contact(&wa("5511932654321")));
        // Area codes have no 0; other countries are left as they are.
        assert_eq!(wa("550187654321").equivalents().len(), 1);
        assert_eq!(wa("14155552671").equivalents(), [wa("14155552671")]);
        assert!(!wa("5511987654321").same_contact(&wa("5511987654322")));
        assert!(!wa("5511987654321").same_contact(&wa("5521987654321")));
        // A nine-digit subscriber number must start with the 9.
        assert_eq!(wa("5511887654321").equivalents().len(), 1);
        assert!(Phone::from_wa_id("abc").is_none());
        assert_eq!(wa("+5511987654321"), wa("5511987654321"));
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
