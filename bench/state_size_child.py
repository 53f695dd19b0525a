"""One side of the `state-size` figure: the stored account states a core makes of the benchmark
data. Run as a script with the core to measure first on PYTHONPATH (see `bench/core_loop_child`).

    PYTHONPATH=CORE_ROOT python bench/state_size_child.py SAMPLE_DIR

SAMPLE_DIR holds `accounts.csv`, `contacts.csv` and `messages.jsonl` (raw Segment messages): the
core resolves them itself (`run_offline`), so each side stores what its own resolution gives
(persons in the clear before pseudonyms, pseudonyms since). Prints one JSON line: the core's
path, the stored size of every account's final state (bytes), and the MQA ids.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import abm
from abm.core.directory_csv import parse_accounts, parse_contacts
from abm.core.model import load_model
from abm.core.offline import InMemoryDirectory, run_offline


def main(argv: list[str]) -> None:
    sample = Path(argv[0])
    accounts = parse_accounts(sample / "accounts.csv")
    contacts = parse_contacts(
        sample / "contacts.csv", known_account_ids={a.account_id for a in accounts}
    )
    lines = (sample / "messages.jsonl").read_bytes().splitlines()
    result = run_offline(lines, InMemoryDirectory.of(accounts, contacts), load_model())
    sizes = sorted(len(state.to_bytes()) for state in result.states.values())
    core = str(Path(abm.__file__).resolve().parent)
    mqas = [m["mqa_id"] for m in result.mqas]
    print(
        json.dumps({"core": core, "sizes": sizes, "mqas": mqas, "touchpoints": result.touchpoints})
    )


if __name__ == "__main__":
    main(sys.argv[1:])
