//! The reconciler: nothing stays stuck. Every so often (a scheduled function each minute in the
//! stack, a background task on `ritmo-local`) it reads the overdue index and
//! - fires again every planned step overdue by more than the grace period: its schedule or its
//!   queued job was lost, expired or dead-lettered;
//! - records `unknown` for every step claimed longer ago than the claim timeout with no outcome
//!   (a sender that died between the claim and the record): never sent again, the run goes on.
//!
//! Both act only on the run as the index read it (the same plan, the same claim), through the
//! same conditional writes as the sender, so a reconciler racing a late sender, a redriven job or
//! another reconciler changes nothing twice.

use std::sync::Arc;

use chrono::TimeDelta;

use crate::common::clock::Clock;
use crate::common::error::DomainError;
use crate::delivery::sender::Sender;
use crate::enrollments::model::Pending;
use crate::enrollments::store::EnrollmentStore;

/// How long the reconciler waits before it acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconcileSettings {
    /// A planned step this far past its instant is taken as lost.
    pub grace: TimeDelta,
    /// A claim this old with no outcome is taken as abandoned.
    pub claim_timeout: TimeDelta,
    /// Runs read from the index per page.
    pub page: usize,
    /// Pages one pass reads at most (the next pass goes on).
    pub max_pages: usize,
}

impl Default for ReconcileSettings {
    fn default() -> Self {
        Self {
            grace: TimeDelta::minutes(10),
            claim_timeout: TimeDelta::minutes(15),
            page: 200,
            max_pages: 50,
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Reconciled {
    /// Planned steps fired again.
    pub refired: usize,
    /// Abandoned claims recorded as `unknown`.
    pub unknown: usize,
    /// Overdue runs another writer had moved on meanwhile.
    pub moved_on: usize,
}

#[derive(Clone)]
pub struct Reconciler {
    clock: Arc<dyn Clock>,
    enrollments: Arc<dyn EnrollmentStore>,
    sender: Sender,
    settings: ReconcileSettings,
}

impl Reconciler {
    pub fn new(
        clock: Arc<dyn Clock>,
        enrollments: Arc<dyn EnrollmentStore>,
        sender: Sender,
        settings: ReconcileSettings,
    ) -> Self {
        Self {
            clock,
            enrollments,
            sender,
            settings,
        }
    }

    pub fn settings(&self) -> ReconcileSettings {
        self.settings
    }

    /// One pass over the overdue index.
    pub async fn run(&self) -> Result<Reconciled, DomainError> {
        let mut done = Reconciled::default();
        for pending in [Pending::Planned, Pending::Claimed] {
            let wait = match pending {
                Pending::Planned => self.settings.grace,
                Pending::Claimed => self.settings.claim_timeout,
            };
            for _ in 0..self.settings.max_pages {
                let before = self.clock.now() - wait;
                let runs = self
                    .enrollments
                    .overdue(pending, before, self.settings.page)
                    .await?;
                let mut acted = 0;
                for run in &runs {
                    let changed = match pending {
                        Pending::Planned => self.sender.refire(run).await?,
                        Pending::Claimed => self.sender.expire_claim(run).await?,
                    };
                    match (changed, pending) {
                        (true, Pending::Planned) => done.refired += 1,
                        (true, Pending::Claimed) => done.unknown += 1,
                        (false, _) => done.moved_on += 1,
                    }
                    if changed {
                        acted += 1;
                        tracing::warn!(
                            tenant = %run.tenant,
                            sequence_id = %run.sequence_id,
                            since = %run.since,
                            pending = ?pending,
                            "overdue step reconciled"
                        );
                    }
                }
                // A short page is the end; a page where nothing moved would come back the same.
                if runs.len() < self.settings.page || acted == 0 {
                    break;
                }
            }
        }
        if done != Reconciled::default() {
            tracing::info!(
                refired = done.refired,
                unknown = done.unknown,
                moved_on = done.moved_on,
                "reconciler pass"
            );
        }
        Ok(done)
    }
}
