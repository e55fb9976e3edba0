"""The visitor page's Gradio tuning (sportello/faces/visitor/gradio_state.py) changes what Gradio costs, never what
it sends: an event's outputs are the same with and without it, and a tab's state still holds its values."""

from __future__ import annotations

import asyncio
from pathlib import Path

import anyio
import gradio as gr
import pytest
from gradio import state_holder

from sportello.faces.visitor import gradio_state

ROOT = Path(__file__).resolve().parents[2]
written_for = pytest.mark.skipif(gr.__version__ != gradio_state.GRADIO_VERSION, reason="written for Gradio 6.31.0")


def test_the_pinned_gradio_is_the_one_the_tuning_was_written_for():
    """The tuning switches itself off on another Gradio (and the tests below skip): a bump of the pin must
    revisit gradio_state.py, or the page silently costs what it did before issue 21."""
    pins = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    assert f"gradio=={gradio_state.GRADIO_VERSION}" in pins
    assert gr.__version__ == gradio_state.GRADIO_VERSION


def _demo():
    with gr.Blocks() as demo:
        state = gr.State(None)
        html = gr.HTML("x", js_on_load=None)
        button = gr.Button("b")
        box = gr.Textbox("t")
        chat = gr.Chatbot([])
        button.click(lambda: None, None, [state, html, button, box, chat])
    return demo, (state, html, button, box, chat)


@written_for
def test_outputs_left_as_they_were_are_sent_as_gradio_sends_them():
    demo, (state, html, button, box, chat) = _demo()
    fn = demo.fns[0]

    def predictions():
        return [
            {state: 1},
            {html: "<b>y</b>"},
            {html: gr.update(value="z", visible=False), chat: [{"role": "user", "content": "ciao"}]},
            {button: gr.update(visible=False)},
            {state: 2, html: "a", button: "c", box: "d", chat: []},
        ]

    async def outputs():
        return [await demo.postprocess_data(fn, p, state_holder.SessionState(demo)) for p in predictions()]

    gradio_own = asyncio.run(outputs())
    assert gradio_state.skip_cheaply(demo)
    assert asyncio.run(outputs()) == gradio_own


@written_for
def test_a_tab_state_without_config_copies_still_keeps_values_and_builds_configs_when_asked():
    demo, (state, html, *_rest) = _demo()
    gradios = gradio_state.LazySessionState.__mro__[1](demo)  # Gradio's own SessionState
    tab = gradio_state.LazySessionState(demo)
    assert tab._configs is None  # nothing built for a new tab
    for s in (gradios, tab):
        s[state._id] = {"sid": "s"}
    assert tab[state._id] == gradios[state._id] == {"sid": "s"}
    assert tab._configs is None
    assert list(tab.components) == list(gradios.components)  # a deep link asks: built then, as Gradio's
    for s in (gradios, tab):  # ... and kept up to date from then on
        s[html._id] = gr.HTML("y", js_on_load=None, render=False, visible=False)
    assert tab.config_values[html._id] == gradios.config_values[html._id]


@written_for
def test_the_page_components_processing_runs_in_the_event_loop_and_gives_what_gradio_gives():
    import threading

    import gradio.blocks as blocks_module

    demo, (state, html, button, box, chat) = _demo()
    fn = demo.fns[0]
    prediction = {state: 2, html: "<i>a</i>", button: "c", box: "d", chat: [{"role": "user", "content": "ciao"}]}
    threads: list[str] = []
    own = gr.Chatbot.postprocess

    def postprocess(self, value):  # Gradio's, noting the thread it runs in
        threads.append(threading.current_thread().name)
        return own(self, value)

    async def outputs():
        return await demo.postprocess_data(fn, dict(prediction), state_holder.SessionState(demo))

    loop_thread = threading.current_thread().name
    try:
        gr.Chatbot.postprocess = postprocess
        blocks_module.anyio = anyio  # Gradio's own (a page built earlier in this process installed it)
        gradio_own = asyncio.run(outputs())
        assert threads == [threads[0]] and threads[0] != loop_thread  # Gradio's own: a worker thread
        assert gradio_state.install()
        assert gradio_state.install()  # twice: still one wrapper
        assert isinstance(blocks_module.anyio, gradio_state._AnyioForBlocks)
        assert blocks_module.anyio.CapacityLimiter is anyio.CapacityLimiter  # the rest: anyio's
        threads.clear()
        assert asyncio.run(outputs()) == gradio_own
        assert threads == [loop_thread]  # inline: no thread hop

        async def elsewhere():  # anything but a page component's processing still goes to a worker thread
            return await blocks_module.anyio.to_thread.run_sync(lambda: threading.current_thread().name)

        assert asyncio.run(elsewhere()) != loop_thread
    finally:
        gr.Chatbot.postprocess = own
