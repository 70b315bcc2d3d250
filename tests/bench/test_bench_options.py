"""The bench's consumer-policy options (no broker needed)."""

from __future__ import annotations

import pytest

from bench.cli import OFF, parse_args


def test_checkpoint_every_gives_one_ingest_row_per_policy() -> None:
    opts = parse_args(["--checkpoint-every", "default,1", "--checkpoint-seconds", "3600"])
    assert opts.checkpoint_every == (None, 1)
    assert opts.checkpoint_seconds == 3600.0
    assert parse_args([]).checkpoint_every == (None,)
    assert parse_args(["--checkpoint-every", "default,off"]).checkpoint_every == (None, OFF)


@pytest.mark.parametrize("value", ["0", "x", ","])
def test_a_checkpoint_every_the_consumer_would_refuse_is_refused(value: str) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--checkpoint-every", value])
