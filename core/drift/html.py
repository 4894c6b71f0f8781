"""A self-contained HTML drift report for reviewers (:func:`render_html`).

One file, no network: the styles are inline, the charts are inline SVG drawn here from the
report's numbers, there is no script and no font or image to fetch, so the file opens the
same on an air-gapped desktop, in a mail attachment or printed (landscape pages).

What it shows, top to bottom: the verdict and summary; the ranked advice (each item linked
to its feature's section); a features × windows heatmap (effect size relative to its
threshold as colour, flagged cells marked); an overview table; multivariate drift, the
model's outputs and performance over windows (realized, and estimated with its band);
the per-host table; then one section per feature with its status, reason, every number of
its :class:`~modeldeck.core.drift.stats.FeatureDrift`, its data-quality checks, the
reference vs current histogram and its drift score over windows against the threshold.

Every piece of text from the data (feature, host and window names, reasons) is escaped.
The drawing uses the standard library only: no plotting library, no Qt (core layer).
"""

from __future__ import annotations

import html
import itertools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from modeldeck.core.errors import ModelDeckError

if TYPE_CHECKING:
    from modeldeck.core.drift.report import DriftReport, Histogram
    from modeldeck.core.drift.stats import FeatureDrift

__all__ = ["render_html"]

_STATUS_TEXT = {"ok": "ok", "drift": "drift", "quality": "data quality",
                "not_testable": "not testable"}
_SEVERITY_TEXT = {"action": "action", "watch": "watch", "info": "info"}
#: Colour stops of the heatmap over effect size / threshold (1 = at the threshold).
_HEAT_STOPS = ((0.0, (244, 246, 248)), (0.5, (232, 238, 244)), (1.0, (253, 219, 160)),
               (2.0, (240, 138, 75)), (4.0, (178, 24, 43)))
_HEAT_MAX = 4.0
#: Non-significant cells are faded this far towards this grey.
_MUTE, _MUTE_TO = 0.72, (238, 240, 243)
#: The fill of "not testable" cells (defined in the heatmap, reused by its legend).
_HATCH = ('<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
          'patternTransform="rotate(45)"><rect width="6" height="6" fill="#f6f7f8"/>'
          '<line x1="0" y1="0" x2="0" y2="6" stroke="#c3c9cf" stroke-width="2"/></pattern>'
          "</defs>")
_REF_COLOUR = "#8c9bab"
_CUR_COLOUR = "#d9622b"
_FLAG_COLOUR = "#b2182b"
_LINE_COLOUR = "#2c5d8a"

# Names and order of FeatureDrift's numbers in a feature's table (anything new that
# FeatureDrift grows is appended after these, under its own field name).
_NUMBER_LABELS = {
    "method": "test", "statistic": "statistic", "p_value": "p-value",
    "p_adjusted": "p adjusted (BH)", "effect_size": "effect size",
    "effect_threshold": "effect threshold", "relevant": "relevant", "significant":
    "significant", "wasserstein_sd": "Wasserstein (sd)", "psi": "PSI",
    "js_distance": "Jensen-Shannon", "binned_ks_statistic": "KS (bins)",
    "binned_ks_p_value": "KS (bins) p", "ks_statistic": "KS (sample)",
    "ks_p_value": "KS (sample) p", "chi2_statistic": "chi-square", "chi2_p_value":
    "chi-square p", "chi2_dof": "chi-square dof", "reference_mean": "mean (reference)",
    "current_mean": "mean (current)", "reference_sd": "sd (reference)",
    "current_sd": "sd (current)", "mean_shift_sd": "mean shift (sd)", "sd_ratio": "sd ratio",
    "n_reference": "values (reference)", "n_current": "values (current)",
    "rows_reference": "rows (reference)", "rows_current": "rows (current)",
    "sample_reference": "sample (reference)", "sample_current": "sample (current)",
}
_NOT_NUMBERS = {"name", "kind", "status", "reason", "quality"}


# --------------------------------------------------------------------------- entry point


def render_html(report: DriftReport) -> str:
    """The report as one self-contained HTML page (no scripts, no external resources).

    Parameters
    ----------
    report
        A :class:`~modeldeck.core.drift.report.DriftReport` from
        :func:`~modeldeck.core.drift.report.analyze`.

    Returns
    -------
    str
        The HTML document; write it with ``encoding="utf-8"``.
    """
    features = list(report.features)
    anchors = _anchors(f.name for f in features)
    title = f"Drift report: {report.model}" if report.model else "Drift report"
    body = [
        _header(report, title),
        _contents(report),
        _advice(report, anchors),
        _heatmap_section(report, features, anchors),
        _overview(report, features, anchors),
        _multivariate(report),
        _predictions(report),
        _performance(report),
        _hosts(report, anchors),
        _feature_sections(report, features, anchors),
        _footer(report),
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
            + "\n".join(part for part in body if part)
            + "\n</main>\n</body>\n</html>\n")


# --------------------------------------------------------------------------- small helpers


def _e(value: Any) -> str:
    """Escaped text (quotes too, so it is safe in attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def _anchors(names: Iterable[str]) -> dict[str, str]:
    """A unique, valid id per feature name (``f-3-mean-radius``)."""
    out = {}
    for i, name in enumerate(names):
        slug = re.sub(r"[^a-z0-9]+", "-", str(name).lower()).strip("-")[:40]
        out[name] = f"f-{i + 1}" + (f"-{slug}" if slug else "")
    return out


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(value)


def _fmt(value: Any, digits: int = 3) -> str:
    """A number for people: 3 significant digits, p-values in e-notation when tiny."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        if math.isinf(value):
            return "∞" if value > 0 else "−∞"
        if value == 0:
            return "0"
        if abs(value) < 1e-3 or abs(value) >= 1e6:
            return f"{value:.{max(digits - 1, 1)}e}"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        text = f"{value:#.{digits}g}"
        return text.rstrip(".") if "e" not in text else text
    return str(value)


def _pct(value: Any) -> str:
    return f"{100 * value:.1f}%" if _finite(value) else "–"


def _ratio(f: FeatureDrift) -> float | None:
    """Effect size over its threshold (``None`` when either is unknown)."""
    if not _finite(f.effect_size) or not _finite(f.effect_threshold) or not f.effect_threshold:
        return None
    return float(f.effect_size) / float(f.effect_threshold)  # type: ignore[arg-type]


def _status(status: str) -> str:
    text = _STATUS_TEXT.get(status, status)
    return f'<span class="badge s-{_e(status)}">{_e(text)}</span>'


def _link(name: str, anchors: dict[str, str]) -> str:
    if name in anchors:
        return f'<a href="#{anchors[name]}">{_e(name)}</a>'
    return _e(name)


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], cls: str = "",
           numeric: Iterable[int] = ()) -> str:
    """An HTML table; cells are HTML already (escape before), ``numeric`` columns right."""
    right = set(numeric)
    head = "".join(f'<th{" class=num" if i in right else ""}>{h}</th>'
                   for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f'<td{" class=num" if i in right else ""}>{c}</td>'
                         for i, c in enumerate(row)) + "</tr>\n" for row in rows)
    cls_attr = f' class="{cls}"' if cls else ""
    return f"<table{cls_attr}><thead><tr>{head}</tr></thead><tbody>\n{body}</tbody></table>"


