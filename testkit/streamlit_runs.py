"""What a Streamlit page sends its browser, read off the websocket (Playwright): how many script runs
were of the whole page and how many of fragments only, and how many elements (deltas) and bytes.

    runs = StreamlitRuns()
    page.on("websocket", runs.attach)   # before the page opens its websocket
    ...; before = runs.snapshot(); ...; runs.since(before)["full_runs"]

Playwright's sync API hands events over only while it runs: wait with `page.wait_for_timeout`, not
`time.sleep`, before reading the counts.
"""

from __future__ import annotations


class StreamlitRuns:
    def __init__(self):
        self.counts = {"full_runs": 0, "fragment_runs": 0, "deltas": 0, "bytes": 0}
        self.texts: list[str] = []  # every st.text body sent, in order (what was drawn)

    def attach(self, ws) -> None:
        ws.on("framereceived", self.received)

    def received(self, payload) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        if isinstance(payload, str):
            return
        self.counts["bytes"] += len(payload)
        msg = ForwardMsg.FromString(payload)
        kind = msg.WhichOneof("type")
        if kind == "delta":
            self.counts["deltas"] += 1
            element = msg.delta.new_element
            if msg.delta.WhichOneof("type") == "new_element" and element.WhichOneof("type") == "text":
                self.texts.append(element.text.body)
        elif kind == "new_session":  # a run starts: of the page, or of the fragments it names
            self.counts["fragment_runs" if msg.metadata.run.fragment_ids else "full_runs"] += 1

    def snapshot(self) -> dict:
        return {**self.counts, "texts": len(self.texts)}

    def since(self, before: dict) -> dict:
        """What was sent since `snapshot()` returned `before`: the counts, and "texts" the st.text bodies."""
        return {k: v - before.get(k, 0) for k, v in self.counts.items()} | {"texts": self.texts[before["texts"] :]}
