"""Problems, codes and stored keywords in the reader's language, rendered from the label catalogues when shown.

A problem is stored as its code and parameters (figures already formatted, a metric by its key), so the
same record reads as English in an English workspace and as Chinese in a Chinese one. Stored keywords
(statuses, severities, roles, kinds, decisions) stay machine keys in the store, the Data sheet and the
exports; `term` turns them into words only where a person reads them.
"""

from __future__ import annotations

from collections.abc import Mapping

from sheetplan.problems import Problem
from sheetplan.workspace.labels import catalogue


def metric_labels(config, lang: str) -> dict[str, str]:
    """Metric key -> the label a reader of `lang` knows it by."""
    return {m.key: m.label(lang) for m in config.metrics}


def problem_text(problem: Problem, lang: str, metrics: Mapping[str, str] | None = None) -> str:
    """The problem as a sentence in `lang`.

    With parameters, the catalogue's `problem_text.<code>` sentence is filled in (the metric by its label
    in `lang`); without, an English workspace keeps the stored message and any other language gets the
    catalogue's advice for the code (`problems.<code>`), never the English sentence."""
    data = catalogue(lang)
    template = data.get("problem_text", {}).get(problem.code)
    if template and problem.params:
        values = dict(problem.params)
        if "metric" in values:
            values["metric"] = (metrics or {}).get(values["metric"], values["metric"])
        try:
            return template.format(**values)
        except (KeyError, IndexError, ValueError):
            pass  # parameters of an older release: fall back to the advice below
    if lang == "en" and problem.message:
        return problem.message
    return (data.get("problems", {}).get(problem.code) or data.get("problem_advice", {}).get(problem.code)
            or data["problem_words"]["other"])


def code_name(code: str, lang: str) -> str:
    """A problem or flag code as a reader names it (English workspaces show the code itself)."""
    return catalogue(lang).get("code_names", {}).get(code, code)


def term(kind: str, value, lang: str) -> str:
    """A stored keyword (status, severity, role, kind, decision, level, source) as a word in `lang`.

    Unknown values are shown as stored: they are names a user chose (a band, a team), not keywords."""
    if value is None or value == "":
        return ""
    key = f"{kind}_{str(value).replace(' ', '_')}"
    return catalogue(lang).get("terms", {}).get(key, str(value))


def reason_names(reasons: str, lang: str) -> str:
    """A round's stored reasons ('plan-mismatch x2, not-a-number') with each code named in `lang`."""
    if not reasons or lang == "en":
        return reasons
    named = []
    for reason in reasons.split(", "):
        code, _, count = reason.partition(" x")
        named.append(code_name(code, lang) + (f" ×{count}" if count else ""))
    return catalogue(lang)["history_check"]["separator"].join(named)