def _heat_colour(ratio: float | None, muted: bool = False) -> str:
    """The heatmap colour of an effect/threshold ratio; ``muted`` (a change within the
    noise: not significant) fades it towards grey so the eye goes to real findings."""
    if ratio is None:
        return "#ffffff"
    r = min(max(ratio, 0.0), _HEAT_MAX)
    rgb: tuple[float, ...] = _HEAT_STOPS[-1][1]
    for (x0, c0), (x1, c1) in itertools.pairwise(_HEAT_STOPS):
        if r <= x1:
            t = (r - x0) / (x1 - x0) if x1 > x0 else 0.0
            rgb = tuple(a + (b - a) * t for a, b in zip(c0, c1))
            break
    if muted:
        rgb = tuple(a + (g - a) * _MUTE for a, g in zip(rgb, _MUTE_TO))
    return "#{:02x}{:02x}{:02x}".format(*(round(c) for c in rgb))


def _text_colour(ratio: float | None, muted: bool = False) -> str:
    return "#ffffff" if ratio is not None and ratio >= 2.6 and not muted else "#1d2733"


def _muted(f: FeatureDrift) -> bool:
    """A change that is not statistically significant (and flagged nothing)."""
    return not f.flagged and not f.significant


def _short(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _svg(width: float, height: float, content: Sequence[str], label: str) -> str:
    return (f'<svg class="chart" viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" '
            f'height="{height:.0f}" role="img" aria-label="{_e(label)}">'
            f"<title>{_e(label)}</title>" + "".join(content) + "</svg>")


def _nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    """Round tick values spanning ``[low, high]``."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low]
    raw = (high - low) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.floor(low / step + 1e-9) * step
    last = math.ceil(high / step - 1e-9) * step  # one tick at or above the top
    ticks, value = [], first
    while value <= last + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


# --------------------------------------------------------------------------- header


def _header(report: DriftReport, title: str) -> str:
    overall = report.overall
    verdict = ('<span class="verdict drift">Drift detected</span>' if report.drift else
               '<span class="verdict ok">No relevant drift</span>')
    facts = [
        ("model", _e(report.model) if report.model else "none (two data sets compared)"),
        ("created", _e(_when(report.created_at)) + " UTC"),
        ("reference rows", _fmt(overall.n_reference)),
        ("current rows", _fmt(overall.n_current)),
        ("windows", f"{len(report.windows)}"
         + (f" (by {_e(report.window_unit)})" if getattr(report, "window_unit", None) else
            " (one per file)" if report.windows else "")),
        ("hosts", ", ".join(_e(h) for h in report.hosts) if report.hosts else "–"),
        ("flagged features", f"{len(overall.flagged)} of {len(overall.features)}"),
    ]
    extra = list(overall.extra_columns)
    if extra:
        shown = ", ".join(extra[:4]) + (", …" if len(extra) > 4 else "")
        facts.append(("not compared", (f'<span title="{_e(", ".join(extra))}">'
                                       f"{len(extra)} column{'s' if len(extra) > 1 else ''} "
                                       f"({_e(shown)})</span>")))
    notes = "".join(f"<li>{_e(n)}</li>" for n in getattr(report, "notes", ()) or ())
    summary = report.summary()
    for prefix in ("Drift detected: ", "No relevant drift: "):
        if summary.startswith(prefix):  # the badge says it already
            summary = summary[len(prefix)].upper() + summary[len(prefix) + 1:]
    return (f'<header><h1>{_e(title)}</h1>\n<p class="lead">{verdict} '
            f"{_e(summary)}</p>\n"
            '<dl class="facts">' + "".join(f"<div><dt>{k}</dt><dd>{v}</dd></div>"
                                          for k, v in facts) + "</dl>"
            + (f'<ul class="notes">{notes}</ul>' if notes else "") + "</header>")


def _sentence(text: str) -> str:
    """``text`` with a capital first letter and a full stop."""
    text = str(text or "").strip()
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _when(stamp: str) -> str:
    return str(stamp)[:16].replace("T", " ")


def _contents(report: DriftReport) -> str:
    items = [("advice", "Advice"), ("heatmap", "Features × windows"),
             ("overview", "All features")]
    if report.multivariate is not None:
        items.append(("multivariate", "Multivariate"))
    if report.predictions is not None:
        items.append(("predictions", "Model outputs"))
    if report.performance:
        items.append(("performance", "Performance"))
    if report.hosts:
        items.append(("hosts", "Hosts"))
    items.append(("features", "Feature details"))
    return ('<nav class="toc">' + " · ".join(f'<a href="#{a}">{t}</a>' for a, t in items)
            + "</nav>")


# --------------------------------------------------------------------------- advice


def _advice(report: DriftReport, anchors: dict[str, str]) -> str:
    if not report.advice:
        return '<section id="advice"><h2>Advice</h2><p>No findings.</p></section>'
    items = []
    for a in report.advice:
        where = []
        if a.feature:
            where.append("feature " + _link(a.feature, anchors))
        if a.window:
            where.append(f"since {_e(a.window)}")
        if a.host:
            where.append(f"host {_e(a.host)}")
        severity = _SEVERITY_TEXT.get(a.severity, a.severity)
        title = _e(a.title)
        if a.feature and a.feature in anchors:
            title = f'<a href="#{anchors[a.feature]}">{title}</a>'
        items.append(
            f'<li class="advice sev-{_e(a.severity)}"><div class="advice-head">'
            f'<span class="badge sev-{_e(a.severity)}">{_e(severity)}</span> '
            f"<strong>{title}</strong>"
            + (f' <span class="muted">({" · ".join(where)})</span>' if where else "")
            + f'</div><p>{_e(a.text)}</p><p class="action"><strong>Next step:</strong> '
            f"{_e(a.action)}</p></li>")
    return ('<section id="advice"><h2>Advice</h2>\n<p class="muted">Ranked by how far each '
            "change goes past its threshold times how much the model relies on the "
            "feature.</p>\n<ol class=\"advice-list\">" + "\n".join(items) + "</ol></section>")


# --------------------------------------------------------------------------- heatmap


def _heatmap_section(report: DriftReport, features: Sequence[FeatureDrift],
                     anchors: dict[str, str]) -> str:
    head = ('<section id="heatmap"><h2>Features × windows</h2>\n<p class="muted">Colour: '
            "effect size relative to the feature's threshold (1× = at the threshold); "
            "pale where the change is within the noise of the window's rows (not "
            "statistically significant). A dark outline and dot mark a flagged cell "
            "(relevant and significant, or a data-quality problem). Hover a cell for its "
            "numbers; click a feature for its charts.</p>\n")
    if not report.windows:
        return head + "<p>No windows.</p></section>"
    return head + _heatmap(report, features, anchors) + _heat_legend() + "</section>"


def _heatmap(report: DriftReport, features: Sequence[FeatureDrift],
             anchors: dict[str, str]) -> str:
    windows = list(report.windows)
    label_w = min(260, 14 + 7 * max((len(_short(f.name, 34)) for f in features), default=8))
    cell_w = max(46, min(96, (1060 - label_w) // max(len(windows), 1)))
    cell_h, top = 20, 58
    width = label_w + cell_w * len(windows) + 10
    height = top + cell_h * len(features) + 6
    out = [_HATCH]
    for j, w in enumerate(windows):
        x = label_w + j * cell_w + cell_w / 2
        colour = _FLAG_COLOUR if w.result.drift else "#1d2733"
        weight = "700" if w.result.drift else "400"
        text = _short(w.label, max(6, cell_w // 7))
        out.append(f'<text x="{x:.1f}" y="20" text-anchor="middle" font-size="11" '
                   f'fill="{colour}" font-weight="{weight}"><title>{_e(w.label)}: '
                   f'{_e(w.result.summary)}</title>{_e(text)}</text>')
        out.append(f'<text x="{x:.1f}" y="34" text-anchor="middle" font-size="9.5" '
                   f'fill="#5b6672">{w.rows:,} rows</text>')
        mark = "drift" if w.result.drift else "ok"
        out.append(f'<text x="{x:.1f}" y="48" text-anchor="middle" font-size="9.5" '
                   f'fill="{colour}" font-weight="{weight}">{mark}</text>')
    for i, f in enumerate(features):
        y = top + i * cell_h
        name = _e(_short(f.name, 34))
        colour = _FLAG_COLOUR if f.flagged else "#1d2733"
        weight = "700" if f.flagged else "400"
        label = (f'<text x="{label_w - 8}" y="{y + cell_h / 2 + 4:.1f}" text-anchor="end" '
                 f'font-size="11.5" fill="{colour}" font-weight="{weight}">'
                 f"<title>{_e(f.name)}</title>{name}</text>")
        if f.name in anchors:
            label = f'<a href="#{anchors[f.name]}">{label}</a>'
        out.append(label)
        for j, w in enumerate(windows):
            x = label_w + j * cell_w
            try:
                cell = w.result.feature(f.name)
            except KeyError:
                cell = None
            out.append(_heat_cell(x, y, cell_w, cell_h, cell, w.label))
    out.append(f'<rect x="{label_w}" y="{top}" width="{cell_w * len(windows)}" '
               f'height="{cell_h * len(features)}" fill="none" stroke="#c9d1d9"/>')
    return '<div class="scroll">' + _svg(width, height, out, "features × windows heatmap") \
        + "</div>"


def _heat_cell(x: float, y: float, w: float, h: float, cell: FeatureDrift | None,
               window: str) -> str:
    if cell is None or cell.status == "not_testable":
        why = cell.reason if cell is not None else "no result"
        return (f'<g><title>{_e(window)}: not testable — {_e(why)}</title>'
                f'<rect x="{x + 1}" y="{y + 1}" width="{w - 2}" height="{h - 2}" '
                f'fill="url(#hatch)" stroke="none"/>'
                f'<rect x="{x + 1}" y="{y + 1}" width="{w - 2}" height="{h - 2}" '
                f'fill="#eef0f2" fill-opacity="0.6"/>'
                f'<text x="{x + w / 2:.1f}" y="{y + h / 2 + 4:.1f}" text-anchor="middle" '
                f'font-size="10" fill="#8a949e">n/t</text></g>')
    ratio = _ratio(cell)
    tip = (f"{window}: {_STATUS_TEXT.get(cell.status, cell.status)}; effect "
           f"{_fmt(cell.effect_size)} (threshold {_fmt(cell.effect_threshold)}"
           + (f", {ratio:.1f}×" if ratio is not None else "") + f"); p adjusted "
           f"{_fmt(cell.p_adjusted)}. {cell.reason}")
    muted = _muted(cell)
    if muted:
        tip += " (within the noise: not significant)"
    parts = [(f'<g><title>{_e(tip)}</title>'
              f'<rect x="{x + 1}" y="{y + 1}" width="{w - 2}" height="{h - 2}" '
              f'fill="{_heat_colour(ratio, muted)}"/>')]
    if cell.flagged:
        parts.append(f'<rect x="{x + 2}" y="{y + 2}" width="{w - 4}" height="{h - 4}" '
                     f'fill="none" stroke="#1d2733" stroke-width="2"/>'
                     f'<circle cx="{x + 8}" cy="{y + h / 2:.1f}" r="3" fill="#1d2733"/>')
    text = f"{ratio:.1f}×" if ratio is not None else ("q" if cell.flagged else "–")
    weight = "700" if cell.flagged else "400"
    parts.append(f'<text x="{x + w / 2 + (4 if cell.flagged else 0):.1f}" '
                 f'y="{y + h / 2 + 4:.1f}" text-anchor="middle" font-size="10.5" '
                 f'fill="{_text_colour(ratio, muted)}" font-weight="{weight}">'
                 f"{_e(text)}</text></g>")
    return "".join(parts)


def _heat_legend() -> str:
    width, bar_w, x0 = 640, 240, 124
    ticks = []
    for value in range(int(_HEAT_MAX) + 1):
        x = x0 + bar_w * value / _HEAT_MAX
        text = f"{value}×" + ("+" if value == _HEAT_MAX else "")
        ticks.append(f'<line x1="{x:.1f}" y1="40" x2="{x:.1f}" y2="45" stroke="#5b6672"/>'
                     f'<text x="{x:.1f}" y="56" text-anchor="middle" font-size="10.5" '
                     f'fill="#1d2733">{text}</text>')
    content = []
    steps = 48
    for row, (label, muted) in enumerate((("significant", False),
                                          ("within the noise", True))):
        y = 6 + row * 17
        content.append(f'<text x="{x0 - 6}" y="{y + 11}" text-anchor="end" font-size="10.5" '
                       f'fill="#1d2733">{label}</text>')
        for k in range(steps):  # a stepped bar: one gradient definition per bar is overkill
            ratio = _HEAT_MAX * (k + 0.5) / steps
            content.append(f'<rect x="{x0 + bar_w * k / steps:.2f}" y="{y}" '
                           f'width="{bar_w / steps + 0.4:.2f}" height="15" '
                           f'fill="{_heat_colour(ratio, muted)}"/>')
    x_thr = x0 + bar_w / _HEAT_MAX
    content += [
        f'<rect x="{x0}" y="6" width="{bar_w}" height="32" fill="none" stroke="#c9d1d9"/>',
        (f'<line x1="{x_thr:.1f}" y1="2" x2="{x_thr:.1f}" y2="44" stroke="#1d2733" '
         'stroke-dasharray="3,2"/>'),
        *ticks,
        (f'<text x="{x0 + bar_w / 2}" y="70" text-anchor="middle" font-size="10.5" '
         'fill="#5b6672">effect size ÷ threshold (1× = at the threshold)</text>'),
        ('<rect x="400" y="8" width="34" height="18" fill="#f08a4b"/>'
         '<rect x="401" y="9" width="32" height="16" fill="none" stroke="#1d2733" '
         'stroke-width="2"/><circle cx="408" cy="17" r="3" fill="#1d2733"/>'
         '<text x="440" y="21" font-size="10.5" fill="#1d2733">flagged</text>'),
        ('<rect x="510" y="8" width="34" height="18" fill="url(#hatch)" stroke="#d8dee4"/>'
         '<text x="550" y="21" font-size="10.5" fill="#1d2733">not testable</text>'),
    ]
    return '<div class="legend">' + _svg(width, 76, content, "heatmap legend") + "</div>"


# --------------------------------------------------------------------------- overview


def _overview(report: DriftReport, features: Sequence[FeatureDrift],
              anchors: dict[str, str]) -> str:
    has_importance = bool(report.importance)
    headers = ["feature", "status", "test", "statistic", "p adjusted", "effect size",
               "threshold", "× threshold"] + (["importance"] if has_importance else [])
    rows = []
    for f in features:
        ratio = _ratio(f)
        row = [_link(f.name, anchors), _status(f.status), _e(f.method or "–"),
               _fmt(f.statistic), _fmt(f.p_adjusted), _fmt(f.effect_size),
               _fmt(f.effect_threshold),
               (f'<span class="chip" style="background:{_heat_colour(ratio, _muted(f))};'
                f'color:{_text_colour(ratio, _muted(f))}">{ratio:.1f}×</span>'
                if ratio is not None else "–")]
        if has_importance:
            row.append(_fmt(report.importance.get(f.name)))
        rows.append(row)
    return ('<section id="overview"><h2>All features</h2>\n<p class="muted">Flagged first, '
            "then by importance to the model. Flagged = the change is larger than the "
            "threshold <em>and</em> significant after Benjamini-Hochberg control across "
            "features, or a data-quality check failed.</p>\n"
            + _table(headers, rows, "grid", numeric=range(3, len(headers))) + "</section>")


# --------------------------------------------------------------------------- multivariate


def _multivariate(report: DriftReport) -> str:
    multi = report.multivariate
    if multi is None:
        return ""
    flagged = bool(getattr(multi, "flagged", False))
    status = getattr(multi, "status", "drift" if flagged else "ok")
    parts = [f'<section id="multivariate"><h2>Multivariate drift {_status(status)}</h2>',
             f"<p>{_e(_sentence(getattr(multi, 'summary', '')))}</p>"]
    rows = []
    clf = getattr(multi, "classifier", None)
    pca = getattr(multi, "pca", None)
    corr = getattr(multi, "correlations", None)
    for label, detector, effect in (
            ("domain classifier", clf, f"ROC AUC {_fmt(getattr(clf, 'auc', None))}"),
            ("PCA reconstruction error", pca, f"ratio {_fmt(getattr(pca, 'ratio', None))}"),
            ("pairwise rank correlations", corr,
             f"largest change {_fmt(getattr(corr, 'max_change', None))}")):
        if detector is not None:
            rows.append([label, _status(getattr(detector, "status", "")), effect,
                         f"p {_fmt(getattr(detector, 'p_value', None))}",
                         _e(getattr(detector, "reason", ""))])
    if rows:
        parts.append(_table(["detector", "status", "effect", "significance", "reason"], rows,
                            "grid"))
    top = getattr(clf, "top_features", ()) if clf is not None else ()
    if top:
        parts.append("<p>The classifier leaned most on: "
                     + ", ".join(f"{_e(t.name)} ({_fmt(t.importance)})" for t in top)
                     + ".</p>")
    moved = list(getattr(corr, "changes", ()))[:getattr(corr, "flagged_pairs", 0)]
    if moved:
        parts.append("<p>Pairs whose rank correlation changed: "
                     + "; ".join(f"{_e(c.a)} and {_e(c.b)} {c.reference:.2f} → "
                                 f"{c.current:.2f}" for c in moved) + ".</p>")
    excluded = getattr(multi, "excluded", ())
    if excluded:
        parts.append('<p class="muted">Left out: '
                     + "; ".join(f"{_e(n)} ({_e(r)})" for n, r in excluded) + ".</p>")
    return "\n".join(parts) + "</section>"


# --------------------------------------------------------------------------- predictions


def _predictions(report: DriftReport) -> str:
    """The model's outputs: predicted-class mix and scores (or predicted values)."""
    pred = report.predictions
    if pred is None:
        return ""
    status = getattr(pred, "status", "drift" if getattr(pred, "flagged", False) else "ok")
    since = report.predictions_since()
    windows = len(getattr(report, "prediction_windows", ()) or ()) > 1
    summary = _sentence(getattr(pred, "summary", ""))
    if windows:
        summary = summary.rstrip(".") + " (all windows together)."
    parts = [f'<section id="predictions"><h2>Model outputs '
             f'{_status("drift" if since is not None else status)}</h2>',
             f"<p>{_e(summary)}"
             + (f" Drifting from {_e(since)} on (per window below)." if since else "")
             + "</p>",
             ('<p class="muted">The model\'s predictions on the current data against its '
              "predictions on the holdout set, tested like a feature (relevant and "
              "significant after Benjamini-Hochberg).</p>")]
    rows = []
    mix = getattr(pred, "class_mix", None)
    if mix is not None:
        rows.append(["predicted classes", _status("drift" if mix.flagged else "ok"),
                     f"chi-square {_fmt(mix.chi2_statistic)} (dof {mix.chi2_dof})",
                     _fmt(mix.p_adjusted), f"JS {_fmt(mix.js_distance)}, PSI {_fmt(mix.psi)}",
                     "", ""])
    scores = getattr(pred, "scores", None)
    if scores is not None:
        rows.append([_e(scores.score.replace("_", " ")), _status(scores.status),
                     f"KS {_fmt(scores.ks_statistic)}", _fmt(scores.p_adjusted),
                     f"Wasserstein {_fmt(scores.wasserstein_sd)} sd, PSI {_fmt(scores.psi)}",
                     f"{_fmt(scores.reference_mean)} → {_fmt(scores.current_mean)}",
                     _e(scores.reason)])
    if rows:
        parts.append(_table(["output", "status", "test", "p adjusted", "effect",
                             "mean (holdout → current)", "reason"], rows, "grid"))
    if mix is not None and mix.classes:
        ref = mix.reference_shares
        cur = mix.current_shares
        parts.append('<div class="charts"><figure>'
                     + _bars_chart([str(c) for c in mix.classes],
                                   [ref[c] for c in mix.classes],
                                   [cur[c] for c in mix.classes],
                                   "predicted class mix", ("holdout", "current"))
                     + "<figcaption>Share of each predicted class</figcaption></figure>"
                     "</div>")
    parts.append(_prediction_windows(report))
    return "\n".join(parts) + "</section>"


def _prediction_windows(report: DriftReport) -> str:
    """The outputs per window: one effect-size chart per output, and a table of the
    windows (and, with several hosts, where the outputs drifted)."""
    views = list(getattr(report, "prediction_windows", ()) or ())
    if len(views) < 2:
        return ""
    outputs: dict[str, Any] = {}
    for v in views:
        for o in v.result.outputs:
            outputs.setdefault(o.name, o)
    since = report.predictions_since()
    lead = (f"The outputs differ from the holdout's from {_e(since)} on." if since else
            "The outputs do not drift in the latest window.")
    parts = [f"<h3>Per window</h3><p>{lead} Each window is compared with the holdout "
             "predictions on its own (one Benjamini-Hochberg family over its outputs).</p>"]
    figures = []
    for name, first in outputs.items():
        scores = report.prediction_scores(name)
        if not any(_finite(s) for _w, s, _f in scores):
            continue
        what = ("Jensen-Shannon distance of the class shares" if first.kind == "class_mix"
                else "Wasserstein distance in holdout sd")
        figures.append("<figure>" + _effect_chart(scores, first.effect_threshold,
                                                  f"drift of {name} per window")
                       + f"<figcaption>{_e(name)}: {_e(what)} per window; filled red "
                       "points are flagged windows.</figcaption></figure>")
    if figures:
        parts.append('<div class="charts">' + "".join(figures) + "</div>")
    cells: dict[str | None, list[str]] = {}
    for cell in getattr(report, "prediction_cells", ()) or ():
        if cell.flagged and cell.host is not None:
            cells.setdefault(cell.window, []).append(cell.host)
    many = len(report.hosts) > 1
    headers = ["window", "rows", "outputs", *(f"{_e(n)} (effect)" for n in outputs)]
    if many:
        headers.append("drifted on")
    rows = []
    for v in views:
        by_name = {o.name: o for o in v.result.outputs}
        row = [_e(v.window), _fmt(v.rows), _status(v.result.status)]
        for name in outputs:
            o = by_name.get(name)
            row.append("–" if o is None or not _finite(o.effect_size) else
                       (f"<strong>{_fmt(o.effect_size)}</strong>" if o.flagged
                        else _fmt(o.effect_size)))
        if many:
            row.append(_e(", ".join(cells.get(v.window, []))) or "–")
        rows.append(row)
    parts.append(_table(headers, rows, "grid", numeric=range(3, 3 + len(outputs))))
    return "\n".join(parts)


def _kv_table(pairs: Sequence[tuple[str, Any]], columns: int = 2) -> str:
    """A compact key/value grid, ``columns`` pairs per row."""
    cells = [(f'<th scope="row">{_e(k)}</th>', f'<td class="num">{_fmt(v)}</td>'
              if not isinstance(v, str) else f"<td>{_e(v)}</td>") for k, v in pairs]
    rows = []
    for i in range(0, len(cells), columns):
        chunk = cells[i:i + columns]
        chunk += [("<th></th>", "<td></td>")] * (columns - len(chunk))
        rows.append("<tr>" + "".join(a + b for a, b in chunk) + "</tr>")
    return '<table class="kv">' + "\n".join(rows) + "</table>"


# --------------------------------------------------------------------------- performance


def _performance(report: DriftReport) -> str:
    points = list(report.performance)
    if not points:
        return ""
    realized_names = list(dict.fromkeys(k for p in points for k in (p.realized or {})))
    estimated = [p.estimated for p in points if p.estimated is not None]
    metric = getattr(estimated[0], "metric", None) if estimated else None
    plotted = metric if metric is not None else (realized_names[0] if realized_names else None)
    parts = ['<section id="performance"><h2>Performance over windows</h2>']
    if plotted is None:
        return (parts[0] + '<p class="muted">No performance to show: realized metrics need '
                "the target column in the current data, and label-free estimates a "
                "classifier with probabilities.</p></section>")
    if estimated:
        parts.append(f'<p class="muted">Estimated {_e(metric)} without labels (confidence-'
                     "based, calibrated on the holdout set), with its band; realized "
                     "values where the current data has labels.</p>")
    if plotted is not None:
        parts.append(_performance_chart(points, plotted))
    headers = ["window", "rows"]
    if estimated:
        headers += [f"estimated {_e(metric)}", "band"]
    headers += [f"realized {_e(n)}" for n in realized_names]
    rows = []
    for p in points:
        row = [_e(p.window), _fmt(p.rows)]
        if estimated:
            est = p.estimated
            row += [_fmt(getattr(est, "value", None)),
                    (f"{_fmt(getattr(est, 'low', None))} – {_fmt(getattr(est, 'high', None))}"
                     if est is not None else "–")]
        row += [_fmt((p.realized or {}).get(n)) for n in realized_names]
        rows.append(row)
    parts.append(_table(headers, rows, "grid", numeric=range(1, len(headers))))
    return "\n".join(parts) + "</section>"


def _as_float(value: Any) -> float | None:
    return float(value) if _finite(value) else None


def _performance_chart(points: Sequence[Any], metric: str) -> str:
    values: list[float] = []
    series: list[tuple[str, float | None, float | None, float | None, float | None]] = []
    for p in points:
        est = p.estimated
        value = _as_float(getattr(est, "value", None))
        low = _as_float(getattr(est, "low", None))
        high = _as_float(getattr(est, "high", None))
        real = _as_float((p.realized or {}).get(metric))
        series.append((p.window, value, low, high, real))
        values += [v for v in (value, low, high, real) if v is not None]
    if not values:
        return ""
    lo, hi = min(values), max(values)
    pad = max((hi - lo) * 0.15, 0.01)
    low, high = lo - pad, hi + pad
    if 0.0 <= lo and hi <= 1.0:  # a share-like metric (accuracy, F1, AUC): stay in [0, 1]
        low, high = max(low, 0.0), min(high, 1.0)
    chart = _Axes(len(points), low, high, f"{metric} per window")
    content = chart.frame([s[0] for s in series])
    bands = [(chart.x(i), low, high) for i, (_w, _v, low, high, _r) in enumerate(series)
             if low is not None and high is not None]
    band_top = [(x, chart.y(high)) for x, _low, high in bands]
    band_bottom = [(x, chart.y(low)) for x, low, _high in bands]
    if len(band_top) >= 2:
        pts = band_top + band_bottom[::-1]
        content.append('<polygon points="' + " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
                       + f'" fill="{_LINE_COLOUR}" fill-opacity="0.15" stroke="none"/>')
    elif len(band_top) == 1:
        (x, y_top), (_x, y_bottom) = band_top[0], band_bottom[0]
        content.append(f'<line x1="{x:.1f}" y1="{y_top:.1f}" x2="{x:.1f}" y2="{y_bottom:.1f}" '
                       f'stroke="{_LINE_COLOUR}" stroke-opacity="0.4" stroke-width="6"/>')
    content += chart.line([s[1] for s in series], _LINE_COLOUR, "estimated")
    content += chart.line([s[4] for s in series], "#1b7f3b", "realized", dashed=True)
    legend = [("estimated", _LINE_COLOUR, False)] if any(_finite(s[1]) for s in series) else []
    if any(_finite(s[4]) for s in series):
        legend.append(("realized", "#1b7f3b", True))
    content += chart.legend(legend)
    return chart.svg(content)


# --------------------------------------------------------------------------- hosts


def _hosts(report: DriftReport, anchors: dict[str, str]) -> str:
    if not report.hosts:
        return ""
    # The engine decides what is confined to one host (flagged there and not even present
    # elsewhere); its advice carries that host, so the table agrees with the advice.
    confined = {(a.feature, a.host) for a in report.advice if a.feature and a.host}
    rows = []
    for h in report.by_host:
        text = ", ".join(_link(n, anchors) + (" <em>(this host only)</em>"
                                              if (n, h.host) in confined else "")
                         for n in h.result.flagged) or "–"
        rows.append([_e(h.host or h.label), _fmt(h.rows),
                     '<span class="verdict-s drift">drift</span>' if h.result.drift else
                     '<span class="verdict-s ok">ok</span>', text])
    parts = ['<section id="hosts"><h2>Hosts</h2>',
             ('<p class="muted">Each host\'s data (all windows merged) against the '
              "reference. A change on one host only points at that host's data feed; a "
              "change on every host at the world. A host with fewer rows may show a change "
              "without the evidence to flag it.</p>"),
             _table(["host", "rows", "verdict", "flagged features"], rows, "grid",
                    numeric=(1,))]
    if report.cells and report.windows:
        parts.append(_host_grid(report))
    return "\n".join(parts) + "</section>"


def _host_grid(report: DriftReport) -> str:
    windows = [w.label for w in report.windows]
    by_key = {(c.label, c.host): c for c in report.cells}
    rows = []
    for host in report.hosts:
        row = [_e(host)]
        for w in windows:
            cell = by_key.get((w, host))
            if cell is None:
                row.append('<span class="muted">no data</span>')
            elif cell.result.drift:
                row.append('<span class="verdict-s drift">drift</span> '
                           + _e(_short(", ".join(cell.result.flagged), 40)))
            else:
                row.append('<span class="verdict-s ok">ok</span>')
        rows.append(row)
    return ("<h3>Hosts × windows</h3>"
            + _table(["host", *(_e(w) for w in windows)], rows, "grid compact"))


# --------------------------------------------------------------------------- features


def _feature_sections(report: DriftReport, features: Sequence[FeatureDrift],
                      anchors: dict[str, str]) -> str:
    parts = ['<section id="features"><h2>Feature details</h2>']
    for f in features:
        parts.append(_feature_section(report, f, anchors[f.name]))
    return "\n".join(parts) + "</section>"


def _feature_section(report: DriftReport, f: FeatureDrift, anchor: str) -> str:
    importance = report.importance.get(f.name)
    sub = [f"{_e(f.kind)} feature"]
    if importance is not None:
        sub.append(f"importance {_fmt(importance)}")
    parts = [f'<article class="feature{" flagged" if f.flagged else ""}" id="{anchor}">',
             (f"<h3>{_e(f.name)} {_status(f.status)}"
              f'<span class="muted small"> {" · ".join(sub)}</span></h3>'),
             f'<p class="reason">{_e(f.reason)}</p>',
             '<div class="charts">',
             _histogram_figure(report, f),
             _scores_figure(report, f),
             "</div>",
             _numbers(f),
             _quality(f),
             ('<p class="top"><a href="#advice">↑ advice</a> · <a href="#heatmap">↑ heatmap'
              "</a></p></article>")]
    return "\n".join(p for p in parts if p)


def _numbers(f: FeatureDrift) -> str:
    pairs: list[tuple[str, Any]] = []
    for field in fields(f):
        if field.name in _NOT_NUMBERS:
            continue
        value = getattr(f, field.name)
        if value is None or value == "":
            continue  # does not apply to this kind of feature
        pairs.append((field.name, value))
    order = list(_NUMBER_LABELS)
    pairs.sort(key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order))
    return _kv_table([(_NUMBER_LABELS.get(k, k.replace("_", " ")), v) for k, v in pairs],
                     columns=3)


