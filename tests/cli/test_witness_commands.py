"""The witness commands and options refuse bad usage clearly (exit 2), without a broker."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from cli.main import cli

DOC = (Path(__file__).resolve().parents[2] / "docs" / "proofs.md").read_text("utf-8")
RECEIPT = DOC.split("<!-- example-receipt:begin -->\n```\n")[1].split("```\n")[0]
COSIGNED = DOC.split("<!-- example-cosigned:begin -->\n```\n")[1].split("```\n")[0]
LOG_VKEY = re.findall(r"`(example\.com/asset-ledger\+[0-9a-f]{8}\+\S+)`", DOC)[0]
WITNESS_VKEYS = re.findall(r"`(witness\.example/w\d\+\S+)`", DOC)


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_init_prints_the_vkey_and_never_overwrites(tmp_path: Path) -> None:
    code, out, _ = invoke("witness", "init", "--name", "g.example/w", "--key-dir", str(tmp_path))
    assert code == 0 and out.startswith("g.example/w+")
    code, _, err = invoke("witness", "init", "--name", "g.example/w", "--key-dir", str(tmp_path))
    assert code == 2 and "already exists" in err


def test_serve_refuses_a_missing_key_or_a_bad_log_key(tmp_path: Path) -> None:
    code, _, err = invoke("witness", "serve", "--key-dir", str(tmp_path), "--log", LOG_VKEY)
    assert code == 2 and "witness init" in err
    invoke("witness", "init", "--name", "g.example/w", "--key-dir", str(tmp_path))
    code, _, err = invoke("witness", "serve", "--key-dir", str(tmp_path), "--log", "nonsense")
    assert code == 2 and "verifier key" in err
    witness_vkey = (tmp_path / "witness.vkey").read_text().strip()
    code, _, err = invoke("witness", "serve", "--key-dir", str(tmp_path), "--log", witness_vkey)
    assert code == 2 and "its type byte is 0x04" in err  # a witness key is no log key


def test_status_of_a_witness_that_never_served(tmp_path: Path) -> None:
    code, _, err = invoke("witness", "status", "--key-dir", str(tmp_path))
    assert code == 2 and "does not exist" in err


def test_receipt_quorum_options(tmp_path: Path) -> None:
    bare, cosigned = tmp_path / "bare.tlog-proof", tmp_path / "cosigned.tlog-proof"
    bare.write_text(RECEIPT)
    head, _, _ = RECEIPT.partition("\n\n")
    cosigned.write_text(head + "\n\n" + COSIGNED)
    w1, w2 = (["--witness-key", v] for v in WITNESS_VKEYS)
    base = ["verify-receipt", "--log-key", LOG_VKEY]
    code, out, _ = invoke(*base, str(cosigned), *w1, *w2)
    assert code == 0 and "2 valid cosignature(s), 2 required" in out
    code, _, err = invoke(*base, str(bare), *w1, *w2, "--quorum", "1")
    assert code == 1 and "0 valid witness cosignature(s) of the 1 required" in err
    code, _, err = invoke(*base, str(cosigned), "--quorum", "1")
    assert code == 2 and "--quorum needs --witness-key" in err
    code, _, err = invoke(*base, str(cosigned), *w1, *w2, "--quorum", "3")
    assert code == 2 and "more than the 2 distinct witness key(s)" in err
    code, _, err = invoke(*base, str(cosigned), "--witness-key", LOG_VKEY)
    assert code == 2 and "its type byte is 0x01" in err


def test_consume_refuses_witnesses_without_a_log_key(tmp_path: Path) -> None:
    keys = tmp_path / "trusted"
    invoke("keys", "generate", "vendor", "--out", str(keys))
    witness = "http://127.0.0.1:9=" + WITNESS_VKEYS[0]
    ledger = str(tmp_path / "l.db")
    code, _, err = invoke(
        "consume", "--trusted-keys", str(keys), "--ledger", ledger, "--witness", witness
    )
    assert code == 2 and "--witness needs signed checkpoints" in err


LEAF_RECEIPT = DOC.split("<!-- example-leaf-receipt:begin -->\n```\n")[1].split("```\n")[0]


def test_verify_receipt_on_a_leaf_hash_receipt(tmp_path: Path) -> None:
    """It verifies and prints the leaf hash; it cannot claim an event id (exit 1, why)."""
    path = tmp_path / "leaf.tlog-proof"
    path.write_text(LEAF_RECEIPT)
    base = ["verify-receipt", str(path), "--log-key", LOG_VKEY]
    code, out, _ = invoke(*base)
    leaf = "7baccc9d2a853dfe544ea49a8cfe6e67eda8ed36d68ef68411913b79c383b537"
    assert code == 0 and f"leaf hash is {leaf}" in out and "a leaf-hash receipt" in out
    code, out, _ = invoke(*base, "--format", "json")
    assert code == 0 and '"entry_included": false' in out and leaf in out
    code, _, err = invoke(*base, "--event-id", "00000000-0000-0000-0000-000000000000")
    assert code == 1 and "holds no entry" in err
