"""The admin command line creates operators as the tests' in-process `add_operator` does (the command runs in
this process through its main(); tests/integration/test_package.py runs the installed `sportello` command)."""

from __future__ import annotations

import json

from testkit.support import add_operator, add_operator_cli, admin_cli


def test_admin_cli_adds_lists_and_signs_in(data_dir, runtime):
    out = add_operator_cli(data_dir, "mario", "Mario Rossi", "password123", "--admin", "--max-chats", "2")
    assert "created operator 'mario' (Mario Rossi)" in out.stdout
    add_operator(data_dir, "lucia", "Lucia Bianchi", "password123")  # the in-process helper, same store
    listed = admin_cli(data_dir, "list-operators", env={"DATABASE_URL": ""})
    assert listed.returncode == 0, listed.stderr
    ops = {op["username"]: op for op in map(json.loads, listed.stdout.splitlines())}
    assert set(ops) == {"mario", "lucia"}
    assert ops["mario"]["is_admin"] and ops["mario"]["max_chats"] == 2
    assert not ops["lucia"]["is_admin"] and ops["lucia"]["max_chats"] == 3
    token, op = runtime.operators.login("mario", "password123")
    assert token and op["display_name"] == "Mario Rossi"
