"""The self-contained HTML drift report (modeldeck.core.drift.html.render_html).

Reports are built by the real engine (``analyze``, model-free) on small generated frames:
a numeric feature that shifts from day 2, a categorical one whose shares move, a stable
one, an all-missing one, and a feature whose name is markup.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modeldeck.core.drift.html import render_html
from modeldeck.core.drift.report import DriftReport, PerformancePoint, analyze
from modeldeck.core.progress import run

MARKUP = "<b>x</b>"
HOST = 'edge"<script>alert(1)</script>'


class _Page(HTMLParser):
    """Collects tags, attributes, ids and text; fails on nothing (html.parser is lenient),
    so the tests check the structure it saw."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.ids: set[str] = set()
        self.text: list[str] = []
        self.stack: list[str] = []
        self.articles: dict[str, list[str]] = {}  # id -> text inside
        self._article: str | None = None
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if attributes.get("id"):
            assert attributes["id"] not in self.ids, f"duplicate id {attributes['id']}"
            self.ids.add(attributes["id"] or "")
        if tag == "article":
            self._article = attributes.get("id")
            self.articles[self._article or ""] = []
        if tag not in {"meta", "br", "hr", "img", "input", "link", "area", "col", "wbr"}:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, (tag, self.stack[-5:])
        self.stack.pop()
        if tag == "article":
            self._article = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._article is not None:
            self.articles[self._article].append(data)


def _parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    parser.close()
    assert parser.stack == [], parser.stack
    return parser