def _quality(f: FeatureDrift) -> str:
    if not f.quality:
        return ""
    rows = []
    for q in f.quality:
        rows.append([_e(q.name.replace("_", " ")), _pct(q.reference_rate),
                     _pct(q.current_rate), _fmt(q.effect), _fmt(q.threshold),
                     _fmt(q.p_adjusted if q.p_adjusted is not None else q.p_value),
                     '<span class="verdict-s drift">flagged</span>' if q.flagged else "ok",
                     _e(q.describe())])
    return ("<details" + (" open" if f.quality_flags else "") + "><summary>Data-quality "
            f"checks ({len(f.quality_flags)} flagged)</summary>"
            + _table(["check", "reference", "current", "change", "threshold", "p (adj.)",
                      "", "meaning"], rows, "grid compact", numeric=(1, 2, 3, 4, 5))
            + "</details>")


def _histogram_figure(report: DriftReport, f: FeatureDrift) -> str:
    try:
        hist = report.histogram(f.name)
    except (KeyError, ValueError, LookupError, ModelDeckError) as exc:
        return f'<figure><p class="muted">No histogram: {_e(exc)}</p></figure>'
    if not hist.labels or sum(hist.reference) + sum(hist.current) <= 0:
        return '<figure><p class="muted">No histogram: no values to count.</p></figure>'
    return ("<figure>" + _histogram_chart(hist)
            + "<figcaption>Reference vs current share per "
            + ("bin (reference quantiles)" if hist.kind == "numeric" else "category")
            + "</figcaption></figure>")


