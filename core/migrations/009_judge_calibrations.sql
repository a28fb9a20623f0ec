-- Judge calibration: each run of the rubric judge over a suite's gold set (answers with a
-- human verdict), per judge model and prompt version. An evaluation reads the latest run
-- for its judge to say whether each model-graded suite may trust it.

CREATE TABLE judge_calibrations (
    id             bigserial PRIMARY KEY,
    suite          text NOT NULL,
    judge_model    text NOT NULL,
    prompt_version text NOT NULL,
    gold_sha256    text NOT NULL,     -- of the gold file the run graded
    n              integer NOT NULL,  -- gold items graded (errored ones included)
    errored        integer NOT NULL,  -- judge calls that gave no verdict
    agreement      double precision,  -- share of verdicts matching the human's
    kappa          double precision,  -- Cohen's kappa; NULL when undefined
    tp integer NOT NULL, fp integer NOT NULL, fn integer NOT NULL, tn integer NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX judge_calibrations_latest
    ON judge_calibrations (judge_model, prompt_version, suite, created_at DESC, id DESC);
