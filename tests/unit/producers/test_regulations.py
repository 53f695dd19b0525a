"""The regulations API's request checks and its key (no services)."""

from __future__ import annotations

import orjson
import pytest
from pydantic import SecretStr

from abm.core.privacy import Identity
from abm_cli.settings import Settings
from producers.regulations import MAX_SUBJECTS, Invalid, authorized, parse


def body(**fields: object) -> bytes:
    doc: dict[str, object] = {
        "regulationType": "Suppress_Only",
        "subjectType": "EMAIL",
        "subjectIds": ["a@b.io"],
    }
    doc.update(fields)
    return orjson.dumps({k: v for k, v in doc.items() if v is not None})


def test_a_regulation_names_its_kind_and_normalized_subjects() -> None:
    regulation = parse(body(subjectIds=[" A@B.io ", "c@d.io"]))
    assert regulation.kind == "Suppress_Only"
    assert regulation.subjects == [Identity("email", "a@b.io"), Identity("email", "c@d.io")]
    ids = parse(body(subjectType="ANONYMOUS_ID", subjectIds=["anon-1"]))
    assert ids.subjects == [Identity("anonymous_id", "anon-1")]


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"{", "the body is not JSON"),
        (b"[]", "not a JSON object"),
        (body(regulationType="Delete_Everything"), "regulationType: one of"),
        (body(subjectType=None), "subjectType: one of EMAIL, USER_ID, ANONYMOUS_ID"),
        (body(subjectIds=[]), f"subjectIds: a list of 1 to {MAX_SUBJECTS} ids"),
        (body(subjectIds=["x"] * (MAX_SUBJECTS + 1)), "subjectIds: a list of 1 to"),
        (body(subjectIds=[42]), "subjectIds[0]: a string is required"),
        (body(subjectIds=["a@b.io", "no-at-sign"]), "subjectIds[1]: the e-mail 'no-at-sign'"),
        (body(subjectType="USER_ID", subjectIds=[""]), "subjectIds[0]: the user id is empty"),
    ],
)
def test_a_bad_request_is_refused_naming_the_field(raw: bytes, why: str) -> None:
    with pytest.raises(Invalid, match=why.replace("[", r"\[").replace("]", r"\]")):
        parse(raw)


def test_the_admin_key_is_its_own_and_the_api_is_off_without_it() -> None:
    assert authorized(Settings(), "Bearer anything") is None
    settings = Settings(privacy_admin_key=SecretStr("admin-k3y"))
    assert authorized(settings, "Bearer admin-k3y") is True
    assert authorized(settings, "Bearer abm-dev-write-key") is False
    assert authorized(settings, None) is False