def _histogram_chart(hist: Histogram) -> str:
    cells = list(zip(hist.labels, hist.reference, hist.current))
    # Drop the empty "(missing)" / "(other)" / tail cells: they are in the quality table.
    keep = [(label, r, c) for label, r, c in cells
            if (r > 0 or c > 0) or not label.startswith(("(", "<", ">"))]
    return _bars_chart([k[0] for k in keep], [k[1] for k in keep], [k[2] for k in keep],
                       f"histogram of {hist.feature}")


def _bars_chart(labels: Sequence[str], reference: Sequence[float],
                current: Sequence[float], title: str,
                names: tuple[str, str] = ("reference", "current")) -> str:
    """Paired bars of reference and current shares over the same cells."""
    cells = list(zip(labels, reference, current))
    n = len(cells)
    width, height, left, right, top, bottom = 520, 236, 44, 34, 26, 68
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([max(r, c) for _l, r, c in cells] + [1e-9])
    ticks = _nice_ticks(0.0, peak, 4)
    y_max = max(ticks[-1], peak)
    slot = plot_w / max(n, 1)
    bar = max(min(slot * 0.42, 26), 1.0)
    out = []
    for t in ticks:
        y = top + plot_h - plot_h * t / y_max
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
                   'stroke="#e4e8ec"/>'
                   f'<text x="{left - 5}" y="{y + 3.5:.1f}" text-anchor="end" font-size="10" '
                   f'fill="#5b6672">{t * 100:.0f}%</text>')
    every = max(1, math.ceil(n / 12))
    for i, (label, r, c) in enumerate(cells):
        x = left + i * slot + slot / 2
        for value, colour, dx in ((r, _REF_COLOUR, -bar), (c, _CUR_COLOUR, 0.0)):
            h = plot_h * value / y_max
            out.append(f'<rect x="{x + dx:.1f}" y="{top + plot_h - h:.1f}" width="{bar:.1f}" '
                       f'height="{h:.1f}" fill="{colour}"><title>{_e(label)}: '
                       f'{names[0] if colour == _REF_COLOUR else names[1]} '
                       f"{_pct(value)}</title></rect>")
        if i % every == 0 or i == n - 1:
            text = _e(_short(label, 16))
            out.append(f'<text transform="translate({x - 3:.1f},{top + plot_h + 10}) '
                       f'rotate(40)" font-size="9.5" fill="#5b6672">{text}</text>')
    out.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" '
               f'y2="{top + plot_h}" stroke="#8a949e"/>')
    out += _legend_items(left, 12, [(names[0], _REF_COLOUR, False),
                                    (names[1], _CUR_COLOUR, False)])
    return _svg(width, height, out, title)


