//! Secrets read from Secrets Manager at cold start: for each of
//! [`SECRET_VARIABLES`](crate::config::SECRET_VARIABLES) whose `<VAR>_ARN` is set, the secret's
//! `SecretString` becomes the variable's value (in front of the environment, never in it).

use std::collections::HashMap;

use crate::config::{Source, SECRET_VARIABLES};

/// A secret that could not be read (its variable named; never its value).
#[derive(Debug, thiserror::Error)]
#[error("could not read the Secrets Manager secret of {var}: {reason}")]
pub struct SecretReadError {
    pub var: &'static str,
    pub reason: String,
}

/// Fetches every secret the source names by `<VAR>_ARN`.
pub async fn fetch_secrets(
    client: &aws_sdk_secretsmanager::Client,
    source: &impl Source,
) -> Result<HashMap<String, String>, SecretReadError> {
    let mut values = HashMap::new();
    for var in SECRET_VARIABLES {
        let Some(arn) = source
            .get(&format!("{var}_ARN"))
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty())
        else {
            continue;
        };
        let output = client
            .get_secret_value()
            .secret_id(&arn)
            .send()
            .await
            .map_err(|e| SecretReadError {
                var,
                reason: aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
            })?;
        let value = output.secret_string().ok_or_else(|| SecretReadError {
            var,
            reason: "the secret has no SecretString".into(),
        })?;
        values.insert(var.to_string(), value.to_string());
    }
    Ok(values)
}
