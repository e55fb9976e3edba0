"""Sportello's red-team suite: `python3 -m redteam [--only NAME ...]`.

It starts its own `python app.py` on 127.0.0.1 (free port, temporary DATA_DIR, operators made with
`python -m sportello admin add-operator`), runs one black-box probe per finding with bounded loops, prints
`PASS name: evidence` / `FAIL name: evidence` (or `SKIP name: reason`) and exits 1 if any probe failed.
Only 127.0.0.1 is ever a target; every process and temporary directory is removed at the end.
"""
