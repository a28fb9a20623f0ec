-- Concurrency guards enforced by the database, so they hold across API replicas.

-- One evaluation in flight per job: a second concurrent start conflicts instead of running
-- twice. Older duplicates still in flight (from before this guard) are closed first.
UPDATE evaluations e SET status = 'error', passed = false, updated_at = now(),
    completed_at = now(), error_message = 'superseded by a concurrent evaluation of the job'
WHERE e.status IN ('pending', 'running')
  AND EXISTS (
      SELECT 1 FROM evaluations newer
      WHERE newer.job_id = e.job_id AND newer.status IN ('pending', 'running')
        AND (newer.created_at, newer.id) > (e.created_at, e.id)
  );
CREATE UNIQUE INDEX evaluations_one_in_flight ON evaluations (job_id)
    WHERE status IN ('pending', 'running');

-- One on-demand promotion per (job, evaluation): repeated or concurrent requests reuse the
-- row (and re-run its workflow) instead of adding one each time. NULL for older rows and
-- for the training workflow's own promotion.
ALTER TABLE promotions ADD COLUMN request_key text;
CREATE UNIQUE INDEX promotions_one_per_request ON promotions (job_id, request_key)
    WHERE request_key IS NOT NULL;

-- sha256 of the canonical create request, so an Idempotency-Key replay with any other
-- body is refused. NULL for jobs created before this column.
ALTER TABLE jobs ADD COLUMN request_sha256 text;
