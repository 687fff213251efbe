//! Estimated cost of sent templates: an operator-provided rate card, price per template
//! category and recipient country calling code.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::channels::model::TemplateCategory;
use crate::common::error::FieldError;

/// `{"currency": "USD", "rates": {"MARKETING": {"55": 0.0625, "1": 0.025, "default": 0.05}, ...}}`.
/// Prices are per delivered billable message; a country missing from a category falls back to
/// that category's `default`.
#[derive(Debug, Clone, PartialEq)]
pub struct RateCard {
    pub currency: String,
    rates: BTreeMap<TemplateCategory, BTreeMap<String, u64>>,
}

#[derive(Deserialize)]
struct RateCardFile {
    currency: String,
    rates: BTreeMap<String, BTreeMap<String, f64>>,
}

/// Prices are kept in millionths of the currency unit, so sums are exact.
const MICROS: f64 = 1_000_000.0;

impl RateCard {
    pub fn from_json(raw: &str) -> Result<Self, Vec<FieldError>> {
        let file: RateCardFile = serde_json::from_str(raw).map_err(|e| {
            vec![FieldError::new(
                "rate_card",
                format!("is not a rate card: {e}"),
            )]
        })?;
        let mut errors = Vec::new();
        if file.currency.len() != 3 || !file.currency.bytes().all(|b| b.is_ascii_uppercase()) {
            errors.push(FieldError::new(
                "currency",
                "must be an ISO 4217 code such as USD or BRL",
            ));
        }
        let mut rates = BTreeMap::new();
        for (category, prices) in file.rates {
            let Some(parsed) = TemplateCategory::parse(&category) else {
                errors.push(FieldError::new(
                    format!("rates.{category}"),
                    "must be MARKETING, UTILITY or AUTHENTICATION",
                ));
                continue;
            };
            let mut table = BTreeMap::new();
            for (country, price) in prices {
                let field = format!("rates.{category}.{country}");
                if country != "default"
                    && (country.is_empty()
                        || country.len() > 3
                        || !country.bytes().all(|b| b.is_ascii_digit()))
                {
                    errors.push(FieldError::new(
                        field,
                        "must be a country calling code (e.g. 55) or \"default\"",
                    ));
                } else if !price.is_finite() || price < 0.0 {
                    errors.push(FieldError::new(field, "must be a price of zero or more"));
                } else {
                    table.insert(country, (price * MICROS).round() as u64);
                }
            }
            rates.insert(parsed, table);
        }
        if errors.is_empty() {
            Ok(Self {
                currency: file.currency,
                rates,
            })
        } else {
            Err(errors)
        }
    }

    /// Price, in millionths, of one billable message of `category` to the E.164 `phone`.
    pub fn price_micros(&self, category: TemplateCategory, phone: &str) -> Option<u64> {
        self.price_micros_in(category, calling_code(phone).as_deref())
    }

    /// Price, in millionths, of one billable message of `category` to a phone of the country
    /// calling code `code` (None or unknown: the category's default).
    pub fn price_micros_in(&self, category: TemplateCategory, code: Option<&str>) -> Option<u64> {
        let table = self.rates.get(&category)?;
        code.and_then(|c| table.get(c))
            .or_else(|| table.get("default"))
            .copied()
    }

    pub fn to_amount(micros: u64) -> f64 {
        micros as f64 / MICROS
    }
}

/// The country calling code of an E.164 phone (`55` for `+5511987654321`).
pub fn calling_code(phone: &str) -> Option<String> {
    phonenumber::parse(None, phone)
        .ok()
        .map(|n| n.code().value().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_follow_the_country_code_with_a_default() {
        let card = RateCard::from_json(
            r#"{"currency": "USD", "rates": {"MARKETING": {"55": 0.0625, "default": 0.05}, "utility": {"55": 0.008}}}"#,
        )
        .unwrap();
        assert_eq!(
            card.price_micros(TemplateCategory::Marketing, "+5511987654321"),
            Some(62_500)
        );
        assert_eq!(
            card.price_micros(TemplateCategory::Marketing, "+14155552671"),
            Some(50_000)
        );
        assert_eq!(
            card.price_micros(TemplateCategory::Utility, "+14155552671"),
            None
        );
        assert_eq!(
            card.price_micros(TemplateCategory::Authentication, "+5511987654321"),
            None
        );
    }

    #[test]
    fn a_bad_rate_card_names_every_problem() {
        let errors = RateCard::from_json(
            r#"{"currency": "dollars", "rates": {"PROMO": {}, "MARKETING": {"x": 1, "55": -1}}}"#,
        )
        .unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "currency",
                "rates.MARKETING.55",
                "rates.MARKETING.x",
                "rates.PROMO"
            ]
        );
    }
}
