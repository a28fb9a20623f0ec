-- Projection of training jobs, their provider events/metrics, evaluations and promotions.
-- Temporal holds the running truth; these tables serve lists, filters and stats.

CREATE TABLE jobs (
    id                uuid PRIMARY KEY,
    tenant_id         text NOT NULL,
    name              text NOT NULL,
    description       text,
    status            text NOT NULL DEFAULT 'pending',
    status_rank       smallint NOT NULL DEFAULT 0,
    stage             text NOT NULL DEFAULT 'accepted',
    provider          text NOT NULL,
    base_model        text NOT NULL,
    dataset_uri       text NOT NULL,
    config            jsonb NOT NULL,
    policy            jsonb NOT NULL,
    datasheet         jsonb NOT NULL,
    idempotency_key   text,
    workflow_id       text NOT NULL,
    provider_job_id   text,
    provider_file_id  text,
    provider_model_id text,
    provider_metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    progress          jsonb NOT NULL DEFAULT '{}'::jsonb,
    validation_report jsonb,
    training_tokens   bigint,
    training_cost     double precision,
    training_duration integer,
    error_message     text,
    error_code        text,
    retry_count       integer NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,
    completed_at      timestamptz,
    UNIQUE (tenant_id, idempotency_key)
);
CREATE INDEX jobs_tenant_created ON jobs (tenant_id, created_at DESC);
CREATE INDEX jobs_status ON jobs (status);

CREATE TABLE job_events (
    seq               bigint GENERATED ALWAYS AS IDENTITY,  -- arrival order (oldest first)
    job_id            uuid NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    provider_event_id text NOT NULL,
    created_at        timestamptz NOT NULL,
    level             text NOT NULL,
    type              text NOT NULL,
    message           text NOT NULL,
    data              jsonb,
    PRIMARY KEY (job_id, provider_event_id)
);
CREATE INDEX job_events_order ON job_events (job_id, seq);

CREATE TABLE job_metrics (
    job_id         uuid NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    step           integer NOT NULL,
    total_steps    integer,
    train_loss     double precision,
    valid_loss     double precision,
    train_accuracy double precision,
    valid_accuracy double precision,
    recorded_at    timestamptz NOT NULL,
    PRIMARY KEY (job_id, step)
);

CREATE TABLE evaluations (
    id              uuid PRIMARY KEY,
    job_id          uuid NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    tenant_id       text NOT NULL,
    name            text NOT NULL,
    description     text,
    status          text NOT NULL DEFAULT 'pending',
    harness_config  jsonb NOT NULL DEFAULT '{}'::jsonb,
    thresholds      jsonb NOT NULL DEFAULT '{}'::jsonb,
    model           text,
    baseline_model  text,
    pedagogy_score  double precision,
    safety_score    double precision,
    overall_score   double precision,
    passed          boolean,
    results         jsonb NOT NULL DEFAULT '{}'::jsonb,
    metrics         jsonb NOT NULL DEFAULT '{}'::jsonb,
    error_message   text,
    retry_count     integer NOT NULL DEFAULT 0,
    workflow_id     text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    completed_at    timestamptz
);
CREATE INDEX evaluations_job ON evaluations (job_id, created_at DESC);
CREATE INDEX evaluations_tenant ON evaluations (tenant_id, created_at DESC);

CREATE TABLE evaluation_samples (
    evaluation_id uuid NOT NULL REFERENCES evaluations(id) ON DELETE CASCADE,
    role          text NOT NULL,          -- candidate | baseline
    suite         text NOT NULL,
    sample_id     text NOT NULL,
    model         text NOT NULL,
    input         jsonb NOT NULL,
    output        text,
    verdicts      jsonb NOT NULL,
    score         double precision,
    passed        boolean,
    errored       boolean NOT NULL,
    error         text,
    PRIMARY KEY (evaluation_id, role, suite, sample_id)
);

CREATE TABLE promotions (
    id                  uuid PRIMARY KEY,
    job_id              uuid NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    evaluation_id       uuid REFERENCES evaluations(id) ON DELETE SET NULL,
    tenant_id           text NOT NULL,
    registry_model_id   text,
    registry_version_id text,
    registry_binding_id text,
    promoted            boolean NOT NULL DEFAULT false,
    forced              boolean NOT NULL DEFAULT false,
    promotion_reason    text,
    promotion_metadata  jsonb NOT NULL DEFAULT '{}'::jsonb,
    decision            jsonb NOT NULL DEFAULT '{}'::jsonb,
    error_message       text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX promotions_job ON promotions (job_id, created_at DESC);
