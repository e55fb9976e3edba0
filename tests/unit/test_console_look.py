"""The console watcher's look (ui.look) never turns a full run into a rerun of the old page's fragments.

The bug it guards against: an operator opened the Ticket page just as the watcher heard news (a release on
the Live page). Streamlit folded the watcher's trigger into the page switch's full run; the look, run as that
trigger's callback, called `st.rerun(keys)` for the Live page's fragments, which *replaces* the full run, and
the Ticket page's main area stayed blank. Here the same fold is made on purpose: a button outside any
fragment (a full run) whose callback is the look, with a watch that reports its fragment changed."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _page():
    import streamlit as st

    from sportello.faces.dashboard import ui

    class Changed:
        def changed(self):
            return ["frag"]

    st.session_state["full_runs"] = st.session_state.get("full_runs", 0) + 1

    @st.fragment(key="frag")
    def frag():
        st.write("a fragment of the page shown before")

    frag()
    st.button("outside", key="outside", on_click=ui.look)
    st.session_state[ui.WATCHES_KEY] = {"w": Changed()}


def test_a_look_folded_into_a_full_run_lets_the_full_run_draw_the_page():
    at = AppTest.from_function(_page, default_timeout=10).run()
    assert at.session_state["full_runs"] == 1
    at.button(key="outside").click().run()
    assert not at.exception
    assert at.session_state["full_runs"] == 2  # the whole page ran again, not only the old page's fragment


# (A look in the watcher's own fragment run, which reruns only the changed fragments, is not reachable with
# AppTest, whose clicks always run the whole script: the browser tests of the console cover it.)
