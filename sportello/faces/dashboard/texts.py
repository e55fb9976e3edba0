"""Everything an operator reads on the dashboard, in Italian and English.

`tr(key, lang)` returns the label; error codes from `sportello.domain.DomainError`
have their own operator-friendly messages (`error_text`).
"""

from __future__ import annotations

LANGS = ("it", "en")

LABELS: dict[str, tuple[str, str]] = {
    # navigation and frame
    "app_title": ("Sportello – Operatori", "Sportello – Operators"),
    "page_login": ("Accesso", "Sign in"),
    "page_live": ("Live", "Live"),
    "page_tickets": ("Ticket", "Tickets"),
    "page_log": ("Conversazioni", "Conversations"),
    "page_analytics": ("Analisi", "Analytics"),
    "page_operators": ("Operatori", "Operators"),
    "language": ("Lingua", "Language"),
    "signed_in_as": ("Connesso come", "Signed in as"),
    "logout": ("Esci", "Sign out"),
    "login_required": ("Accesso richiesto.", "Please sign in."),
    "waiting_badge": ("In coda: {n}", "Waiting: {n}"),
    # login
    "username": ("Nome utente", "Username"),
    "password": ("Password", "Password"),
    "login_button": ("Entra", "Sign in"),
    "login_intro": (
        "Accesso riservato agli operatori del museo.",
        "For museum operators only.",
    ),
    "login_help": (
        'Gli account si creano con `python -m sportello admin add-operator UTENTE --name "Nome Cognome"` '
        "(o dalla pagina Operatori, per gli amministratori).",
        'Accounts are created with `python -m sportello admin add-operator USER --name "First Last"` '
        "(or from the Operators page, by administrators).",
    ),
    # presence
    "presence": ("Presenza", "Presence"),
    "online": ("Online", "Online"),
    "away": ("Assente", "Away"),
    "offline": ("Offline", "Offline"),
    "console_gone": ("Non connesso (console chiusa)", "Not connected (console closed)"),
    "presence_help": (
        "Ricevi chat solo se sei Online e questa pagina è aperta.",
        "You receive chats only while Online with this page open.",
    ),
    # live
    "live_title": ("Live: coda e chat", "Live: queue and chats"),
    "operators_online": ("Operatori online", "Operators online"),
    "accepting": ("Chat accettate", "Accepting"),
    "accepting_closed": ("no, chiuso", "no, closed"),  # out of business hours
    "yes": ("sì", "yes"),
    "no": ("no", "no"),
    "my_chats": ("Le mie chat", "My chats"),
    "queue": ("Coda d'attesa", "Waiting queue"),
    "urgent": ("URGENTE", "URGENT"),
    "urgent_help": (
        "Emergenza: il visitatore ha già ricevuto le istruzioni di emergenza.",
        "Emergency: the visitor was already given the emergency instructions.",
    ),
    "queue_empty": ("Nessun visitatore in attesa.", "Nobody is waiting."),
    "position": ("Pos.", "Pos."),
    "lang_col": ("Lingua", "Lang."),
    "waiting_for": ("Attesa", "Waiting"),
    "question": ("Domanda", "Question"),
    "take": ("Prendi", "Take"),
    "more_waiting": ("Altri {n} in coda:", "{n} more waiting:"),
    "taken": ("Chat presa.", "Chat taken."),
    "no_chats": (
        "Nessuna chat aperta. Prendi un visitatore dalla coda.",
        "No open chats. Take a visitor from the queue.",
    ),
    "reply": ("Risposta", "Reply"),
    "send": ("Invia", "Send"),
    "canned": ("Risposte rapide", "Canned replies"),
    "send_canned": ("Invia risposta rapida", "Send canned reply"),
    "release": ("Rilascia", "Release"),
    "release_reason": ("Esito", "Resolution"),
    "release_note": ("Dettagli (facoltativo)", "Details (optional)"),
    "released": ("Chat chiusa: ticket #{id} risolto.", "Chat closed: ticket #{id} resolved."),
    "sent": ("Inviato.", "Sent."),
    "chat_with": ("Chat {n}", "Chat {n}"),
    "visitor_lang": ("lingua del visitatore: {code}", "visitor's language: {code}"),
    "ai_part": ("— conversazione con l'assistente —", "— conversation with the assistant —"),
    "at_capacity_note": (
        "Hai raggiunto il massimo di chat contemporanee ({n}).",
        "You have reached your maximum of concurrent chats ({n}).",
    ),
    # tickets
    "tickets_title": ("Ticket", "Tickets"),
    "status": ("Stato", "Status"),
    "search": ("Cerca", "Search"),
    "search_help": (
        "Domanda, contatto, trascrizione, operatore o note",
        "Question, contact, transcript, operator or notes",
    ),
    "only_mine": ("Solo assegnati a me", "Only assigned to me"),
    "n_tickets": ("{n} ticket", "{n} tickets"),
    "export_csv": ("Esporta CSV", "Export CSV"),
    "export_excel": ("Excel (Italia)", "Excel (Italy)"),
    "export_excel_help": (
        "CSV per Excel con impostazioni italiane: separatore punto e virgola, orari locali.",
        "CSV for Excel with Italian settings: semicolon separator, local times.",
    ),
    "pick_ticket": ("Apri ticket", "Open ticket"),
    "no_tickets": ("Nessun ticket con questi filtri.", "No tickets match these filters."),
    "ticket_detail": ("Ticket #{id}", "Ticket #{id}"),
    "original_question": ("Domanda originale", "Original question"),
    "contact": ("Contatto", "Contact"),
    "contact_method": ("Canale", "Channel"),
    "operator": ("Operatore", "Operator"),
    "assigned_to": ("Assegnato a", "Assigned to"),
    "nobody": ("— nessuno —", "— nobody —"),
    "created": ("Creato", "Created"),
    "updated": ("Aggiornato", "Updated"),
    "resolution": ("Esito", "Resolution"),
    "transcript": ("Trascrizione", "Transcript"),
    "ai_history": ("Storico con l'assistente", "History with the assistant"),
    "notes": ("Note interne", "Internal notes"),
    "add_note": ("Aggiungi nota interna", "Add internal note"),
    "save": ("Salva", "Save"),
    "saved": ("Salvato.", "Saved."),
    # privacy (admins, on a ticket)
    "erase_title": ("Privacy", "Privacy"),
    "erase_help": (
        "Cancella domande, messaggi, contatto, trascrizione e note di questa conversazione, nel database e nei "
        "fogli. Non si può annullare.",
        "Erases the questions, messages, contact, transcript and notes of this conversation, in the database "
        "and in the sheets. It cannot be undone.",
    ),
    "erase_confirm": ("Confermo la cancellazione", "I confirm the erasure"),
    "erase_button": ("Cancella i dati del visitatore", "Erase visitor data"),
    "erase_need_confirm": ("Spunta la conferma per cancellare.", "Tick the confirmation to erase."),
    "erased": ("Dati del visitatore cancellati.", "Visitor data erased."),
    "session": ("Sessione", "Session"),
    "language_of": ("Lingua", "Language"),
    "st_open": ("aperto", "open"),
    "st_pending": ("in attesa", "pending"),
    "st_resolved": ("risolto", "resolved"),
    "st_closed": ("chiuso", "closed"),
    # conversations log
    "log_title": ("Conversazioni", "Conversations"),
    "log_intro": (
        "Le righe come vengono scritte sul foglio «Conversazioni».",
        "The rows as they are written to the «Conversazioni» sheet.",
    ),
    "session_filter": ("Sessione (id o inizio)", "Session (id or prefix)"),
    "days": ("Giorni", "Days"),
    "intents": ("Intent", "Intents"),
    "n_rows": ("{n} righe", "{n} rows"),
    "sync": ("Sincronizzazione foglio", "Sheet sync"),
    "sync_ok": ("Foglio aggiornato (destinazione: {sink}).", "Sheet up to date (sink: {sink})."),
    "sync_syncing": (
        "{n} righe in invio al foglio (destinazione: {sink}).",
        "{n} rows being sent to the sheet (sink: {sink}).",
    ),
    "sync_error": (
        "Sincronizzazione in errore: {n} righe in attesa. Ultimo errore: {error}",
        "Sync failing: {n} rows waiting. Last error: {error}",
    ),
    "sync_unknown": (
        "Stato del foglio sconosciuto (l'app non è in esecuzione?): {n} righe in attesa.",
        "Sheet status unknown (is the app running?): {n} rows waiting.",
    ),
    "backlog": ("Righe in attesa", "Rows waiting"),
    "last_sent": ("Ultimo invio", "Last sent"),
    # analytics
    "analytics_title": ("Analisi", "Analytics"),
    "period": ("Periodo", "Period"),
    "conversations": ("Conversazioni", "Conversations"),
    "deflection": ("Risolte dall'AI", "Answered by the AI"),
    "deflection_help": (
        "Conversazioni in cui il visitatore non ha chiesto di passare a una persona.",
        "Conversations in which the visitor never accepted a hand-off to a person.",
    ),
    "to_person": ("Passate a un operatore", "Handed to a person"),
    "to_ticket": ("Diventate ticket", "Turned into tickets"),
    "no_outcome": ("Senza esito", "No outcome"),
    "no_outcome_help": (
        "Il visitatore ha accettato un operatore ma è uscito prima di essere servito o di lasciare un contatto.",
        "The visitor accepted an operator but left before being served or leaving a contact.",
    ),
    "per_day": ("Conversazioni al giorno", "Conversations per day"),
    # the learning loop (sportello.services.learning)
    "learning_title": ("Apprendimento · Learning", "Learning · Apprendimento"),
    "learning_help": (
        "Insegna all'AI: ogni etichetta è registrata (chi, quando) e può essere annullata; l'AI la usa subito.",
        "Teach the AI: every label is recorded (who, when) and can be undone; the AI uses it right away.",
    ),
    "label_this": ("Etichetta: {q}", "Label: {q}"),
    "label_visitor_msgs": ("Insegna all'AI da questa chat", "Teach the AI from this chat"),
    "label_pick_msg": ("Messaggio del visitatore", "Visitor message"),
    "label_as": ("Questa domanda è…", "This question is…"),
    "label_escalate": (
        "deve andare a una persona · must go to a person",
        "must go to a person · deve andare a una persona",
    ),
    "label_new_kb": ("nuova voce KB · new KB entry", "new KB entry · nuova voce KB"),
    "label_intent": ("intento «{i}»", "intent «{i}»"),
    "label_q_it": ("Domanda (italiano)", "Question (Italian)"),
    "label_a_it": ("Risposta (italiano)", "Answer (Italian)"),
    "label_q_en": ("Domanda (inglese)", "Question (English)"),
    "label_a_en": ("Risposta (inglese)", "Answer (English)"),
    "label_name": ("Nome dell'intento (facoltativo)", "Intent name (optional)"),
    "label_save": ("Salva etichetta", "Save label"),
    "label_saved": ("Etichetta #{n} salvata: l'AI la usa da ora.", "Label #{n} saved: the AI uses it from now on."),
    "label_undone": ("Etichetta #{n} annullata.", "Label #{n} undone."),
    "label_history": ("Storico delle etichette", "Label history"),
    "label_counts": ("Etichette per intento", "Labels per intent"),
    "label_undo": ("Annulla etichetta", "Undo label"),
    "label_undo_pick": ("Etichetta da annullare", "Label to undo"),
    "label_none": ("Nessuna etichetta ancora.", "No labels yet."),
    # label review: a non-admin's label is a proposal until an admin approves it
    "learning_help_review": (
        "Insegna all'AI: ogni etichetta è registrata (chi, quando). Le etichette di un amministratore valgono "
        "subito; quelle degli altri operatori sono proposte, usate dall'AI solo dopo l'approvazione di un "
        "amministratore. Un'etichetta può essere annullata dal suo autore o da un amministratore. Gli esempi "
        "generati dall'LLM (python -m sportello kb examples) sono proposte come le altre.",
        "Teach the AI: every label is recorded (who, when). An administrator's labels apply at once; other "
        "operators' labels are proposals, used by the AI only once an administrator approves them. A label can "
        "be undone by its author or by an administrator. The examples generated by the LLM (python -m sportello "
        "kb examples) are proposals like the others.",
    ),
    "label_proposed": (
        "Proposta #{n} inviata, in attesa di revisione da parte di un amministratore.",
        "Proposal #{n} sent, awaiting review by an administrator.",
    ),
    "review_title": ("Proposte da rivedere", "Proposals to review"),
    "review_none": ("Nessuna proposta in attesa di revisione.", "No proposals awaiting review."),
    "review_by": (
        "#{n} · proposta da {who} · {when} · {kind} {intent}",
        "#{n} · proposed by {who} · {when} · {kind} {intent}",
    ),
    "review_approve": ("Approva", "Approve"),
    "review_reject": ("Rifiuta", "Reject"),
    "review_approved": (
        "Proposta #{n} approvata: l'AI la usa da ora.",
        "Proposal #{n} approved: the AI uses it from now on.",
    ),
    "review_rejected": ("Proposta #{n} rifiutata.", "Proposal #{n} rejected."),
    "review_source": ("Proposte di", "Proposals from"),
    "source_all": ("tutti", "everyone"),
    "source_operator": ("operatori", "operators"),
    "source_llm": ("LLM (esempi generati, kb examples)", "LLM (generated examples, kb examples)"),
    "review_shown": (
        "{k} di {n} proposte mostrate, le più vecchie prima.",
        "{k} of {n} proposals shown, oldest first.",
    ),
    "review_intent": ("Intento", "Intent"),
    "intent_all": ("tutti", "all"),
    "review_approve_shown": ("Approva le {k} mostrate", "Approve the {k} shown"),
    "review_approve_shown_help": (
        "Approva così come sono tutte le proposte mostrate qui sotto (per modificarne una, usa il suo modulo).",
        "Approves every proposal shown below as it is (to edit one, use its own form).",
    ),
    "review_approved_many": (
        "{n} proposte approvate: l'AI le usa da ora.",
        "{n} proposals approved: the AI uses them from now on.",
    ),
    "review_skipped_many": (
        "{n} non più in attesa o non valide, lasciate com'erano.",
        "{n} no longer waiting or not valid, left as they were.",
    ),
    "review_edit_q": ("Domanda (modificabile prima di approvare)", "Question (editable before approving)"),
    "review_edit_intent": ("Intento (modificabile prima di approvare)", "Intent (editable before approving)"),
    "col_status": ("Stato", "Status"),
    "col_reviewed": ("Revisione", "Review"),
    "status_proposed": ("in attesa di revisione", "awaiting review"),
    "status_approved": ("approvata", "approved"),
    "status_rejected": ("rifiutata", "rejected"),
    "rate_before": ("Risposte AI prima", "AI answer rate before"),
    "rate_after": ("Risposte AI dopo", "AI answer rate after"),
    "rate_help": (
        "Quota di domande dei visitatori a cui l'AI ha risposto, prima e dopo la prima etichetta attiva.",
        "Share of visitor questions the AI answered, before and since the first active label.",
    ),
    "col_when": ("Quando", "When"),
    "col_who": ("Chi", "Who"),
    "col_kind": ("Tipo", "Kind"),
    "col_intent": ("Intento", "Intent"),
    "col_undone": ("Annullata", "Undone"),
    "outcome": ("Esito", "Outcome"),
    "out_ai": ("AI", "AI"),
    "out_operator": ("Operatore", "Operator"),
    "out_ticket": ("Ticket", "Ticket"),
    "out_no_outcome": ("Senza esito", "No outcome"),
    "queue_wait": ("Attesa in coda", "Queue wait"),
    "handle_time": ("Durata chat con operatore", "Live chat duration"),
    "p50": ("mediana", "median"),
    "p90": ("90° percentile", "90th percentile"),
    "count": ("Numero", "Count"),
    "top_intents": ("Intent più frequenti", "Top intents"),
    "unanswered": ("Domande a cui l'AI non ha saputo rispondere", "Questions the AI could not answer"),
    "unanswered_help": (
        "Le più frequenti prima: sono le voci da aggiungere alla base di conoscenza.",
        "Most frequent first: these are the entries to add to the knowledge base.",
    ),
    "times": ("Volte", "Times"),
    "last_asked": ("Ultima volta", "Last asked"),
    "languages": ("Lingue", "Languages"),
    "nothing_in_period": ("Nessuna conversazione nel periodo.", "No conversations in this period."),
    # operators admin
    "operators_title": ("Operatori", "Operators"),
    "admins_only": ("Solo gli amministratori gestiscono gli operatori.", "Only administrators manage operators."),
    "add_operator": ("Nuovo operatore", "New operator"),
    "display_name": ("Nome e cognome", "Full name"),
    "is_admin": ("Amministratore", "Administrator"),
    "max_chats": ("Chat contemporanee", "Concurrent chats"),
    "create": ("Crea", "Create"),
    "created_op": ("Operatore «{u}» creato.", "Operator «{u}» created."),
    "edit_operator": ("Modifica operatore", "Edit operator"),
    "active": ("Attivo", "Active"),
    "new_password": ("Nuova password (facoltativa)", "New password (optional)"),
    "presence_now": ("Presenza", "Presence"),
    "live_chats": ("Chat attive", "Live chats"),
    # Widgets, labels, the console as a chat view
    "choose": ("Scegli…", "Choose…"),
    "choose_many": ("Scegli uno o più…", "Choose one or more…"),
    "cm_live_chat": ("Chat dal vivo", "Live chat"),
    "cm_email": ("Email", "Email"),
    "cm_phone": ("Telefono", "Phone"),
    "times_in": ("Orari nel fuso del museo ({tz}).", "Times in the venue's time zone ({tz})."),
    "col_time": ("Ora ({tz})", "Time ({tz})"),
    "alerts": ("Avviso sonoro e notifica", "Sound and desktop alert"),
    "alerts_help": (
        "Un suono e una notifica del browser quando un nuovo visitatore si mette in coda.",
        "A sound and a browser notification when a new visitor starts waiting.",
    ),
    "alert_title": ("Sportello: visitatore in attesa", "Sportello: visitor waiting"),
    "alert_body": ("In coda: {n}", "Waiting: {n}"),
    "who_visitor": ("Visitatore", "Visitor"),
    "who_assistant": ("Assistente", "Assistant"),
    "transfer": ("Trasferisci a un collega", "Transfer to a colleague"),
    "transfer_to": ("Collega (online, con posto libero)", "Colleague (online, with room)"),
    "transfer_button": ("Trasferisci", "Transfer"),
    "transferred": ("Chat passata a {name}.", "Chat handed to {name}."),
    "no_colleague": ("Nessun collega online con posto libero.", "No colleague online with room."),
    "chat_notes": ("Note interne (solo operatori)", "Internal notes (operators only)"),
    "note_text": ("Nota per i colleghi (il visitatore non la vede)", "Note for colleagues (the visitor never sees it)"),
    "note_add": ("Aggiungi nota", "Add note"),
    "note_added": ("Nota aggiunta.", "Note added."),
    "no_notes": ("Nessuna nota.", "No notes."),
    "ratings_title": ("Soddisfazione dei visitatori", "Visitor satisfaction"),
    "ratings_ai": ("Voto medio · risolte dall'AI", "Average rating · resolved by the AI"),
    "ratings_operator": ("Voto medio · risolte da un operatore", "Average rating · resolved by an operator"),
    "ratings_value": ("{avg} / 5 ({n} voti)", "{avg} / 5 ({n} ratings)"),
    "ratings_none": ("nessun voto", "no ratings"),
    "ratings_help": (
        "Media dei voti 1-5 lasciati dai visitatori a fine conversazione, negli ultimi {d} giorni.",
        "Average of the 1-5 ratings visitors left at the end, over the last {d} days.",
    ),
    "score": ("Voto", "Score"),
}

