"""`python -m sportello COMMAND ...`: the command line, one word per face.

python -m sportello admin add-operator mario --name "Mario Rossi" --admin
python -m sportello ask --kb data/faq.csv "quanto costa il biglietto?"
python -m sportello eval --kb data/faq.csv --cases tests/data/eval_holdout5.csv
python -m sportello kb examples [--kb FILE] [--per-entry N] [--out FILE]
python -m sportello kb check --kb FILE [--json]
python -m sportello serve [--port 7860] [--host 0.0.0.0] [--no-dashboard]

`serve` runs the project's app.py (what `python app.py` runs): the app.py beside this package (a checkout,
or `pip install -e .`), else the one in the current directory. The pages (app.py, dashboard.py, pages/)
are not in the wheel, so an installed `sportello serve` needs the project directory.
`kb` holds the knowledge base's tools (sportello/faces/kb_cli.py).
After `pip install .` the same commands are `sportello admin ...`, `sportello ask ...`, `sportello serve`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

USAGE = "usage: python -m sportello {admin,ask,eval,kb,serve} ...\n"


def serve(argv: list[str]) -> int:
    """Replace this process with `python app.py ARGS` of the project directory (same code, same signals)."""
    candidates = [Path(__file__).resolve().parent.parent / "app.py", Path.cwd() / "app.py"]
    app = next((c for c in candidates if c.is_file()), None)
    if app is None:
        sys.stderr.write(
            "sportello serve: no app.py beside the sportello package nor in the current directory.\n"
            "Run it from the project directory (the checkout with app.py, dashboard.py and pages/), "
            "or install the checkout with `pip install -e .`.\n"
        )
        return 2
    os.execv(sys.executable, [sys.executable, str(app), *argv])


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        sys.stdout.write(__doc__ or USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "admin":
        from sportello.faces.admin import main as admin

        return admin(rest)
    if command in ("ask", "eval"):
        from sportello.answering.bot import main as answering

        return answering([command, *rest])
    if command == "kb":
        from sportello.faces.kb_cli import main as kb

        return kb(rest)
    if command == "serve":
        return serve(rest)
    sys.stderr.write(USAGE + f"unknown command: {command}\n")
    return 2


if __name__ == "__main__":
    sys.exit(main())
