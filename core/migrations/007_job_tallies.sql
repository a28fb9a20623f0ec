-- Running totals of jobs per (tenant, status, provider, base model), kept by triggers in
-- the same transaction as each change to a job, so a list's `total` and the stats are sums
-- over a few hundred rows instead of counts over every job (store/job_listing.py).
CREATE TABLE job_tallies (
    tenant_id       text NOT NULL,
    status          text NOT NULL,
    provider        text NOT NULL,
    base_model      text NOT NULL,
    jobs            bigint NOT NULL DEFAULT 0,
    training_cost   numeric NOT NULL DEFAULT 0,  -- exact, so adding and removing never drifts
    training_tokens numeric NOT NULL DEFAULT 0,
    duration_sum    numeric NOT NULL DEFAULT 0,
    durations       bigint NOT NULL DEFAULT 0,   -- jobs with a training duration
    PRIMARY KEY (tenant_id, status, provider, base_model)
);

CREATE FUNCTION job_tallies_add(j jobs, sign integer) RETURNS void LANGUAGE sql AS $$
    INSERT INTO job_tallies AS t
    VALUES (j.tenant_id, j.status, j.provider, j.base_model, sign,
            sign * COALESCE(j.training_cost::numeric, 0), sign * COALESCE(j.training_tokens, 0),
            sign * COALESCE(j.training_duration, 0), sign * (j.training_duration IS NOT NULL)::int)
    ON CONFLICT (tenant_id, status, provider, base_model) DO UPDATE SET
        jobs = t.jobs + EXCLUDED.jobs,
        training_cost = t.training_cost + EXCLUDED.training_cost,
        training_tokens = t.training_tokens + EXCLUDED.training_tokens,
        duration_sum = t.duration_sum + EXCLUDED.duration_sum,
        durations = t.durations + EXCLUDED.durations
$$;

CREATE FUNCTION job_tallies_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM job_tallies_add(OLD, -1);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        PERFORM job_tallies_add(NEW, 1);
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION job_tallies_clear() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM job_tallies;
    RETURN NULL;
END
$$;

-- Progress polls update other columns only: these triggers do not fire for them.
CREATE TRIGGER jobs_tally AFTER INSERT OR DELETE ON jobs
    FOR EACH ROW EXECUTE FUNCTION job_tallies_track();
CREATE TRIGGER jobs_tally_change
    AFTER UPDATE OF tenant_id, status, provider, base_model, training_cost, training_tokens,
                    training_duration ON jobs
    FOR EACH ROW
    WHEN ((OLD.tenant_id, OLD.status, OLD.provider, OLD.base_model, OLD.training_cost,
           OLD.training_tokens, OLD.training_duration)
          IS DISTINCT FROM
          (NEW.tenant_id, NEW.status, NEW.provider, NEW.base_model, NEW.training_cost,
           NEW.training_tokens, NEW.training_duration))
    EXECUTE FUNCTION job_tallies_track();
CREATE TRIGGER jobs_tally_truncate AFTER TRUNCATE ON jobs
    FOR EACH STATEMENT EXECUTE FUNCTION job_tallies_clear();

-- The jobs so far. CREATE TRIGGER has locked `jobs` against writes until this migration
-- commits, so no change falls between this count and the triggers.
INSERT INTO job_tallies
SELECT tenant_id, status, provider, base_model, count(*),
       COALESCE(sum(training_cost::numeric), 0), COALESCE(sum(training_tokens), 0),
       COALESCE(sum(training_duration), 0), count(training_duration)
FROM jobs
GROUP BY tenant_id, status, provider, base_model;

-- Stats since a time for every tenant read the jobs created since then from the index alone.
DROP INDEX jobs_page;
CREATE INDEX jobs_page ON jobs (created_at DESC, id)
    INCLUDE (provider, tenant_id, status, base_model, training_cost, training_tokens,
             training_duration);
