//! Sequence statistics: enrollments by status and exit reason, and per step sent, delivered,
//! read, failed, replied and billable counts, read from the counters every enrollment write
//! keeps (see `enrollments::counters`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Serialize;
use ulid::Ulid;

use crate::channels::model::TemplateCategory;
use crate::common::error::DomainError;
use crate::common::page::PageRequest;
use crate::common::tenant::TenantId;
use crate::enrollments::counters::{Counter, Counts, StepCounter};
use crate::enrollments::model::{Enrollment, HistoryEntry, MessageStatus, Outcome};
use crate::enrollments::pricing::RateCard;
use crate::enrollments::store::EnrollmentStore;
use crate::sequences::model::Sequence;
use crate::sequences::service::load_sequence;
use crate::sequences::store::SequenceStore;

/// One step's counts. A deleted step that had sends keeps its row, with `position: null`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StepStats {
    pub step_id: Ulid,
    #[cfg_attr(feature = "openapi", schema(required))]
    pub position: Option<usize>,
    pub sent: u64,
    pub delivered: u64,
    pub read: u64,
    pub failed: u64,
    pub replied: u64,
    pub skipped: u64,
    pub unknown: u64,
    /// Billable sends by template category (`MARKETING`, `UTILITY`, `AUTHENTICATION`).
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, u64>))]
    pub billable: BTreeMap<TemplateCategory, u64>,
    /// Billable messages priced with the operator's rate card (absent without one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_cost: Option<f64>,
    #[serde(skip)]
    cost_micros: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "enrollments": {"active": 12, "completed": 3, "removed": 1, "exited": 2},
    "exit_reasons": {"replied": 2},
    "steps": [{"step_id": "01JDQ8Z5C3M4N5P6Q7R8S9T0VZ", "position": 0, "sent": 18, "delivered": 17,
               "read": 11, "failed": 0, "replied": 2, "skipped": 0, "unknown": 0,
               "billable": {"MARKETING": 18}}]
})))]
pub struct SequenceStats {
    /// Enrollments by status.
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, u64>))]
    pub enrollments: BTreeMap<&'static str, u64>,
    /// Exited enrollments by exit reason.
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, u64>))]
    pub exit_reasons: BTreeMap<&'static str, u64>,
    pub steps: Vec<StepStats>,
    /// Currency of `estimated_cost`, when a rate card is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

/// Reads a sequence's statistics.
#[derive(Clone)]
pub struct StatsService {
    sequences: Arc<dyn SequenceStore>,
    enrollments: Arc<dyn EnrollmentStore>,
    /// Prices for the estimated cost, when the operator gives them.
    rate_card: Option<Arc<RateCard>>,
}

impl StatsService {
    pub fn new(
        sequences: Arc<dyn SequenceStore>,
        enrollments: Arc<dyn EnrollmentStore>,
        rate_card: Option<Arc<RateCard>>,
    ) -> Self {
        Self {
            sequences,
            enrollments,
            rate_card,
        }
    }

    /// The sequence's statistics: from its counters (a constant number of store reads,
    /// whatever the audience), or, for a sequence created before counters were kept, from a
    /// full read of its enrollments.
    pub async fn sequence_stats(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
    ) -> Result<SequenceStats, DomainError> {
        let sequence = load_sequence(&*self.sequences, tenant, sequence_id).await?;
        if !sequence.counted {
            return self.recount(&sequence).await;
        }
        let counts = self
            .enrollments
            .sequence_counters(tenant, sequence_id)
            .await?;
        Ok(from_counters(&sequence, &counts, self.rate_card.as_deref()))
    }

    /// The statistics counted again from every enrollment of the sequence and every history
    /// entry (one read per page of each): what the counters must always equal.
    pub async fn recounted_stats(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
    ) -> Result<SequenceStats, DomainError> {
        let sequence = load_sequence(&*self.sequences, tenant, sequence_id).await?;
        self.recount(&sequence).await
    }

    async fn recount(&self, sequence: &Sequence) -> Result<SequenceStats, DomainError> {
        let mut recount = Recount::new(self.rate_card.as_deref());
        let mut page = PageRequest::first(200);
        loop {
            let batch = self
                .enrollments
                .list_enrollments(&sequence.tenant, sequence.id, None, &page)
                .await?;
            for e in &batch.items {
                recount.add(e);
            }
            match batch.next_cursor {
                Some(cursor) => page.cursor = Some(cursor),
                None => break,
            }
        }
        let mut page = PageRequest::first(200);
        loop {
            let batch = self
                .enrollments
                .list_history(&sequence.tenant, sequence.id, None, &page)
                .await?;
            for run in &batch.items {
                recount.add_entry(&run.entry, &run.phone);
            }
            match batch.next_cursor {
                Some(cursor) => page.cursor = Some(cursor),
                None => break,
            }
        }
        Ok(recount.finish(sequence))
    }
}

