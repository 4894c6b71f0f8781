"""Prometheus metrics of the server, in the text exposition format (no client library)."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Mapping

#: Latency histogram bucket bounds, seconds.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """Counters and a latency histogram, updated by the request threads.

    Gauges (log backlog, webhook queue, readiness...) are read at scrape time from the
    callables given to :meth:`render`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self._buckets: dict[str, list[int]] = {}
        self._sums: dict[str, float] = defaultdict(float)
        self._errors: dict[str, int] = defaultdict(int)
        self.rows_predicted = 0

    def observe(self, endpoint: str, method: str, status: int, seconds: float,
                rows: int = 0) -> None:
        """Count one request."""
        with self._lock:
            self._requests[(endpoint, method, status)] += 1
            counts = self._buckets.get(endpoint)
            if counts is None:
                counts = self._buckets[endpoint] = [0] * (len(BUCKETS) + 1)
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    counts[i] += 1
                    break
            else:
                counts[-1] += 1
            self._sums[endpoint] += seconds
            self.rows_predicted += rows

    def error(self, kind: str, count: int = 1) -> None:
        """Count an error of ``kind`` (a request error code, ``model_error``...)."""
        with self._lock:
            self._errors[kind] += count

    def errors(self) -> dict[str, int]:
        """Errors by kind so far."""
        with self._lock:
            return dict(self._errors)

    def render(self, gauges: Mapping[str, tuple[str, Callable[[], float]]],
               counters: Mapping[str, tuple[str, Callable[[], float]]] | None = None,
               info: Mapping[str, str] | None = None) -> str:
        """The exposition text.

        Parameters
        ----------
        gauges, counters
            ``name -> (help text, callable returning the value)``.
        info
            Labels of the ``modeldeck_model_info`` gauge.
        """
        with self._lock:
            requests = dict(self._requests)
            buckets = {k: list(v) for k, v in self._buckets.items()}
            sums = dict(self._sums)
            errors = dict(self._errors)
            rows = self.rows_predicted
        out = ["# HELP modeldeck_requests_total HTTP requests by endpoint, method and status.",
               "# TYPE modeldeck_requests_total counter"]
        for (endpoint, method, status), n in sorted(requests.items()):
            out.append(f'modeldeck_requests_total{{endpoint="{_esc(endpoint)}",'
                       f'method="{method}",status="{status}"}} {n}')
        out += ["# HELP modeldeck_request_duration_seconds Request latency by endpoint.",
                "# TYPE modeldeck_request_duration_seconds histogram"]
        for endpoint, counts in sorted(buckets.items()):
            label = f'endpoint="{_esc(endpoint)}"'
            running = 0
            for bound, n in zip(BUCKETS, counts):
                running += n
                out.append(f'modeldeck_request_duration_seconds_bucket{{{label},le="{bound}"}} '
                           f"{running}")
            running += counts[-1]
            out.append(f'modeldeck_request_duration_seconds_bucket{{{label},le="+Inf"}} '
                       f"{running}")
            out.append(f"modeldeck_request_duration_seconds_sum{{{label}}} {sums[endpoint]:.6f}")
            out.append(f"modeldeck_request_duration_seconds_count{{{label}}} {running}")
        out += ["# HELP modeldeck_rows_predicted_total Rows predicted (API and folder mode).",
                "# TYPE modeldeck_rows_predicted_total counter",
                f"modeldeck_rows_predicted_total {rows}",
                "# HELP modeldeck_errors_total Errors by kind.",
                "# TYPE modeldeck_errors_total counter"]
        for kind, n in sorted(errors.items()):
            out.append(f'modeldeck_errors_total{{kind="{_esc(kind)}"}} {n}')
        for kind_name, table in (("counter", counters or {}), ("gauge", gauges)):
            for name, (help_text, read) in table.items():
                out += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind_name}",
                        f"{name} {_number(read())}"]
        if info:
            labels = ",".join(f'{k}="{_esc(str(v))}"' for k, v in info.items())
            out += ["# HELP modeldeck_model_info The model this server serves.",
                    "# TYPE modeldeck_model_info gauge", f"modeldeck_model_info{{{labels}}} 1"]
        return "\n".join(out) + "\n"


def _esc(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)
