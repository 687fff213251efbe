//! The counters a sequence's statistics are read from, and the pure change one enrollment write
//! makes to them: what the new enrollment counts minus what the stored one counted. The store
//! applies that change in the same atomic write as the enrollment, so a write that loses its
//! condition changes no counter, and a repeated event that changes nothing changes none.

use std::collections::BTreeMap;

use ulid::Ulid;

use crate::channels::model::TemplateCategory;
use crate::enrollments::model::{
    Enrollment, EnrollmentStatus, ExitReason, HistoryEntry, MessageStatus, Outcome,
};
use crate::enrollments::pricing::calling_code;

/// One counter of a sequence.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Counter {
    /// Enrollments with this status.
    Status(EnrollmentStatus),
    /// Exited enrollments with this exit reason.
    Exit(ExitReason),
    /// One count of one step (a step id stays even when the step is deleted).
    Step(Ulid, StepCounter),
}

/// What a step counts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StepCounter {
    Sent,
    Delivered,
    Read,
    Failed,
    Replied,
    Skipped,
    Unknown,
    /// Billable messages of a template category to one country calling code (empty when the
    /// phone has none), so that a rate card prices them.
    Billable {
        category: TemplateCategory,
        country: String,
    },
}

impl StepCounter {
    fn name(&self) -> String {
        match self {
            Self::Sent => "sent".into(),
            Self::Delivered => "delivered".into(),
            Self::Read => "read".into(),
            Self::Failed => "failed".into(),
            Self::Replied => "replied".into(),
            Self::Skipped => "skipped".into(),
            Self::Unknown => "unknown".into(),
            Self::Billable { category, country } => {
                format!("billable.{}.{country}", category.as_str())
            }
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "sent" => Self::Sent,
            "delivered" => Self::Delivered,
            "read" => Self::Read,
            "failed" => Self::Failed,
            "replied" => Self::Replied,
            "skipped" => Self::Skipped,
            "unknown" => Self::Unknown,
            _ => {
                let (category, country) = raw.strip_prefix("billable.")?.split_once('.')?;
                if !country.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                Self::Billable {
                    category: TemplateCategory::parse(category)?,
                    country: country.to_string(),
                }
            }
        })
    }
}

impl Counter {
    /// The counter's stable name, as stores keep it: `enrollments.active`,
    /// `exit_reasons.replied`, `step.<id>.sent`, `step.<id>.billable.MARKETING.55`.
    pub fn name(&self) -> String {
        match self {
            Self::Status(status) => format!("enrollments.{}", status.as_str()),
            Self::Exit(reason) => format!("exit_reasons.{}", reason.as_str()),
            Self::Step(step_id, counter) => format!("step.{step_id}.{}", counter.name()),
        }
    }

    /// The counter a name gives (None: not a counter's name).
    pub fn parse(raw: &str) -> Option<Self> {
        if let Some(status) = raw.strip_prefix("enrollments.") {
            return EnrollmentStatus::parse(status).map(Self::Status);
        }
        if let Some(reason) = raw.strip_prefix("exit_reasons.") {
            return ExitReason::parse(reason).map(Self::Exit);
        }
        let (step_id, counter) = raw.strip_prefix("step.")?.split_once('.')?;
        Some(Self::Step(
            step_id.parse().ok()?,
            StepCounter::parse(counter)?,
        ))
    }
}

/// Counter values, or changes to them; a counter absent is zero, and none is kept at zero.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts(BTreeMap<Counter, i64>);

impl Counts {
    /// What one enrollment counts: its status, its exit reason, and per history entry its
    /// outcome, delivery, read, failure, reply and billable message.
    pub fn of(enrollment: &Enrollment) -> Self {
        let mut counts = Self::default();
        counts.add(Counter::Status(enrollment.status), 1);
        if let Some(reason) = enrollment.exit_reason {
            counts.add(Counter::Exit(reason), 1);
        }
        for h in &enrollment.history {
            counts.add_entry(h, enrollment.phone());
        }
        counts
    }

