//! The sender's metrics as CloudWatch embedded metric format: one JSON line on standard output
//! per delivery, which CloudWatch Logs turns into metrics (namespace `Ritmo`), per number
//! (dimension `Channel`) and over all numbers (dimension `Service` = `sender`). Counts are
//! `Sent`, `Throttled`, `Retried`, `Failed`, `Unknown`, `Deferred`, `Paused`; `SendDelay` is the
//! milliseconds between a step's planned instant and its send.

use std::io::Write;

use ritmo_core::delivery::ports::{SendMetrics, StepMetric};
use serde_json::{json, Value};

pub const NAMESPACE: &str = "Ritmo";

/// Writes each metric as an embedded-metric-format line.
pub struct EmbeddedMetrics;

/// The EMF document of one delivery, timestamped `at_ms` (epoch milliseconds).
pub fn document(metric: &StepMetric, at_ms: i64) -> Value {
    let name = match metric.outcome {
        "sent" => "Sent",
        "throttled" => "Throttled",
        "retried" => "Retried",
        "failed" => "Failed",
        "unknown" => "Unknown",
        "deferred" => "Deferred",
        _ => "Paused",
    };
    let mut metrics = vec![json!({"Name": name, "Unit": "Count"})];
    let mut document = json!({
        "Channel": metric.channel_id.to_string(),
        "Service": "sender",
        name: 1,
    });
    if let Some(late) = metric.late_by {
        metrics.push(json!({"Name": "SendDelay", "Unit": "Milliseconds"}));
        document["SendDelay"] = json!(late.num_milliseconds());
    }
    document["_aws"] = json!({
        "Timestamp": at_ms,
        "CloudWatchMetrics": [{
            "Namespace": NAMESPACE,
            "Dimensions": [["Channel"], ["Service"]],
            "Metrics": metrics,
        }],
    });
    document
}

impl SendMetrics for EmbeddedMetrics {
    fn record(&self, metric: &StepMetric) {
        let line = document(metric, chrono::Utc::now().timestamp_millis()).to_string();
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_send_is_a_count_and_a_delay_per_number_and_overall() {
        let channel = ulid::Ulid::from(7u128);
        let doc = document(
            &StepMetric {
                channel_id: channel,
                outcome: "sent",
                late_by: Some(chrono::TimeDelta::milliseconds(1250)),
            },
            1_764_590_400_000,
        );
        assert_eq!(doc["Sent"], 1);
        assert_eq!(doc["SendDelay"], 1250);
        assert_eq!(doc["Channel"], channel.to_string());
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Ritmo");
        assert_eq!(directive["Dimensions"], json!([["Channel"], ["Service"]]));
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "Sent", "Unit": "Count"}, {"Name": "SendDelay", "Unit": "Milliseconds"}])
        );
        assert_eq!(doc["_aws"]["Timestamp"], 1_764_590_400_000i64);
        // Every metric and dimension the directive names is a member of the document.
        for m in directive["Metrics"].as_array().unwrap() {
            assert!(doc.get(m["Name"].as_str().unwrap()).is_some());
        }
        let throttled = document(
            &StepMetric {
                channel_id: channel,
                outcome: "throttled",
                late_by: None,
            },
            0,
        );
        assert_eq!(throttled["Throttled"], 1);
        assert!(throttled.get("SendDelay").is_none());
    }
}