ERRORS: dict[str, tuple[str, str]] = {
    "not_waiting": (
        "Questa chat non è più in attesa: l'ha già presa un collega.",
        "This chat is no longer waiting: a colleague already took it.",
    ),
    "at_capacity": (
        "Hai già il numero massimo di chat contemporanee: chiudine una prima di prenderne un'altra.",
        "You already have your maximum of concurrent chats: close one before taking another.",
    ),
    "operator_unavailable": (
        "Non sei online: imposta la presenza su Online per prendere una chat.",
        "You are not online: set your presence to Online to take a chat.",
    ),
    "not_your_chat": ("Questa chat non è più aperta con te.", "This chat is no longer open with you."),
    "bad_credentials": ("Nome utente o password errati.", "Wrong username or password."),
    "too_many_attempts": (
        "Troppi tentativi di accesso falliti: l'accesso è bloccato per qualche minuto. Riprova più tardi.",
        "Too many failed sign-in attempts: sign-in is locked for a few minutes. Try again later.",
    ),
    "invalid_token": ("Sessione scaduta: accedi di nuovo.", "Session expired: please sign in again."),
    "empty_message": ("Il messaggio è vuoto.", "The message is empty."),
    "message_too_long": ("Il messaggio è troppo lungo.", "The message is too long."),
    "not_admin": (
        "Solo un amministratore può gestire gli operatori.",
        "Only an administrator can manage operators.",
    ),
    "self_lockout": (
        "Non puoi disattivare te stesso né togliere i tuoi permessi di amministratore.",
        "You cannot disable yourself or remove your own admin rights.",
    ),
    "operator_exists": ("Esiste già un operatore con questo nome utente.", "An operator with this username exists."),
    "weak_password": ("La password deve avere almeno 8 caratteri.", "The password must be at least 8 characters."),
    "invalid_username": (
        "Il nome utente può contenere lettere, cifre, «.» e «_».",
        "The username may contain letters, digits, '.' and '_'.",
    ),
    "invalid_name": ("Il nome è obbligatorio.", "The name is required."),
    "unknown_ticket": ("Ticket non trovato.", "Ticket not found."),
    "unknown_operator": ("Operatore sconosciuto.", "Unknown operator."),
    "target_offline": ("Il collega non è più online.", "That colleague is no longer online."),
    "target_at_capacity": (
        "Il collega ha già il massimo di chat contemporanee.",
        "That colleague already has their maximum of concurrent chats.",
    ),
    "same_operator": ("Questa chat è già tua.", "This chat is already yours."),
    "unknown_session": ("Conversazione non trovata.", "Conversation not found."),
    "not_your_label": (
        "Solo l'autore dell'etichetta o un amministratore può annullarla.",
        "Only the label's author or an administrator can undo it.",
    ),
    "admin_review_only": (
        "Solo un amministratore può approvare o rifiutare le proposte.",
        "Only an administrator can approve or reject proposals.",
    ),
    "not_proposed": (
        "Questa proposta è già stata rivista o ritirata.",
        "This proposal was already reviewed or withdrawn.",
    ),
}

