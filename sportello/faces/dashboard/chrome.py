"""Streamlit's own strings in the operator's language, and the page's `lang`.

Streamlit (1.67) has no setting for the language of its built-in texts: "Skip to main content", the
password field's "Show password", "Press Enter to apply", the sidebar's "Collapse sidebar", the
dataframe toolbar's "Search" and so on are English. A small `st.components.v2` component (its script
runs in the dashboard's own page, no iframe) sets `<html lang>` and translates them in place: the
texts of Streamlit's own elements (found by their `data-testid`) and the `aria-label`, `title` and
`placeholder` attributes that equal one of the English strings below; it also makes the scrollable boxes
reachable with the keyboard (axe's "scrollable-region-focusable"). A MutationObserver keeps doing so as
Streamlit redraws. Only our fixed strings go in: never anyone's text.

What it cannot reach: texts drawn on a canvas (the dataframe's cells and its column menu), and the
browser's own strings (a date picker's month names follow the browser's locale).
"""

from __future__ import annotations

import streamlit as st

# English (as Streamlit writes it) -> Italian. The English page needs only its lang.
ITALIAN: dict[str, str] = {
    "Skip to main content": "Vai al contenuto principale",
    "Show password": "Mostra la password",
    "Hide password": "Nascondi la password",
    "Send message": "Invia il messaggio",
    "Close": "Chiudi",
    "Open": "Apri",
    "Clear value": "Cancella",
    "Clear all": "Cancella tutto",
    "Collapse sidebar": "Chiudi la barra laterale",
    "Expand sidebar": "Apri la barra laterale",
    "Sidebar": "Barra laterale",
    "Main menu": "Menu principale",
    "App pages": "Pagine",
    "Navigate to home page": "Vai alla pagina iniziale",
    "Selected values": "Valori scelti",
    "Choose date": "Scegli la data",
    "Choose date range": "Scegli le date",
    "Previous month": "Mese precedente",
    "Next month": "Mese successivo",
    "Increment": "Aumenta",
    "Decrement": "Diminuisci",
    "Running...": "In esecuzione…",
    "Stop script": "Ferma",
    "Scroll tabs left": "Schede a sinistra",
    "Scroll tabs right": "Schede a destra",
    "Notifications": "Notifiche",
    "Link to heading": "Link al titolo",
    "Download as CSV": "Scarica come CSV",
    "Search": "Cerca",
    "Fullscreen": "Schermo intero",
    "Close fullscreen": "Esci da schermo intero",
    "No results": "Nessun risultato",
    "Select all": "Seleziona tutto",
    "Chat message from user": "Messaggio del visitatore",
    "Chat message from assistant": "Messaggio",
    "Press Enter to apply": "Premi Invio per applicare",
    "Press Enter to submit form": "Premi Invio per inviare",
    "Press Ctrl+Enter to apply": "Premi Ctrl+Invio per applicare",
    "Press ⌘+Enter to apply": "Premi ⌘+Invio per applicare",
    "Press Ctrl+Enter to submit form": "Premi Ctrl+Invio per inviare",
    "Press ⌘+Enter to submit form": "Premi ⌘+Invio per inviare",
}

# Scrollable boxes (a chat's thread, the ticket list): reachable with the keyboard (tabindex), as axe asks.
FOCUSABLE = '[class*="st-key-transcript_"], .st-key-tk_list'

# The elements whose own text is Streamlit's (never an operator's or a visitor's).
TEXT_SELECTORS = (
    '[data-testid="stSkipToContent"], [data-testid="InputInstructions"] span, [data-testid="InputInstructions"]'
)

JS = """
export default function (component) {
  const { data } = component;
  const top = window;
  top.__spChrome = data;  // the latest language and strings
  document.documentElement.lang = data.lang;
  if (top.__spChromeObserver) { top.__spChromeApply(document.body); return; }
  const ATTRS = ["aria-label", "title", "placeholder"];
  function swap(value) { const d = top.__spChrome.texts; return Object.prototype.hasOwnProperty.call(d, value) ? d[value] : null; }
  function apply(root) {
    if (!root || !root.querySelectorAll) return;
    document.documentElement.lang = top.__spChrome.lang;
    for (const name of ATTRS) {
      for (const el of root.querySelectorAll("[" + name + "]")) {
        const to = swap(el.getAttribute(name));
        if (to !== null) el.setAttribute(name, to);
      }
    }
    for (const el of root.querySelectorAll(top.__spChrome.focusable)) {
      if (!el.hasAttribute("tabindex")) el.setAttribute("tabindex", "0");
    }
    for (const el of root.querySelectorAll(top.__spChrome.selectors)) {
      for (const node of el.childNodes) {
        if (node.nodeType === 3) { const to = swap(node.nodeValue.trim()); if (to !== null) node.nodeValue = to; }
      }
    }
  }
  top.__spChromeApply = apply;
  let queued = false;
  top.__spChromeObserver = new MutationObserver(() => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => { queued = false; apply(document.body); });
  });
  top.__spChromeObserver.observe(document.body, { childList: true, subtree: true, characterData: true,
    attributes: true, attributeFilter: ATTRS });
  apply(document.body);
}
"""

_component = st.components.v2.component("sportello_chrome", js=JS)


def translate(lang: str) -> None:
    """Streamlit's own texts and `<html lang>` in `lang` ("it" or "en"); draws nothing visible."""
    texts = ITALIAN if lang == "it" else {it: en for en, it in ITALIAN.items()}  # back, after a switch
    _component(
        data={"lang": lang, "texts": texts, "selectors": TEXT_SELECTORS, "focusable": FOCUSABLE}, key="sp_chrome_i18n"
    )
