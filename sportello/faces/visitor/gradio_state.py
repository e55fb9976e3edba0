"""Gradio's per-tab state without the per-event config copies (measured, issue 21).

Gradio 6.31 keeps, for every tab (`SessionState`), a copy of every component's whole config, built when the tab
first calls (`config_for_block` for each of the page's 47 blocks: ~5 ms of the server's CPU per tab) and rebuilt
for every output of every event (`_update_config` / `_update_value_in_config`: each builds the component's config,
`inspect` and all). Gradio reads that copy in one place only: its deep links (`gr.DeepLinkButton`,
`/gradio_api/deep_link`), which the visitor page does not have. At 1,000 tabs that copy was a third of the
server's time (`py-spy`: `SessionState.__init__` 35 % of the samples while the tabs opened).

`LazySessionState` builds the copy only when something asks for it (`config_values`, `components`): the deep link
then gets it, built from the tab's current components, and from then on it is kept up to date as Gradio's own.
Installed by `install()` for the Gradio version it was written against only (`GRADIO_VERSION`); with any other
version Gradio's own class stays, and the page only costs more. `skip_cheaply(page)` does the same for the
outputs an event leaves as they were, and `install()` tells Python at once that matplotlib is not there.
`install()` also runs the page's components' own pre- and postprocessing inline (`InlineComponentWork`): Gradio
hands each to a worker thread, one thread hop per component per event.
"""

from __future__ import annotations

import datetime
import importlib.util
import sys
import types
from copy import copy

import anyio
import gradio as gr
from gradio import state_holder

GRADIO_VERSION = "6.31.0"


class LazySessionState(state_holder.SessionState):
    def __init__(self, blocks):  # noqa: D107 (as Gradio's, without building every component's config)
        self.blocks_config = copy(blocks.default_config)
        self._blocks = blocks
        self._configs: dict | None = None
        self.state_data = {}
        self._state_ttl = {}
        self.is_closed = False
        self.STATE_TTL_WHEN_CLOSED = 3600  # Gradio's (1 s in Gradio's own end-to-end tests only)

    @property
    def config_values(self) -> dict:
        if self._configs is None:
            self._configs = {
                k: self.blocks_config.config_for_block(k, [], v)
                for k, v in self.blocks_config.blocks.items()
                if k in self._blocks.blocks
            }
        return self._configs

    @config_values.setter
    def config_values(self, value: dict) -> None:
        self._configs = value

    def __setitem__(self, key: int, value) -> None:
        if self._configs is not None:
            super().__setitem__(key, value)
            return
        from gradio.components import State

        block = self.blocks_config.blocks.get(key)
        if isinstance(block, State):
            self._state_ttl[key] = (block.time_to_live, datetime.datetime.now())
            self.state_data[key] = value
        else:
            self.blocks_config.blocks[key] = value

    def _update_config(self, key: int) -> None:
        if self._configs is not None:
            super()._update_config(key)

    def _update_value_in_config(self, key: int, value) -> None:
        if self._configs is not None:
            super()._update_value_in_config(key, value)


# The page's components whose pre- and postprocessing is a little pure-Python work on a value (no file, no I/O).
INLINE_COMPONENTS = (gr.HTML, gr.Chatbot, gr.BrowserState, gr.Radio, gr.Textbox, gr.Button, gr.State)


class InlineComponentWork:
    """`anyio.to_thread` for `gradio.blocks`, where Gradio 6.31 hands every component's `preprocess` and
    `postprocess` of every event to a worker thread of AnyIO's shared pool (`anyio.to_thread.run_sync`): the
    look, with its ten outputs, made about ten thread hops, each waiting for a free worker and for the GIL, for
    work of a few microseconds. Those of INLINE_COMPONENTS run here, in the event loop (pure-Python work holds
    the GIL in a thread too, so the loop waits as long either way); anything else still goes to a thread.
    Measured (issue 21, `bench/visitor_load.py`, 1,000 tabs, think 10 s, same hour): AnyIO thread hops 38,000 ->
    13,500 per run, the look p50 53-99 ms -> 22-29 ms, the write lock's wait p95 245 -> 59 ms, answer overhead
    p95 317-1,089 ms -> 267-363 ms."""

    @staticmethod
    async def run_sync(func, *args, **kwargs):
        owner = getattr(func, "__self__", None)
        if isinstance(owner, INLINE_COMPONENTS) and getattr(func, "__name__", "") in ("preprocess", "postprocess"):
            return func(*args)
        return await anyio.to_thread.run_sync(func, *args, **kwargs)


