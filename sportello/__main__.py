"""`python -m sportello COMMAND ...`: the command line, one word per face.

python -m sportello admin add-operator mario --name "Mario Rossi" --admin
python -m sportello ask --kb data/faq.csv "quanto costa il biglietto?"
python -m sportello eval --kb data/faq.csv --cases tests/data/eval_holdout5.csv
"""

from __future__ import annotations

import sys

USAGE = "usage: python -m sportello {admin,ask,eval} ...\n"


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
    sys.stderr.write(USAGE + f"unknown command: {command}\n")
    return 2


if __name__ == "__main__":
    sys.exit(main())
