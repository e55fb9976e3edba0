"""`pip install .` gives a working `sportello` command (built in a copy of the project, installed into a venv
that sees this machine's packages; built with the setuptools and wheel of requirements-dev.txt, without an
isolated build environment, so nothing is downloaded)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from sportello.config import ROOT


@pytest.mark.timeout(120)
def test_pip_install_gives_the_sportello_command(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(ROOT / "sportello", src / "sportello", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)], check=True)
    python = venv / "bin" / "python"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            str(src),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    command = venv / "bin" / "sportello"
    env = {**os.environ, "DATA_DIR": str(tmp_path / "data")}
    run = dict(cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)  # not the checkout

    shown = subprocess.run([str(command), "--help"], **run)
    assert shown.returncode == 0 and "sportello serve" in shown.stdout
    # the installed package answers, not the checkout's (the command runs outside it)
    where = subprocess.run([str(python), "-c", "import sportello; print(sportello.__file__)"], **run)
    assert str(venv) in where.stdout
    # the answerer's fitted data ships in the wheel: both operating points and the query adapter
    installed = Path(where.stdout.strip()).parent / "answering"
    for name in ("semantic_calibration.json", "semantic_calibration_cold.json", "query_adapter.npy"):
        assert (installed / name).is_file(), name
    asked = subprocess.run(
        [str(command), "ask", "--kb", str(ROOT / "data" / "faq.csv"), "--answerer", "lexical", "ciao"], **run
    )
    assert asked.returncode == 0, asked.stderr
    assert json.loads(asked.stdout)["found"] is True
    # the migrations ship in the wheel: a store can be made and backed up
    assert subprocess.run([str(command), "admin", "list-operators"], **run).returncode == 0
    backed = subprocess.run([str(command), "admin", "backup"], **run)
    assert backed.returncode == 0, backed.stderr
    # outside a project directory, serve says what it needs instead of starting
    served = subprocess.run([str(command), "serve"], **run)
    assert served.returncode == 2 and "project directory" in served.stderr


def test_the_package_depends_on_the_runtime_lock():
    """pyproject.toml's dependencies are requirements.txt's pins (the lock the image installs), no more, no less."""
    lock = [
        line.strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip()[:1] not in ("", "#")
    ]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert sorted(project["dependencies"]) == sorted(lock)
