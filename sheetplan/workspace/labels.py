"""Label catalogues (templates/labels.<lang>.toml): every word a workbook shows comes from here."""

from __future__ import annotations

import tomllib
from functools import lru_cache
from importlib import resources

from sheetplan.errors import ConfigError, EnvironmentProblem

LANGUAGES = ("en", "zh")
# templates/ in the source tree, installed as the package sheetplan.catalogues (see setup.cfg)
CATALOGUES = "sheetplan.catalogues"


@lru_cache(maxsize=8)
def catalogue(lang: str, name: str = "labels") -> dict[str, dict[str, str]]:
    """templates/<name>.<lang>.toml: 'labels' for workbooks and messages, 'mail' for email texts."""
    if lang not in LANGUAGES:
        raise ConfigError(f"no {name} catalogue for language {lang!r}: choose one of {', '.join(LANGUAGES)}")
    try:
        text = resources.files(CATALOGUES).joinpath(f"{name}.{lang}.toml").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError) as exc:
        # the language is known, so the file is missing from the installation, not from the user's input
        raise EnvironmentProblem(f"sheetplan is installed without its {name} catalogue {name}.{lang}.toml "
                                 f"(package {CATALOGUES}: {exc}); reinstall sheetplan") from None
    return tomllib.loads(text)


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
