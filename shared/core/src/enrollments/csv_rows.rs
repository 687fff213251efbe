//! Contacts as CSV rows: the header's columns (`phone`, `name`, `time_zone`, then attributes)
//! and one [`ContactInput`] per row. Shared by the synchronous enrollment request and imports.

use std::collections::BTreeMap;

use crate::enrollments::model::ContactInput;

/// A CSV header: its column names trimmed and lower-cased, and where `phone` is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvColumns {
    pub names: Vec<String>,
}

/// What is wrong with a CSV header.
pub const NO_PHONE_COLUMN: &str = "the CSV header must have a 'phone' column";

impl CsvColumns {
    /// The columns of a header; it must name a `phone` column.
    pub fn new<'a>(fields: impl IntoIterator<Item = &'a str>) -> Result<Self, &'static str> {
        let names: Vec<String> = fields
            .into_iter()
            .map(|h| h.trim_matches([' ', '\t']).to_ascii_lowercase())
            .collect();
        if !names.iter().any(|h| h == "phone") {
            return Err(NO_PHONE_COLUMN);
        }
        Ok(Self { names })
    }

    /// The contact of one row: a short row leaves the rest empty, extra fields are ignored,
    /// empty values are left out.
    pub fn contact<'a>(&self, fields: impl IntoIterator<Item = &'a str>) -> ContactInput {
        let mut contact = ContactInput {
            phone: String::new(),
            name: None,
            time_zone: None,
            attributes: BTreeMap::new(),
        };
        for (header, value) in self.names.iter().zip(fields) {
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            match header.as_str() {
                "phone" => contact.phone = value.to_string(),
                "name" => contact.name = Some(value.to_string()),
                "time_zone" => contact.time_zone = Some(value.to_string()),
                attribute => {
                    contact.attributes.insert(
                        attribute.to_string(),
                        serde_json::Value::String(value.to_string()),
                    );
                }
            }
        }
        contact
    }
}

/// The separator a header line uses: `;` (Brazilian spreadsheet exports) when it has more
/// semicolons than commas, else `,`.
pub fn delimiter_of(header_line: &[u8]) -> u8 {
    let count = |c: u8| header_line.iter().filter(|&&b| b == c).count();
    if count(b';') > count(b',') {
        b';'
    } else {
        b','
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_needs_a_phone_column_in_any_case() {
        assert_eq!(CsvColumns::new(["name", "coupon"]), Err(NO_PHONE_COLUMN));
        let columns = CsvColumns::new([" Phone ", "NAME", "coupon", "time_zone"]).unwrap();
        let contact = columns.contact(["+5511987654321", " Ana ", "", "America/Manaus", "x"]);
        assert_eq!(contact.phone, "+5511987654321");
        assert_eq!(contact.name.as_deref(), Some("Ana"));
        assert_eq!(contact.time_zone.as_deref(), Some("America/Manaus"));
        assert!(contact.attributes.is_empty(), "an empty value is left out");
        let short = columns.contact(["+5511987654321"]);
        assert_eq!(short.name, None);
    }

    #[test]
    fn semicolons_win_only_when_the_header_has_more_of_them() {
        assert_eq!(delimiter_of(b"phone;name;cupom"), b';');
        assert_eq!(delimiter_of(b"phone,name,cupom"), b',');
        assert_eq!(delimiter_of(b"phone"), b',');
    }
}