class _AnyioForBlocks(types.ModuleType):
    """`anyio` as `gradio.blocks` sees it: the module itself, but `to_thread` is `InlineComponentWork`."""

    to_thread = InlineComponentWork

    def __getattr__(self, name: str):
        return getattr(anyio, name)


def install() -> bool:
    """Gradio's tabs get `LazySessionState` (for GRADIO_VERSION only). True when installed."""
    if gr.__version__ != GRADIO_VERSION:
        return False
    # Every event tries `import matplotlib` twice (gradio.utils.MatplotlibBackendMananger); not installed, each
    # try searches the whole sys.path again (4 % of the server's time at 1,000 tabs). Known missing: at once.
    if "matplotlib" not in sys.modules and importlib.util.find_spec("matplotlib") is None:
        sys.modules["matplotlib"] = None
    state_holder.SessionState = LazySessionState
    import gradio.blocks as blocks_module
    import gradio.route_utils as route_utils

    for module in (blocks_module, route_utils):
        if getattr(module, "SessionState", None) is not None:
            module.SessionState = LazySessionState
    if getattr(blocks_module, "anyio", None) is anyio:
        blocks_module.anyio = _AnyioForBlocks("anyio")
    return True


def skip_cheaply(blocks) -> bool:
    """An output the handler left out (a dict without it: `gr.skip()`) is not rebuilt. Gradio 6.31 builds a new
    component for each skipped output of every event (`block.__class__(**constructor_args)`, 0.3-8 ms each):
    the look (ten outputs, one or two changed) paid for ten. The handler's dict is given to Gradio without the
    skipped outputs and its answer is given back with, at their places, what Gradio sends for a skip. For
    GRADIO_VERSION only (then True)."""
    if gr.__version__ != GRADIO_VERSION:
        return False
    own = blocks.postprocess_data

    async def postprocess_data(block_fn, predictions, state):
        outputs = list(block_fn.outputs)
        if not isinstance(predictions, dict) or len(outputs) < 2 or block_fn.is_validator_function:
            return await own(block_fn, predictions, state)
        kept = [o for o in outputs if o in predictions or o._id in predictions]
        if not kept or len(kept) == len(outputs):
            return await own(block_fn, predictions, state)
        out = [skipped(o) for o in outputs]
        fn = copy(block_fn)
        fn.outputs = kept
        given = {o: predictions[o] if o in predictions else predictions[o._id] for o in kept}
        done = await own(fn, given[kept[0]] if len(kept) == 1 else given, state)  # one output: its value
        for o, value in zip(kept, done, strict=True):
            out[outputs.index(o)] = value
        return out

    blocks.postprocess_data = postprocess_data
    return True


def skipped(block) -> dict | None:
    """What Gradio 6.31 sends for an output left as it was."""
    if block.stateful:
        return None
    if isinstance(block, gr.HTML):
        return {"props": {"__type__": "update"}, "__type__": "update"}
    return {"__type__": "update"}


def quiet_analytics(blocks) -> None:
    """Gradio's queue rebuilds a pandas summary of its last 10,000 events after every event
    (`compute_analytics_summary`, GRADIO_ANALYTICS_CACHE_FREQUENCY=1: 12 % of the server's time at 1,000 tabs),
    for its monitoring dashboard, which the page does not serve. Kept small and never rebuilt. After
    `blocks.queue()`."""
    queue = getattr(blocks, "_queue", None)
    if queue is None or not hasattr(queue, "ANAYLTICS_CACHE_FREQUENCY"):
        return
    queue.ANAYLTICS_CACHE_FREQUENCY = 2**62
    queue.ANALYTICS_MAX_EVENTS = 100