def _frames(seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n_ref, per_day = 600, 300

    def block(n: int, shift: float, colours: list[float]) -> pd.DataFrame:
        return pd.DataFrame({
            "shifting": rng.normal(shift, 1.0, n),
            "stable": rng.normal(0.0, 1.0, n),
            MARKUP: rng.normal(5.0, 2.0, n),
            "colour": rng.choice(["red", "green", "blue"], size=n, p=colours),
            "empty": np.full(n, np.nan),
        })

    reference = block(n_ref, 0.0, [0.5, 0.3, 0.2])
    reference["empty"] = rng.normal(0.0, 1.0, n_ref)  # all missing in production only
    reference["gone"] = rng.normal(0.0, 1.0, n_ref)  # absent from production
    days = []
    for day in range(3):
        frame = block(per_day, 1.0 if day >= 1 else 0.0,
                      [0.2, 0.3, 0.5] if day >= 1 else [0.5, 0.3, 0.2])
        frame.insert(0, "host", rng.choice(["edge-1", HOST], size=per_day))
        stamps = pd.Timestamp("2026-11-16", tz="UTC") + pd.to_timedelta(
            day * 86_400 + np.sort(rng.integers(0, 86_400, per_day)), unit="s")
        frame.insert(0, "timestamp", stamps.strftime("%Y-%m-%dT%H:%M:%SZ"))
        days.append(frame)
    return reference, pd.concat(days, ignore_index=True)


@pytest.fixture(scope="module")
def report() -> DriftReport:
    reference, current = _frames()
    return run(analyze(current, reference=reference, multivariate=True))


@pytest.fixture(scope="module")
def page(report: DriftReport) -> str:
    return render_html(report)


def test_the_page_parses_as_balanced_html(page: str) -> None:
    parsed = _parse(page)
    assert page.startswith("<!DOCTYPE html>")
    assert [t for t, _ in parsed.tags[:3]] == ["html", "head", "meta"]
    assert any(t == "svg" for t, _ in parsed.tags)


def test_the_page_loads_nothing_from_anywhere(page: str) -> None:
    parsed = _parse(page)
    assert "http://" not in page and "https://" not in page
    assert not [t for t, _ in parsed.tags if t in {"script", "link", "img", "iframe", "object",
                                                   "embed", "video", "audio", "source"}]
    for tag, attrs in parsed.tags:
        for name in ("src", "href", "xlink:href"):
            value = attrs.get(name)
            if value is not None:
                assert value.startswith("#"), (tag, name, value)  # in-page anchors only
    assert "@import" not in page
    urls = [u for u in page.split("url(")[1:]]
    assert all(u.startswith("#") for u in urls), urls[:3]


def test_every_feature_has_a_section_and_flagged_ones_are_marked(report: DriftReport,
                                                                 page: str) -> None:
    parsed = _parse(page)
    sections = {aid: "".join(text) for aid, text in parsed.articles.items()}
    flagged_ids = {attrs["id"] for tag, attrs in parsed.tags
                   if tag == "article" and "flagged" in (attrs.get("class") or "").split()}
    assert len(sections) == len(report.features)
    text = "".join(parsed.text)
    for f in report.features:
        assert f.name in text
        section = next(aid for aid, body in sections.items() if body.strip().startswith(f.name))
        assert (section in flagged_ids) == f.flagged, f.name
    assert "shifting" in report.overall.flagged and "colour" in report.overall.flagged
    assert "stable" not in report.overall.flagged


def test_markup_in_names_is_escaped(report: DriftReport, page: str) -> None:
    assert MARKUP in {f.name for f in report.features}
    assert MARKUP not in page and "&lt;b&gt;x&lt;/b&gt;" in page
    assert "<script>" not in page and HOST not in page
    parsed = _parse(page)
    assert not [t for t, _ in parsed.tags if t in {"b", "script"}]
    assert MARKUP in "".join(parsed.text) and HOST in "".join(parsed.text)


def test_header_says_the_verdict_and_summary(report: DriftReport, page: str) -> None:
    assert report.drift
    text = " ".join(_parse(page).text)
    assert "Drift detected" in text
    assert report.overall.summary[:40] in " ".join(text.split())


def test_advice_links_to_its_feature_section(report: DriftReport, page: str) -> None:
    parsed = _parse(page)
    about_features = [a for a in report.advice if a.feature]
    assert about_features
    links = {attrs["href"] for tag, attrs in parsed.tags if tag == "a" and attrs.get("href")}
    for href in links:
        assert href[1:] in parsed.ids, href  # every in-page link lands somewhere
    for a in about_features:
        assert a.title in "".join(parsed.text)
    section_ids = set(parsed.articles)
    assert len(links & {f"#{s}" for s in section_ids}) >= len({a.feature for a in
                                                               about_features})


def test_heatmap_has_every_window_and_a_legend(report: DriftReport, page: str) -> None:
    start = page.index('id="heatmap"')
    heatmap = page[start:page.index("</section>", start)]
    for w in report.windows:
        assert w.label in heatmap
    assert "flagged" in heatmap and "not testable" in heatmap and "threshold" in heatmap
    assert len(report.windows) == 3  # by day, from the timestamp column


def test_host_section_lists_every_host(report: DriftReport, page: str) -> None:
    assert len(report.hosts) == 2
    start = page.index('id="hosts"')
    hosts = page[start:page.index("</section>", start)]
    assert "edge-1" in hosts and "edge&quot;&lt;script&gt;" in hosts


def test_multivariate_section(report: DriftReport, page: str) -> None:
    assert report.multivariate is not None
    assert 'id="multivariate"' in page and "domain classifier" in page


def test_bad_columns_render_with_their_reasons(report: DriftReport, page: str) -> None:
    text = " ".join(" ".join(_parse(page).text).split())
    gone, empty = report.feature("gone"), report.feature("empty")
    assert gone.status == "not_testable" and empty.status == "quality"
    for f in (gone, empty):
        assert _text(f.reason) in text
    assert "n/t" in page  # the heatmap's not-testable cells


def _text(value: str) -> str:
    return " ".join(value.split())


@dataclass(frozen=True)
class _Estimate:
    """Stands for the performance module's estimate (metric, value and its band)."""

    metric: str
    value: float
    low: float
    high: float
    rows: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def test_performance_over_windows_with_the_band(report: DriftReport) -> None:
    points = tuple(
        PerformancePoint(w.label, w.rows, {"accuracy": 0.9 - 0.05 * i} if i < 2 else None,
                         _Estimate("accuracy", 0.91 - 0.06 * i, 0.87 - 0.06 * i,
                                   0.95 - 0.06 * i, w.rows))
        for i, w in enumerate(report.windows))
    page = render_html(dataclasses.replace(report, performance=points, model="demo:1"))
    start = page.index('id="performance"')
    section = page[start:page.index("</section>", start)]
    _parse(page)
    assert "<polygon" in section  # the band
    assert "estimated accuracy" in section and "realized accuracy" in section
    for w in report.windows:
        assert w.label in section
    assert "Drift report: demo:1" in page


def test_an_undrifted_report_says_so() -> None:
    reference, current = _frames(seed=3)
    current = current.assign(shifting=np.random.default_rng(4).normal(0, 1, len(current)),
                             colour=reference["colour"].sample(len(current), replace=True,
                                                               random_state=5).to_numpy())
    current = current.drop(columns=["empty", "host"])
    result = run(analyze(current, reference=reference.drop(columns=["empty", "gone"]),
                         multivariate=False))
    assert not result.drift, result.summary()
    page = render_html(result)
    _parse(page)
    assert "No relevant drift" in page and 'id="hosts"' not in page
    assert 'id="multivariate"' not in page


def test_rendering_imports_no_gui_or_plotting_library() -> None:
    code = ("import sys\nimport modeldeck.core.drift.html\n"
            "bad = [m for m in ('PySide6', 'pyqtgraph', 'matplotlib', 'superqt') "
            "if m in sys.modules]\nprint(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == ""