    fn add_entry(&mut self, h: &HistoryEntry, phone: &str) {
        let mut step = |counter: StepCounter| self.add(Counter::Step(h.step_id, counter), 1);
        step(match h.outcome {
            Outcome::Sent => StepCounter::Sent,
            Outcome::Failed => StepCounter::Failed,
            Outcome::Skipped => StepCounter::Skipped,
            Outcome::Unknown => StepCounter::Unknown,
        });
        if h.delivered || h.read {
            step(StepCounter::Delivered);
        }
        if h.read {
            step(StepCounter::Read);
        }
        if h.status == Some(MessageStatus::Failed) && h.outcome == Outcome::Sent {
            step(StepCounter::Failed);
        }
        if h.replied {
            step(StepCounter::Replied);
        }
        if h.billable {
            step(StepCounter::Billable {
                category: h.category.unwrap_or(TemplateCategory::Marketing),
                country: calling_code(phone).unwrap_or_default(),
            });
        }
    }

    /// The change a write makes to the counters: `new`'s counts minus `old`'s (the stored
    /// enrollment the write replaces; None when there is none). Zero when nothing counted
    /// changed, as for a repeated status.
    pub fn delta(old: Option<&Enrollment>, new: &Enrollment) -> Self {
        let mut delta = Self::of(new);
        if let Some(old) = old {
            delta.subtract(&Self::of(old));
        }
        delta
    }

    pub fn add(&mut self, counter: Counter, by: i64) {
        if by == 0 {
            return;
        }
        let value = self.0.entry(counter.clone()).or_default();
        *value += by;
        if *value == 0 {
            self.0.remove(&counter);
        }
    }

    pub fn merge(&mut self, other: &Counts) {
        for (counter, by) in &other.0 {
            self.add(counter.clone(), *by);
        }
    }

    fn subtract(&mut self, other: &Counts) {
        for (counter, by) in &other.0 {
            self.add(counter.clone(), -by);
        }
    }

    pub fn get(&self, counter: &Counter) -> i64 {
        self.0.get(counter).copied().unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Counter, i64)> {
        self.0.iter().map(|(counter, value)| (counter, *value))
    }
}

