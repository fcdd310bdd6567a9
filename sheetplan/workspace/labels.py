"""Label catalogues (templates/labels.<lang>.toml): every word a workbook shows comes from here."""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

from sheetplan.errors import ConfigError

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"


@lru_cache(maxsize=8)
def catalogue(lang: str, name: str = "labels") -> dict[str, dict[str, str]]:
    """templates/<name>.<lang>.toml: 'labels' for workbooks and messages, 'mail' for email texts."""
    path = TEMPLATES_DIR / f"{name}.{lang}.toml"
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"no {name} catalogue for language {lang!r} ({path})") from None


class Labels:
    """Looks labels up as 'section.key' and fills {placeholders}."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self._data = catalogue(lang)

    def has(self, key: str) -> bool:
        section, _, name = key.partition(".")
        return name in self._data.get(section, {})

    def __call__(self, key: str, **values) -> str:
        section, _, name = key.partition(".")
        text = self._data[section][name]
        return text.format(**values) if values else text
