"""The domain vocabulary: states and transitions, errors, validation, texts.

Nothing in this package touches the database, the network or a UI.
"""

from sportello.domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    RateLimited,
    Unauthorized,
    ValidationError,
)
from sportello.domain.formats import first_name, iso
from sportello.domain.states import (
    LANGUAGES,
    TRANSITIONS,
    ContactMethod,
    OperatorStatus,
    Role,
    State,
    TicketStatus,
    concerns_console,
    next_state,
)
from sportello.domain.validation import (
    guess_contact,
    validate_contact,
    validate_email,
    validate_language,
    validate_phone,
    validate_text,
)

__all__ = [
    "LANGUAGES",
    "TRANSITIONS",
    "Conflict",
    "ContactMethod",
    "DomainError",
    "Forbidden",
    "NotFound",
    "OperatorStatus",
    "RateLimited",
    "Role",
    "State",
    "TicketStatus",
    "Unauthorized",
    "ValidationError",
    "first_name",
    "concerns_console",
    "guess_contact",
    "iso",
    "next_state",
    "validate_contact",
    "validate_email",
    "validate_language",
    "validate_phone",
    "validate_text",
]
