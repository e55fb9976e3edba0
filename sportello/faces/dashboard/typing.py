"""The reply box's "typing" signal, sent while the operator types (not only when the box loses focus).

`st.chat_input` keeps what is typed in the browser until Enter sends it: the server hears nothing
meanwhile. A small `st.components.v2` component (its script runs in the dashboard's page, no iframe)
listens to the box's `input` events, once for the whole page (delegated on the document, so a
redrawn box is still heard), and at most every EVERY_MS sends a trigger; its fragment's callback calls
`ChatService.operator_typing`, so the visitor reads "Mario sta scrivendo…" for TYPING_S after each.
Only ids and a figure go in: no text of anyone.
"""

from __future__ import annotations

import streamlit as st

EVERY_MS = 2000  # at most one signal per 2 s while typing (the visitor's mark lasts TYPING_S = 5 s)

JS = """
export default function (component) {
  const { data, setTriggerValue } = component;
  const top = window;
  top.__spTyping = top.__spTyping || {};
  top.__spTyping[data.box] = { send: setTriggerValue, every: data.every, last: 0 };
  if (top.__spTypingHeard) return;
  top.__spTypingHeard = true;
  document.addEventListener("input", (event) => {
    const target = event.target;
    if (!target || !target.closest) return;
    for (const [box, entry] of Object.entries(top.__spTyping)) {
      if (!target.closest(".st-key-" + box) || !(target.value || "").trim()) continue;
      const now = Date.now();
      if (now - entry.last < entry.every) return;
      entry.last = now;
      top.__spTypingSent = (top.__spTypingSent || 0) + 1;  // read by the browser tests
      entry.send("typing", now);
      return;
    }
  }, true);
}
"""

_component = st.components.v2.component("sportello_typing", js=JS)


def signal(box_key: str, on_typing) -> None:
    """Listen to the widget whose key is `box_key`; call `on_typing()` (in a callback) while it is typed in.
    Draw it inside a fragment of its own: a signal reruns that fragment only."""
    _component(
        data={"box": box_key, "every": EVERY_MS},
        key=f"typing_{box_key}",
        on_typing_change=on_typing,
    )