def _legend_items(x: float, y: float, items: Sequence[tuple[str, str, bool]]) -> list[str]:
    out = []
    for label, colour, dashed in items:
        if dashed:
            out.append(f'<line x1="{x}" y1="{y - 4}" x2="{x + 16}" y2="{y - 4}" '
                       f'stroke="{colour}" stroke-width="2" stroke-dasharray="4,3"/>')
        else:
            out.append(f'<rect x="{x}" y="{y - 9}" width="12" height="10" fill="{colour}"/>')
        out.append(f'<text x="{x + 20}" y="{y}" font-size="10.5" fill="#1d2733">'
                   f"{_e(label)}</text>")
        x += 28 + 6.5 * len(label)
    return out


def _scores_figure(report: DriftReport, f: FeatureDrift) -> str:
    try:
        scores = report.window_scores(f.name)
    except (KeyError, ValueError, LookupError, ModelDeckError) as exc:
        return f'<figure><p class="muted">No window scores: {_e(exc)}</p></figure>'
    if not scores:
        return ""
    if not any(_finite(s) for _w, s, _flag in scores):
        return ('<figure><p class="muted">No drift score in any window: '
                f"{_e(f.reason)}</p></figure>")
    what = "Wasserstein distance (reference sd)" if f.kind == "numeric" else \
        "Jensen-Shannon distance"
    return ("<figure>" + _effect_chart(scores, f.effect_threshold,
                                       f"drift score of {f.name} per window")
            + f"<figcaption>Effect size per window ({_e(what)}); filled red points are "
            "flagged windows.</figcaption></figure>")


