"""Privacy findings: erasure that misses the labels, erased data left in the WAL, masking bypassed.

The erasure is the real command line (`python -m sportello admin erase --contact …` / `--session …`);
the checks read DATA_DIR: the database with sqlite3 read-only, the learned files, the WAL's bytes.
"""

from __future__ import annotations

from redteam import dashboard
from redteam import seed as S
from redteam.harness import Context, Result, failed, login, verdict


def _erase(ctx: Context) -> str:
    """Label (admin, dashboard), then erase both visitors once; returns what the CLI said."""
    if "erased" in ctx.seed:
        return ctx.seed["erased"]
    app = S.start_main_app(ctx)
    dashboard.erasure_labels(ctx)
    ctx.seed["labels_before"] = app.query("SELECT count(*) FROM labels WHERE question LIKE 'Modulo%'")[0][0]
    said = []
    for args in (("--contact", S.ERASE_EMAIL), ("--session", ctx.seed["erase_phone_sid"])):
        r = app.cli("erase", *args)
        said.append(f"erase {args[0]}: rc={r.returncode}")
    ctx.seed["erased"] = ", ".join(said)
    return ctx.seed["erased"]


SECRETS = (S.ERASE_EMAIL, S.ERASE_EMAIL_NAME, S.ERASE_PHONE, S.ERASE_PHONE_NAME)


def erasure_labels(ctx: Context) -> Result:
    name = "erasure_labels"
    app = S.start_main_app(ctx)
    said = _erase(ctx)
    rows = app.query("SELECT question, question_it, question_en, answer_it, answer_en FROM labels")
    table = " ".join(str(c) for r in rows for c in r)
    if not ctx.seed["labels_before"]:
        return failed(name, f"could not set up: the admin's labels were not stored ({said})")
    found = [f"labels: {s!r}" for s in SECRETS if s in table]
    for fname in ("learned_examples.csv", "learned_kb.csv"):
        path = app.data_dir / fname
        text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
        found += [f"{fname}: {s!r}" for s in SECRETS if s in text]
    return verdict(name, not found, f"{said}; still held: {', '.join(found) or 'nothing'} ({len(rows)} labels)")


def wal_erased(ctx: Context) -> Result:
    name = "wal_erased"
    app = S.start_main_app(ctx)
    said = _erase(ctx)
    wal = app.data_dir / "sportello.db-wal"
    data = wal.read_bytes() if wal.exists() else b""
    main = app.db_path.read_bytes()
    secrets = (S.ERASE_PHONE, S.ERASE_PHONE_NAME, S.ERASE_EMAIL)
    in_wal = [s for s in secrets if s.encode() in data]
    in_db = [s for s in secrets if s.encode() in main]
    running = app.proc.poll() is None
    return verdict(
        name,
        not in_wal,
        f"{said}; app running={running}; WAL ({len(data)} bytes) holds {in_wal or 'none'}; "
        f"sportello.db holds {in_db or 'none'}",
    )


def masking(ctx: Context) -> Result:
    name = "masking"
    app = S.start_main_app(ctx)
    sid = ctx.seed["mask_sid"]
    http = login(app, S.OPERATOR)
    leaks = []
    try:
        listed = http.get("/api/tickets", params={"session_id": sid}).json().get("tickets", [])
        if not listed:
            return failed(name, "could not set up: the seeded ticket is not listed")
        ticket_id = listed[0]["id"]
        if S.MASK_EMAIL in str(listed):
            leaks.append("GET /api/tickets?session_id lists the full contact")
        one = http.get(f"/api/tickets/{ticket_id}")
        if S.MASK_EMAIL in one.text:
            leaks.append(f"GET /api/tickets/{ticket_id} ({one.status_code}) shows it")
        msgs = http.get("/api/operators", params={"action": "chat_messages", "session_id": sid})
        if S.MASK_EMAIL in msgs.text:
            leaks.append(f"chat_messages ({msgs.status_code}) shows it")
        right = http.get("/api/tickets", params={"q": S.MASK_EMAIL}).json().get("tickets", [])
        wrong = http.get("/api/tickets", params={"q": "nessuno.rt@example.org"}).json().get("tickets", [])
        hit = any(t["id"] == ticket_id for t in right)
        if hit and not any(t["id"] == ticket_id for t in wrong):
            leaks.append("q=<the right email> finds the ticket, a wrong guess does not")
    finally:
        http.close()
    return verdict(name, not leaks, "; ".join(leaks) or "non-admin rt_lucia never sees or confirms the contact")
