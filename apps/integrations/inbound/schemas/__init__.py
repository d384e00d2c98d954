"""Envelope and payload validation for the canonical event types (WEBHOOKS.md §2).

One DRF serializer per event type validates `data`. Decisions a sender should know:

- Amounts are decimal strings of ASCII digits (`"12.50"`, `"-3"`; not Arabic-Indic or
  full-width digits, which Python's Decimal() would read). JSON integers are accepted too (they are
  exact); JSON floats are rejected, because a float may already have lost the value the
  sender meant. No exponent notation, at most 20 digits with 8 decimal places.
- Currencies are ISO 4217 codes, three upper-case letters; countries ISO 3166-1 alpha-2, two
  upper-case letters.
- Times are ISO 8601 with a UTC offset or `Z`; a time without an offset is rejected. Dates are
  `YYYY-MM-DD`.
- External identifiers (`player_id`, `deposit_id`, `login`...) are strings; JSON integers are
  accepted and kept as their decimal string.
- Optional fields may be absent or null (null counts as absent).
- Unknown fields in the envelope or in `data` are accepted, ignored by processing and recorded
  as warnings on the event.
- What the handlers need is checked here, so an accepted event never fails later because of
  its shape: every field a handler reads is required, and a text a handler stores in a column
  is refused when longer than that column (the limits the domain apps declare with
  `registry.limit`). A whole envelope nesting deeper than `apps.core.bounded.MAX_JSON_DEPTH`
  or holding a NUL character is refused before any field is looked at.

The package's modules: `fields` (the field types above), `events` (one serializer per event
type), `data` (validating `data`: fast path, serializer, column limits, cross-field rules) and
`envelope` (`validate_envelope`, the entry point). Callers import from this package.
"""

from apps.integrations.inbound.schemas.data import _BOUND_FIELDS, _fast_data, _serializer_data
from apps.integrations.inbound.schemas.envelope import (
    ENVELOPE_FIELDS,
    ENVELOPE_OPTIONAL_FIELDS,
    KIND_EVENT_TYPES,
    ValidationResult,
    validate_envelope,
)
from apps.integrations.inbound.schemas.events import (
    EVENT_SERIALIZERS,
    EventDataSerializer,
)
from apps.integrations.inbound.schemas.fields import (
    IDENTITY_HASH_MAX_LENGTH,
    MAX_ID_LENGTH,
    AwareDateTimeField,
    CountryField,
    CurrencyField,
    DecimalAmountField,
    ExternalIdField,
    IdentifiersField,
    IsoDateField,
    PatternCodeField,
    TextField,
)

__all__ = [
    "ENVELOPE_FIELDS",
    "ENVELOPE_OPTIONAL_FIELDS",
    "EVENT_SERIALIZERS",
    "IDENTITY_HASH_MAX_LENGTH",
    "KIND_EVENT_TYPES",
    "MAX_ID_LENGTH",
    "_BOUND_FIELDS",
    "AwareDateTimeField",
    "CountryField",
    "CurrencyField",
    "DecimalAmountField",
    "EventDataSerializer",
    "ExternalIdField",
    "IdentifiersField",
    "IsoDateField",
    "PatternCodeField",
    "TextField",
    "ValidationResult",
    "_fast_data",
    "_serializer_data",
    "validate_envelope",
]
