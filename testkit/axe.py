"""axe-core (npm, pinned in package.json) run inside a Playwright page.

`bash .ci/run` installs it with `npm ci`. The script is evaluated through the
DevTools protocol (`page.evaluate`), so a page's Content-Security-Policy, which
refuses inline scripts, does not stop it. A missing install fails the test with
a clear message: it never skips.
"""

from __future__ import annotations

from pathlib import Path

AXE_JS = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"
SEVERE = ("serious", "critical")


def _source() -> str:
    if not AXE_JS.exists():
        raise AssertionError(f"axe-core is not installed ({AXE_JS}): run `npm ci` in the project root")
    return AXE_JS.read_text(encoding="utf-8")


def violations(page, impacts: tuple[str, ...] = SEVERE, include: str | None = None) -> list[dict]:
    """The page's axe violations of the given impacts, each {id, impact, help, targets}."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(_source())
    context = f"{include!r}" if include else "document"
    found = page.evaluate(
        "async () => { const r = await axe.run(" + context + ", {resultTypes: ['violations']});"
        " return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " targets: v.nodes.map(n => n.target.join(' ')).slice(0, 5)})); }"
    )
    return [v for v in found if v["impact"] in impacts]


def assert_accessible(page, what: str, impacts: tuple[str, ...] = SEVERE) -> None:
    """Fail with a readable list when axe finds serious or critical violations that are still there once
    the page has settled: a violation seen during a transition (Gradio fades the controls while an event
    runs) is looked at again 1 s later, and only what remains fails the test."""
    found = violations(page, impacts)
    if found:
        page.wait_for_timeout(1000)
        found = violations(page, impacts)
    if found:
        lines = [f"- {v['impact']}: {v['id']} ({v['help']}) at {', '.join(v['targets'])}" for v in found]
        raise AssertionError(f"axe-core: {len(found)} serious/critical violations on {what}:\n" + "\n".join(lines))
