"""Findings about the host: a full disk, and an unreadable setting at start-up.

disk_full: an app of its own whose DATA_DIR is a small tmpfs (`mount -t tmpfs`, needs root); the disk is
filled with a file, then a visitor writes. Without the mount the probe is a SKIP that says why.
"""

from __future__ import annotations

import contextlib
import errno
import subprocess
import sys
import time

from redteam.harness import App, Context, Result, base_env, free_port, run, verdict

IT_WORDS = ("spazio", "disco", "riprov", "momentaneamente", "non è possibile", "servizio")
EN_WORDS = ("space", "disk", "try again", "temporarily", "unavailable", "storage")


def _mount_tmpfs(ctx: Context, size: str) -> tuple[object, str]:
    mnt = ctx.new_dir("tmpfs")
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)], capture_output=True, text=True
    )
    if r.returncode != 0:
        return None, (r.stderr or r.stdout).strip()[:160]

    def umount() -> None:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)

    ctx.cleanups.append(umount)
    return mnt, ""


def _fill(path) -> int:
    written = 0
    chunk = b"\0" * 65536
    with open(path, "wb") as fh:
        for _ in range(4096):  # at most 256 MB, the tmpfs is far smaller
            try:
                fh.write(chunk)
                fh.flush()
                written += len(chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
    return written


def disk_full(ctx: Context) -> Result:
    name = "disk_full"
    if sys.platform != "linux":
        return Result(name, "SKIP", "needs Linux tmpfs")
    mnt, why = _mount_tmpfs(ctx, "24m")
    if mnt is None:
        return Result(
            name, "SKIP", f"cannot mount a small tmpfs for DATA_DIR ({why}); run as root, or use a loop device"
        )
    app = App(mnt / "data", dashboard=False, env={"HEALTH_MIN_FREE_MB": "0"})
    app.log_path = ctx.tmp / f"app-disk-{app.port}.log"
    ctx.cleanups.append(app.stop)
    app.spawn()
    app.wait_ready()
    http = app.client()
    try:
        start = http.post("/api/chat/sessions", json={"language": "it"}).json()
        sid = start["session_id"]
        http.headers["X-Session-Token"] = start["token"]
        filler = _fill(mnt / "filler.bin")
        first_bad = None
        sent = 0
        for i in range(60):
            r = http.post(f"/api/chat/sessions/{sid}/messages", json={"text": f"prova {i} " + "x" * 1900})
            sent += 1
            if r.status_code >= 400:
                first_bad = r
                break
        if first_bad is None:
            return Result(name, "SKIP", f"disk filled ({filler} bytes) but {sent} chat writes still succeeded")
        r = first_bad
        ctype = r.headers.get("content-type", "")
        try:
            message = str(r.json()["error"]["message"])
        except (ValueError, KeyError, TypeError):
            message = ""
        bilingual = any(w in message.lower() for w in IT_WORDS) and any(w in message.lower() for w in EN_WORDS)
        ok = r.status_code in (503, 507) and "json" in ctype and bilingual
        return verdict(
            name,
            ok,
            f"disk full after {filler} bytes; write {sent} -> {r.status_code} {ctype or '-'} {r.text[:90]!r}",
        )
    finally:
        http.close()
        with contextlib.suppress(OSError):
            (mnt / "filler.bin").unlink()


def startup_hours(ctx: Context) -> Result:
    """An unreadable BUSINESS_HOURS stops start-up with one clear line, not a traceback."""
    name = "startup_hours"
    data = ctx.new_dir("startup") / "data"
    env = base_env(data, free_port(), BUSINESS_HOURS="lunedi dalle nove a quando capita")
    started = time.monotonic()
    try:
        r = run([sys.executable, "app.py", "--no-dashboard"], env, timeout=60)
    except subprocess.TimeoutExpired:
        return verdict(name, False, "app.py did not stop within 60 s with an unreadable BUSINESS_HOURS")
    out = (r.stdout + r.stderr).strip()
    lines = [x for x in out.splitlines() if x.strip()]
    traceback = "Traceback" in out
    named = "BUSINESS_HOURS" in out
    ok = r.returncode != 0 and not traceback and named and len(lines) <= 3
    tail = lines[-1][:120] if lines else ""
    took = time.monotonic() - started
    return verdict(
        name,
        ok,
        f"exit {r.returncode} in {took:.1f}s, {len(lines)} lines, traceback={traceback}; last: {tail!r}",
    )
