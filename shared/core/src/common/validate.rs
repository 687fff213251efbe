//! Small validators that collect every problem of an input, each naming its field.

use crate::common::error::{DomainError, FieldError};

#[derive(Debug, Default)]
pub struct Problems(Vec<FieldError>);

impl Problems {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    pub fn extend(&mut self, prefix: &str, errors: impl IntoIterator<Item = FieldError>) {
        self.0.extend(errors.into_iter().map(|e| e.nested(prefix)));
    }

    /// A trimmed text of `min..=max` characters.
    pub fn text(&mut self, field: &str, value: &str, min: usize, max: usize) -> String {
        let value = value.trim();
        let len = value.chars().count();
        if len < min || len > max {
            if min == 1 && len == 0 {
                self.add(
                    field,
                    format!("must not be empty (at most {max} characters)"),
                );
            } else {
                self.add(field, format!("must be {min} to {max} characters long"));
            }
        } else if value.chars().any(char::is_control) {
            self.add(field, "must not contain control characters");
        }
        value.to_string()
    }

    /// 1 to `max` ASCII digits (Meta's numeric ids).
    pub fn digits(&mut self, field: &str, value: &str, max: usize) -> String {
        let value = value.trim();
        if value.is_empty() || value.len() > max || !value.bytes().all(|b| b.is_ascii_digit()) {
            self.add(field, format!("must be 1 to {max} digits"));
        }
        value.to_string()
    }

    /// An absolute `https://` URL with a host.
    pub fn https_url(&mut self, field: &str, value: &str) -> String {
        let value = value.trim();
        let rest = value.strip_prefix("https://");
        let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or_default());
        let ok = matches!(host, Some(h) if !h.is_empty() && !h.contains(char::is_whitespace) && !h.starts_with(':'))
            && value.len() <= 2048
            && !value.contains(char::is_whitespace);
        if !ok {
            self.add(field, "must be an https:// URL");
        }
        value.to_string()
    }

    pub fn range(&mut self, field: &str, value: u32, min: u32, max: u32) -> u32 {
        if value < min || value > max {
            self.add(field, format!("must be between {min} and {max}"));
        }
        value
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_errors(self) -> Result<(), Vec<FieldError>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0)
        }
    }

    pub fn into_result(self) -> Result<(), DomainError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(DomainError::Invalid(self.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_named() {
        let mut p = Problems::new();
        p.text("name", "  ", 1, 120);
        p.digits("phone_number_id", "12a", 32);
        p.https_url("webhook_url", "http://bot.example.com");
        p.range("messages_per_second", 0, 1, 1000);
        let Err(DomainError::Invalid(errors)) = p.into_result() else {
            panic!("expected errors")
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "name",
                "phone_number_id",
                "webhook_url",
                "messages_per_second"
            ]
        );
    }

    #[test]
    fn https_urls_need_a_host() {
        let mut p = Problems::new();
        assert_eq!(
            p.https_url("u", "https://bot.example.com/hook"),
            "https://bot.example.com/hook"
        );
        assert!(p.is_empty());
        p.https_url("u", "https://");
        p.https_url("u", "https://a b");
        assert_eq!(p.0.len(), 2);
    }
}
