"""The visitor page's status line (sportello/faces/visitor/view.py): what it says while a contact is asked for."""

from sportello.faces.visitor.view import status_html


def test_the_contact_status_says_the_desk_is_closed_out_of_hours():
    base = {"lang": "it", "status": "collecting_contact"}
    assert "Nessun operatore disponibile" in status_html(base)  # open, but nobody free
    closed = status_html({**base, "closed_back": "lunedì alle 9:00"})
    assert "Il servizio è chiuso ora: torniamo lunedì alle 9:00" in closed
    assert "Nessun operatore" not in closed
    assert "The help desk is closed now." not in status_html({**base, "lang": "en", "closed_back": ""})
    assert "The help desk is closed now: leave a contact" in status_html({**base, "lang": "en", "closed_back": ""})


def test_the_status_is_escaped():
    html = status_html({"lang": "en", "status": "collecting_contact", "closed_back": "<b>soon</b>"})
    assert "<b>" not in html and "&lt;b&gt;soon&lt;/b&gt;" in html
