-- Indexes for the job list and the stats (store/job_listing.py).
--
-- A page of the list is newest first with ties broken by id, under any combination of the
-- tenant and status filters: one index per combination, keyed in exactly that order, so a
-- page (at any offset) is read from the index without a sort. The provider filter and the
-- stats' columns ride along as INCLUDE columns: the provider filter and the totals are then
-- answered from the index alone (index-only scans), never from the wide job rows. None of
-- these columns changes while a job reports progress, so those frequent updates stay HOT.
CREATE INDEX jobs_page ON jobs (created_at DESC, id) INCLUDE (provider);
CREATE INDEX jobs_page_status ON jobs (status, created_at DESC, id) INCLUDE (provider);
CREATE INDEX jobs_page_tenant_status ON jobs (tenant_id, status, created_at DESC, id)
    INCLUDE (provider);
CREATE INDEX jobs_page_tenant ON jobs (tenant_id, created_at DESC, id)
    INCLUDE (provider, status, base_model, training_cost, training_tokens, training_duration);
-- Same leading columns as the new ones above.
DROP INDEX jobs_tenant_created;
DROP INDEX jobs_status;

-- The per-stage gauges count unfinished jobs only.
CREATE INDEX jobs_unfinished_stage ON jobs (stage, stage_changed_at) WHERE status_rank < 9;

-- Evaluation and promotion totals by tenant and creation time, from the index alone.
CREATE INDEX evaluations_tenant_status ON evaluations (tenant_id, created_at) INCLUDE (status);
CREATE INDEX promotions_tenant ON promotions (tenant_id, created_at) INCLUDE (promoted);
