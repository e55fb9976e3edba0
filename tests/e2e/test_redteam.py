"""The red-team suite (`python3 -m redteam`) passes: every finding of the security review is fixed.

It starts its own app.py on 127.0.0.1 (free port, temporary DATA_DIR), runs one black-box probe per finding
and exits 1 if any probe fails; its output names each finding with the evidence.
"""

from __future__ import annotations

import subprocess
import sys

from testkit.support import ROOT


def test_redteam_suite_passes():
    r = subprocess.run(
        [sys.executable, "-m", "redteam"], cwd=ROOT, capture_output=True, text=True, timeout=240, check=False
    )
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
