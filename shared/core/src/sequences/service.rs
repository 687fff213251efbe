//! Sequences and steps: the admin operations, and activation, pause, resume and archive.

use ulid::Ulid;

use std::sync::Arc;

use crate::channels::model::same_language;
use crate::channels::store::{BotStore, ChannelStore};
use crate::common::clock::Clock;
use crate::common::error::DomainError;
use crate::common::ids::IdGen;
use crate::common::page::{Page, PageRequest};
use crate::common::store::Expect;
use crate::common::tenant::TenantId;
use crate::common::validate::Problems;
use crate::delivery::ports::Messenger;
use crate::enrollments::model::EnrollmentStatus;
use crate::jobs::{Job, JobKind, JobService};
use crate::sequences::model::{
    check_step, check_time_zone, step_view, Action, CheckedAction, CheckedStep, MoveInput,
    Sequence, SequenceInput, SequencePatch, SequenceStatus, SequenceView, Step, StepInput,
    StepView,
};
use crate::sequences::store::SequenceStore;
use crate::sequences::template::check_components;
pub use crate::sequences::transitions::load_sequence;
use crate::sequences::transitions::{archived, write_error, SequenceTransitions};

/// Most steps one sequence may have.
pub const MAX_STEPS: usize = 50;

/// Sequences and their steps: create, edit, activate, pause, resume, archive.
#[derive(Clone)]
pub struct SequenceService {
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGen>,
    sequences: Arc<dyn SequenceStore>,
    channels: Arc<dyn ChannelStore>,
    bots: Arc<dyn BotStore>,
    messenger: Arc<dyn Messenger>,
    state: SequenceTransitions,
    jobs: JobService,
}