def _effect_chart(scores: Sequence[tuple[str, float | None, bool]], threshold: Any,
                  label: str) -> str:
    """An effect size per window with its threshold; flagged windows filled red."""
    values = [s for _w, s, _flag in scores if _finite(s)]
    top = max(values + ([threshold] if _finite(threshold) else []), default=0.0)
    chart = _Axes(len(scores), 0.0, top * 1.15 if top > 0 else 1.0, label)
    content = chart.frame([w for w, _s, _f in scores])
    if _finite(threshold):
        y = chart.y(float(threshold))
        content.append(f'<line x1="{chart.left}" y1="{y:.1f}" x2="{chart.right:.1f}" '
                       f'y2="{y:.1f}" stroke="{_FLAG_COLOUR}" stroke-dasharray="5,4"/>'
                       f'<text x="{chart.right - 2:.1f}" y="{y - 4:.1f}" text-anchor="end" '
                       f'font-size="10" fill="{_FLAG_COLOUR}">threshold '
                       f"{float(threshold):g}</text>")
    content += chart.line([s for _w, s, _f in scores], _LINE_COLOUR, "effect size",
                          flagged=[flag for _w, _s, flag in scores])
    content += chart.legend([("effect size", _LINE_COLOUR, False),
                             ("threshold", _FLAG_COLOUR, True)], flagged=True)
    return chart.svg(content)


