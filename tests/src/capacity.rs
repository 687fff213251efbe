//! The capacity report: what each measured operation cost on DynamoDB, per unit of work (a
//! contact, a row, a message, a click), held to the budgets checked in at
//! `infra/capacity-budgets.json`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::{json, Value};

use crate::metering::{Usage, TABLE};

/// One operation as measured: what `per` units of it cost together.
#[derive(Debug, Clone)]
pub struct Row {
    pub operation: String,
    pub per: usize,
    pub usage: Usage,
}

impl Row {
    pub fn new(operation: &str, per: usize, usage: Usage) -> Self {
        assert!(per > 0, "{operation}: measured over no unit");
        Self {
            operation: operation.into(),
            per,
            usage,
        }
    }

    fn each(&self, total: f64) -> f64 {
        total / self.per as f64
    }

    pub fn requests(&self) -> f64 {
        self.each(self.usage.requests as f64)
    }

    pub fn wru(&self) -> f64 {
        self.each(self.usage.wru())
    }

    pub fn rru(&self) -> f64 {
        self.each(self.usage.rru())
    }

    pub fn wru_by_index(&self) -> BTreeMap<String, f64> {
        self.usage
            .wru_by_index
            .iter()
            .map(|(index, units)| (index.clone(), self.each(*units)))
            .collect()
    }

    pub fn items_written(&self) -> f64 {
        self.each(self.usage.items_written as f64)
    }
}

/// A figure with at most two decimals, without trailing zeroes.
fn figure(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The report as a Markdown table: one line per operation, its figures per unit.
pub fn table(rows: &[Row]) -> String {
    let mut indexes: BTreeSet<String> = rows
        .iter()
        .flat_map(|r| r.usage.wru_by_index.keys().cloned())
        .filter(|index| index != TABLE)
        .collect();
    indexes.insert("gsi1".into());
    indexes.insert("gsi2".into());
    let split = std::iter::once(TABLE.to_string())
        .chain(indexes.iter().cloned())
        .collect::<Vec<_>>();
    let mut out = format!(
        "| operation | per | requests | WRU | WRU {} | RRU | items written | hottest key (share) |\n\
         |---|---|---|---|---|---|---|---|\n",
        split.join(" + ")
    );
    for row in rows {
        let by_index = row.wru_by_index();
        let parts: Vec<String> = split
            .iter()
            .map(|index| figure(by_index.get(index).copied().unwrap_or(0.0)))
            .collect();
        let hottest = match row.usage.hottest() {
            Some((key, share)) => format!("`{key}` ({:.0}%)", share * 100.0),
            None => "-".into(),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            row.operation,
            row.per,
            figure(row.requests()),
            figure(row.wru()),
            parts.join(" + "),
            figure(row.rru()),
            figure(row.items_written()),
            hottest
        ));
    }
    out
}

/// The report as JSON: operation → its figures per unit.
pub fn json(rows: &[Row]) -> Value {
    let operations: serde_json::Map<String, Value> = rows
        .iter()
        .map(|row| {
            let hottest = row.usage.hottest();
            (
                row.operation.clone(),
                json!({
                    "per": row.per,
                    "requests": row.requests(),
                    "wru": row.wru(),
                    "rru": row.rru(),
                    "wru_by_index": row.wru_by_index(),
                    "items_written": row.items_written(),
                    "hottest_key": hottest.as_ref().map(|(key, _)| key.clone()),
                    "hottest_share": hottest.map(|(_, share)| share),
                }),
            )
        })
        .collect();
    Value::Object(operations)
}