impl SequenceService {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGen>,
        sequences: Arc<dyn SequenceStore>,
        channels: Arc<dyn ChannelStore>,
        bots: Arc<dyn BotStore>,
        messenger: Arc<dyn Messenger>,
        jobs: JobService,
    ) -> Self {
        Self {
            state: SequenceTransitions::new(clock.clone(), sequences.clone()),
            clock,
            ids,
            sequences,
            channels,
            bots,
            messenger,
            jobs,
        }
    }

    pub async fn sequence(&self, tenant: &TenantId, id: Ulid) -> Result<Sequence, DomainError> {
        load_sequence(&*self.sequences, tenant, id).await
    }

    pub async fn create_sequence(
        &self,
        tenant: &TenantId,
        input: SequenceInput,
    ) -> Result<SequenceView, DomainError> {
        let mut p = Problems::new();
        let name = p.text("name", &input.name, 1, 120);
        let time_zone = check_time_zone(&mut p, "time_zone", &input.time_zone);
        p.into_result()?;
        let now = self.clock.now();
        let sequence = Sequence {
            tenant: tenant.clone(),
            id: self.ids.new_id(),
            name,
            status: SequenceStatus::Draft,
            status_reason: None,
            time_zone,
            exit_on_reply: input.exit_on_reply,
            steps: Vec::new(),
            template_notices: Vec::new(),
            created_at: now,
            updated_at: now,
            version: 1,
            counted: true,
        };
        self.sequences
            .put_sequence(&sequence, Expect::Absent)
            .await
            .map_err(write_error)?;
        tracing::info!(tenant = %tenant, sequence_id = %sequence.id, "sequence created");
        Ok(sequence.into())
    }

    pub async fn list_sequences(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<SequenceView>, DomainError> {
        Ok(self
            .sequences
            .list_sequences(tenant, page)
            .await?
            .map(SequenceView::from))
    }

    pub async fn update_sequence(
        &self,
        tenant: &TenantId,
        id: Ulid,
        patch: SequencePatch,
    ) -> Result<SequenceView, DomainError> {
        let mut p = Problems::new();
        let name = patch.name.as_deref().map(|n| p.text("name", n, 1, 120));
        let time_zone = patch
            .time_zone
            .as_deref()
            .map(|z| check_time_zone(&mut p, "time_zone", z));
        p.into_result()?;
        let (sequence, ()) = self
            .state
            .mutate(tenant, id, |s| {
                not_archived(s)?;
                if let Some(name) = &name {
                    s.name = name.clone();
                }
                if let Some(zone) = &time_zone {
                    s.time_zone = zone.clone();
                }
                if let Some(exit) = patch.exit_on_reply {
                    s.exit_on_reply = exit;
                }
                Ok(())
            })
            .await?;
        Ok(sequence.into())
    }

    /// Checks a step against its channel: the template must exist in that language (as Meta
    /// spells it, case and `-`/`_` aside), be approved, take as many body parameters as given,
    /// and have the header and buttons given ([`check_components`]); a chatbot's bot must exist.
    async fn resolve_step(
        &self,
        tenant: &TenantId,
        id: Ulid,
        checked: CheckedStep,
    ) -> Result<Step, DomainError> {
        let channel = self
            .channels
            .get_channel(tenant, checked.channel_id)
            .await?
            .ok_or_else(|| DomainError::unprocessable("channel_id", "no such channel"))?;
        let action = match checked.action {
            CheckedAction::Template {
                name,
                language,
                parameters,
                header,
                buttons,
            } => {
                let templates = self.messenger.templates(&channel).await.map_err(|e| {
                    tracing::warn!(error = %e, channel_id = %channel.id, "template look-up failed");
                    DomainError::Unavailable(
                        "could not look the template up with WhatsApp; try again".into(),
                    )
                })?;
                let found = templates.iter().find(|t| t.name == name && same_language(&t.language, &language)).ok_or_else(|| {
                    DomainError::unprocessable(
                        "action.name",
                        format!("template '{name}' does not exist in language '{language}' on this channel"),
                    )
                })?;
                if !found.is_approved() {
                    return Err(DomainError::unprocessable(
                        "action.name",
                        format!(
                            "template '{name}' ({language}) is {}, not APPROVED",
                            found.status
                        ),
                    ));
                }
                if found.body_parameters as usize != parameters.len() {
                    return Err(DomainError::unprocessable(
                        "action.parameters",
                        format!(
                            "template '{name}' takes {} body parameter(s), {} given",
                            found.body_parameters,
                            parameters.len()
                        ),
                    ));
                }
                check_components(found, header.as_ref(), &buttons)?;
                Action::Template {
                    name,
                    // As Meta spells it, which its webhooks use.
                    language: found.language.clone(),
                    parameters,
                    header,
                    buttons,
                    parameter_names: found.parameter_names(),
                    category: Some(found.category),
                }
            }
            CheckedAction::Chatbot { bot_id } => {
                if self.bots.get_bot(tenant, bot_id).await?.is_none() {
                    return Err(DomainError::unprocessable("action.bot_id", "no such bot"));
                }
                Action::Chatbot { bot_id }
            }
        };
        Ok(Step {
            id,
            channel_id: channel.id,
            action,
            delay: checked.delay,
            window: checked.window,
        })
    }

    async fn checked_step(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
        step_id: Ulid,
        input: &StepInput,
    ) -> Result<Step, DomainError> {
        let sequence = load_sequence(&*self.sequences, tenant, sequence_id).await?;
        not_archived(&sequence)?;
        let checked = check_step(input, &sequence.time_zone)?;
        self.resolve_step(tenant, step_id, checked).await
    }

    pub async fn add_step(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
        input: StepInput,
    ) -> Result<StepView, DomainError> {
        let step = self
            .checked_step(tenant, sequence_id, self.ids.new_id(), &input)
            .await?;
        let (_, position) = self
            .state
            .mutate(tenant, sequence_id, |s| {
                not_archived(s)?;
                if s.steps.len() >= MAX_STEPS {
                    return Err(DomainError::Conflict(format!(
                        "a sequence has at most {MAX_STEPS} steps"
                    )));
                }
                let position = input
                    .position
                    .map_or(s.steps.len(), |p| p as usize)
                    .min(s.steps.len());
                s.steps.insert(position, step.clone());
                Ok(position)
            })
            .await?;
        Ok(step_view(position, step))
    }

    pub async fn replace_step(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
        step_id: Ulid,
        input: StepInput,
    ) -> Result<StepView, DomainError> {
        load_sequence(&*self.sequences, tenant, sequence_id)
            .await?
            .position(step_id)
            .ok_or(DomainError::NotFound("step"))?;
        let step = self
            .checked_step(tenant, sequence_id, step_id, &input)
            .await?;
        let (_, position) = self
            .state
            .mutate(tenant, sequence_id, |s| {
                not_archived(s)?;
                let position = s.position(step_id).ok_or(DomainError::NotFound("step"))?;
                s.steps[position] = step.clone();
                if let Some(to) = input.position {
                    let moved = s.steps.remove(position);
                    let to = (to as usize).min(s.steps.len());
                    s.steps.insert(to, moved);
                    return Ok(to);
                }
                Ok(position)
            })
            .await?;
        Ok(step_view(position, step))
    }

    pub async fn delete_step(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
        step_id: Ulid,
    ) -> Result<(), DomainError> {
        self.state
            .mutate(tenant, sequence_id, |s| {
                not_archived(s)?;
                let position = s.position(step_id).ok_or(DomainError::NotFound("step"))?;
                s.steps.remove(position);
                Ok(())
            })
            .await?;
        Ok(())
    }

    pub async fn move_step(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
        step_id: Ulid,
        input: MoveInput,
    ) -> Result<SequenceView, DomainError> {
        let (sequence, ()) = self
            .state
            .mutate(tenant, sequence_id, |s| {
                not_archived(s)?;
                let position = s.position(step_id).ok_or(DomainError::NotFound("step"))?;
                // Past the end means last.
                let step = s.steps.remove(position);
                let to = (input.position as usize).min(s.steps.len());
                s.steps.insert(to, step);
                Ok(())
            })
            .await?;
        Ok(sequence.into())
    }

    /// `draft|paused → active`; from paused it resumes (held steps are planned again by a
    /// background job).
    pub async fn activate_sequence(
        &self,
        tenant: &TenantId,
        id: Ulid,
    ) -> Result<SequenceView, DomainError> {
        let (sequence, was) = self
            .state
            .mutate(tenant, id, |s| {
                if s.steps.is_empty() {
                    return Err(DomainError::Conflict(
                        "a sequence needs at least one step to be activated".into(),
                    ));
                }
                let was = s.status;
                match was {
                    SequenceStatus::Draft | SequenceStatus::Paused => {
                        s.status = SequenceStatus::Active;
                        s.status_reason = None;
                    }
                    SequenceStatus::Active => {}
                    SequenceStatus::Archived => return Err(archived()),
                }
                Ok(was)
            })
            .await?;
        if was == SequenceStatus::Paused {
            self.schedule_held(&sequence).await?;
        }
        Ok(sequence.into())
    }

    pub async fn pause_sequence(
        &self,
        tenant: &TenantId,
        id: Ulid,
    ) -> Result<SequenceView, DomainError> {
        self.state
            .pause_with_reason(tenant, id, None)
            .await
            .map(SequenceView::from)
    }

    /// `paused → active` at once; every held step is planned again by a background job (the
    /// job answered).
    pub async fn resume_sequence(&self, tenant: &TenantId, id: Ulid) -> Result<Job, DomainError> {
        let (sequence, ()) = self
            .state
            .mutate(tenant, id, |s| match s.status {
                SequenceStatus::Paused => {
                    s.status = SequenceStatus::Active;
                    s.status_reason = None;
                    Ok(())
                }
                SequenceStatus::Active => Ok(()),
                SequenceStatus::Draft => Err(DomainError::Conflict(
                    "a draft sequence is started with /activate".into(),
                )),
                SequenceStatus::Archived => Err(archived()),
            })
            .await?;
        self.schedule_held(&sequence).await
    }

    /// Archives the sequence at once; a background job ends its active enrollments
    /// (`sequence_archived`) and deletes their pending schedules (the job answered). Archiving
    /// again starts another walk, which finds only what the first left.
    pub async fn archive_sequence(&self, tenant: &TenantId, id: Ulid) -> Result<Job, DomainError> {
        self.state
            .mutate(tenant, id, |s| {
                s.status = SequenceStatus::Archived;
                Ok(())
            })
            .await?;
        tracing::info!(tenant = %tenant, sequence_id = %id, "sequence archived");
        self.jobs
            .start(
                tenant,
                JobKind::ArchiveSequence,
                id,
                EnrollmentStatus::Active,
            )
            .await
    }

    /// Starts the job that plans every held step of an active sequence for its next allowed
    /// instant from then.
    async fn schedule_held(&self, sequence: &Sequence) -> Result<Job, DomainError> {
        self.jobs
            .start(
                &sequence.tenant,
                JobKind::ResumeSequence,
                sequence.id,
                EnrollmentStatus::Active,
            )
            .await
    }
}

fn not_archived(sequence: &Sequence) -> Result<(), DomainError> {
    if sequence.status == SequenceStatus::Archived {
        Err(archived())
    } else {
        Ok(())
    }
}
