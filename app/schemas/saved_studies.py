"""Studies saved from a Compare selection and re-run with overrides (issue 12 §7).

A saved study is the runs that carry the tag `study:<name>`; its **configurations** are
their configs with the name and seed set aside, and re-running queues every configuration
× seed with the overrides, tagged alike, so the study page reads mean ± std per
configuration like the reference table.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.schemas.runs import MAX_ID, RunRead

STUDY_TAG = "study:"
STUDY_NAME = r"^[A-Za-z0-9_.+-]{1,34}$"  # a tag once prefixed (40 characters), and a URL segment
MAX_SEEDS = 20


class SavedStudyCreate(BaseModel):
    """Save runs (a Compare selection) as the study `name`; saving to an existing name adds to it."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(pattern=STUDY_NAME, description="letters, digits, - _ . + (at most 34)")]
    run_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(min_length=1, max_length=200)


class StudyRerun(BaseModel):
    """Run every configuration of a study again: once per seed, with these fields changed."""

    model_config = ConfigDict(extra="forbid")

    seeds: list[int] = Field(default=[0], min_length=1, max_length=MAX_SEEDS)
    epochs: Annotated[int, Field(ge=1)] | None = None
    dataset: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        default=None, description="a dataset name (its default split), or uploads/<name>"
    )
    backbone: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        default=None, description="stage LRs carry over where the new backbone has the stage"
    )
    queue: Annotated[str, Field(max_length=64)] | None = None

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds):
            raise ValueError("each seed once")
        return seeds


class StudyGroup(BaseModel):
    """One configuration of a study: its runs and their accuracy as mean ± std (sample std, n ≥ 2)."""

    label: str
    description: str
    run_ids: list[int]
    seeds: list[int]
    finished: int = Field(description="runs of it that succeeded (the statistics use these)")
    test_acc_mean: float | None
    test_acc_std: float | None
    val_acc_mean: float | None
    val_acc_std: float | None
    train_acc_mean: float | None


class SavedStudySummary(BaseModel):
    name: str
    runs: int
    configurations: int


class SavedStudyRead(SavedStudySummary):
    """The study's runs and, per configuration, the reference table's numbers."""

    groups: list[StudyGroup]
    members: list[RunRead]
