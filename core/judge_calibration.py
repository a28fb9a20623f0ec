"""Judge calibration payload types (no I/O): how far the rubric judge agrees with human
verdicts on a suite's gold set, and what an evaluation records about its judge."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# `calibrated`: the stored agreement for this judge model + prompt version reaches the
# floor; `uncalibrated`: it does not; `unknown`: never calibrated for this judge and
# prompt version (or the suite has no gold set). Only `calibrated` suites are trusted.
CalibrationStatus = Literal["calibrated", "uncalibrated", "unknown"]
DEFAULT_AGREEMENT_FLOOR = 0.8


class Confusion(BaseModel):
    """Judge verdicts against human ones (the truth): a "positive" is a pass."""

    model_config = ConfigDict(frozen=True)

    tp: int = Field(default=0, ge=0)  # both pass
    fp: int = Field(default=0, ge=0)  # the judge passes what the human failed
    fn: int = Field(default=0, ge=0)  # the judge fails what the human passed
    tn: int = Field(default=0, ge=0)  # both fail

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn


class SuiteCalibration(BaseModel):
    """One calibration run of one judge (model + prompt version) over one suite's gold set."""

    model_config = ConfigDict(frozen=True)

    suite: str
    judge_model: str
    prompt_version: str
    gold_sha256: str  # of the gold file: a relabelled set needs a new calibration
    n: int = Field(ge=0)
    errored: int = Field(default=0, ge=0)  # judge calls that gave no verdict
    agreement: float | None = Field(ge=0.0, le=1.0)
    # None when undefined: both raters used one class only (chance agreement is 1).
    kappa: float | None
    confusion: Confusion


class SuiteJudgeStatus(BaseModel):
    """What the evaluation knows about its judge on one model-graded suite."""

    model_config = ConfigDict(frozen=True)

    suite: str
    status: CalibrationStatus
    agreement: float | None = None
    kappa: float | None = None
    n: int | None = None


class JudgeRecord(BaseModel):
    """The judge an evaluation used and whether each model-graded suite may trust it."""

    model_config = ConfigDict(frozen=True)

    model: str
    prompt_version: str
    agreement_floor: float = Field(default=DEFAULT_AGREEMENT_FLOOR, ge=0.0, le=1.0)
    suites: list[SuiteJudgeStatus] = Field(default_factory=list)

    @property
    def untrusted(self) -> list[SuiteJudgeStatus]:
        return [s for s in self.suites if s.status != "calibrated"]
