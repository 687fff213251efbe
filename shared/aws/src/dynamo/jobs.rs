//! Jobs, under a version condition; unfinished ones also on gsi1 (`JOBS#OPEN`), a sparse
//! partition a runner starting up reads.

use ritmo_core::jobs::model::Job;
use ritmo_core::jobs::store::JobStore;

use super::*;

#[async_trait]
impl JobStore for DynamoStore {
    async fn put_job(&self, job: &Job, expect: Expect) -> Result<(), WriteError> {
        let mut keys = vec![(PK, keys::tenant(&job.tenant)), (SK, keys::job(job.id))];
        if !job.status.is_finished() {
            keys.push((GSI1PK, keys::OPEN_JOBS.to_string()));
            keys.push((GSI1SK, keys::open_job(&job.tenant, job.id)));
        }
        let item = to_item(job, "job", keys)?;
        self.put_expecting(job, item, expect, Absent::NoItem).await
    }

    async fn get_job(&self, tenant: &TenantId, id: Ulid) -> Result<Option<Job>, PortError> {
        self.get(keys::tenant(tenant), keys::job(id)).await
    }

    async fn list_jobs(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Job>, PortError> {
        self.list(
            Listing {
                pk: keys::tenant(tenant),
                prefix: "JOB#".into(),
                on_gsi1: false,
            },
            page,
        )
        .await
    }

    async fn unfinished_jobs(&self, limit: usize) -> Result<Vec<(TenantId, Ulid)>, PortError> {
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI1)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", GSI1PK)
                .expression_attribute_values(":pk", s(keys::OPEN_JOBS))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk_error("DynamoDB Query (unfinished jobs) failed"))?;
            let entries = out.items.unwrap_or_default();
            for item in self.indexed_items(entries, "unfinished jobs").await? {
                let job: Job = from_item(item)?;
                if !job.status.is_finished() {
                    found.push((job.tenant, job.id));
                }
                if found.len() >= limit {
                    return Ok(found);
                }
            }
            match out.last_evaluated_key {
                Some(last) if !last.is_empty() => start = Some(last),
                _ => return Ok(found),
            }
        }
    }
}
