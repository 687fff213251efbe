//! Meta's error codes in the classes that decide what happens next (SPEC §4).

use ritmo_core::enrollments::model::SendError;

/// Classifies a Graph API error code: throttling waits and is sent again, server errors are retried, template and
/// account errors pause the sequence, anything else is about this contact.
pub fn classify(code: i64, detail: impl Into<String>) -> SendError {
    let detail = detail.into();
    match code {
        130429 | 131056 | 131048 | 4 | 80007 | 613 => SendError::Throttled {
            code: Some(code),
            detail,
        },
        131049 => SendError::ContactLimit { code, detail },
        131000 | 131016 | 1 | 2 => SendError::Retryable {
            code: Some(code),
            detail,
        },
        132000 | 132001 | 132012 | 132015 | 132016 => SendError::Template { code, detail },
        368 | 131031 | 131042 => SendError::Account { code, detail },
        // 131026 undeliverable, 131050 opted out, 130472, 130497, and any other
        // error about this one request: the contact cannot get this message.
        _ => SendError::Contact { code, detail },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_codes_fall_into_the_spec_classes() {
        assert!(matches!(
            classify(131049, ""),
            SendError::ContactLimit { .. }
        ));
        for code in [130429, 131056, 131048, 4, 80007, 613] {
            assert!(
                matches!(classify(code, ""), SendError::Throttled { .. }),
                "{code}"
            );
        }
        for code in [131000, 131016, 1, 2] {
            assert!(
                matches!(classify(code, ""), SendError::Retryable { .. }),
                "{code}"
            );
        }
        for code in [131026, 131050, 130472, 130497] {
            assert!(
                matches!(classify(code, ""), SendError::Contact { .. }),
                "{code}"
            );
        }
        for code in [132000, 132001, 132012, 132015, 132016] {
            assert!(
                matches!(classify(code, ""), SendError::Template { .. }),
                "{code}"
            );
        }
        for code in [368, 131031, 131042] {
            assert!(
                matches!(classify(code, ""), SendError::Account { .. }),
                "{code}"
            );
        }
    }
}
