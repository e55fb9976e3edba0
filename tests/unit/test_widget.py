"""The embed widget's script and the EMBED_ORIGINS setting (sportello/faces/widget.py, config.py)."""

from __future__ import annotations

import json
import re

import pytest

from sportello.config import DEFAULT_PRIMARY_COLOR, SettingError, Settings
from sportello.faces.widget import LABELS, frame_ancestors, widget_script


def config_of(script: str) -> dict:
    return json.loads(re.search(r"var CFG = (\{.*?\});\n", script).group(1))


def test_the_script_carries_the_venue_name_colour_and_labels_as_data():
    settings = Settings.from_env(
        {"VENUE_NAME": "Museo </script><script>alert(1)</script>", "VENUE_PRIMARY_COLOR": "#0b5394"}
    )
    script = widget_script(settings)
    assert "</script>" not in script and "<script>" not in script  # "<" escaped: no way out of a script element
    cfg = config_of(script)
    assert cfg["name"] == "Museo </script><script>alert(1)</script>"
    assert cfg["color"] == "#0b5394"
    assert cfg["labels"] == LABELS
    assert LABELS["open"] == {"it": "Apri la chat con il museo", "en": "Open the chat with the museum"}
    assert config_of(widget_script(Settings.from_env({})))["color"] == DEFAULT_PRIMARY_COLOR
    assert "innerHTML = '<svg" in script and script.count("innerHTML") == 1  # only the fixed icon, never a text


def test_embed_origins_become_frame_ancestors_and_nothing_else():
    settings = Settings.from_env({"EMBED_ORIGINS": "https://www.museo.example, https://*.museo.example/"})
    assert settings.embed_origins == ("https://www.museo.example", "https://*.museo.example")
    assert (
        frame_ancestors(settings.embed_origins)
        == b"frame-ancestors 'self' https://www.museo.example https://*.museo.example"
    )
    assert frame_ancestors(()) is None  # unset: any site may frame the page, as before
    for bad in ("https://a.example; script-src *", "javascript:alert(1)", "https://a.example 'unsafe-inline'", "*"):
        with pytest.raises(SettingError, match="EMBED_ORIGINS"):
            Settings.from_env({"EMBED_ORIGINS": bad})