class _Axes:
    """A small line-chart frame: windows on x (categorical), a linear y."""

    def __init__(self, n: int, low: float, high: float, label: str) -> None:
        self.n, self.low, self.high, self.label = n, low, high, label
        self.width, self.height = 520.0, 230.0
        self.left, self.top, self.bottom = 48.0, 26.0, 62.0
        self.right = self.width - 12.0
        self.ticks = _nice_ticks(low, high, 4)
        if self.ticks:
            self.low = min(self.low, self.ticks[0])
            self.high = max(self.high, self.ticks[-1])

    def x(self, i: int) -> float:
        span = self.right - self.left
        return self.left + span * (i + 0.5) / max(self.n, 1)

    def y(self, value: float) -> float:
        span = self.high - self.low or 1.0
        plot_h = self.height - self.top - self.bottom
        return self.top + plot_h * (1 - (value - self.low) / span)

    def frame(self, labels: Sequence[str]) -> list[str]:
        out = []
        base = self.height - self.bottom
        for t in self.ticks:
            y = self.y(t)
            out.append(f'<line x1="{self.left}" y1="{y:.1f}" x2="{self.right}" y2="{y:.1f}" '
                       'stroke="#e4e8ec"/>'
                       f'<text x="{self.left - 5}" y="{y + 3.5:.1f}" text-anchor="end" '
                       f'font-size="10" fill="#5b6672">{t:g}</text>')
        every = max(1, math.ceil(len(labels) / 12))
        for i, label in enumerate(labels):
            if i % every and i != len(labels) - 1:
                continue
            out.append(f'<text transform="translate({self.x(i):.1f},{base + 12}) rotate(30)" '
                       f'font-size="9.5" fill="#5b6672"><title>{_e(label)}</title>'
                       f"{_e(_short(label, 18))}</text>")
        out.append(f'<line x1="{self.left}" y1="{base}" x2="{self.right}" y2="{base}" '
                   'stroke="#8a949e"/>')
        return out

    def line(self, values: Sequence[Any], colour: str, name: str,
             flagged: Sequence[bool] | None = None, dashed: bool = False) -> list[str]:
        out = []
        run: list[tuple[float, float]] = []
        runs = []
        for i, v in enumerate(values):
            if _finite(v):
                run.append((self.x(i), self.y(float(v))))
            elif run:
                runs.append(run)
                run = []
        if run:
            runs.append(run)
        dash = ' stroke-dasharray="5,3"' if dashed else ""
        for r in runs:
            if len(r) > 1:
                out.append('<polyline points="' + " ".join(f"{x:.1f},{y:.1f}" for x, y in r)
                           + f'" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
        for i, v in enumerate(values):
            if not _finite(v):
                continue
            hot = bool(flagged[i]) if flagged is not None else False
            fill = _FLAG_COLOUR if hot else "#ffffff"
            stroke = _FLAG_COLOUR if hot else colour
            out.append(f'<circle cx="{self.x(i):.1f}" cy="{self.y(float(v)):.1f}" r="4" '
                       f'fill="{fill}" stroke="{stroke}" stroke-width="2">'
                       f"<title>{_e(name)} {_fmt(v)}" + (" (flagged)" if hot else "")
                       + "</title></circle>")
        return out

    def legend(self, items: Sequence[tuple[str, str, bool]], flagged: bool = False
               ) -> list[str]:
        out = _legend_items(self.left, 12, items)
        if flagged:
            x = self.right - 64
            out.append(f'<circle cx="{x}" cy="8" r="4" fill="{_FLAG_COLOUR}"/>'
                       f'<text x="{x + 8}" y="12" font-size="10.5" fill="#1d2733">'
                       "flagged</text>")
        return out

    def svg(self, content: Sequence[str]) -> str:
        return _svg(self.width, self.height, content, self.label)


# --------------------------------------------------------------------------- footer


def _footer(report: DriftReport) -> str:
    t = report.thresholds
    pairs = [(k.replace("_", " "), v) for k, v in t.to_dict().items()]
    return ('<footer><h2>Thresholds</h2><p class="muted">A feature is flagged only when its '
            "effect size is over its threshold and its Benjamini-Hochberg adjusted p-value "
            f"is at most alpha ({_fmt(t.alpha)}); data-quality checks have their own "
            "thresholds.</p>" + _kv_table(pairs, columns=3)
            + f'<p class="muted small">Generated by ModelDeck on {_e(_when(report.created_at))} '
            "UTC. This file is self-contained: it loads nothing from the network.</p>"
            "</footer>")


# --------------------------------------------------------------------------- styles


_CSS = """
:root { --ink:#1d2733; --muted:#5b6672; --line:#d8dee4; --bg:#ffffff; --soft:#f5f7f9;
  --drift:#b2182b; --quality:#c25e00; --ok:#1b7f3b; --nt:#6b7580; }
* { box-sizing: border-box; }
html { font-family: "Segoe UI", "Helvetica Neue", Helvetica, Arial, "Liberation Sans",
  "DejaVu Sans", sans-serif; color: var(--ink); background: var(--bg); font-size: 14px;
  line-height: 1.45; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 28px 40px; }
h1 { font-size: 26px; margin: 0 0 8px; letter-spacing: -0.01em; }
h2 { font-size: 19px; margin: 30px 0 8px; padding-bottom: 4px;
  border-bottom: 2px solid var(--line); }
h3 { font-size: 16px; margin: 0 0 6px; }
p { margin: 6px 0; }
a { color: #1f5f99; text-decoration: none; }
a:hover { text-decoration: underline; }
.muted { color: var(--muted); }
.small { font-size: 12px; font-weight: 400; }
.lead { font-size: 16px; margin: 6px 0 12px; }
.verdict { display: inline-block; padding: 2px 10px; border-radius: 4px; color: #fff;
  font-weight: 700; margin-right: 6px; }
.verdict.drift { background: var(--drift); }
.verdict.ok { background: var(--ok); }
.verdict-s { font-weight: 700; }
.verdict-s.drift { color: var(--drift); }
.verdict-s.ok { color: var(--ok); }
.facts { display: flex; flex-wrap: wrap; gap: 4px 26px; margin: 8px 0; padding: 10px 14px;
  background: var(--soft); border: 1px solid var(--line); border-radius: 6px; }
.facts div { display: flex; gap: 6px; }
.facts dt { color: var(--muted); }
.facts dd { margin: 0; font-weight: 600; }
.notes { color: var(--muted); margin: 6px 0; padding-left: 20px; }
.toc { margin: 14px 0 0; font-size: 13px; }
.badge { display: inline-block; font-size: 11px; font-weight: 700; padding: 1px 7px;
  border-radius: 10px; vertical-align: middle; text-transform: uppercase;
  letter-spacing: .03em; border: 1px solid transparent; }
.s-drift, .sev-action.badge { background: var(--drift); color: #fff; }
.s-quality { background: var(--quality); color: #fff; }
.s-ok { background: #e3f1e7; color: var(--ok); border-color: #b9dcc4; }
.s-not_testable { background: #eceff2; color: var(--nt); border-color: #d3d8dd; }
.sev-watch.badge { background: #f3c257; color: #4a3400; }
.sev-info.badge { background: #e6edf4; color: #2c5d8a; border-color: #c8d6e4; }
.advice-list { padding-left: 24px; margin: 8px 0; }
li.advice { margin: 0 0 10px; padding: 8px 12px; border-left: 4px solid var(--line);
  background: var(--soft); border-radius: 0 6px 6px 0; }
li.advice.sev-action { border-left-color: var(--drift); }
li.advice.sev-watch { border-left-color: #e0a422; }
li.advice.sev-info { border-left-color: #8fb0cf; }
li.advice p { margin: 3px 0; }
.action { color: #24313d; }
table { border-collapse: collapse; margin: 8px 0; font-size: 12.5px; }
table.grid { width: 100%; }
table.grid th, table.grid td { padding: 4px 8px; border-bottom: 1px solid var(--line);
  text-align: left; vertical-align: top; }
table.grid thead th { background: var(--soft); font-weight: 600; border-bottom: 2px solid
  var(--line); white-space: nowrap; }
table.compact td, table.compact th { padding: 3px 6px; }
table.grid td:first-child { white-space: nowrap; }
td.num, th.num, table.grid td.num, table.grid th.num { text-align: right;
  font-variant-numeric: tabular-nums; white-space: nowrap; }
table.kv { width: 100%; }
table.kv th { text-align: left; font-weight: 400; color: var(--muted); padding: 2px 8px 2px 0;
  white-space: nowrap; }
table.kv td { padding: 2px 22px 2px 0; font-variant-numeric: tabular-nums; }
.chip { display: inline-block; min-width: 44px; text-align: right; padding: 0 5px;
  border-radius: 3px; }
.scroll { overflow-x: auto; }
svg.chart { display: block; max-width: 100%; height: auto; font-family: inherit; }
.legend { margin: 4px 0 0; }
article.feature { border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px;
  margin: 14px 0; break-inside: avoid; page-break-inside: avoid; }
article.feature.flagged { border-left: 5px solid var(--drift); }
.reason { margin: 2px 0 8px; }
.charts { display: flex; flex-wrap: wrap; gap: 10px 24px; }
figure { margin: 0; flex: 1 1 460px; max-width: 530px; }
figcaption { font-size: 11.5px; color: var(--muted); }
details { margin: 6px 0; }
summary { cursor: pointer; color: var(--muted); }
.top { font-size: 12px; text-align: right; margin: 4px 0 0; }
footer { margin-top: 30px; }
@page { size: A4 landscape; margin: 12mm; }
@media print {
  html { font-size: 11.5px; }
  main { max-width: none; padding: 0; }
  .toc, .top { display: none; }
  a { color: inherit; }
  h2 { break-after: avoid; page-break-after: avoid; }
  section, li.advice, table { break-inside: avoid-page; }
  .scroll { overflow: visible; }
}
"""