impl FromIterator<(Counter, i64)> for Counts {
    fn from_iter<I: IntoIterator<Item = (Counter, i64)>>(iter: I) -> Self {
        let mut counts = Self::default();
        for (counter, by) in iter {
            counts.add(counter, by);
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::common::tenant::TenantId;
    use crate::enrollments::model::Contact;

    fn step() -> Ulid {
        Ulid::from_parts(1, 7)
    }

    fn enrollment() -> Enrollment {
        let at = Utc.with_ymd_and_hms(2026, 3, 2, 12, 0, 0).unwrap();
        let contact = Contact {
            phone: "+5511987654321".into(),
            name: None,
            time_zone: None,
            attributes: Default::default(),
        };
        Enrollment {
            next_send_at: Some(at),
            ..Enrollment::started(
                TenantId::parse("acme").unwrap(),
                Ulid::from_parts(1, 1),
                Ulid::from_parts(1, 2),
                contact,
                step(),
                at,
            )
        }
    }

    fn sent(e: &mut Enrollment) -> &mut HistoryEntry {
        let mut entry = HistoryEntry::new(step(), e.enrolled_at, Outcome::Sent);
        entry.message_id = Some("wamid.1".into());
        entry.status = Some(MessageStatus::Sent);
        entry.category = Some(TemplateCategory::Marketing);
        e.history.push(entry);
        e.history.last_mut().unwrap()
    }

    fn c(counter: StepCounter) -> Counter {
        Counter::Step(step(), counter)
    }

    fn billable(category: TemplateCategory, country: &str) -> Counter {
        c(StepCounter::Billable {
            category,
            country: country.into(),
        })
    }

    #[test]
    fn a_new_enrollment_counts_once_by_status() {
        let e = enrollment();
        let delta = Counts::delta(None, &e);
        assert_eq!(
            delta,
            Counts::from_iter([(Counter::Status(EnrollmentStatus::Active), 1)])
        );
    }

    #[test]
    fn a_send_counts_sent_for_its_step_only() {
        let old = enrollment();
        let mut new = old.clone();
        sent(&mut new);
        new.version += 1;
        assert_eq!(
            Counts::delta(Some(&old), &new),
            Counts::from_iter([(c(StepCounter::Sent), 1)])
        );
    }

    #[test]
    fn a_repeated_status_changes_nothing() {
        let mut old = enrollment();
        let h = sent(&mut old);
        h.delivered = true;
        h.status = Some(MessageStatus::Delivered);
        let mut new = old.clone();
        new.version += 1;
        new.updated_at += chrono::TimeDelta::seconds(5);
        assert!(Counts::delta(Some(&old), &new).is_empty());
    }

    #[test]
    fn read_counts_delivered_too_and_billable_by_country() {
        let mut old = enrollment();
        sent(&mut old);
        let mut new = old.clone();
        let h = new.history.last_mut().unwrap();
        h.read = true;
        h.status = Some(MessageStatus::Read);
        h.billable = true;
        h.category = Some(TemplateCategory::Utility);
        assert_eq!(
            Counts::delta(Some(&old), &new),
            Counts::from_iter([
                (c(StepCounter::Delivered), 1),
                (c(StepCounter::Read), 1),
                (billable(TemplateCategory::Utility, "55"), 1),
            ])
        );
    }

    #[test]
    fn a_billable_message_without_category_counts_as_marketing() {
        let mut old = enrollment();
        old.contact.phone = "+14155552671".into();
        sent(&mut old).category = None;
        let mut new = old.clone();
        new.history[0].billable = true;
        assert_eq!(
            Counts::delta(Some(&old), &new),
            Counts::from_iter([(billable(TemplateCategory::Marketing, "1"), 1)])
        );
    }

    #[test]
    fn a_failed_status_after_a_send_counts_failed_and_keeps_sent() {
        let mut old = enrollment();
        sent(&mut old);
        let mut new = old.clone();
        new.history[0].status = Some(MessageStatus::Failed);
        assert_eq!(
            Counts::delta(Some(&old), &new),
            Counts::from_iter([(c(StepCounter::Failed), 1)])
        );
    }

    #[test]
    fn ending_moves_the_enrollment_between_statuses_and_counts_the_reason() {
        let old = enrollment();
        let mut new = old.clone();
        new.end(EnrollmentStatus::Exited, Some(ExitReason::Replied));
        assert_eq!(
            Counts::delta(Some(&old), &new),
            Counts::from_iter([
                (Counter::Status(EnrollmentStatus::Active), -1),
                (Counter::Status(EnrollmentStatus::Exited), 1),
                (Counter::Exit(ExitReason::Replied), 1),
            ])
        );
    }

    #[test]
    fn a_new_run_keeping_the_history_moves_only_the_status() {
        let mut old = enrollment();
        sent(&mut old).replied = true;
        old.end(EnrollmentStatus::Exited, Some(ExitReason::Replied));
        let mut new = old.clone();
        new.id = Ulid::from_parts(2, 2);
        new.status = EnrollmentStatus::Active;
        new.exit_reason = None;
        assert_eq!(
            Counts::delta(Some(&old), &new),
            Counts::from_iter([
                (Counter::Status(EnrollmentStatus::Exited), -1),
                (Counter::Exit(ExitReason::Replied), -1),
                (Counter::Status(EnrollmentStatus::Active), 1),
            ])
        );
    }

    #[test]
    fn deltas_applied_in_turn_sum_to_the_last_enrollments_counts() {
        let mut e = enrollment();
        let mut total = Counts::delta(None, &e);
        let mut apply = |old: &Enrollment, new: &Enrollment| {
            total.merge(&Counts::delta(Some(old), new));
        };
        let before = e.clone();
        sent(&mut e);
        apply(&before, &e);
        let before = e.clone();
        e.history[0].delivered = true;
        e.history[0].billable = true;
        apply(&before, &e);
        let before = e.clone();
        e.end(EnrollmentStatus::Completed, None);
        apply(&before, &e);
        assert_eq!(total, Counts::of(&e));
    }

    #[test]
    fn names_round_trip() {
        let counters = [
            Counter::Status(EnrollmentStatus::Removed),
            Counter::Exit(ExitReason::SequenceArchived),
            c(StepCounter::Unknown),
            billable(TemplateCategory::Authentication, "351"),
            billable(TemplateCategory::Marketing, ""),
        ];
        for counter in counters {
            assert_eq!(Counter::parse(&counter.name()), Some(counter));
        }
        assert_eq!(Counter::parse("kind"), None);
        assert_eq!(Counter::parse("step.x.sent"), None);
    }
}
