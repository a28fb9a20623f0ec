-- A training step's learning rate and (fractional) epoch, where the provider reports them
-- (the self-hosted trainer does; OpenAI's events do not, so its rows keep NULL).
ALTER TABLE job_metrics
    ADD COLUMN learning_rate double precision,
    ADD COLUMN epoch         double precision;
