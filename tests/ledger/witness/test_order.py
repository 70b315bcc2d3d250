"""The order of the witness's add-checkpoint checks, and docs/proofs.md §8.3 stating it.

c2sp.org/tlog-witness: 404 for an unknown origin, 403 for no (or a failing) trusted signature,
400 for ``old`` above the size, 409 for another ``old``, 422 for a bad proof or, with equal
sizes, another root.  The note's text is read as a checkpoint only once a trusted key signed it
(c2sp.org/signed-note), so a size line altered after signing is 403, and a log-signed text that
is not a checkpoint is 400 (issue 19 §8).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.log import checkpoint as cp
from ledger.log.merkle import EMPTY_ROOT
from ledger.witness.witness import Witness, init_witness

ROOT = Path(__file__).parents[3]
ORIGIN = "studio.example/ledger"
LOG_KEY = Ed25519PrivateKey.generate()
SOME_ROOT = cp.b64encode(bytes(range(32)))


@pytest.fixture
def witness(tmp_path: Path) -> Iterator[Witness]:
    identity = init_witness("guild.example/w1", tmp_path / "w1")
    w = Witness(identity, [(ORIGIN, LOG_KEY.public_key())], tmp_path / "witness.db")
    yield w
    w.close()


def signed(size: str, root: str = SOME_ROOT, key: Ed25519PrivateKey = LOG_KEY) -> str:
    return cp.sign_note(f"{ORIGIN}\n{size}\n{root}\n".encode(), ORIGIN, key)


def request(old: int, note: str) -> bytes:
    return f"old {old}\n\n{note}".encode()


@pytest.mark.parametrize("size", ["05", "-1", "abc", "5 ", "", "18446744073709551616"])
def test_a_checkpoint_the_log_signed_with_a_malformed_size_line_is_400(
    witness: Witness, size: str
) -> None:
    response = witness.add_checkpoint(request(0, signed(size)))
    assert response.status == 400 and response.body.startswith(b"malformed checkpoint")
    assert witness.states() == []


def test_a_size_line_altered_after_signing_is_403_the_signature_is_checked_first(
    witness: Witness,
) -> None:
    altered = signed("5").replace("\n5\n", "\n05\n", 1)
    response = witness.add_checkpoint(request(0, altered))
    assert response.status == 403 and b"invalid signature" in response.body
    unsigned = signed("05", key=Ed25519PrivateKey.generate())  # no trusted signature at all
    assert witness.add_checkpoint(request(0, unsigned)).status == 403


@pytest.mark.parametrize("root", ["not base64!", cp.b64encode(bytes(31)), ""])
def test_a_size_zero_checkpoint_with_a_malformed_root_is_malformed_400_not_422(
    witness: Witness, root: str
) -> None:
    response = witness.add_checkpoint(request(0, signed("0", root)))
    assert response.status == 400 and response.body.startswith(b"malformed checkpoint")


def test_a_well_formed_size_zero_checkpoint_with_another_root_is_422(witness: Witness) -> None:
    assert witness.add_checkpoint(request(0, signed("0", SOME_ROOT))).status == 422
    empty = signed("0", cp.b64encode(EMPTY_ROOT))
    assert witness.add_checkpoint(request(0, empty)).status == 200


def test_old_above_the_size_is_400_before_the_409_of_another_old(witness: Witness) -> None:
    assert witness.add_checkpoint(request(0, signed("5"))).status == 200
    response = witness.add_checkpoint(request(9, signed("8")))  # 9 > 8, and 9 is not 5
    assert response.status == 400 and b"larger than the tree" in response.body


def test_same_size_other_root_is_422_with_the_cosigned_old_and_409_with_another(
    witness: Witness,
) -> None:
    assert witness.add_checkpoint(request(0, signed("5"))).status == 200
    other = signed("5", cp.b64encode(bytes(32)))
    assert witness.add_checkpoint(request(5, other)).status == 422
    assert witness.add_checkpoint(request(0, other)).status == 409
    same = witness.add_checkpoint(request(5, signed("5")))  # the same checkpoint again
    assert same.status == 200


def _section_8_3_statuses() -> list[tuple[int, str]]:
    text = (ROOT / "docs" / "proofs.md").read_text(encoding="utf-8")
    section = text.split("### 8.3 The add-checkpoint protocol", 1)[1].split("\n### ", 1)[0]
    table = section.split("checking in this order", 1)[1]
    return [
        (int(m.group(1)), m.group(2))
        for m in re.finditer(r"^\| (\d{3}) [^|]+\| (.+) \|$", table, re.M)
    ]


def test_docs_state_the_order_of_checks_the_witness_follows() -> None:
    rows = _section_8_3_statuses()
    assert [status for status, _ in rows] == [400, 404, 403, 400, 400, 409, 422, 200, 500]
    request_syntax, _, signature, checkpoint_text, old_above = (why for _, why in rows[:5])
    assert "checkpoint" not in request_syntax  # a checkpoint's text is read after 403
    assert "changed after it was signed gets 403" in signature
    assert "well-formed checkpoint" in checkpoint_text
    assert "`old` is larger" in old_above
    assert "with `old` equal to the checkpoint's size" in rows[6][1] and "422" in rows[6][1]
