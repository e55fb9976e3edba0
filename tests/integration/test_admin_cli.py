"""The admin command line creates operators as the tests' in-process `add_operator` does."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from testkit.support import ROOT, add_operator, add_operator_cli


def _admin(data_dir, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sportello.faces.admin", *args],
        cwd=ROOT,
        env={**os.environ, "DATA_DIR": str(data_dir), "DATABASE_URL": ""},
        capture_output=True,
        text=True,
        check=False,
    )


def test_admin_cli_adds_lists_and_signs_in(data_dir, runtime):
    out = add_operator_cli(data_dir, "mario", "Mario Rossi", "password123", "--admin", "--max-chats", "2")
    assert b"created operator 'mario' (Mario Rossi)" in out.stdout
    add_operator(data_dir, "lucia", "Lucia Bianchi", "password123")  # the in-process helper, same store
    listed = _admin(data_dir, "list-operators")
    assert listed.returncode == 0, listed.stderr
    ops = {op["username"]: op for op in map(json.loads, listed.stdout.splitlines())}
    assert set(ops) == {"mario", "lucia"}
    assert ops["mario"]["is_admin"] and ops["mario"]["max_chats"] == 2
    assert not ops["lucia"]["is_admin"] and ops["lucia"]["max_chats"] == 3
    token, op = runtime.operators.login("mario", "password123")
    assert token and op["display_name"] == "Mario Rossi"