# Tickets followed to closure (call-backs, service levels), in one block.
LABELS.update(
    {
        "calls_title": ("Richiamate", "Call-backs"),
        "call_outcome": ("Esito della chiamata", "Call outcome"),
        "co_reached": ("raggiunto", "reached"),
        "co_no_answer": ("non risponde", "no answer"),
        "co_left_message": ("messaggio lasciato", "left a message"),
        "call_note": ("Nota sulla chiamata", "Call note"),
        "call_next": ("Prossimo tentativo", "Next attempt"),
        "call_next_default": (
            "Vuoto: tra {m} minuti (nessuno se raggiunto).",
            "Empty: in {m} minutes (none once reached).",
        ),
        "call_log": ("Registra chiamata", "Log call"),
        "call_logged": ("Chiamata registrata.", "Call logged."),
        "call_line": ("#{n} · {when} · {who} · {outcome}", "#{n} · {when} · {who} · {outcome}"),
        "call_due": ("Da richiamare: {when}", "Call back: {when}"),
        "calls_none": ("Nessuna chiamata registrata.", "No calls logged."),
        "due_column": ("Richiamare", "Call back"),
        "sla_title": ("Livelli di servizio dei ticket", "Ticket service levels"),
        "sla_help": (
            "Ticket aperti nel periodo (email e telefono). Prima risposta: chiamata o cambio di stato; "
            "limiti: {f} h (prima risposta), {r} h (risoluzione).",
            "Tickets opened in the period (email and phone). First response: a call or a status change; "
            "limits: {f} h (first response), {r} h (resolution).",
        ),
        "sla_channel": ("Canale", "Channel"),
        "sla_first": ("Prima risposta", "First response"),
        "sla_resolution": ("Risoluzione", "Resolution"),
        "sla_over": ("Ticket oltre i limiti", "Tickets over the limits"),
        "sla_over_what": ("Oltre", "Over"),
    }
)
ERRORS.update(
    {
        "invalid_transition": ("Questo cambio di stato non è consentito.", "This status change is not allowed."),
        "not_a_phone_ticket": ("Solo i ticket telefonici si richiamano.", "Only phone tickets are called back."),
        "ticket_closed": ("Il ticket è chiuso.", "The ticket is closed."),
        "invalid_next_attempt_at": (
            "Il prossimo tentativo deve essere nel futuro.",
            "The next attempt must be in the future.",
        ),
    }
)