/// The ceilings, per unit, of every measured operation.
#[derive(Debug, Clone, Deserialize)]
pub struct Budgets {
    pub operations: BTreeMap<String, Budget>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Budget {
    pub wru: f64,
    pub rru: f64,
    /// Where the operation should get to (the issue's targets); not asserted.
    #[serde(default)]
    pub target: Option<Target>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Target {
    pub wru: Option<f64>,
    pub rru: Option<f64>,
}

impl Budgets {
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Every way the measurement breaks the budgets, one sentence each: an operation over its
    /// WRU or RRU ceiling (naming both numbers), an operation without a budget, a budget
    /// without a measurement.
    pub fn breaches(&self, rows: &[Row]) -> Vec<String> {
        let mut breaches = Vec::new();
        for row in rows {
            let Some(budget) = self.operations.get(&row.operation) else {
                breaches.push(format!("{}: measured, but has no budget", row.operation));
                continue;
            };
            for (kind, measured, ceiling) in [
                ("WRU", row.wru(), budget.wru),
                ("RRU", row.rru(), budget.rru),
            ] {
                if measured > ceiling + 1e-9 {
                    breaches.push(format!(
                        "{}: {} {kind} per {} over its budget of {}",
                        row.operation,
                        figure(measured),
                        if row.per == 1 { "request" } else { "unit" },
                        figure(ceiling)
                    ));
                }
            }
        }
        for operation in self.operations.keys() {
            if !rows.iter().any(|row| &row.operation == operation) {
                breaches.push(format!("{operation}: has a budget, but was not measured"));
            }
        }
        breaches
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metering::Usage;

    fn usage(wru: f64, rru: f64) -> Usage {
        let mut usage = Usage::default();
        usage.wru_by_index.insert(TABLE.into(), wru);
        usage.rru_by_index.insert(TABLE.into(), rru);
        usage
    }

    fn budgets() -> Budgets {
        Budgets::parse(
            r#"{"operations": {
                "human click": {"wru": 2, "rru": 1, "target": {"wru": 2}},
                "stats": {"wru": 0, "rru": 4.5}}}"#,
        )
        .unwrap()
    }

    #[test]
    fn within_budget_there_is_no_breach() {
        let rows = [
            Row::new("human click", 10, usage(20.0, 5.0)),
            Row::new("stats", 1, usage(0.0, 4.5)),
        ];
        assert!(budgets().breaches(&rows).is_empty());
    }

    #[test]
    fn one_extra_write_names_the_operation_and_both_numbers() {
        // 21 WRU over 10 clicks: 2.1 per click against 2.
        let rows = [
            Row::new("human click", 10, usage(21.0, 5.0)),
            Row::new("stats", 1, usage(0.0, 5.0)),
        ];
        assert_eq!(
            budgets().breaches(&rows),
            [
                "human click: 2.1 WRU per unit over its budget of 2",
                "stats: 5 RRU per request over its budget of 4.5"
            ]
        );
    }

    #[test]
    fn an_operation_without_budget_or_a_budget_without_measurement_is_a_breach() {
        let rows = [
            Row::new("human click", 1, usage(1.0, 0.0)),
            Row::new("new thing", 1, usage(1.0, 0.0)),
        ];
        assert_eq!(
            budgets().breaches(&rows),
            [
                "new thing: measured, but has no budget",
                "stats: has a budget, but was not measured"
            ]
        );
    }

    #[test]
    fn the_report_gives_figures_per_unit() {
        let mut enrolling = usage(40.0, 10.0);
        enrolling.wru_by_index.insert("gsi1".into(), 20.0);
        enrolling.requests = 70;
        enrolling.items_written = 60;
        let rows = [Row::new("enroll", 20, enrolling)];
        let report = json(&rows);
        assert_eq!(report["enroll"]["requests"], 3.5);
        assert_eq!(report["enroll"]["wru"], 3.0);
        assert_eq!(report["enroll"]["wru_by_index"]["gsi1"], 1.0);
        assert_eq!(report["enroll"]["items_written"], 3.0);
        assert!(table(&rows).contains("| enroll | 20 | 3.5 | 3 | 2 + 1 + 0 | 0.5 | 3 |"));
    }
}
