"""Which sink the settings ask for."""

from __future__ import annotations

from sportello.sinks.google_sheets import build_google_sink
from sportello.sinks.sheets import CsvSink, Sink


def build_sink(settings) -> Sink:
    """The sink the settings ask for.

    Google Sheets when SHEET_ID, Google credentials or SHEETS_API_URL are set
    (see `sportello.sinks.google_sheets`; a half-done configuration gives a Google sink
    in an error state, so rows wait in the outbox instead of going elsewhere);
    otherwise the local CSV mirror. Never touches the network.
    """
    return build_google_sink(settings) or CsvSink(settings.sheets_dir)
