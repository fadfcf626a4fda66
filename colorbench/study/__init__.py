"""Studies: the baseline plus one-factor-at-a-time variations (or a grid), over seeds and plugins."""

from colorbench.study.design import ALL_FACTORS, FACTORS, Setting, study_settings
from colorbench.study.plan import StudyPlan, build_plan

__all__ = ["ALL_FACTORS", "FACTORS", "Setting", "StudyPlan", "build_plan", "study_settings"]
