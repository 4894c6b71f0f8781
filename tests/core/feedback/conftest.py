"""Feedback fixtures: the demo's production days served, logged and pulled for real.

``served`` (on ``demo_ws``, a copy of the demo workspace) plays the breast-cancer production
days through the runtime's own prediction log (:class:`~modeldeck.core.runtime.logstore.LogStore`,
one per host): every row the production version can score is logged with its prediction
id, probabilities and serving time, the labels of the days asked for are given back through
``LogStore.add_feedback`` (what the host's ``/v1/feedback`` endpoint does), and the log's
rows are stored in the workspace by the pull's own writer, exactly as ``modeldeck pull``
leaves them. No SSH: the network leg is the deploy tests' business.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from feedback_helpers import serve_days

from modeldeck.core.demo import PRODUCTION_DAYS
from modeldeck.core.workspace import Workspace


@pytest.fixture
def demo_ws(make_workspace: Callable[..., Path]) -> Iterator[Workspace]:
    """A private copy of the demo workspace, opened as its admin."""
    ws = Workspace.open(make_workspace())
    yield ws
    ws.close()


@pytest.fixture
def served(demo_ws: Workspace, tmp_path: Path) -> Callable[..., dict[str, pd.DataFrame]]:
    """``served(days, labeled_days=..., label_share=...)``: :func:`serve_days` on the
    demo copy."""

    def run(days: Iterable[int] = range(1, PRODUCTION_DAYS + 1), **kw: object
            ) -> dict[str, pd.DataFrame]:
        return serve_days(demo_ws, tmp_path / "logs", days, **kw)  # type: ignore[arg-type]

    return run
