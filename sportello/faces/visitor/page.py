"""The visitor's chat page (Gradio 6). Calls only the service layer, through
sportello.faces.visitor.actions; what is shown is computed by sportello.faces.visitor.view.

Concurrency: every handler is `async` and runs the (blocking) service call in
one of two thread pools owned by the page: `answers` for visitor messages (they
may wait for a slow LLM) and `light` for polls and buttons. Gradio's queue is
left unbounded for these events (`concurrency_limit=None`), so a slow answer
holds one thread of `answers` and never blocks another visitor's poll.

Push, not poll: while the chat is waiting for or talking to an operator, the hidden
`#sp-live` component's script (LIVE_JS) holds the chat's visitor stream open
(`GET /api/chat/sessions/{id}/stream`, sportello/faces/stream.py, woken by the
process's change feed) and shows what it carries itself: messages, "typing", and every phase it can draw (a
new place in the queue, an answer's offer of a person, an operator who joins, a transfer, the release). What it
cannot draw (a new language, a contact form after the queue) asks a Gradio "look" (`on_tick`, unqueued), which
re-reads the chat and renders it and the controls in Python, escaped like every text.

Messages through the API: the visitor's message is sent by the same script through the visitor REST
API (`POST /api/chat/sessions/{id}/messages?stream=1`, a chat started with `POST /api/chat/sessions`
when there is none yet, then kept by a look), shown at once, the answer as it streams: a Gradio send
cost the server ~30 ms of CPU, the API ~4 ms. Gradio's own send stays for what the script leaves to it
(an empty or too long message, a notice on screen, a topic, a contact, the suggestion buttons). "Talk to a person"
and "yes" to the offer go through the API too (`POST /api/chat/sessions/{id}/operator`) for a chat that exists.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import html
import json
import mimetypes
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import gradio as gr
from starlette.middleware import Middleware
from starlette.responses import JSONResponse

from sportello.config import visitor_color
from sportello.faces.body_limit import RefuseUploads
from sportello.faces.client_address import client_address
from sportello.faces.storage_full import DISK_FULL
from sportello.faces.visitor import gradio_state
from sportello.faces.visitor.actions import VisitorActions
from sportello.faces.visitor.view import (
    MAX_SUGGESTED,
    SUGGESTIONS,
    banner_text,
    browser_state_secret,
    chat_messages,
    esc,
    new_view,
    notice_html,
    polls,
    rate_phase,
    session_of,
    status_html,
    ui,
)
from sportello.services.chat import ChatService
from sportello.services.feedback import MAX_COMMENT_LEN, FeedbackService

STORAGE_KEY = "sportello-visitor-session"
MAX_LOGO_BYTES = 512 * 1024
# Gradio's queue runs at most `max_threads` events at once across every tab (its default, 40, made 40 slow
# answers at a time the ceiling of the whole page: 200 tabs waited ~10 s for an answer of 1 s).
MAX_EVENTS = 1024
# A streamed answer is re-rendered at most every PARTIAL_EVERY_S; a piece waits PARTIAL_SETTLE_S for the rest.
PARTIAL_EVERY_S = 0.15
PARTIAL_SETTLE_S = 0.1
# What of the chat's state the page shows (status line, controls): a stream state that differs asks a look.
LIVE_SIG = ("status", "queue_position", "estimated_wait_s", "operator_name", "ticket_id", "lang")
ANSWER_WORKERS = 256  # answers in flight at once of Gradio's send (the script's go to the API's pool of 256)

# A chat the page's script started through the API and no Gradio event has kept yet (LIVE_JS `keep`) is in the
# browser's storage under this key; the page's load reads it (LOAD_JS) and resumes it: it is newer than Gradio's own
# state (`forget`: gone as soon as a Gradio event keeps the chat, or "new chat"). Its token is as readable there as
# in Gradio's state, whose key is in the page's own config.
PENDING_KEY = "sportello-visitor-chat"
LOAD_JS = """(saved, live) => {
  let p = null;
  try { p = JSON.parse(localStorage.getItem('__PENDING__') || 'null'); } catch (e) { p = null; }
  const ok = !!p && typeof p.sid === 'string' && typeof p.token === 'string';
  return [saved, ok ? JSON.stringify({ sid: p.sid, token: p.token, adopt: true }) : ''];
}""".replace("__PENDING__", PENDING_KEY)

# The #sp-live script: follows the chat's stream while `on` (waiting or live) and shows what it carries at once,
# without a Gradio round trip (fetch, not EventSource: the token goes in the X-Session-Token header, not the URL):
# - a message: a copy of the Chatbot's own row for its side (its classes, its look) with the message built from
#   DOM nodes and textContent (never HTML), placed after the Chatbot's rows; skipped when the Chatbot shows it
#   already (its `sp-s<seq>` class, view.seq_class) and removed as soon as the Chatbot shows it (the next Gradio
#   render, which reads the chat after the view's last sequence): each message once, by its sequence;
# - "Mario is typing…": a row of its own, last, on and off as the state says;
# - a new place in the queue or wait, an operator who joins, a transfer, the release, a ticket: the status line's
#   text and the phase marker, written here as view.status_html and _phase_html write them (`phase`; a take moves
#   every chat queued behind it: no Gradio event for each);
# - a change it cannot draw (a new language: the labels; a contact form: the opening hours): a click (-> on_tick,
#   debounced 30 ms), whose one unqueued event re-reads the chat and re-renders it and the controls in Python.
# A dropped connection is reopened from the last sequence seen (backoff 0.5 s doubling to 15 s).
# The same script sends the visitor's messages through the visitor REST API (see the module's docstring and
# `sendViaApi` below).
LIVE_JS = r"""
const T = __TEXTS__;
const PENDING = '__PENDING__';
const live = {
  key: '', sid: '', ctl: null, kick: null, known: '', lang: 'it', tz: '', pushed: new Map(), typing: null, after: false,
  drawn: { seq: 0, phase: '' }, marker: null,
};
const send = { busy: false, again: false, pass: false, swallow: false };
const root = String((window.gradio_config && window.gradio_config.root) || '').replace(/\/+$/, '');
function kick() {
  if (live.kick) return;
  live.kick = setTimeout(() => { live.kick = null; trigger('click'); }, 30);
}
function list() { return document.querySelector('#chat .message-wrap'); }
function inChatbot(seq) { const l = list(); return !!(l && l.querySelector('.sp-s' + seq)); }
function busy() { const p = document.querySelector('.sp-phase'); return !!(p && p.dataset.busy === '1'); }
function node(tag, cls, text) {
  const n = document.createElement(tag);
  if (cls) n.className = cls;
  if (text !== undefined) n.textContent = String(text == null ? '' : text);
  return n;
}
function clock(iso) {
  if (!iso) return '';
  try {
    return new Date(iso).toLocaleTimeString('it-IT',
      { timeZone: live.tz || undefined, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  } catch (e) { return ''; }
}
function scroll() {
  const log = document.querySelector('#chat [role="log"]');
  if (log) log.scrollTop = log.scrollHeight;
}
// A copy of the Chatbot's last row of that side, emptied: null when it has none yet (then the look shows it).
function row(side) {
  const l = list();
  const rows = l ? l.querySelectorAll(':scope > .message-row.' + side + '-row:not(.sp-pushed)') : [];
  if (!rows.length) return null;
  const r = rows[rows.length - 1].cloneNode(true);
  r.classList.add('sp-pushed');
  r.querySelectorAll('.latest').forEach((n) => n.classList.remove('latest'));
  r.querySelectorAll('[aria-label]').forEach((n) => n.removeAttribute('aria-label'));
  const content = r.querySelector('.message-content');
  if (!content) return null;
  const body = content.querySelector('.md') || content;
  body.replaceChildren();
  return { r, body };
}
function place(r) {
  const l = list();
  if (!l) return;
  if (live.typing && live.typing !== r && live.typing.parentNode === l) l.insertBefore(r, live.typing);
  else l.appendChild(r);
  scroll();
}
// The visitor's side has no row yet before their first message: a copy of the assistant's, made the visitor's.
function userRow() {
  const made = row('user');
  if (made) return made;
  const b = row('bot');
  if (!b) return null;
  b.r.classList.replace('bot-row', 'user-row');
  b.r.querySelectorAll('.message.bot').forEach((n) => n.classList.replace('bot', 'user'));
  b.r.querySelectorAll('[data-testid="bot"]').forEach((n) => n.setAttribute('data-testid', 'user'));
  return b;
}
function show(m, own) {
  if (live.pushed.size >= 20) kick();  // a long chat shown by the script: the Chatbot catches up
  const seq = Number(m.seq);
  if (!seq || live.pushed.has(seq) || inChatbot(seq)) return;
  if (m.role === 'user' && busy()) return;  // this tab's own message: its send shows it
  // This tab's message and its answer while its send is on its way: they come with the send's result.
  if (!own && send.busy && (m.role === 'user' || m.role === 'bot')) return;
  const made = m.role === 'user' ? userRow() : row('bot');
  if (!made) { kick(); return; }
  const t = T[live.lang] || T.it;
  const hhmm = clock(m.created_at);
  const stamp = hhmm ? node('span', 'sp-time', hhmm) : null;
  if (m.role === 'system') {
    const line = node('span', 'sp-system', m.text);
    if (stamp) line.append(stamp);
    made.body.append(line);
  } else {
    if (m.role === 'operator') {
      const author = node('span', 'sp-author');
      const avatar = node('span', 'sp-avatar', (String(m.author || '?').charAt(0) || '?').toUpperCase());
      avatar.setAttribute('aria-hidden', 'true');
      author.append(avatar, document.createTextNode(String(m.author || '')));
      made.body.append(author);
    } else if (m.role !== 'user') {
      made.body.append(node('span', 'sp-bot', t.badge));
    }
    made.body.append(node('span', 'sp-text', m.text));
    if (stamp) made.body.append(stamp);
  }
  live.pushed.set(seq, made.r);
  live.drawn.seq = Math.max(live.drawn.seq, seq);
  if (m.role === 'operator') typing(false);
  place(made.r);
}
function typing(on, name) {
  if (!on) {
    if (live.typing) live.typing.remove();
    live.typing = null;
    return;
  }
  const text = (T[live.lang] || T.it).typing.replace('{name}', String(name || ''));
  if (live.typing && live.typing.isConnected) {
    live.typing.querySelector('.sp-typing').textContent = text;
    return;
  }
  const made = row('bot');
  if (!made) return;
  made.body.append(node('span', 'sp-typing', text));
  live.typing = made.r;
  place(made.r);
}
function prune() {  // the Chatbot shows it now: our copy goes
  for (const [seq, r] of live.pushed) {
    if (inChatbot(seq) || !r.isConnected) {
      r.remove();
      live.pushed.delete(seq);
    }
  }
}
// A Gradio render older than what the script drew (a look that read the chat before the release the stream then
// told) would leave the chat's old phase on screen, and stop following it: one more look draws the chat as it is.
function stale() {
  const p = document.querySelector('#status .sp-phase');
  if (!p || p === live.marker) return;
  live.marker = p;
  const d = live.drawn;
  if (d.phase && p.dataset.phase !== d.phase && (Number(p.dataset.seq) || 0) < d.seq) kick();
}
new MutationObserver(() => {
  if (live.pushed.size) prune();
  stale();
}).observe(document.body, { subtree: true, childList: true });
function roundEven(x) {  // Python's round(), as view.wait_text
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
function waitText(w, t) {
  if (w == null) return t.wait_unknown;
  if (w < 60) return t.wait_short;
  return t.wait_minutes.replace('{minutes}', String(roundEven(w / 60)));
}
// The chat's state on screen, as view.status_html and _phase_html draw it, with no Gradio look: the status line
// (in the chat's language) and the phase marker (page.css shows the phase's controls by it: the offer's buttons,
// the contact form, the rating form, "new chat"). False where the script cannot say it (a contact form whose
// opening hours it does not know): then the look draws it. Gradio's next render of the status line differs
// from its last one (`data-seq`: every change of phase writes a message), so it replaces what is drawn here.
function phase(status, s) {
  const p = document.querySelector('#status .sp-phase');
  if (!p) return false;
  const t = T[live.lang] || T.it;
  let text = '', rate = 'none';
  if (status === 'offered') text = t.offered;
  else if (status === 'waiting') {
    text = t.waiting.replace('{position}', String(s.queue_position || 1)) + ' ' + waitText(s.estimated_wait_s, t);
  } else if (status === 'live') text = t.live.replace('{name}', String(s.operator_name || ''));
  else if (status === 'asking_topic') text = t.topic;
  else if (status === 'collecting_contact') {
    const o = s.opening;
    if (!o) return false;
    text = o.open ? t.contact : o.back ? t.contact_closed.replace('{when}', String(o.back)) : t.contact_closed_unknown;
  } else if (status === 'closed') {
    text = t.closed + (s.ticket_id ? ' ' + t.ticket.replace('{ticket_id}', String(s.ticket_id)) : '');
    if (s.operator_name) rate = 'open';  // the rating form after an operator's chat (view.rate_phase)
  } else return false;
  for (const old of p.parentElement.querySelectorAll('.sp-status')) old.remove();
  const line = node('div', 'sp-status sp-status-' + status, text);
  line.setAttribute('role', 'status');
  line.setAttribute('aria-live', 'polite');
  p.after(line);
  p.dataset.phase = status;
  if (p.dataset.rate !== 'done') p.dataset.rate = rate;
  live.drawn.phase = status;
  if (s.last_seq) live.drawn.seq = Math.max(live.drawn.seq, Number(s.last_seq) || 0);
  return true;
}
// A chat this tab's script started, until a Gradio event keeps it (apply: a #sp-live value from Gradio naming it):
// in the browser's storage, where the page's load finds it after a reload (LOAD_JS). False where it cannot.
function keep(sid, token) {
  try { localStorage.setItem(PENDING, JSON.stringify({ sid, token })); return true; } catch (e) { return false; }
}
function forget(sid) {  // ('': whichever)
  try {
    const p = JSON.parse(localStorage.getItem(PENDING) || 'null');
    if (p && (!sid || p.sid === sid)) localStorage.removeItem(PENDING);
  } catch (e) { /* nothing kept */ }
}
// An answer in the assistant's hands: the "rate the conversation" button is offered (view.rate_phase), with no look.
function canRate() {
  const p = document.querySelector('#status .sp-phase');
  if (p && p.dataset.phase === 'bot' && p.dataset.rate === 'none') p.dataset.rate = 'can';
}
// The answer offers a person (the assistant could not answer): shown here, from the assistant's layout only.
function offered() { return phaseOf() === 'bot' && phase('offered', {}); }
const FOLLOWED = ['waiting', 'live'];
// The stream's state: a change of the chat's state is drawn here (a new place in the queue, an operator who
// joins, a transfer, the release, a ticket); a new language (the page's labels) or a contact form asks a look.
function sigOf(s) {  // what of the chat's state the page shows (LIVE_SIG): a change is drawn, or asks a look
  return [s.status, s.queue_position, s.estimated_wait_s, s.operator_name, s.ticket_id, s.language];
}
function state(s) {
  if (s.language === 'it' || s.language === 'en') live.lang = s.language;
  typing(!!s.operator_typing && s.status === 'live', s.operator_name);
  const sig = JSON.stringify(sigOf(s));
  if (sig === live.known) return;
  let old = null;
  try { old = JSON.parse(live.known); } catch (e) { old = null; }
  live.known = sig;
  if (!Array.isArray(old) || old[5] !== s.language || !phase(s.status, s)) kick();
  else if (!FOLLOWED.includes(s.status)) stop();  // closed: nothing more to follow (the look would stop it too)
}
async function follow(cfg, ctl) {
  let after = Number(cfg.after) || 0, wait = 500;
  while (!ctl.signal.aborted) {
    try {
      const url = root + '/api/chat/sessions/' + encodeURIComponent(cfg.sid) + '/stream?after=' + after;
      const r = await fetch(url, {
        headers: { 'X-Session-Token': cfg.token, 'Accept': 'text/event-stream' },
        cache: 'no-store', signal: ctl.signal,
      });
      if (r.status === 404) return;
      if (r.ok && r.body) {
        wait = 500;
        await events(r, (kind, d) => {
          if (ctl.signal.aborted) return;
          if (kind === 'message') {
            after = Math.max(after, Number(d.seq) || 0);
            show(d);
          } else if (kind === 'state') {
            after = Math.max(after, Number(d.last_seq) || 0);
            state(d);
          }
        });
      }
    } catch (e) {
      if (ctl.signal.aborted) return;
    }
    if (ctl.signal.aborted) return;
    await new Promise((res) => setTimeout(res, wait));
    wait = Math.min(wait * 2, 15000);
  }
}
function listen(sid, token, after, sig) {  // follow this chat's stream (from `after`), if not yet
  const key = sid + ' ' + token;
  if (key === live.key) return;
  stop();
  live.key = key;
  live.known = JSON.stringify(sig || null);
  live.ctl = new AbortController();
  follow({ sid, token, after }, live.ctl);
}
function stop() {
  live.key = '';
  if (live.ctl) live.ctl.abort();
  live.ctl = null;
  typing(false);
}
function apply() {
  const cfg = cfgNow();
  if ((cfg.sid || '') !== live.sid) {  // another chat (a new one, or none): what was pushed for the old one goes
    if (!cfg.adopt) {  // (not the chat this tab's send just started: its messages are shown)
      for (const r of live.pushed.values()) r.remove();
      live.pushed.clear();
    }
    live.sid = cfg.sid || '';
    live.drawn = { seq: 0, phase: '' };
  }
  if (cfg.lang === 'it' || cfg.lang === 'en') live.lang = cfg.lang;
  if (cfg.tz) live.tz = cfg.tz;
  if (cfg.sid && !cfg.adopt) forget(cfg.sid);  // Gradio keeps this chat now (the view, its encrypted storage)
  if (live.after && !cfg.adopt) { live.after = false; kick(); }  // the new chat is kept: now what it shows
  const key = cfg.on && cfg.sid && cfg.token ? cfg.sid + ' ' + cfg.token : '';
  if (key === live.key) return;
  if (key) listen(cfg.sid, cfg.token, Number(cfg.after) || 0, cfg.sig);
  else stop();
}
// The visitor's message goes through the visitor REST API, not a Gradio event (a Gradio send costs the
// server ~30 ms of CPU, the API ~4 ms): the chat as it is (a session, or none yet: then the message starts one,
// in the same request and the same write, POST /api/chat/sessions with its text), the message shown at once
// with "the assistant is writing…", the answer as it streams (`?stream=1`), then the stored messages from the
// result. An offer of a person is shown here (`offered`); any other change of the chat's state (suggested
// questions, a new chat to keep across reloads) asks the usual look, which renders the controls and catches the
// Chatbot up.
// Everything else stays Gradio's send (an empty or too long message, a notice on screen, a topic, a contact,
// an answer of Gradio's on its way), and so does a message the API refused: its notice says why.
function box() { return document.querySelector('#msg textarea'); }
function setBox(text) {
  const b = box();
  if (!b) return;
  b.value = text;
  b.dispatchEvent(new Event('input', { bubbles: true }));
}
function phaseOf() { const p = document.querySelector('.sp-phase'); return p ? p.dataset.phase || '' : ''; }
function cfgNow() { try { return JSON.parse(props.value || '{}') || {}; } catch (e) { return {}; } }
function viaApi(text, cfg) {
  if (!text || text.length > (Number(cfg.max) || 2000) || busy()) return false;
  if (document.querySelector('#notice .sp-notice, #contact-error .sp-notice')) return false;
  if (!['bot', 'offered', 'waiting', 'live'].includes(phaseOf())) return false;
  if (cfg.sid ? !cfg.token : phaseOf() !== 'bot') return false;
  const l = list();
  return !!(l && l.querySelector(':scope > .message-row.bot-row:not(.sp-pushed)'));
}
function suggesting() {
  return [...document.querySelectorAll('#offer .sp-suggest')].some((b) => b.offsetParent !== null);
}
function gradioSend() { send.pass = true; const b = document.querySelector('#send'); if (b) b.click(); send.pass = false; }
async function events(r, on) {  // a text/event-stream response, event by event
  const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const kind = /^event: *(\w+)/m.exec(block);
      const data = /^data: *(.*)$/m.exec(block);
      if (!kind || !data) continue;
      let d = null;
      try { d = JSON.parse(data[1]); } catch (e) { continue; }
      on(kind[1], d);
    }
  }
}
async function post(path, body, token) {
  const headers = { 'Content-Type': 'application/json', 'Accept': 'text/event-stream' };
  if (token) headers['X-Session-Token'] = token;
  return fetch(root + path, { method: 'POST', headers, body: JSON.stringify(body), cache: 'no-store' });
}
async function sendViaApi(text, cfg) {
  send.busy = true;
  document.documentElement.classList.add('sp-sending');
  setBox('');
  const t = T[live.lang] || T.it;
  const phase = phaseOf();
  const mine = userRow();
  if (mine) { mine.body.append(node('span', 'sp-text', text)); place(mine.r); }
  let writing = null;
  if (phase === 'bot' || phase === 'offered') {
    writing = row('bot');
    if (writing) { writing.body.append(node('span', 'sp-typing', t.typing_bot)); place(writing.r); }
  }
  let made = false, looked = false, result = null, refused = false;
  try {
    // No chat yet: it starts with this message, in the same request (its first event, `session`, names it).
    const r = cfg.sid
      ? await post('/api/chat/sessions/' + encodeURIComponent(cfg.sid) + '/messages?stream=1', { text }, cfg.token)
      : await post('/api/chat/sessions?stream=1', { language: cfg.lang === 'en' ? 'en' : 'it', text });
    if (!r.ok || !r.body) throw new Error('refused');
    let partial = '';
    await events(r, (kind, d) => {
      if (kind === 'session') {
        made = true;
        // The new chat is this tab's from now on: the next Gradio event keeps it in the tab's view (its #sp-live
        // value, `adopt`), the browser's storage across reloads (`keep`, read by LOAD_JS). Where the page cannot
        // keep it itself (the widget's frame without storage of its own: STORAGE_SHIM), a look keeps it.
        props.value = JSON.stringify({ ...cfg, sid: d.session_id, token: d.token, on: false, adopt: true });
        looked = !!window.__spShim || !keep(d.session_id, d.token);
        if (looked) kick();
      } else if (kind === 'chunk' && writing) {
        partial += String(d.text || '');
        writing.body.replaceChildren(node('span', 'sp-bot', t.badge), node('span', 'sp-text sp-partial', partial));
        scroll();
      } else if (kind === 'message') {
        result = d;
      } else if (kind === 'error') {
        refused = true;
      }
    });
    if (!result) throw new Error('refused');
  } catch (e) {
    refused = true;
  }
  if (mine) mine.r.remove();
  if (writing) writing.r.remove();
  send.busy = false;
  document.documentElement.classList.remove('sp-sending');
  if (!refused) {
    // (a chat this send started: its greeting, message 1, is on screen already, the page's own)
    for (const m of result.messages || []) if (!made || Number(m.seq) > 1) show(m, true);
    if (made && looked && cfgNow().adopt) {
      // The new chat's look has not kept it yet: it is on its way, or it could not keep the chat before it
      // was written (another app process started it). One more look keeps it now; then one shows it.
      live.after = true;
      kick();
    } else if (result.status !== phase || (result.suggestions || []).length || suggesting()) {
      // (a new chat is as any other: its messages are on screen, the script's)
      if (!(result.status === 'offered' && !(result.suggestions || []).length && !suggesting() && offered())) kick();
    } else if (result.status === 'bot') {
      canRate();
    }
  } else {
    if (made) kick();
    setBox(text);  // not sent (or not known to be): Gradio's send tries again and its notice says why
    if (!made) gradioSend();
    return;
  }
  if (send.again) {
    send.again = false;
    const next = (box() || { value: '' }).value.trim();
    if (next) { if (viaApi(next, cfgNow())) sendViaApi(next, cfgNow()); else gradioSend(); }
  }
}
function onSend(e) {
  if (send.pass) return;
  const text = ((box() || { value: '' }).value || '').trim();
  if (send.busy) {  // pressed again while the answer is on its way: sent when it is in, as it then is
    e.preventDefault();
    e.stopImmediatePropagation();
    if (text) send.again = true;
    return;
  }
  const cfg = cfgNow();
  if (!viaApi(text, cfg)) return;  // Gradio's own send
  e.preventDefault();
  e.stopImmediatePropagation();
  sendViaApi(text, cfg);
}
// "Talk to a person" and "yes" to the offer, for a chat that exists, go through the visitor REST API too
// (POST /api/chat/sessions/{id}/operator): its messages are shown, the new phase drawn (the queue, the topic
// first, the contact form), and the chat's stream followed from here, with no Gradio event (a Gradio click cost
// the server 5-8 ms, the API ~2 ms). A refusal, a notice on screen or no chat yet: Gradio's click, as before.
const ask = { busy: false, pass: false };
async function postJson(path, body, token) {  // the API's answer, or null (refused, or no answer)
  try {
    const r = await post(path, body, token);
    return r.ok ? await r.json() : null;
  } catch (err) {
    return null;
  }
}
function gradioClick(btn) {  // the click as Gradio handles it (the script's listeners let it through)
  ask.pass = true;
  if (btn) btn.click();
  ask.pass = false;
}
async function onPerson(e) {
  if (ask.pass) return;
  const btn = e.target.closest('button');
  const cfg = cfgNow();
  if (ask.busy) { e.preventDefault(); e.stopImmediatePropagation(); return; }
  if (!btn || !cfg.sid || !cfg.token || send.busy || busy() || !['bot', 'offered'].includes(phaseOf())) return;
  if (document.querySelector('#notice .sp-notice, #contact-error .sp-notice')) return;
  e.preventDefault();
  e.stopImmediatePropagation();
  ask.busy = true;
  const result = await postJson('/api/chat/sessions/' + encodeURIComponent(cfg.sid) + '/operator', { accept: true }, cfg.token);
  ask.busy = false;
  if (!result || typeof result.status !== 'string') {  // Gradio's click: its notice says why
    gradioClick(btn);
    return;
  }
  let after = Number(cfg.after) || 0;
  for (const m of result.messages || []) { show(m, true); after = Math.max(after, Number(m.seq) || 0); }
  const s = { ...result, operator_name: null, ticket_id: null, language: live.lang };
  if (!phase(result.status, s)) kick();
  if (FOLLOWED.includes(result.status)) {
    listen(cfg.sid, cfg.token, after, sigOf(s));
  }
}
// The contact form's "send", for a chat that asks for one, goes through the visitor API too
// (POST /api/chat/sessions/{id}/contact): the ticket's message shown, the chat drawn closed with its number. A value
// the API refuses (an email that is not one, a phone too short), an error on screen or anything unexpected: Gradio's
// click, whose notice says what is wrong in the visitor's language.
async function onContact(e) {
  if (ask.pass) return;
  if (ask.busy) { e.preventDefault(); e.stopImmediatePropagation(); return; }
  const cfg = cfgNow();
  if (!cfg.sid || !cfg.token || phaseOf() !== 'collecting_contact') return;
  if (e.type === 'keydown' && (e.key !== 'Enter' || e.shiftKey || e.isComposing)) return;
  if (document.querySelector('#notice .sp-notice, #contact-error .sp-notice')) return;
  const picked = document.querySelector('#contact-method input:checked');
  const field = document.querySelector('#contact-value input, #contact-value textarea');
  const method = picked ? picked.value : '', value = field ? field.value.trim() : '';
  if (!['email', 'phone'].includes(method) || !value) return;
  e.preventDefault();
  e.stopImmediatePropagation();
  ask.busy = true;
  const result = await postJson('/api/chat/sessions/' + encodeURIComponent(cfg.sid) + '/contact', { method, value }, cfg.token);
  ask.busy = false;
  if (!result || result.status !== 'closed' || !result.ticket) {
    gradioClick(document.querySelector('#contact-submit'));
    return;
  }
  for (const m of result.messages || []) show(m, true);
  if (!phase('closed', { ticket_id: result.ticket.id, operator_name: null })) kick();
}
if (!window.__spSend) {  // once per page (the component's script may run again)
  window.__spSend = true;
  window.addEventListener('click', (e) => {
    if (!e.target.closest) return;
    if (e.target.closest('#send')) onSend(e);
    else if (e.target.closest('#ask-person, #offer-accept')) onPerson(e);
    else if (e.target.closest('#contact-submit')) onContact(e);
    else if (e.target.closest('#new-chat')) forget('');
  }, true);
  window.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && e.target.closest && e.target.closest('#contact-value')) {
      send.swallow = false;
      onContact(e);
      send.swallow = e.defaultPrevented;  // (Gradio's submit listens to the keypress too)
      return;
    }
    if (e.key !== 'Enter' || e.shiftKey || e.isComposing || !e.target.closest || !e.target.closest('#msg')) return;
    send.swallow = false;
    onSend(e);
    send.swallow = e.defaultPrevented;
  }, true);
  window.addEventListener('keypress', (e) => {
    if (e.key === 'Enter' && send.swallow) { e.preventDefault(); e.stopImmediatePropagation(); }
  }, true);
}
watch('value', apply);
apply();
""".replace("__PENDING__", PENDING_KEY).replace(
    "__TEXTS__",
    json.dumps(
        {
            lg: {
                "badge": ui("bot_badge", lg),
                "typing": ui("typing_operator", lg, name="{name}"),
                "typing_bot": ui("typing_bot", lg),
                "offered": ui("status_offered", lg),
                "live": ui("status_live", lg, name="{name}"),
                "topic": ui("status_topic", lg),
                "contact": ui("status_contact", lg),
                "contact_closed": ui("status_contact_closed", lg, when="{when}"),
                "contact_closed_unknown": ui("status_contact_closed_unknown", lg),
                "closed": ui("status_closed", lg),
                "ticket": ui("status_ticket", lg, ticket_id="{ticket_id}"),
                "waiting": ui("status_waiting", lg, position="{position}"),
                "wait_unknown": ui("wait_unknown", lg),
                "wait_short": ui("wait_short", lg),
                "wait_minutes": ui("wait_minutes", lg, minutes="{minutes}"),
            }
            for lg in ("it", "en")
        },
        ensure_ascii=False,
    ),
)

# The page's own script (mount_options `js`, run once when the page loads). It
# - sets `<html lang>` from the phase marker's data-lang (the chosen language, also after a switch mid-chat;
#   Gradio sets it from the browser's locale);
# - gives each message a plain-text aria-label in that language (Gradio's is "bot's message: " and the
#   message's HTML) and the conversation its name (Gradio's "chatbot conversation"): text from the DOM's
#   textContent, set with setAttribute, never parsed as HTML;
# - in the embed widget's frame (`?embed=1`): the compact layout (class sp-embed, page.css), and Esc asks the
#   venue's page to close the panel (sportello/faces/widget.py).
PAGE_JS = r"""
() => {
  const T = __TEXTS__;
  const root = document.documentElement;
  const embed = new URLSearchParams(location.search).get('embed') === '1';
  if (embed) root.classList.add('sp-embed');
  let lang = '';
  function label(body, el, t) {
    const copy = body.cloneNode(true);
    copy.querySelectorAll('[aria-hidden="true"]').forEach((n) => n.remove());
    copy.querySelectorAll('span').forEach((n) => n.append(' '));
    const text = copy.textContent.replace(/\s+/g, ' ').trim();
    return el.getAttribute('data-testid') === 'user' ? t.you + ': ' + text : text;
  }
  function fix() {
    const marker = document.querySelector('.sp-phase');
    const want = (marker && marker.dataset.lang) || lang || 'it';
    const fresh = want !== lang;
    lang = want;
    if (root.lang !== lang) root.lang = lang;
    const t = T[lang] || T.it;
    const log = document.querySelector('#chat [role="log"]');
    if (log && log.getAttribute('aria-label') !== t.chat) log.setAttribute('aria-label', t.chat);
    if (log && !log.hasAttribute('tabindex')) log.tabIndex = 0;  // a scrolling region: reachable by keyboard
    document.querySelectorAll('#chat [data-testid="bot"], #chat [data-testid="user"]').forEach((el) => {
      const body = el.querySelector('.message-content') || el;
      const source = body.textContent;
      if (!fresh && el.spSource === source && el.getAttribute('aria-label') === el.spLabel) return;
      el.spSource = source;
      el.spLabel = label(body, el, t);
      el.setAttribute('aria-label', el.spLabel);
    });
  }
  new MutationObserver(fix).observe(root, {
    subtree: true, childList: true, characterData: true, attributes: true,
    attributeFilter: ['aria-label', 'lang', 'data-lang'],
  });
  fix();
  if (embed && window.parent !== window) {
    document.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') window.parent.postMessage('sportello:close', '*');
    });
  }
}
""".replace("__TEXTS__", json.dumps({lg: {"you": ui("you", lg), "chat": ui("chat_label", lg)} for lg in ("it", "en")}))

# In the embed widget's frame on another site the browser may refuse the frame its own storage (third-party
# storage blocked: Safari, Chrome's incognito), where Gradio keeps the conversation across reloads
# (gr.BrowserState), and Gradio fails when reading it. Before the app starts (mount_options `head`), this
# stands in a storage kept by the venue's page: seeded from the frame address's fragment (`#sp=`, never sent to
# a server), each change posted to the widget (sportello/faces/widget.py), which keeps it in the venue site's
# own storage. What it holds is Gradio's encrypted state: the venue's page cannot read the chat's token.
STORAGE_SHIM = r"""<script>
(function () {
  if (!/[?&]embed=1(?:&|$)/.test(location.search) || window.parent === window) return;
  try { var k = '__sp_probe'; window.localStorage.setItem(k, k); window.localStorage.removeItem(k); return; }
  catch (e) { /* refused: the stand-in below */ }
  var data = {};
  var m = /[#&]sp=([^&]*)/.exec(location.hash);
  if (m) {
    try { data = JSON.parse(decodeURIComponent(m[1])) || {}; } catch (e) { data = {}; }
    history.replaceState(null, '', location.pathname + location.search);
  }
  function save() { window.parent.postMessage({ sportello: 'store', data: data }, '*'); }
  var shim = {
    getItem: function (key) { return Object.prototype.hasOwnProperty.call(data, key) ? data[key] : null; },
    setItem: function (key, value) { data[key] = String(value); save(); },
    removeItem: function (key) { delete data[key]; save(); },
    clear: function () { data = {}; save(); },
    key: function (i) { return Object.keys(data)[i] || null; },
    get length() { return Object.keys(data).length; }
  };
  Object.defineProperty(window, 'localStorage', { configurable: true, get: function () { return shim; } });
  window.__spShim = true;  // (LIVE_JS: a look keeps a new chat here, not the page's own storage)
})();
</script>"""

# A system font stack (Gradio's Soft theme loads Montserrat: a curly N, "Ɛnglish"); nothing fetched from a font CDN.
SYSTEM_FONTS = ("system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif")
MONO_FONTS = ("ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace")

CSS = (Path(__file__).parent / "page.css").read_text(encoding="utf-8")  # given to Gradio by mount_options


CACHE_CLEANUP = (3600, 3600)  # Gradio's delete_cache: every hour, files older than an hour (and all at shutdown)


async def unknown_target(_request, exc: LookupError) -> JSONResponse:
    """Gradio looks a request's component, function or session up by the ids the request names
    (`fn_index`, `component_id`, `session_hash`): an id it does not hold, or none, raises KeyError or
    IndexError inside the request. That is the caller's mistake: a 404 JSON error, not a 500."""
    message = "Componente o funzione sconosciuta. / Unknown component or function."
    return JSONResponse({"error": {"code": "unknown_target", "message": message}}, status_code=404)


def mount_options() -> dict:
    """Keyword arguments for `gr.mount_gradio_app` (Gradio 6 takes css/theme there)."""
    # run_history=False: Gradio 6 would otherwise keep every call (the visitors'
    # messages) in the browser's run history, e.g. on a shared kiosk.
    # max_file_size=0 backs up RefuseUploads: any file part is refused by Gradio itself.
    return {
        "css": CSS,
        "theme": gr.themes.Soft(font=SYSTEM_FONTS, font_mono=MONO_FONTS),
        "js": PAGE_JS,
        "head": STORAGE_SHIM,
        "footer_links": [],
        "run_history": False,
        "max_file_size": 0,
        "app_kwargs": {
            "middleware": [Middleware(RefuseUploads)],
            "exception_handlers": {KeyError: unknown_target, IndexError: unknown_target},
        },
    }


def build_page(
    service: ChatService,
    *,
    feedback: FeedbackService | None = None,
    answer_workers: int = ANSWER_WORKERS,
    light_workers: int = 16,
) -> gr.Blocks:
    gradio_state.install()  # no per-tab copy of every component's config (gradio_state.py)
    actions = VisitorActions(service, feedback)
    settings = service.settings
    tz = getattr(settings, "timezone", "Europe/Rome")
    venue = venue_of(settings)
    answers = ThreadPoolExecutor(max_workers=answer_workers, thread_name_prefix="visitor-answer")
    light = ThreadPoolExecutor(max_workers=light_workers, thread_name_prefix="visitor-light")
    secret = browser_state_secret(service.settings.data_dir)
    max_len = service.settings.max_message_len

    async def run(pool: ThreadPoolExecutor, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(pool, functools.partial(fn, *args))

    with gr.Blocks(title="Sportello", analytics_enabled=False, delete_cache=CACHE_CLEANUP) as page:
        view_state = gr.State(None)
        saved = gr.BrowserState({}, storage_key=STORAGE_KEY, secret=secret)
        gr.HTML(venue["style"], elem_id="sp-style", js_on_load=None)
        # The layout (page.css): the header, the chat filling what is left of the screen, then the dock (status,
        # notices, the controls of the chat's phase) and the composer, last: every control needed next stays in
        # view without scrolling, on a desktop and on a phone.
        with gr.Row(equal_height=True, elem_id="top-row"):
            header = gr.HTML(_header_html("it", venue), elem_id="sp-header", js_on_load=None)
            lang = gr.Radio(
                [("Italiano", "it"), ("English", "en")],
                value="it",
                label="Lingua / Language",  # read by screen readers: both, whichever the visitor understands
                show_label=False,
                container=False,
                elem_id="lang-switch",
                min_width=120,
            )
        chat = gr.Chatbot(
            value=[],
            elem_id="chat",
            label=ui("chat_label", "it"),
            show_label=False,
            # Text is escaped by view.chat_messages: no markdown, no LaTeX, no tags.
            render_markdown=False,
            sanitize_html=True,
            allow_tags=False,
            latex_delimiters=[],
            feedback_options=None,
            buttons=[],
            autoscroll=True,
            group_consecutive_messages=False,  # the assistant, a notice and the operator: each its own bubble
            height="100%",  # page.css: the chat takes the height the dock leaves
        )
        with gr.Column(elem_id="dock"):
            # The status line also carries the chat's phase (<span class="sp-phase">):
            # the CSS shows the offer buttons, the contact form, the closed row... from
            # it, so a state change is one cheap output instead of ten visibility updates.
            status = gr.HTML(_phase_html("bot"), elem_id="status", js_on_load=None)
            notice = gr.HTML("", elem_id="notice", js_on_load=None)
            with gr.Row(elem_id="chips"):
                chips = [
                    gr.Button(q, size="sm", elem_id=f"chip-{i}", elem_classes=["sp-chip"], min_width=0)
                    for i, q in enumerate(SUGGESTIONS["it"])
                ]
            with gr.Row(elem_id="offer"):
                # "Did you mean...?": up to 3 KB questions close to the visitor's; a click asks one.
                # Plain text labels (a Button never renders markdown or HTML).
                with gr.Row(elem_id="offer-suggestions"):
                    suggest_btns = [
                        gr.Button(
                            "",
                            elem_id="offer-suggest" if i == 0 else f"offer-suggest-{i}",
                            elem_classes=["sp-suggest"],
                            visible=False,
                            min_width=0,
                            size="sm",
                        )
                        for i in range(MAX_SUGGESTED)
                    ]
                accept_btn = gr.Button(
                    ui("accept", "it"), variant="primary", elem_id="offer-accept", min_width=120, size="sm"
                )
                decline_btn = gr.Button(ui("decline", "it"), elem_id="offer-decline", min_width=100, size="sm")
            with gr.Column(elem_id="contact"):
                contact_title = gr.HTML(_title_html("it"), elem_id="contact-title", js_on_load=None)
                with gr.Row(elem_id="contact-row"):
                    method = gr.Radio(
                        [(ui("email", "it"), "email"), (ui("phone", "it"), "phone")],
                        value="email",
                        label=ui("contact_method", "it"),
                        show_label=False,
                        container=False,
                        elem_id="contact-method",
                        min_width=0,
                    )
                    contact_value = _box(
                        "contact_value",
                        "contact_value",
                        max_lines=1,
                        elem_id="contact-value",
                        max_length=254,
                        min_width=0,
                    )
                contact_error = gr.HTML("", elem_id="contact-error", js_on_load=None)
                contact_btn = gr.Button(
                    ui("contact_submit", "it"), variant="primary", elem_id="contact-submit", size="sm"
                )
            with gr.Column(elem_id="rating"):
                rate_title = gr.HTML(_rate_title_html("it"), elem_id="rate-title", js_on_load=None)
                score = gr.Radio(
                    [(f"{i} ★", str(i)) for i in range(1, 6)],
                    value=None,
                    label=ui("score_label", "it"),
                    show_label=False,
                    container=False,
                    elem_id="rate-score",
                )
                with gr.Row(elem_id="rate-row"):
                    rate_comment = _box(
                        "rate_comment",
                        "rate_comment",
                        lines=1,
                        max_lines=3,
                        max_length=MAX_COMMENT_LEN,
                        elem_id="rate-comment",
                        scale=3,
                        min_width=0,
                    )
                    rate_btn = gr.Button(
                        ui("rate_submit", "it"), variant="primary", size="sm", elem_id="rate-submit", min_width=0
                    )
            with gr.Row(elem_id="closed"):
                new_btn = gr.Button(ui("new_chat", "it"), variant="primary", elem_id="new-chat", size="sm")
            with gr.Row(elem_id="actions"):
                person_btn = gr.Button(ui("ask_person", "it"), size="sm", elem_id="ask-person", min_width=0)
                rate_open_btn = gr.Button(ui("rate_open", "it"), size="sm", elem_id="rate-open", min_width=0)
            with gr.Row(elem_id="composer", equal_height=True):
                msg = _box("placeholder", "message_label", lines=1, max_lines=4, scale=5, elem_id="msg")
                send_btn = gr.Button(ui("send", "it"), variant="primary", scale=0, min_width=72, elem_id="send")
        # The push: see LIVE_JS. Its value (sid, token, on, after) changes only when the chat starts or stops
        # being followed; its click is the "look now" of the stream.
        live = gr.HTML(
            "", html_template="<span hidden></span>", elem_id="sp-live", visible="hidden", js_on_load=LIVE_JS
        )

        # Gradio 6 rebuilds a per-session copy of every output component of an
        # event, even one left unchanged (gr.skip()): ~0.3-8 ms each, the Chatbot
        # the most. So each event lists as few outputs as it can (labels only on a language change), and the
        # look runs only when the chat's state changed (LIVE_JS shows messages and queue moves itself).
        core_outputs = [view_state, saved, chat, status, notice, contact_error, live, *suggest_btns]
        load_outputs = [*core_outputs, lang, header]
        send_outputs = [*core_outputs, msg]
        label_outputs = [
            header,
            chat,
            score,
            rate_open_btn,
            rate_title,
            rate_comment,
            rate_btn,
            *chips,
            accept_btn,
            decline_btn,
            contact_title,
            method,
            contact_value,
            contact_btn,
            msg,
            send_btn,
            person_btn,
            new_btn,
        ]

        def core_props(view: dict) -> dict:
            questions = view.get("suggestions") or []
            props = {
                status: {
                    "value": _phase_html(
                        view["status"], rate_phase(view), view["lang"], bool(view.get("pending")), view["last_seq"]
                    )
                    + status_html(view)
                },
                notice: {"value": notice_html(view.get("notice", ""), view.get("notice_kind") or "error")},
                contact_error: {"value": notice_html(view.get("contact_error", ""))},
                lang: {"value": view["lang"]},
            }
            for i, btn in enumerate(suggest_btns):
                question = questions[i] if i < len(questions) else ""
                props[btn] = {"value": question, "visible": bool(question)}
            return props

        def on_labels(lg: str):
            lg = lg if lg in ("it", "en") else "it"
            out = {
                header: _header_html(lg, venue, service.opening_status(lg)),
                rate_open_btn: ui("rate_open", lg),
                rate_title: _rate_title_html(lg),
                chat: gr.update(label=ui("chat_label", lg)),
                score: gr.update(label=ui("score_label", lg)),
                rate_comment: gr.update(placeholder=ui("rate_comment", lg), label=ui("rate_comment", lg)),
                rate_btn: ui("rate_submit", lg),
                accept_btn: ui("accept", lg),
                decline_btn: ui("decline", lg),
                contact_title: _title_html(lg),
                method: gr.update(
                    choices=[(ui("email", lg), "email"), (ui("phone", lg), "phone")], label=ui("contact_method", lg)
                ),
                contact_value: gr.update(placeholder=ui("contact_value", lg), label=ui("contact_value", lg)),
                contact_btn: ui("contact_submit", lg),
                msg: gr.update(placeholder=ui("placeholder", lg), label=ui("message_label", lg)),
                send_btn: ui("send", lg),
                person_btn: ui("ask_person", lg),
                new_btn: ui("new_chat", lg),
            }
            for i, chip in enumerate(chips):
                out[chip] = SUGGESTIONS[lg][i]
            return out

        def render(view: dict, outs: list, extra: dict | None = None) -> dict:
            """What changed since this tab last rendered, among the event's outputs."""
            view = dict(view)
            shown = dict(view.get("_shown") or {})
            out: dict = dict(extra or {})
            for comp, wanted in core_props(view).items():
                key = f"c{comp._id}"
                if comp in outs and shown.get(key) != wanted:
                    shown[key] = wanted
                    # A new value alone is sent as the value: Gradio builds a whole new component for an update
                    out[comp] = wanted["value"] if set(wanted) == {"value"} else gr.update(**wanted)
            # `after` alone changes nothing; the language is the one a chat the script starts is in
            follow = [view.get("sid"), view.get("token"), polls(view), view["lang"]]
            if live in outs and shown.get("live") != follow:
                shown["live"] = follow
                out[live] = json.dumps(
                    {
                        **dict(zip(("sid", "token", "on"), follow[:3], strict=True)),
                        "max": max_len,
                        "after": view["last_seq"],
                        # the state this render shows: the stream's first state differing from it asks a look
                        "sig": [view.get(k) for k in LIVE_SIG],
                        "lang": view["lang"],
                        "tz": tz,
                    }
                )
            msgs = view["msgs"]
            chat_key = [
                len(msgs),
                msgs[-1]["seq"] if msgs else -1,
                view.get("pending"),
                len(view.get("pending_answer") or ""),
                view["status"],
                view["lang"],
            ]
            if chat in outs and shown.get("chat") != chat_key:
                shown["chat"] = chat_key
                out[chat] = chat_messages(view, tz)
            stored = session_of(view)
            if saved in outs and shown.get("saved") != stored:
                shown["saved"] = stored
                out[saved] = stored
            view["_shown"] = shown
            out[view_state] = view
            return out

        async def current(view: dict | None, request: gr.Request | None, live_value: object = None) -> dict:
            """The tab's view, with the chat the page's script started through the API (LIVE_JS: the #sp-live
            value it set, `adopt`) kept from now on when the view has none yet: no Gradio event was spent on it."""
            if not view:
                view = actions.resume(None, _header(request, "accept-language"))
            adopt = _adopted(live_value) if not view.get("sid") else None
            if adopt:
                view = await run(light, actions.adopt, view, *adopt) or view
            return view

        # ------------------------------------------------------------------ handlers
        async def on_load(stored, live_value, request: gr.Request):
            # The embed widget names the venue page's language (?lang=): it wins over the browser's.
            asked = _query(request, "lang")
            accept = asked if asked in ("it", "en") else _header(request, "accept-language")
            pending = _adopted(live_value)  # a chat the script started and Gradio has not kept yet (LOAD_JS)
            if pending:
                stored = {"sid": pending[0], "token": pending[1]}
            view = await run(light, actions.resume, stored, accept)
            return render(
                view, load_outputs, {header: _header_html(view["lang"], venue, service.opening_status(view["lang"]))}
            )

        async def send_text(text: str, view: dict, request: gr.Request):
            text = (text or "").strip() if isinstance(text, str) else ""
            if not text:  # nothing is sent: a gentle hint, the chat stays as it is
                yield render(actions.empty(view), send_outputs)
                return
            if len(text) > max_len:  # refused with a note; the text stays in the box
                yield render(actions.too_long(view, text), send_outputs)
                return
            if view.get("sid"):
                # What the stream showed or the page sent through the API meanwhile (LIVE_JS) first, so the
                # visitor's message comes after it.
                view = await run(light, actions.poll, view) or view
            shown = render(actions.with_pending(view, text), send_outputs, {msg: ""})
            yield shown
            pending = shown[view_state]  # with what this step showed: the final step undoes it (Send busy, ...)
            loop = asyncio.get_running_loop()
            pieces: asyncio.Queue = asyncio.Queue()
            job = loop.run_in_executor(
                answers,
                functools.partial(
                    actions.send,
                    pending,
                    text,
                    _header(request, "user-agent"),
                    client_address(request),
                    lambda piece: loop.call_soon_threadsafe(pieces.put_nowait, piece),
                ),
            )
            async for partial in _partials(job, pieces):  # a streaming answerer: the answer grows in the chat
                yield render({**pending, "pending_answer": partial}, send_outputs)
            final = await job
            # Not stored (the disk is full): the text goes back in the box, to send again later.
            yield render(final, send_outputs, {msg: text} if final["notice"] == DISK_FULL else None)

        async def on_send(text, view, live_value, request: gr.Request):
            async for out in send_text(text, await current(view, request, live_value), request):
                yield out

        def chip_handler(i: int):
            async def on_chip(view, live_value, request: gr.Request):
                view = await current(view, request, live_value)
                async for out in send_text(SUGGESTIONS[view["lang"]][i], view, request):
                    yield out

            return on_chip

        def suggest_handler(i: int):
            async def on_suggest(view, live_value, request: gr.Request):
                view = await current(view, request, live_value)
                questions = view.get("suggestions") or []
                async for out in send_text(questions[i] if i < len(questions) else "", view, request):
                    yield out

            return on_suggest

        async def on_person(view, live_value, request: gr.Request):
            view = await current(view, request, live_value)
            person = await run(light, actions.ask_person, view, _header(request, "user-agent"), client_address(request))
            return render(person, core_outputs)

        async def on_decline(view, live_value, request: gr.Request):
            return render(await run(light, actions.decline, await current(view, request, live_value)), core_outputs)

        async def on_contact(method_value, value, view, live_value, request: gr.Request):
            new = await run(light, actions.contact, await current(view, request, live_value), method_value, value)
            return render(new, core_outputs)

        async def on_tick(view, live_value=None):
            if not view:
                return {}
            kept = await current(view, None, live_value)  # a chat the script started: kept, and read whole
            new = kept if kept is not view else await run(light, actions.poll, view)
            return render(new or view, core_outputs)

        async def on_lang(value, view, live_value, request: gr.Request):
            new = await run(light, actions.set_language, await current(view, request, live_value), value)
            return render(new, core_outputs)

        async def on_rate_open(view, live_value, request: gr.Request):
            return render(actions.open_rating(await current(view, request, live_value)), core_outputs)

        async def on_rate(score_value, comment_value, view, live_value, request: gr.Request):
            new = await run(light, actions.rate, await current(view, request, live_value), score_value, comment_value)
            return render(new, core_outputs)

        async def on_new(view, live_value, request: gr.Request):
            return render(actions.new_chat(await current(view, request, live_value)), core_outputs)

        opts = {"concurrency_limit": None, "api_visibility": "private", "show_progress": "hidden"}
        page.load(on_load, inputs=[saved, live], outputs=load_outputs, js=LOAD_JS, **opts)
        # Enter and Send are one event: a second press while the answer is on its way is not dropped (Gradio's
        # default "once" ignored it) but run when the first is done ("always_last"), with what the box then holds;
        # meanwhile the text stays in the box and Send shows it is busy (page.css, data-busy).
        gr.on(
            [msg.submit, send_btn.click],
            on_send,
            inputs=[msg, view_state, live],
            outputs=send_outputs,
            trigger_mode="always_last",
            **opts,
        )
        for i, chip in enumerate(chips):
            chip.click(chip_handler(i), inputs=[view_state, live], outputs=send_outputs, **opts)
        for i, btn in enumerate(suggest_btns):
            btn.click(suggest_handler(i), inputs=[view_state, live], outputs=send_outputs, **opts)
        # No Gradio progress overlay: its screen-reader line is an untranslated "common.complete".
        # Unqueued (a plain POST, as the look): one short service call each, no stream to hold open; Gradio's
        # queue (join, then an event stream) costs the server several times more per click.
        busy = {**opts, "outputs": core_outputs, "queue": False}
        person_btn.click(on_person, inputs=[view_state, live], **busy)
        accept_btn.click(on_person, inputs=[view_state, live], **busy)
        decline_btn.click(on_decline, inputs=[view_state, live], **busy)
        contact_btn.click(on_contact, inputs=[method, contact_value, view_state, live], **busy)
        contact_value.submit(on_contact, inputs=[method, contact_value, view_state, live], **busy)
        new_btn.click(on_new, inputs=[view_state, live], **busy)
        rate_open_btn.click(on_rate_open, inputs=[view_state, live], **busy)
        rate_btn.click(on_rate, inputs=[score, rate_comment, view_state, live], **busy)
        lang.input(on_lang, inputs=[lang, view_state, live], **busy)
        lang.change(on_labels, inputs=[lang], outputs=label_outputs, queue=False, show_progress="hidden")
        # The look (LIVE_JS: the chat's state changed, or a chat its send started is to be kept): one unqueued
        # event (a plain POST) that re-reads the chat and renders what changed. A look asked for while one is on
        # its way runs once more after it ("always_last"): with Gradio's default ("once") it was dropped, and a
        # change that came while the pending look was reading (a release just after a take, a state from the
        # stream, an answer's new phase) stayed unshown until the next news (tests/e2e/test_visitor_look_pending.py).
        live.click(
            on_tick, inputs=[view_state, live], outputs=core_outputs, queue=False, trigger_mode="always_last", **opts
        )
    gradio_state.skip_cheaply(page)  # an output an event leaves as it was is not rebuilt (gradio_state.py)
    page.max_threads = MAX_EVENTS  # read by page.queue(): the queue's slots for events running at once
    page.queue(default_concurrency_limit=None)
    gradio_state.quiet_analytics(page)  # no pandas summary of the queue's events after each (gradio_state.py)
    page.sportello_executors = (answers, light)  # kept for shutdown and benchmarks
    return page


def _adopted(live_value: object) -> tuple[str, str] | None:
    """The chat the page's script started through the API, from the #sp-live value it set (LIVE_JS)."""
    try:
        cfg = json.loads(live_value) if isinstance(live_value, str) and live_value else {}
    except ValueError:
        return None
    if not (isinstance(cfg, dict) and cfg.get("adopt")):
        return None
    sid, token = cfg.get("sid"), cfg.get("token")
    return (sid, token) if isinstance(sid, str) and isinstance(token, str) else None


async def _partials(job: asyncio.Future, pieces: asyncio.Queue):
    """The answer's text so far while `job` (the send) runs, from the pieces the answerer streams: at most every
    PARTIAL_EVERY_S, each held PARTIAL_SETTLE_S first (an answerer that does not stream gives its whole text
    just before the result: one render, not two). Ends when the job is done."""
    loop = asyncio.get_running_loop()
    text, due, last = "", None, float("-inf")
    while not job.done():
        getter = asyncio.ensure_future(pieces.get())
        timeout = None if due is None else max(0.0, due - loop.time())
        done, _ = await asyncio.wait({getter, job}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if getter in done:
            text += getter.result()
            if due is None:
                due = max(loop.time() + PARTIAL_SETTLE_S, last + PARTIAL_EVERY_S)
            continue
        getter.cancel()
        if not job.done() and due is not None and loop.time() >= due:
            yield text
            last, due = loop.time(), None


def _box(placeholder: str, label: str, **kwargs) -> gr.Textbox:
    """A text box with no visible label, named for screen readers in the page's language (never Gradio's
    "Textbox"); on_labels renames it when the language changes."""
    return gr.Textbox(
        placeholder=ui(placeholder, "it"), label=ui(label, "it"), show_label=False, container=False, **kwargs
    )


def _phase_html(status: str, rate: str = "none", lang: str = "it", busy: bool = False, seq: int = 0) -> str:
    """The phase marker the CSS lays the page out by; PAGE_JS sets `<html lang>` from its data-lang. `data-seq`
    (the chat's last message shown) makes a render after new messages differ from the one before: LIVE_JS may
    have changed the phase on screen meanwhile (an offer), and a value equal to the last one sent would leave
    the screen as the script left it (Gradio sends, and the browser redraws, only a value that changed)."""
    return (
        f'<span class="sp-phase" data-phase="{esc(status)}" data-rate="{esc(rate)}" data-lang="{esc(lang)}"'
        f' data-busy="{"1" if busy else "0"}" data-seq="{int(seq)}" hidden></span>'
    )


def venue_of(settings) -> dict:
    """The venue's name, logo (an http(s) URL, or a file under DATA_DIR inlined as a data:
    URL) and colour, from the settings (validated in sportello.config). Quoted for HTML."""
    name = getattr(settings, "venue_name", "") or ""
    logo = getattr(settings, "venue_logo_url", "") or ""
    if logo and not logo.startswith(("http://", "https://")):
        path = Path(logo)
        try:
            data = path.read_bytes()[:MAX_LOGO_BYTES]
            mime = mimetypes.guess_type(path.name)[0] or "image/png"
            logo = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
        except OSError:
            logo = ""
    color = visitor_color(settings)  # never the theme's own indigo: white on it is under WCAG AA's contrast
    style = (
        "<style>:root, .gradio-container { --sp-primary: %s; --button-primary-background-fill: %s;"
        " --button-primary-background-fill-hover: %s; --button-primary-border-color: %s;"
        " --color-accent: %s; --checkbox-background-color-selected: %s;"
        " --checkbox-label-background-fill-selected: %s; --checkbox-label-border-color-selected: %s; }</style>"
        % ((color,) * 8)
    )
    return {"name": name, "logo": logo, "style": style}


def _header_html(lang: str, venue: dict | None = None, opening: dict | None = None) -> str:
    venue = venue or {}
    title = venue.get("name") or ui("title", lang)
    logo = ""
    if venue.get("logo"):
        logo = f'<img class="sp-logo" src="{html.escape(venue["logo"], quote=True)}" alt="">'
    banner = banner_text(opening, lang)
    banner_html = f'<div class="sp-banner" role="note">{esc(banner)}</div>' if banner else ""
    return (
        f'<div class="sp-header"><div class="sp-brand">{logo}<div><h1>{esc(title)}</h1>'
        f"<p>{esc(ui('subtitle', lang))}</p></div></div>{banner_html}</div>"
    )


def _rate_title_html(lang: str) -> str:
    return f'<p class="sp-contact-title">{esc(ui("rate_title", lang))}</p>'


def _title_html(lang: str) -> str:
    return f'<p class="sp-contact-title">{esc(ui("contact_title", lang))}</p>'


def _query(request: gr.Request | None, name: str) -> str:
    """A query parameter of the page's address (an event's own request is Gradio's; the page's address is its
    Referer, sent in full to the same origin)."""
    if request is None:
        return ""
    try:
        value = request.query_params.get(name, "")
        if value:
            return value
        page_query = urlsplit(request.headers.get("referer", "") or "").query
    except (AttributeError, ValueError):
        return ""
    return (parse_qs(page_query).get(name) or [""])[0]


def _header(request: gr.Request | None, name: str) -> str:
    if request is None:
        return ""
    try:
        return request.headers.get(name, "") or ""
    except AttributeError:
        return ""


__all__ = ["build_page", "mount_options", "new_view"]