# The inbox (the Live page) and the Ticket page's list and detail.
LABELS.update(
    {
        "closed_now": ("Chiuso ora: fuori dall'orario di apertura.", "Closed now: outside opening hours."),
        "closed_back": (" Si riapre {when}.", " Back {when}."),
        "queue_n": ("In attesa ({n})", "Waiting ({n})"),
        "my_chats_n": ("Mie ({n})", "Mine ({n})"),
        "colleagues_n": ("Colleghi ({n})", "Colleagues ({n})"),
        "no_colleague_chats": ("Nessuna chat aperta dai colleghi.", "No chats open with colleagues."),
        "new_message": ("nuovo messaggio", "new message"),
        "reply_placeholder": (
            "Rispondi (Invio invia, Maiusc+Invio a capo)",
            "Reply (Enter sends, Shift+Enter new line)",
        ),
        "canned_short": ("Rapide", "Quick"),
        "thread_title": ("Conversazione", "Conversation"),
        "visitor_title": ("Visitatore", "Visitor"),
        "language_now": ("Lingua ora", "Language now"),
        "lang_it": ("italiano", "Italian"),
        "lang_en": ("inglese", "English"),
        "waited": ("Ha atteso", "Waited"),
        "taken_at": ("Presa alle", "Taken at"),
        "earlier_tickets": ("Ticket precedenti", "Earlier tickets"),
        "earlier_none": ("Nessuno.", "None."),
        "tk_more": (
            "Mostrati i primi {n} di {total}: restringi i filtri per vedere gli altri.",
            "Showing the first {n} of {total}: narrow the filters to see the others.",
        ),
        "anyone": ("— chiunque —", "— anyone —"),
        "me": ("io", "me"),
        "rating": ("Voto", "Rating"),
        "other_tickets": ("Altri ticket dello stesso contatto", "Other tickets of the same contact"),
        "sync_pending": ("da inviare", "to send"),
        "sync_sent": ("inviata", "sent"),
        "sync_failed": ("non inviata", "failed"),
    }
)

