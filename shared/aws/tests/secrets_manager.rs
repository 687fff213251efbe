//! Secrets named by `<VAR>_ARN` read from Secrets Manager on the emulator
//! (`RITMO_TEST_DYNAMODB_ENDPOINT`, which serves Secrets Manager too;
//! `#[ignore]`d without the emulator), and
//! put in front of the environment for the typed configuration.

use std::collections::HashMap;

use ritmo_aws::config::{install_secrets, Environment, Source, WebhookConfig};
use ritmo_aws::secrets_manager::fetch_secrets;

#[tokio::test]
#[ignore = "needs the AWS emulator: infra/test.sh runs it"]
async fn secrets_named_by_arn_are_read_and_shadow_the_environment() {
    let endpoint = ritmo_aws::local::emulator_endpoint("RITMO_TEST_DYNAMODB_ENDPOINT");
    let sdk = ritmo_aws::local::sdk_config_for_endpoint(&endpoint).await;
    let client = aws_sdk_secretsmanager::Client::new(&sdk);
    let mut arns = HashMap::new();
    for (var, value) in [
        (
            "RITMO_WHATSAPP_APP_SECRET",
            "meta-app-secret-from-secrets-manager",
        ),
        (
            "RITMO_WHATSAPP_VERIFY_TOKEN",
            "verify-token-from-secrets-manager",
        ),
    ] {
        let created = client
            .create_secret()
            .name(format!("{var}-{}", ulid::Ulid::new()))
            .secret_string(value)
            .send()
            .await
            .unwrap();
        arns.insert(format!("{var}_ARN"), created.arn().unwrap().to_string());
    }
    let source = |name: &str| arns.get(name).cloned();
    let secrets = fetch_secrets(&client, &source).await.unwrap();
    assert_eq!(secrets.len(), 2, "only the variables named by an ARN");
    assert_eq!(
        secrets["RITMO_WHATSAPP_APP_SECRET"],
        "meta-app-secret-from-secrets-manager"
    );

    assert!(install_secrets(secrets));
    assert_eq!(
        Environment.get("RITMO_WHATSAPP_VERIFY_TOKEN").as_deref(),
        Some("verify-token-from-secrets-manager")
    );
    let config = WebhookConfig::from_env().unwrap();
    assert_eq!(
        config.app_secret.expose(),
        "meta-app-secret-from-secrets-manager"
    );

    let missing = |name: &str| {
        (name == "RITMO_CURSOR_KEY_ARN").then(|| {
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf".to_string()
        })
    };
    let error = fetch_secrets(&client, &missing).await.unwrap_err();
    assert_eq!(error.var, "RITMO_CURSOR_KEY");
}
