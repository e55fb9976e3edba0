"""What is wrong with a knowledge base, line by line (`python -m sportello kb check --kb FILE [--json]`,
sportello/faces/kb_cli.py).

Errors are rows the answerer skips (an empty answer, an unknown language, a duplicate id, a cell too large,
a broken row) or a file it cannot use at all (missing, binary, too large, missing columns); warnings are rows
it uses but probably not as meant (an intent twice in one language, the same question under two intents, a
`lang` column that says one language of text written in the other, a file not in UTF-8, a very large KB).
Exit status: 0 with no errors (warnings are fine), 1 with errors, 2 for a usage error.
The same problems are logged, one line each, when the app loads the KB.
"""

from __future__ import annotations

from pathlib import Path

from sportello.answering.kb import KBError, KBProblem, read_kb


def check(path: Path | str) -> dict:
    """The report of one KB file: {"path", "ok", "entries", "intents", "errors": [...], "warnings": [...]}."""
    path = Path(path)
    try:
        result = read_kb(path)
    except KBError as exc:
        message = str(exc)
        prefix = f"{path}:"
        line = 0
        if message.startswith(prefix):
            head, _, rest = message[len(prefix) :].partition(": ")
            if head.isdigit():
                line, message = int(head), rest
            else:
                message = message[len(prefix) :].strip()
        errors, warnings, entries, intents = [KBProblem(line, message)], [], 0, 0
    else:
        errors, warnings = result.problems, result.warnings
        entries, intents = len(result.entries), len({e.intent for e in result.entries})
        if not result.entries:
            errors = [*errors, KBProblem(1, "no usable rows: every question goes to a person")]
    return {
        "path": str(path),
        "ok": not errors,
        "entries": entries,
        "intents": intents,
        "errors": [p.public() for p in errors],
        "warnings": [p.public() for p in warnings],
    }


def format_report(report: dict) -> str:
    lines = [f"{report['path']}:{p['line']}: {p['severity']}: {p['message']}" for p in report["errors"]]
    lines += [f"{report['path']}:{p['line']}: {p['severity']}: {p['message']}" for p in report["warnings"]]
    lines.sort(key=lambda s: int(s[len(report["path"]) + 1 :].split(":", 1)[0]))
    lines.append(
        f"{report['path']}: {report['entries']} entries, {report['intents']} intents; "
        f"{len(report['errors'])} errors, {len(report['warnings'])} warnings"
    )
    return "\n".join(lines)
