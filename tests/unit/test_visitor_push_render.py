"""What the visitor page's push and streamed answers rest on: every message the Chatbot draws names its sequence
(the #sp-live script removes its own copy by it), the answer in progress ("writing…", then the text so far,
escaped), and the coalescing of a streamed answer's pieces into renders."""

from __future__ import annotations

import asyncio

from sportello.faces.visitor.page import PARTIAL_SETTLE_S, _partials
from sportello.faces.visitor.view import chat_messages, new_view


def view_with(**extra) -> dict:
    view = new_view("it")
    view.update(
        sid="s",
        token="t",
        status="live",
        operator_name="Mario",
        msgs=[
            {"seq": 1, "role": "bot", "author": "", "text": "Buongiorno", "created_at": None},
            {"seq": 2, "role": "user", "author": "", "text": "Ciao", "created_at": None},
            {"seq": 3, "role": "system", "author": "", "text": "Ora l'assiste Mario.", "created_at": None},
            {"seq": 4, "role": "operator", "author": "Mario", "text": "<b>x</b>", "created_at": None},
        ],
    )
    view.update(extra)
    return view


def test_every_stored_message_names_its_sequence_and_typing_is_left_to_the_stream():
    out = chat_messages(view_with(operator_typing=True))
    assert [f"sp-s{i}" in m["content"] for i, m in zip(range(1, 5), out, strict=True)] == [True] * 4
    assert "&lt;b&gt;x&lt;/b&gt;" in out[3]["content"] and "<b>" not in out[3]["content"]
    assert len(out) == 4  # "Mario sta scrivendo…" is the page script's row, not the Chatbot's
    greeting = chat_messages(new_view("en"))
    assert "sp-s" not in greeting[0]["content"]  # the local greeting (seq 0) names none


def test_the_answer_in_progress_says_it_is_written_then_shows_the_text_so_far():
    waiting = chat_messages(view_with(status="bot", pending="Quanto costa?"))
    assert waiting[-1]["content"] == '<span class="sp-typing">L\'assistente sta scrivendo…</span>'
    partial = chat_messages(view_with(status="bot", pending="Quanto costa?", pending_answer="Il <i>biglietto"))
    assert 'class="sp-text sp-partial">Il &lt;i&gt;biglietto</span>' in partial[-1]["content"]
    assert partial[-2] == {"role": "user", "content": "Quanto costa?"}
    live = chat_messages(view_with(pending="Ancora una cosa"))
    assert live[-1]["role"] == "user"  # with a person: no "writing…" of the assistant


async def collect(schedule: list[tuple[float, str | None]]) -> list[str]:
    """Runs _partials over pieces put at the given times (None: the job ends then)."""
    loop = asyncio.get_running_loop()
    pieces: asyncio.Queue = asyncio.Queue()
    job = loop.create_future()
    for at, piece in schedule:
        if piece is None:
            loop.call_later(at, job.set_result, "final")
        else:
            loop.call_later(at, pieces.put_nowait, piece)
    return [text async for text in _partials(job, pieces)]


def test_a_streamed_answer_is_rendered_as_it_grows_and_a_whole_answer_once():
    grown = asyncio.run(collect([(0.0, "Il "), (0.3, "biglietto "), (0.6, "costa 8 euro."), (0.9, None)]))
    assert grown == ["Il ", "Il biglietto ", "Il biglietto costa 8 euro."]
    # an answerer that does not stream: its whole text just before the result, no render of its own
    once = asyncio.run(collect([(0.2, "Il biglietto costa 8 euro."), (0.2 + PARTIAL_SETTLE_S / 10, None)]))
    assert once == []
