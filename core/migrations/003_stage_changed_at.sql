-- When the job entered its current stage: progress updates touch updated_at on every poll,
-- so "stuck in a stage" alerts need their own clock.
ALTER TABLE jobs ADD COLUMN stage_changed_at timestamptz NOT NULL DEFAULT now();
UPDATE jobs SET stage_changed_at = updated_at;
