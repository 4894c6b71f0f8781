"""Retraining candidates on the demo's drifted week, their lineage and the challenger view.

The demo's production version (breast-cancer:1, a scaled logistic regression on the ten
'mean' features) was trained before the drift: from day 4 on, 'mean radius' and 'mean
texture' grow a few percent a day on every host. Refitted on its training data plus the
labeled days before the last, the candidate must beat it on the held-out, most drifted
day — scored for real on the labeled rows of that day.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from feedback_helpers import MODEL

from modeldeck.core.demo import DRIFT_FROM_DAY, FIRST_DAY, PRODUCTION_DAYS
from modeldeck.core.errors import Cancelled, DataError, NotFoundError
from modeldeck.core.feedback import challenger, import_labels, retrain
from modeldeck.core.progress import CancelToken, ProgressEvent, run
from modeldeck.core.registry import Registry
from modeldeck.core.registry.lineage import fingerprint, from_parquet_bytes
from modeldeck.core.workspace import Workspace

CHAMPION = f"{MODEL}@production"
LAST_DAY = (FIRST_DAY + pd.Timedelta(days=PRODUCTION_DAYS - 1)).strftime("%Y-%m-%d")


def _training(ws: Workspace) -> str:
    return str(ws.path / "demo-data" / MODEL / "reference.csv")


def test_candidate_beats_champion_on_the_drifted_window(demo_ws: Workspace,
                                                        served: Callable) -> None:
    logs = served(range(1, PRODUCTION_DAYS + 1), labeled_days=range(1, PRODUCTION_DAYS + 1))
    events: list[ProgressEvent] = []
    result = run(retrain(demo_ws, CHAMPION, training=_training(demo_ws),
                         open_candidate=False), events.append)
    assert [e.fraction for e in events] == sorted(e.fraction for e in events)
    registry = Registry(demo_ws)
    new = result.version
    assert (new.ref, new.parent, result.parent.ref) == (f"{MODEL}:3", f"{MODEL}:1",
                                                       f"{MODEL}:1")
    assert new.estimator == result.parent.estimator == "LogisticRegression"

    # The latest labeled day is held out and is the challenger window.
    rows = pd.concat(logs.values(), ignore_index=True)
    last = rows.loc[rows["ts"].dt.strftime("%Y-%m-%d") == LAST_DAY]
    assert result.held_out == LAST_DAY
    assert result.left_out == {"held out for the challenger": len(last)}
    assert result.feedback_rows == len(rows) - len(last)
    assert result.feedback_until < LAST_DAY
    ch = result.challenger
    assert (ch.window, ch.candidate, ch.champion) == (LAST_DAY, new.ref, f"{MODEL}:1")
    assert ch.rows == len(last) and not ch.in_training

    # Scored for real: the champion's number is its logged predictions' accuracy on the day
    champion_accuracy = float((last["prediction"] == last["true_label"]).mean())
    assert ch.metric("accuracy").a == pytest.approx(champion_accuracy)
    model = registry.load_model(new)
    candidate_accuracy = float((model.predict(last[list(new.feature_names)])
                                == last["true_label"]).mean())
    assert ch.metric("accuracy").b == pytest.approx(candidate_accuracy)
    # ... and the candidate is clearly better on the drifted day
    assert candidate_accuracy > champion_accuracy + 0.05
    assert ch.metric("f1_macro").b > ch.metric("f1_macro").a
    assert ch.winner == new.ref
    # while it keeps the champion's level on the (pre-drift) holdout set
    assert new.metrics["accuracy"] >= result.parent.metrics["accuracy"] - 0.02
    assert new.holdout_sha256 == result.parent.holdout_sha256

    # The standalone challenger view says the same; on a window it trained on, it says so
    again = challenger(demo_ws, new.ref)
    assert again.to_dict() == ch.to_dict()
    trained = challenger(demo_ws, new.ref, at="2026-11-21")
    assert trained.in_training and trained.window == "2026-11-21"


def test_lineage_records_both_parts(demo_ws: Workspace, served: Callable) -> None:
    served(range(1, PRODUCTION_DAYS + 1), labeled_days=range(DRIFT_FROM_DAY,
                                                             PRODUCTION_DAYS + 1))
    since = (FIRST_DAY + pd.Timedelta(days=DRIFT_FROM_DAY - 1)).isoformat()
    result = run(retrain(demo_ws, CHAMPION, training=_training(demo_ws), since=since,
                         open_candidate=False))
    new = result.version
    fp = new.fingerprints
    parent = result.parent
    reference = pd.read_csv(_training(demo_ws))
    features = list(parent.feature_names)
    # the parent's part is exactly its training data (inputs and labels)
    assert fp["training:reference"] == {**fingerprint(reference[[*features, "diagnosis"]]),
                                        "parent": parent.ref}
    assert fp["training:feedback"]["rows"] == result.feedback_rows
    assert fp["training:feedback"]["from"] >= since
    assert fp["training"]["rows"] == fp["reference"]["rows"] == (
        fp["training:reference"]["rows"] + fp["training:feedback"]["rows"])
    # the full labeled training set is stored, and is what the fingerprints say
    stored = from_parquet_bytes(demo_ws.artifacts.get_bytes(fp["training"]["artifact"]))
    assert fingerprint(stored)["sha256"] == fp["training"]["sha256"]
    assert fingerprint(stored[features])["sha256"] == fp["reference"]["sha256"]
    assert stored["diagnosis"].iloc[:len(reference)].tolist() == reference["diagnosis"].tolist()
    # audited: the registration (with the fingerprints) and the retrain itself
    log = demo_ws.audit_log(limit=2)
    assert [e.action for e in log] == ["model.retrain", "version.register"]
    assert log[0].payload["parent"] == parent.ref
    assert log[1].payload["fingerprints"]["training:feedback"] == fp["training:feedback"]
    assert demo_ws.verify_audit().ok

    # A retrained version can be retrained again without a training file.
    again = run(retrain(demo_ws, new.ref, include_latest=True, open_candidate=False))
    assert again.reference_source == f"the labeled training set stored with {new.ref}"
    assert again.reference_rows == fp["training"]["rows"]
    assert again.challenger.in_training and again.held_out is None
    assert Registry(demo_ws).lineage(again.version.ref)[-1].ref == f"{MODEL}:1"


def test_retrain_from_imported_feature_rows(demo_ws: Workspace) -> None:
    """The other label source: production rows and their labels imported from files."""
    folder = demo_ws.path / "demo-data" / MODEL
    for day in range(1, PRODUCTION_DAYS + 1):
        import_labels(demo_ws, MODEL, folder / f"production-day-{day}.csv",
                      labels=folder / f"production-day-{day}.labels.csv")
    result = run(retrain(demo_ws, CHAMPION, training=_training(demo_ws),
                         open_candidate=False))
    ch = result.challenger
    # v1 cannot score edge-2's rows that lost 'mean smoothness': counted, not trained on
    assert result.left_out["missing inputs"] > 0 and ch.left_out > 0
    assert ch.window == LAST_DAY and ch.rows + ch.left_out == 200
    assert ch.metric("accuracy").b > ch.metric("accuracy").a + 0.05


def test_regressor_from_imported_rows(demo_ws: Workspace) -> None:
    """diabetes:1 (a ridge pipeline with a one-hot encoded 'sex'); lower RMSE wins."""
    folder = demo_ws.path / "demo-data" / "diabetes"
    for day in range(1, PRODUCTION_DAYS + 1):
        import_labels(demo_ws, "diabetes", folder / f"production-day-{day}.csv",
                      labels=folder / f"production-day-{day}.labels.csv")
    result = run(retrain(demo_ws, "diabetes@production", training=folder / "reference.csv",
                         open_candidate=False))
    ch = result.challenger
    assert (ch.key_metric, ch.rows, ch.window) == ("rmse", 200, LAST_DAY)
    assert ch.metric("rmse").b < ch.metric("rmse").a and ch.winner == result.version.ref
    assert result.version.estimator == "Ridge" and result.feedback_rows == 1200


def test_retrain_refusals(demo_ws: Workspace, served: Callable) -> None:
    registry = Registry(demo_ws)
    versions = len(registry.list_versions(MODEL))
    # no training file needed: the registry kept the labeled reference sample
    assert registry.get_version(CHAMPION).fingerprints["training"]["sample_rows"] > 0
    with pytest.raises(DataError, match="no labeled production rows"):
        run(retrain(demo_ws, CHAMPION))
    holdout = demo_ws.path / "demo-data" / MODEL / "holdout.csv"
    with pytest.raises(DataError, match="is not the data breast-cancer:1 was trained on"):
        run(retrain(demo_ws, CHAMPION, training=holdout))
    with pytest.raises(DataError, match="no labeled production rows"):
        run(retrain(demo_ws, CHAMPION, training=_training(demo_ws)))
    served(range(1, 3), labeled_days=[2])
    with pytest.raises(DataError, match="--include-latest"):   # one labeled day: held out
        run(retrain(demo_ws, CHAMPION, training=_training(demo_ws)))
    with pytest.raises(NotFoundError):
        challenger(demo_ws, f"{MODEL}:2", "breast-cancer:9")
    assert len(registry.list_versions(MODEL)) == versions
    # a reviewer may not register versions
    from modeldeck.core.errors import PermissionDeniedError

    with pytest.raises(PermissionDeniedError):
        run(retrain(demo_ws.as_user("bob"), CHAMPION, training=_training(demo_ws)))


def test_cancel_registers_nothing(demo_ws: Workspace, served: Callable) -> None:
    served(range(1, 4), labeled_days=range(1, 4))
    token = CancelToken()
    op = retrain(demo_ws, CHAMPION, training=_training(demo_ws), cancel=token,
                 open_candidate=False)
    with pytest.raises(Cancelled):
        for event in op:
            if event.step == "fitting":
                token.cancel()
    assert [v.version for v in Registry(demo_ws).list_versions(MODEL)] == [1, 2]
    assert "model.retrain" not in [e.action for e in demo_ws.audit_log(limit=None)]


def test_candidate_enters_the_release_flow(demo_ws: Workspace, served: Callable) -> None:
    served(range(1, PRODUCTION_DAYS + 1), labeled_days=range(1, PRODUCTION_DAYS + 1))
    result = run(retrain(demo_ws, CHAMPION, training=_training(demo_ws)))
    cand = result.candidate
    assert cand is not None and cand.version == result.version.version
    assert cand.status in ("awaiting-approval", "gates-failed")
    assert {g.name for g in cand.gates}
    from modeldeck.core.release import Releases

    assert Releases(demo_ws).get(cand.id).ref.endswith(str(result.version.version))
    assert np.isfinite(result.challenger.metric("accuracy").b)
