"""What a visitor question may be labelled with besides a knowledge-base intent.

`ESCALATE` is the expected value of a question that must go to a person: in the labelled examples
(`question,lang,expected`), in the evaluation case files, in the learning loop's labels and in the
dashboard's "must go to a person" choice. No KB intent may have this name.
"""

from __future__ import annotations

ESCALATE = "escalate"
