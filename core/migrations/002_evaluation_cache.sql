-- Evaluation mechanics: the response cache that makes re-runs free and reproducible, the
-- training-prompt fingerprints the contamination check compares against, and the custom
-- suites an evaluation ran (fetched once, so every suite activity grades the same samples).

CREATE TABLE completion_cache (
    key        bytea PRIMARY KEY,      -- sha256 of the canonical request (model, input, params)
    kind       text NOT NULL,          -- chat | moderation
    model      text NOT NULL,
    response   jsonb NOT NULL,         -- the provider's response, as returned
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX completion_cache_model ON completion_cache (model);

CREATE TABLE training_fingerprints (
    job_id      uuid NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    fingerprint bigint NOT NULL,       -- 8-byte hash of a normalised training prompt
    PRIMARY KEY (job_id, fingerprint)
);

CREATE TABLE evaluation_custom_suites (
    evaluation_id uuid NOT NULL REFERENCES evaluations(id) ON DELETE CASCADE,
    name          text NOT NULL,
    source        text NOT NULL,       -- 'inline' or the URI it came from (redacted)
    sha256        text,                -- of the fetched file
    suite         jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (evaluation_id, name)
);
