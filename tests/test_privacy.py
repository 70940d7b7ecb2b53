from __future__ import annotations

import stat

import pytest

from credgraph.schema.identifiers import parse_id_number
from credgraph.schema.privacy import (
    Privacy,
    is_person_key,
    load_secret,
    mask_id_number,
    mask_name,
)
from credgraph.settings import Settings
from tests.ids import make_id


def test_person_key_is_stable_opaque_and_secret_dependent(privacy: Privacy) -> None:
    number = parse_id_number(make_id())
    key = privacy.person_key(number)
    assert key == privacy.person_key(parse_id_number(make_id().lower()))
    assert is_person_key(key) and len(key) == 25 and key.startswith("P")
    assert number.number not in key
    assert Privacy(b"another-secret-0123456789").person_key(number) != key


def test_encryption_round_trip(privacy: Privacy) -> None:
    number = parse_id_number("11010519491231002X")
    token = privacy.encrypt(number)
    assert "11010519491231002X" not in token
    assert token != privacy.encrypt(number)  # fresh nonce each time
    assert privacy.decrypt(token) == "11010519491231002X"
    with pytest.raises(Exception):  # noqa: B017 - any AEAD failure
        Privacy(b"another-secret-0123456789").decrypt(token)


def test_masks() -> None:
    assert mask_id_number("371402198001011234") == "371402********1234"
    assert mask_name("张三明") == "张*明"
    assert mask_name("张三") == "张*"
    assert mask_name("欧阳明月") == "欧**月"
    assert (mask_name("明"), mask_name(" 明 "), mask_name("")) == ("*", "*", "")


def test_masked_names_hide_the_name_as_a_reader_sees_it() -> None:
    # a space inside a name (李　娜, as a source typed it) is no character: the two-character
    # name is 李*, not 李*娜, which showed the whole name
    assert mask_name("李\u3000娜") == "李*"
    assert mask_name("\u3000赵 敏\u3000") == "赵*"
    assert mask_name("赵\u200b敏") == "赵*"
    # a combining mark stays with its letter, never left alone on a mask
    assert mask_name("Zoe\u0308") == "Z*\u00eb"
    assert mask_name("Jose\u0301") == "J**\u00e9"
    # astral characters are whole characters (no half surrogate pair)
    assert mask_name("\U0002003e小明") == "\U0002003e*明"
    assert mask_name("王\U0002a6a5") == "王*"
    assert mask_name("买买提·艾力") == "买****力"
    assert mask_name("John Smith") == "J*******h"


def test_secret_generated_once_owner_only(tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(home=tmp_path / "state", secret=None)
    first = load_secret(settings)
    # said when made: a command run from another folder made one there without a word
    assert "generated it; persons' keys depend on it" in caplog.text
    caplog.clear()
    assert load_secret(settings) == first
    assert caplog.text == ""
    mode = stat.S_IMODE((tmp_path / "state" / "secret").stat().st_mode)
    assert mode == 0o600
    assert load_secret(Settings(home=tmp_path / "state", secret="configured-secret-123")) == (
        b"configured-secret-123")