# The system's intent ids (the sheet's intent_detected), as an operator reads them; a knowledge-base intent
# (the venue's own name, e.g. "orari") is shown as it is.
INTENT_LABELS: dict[str, tuple[str, str]] = {
    "no_answer": ("l'AI non sa rispondere", "the AI has no answer"),
    "personal_case": ("caso personale", "personal case"),
    "complaint": ("reclamo", "complaint"),
    "emergency": ("emergenza", "emergency"),
    "greeting": ("saluto", "greeting"),
    "operator_request": ("chiede una persona", "asks for a person"),
    "operator_declined": ("persona rifiutata", "person declined"),
    "operator_queue": ("in coda per un operatore", "queued for an operator"),
    "operator_unavailable": ("nessun operatore libero", "no operator free"),
    "queue_user_message": ("messaggio in coda", "message while queued"),
    "queue_timeout": ("attesa scaduta", "queue timed out"),
    "contact_prompt": ("contatto richiesto", "contact asked"),
    "ticket_created": ("ticket aperto", "ticket opened"),
    "chat_handover": ("chat presa da un operatore", "chat taken by an operator"),
    "live_chat_user_message": ("messaggio del visitatore (live)", "visitor message (live)"),
    "live_chat_operator_message": ("messaggio dell'operatore", "operator message"),
    "live_chat_operator": ("chat chiusa dall'operatore", "chat closed by the operator"),
    "chat_transfer": ("chat trasferita", "chat transferred"),
    "data_erased": ("dati cancellati", "data erased"),
    "satisfaction_rating": ("voto del visitatore", "visitor rating"),
    "ticket_reply_sent": ("risposta email inviata", "email reply sent"),
    "ticket_reply_failed": ("risposta email non inviata", "email reply failed"),
    "ticket_visitor_reply": ("il visitatore ha risposto", "the visitor replied"),
    "call_logged": ("chiamata registrata", "call logged"),
    "ticket_status_changed": ("stato del ticket cambiato", "ticket status changed"),
    "alert_sent": ("avviso inviato", "alert sent"),
}

