-- Samples excluded from the score because their prompt is in the job's training data.
ALTER TABLE evaluation_samples ADD COLUMN contaminated boolean NOT NULL DEFAULT false;