/// The statistics a sequence's counters give.
pub fn from_counters(
    sequence: &Sequence,
    counts: &Counts,
    rate_card: Option<&RateCard>,
) -> SequenceStats {
    let mut stats = SequenceStats::default();
    for status in ["active", "completed", "removed", "exited"] {
        stats.enrollments.insert(status, 0);
    }
    let mut steps: HashMap<Ulid, StepStats> = HashMap::new();
    // A counter below zero would be a bug; it reads as zero rather than wrapping.
    let count = |value: i64| u64::try_from(value).unwrap_or(0);
    for (counter, value) in counts.iter() {
        let value = count(value);
        match counter {
            Counter::Status(status) => {
                *stats.enrollments.entry(status.as_str()).or_default() += value;
            }
            Counter::Exit(reason) => {
                if value > 0 {
                    *stats.exit_reasons.entry(reason.as_str()).or_default() += value;
                }
            }
            Counter::Step(step_id, counter) => {
                let s = steps.entry(*step_id).or_insert_with(|| StepStats {
                    step_id: *step_id,
                    ..Default::default()
                });
                match counter {
                    StepCounter::Sent => s.sent += value,
                    StepCounter::Delivered => s.delivered += value,
                    StepCounter::Read => s.read += value,
                    StepCounter::Failed => s.failed += value,
                    StepCounter::Replied => s.replied += value,
                    StepCounter::Skipped => s.skipped += value,
                    StepCounter::Unknown => s.unknown += value,
                    StepCounter::Billable { category, country } => {
                        if value > 0 {
                            *s.billable.entry(*category).or_default() += value;
                        }
                        if let Some(card) = rate_card {
                            let code = Some(country.as_str()).filter(|c| !c.is_empty());
                            s.cost_micros +=
                                value * card.price_micros_in(*category, code).unwrap_or(0);
                        }
                    }
                }
            }
        }
    }
    finish(sequence, &mut stats, steps, rate_card);
    stats
}

/// The statistics counted from enrollments one by one (the full read).
pub struct Recount<'a> {
    rate_card: Option<&'a RateCard>,
    stats: SequenceStats,
    steps: HashMap<Ulid, StepStats>,
}

impl<'a> Recount<'a> {
    pub fn new(rate_card: Option<&'a RateCard>) -> Self {
        let mut stats = SequenceStats::default();
        for status in ["active", "completed", "removed", "exited"] {
            stats.enrollments.insert(status, 0);
        }
        Self {
            rate_card,
            stats,
            steps: HashMap::new(),
        }
    }

    pub fn add(&mut self, e: &Enrollment) {
        let stats = &mut self.stats;
        *stats.enrollments.entry(e.status.as_str()).or_default() += 1;
        if let Some(reason) = e.exit_reason {
            *stats.exit_reasons.entry(reason.as_str()).or_default() += 1;
        }
        for h in &e.history {
            self.add_entry(h, &e.contact.phone);
        }
    }

    /// One history entry of a run of `phone`.
    pub fn add_entry(&mut self, h: &HistoryEntry, phone: &str) {
        {
            let s = self.steps.entry(h.step_id).or_insert_with(|| StepStats {
                step_id: h.step_id,
                ..Default::default()
            });
            match h.outcome {
                Outcome::Sent => s.sent += 1,
                Outcome::Failed => s.failed += 1,
                Outcome::Skipped => s.skipped += 1,
                Outcome::Unknown => s.unknown += 1,
            }
            if h.delivered || h.read {
                s.delivered += 1;
            }
            if h.read {
                s.read += 1;
            }
            if h.status == Some(MessageStatus::Failed) && h.outcome == Outcome::Sent {
                s.failed += 1;
            }
            if h.replied {
                s.replied += 1;
            }
            if h.billable {
                let category = h.category.unwrap_or(TemplateCategory::Marketing);
                *s.billable.entry(category).or_default() += 1;
                if let Some(card) = self.rate_card {
                    s.cost_micros += card.price_micros(category, phone).unwrap_or(0);
                }
            }
        }
    }

    pub fn finish(mut self, sequence: &Sequence) -> SequenceStats {
        finish(sequence, &mut self.stats, self.steps, self.rate_card);
        self.stats
    }
}

/// Orders the steps (the sequence's, then deleted ones by id) and prices them.
fn finish(
    sequence: &Sequence,
    stats: &mut SequenceStats,
    mut steps: HashMap<Ulid, StepStats>,
    rate_card: Option<&RateCard>,
) {
    let mut ordered: Vec<StepStats> = sequence
        .steps
        .iter()
        .enumerate()
        .map(|(position, step)| StepStats {
            position: Some(position),
            ..steps.remove(&step.id).unwrap_or(StepStats {
                step_id: step.id,
                ..Default::default()
            })
        })
        .collect();
    let mut deleted: Vec<StepStats> = steps.into_values().collect();
    deleted.sort_by_key(|s| s.step_id);
    ordered.extend(deleted);
    if let Some(card) = rate_card {
        stats.currency = Some(card.currency.clone());
        for step in &mut ordered {
            step.estimated_cost = Some(RateCard::to_amount(step.cost_micros));
        }
    }
    stats.steps = ordered;
}
