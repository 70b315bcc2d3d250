"""The one error hierarchy of asset-ledger.

Every error raised on purpose by the library derives from :class:`AssetLedgerError`.  Each
carries a human message (what was wrong) and, where useful, a hint (what to do about it).
Errors that describe *bad input on the events topic* also derive from :class:`RejectedInput`
and carry a stable machine ``reason`` code, used in dead-letter headers and quarantine rows.
"""

from __future__ import annotations

MAX_MESSAGE = 1024
"""Characters of a refusal's message (dead-letter header, log line, quarantine row)."""


def printable(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` cut to ``limit`` characters, control characters escaped as ``\\xNN``."""
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else _escape(c) for c in text)


def _escape(c: str) -> str:
    shown = repr(c)[1:-1]
    return shown if shown != c else f"\\u{ord(c):04x}"


class AssetLedgerError(Exception):
    """Base class: a message for humans and an optional hint on how to fix it."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\nhint: {self.hint}"


class ConfigurationError(AssetLedgerError):
    """Bad usage or environment: missing file, unreachable broker, wrong option."""


class KeyFileError(AssetLedgerError):
    """A key file is missing, unreadable, of the wrong type, or locked by a passphrase."""


class BrokerError(AssetLedgerError):
    """The Kafka broker could not be reached or refused a request."""


class StoreError(AssetLedgerError):
    """The ledger database could not be opened or written."""


class VerificationFailure(AssetLedgerError):
    """Something checked and found wrong: a damaged ledger, a bad proof, a bad receipt."""

    exit_code = 1


class RejectedInput(AssetLedgerError):
    """An input record that must not enter the ledger.  ``reason`` is a stable code."""

    reason = "rejected"

    def __init__(self, message: str, *, reason: str | None = None, hint: str | None = None):
        # The message goes to a dead-letter header, the log and a database text column: keep
        # it short and free of control characters whatever the record held.
        super().__init__(printable(message), hint=hint)
        if reason is not None:
            self.reason = reason


class DecodeError(RejectedInput):
    """Bytes that are not a well-formed envelope or event (garbage, truncated, bad magic)."""

    reason = "undecodable"


class UnknownSchemaError(DecodeError):
    """A well-framed record whose schema fingerprint or registry id is not in the catalog."""

    reason = "unknown_schema"


class InvalidEventError(RejectedInput):
    """A decoded event that breaks a rule (vocabulary, hash format, missing field)."""

    reason = "invalid_event"


class InvalidTextError(InvalidEventError):
    """A control character (NUL, TAB, ESC …) in an id, a name or a vocabulary term."""

    reason = "invalid_text"


class InvalidShowNameError(InvalidEventError):
    """A show named "", blank, "." or "..": web addresses treat the last two as path steps,
    so the show's portal pages could never be opened."""

    reason = "invalid_show_name"


class SignatureError(RejectedInput):
    """The DSSE signature does not verify over the payload."""

    reason = "bad_signature"


class UntrustedKeyError(RejectedInput):
    """The signing key is not trusted (unknown, revoked, expired, out of scope)."""

    reason = "unknown_key"


class HeaderMismatchError(RejectedInput):
    """Kafka key or CloudEvents headers disagree with the signed payload."""

    reason = "header_mismatch"


class LimitExceededError(RejectedInput):
    """A record, envelope or event beyond a limit of docs/protocol.md §12.

    ``reason`` names the limit: ``oversized`` (the record value), ``oversized_key``,
    ``oversized_headers``, ``too_many_signatures``, ``too_many_items`` or ``text_too_long``.
    """

    reason = "oversized"


class OversizedError(LimitExceededError):
    """A record larger than the configured maximum."""

    reason = "oversized"


class WrongTopicError(InvalidEventError):
    """A record on a topic that does not carry its kind (e.g. a provenance event on TOPIC.keys)."""

    reason = "wrong_topic"


class DuplicateEventError(RejectedInput):
    """An event id already in the ledger (replay or re-send)."""

    reason = "duplicate_event_id"


# --- key registry: why a signer is not trusted for one event (reason codes in docs/keys.md) ---


class NotEnrolledError(UntrustedKeyError):
    """No key registry event of this ledger enrolled the signing key."""

    reason = "not_enrolled"


class KeyNotYetValidError(UntrustedKeyError):
    """The event time is before the key's ``valid_from``."""

    reason = "key_not_yet_valid"


class KeyExpiredError(UntrustedKeyError):
    """The event time is at or after the key's ``valid_until`` or its replacement by rotation."""

    reason = "key_expired"


class KeyRevokedError(UntrustedKeyError):
    """The event time is at or after the effective time of the key's revocation."""

    reason = "key_revoked"


class OutOfScopeError(UntrustedKeyError):
    """The key is enrolled and valid, but not for this production, actor, action or source."""

    reason = "out_of_scope"


class ClearanceScopeError(OutOfScopeError):
    """A consent or licence event signed by a key whose scope does not name that kind
    (``assetledger.consent`` / ``assetledger.licence``), on a ledger that requires it."""

    reason = "no_clearance_scope"


class EnrolmentUnauthorisedError(UntrustedKeyError):
    """A key registry event not signed by enough root keys or by a delegated enroller."""

    reason = "enrolment_unauthorised"


class RegistryConflictError(InvalidEventError):
    """A key registry event that contradicts the registry (key enrolled twice, unknown key)."""

    reason = "registry_conflict"


class TopicRecreatedError(BrokerError):
    """The events topic was deleted and recreated: the ledger's stored offsets no longer apply."""
