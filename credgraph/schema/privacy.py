"""Personal-data protection (SPEC §6, 个人信息脱敏与加密).

A natural person is keyed by `P` + truncated HMAC-SHA256 of the normalised ID number; the raw
number exists only AES-GCM-encrypted (`idEnc`) and as a masked display form (`idMasked`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import secrets
import unicodedata
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from credgraph.schema.identifiers import IdNumber, normalise
from credgraph.settings import MIN_SECRET_BYTES, Settings

PERSON_KEY_PREFIX = "P"
PERSON_KEY_HEX = 24


class Privacy:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"the personal-data secret must be at least {MIN_SECRET_BYTES} "
                             "bytes")
        self._secret = secret
        self._mac_key = _derive(secret, b"credgraph person key")
        self._aead = AESGCM(_derive(secret, b"credgraph id encryption"))

    def __reduce__(self) -> tuple[type[Privacy], tuple[bytes]]:
        # The loader's validation workers are separate processes: they get the secret, not
        # the cipher object (which cannot be pickled).
        return (Privacy, (self._secret,))

    def person_key(self, id_number: IdNumber) -> str:
        digest = hmac.new(self._mac_key, id_number.number.encode(), hashlib.sha256).hexdigest()
        return PERSON_KEY_PREFIX + digest[:PERSON_KEY_HEX].upper()

    def encrypt(self, id_number: IdNumber) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, id_number.number.encode(), b"id_number")
        return base64.urlsafe_b64encode(nonce + sealed).decode()

    def decrypt(self, token: str) -> str:
        raw = base64.urlsafe_b64decode(token.encode())
        return self._aead.decrypt(raw[:12], raw[12:], b"id_number").decode()


def _derive(secret: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)


def is_person_key(value: str) -> bool:
    text = value.strip()
    return (
        len(text) == len(PERSON_KEY_PREFIX) + PERSON_KEY_HEX
        and text.startswith(PERSON_KEY_PREFIX)
        and all(c in "0123456789ABCDEF" for c in text[1:])
    )


def mask_id_number(value: str | IdNumber) -> str:
    """371402********1234: region kept, birth date and sequence hidden (as many stars as a
    digit short or over, or a 15-digit number, needs)."""
    number = value.number if isinstance(value, IdNumber) else normalise(value)
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


def mask_number_notation(value: str) -> str:
    """3.71402*********E+17: an identifier a spreadsheet turned into a number keeps its region
    code (the first six digits) and hides the birth date and sequence it still shows."""
    text = normalise(value)
    mantissa, _, exponent = text.partition("E")
    kept = 7 if "." in mantissa[:7] else 6
    return mantissa[:kept] + "*" * len(mantissa[kept:]) + "E" + exponent


# An ID number as people write it in free text: half- or full-width digits, the check
# character x in either case, and up to three spaces (any Unicode space, zero-width ones and
# line breaks too), hyphens or dashes here and there between groups (371402 19900101 123X,
# 371402——19900101, a CRLF inside a cell). Not part of a longer digit run — but a check
# character X ends the number whatever follows it: 37140219900307003X13812345678 (an ID
# number and a phone typed together) is a person's number followed by a phone number.
_DIGIT = "[0-9\uff10-\uff19]"
_GAP_CHARS = ("\\s\u00ad\u200b-\u200d\u2060\ufeff\u2010-\u2015\u2212\u2e3a\u2e3b"
              "\ufe58\ufe63\uff0d-")
_GAP = f"[{_GAP_CHARS}]{{0,3}}"
_ID_SHAPE = re.compile(
    rf"(?<![0-9\uff10-\uff19])(?:{_DIGIT}{_GAP}){{17}}"
    rf"(?:[Xx\uff38\uff58]|{_DIGIT}(?![0-9\uff10-\uff19]))"
)
# The first-generation number (一代身份证) written in free text: fifteen digits, gaps as above.
_OLD_ID_SHAPE = re.compile(
    rf"(?<![0-9\uff10-\uff19])(?:{_DIGIT}{_GAP}){{14}}{_DIGIT}(?![0-9\uff10-\uff19Xx\uff38\uff58])"
)
# ID numbers pasted one after another with no separator (a list of parties in one cell):
# a run of 36, 54 … digits is several numbers when every 18 of them read as one.
_ID_RUN = re.compile(rf"(?<![0-9\uff10-\uff19])(?:{_DIGIT}{{18}}){{2,}}(?![0-9\uff10-\uff19])")
# A cheap necessary condition: 15 digits or gaps in a row after a digit (most text has none).
_DIGIT_RUN = re.compile(rf"{_DIGIT}[0-9\uff10-\uff19{_GAP_CHARS}]{{14}}")
# region code, then a plausible birth date (year, month, day)
_ID_STRUCTURE = re.compile(
    r"[1-9][0-9]{5}(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
)


# An ID number typed with a letter for a digit, in any group, its region code too (O or o for
# 0, I, l or L for 1), as a mistyped cell shows it in a reject — upper-cased there, so an l
# arrives as L. No USCC holds I or O (GB 32100 leaves out I, O, Z, S, V); one holding L and
# digits only is masked when they read as a region and a birth date, as an all-digit one is.
_CONFUSED = str.maketrans("OoIlL", "00111")
_LETTER_FOR_DIGIT = re.compile("[0-9][OoIlL]|[OoIlL][0-9]")
_TYPO_SHAPE = re.compile(
    r"(?<![0-9A-Za-z])[1-9IlL][0-9OoIlL]{16}[0-9OoIlLXx](?![0-9A-Za-z])")


def scrub(text: str) -> str:
    """Every ID number in free text replaced by its masked form (371402********123X).

    Anything with an ID number's structure counts — a region code, a plausible birth date —
    whether or not its check digit is right, or one of its digits was typed as a letter (O for
    0): a mistyped number is still personal data. Used on every free-text field on the way in
    and on every reason, error and log line on the way out.
    """
    if _LETTER_FOR_DIGIT.search(text):
        text = _TYPO_SHAPE.sub(_mask_typo, text)
    if not _DIGIT_RUN.search(text):
        return text
    text = _ID_RUN.sub(_mask_run, text)
    return _OLD_ID_SHAPE.sub(_mask_match, _ID_SHAPE.sub(_mask_match, text))


def _mask_run(match: re.Match[str]) -> str:
    run = normalise(match.group(0))
    numbers = [run[i:i + 18] for i in range(0, len(run), 18)]
    if all(_id_structure(number) for number in numbers):
        return "".join(mask_id_number(number) for number in numbers)
    return match.group(0)


def _mask_typo(match: re.Match[str]) -> str:
    number = match.group(0).translate(_CONFUSED).upper()
    return mask_id_number(number) if _id_structure(number) else match.group(0)


# The first-generation 15-digit number (一代身份证): region, a two-digit year, month, day.
_OLD_ID_STRUCTURE = re.compile(r"[1-9][0-9]{5}[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])")


def is_near_id_number(value: str) -> bool:
    """An identifier cell that is an ID number but for a digit too few or too many, or a
    first-generation 15-digit one: personal data all the same, masked wherever it is shown."""
    text = normalise(value)
    body = text[:-1] if text.endswith("X") else text
    return 15 <= len(text) <= 19 and body.isdigit() and _id_structure(text)


def _id_structure(number: str) -> bool:
    """Region and birth date where an ID number has them: a 15-digit (first-generation) number
    by its own layout, any other by the 18-digit one."""
    structure = _OLD_ID_STRUCTURE if len(number) == 15 else _ID_STRUCTURE
    return structure.match(number) is not None


def _mask_match(match: re.Match[str]) -> str:
    number = "".join(c for c in normalise(match.group(0)) if c in "0123456789X")
    return mask_id_number(number) if _id_structure(number) else match.group(0)


def _glyphs(name: str) -> list[str]:
    """The characters a reader sees in a name, spaces left out: a combining mark, a variation
    selector or a joiner stays with the character before it (Zoe + U+0308 is Z, o, ë), an
    astral character is one (Python counts code points, never UTF-16 halves)."""
    glyphs: list[str] = []
    for char in unicodedata.normalize("NFC", name):
        if glyphs and _joins(char, glyphs[-1]):
            glyphs[-1] += char
        elif not char.isspace() and unicodedata.category(char) != "Cf":
            glyphs.append(char)
    return glyphs


def _joins(char: str, before: str) -> bool:
    return (unicodedata.category(char) in ("Mn", "Mc", "Me") or char == "\u200d"
            or before.endswith("\u200d") or "\ufe00" <= char <= "\ufe0f"
            or "\U000e0100" <= char <= "\U000e01ef")


def mask_name(name: str) -> str:
    """张*明, 张*, 欧**月: first and last character kept for names of three or more; a name of
    one character is all mask (it would be the whole name). Characters as a reader sees them
    (`_glyphs`): spaces are not counted — 李　娜 is the two-character 李* and does not show its
    given name —, and a combining mark is masked or kept with its letter, never left alone."""
    text = _glyphs(name)
    if len(text) <= 1:
        return "*" * len(text)
    if len(text) == 2:
        return text[0] + "*"
    return text[0] + "*" * (len(text) - 2) + text[-1]


def mask_contact(value: str) -> str:
    """138****5678, 德州市****号: a natural person's phone or address with its first three and
    last two characters kept — enough for a steward to recognise a placeholder, not to call or
    visit anyone."""
    text = _glyphs(value)
    if len(text) <= 5:
        return "*" * len(text)
    return "".join(text[:3]) + "*" * min(len(text) - 5, 8) + "".join(text[-2:])


def load_secret(settings: Settings) -> bytes:
    """The configured secret, else one generated once into the state folder (owner-only)."""
    if settings.secret:
        return settings.secret.encode()
    path: Path = settings.home.resolve() / "secret"
    if path.exists():
        return path.read_text(encoding="utf-8").strip().encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    # said, not silent: a command run from another folder (CREDGRAPH_HOME is relative) makes a
    # new secret there, and every person it meets gets another key than the stored one
    logging.getLogger("credgraph.privacy").warning(
        "no CREDGRAPH_SECRET and no %s: generated it; persons' keys depend on it — keep it, "
        "and run every command with this CREDGRAPH_HOME", path)
    return value.encode()
