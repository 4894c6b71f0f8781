"""The feedback loop: production labels, realized performance and retraining candidates.

* :mod:`~modeldeck.core.feedback.labels` — labels imported from files or pulled from the
  hosts, stored under ``WORKSPACE/feedback/<model>/`` and joined to the logged predictions
  (missing, duplicate, conflicting and unknown ids reported, never dropped silently);
* :mod:`~modeldeck.core.feedback.report` — realized metrics per window and host, next to
  the drift engine's label-free estimate for the same windows;
* :mod:`~modeldeck.core.feedback.retrain` — refit a version on its training data plus the
  labeled production rows, register it with lineage, open a release candidate, and score
  candidate and champion on the latest labeled window (the challenger view).
"""

from modeldeck.core.feedback.labels import (
    FeedbackData,
    JoinReport,
    LabelConflict,
    LabelImport,
    feedback_folder,
    import_labels,
    list_imports,
    load_feedback,
)
from modeldeck.core.feedback.report import FeedbackReport, WindowPerformance, feedback_report
from modeldeck.core.feedback.retrain import Challenger, RetrainResult, challenger, retrain

__all__ = [
    "Challenger",
    "FeedbackData",
    "FeedbackReport",
    "JoinReport",
    "LabelConflict",
    "LabelImport",
    "RetrainResult",
    "WindowPerformance",
    "challenger",
    "feedback_folder",
    "feedback_report",
    "import_labels",
    "list_imports",
    "load_feedback",
    "retrain",
]