# The "Conversazioni" sheet's columns, as the dashboard heads them (the sheet and the exports keep the names).
LOG_HEADERS: dict[str, tuple[str, str]] = {
    "session_id": ("Sessione", "Session"),
    "user_message": ("Messaggio del visitatore", "Visitor message"),
    "bot_reply": ("Risposta", "Reply"),
    "intent_detected": ("Intento", "Intent"),
    "user_agent": ("Browser / operatore", "Browser / operator"),
    "sync": ("Foglio", "Sheet"),
    "event_id": ("Evento", "Event"),
}


def intent_label(code: str, lang: str = "it") -> str:
    """An intent id as the operator reads it ("no_answer" -> "l'AI non sa rispondere"); a KB intent as it is."""
    entry = INTENT_LABELS.get(code)
    return code if entry is None else (entry[1] if lang == "en" else entry[0])


# Canned replies, in the visitor's language.
CANNED: dict[str, list[str]] = {
    "it": [
        "Buongiorno, sono qui per aiutarla. Mi dica pure.",
        "Un attimo, verifico e le rispondo subito.",
        "Può darmi qualche dettaglio in più?",
        "Le ho risposto? Posso aiutarla in altro?",
        "Grazie per averci contattato, buona giornata!",
    ],
    "en": [
        "Hello, I'm here to help. How can I help you?",
        "One moment please, I'll check and get right back to you.",
        "Could you give me a few more details?",
        "Did that answer your question? Can I help with anything else?",
        "Thank you for contacting us, have a nice day!",
    ],
}

# Resolution reasons offered when releasing a chat (stored as written).
RELEASE_REASONS: dict[str, list[str]] = {
    "it": [
        "Informazioni fornite",
        "Problema risolto",
        "Inoltrato a un collega / ufficio",
        "Il visitatore non risponde",
        "Altro",
    ],
    "en": [
        "Information provided",
        "Problem solved",
        "Forwarded to a colleague / office",
        "Visitor not responding",
        "Other",
    ],
}


def tr(key: str, lang: str = "it", **kwargs) -> str:
    it, en = LABELS[key]
    text = en if lang == "en" else it
    return text.format(**kwargs) if kwargs else text


def error_text(exc, lang: str = "it") -> str:
    """An operator-friendly message for a sportello.domain.DomainError."""
    entry = ERRORS.get(getattr(exc, "code", ""))
    if entry is None:
        return getattr(exc, "message", str(exc))
    return entry[1] if lang == "en" else entry[0]
