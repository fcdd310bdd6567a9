"""What a user installs: every subpackage is in the distribution, the catalogues are found through the
package, and a command that fails leaves no half-made workspace behind."""

from __future__ import annotations

import configparser
import zipfile
from pathlib import Path

import pytest

from sheetplan import api
from sheetplan.errors import ConfigError
from sheetplan.workspace import labels

ROOT = Path(__file__).resolve().parents[1]


def test_setup_cfg_lists_every_subpackage_and_maps_the_catalogues():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg", encoding="utf-8")
    listed = set(cfg["options"]["packages"].split())
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "sheetplan").rglob("__init__.py")}
    assert listed == on_disk | {"sheetplan.catalogues"}
    assert cfg["options"]["package_dir"].split() == ["sheetplan.catalogues", "=", "templates"]
    assert cfg["options.package_data"]["sheetplan.catalogues"] == "*.toml"


def test_catalogues_are_read_through_the_package_not_the_checkout():
    """importlib.resources finds sheetplan.catalogues wherever pip put it; every file of templates/ is one."""
    from importlib import resources

    packaged = {f.name for f in resources.files(labels.CATALOGUES).iterdir() if f.name.endswith(".toml")}
    assert packaged == {p.name for p in (ROOT / "templates").glob("*.toml")}
    assert labels.catalogue("zh")["common"]["owner"] != labels.catalogue("en")["common"]["owner"]


def test_built_wheel_carries_every_catalogue(tmp_path, monkeypatch):
    """The wheel a user installs holds the catalogues as package data. Built in-process by setuptools from a
    copy of the sources, so the checkout gets no build/ folder (scripts/wheel_check.sh installs and runs it)."""
    import shutil

    from setuptools import build_meta

    source = tmp_path / "src"
    for part in ("sheetplan", "templates"):
        shutil.copytree(ROOT / part, source / part, ignore=shutil.ignore_patterns("__pycache__"))
    for part in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / part, source / part)
    monkeypatch.chdir(source)
    name = build_meta.build_wheel(str(tmp_path / "dist"))
    with zipfile.ZipFile(tmp_path / "dist" / name) as wheel:
        names = set(wheel.namelist())
    for toml in (ROOT / "templates").glob("*.toml"):
        assert f"sheetplan/catalogues/{toml.name}" in names
    assert {"sheetplan/catalogues/__init__.py", "sheetplan/api.py", "sheetplan/xlsx/layout.py"} <= names


def test_an_unknown_language_is_the_users_mistake_a_missing_file_is_the_installs(monkeypatch):
    from sheetplan.errors import EnvironmentProblem

    labels.catalogue.cache_clear()
    with pytest.raises(ConfigError, match="choose one of en, zh"):
        labels.catalogue("fr")
    monkeypatch.setattr(labels, "CATALOGUES", "sheetplan.no_such_package")
    try:
        with pytest.raises(EnvironmentProblem, match="installed without its labels catalogue.*reinstall"):
            labels.catalogue("en")
    finally:
        labels.catalogue.cache_clear()


def test_a_failed_init_leaves_no_folder(tmp_path, monkeypatch):
    def broken(workspace):
        raise ConfigError("the plan cannot be allocated: simulated")

    monkeypatch.setattr(api, "refresh_plan", broken)
    with pytest.raises(ConfigError):
        api.init_workspace(tmp_path / "new", demo=True, year=2027)
    assert not (tmp_path / "new").exists()


def test_a_failed_init_in_an_existing_folder_removes_only_what_it_made(tmp_path, monkeypatch):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me", encoding="utf-8")
    monkeypatch.setattr(api, "refresh_plan", lambda workspace: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        api.init_workspace(folder, demo=True, year=2027)
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


def test_a_failed_demo_leaves_no_half_made_workspace(tmp_path, monkeypatch):
    """The demo stops in its first generate; the folder it was creating is gone, nothing else is touched."""
    def broken(*args, **kwargs):
        raise ConfigError("simulated failure in generate")

    monkeypatch.setattr(api, "generate", broken)
    (tmp_path / "beside.txt").write_text("x", encoding="utf-8")
    with pytest.raises(ConfigError, match="simulated"):
        api.run_demo(tmp_path / "demo", say=lambda line: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["beside.txt"]
