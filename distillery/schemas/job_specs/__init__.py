"""The job body: one model per method, discriminated by `method` (see base.py), and the
typed spec a job row stores (see stored.py).

Adding a method: a module here with its params and its model (a JobCreate subclass with
its own `key`), imported below, and its plug-in in distillery/methods/registry.py.
"""

from distillery.schemas.job_specs.base import (
    Budget,
    CommonParams,
    DocumentIn,
    Generator,
    JobCreate,
    SeedIn,
    Skill,
    SubtopicIn,
    TeacherShare,
    TopicIn,
)
from distillery.schemas.job_specs.evol import Evol, EvolInstructJob, EvolParams
from distillery.schemas.job_specs.feedback import FeedbackJob, FeedbackParams
from distillery.schemas.job_specs.from_sources import CurateJob, CurateParams
from distillery.schemas.job_specs.label import LabelJob, LabelParams
from distillery.schemas.job_specs.self_instruct import SelfInstructJob, SelfInstructParams
from distillery.schemas.job_specs.stored import GeneratorRef, ShareRef, StoredSpec, TeacherRef, rehydrate, stored_form

__all__ = [
    "Budget",
    "CommonParams",
    "CurateJob",
    "CurateParams",
    "DocumentIn",
    "Evol",
    "EvolInstructJob",
    "EvolParams",
    "FeedbackJob",
    "FeedbackParams",
    "Generator",
    "GeneratorRef",
    "JobCreate",
    "LabelJob",
    "LabelParams",
    "SeedIn",
    "SelfInstructJob",
    "SelfInstructParams",
    "ShareRef",
    "Skill",
    "StoredSpec",
    "SubtopicIn",
    "TeacherRef",
    "TeacherShare",
    "TopicIn",
    "rehydrate",
    "stored_form",
]
