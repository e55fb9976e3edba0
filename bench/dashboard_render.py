"""Dashboard speed, measured in a real browser (Playwright + Debian chromium).

    python bench/dashboard_render.py [--messages 40] [--waiting 200] [--tickets 2000] [--screenshots]

1. Latency: `python app.py --no-dashboard` and `streamlit run dashboard.py`
   on one DATA_DIR; an operator signs in and takes a chat; the visitor sends
   messages through the API; prints p50/p95 of the time until each message
   is visible on the Live page (it refreshes every CHAT_REFRESH_S).
2. Scale: a store with --waiting sessions in the queue and --tickets open
   tickets; prints the server-side script time of the Live and Ticket pages
   (AppTest, median of 5 runs) and the time the browser takes to show them.
3. --screenshots: docs/img/dashboard-live.png (the inbox, at 1280x800), dashboard-ticket.png (the ticket list
   and a ticket opened) and dashboard-analisi.png, from a store with four weeks of seeded history.

Everything runs in temporary directories; every process is stopped at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sportello.answering.bot import NO_ANSWER, OPERATOR_REQUEST, Answer  # noqa: E402
from sportello.config import Settings  # noqa: E402
from sportello.domain import ContactMethod, DomainError, State, TicketStatus  # noqa: E402
from sportello.runtime import Runtime  # noqa: E402
from sportello.services import tickets as tickets_mod  # noqa: E402
from sportello.services.chat import ChatService  # noqa: E402
from sportello.store.tables import sessions  # noqa: E402
from testkit.browser import chromium  # noqa: E402
from testkit.dashboard import DashboardServer, sign_in_browser  # noqa: E402
from testkit.support import AppServer, Visitor  # noqa: E402

IMG = ROOT / "docs" / "img"
ENV = {"QUEUE_TIMEOUT_S": "86400", "HEARTBEAT_TIMEOUT_S": "60"}
VIEWPORT = {"width": 1440, "height": 1000}


class BenchAnswerer:
    KNOWN = {
        "costa": ("richiesta_prezzi", "Il biglietto intero costa 10 €, ridotto 6 €."),
        "orari": ("orari", "Il museo è aperto dal martedì alla domenica, 9:00-19:00."),
        "mostra": ("mostre", "La mostra temporanea «Luci del Nord» è aperta fino a giugno."),
        "guidat": ("visite_guidate", "Le visite guidate partono ogni sabato alle 11:00."),
        "accessibil": ("accessibilita", "Il museo è accessibile in sedia a rotelle, con ascensori."),
    }

    def answer(self, question: str, lang: str | None = None) -> Answer:
        q = question.lower()
        for key, (intent, text) in self.KNOWN.items():
            if key in q:
                return Answer(True, text, intent, intent, 0.9, lang or "it")
        if "operatore" in q or "persona" in q:
            return Answer(False, "", OPERATOR_REQUEST, None, 0.0, lang or "it")
        return Answer(False, "", NO_ANSWER, None, 0.0, lang or "it")


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    k = (len(values) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def runtime_for(data_dir: Path) -> Runtime:
    return Runtime(Settings.from_env({"DATA_DIR": str(data_dir), **ENV}), answerer=BenchAnswerer())


def add_mario(rt: Runtime) -> int:
    return rt.operators.add("mario", "Mario Rossi", "password123", is_admin=True)["id"]


def queue_visitor(svc: ChatService, question: str, lang: str = "it") -> dict:
    v = svc.start_session(lang, "bench")
    svc.visitor_message(v["session_id"], v["token"], question)
    out = svc.answer_offer(v["session_id"], v["token"], True)
    assert out["status"] == State.WAITING, out["status"]
    return v


# ---------------------------------------------------------------- 1. latency
def sign_in_and_take_a_chat(page, dashboard_url: str, app_url: str) -> Visitor:
    """Mario signs in on the dashboard and takes the chat of a visitor who asked for a person (API)."""
    sign_in_browser(page, dashboard_url, "mario")
    visitor = Visitor(app_url)
    visitor.say("Vorrei parlare con un operatore")
    assert visitor.accept(True)["status"] == "waiting"
    page.get_by_role("button", name="Prendi").click()
    page.get_by_text("Ora l'assiste Mario.").wait_for(timeout=20_000)
    return visitor


def bench_latency(n_messages: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="sportello-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        rt = runtime_for(data_dir)
        add_mario(rt)
        rt.store.dispose()
        with (
            AppServer(data_dir, env=ENV, args=["--no-dashboard"]) as app,
            DashboardServer(data_dir, env=ENV) as dash,
            chromium() as ctx,
        ):
            page = ctx.new_page()
            page.set_viewport_size(VIEWPORT)
            visitor = sign_in_and_take_a_chat(page, dash.url, app.url)
            latencies = []
            for i in range(n_messages):
                text = f"Messaggio di prova numero {i} ({random.randint(0, 10**9)})"
                t0 = time.perf_counter()
                visitor.say(text)
                page.get_by_text(text).wait_for(timeout=20_000)
                latencies.append(time.perf_counter() - t0)
                time.sleep(random.uniform(0, 0.5))  # do not stay in phase with the refresh
            visitor.close()
    return {
        "n": len(latencies),
        "p50_ms": round(percentile(latencies, 50) * 1000),
        "p95_ms": round(percentile(latencies, 95) * 1000),
        "max_ms": round(max(latencies) * 1000),
    }


# ---------------------------------------------------------------- 2. scale
def seed_scale(rt: Runtime, mario: int, n_waiting: int, n_tickets: int) -> None:
    svc = rt.chat
    rng = random.Random(4)
    questions = [
        "Posso portare il cane al museo?",
        "Avete un parcheggio per i pullman?",
        "Si può fotografare con il flash?",
        "Vorrei parlare con un operatore per una prenotazione di gruppo",
    ]
    now = time.time()
    # Tickets: sessions and tickets written in batches (the flow's per-visitor
    # transactions would only make seeding slower, not the page).
    with rt.store.write() as conn:
        for i in range(n_tickets):
            sid = f"bench{i:027d}"
            created = now - rng.uniform(0, 30 * 86400)
            conn.execute(
                sessions.insert().values(
                    id=sid,
                    token_hash="x",
                    status=State.CLOSED,
                    language="it",
                    user_agent="bench",
                    created_at=created,
                    updated_at=created,
                    last_seq=4,
                    original_question=rng.choice(questions),
                    escalation_reason=NO_ANSWER,
                    closed_at=created + 60,
                )
            )
            tickets_mod.create(
                conn,
                created + 60,
                session_id=sid,
                original_question=rng.choice(questions),
                conversation_transcript="[10:00] Utente: " + rng.choice(questions),
                status=TicketStatus.OPEN,
                contact_method=ContactMethod.EMAIL.value,
                contact_info=f"visitatore{i}@example.org",
                language="it",
                started_at=created,
                ended_at=created + 60,
            )
    for i in range(n_waiting):
        if i % 50 == 0:
            rt.operators.set_status(mario, "online")  # fresh heartbeat while seeding
        queue_visitor(svc, f"{rng.choice(questions)} (#{i})")


def apptest_ms(data_dir: Path, page_path: str, runs: int = 5) -> float:
    from streamlit.testing.v1 import AppTest

    os.environ["DATA_DIR"] = str(data_dir)
    for k, v in ENV.items():
        os.environ[k] = v
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=120).run()
    at.text_input(key="login_username").input("mario")
    at.text_input(key="login_password").input("password123")
    next(b for b in at.button if b.key.startswith("FormSubmitter:login-")).click().run()
    if page_path != "pages/live_chat.py":
        at.switch_page(page_path)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - t0)
        assert not at.exception, at.exception
    return round(statistics.median(times) * 1000)


def bench_scale(n_waiting: int, n_tickets: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="sportello-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        rt = runtime_for(data_dir)
        mario = add_mario(rt)
        t0 = time.perf_counter()
        seed_scale(rt, mario, n_waiting, n_tickets)
        seeded_s = time.perf_counter() - t0
        rt.store.dispose()
        out = {
            "waiting": n_waiting,
            "tickets": n_tickets,
            "seed_s": round(seeded_s, 1),
            "live_script_ms": apptest_ms(data_dir, "pages/live_chat.py"),
            "ticket_script_ms": apptest_ms(data_dir, "pages/tickets.py"),
        }
        with DashboardServer(data_dir, env=ENV) as dash, chromium() as ctx:
            page = ctx.new_page()
            page.set_viewport_size(VIEWPORT)
            t0 = time.perf_counter()
            sign_in_browser(page, dash.url, "mario")
            page.get_by_text(f"Altri {n_waiting - 10} in coda:").wait_for(timeout=60_000)
            out["live_browser_ms"] = round((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            page.get_by_role("link", name="Ticket").click()
            page.get_by_text(f"{n_tickets} ticket", exact=True).wait_for(timeout=60_000)
            page.locator("[class*='st-key-tk_row_']").first.wait_for(timeout=60_000)
            out["ticket_browser_ms"] = round((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            page.get_by_role("link", name="Live").click()
            page.get_by_text(f"Altri {n_waiting - 10} in coda:").wait_for(timeout=60_000)
            out["live_again_browser_ms"] = round((time.perf_counter() - t0) * 1000)
    return out


# ---------------------------------------------------------------- 3. screenshots
def seed_history(rt: Runtime, mario: int, days: int = 27) -> None:
    """Four weeks of plausible traffic, through ChatService with a fake clock."""
    rng = random.Random(11)
    now = time.time()
    clock_now = [now]
    svc = ChatService(rt.store, BenchAnswerer(), rt.settings, clock=lambda: clock_now[0])
    answered = [
        "Quanto costa il biglietto?",
        "Quali sono gli orari di apertura?",
        "Che mostra c'è adesso?",
        "Fate visite guidate?",
        "Il museo è accessibile in carrozzina?",
    ]
    unanswered = [
        ("Posso portare il cane?", 9),
        ("Avete un parcheggio per i pullman?", 6),
        ("Si può fotografare con il flash?", 4),
        ("C'è un guardaroba per gli zaini?", 3),
        ("Posso pagare con Satispay?", 2),
        ("Organizzate feste di compleanno per bambini?", 1),
    ]
    pool = [q for q, w in unanswered for _ in range(w)]
    for d in range(days, -1, -1):
        for _ in range(rng.randint(12, 30)):
            clock_now[0] = now - d * 86400 - rng.uniform(0, 8 * 3600)
            if clock_now[0] > now:
                continue
            v = svc.start_session(rng.choice(["it", "it", "it", "en"]), "bench")
            sid, tok = v["session_id"], v["token"]
            r = rng.random()
            if r < 0.62:
                for q in rng.sample(answered, rng.randint(1, 2)):
                    svc.visitor_message(sid, tok, q)
                rate(rt, sid, tok, rng, (3, 4, 4, 5, 5))
                continue
            svc.visitor_message(sid, tok, rng.choice(pool))
            if r < 0.75:
                svc.answer_offer(sid, tok, False)
                continue
            if r < 0.9:
                rt.operators.heartbeat(mario, now=clock_now[0])
                rt.operators.set_status(mario, "online")
                rt.operators.heartbeat(mario, now=clock_now[0])
                svc.answer_offer(sid, tok, True)
                clock_now[0] += rng.uniform(10, 240)
                rt.operators.heartbeat(mario, now=clock_now[0])  # at the desk: only a present operator takes
                svc.take_chat(mario, sid)
                clock_now[0] += rng.uniform(30, 200)
                svc.operator_send(mario, sid, "Buongiorno, le rispondo subito.")
                clock_now[0] += rng.uniform(30, 500)
                svc.release_chat(mario, sid, "Informazioni fornite")
                rate(rt, sid, tok, rng, (4, 5, 5, 5))
            elif r < 0.97:
                rt.operators.set_status(mario, "away")
                svc.answer_offer(sid, tok, True)
                svc.submit_contact(sid, tok, "email", f"visitatore{rng.randint(1, 999)}@example.org")
            else:
                rt.operators.heartbeat(mario, now=clock_now[0])
                rt.operators.set_status(mario, "online")
                rt.operators.heartbeat(mario, now=clock_now[0])
                svc.answer_offer(sid, tok, True)
                svc.expire_waiting()
    rt.operators.set_status(mario, "offline")
    # Leave nobody waiting from the past (the live screenshot sets up its own queue).
    with rt.store.write() as conn:
        conn.execute(
            sessions.update().where(sessions.c.status == State.WAITING).values(status=State.COLLECTING_CONTACT)
        )


def rate(rt: Runtime, sid: str, tok: str, rng: random.Random, scores: tuple[int, ...]) -> None:
    """Half of the visitors leave a 1-5 rating (issue 15), when the runtime takes ratings."""
    feedback = getattr(rt, "feedback", None)
    if feedback is None or rng.random() < 0.5:
        return
    try:
        feedback.rate(sid, tok, rng.choice(scores))
    except DomainError:
        pass


def screenshots() -> list[str]:
    IMG.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sportello-shots-") as tmp:
        data_dir = Path(tmp) / "data"
        rt = runtime_for(data_dir)
        mario = add_mario(rt)
        seed_history(rt, mario)
        with DashboardServer(data_dir, env=ENV) as dash, chromium() as ctx:
            page = ctx.new_page()
            page.set_viewport_size({"width": 1280, "height": 800})  # the inbox as an operator's laptop shows it
            sign_in_browser(page, dash.url, "mario")
            svc = rt.chat
            chat = svc.start_session("it", "bench")
            svc.visitor_message(chat["session_id"], chat["token"], "Quanto costa il biglietto?")
            svc.visitor_message(chat["session_id"], chat["token"], "Posso portare il cane? È piccolo.")
            svc.answer_offer(chat["session_id"], chat["token"], True)
            queue_visitor(svc, "Avete un parcheggio per i pullman? Arriviamo in 50.")
            queue_visitor(svc, "I would like to speak with someone about a school visit", "en")
            page.get_by_role("button", name="Prendi").first.click()
            page.get_by_text("Ora l'assiste Mario.").wait_for(timeout=20_000)
            svc.operator_send(
                mario, chat["session_id"], "Buongiorno! Sì, i cani di piccola taglia sono ammessi in braccio."
            )
            svc.visitor_message(chat["session_id"], chat["token"], "Perfetto, grazie mille!")
            page.get_by_text("Perfetto, grazie mille!").wait_for(timeout=20_000)
            # An internal note, written in the console (operators only).
            page.get_by_text("Note interne (solo operatori)").first.click()
            page.get_by_label("Nota per i colleghi (il visitatore non la vede)").fill(
                "Ha già chiamato ieri per lo stesso motivo."
            )
            page.get_by_role("button", name="Aggiungi nota").click()
            page.get_by_text("Ha già chiamato ieri per lo stesso motivo.").wait_for(timeout=20_000)
            time.sleep(1.0)
            page.evaluate("document.querySelector('[data-testid=\"stMain\"]')?.scrollTo(0, 0)")
            time.sleep(0.5)
            page.screenshot(path=str(IMG / "dashboard-live.png"))
            out = svc.release_chat(mario, chat["session_id"], "Informazioni fornite")
            page.get_by_role("link", name="Ticket").click()
            page.get_by_role("button", name=f"#{out['ticket']['id']} · risolto").click(timeout=90_000)
            page.get_by_text(f"Ticket #{out['ticket']['id']}").wait_for(timeout=30_000)
            time.sleep(1.0)
            page.screenshot(path=str(IMG / "dashboard-ticket.png"))
            page.set_viewport_size({"width": 1440, "height": 1900})  # charts and the unanswered list
            page.get_by_role("link", name="Analisi").click()
            page.get_by_text("Domande a cui l'AI non ha saputo rispondere").wait_for(timeout=30_000)
            page.locator("[data-testid='stVegaLiteChart']").first.wait_for(timeout=30_000)
            time.sleep(2.0)  # let the charts draw
            page.screenshot(path=str(IMG / "dashboard-analisi.png"), full_page=True)
        rt.store.dispose()
    return [str(IMG / name) for name in ("dashboard-live.png", "dashboard-ticket.png", "dashboard-analisi.png")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=40)
    parser.add_argument("--waiting", type=int, default=200)
    parser.add_argument("--tickets", type=int, default=2000)
    parser.add_argument("--screenshots", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    args = parser.parse_args()
    print(f"cpus={os.cpu_count()}  chat refresh every 1.0 s, queue every 2.0 s")
    if not args.skip_latency:
        lat = bench_latency(args.messages)
        print(
            f"new visitor message -> visible on Live: n={lat['n']} p50={lat['p50_ms']} ms "
            f"p95={lat['p95_ms']} ms max={lat['max_ms']} ms"
        )
    if not args.skip_scale:
        sc = bench_scale(args.waiting, args.tickets)
        print(f"scale: {sc['waiting']} waiting sessions, {sc['tickets']} tickets (seeded in {sc['seed_s']} s)")
        print(f"  Live page script (AppTest, median of 5):   {sc['live_script_ms']} ms")
        print(f"  Ticket page script (AppTest, median of 5): {sc['ticket_script_ms']} ms")
        print(f"  browser: sign in -> Live with the queue shown: {sc['live_browser_ms']} ms")
        print(f"  browser: Live -> Ticket with {sc['tickets']} rows shown: {sc['ticket_browser_ms']} ms")
        print(f"  browser: Ticket -> Live again: {sc['live_again_browser_ms']} ms")
    if args.screenshots:
        for path in screenshots():
            print(f"screenshot: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
