//! Small validators that collect every problem of an input, each naming its field.

use crate::common::error::{DomainError, FieldError};

/// The schema pattern of [`Problems::text`] with a minimum of 1: no control character (Unicode
/// `Cc`), and at least one character that is neither a control nor white space.
pub const LINE_PATTERN: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000-\\u001f\\u007f-\\u009f]*$";
/// The schema pattern of [`Problems::text`] with a minimum of 0 and of
/// [`Problems::optional_line`]: no control character.
pub const OPTIONAL_LINE_PATTERN: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$";
/// The schema pattern of [`Problems::multiline`]: no control character but line breaks and tabs.
pub const MULTILINE_PATTERN: &str =
    "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$";
/// The schema pattern of [`Problems::https_url`] (with `maxLength` 2048): `https://`, then a host
/// that does not start with `/`, `?`, `#` or `:`, and no white space or control character.
pub const HTTPS_URL_PATTERN: &str = "^https://[^/?#:\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*$";

/// See [`Problems::https_url`].
pub fn is_https_url(value: &str) -> bool {
    let bad = |c: char| c.is_whitespace() || c.is_control();
    match value.strip_prefix("https://") {
        Some(rest) => {
            value.chars().count() <= 2048
                && !value.contains(bad)
                && rest
                    .chars()
                    .next()
                    .is_some_and(|c| !matches!(c, '/' | '?' | '#' | ':'))
        }
        None => false,
    }
}

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

    /// A one-line text of `min..=max` characters (counted as given), with no control character
    /// and, unless it may be empty, at least one that is not white space ([`LINE_PATTERN`]).
    /// The value kept is trimmed.
    pub fn text(&mut self, field: &str, value: &str, min: usize, max: usize) -> String {
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
        } else if min > 0 && value.trim().is_empty() {
            self.add(field, "must not be only white space");
        }
        value.trim().to_string()
    }

    /// An optional text of at most `max` characters (counted as given) that may hold line breaks
    /// and tabs but no other control character ([`MULTILINE_PATTERN`]); `None` when it is empty
    /// or only white space, else the trimmed value.
    pub fn multiline(&mut self, field: &str, value: Option<&str>, max: usize) -> Option<String> {
        let value = value?;
        if value.chars().count() > max {
            self.add(field, format!("must be at most {max} characters long"));
        } else if value
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            self.add(
                field,
                "must not contain control characters other than line breaks",
            );
        }
        Some(value.trim().to_string()).filter(|v| !v.is_empty())
    }

    /// An optional one-line text of at most `max` characters (counted as given), with no control
    /// character ([`OPTIONAL_LINE_PATTERN`]); `None` when it is empty or only white space.
    pub fn optional_line(
        &mut self,
        field: &str,
        value: Option<&str>,
        max: usize,
    ) -> Option<String> {
        let value = value?;
        if value.chars().count() > max {
            self.add(field, format!("must be at most {max} characters long"));
        } else if value.chars().any(char::is_control) {
            self.add(field, "must not contain control characters");
        }
        Some(value.trim().to_string()).filter(|v| !v.is_empty())
    }

    /// 1 to `max` ASCII digits (Meta's numeric ids).
    pub fn digits(&mut self, field: &str, value: &str, max: usize) -> String {
        if value.is_empty() || value.len() > max || !value.bytes().all(|b| b.is_ascii_digit()) {
            self.add(field, format!("must be 1 to {max} digits"));
        }
        value.to_string()
    }

    /// An absolute `https://` URL with a host, at most 2048 characters, no white space or
    /// control character anywhere ([`HTTPS_URL_PATTERN`]).
    pub fn https_url(&mut self, field: &str, value: &str) -> String {
        if !is_https_url(value) {
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
        p.digits("waba_id", " 12", 32);
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
                "messages_per_second",
                "waba_id"
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
        p.https_url("u", " https://bot.example.com");
        p.https_url("u", "https://:443/x");
        assert_eq!(p.0.len(), 4);
    }

    /// The schema patterns say exactly what the validators accept.
    fn agree(pattern: &str, accepts: impl Fn(&str) -> bool, samples: &[&str]) {
        let regex = regex::Regex::new(pattern).unwrap();
        for sample in samples {
            assert_eq!(
                regex.is_match(sample),
                accepts(sample),
                "{pattern} and the validator disagree on {sample:?}"
            );
        }
    }

    const SAMPLES: &[&str] = &[
        "",
        " ",
        "Ana",
        " Ana ",
        "\u{a0}",
        "\u{3000}x",
        "\u{feff}",
        "a\nb",
        "a\tb",
        "a\r",
        "\u{85}",
        "\u{9f}x",
        "\u{7f}",
        "\u{1}",
        "é",
        "\u{2028}",
        "\u{200b}",
        "\u{1680}",
        "https://bot.example.com/x?y#z",
        "https://",
        "https:///x",
        "https://?",
        "https://:1",
        "https://a b",
        "https://a\u{a0}b",
        "https://é.com",
        "http://a.com",
        "https://a\u{7f}",
    ];

    #[test]
    fn the_schema_patterns_agree_with_the_validators() {
        agree(
            LINE_PATTERN,
            |s| {
                let mut p = Problems::new();
                p.text("f", s, 1, 10_000);
                p.is_empty()
            },
            SAMPLES,
        );
        agree(
            OPTIONAL_LINE_PATTERN,
            |s| {
                let mut p = Problems::new();
                p.text("f", s, 0, 10_000);
                p.optional_line("g", Some(s), 10_000);
                p.is_empty()
            },
            SAMPLES,
        );
        agree(
            MULTILINE_PATTERN,
            |s| {
                let mut p = Problems::new();
                p.multiline("f", Some(s), 10_000);
                p.is_empty()
            },
            SAMPLES,
        );
        agree(HTTPS_URL_PATTERN, is_https_url, SAMPLES);
    }

    #[test]
    fn lengths_count_the_text_as_given() {
        let mut p = Problems::new();
        assert_eq!(p.text("name", " Ana ", 1, 5), "Ana");
        assert!(p.is_empty());
        p.text("name", " Ana  ", 1, 5);
        p.multiline("text", Some("  ab  "), 5);
        p.optional_line("title", Some("  ab  "), 5);
        assert_eq!(p.0.len(), 3);
        assert_eq!(p.multiline("text", Some("   "), 5), None);
    }
}
