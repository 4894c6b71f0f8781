"""Appends to a prediction log in a loop until it is killed (the kill -9 test's child).

Usage: ``python _log_writer.py DB CONFIG_JSON SEED``; the JSON holds the store's keyword
settings (``settings``) and its input and output reference specs (``inputs``, ``outputs``).

Prints ``ready <boot>`` once the store has started, then ``flushed <rows>`` each time
``LogStore.flush()`` returned ``True``: every row appended before that call is committed.
The input column ``counter`` holds each row's id counter, so the parent can check that the
logged rows are exactly the ones appended, whole and in order.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modeldeck.core.drift.profile import ReferenceSpec
from modeldeck.core.runtime.ids import IdAllocator
from modeldeck.core.runtime.logstore import LogBatch, LogStore

CATEGORIES = np.array(["a", "b", "c", "zz", None], dtype=object)


@dataclass
class Rows:
    columns: dict[str, np.ndarray]
    n: int


def main() -> None:
    db, config_file, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    config = json.loads(Path(config_file).read_text(encoding="utf-8"))
    store = LogStore(db, input_spec=ReferenceSpec.from_dict(config["inputs"]),
                     output_spec=ReferenceSpec.from_dict(config["outputs"]),
                     **config["settings"])
    store.start()
    ids = IdAllocator()
    rng = np.random.default_rng(seed)
    print("ready", ids.boot, flush=True)
    appended = 0
    i = 0
    while True:
        n = int(rng.integers(1, 20))
        first = ids.take(n)
        p_yes = rng.random(n)
        columns = {
            "counter": np.arange(first, first + n, dtype=np.float64),
            "x": rng.normal(size=n),
            "cat": rng.choice(CATEGORIES, n),
        }
        store.append(LogBatch(time.time(), ids.boot, first, n, Rows(columns, n),
                              np.where(p_yes > 0.5, "yes", "no"),
                              np.column_stack([1.0 - p_yes, p_yes])))
        appended += n
        i += 1
        if i % 20 == 0:
            if store.flush(10.0):
                print("flushed", appended, flush=True)
        else:
            time.sleep(0.001)


if __name__ == "__main__":
    main()
