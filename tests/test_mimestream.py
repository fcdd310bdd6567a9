"""The streaming MIME reader decodes every attachment to the same bytes as the email package does."""

from __future__ import annotations

import email
import hashlib
import io
import os
from email import policy
from email.message import EmailMessage

import pytest

from sheetplan.mail.mimestream import scan


def _workbookish(headers) -> bool:
    return (headers.get_filename() or "").endswith(".xlsx")


def _reference(raw: bytes) -> list[bytes]:
    message = email.message_from_bytes(raw, policy=policy.default)
    return [part.get_payload(decode=True) for part in message.walk()
            if not part.is_multipart() and (part.get_filename() or "").endswith(".xlsx")]


def _messages() -> dict[str, bytes]:
    blob = os.urandom(300_000) + b"\r\n--not-a-boundary\r\n" + os.urandom(1000)
    out = {}
    plain = EmailMessage()
    plain["From"], plain["Subject"] = "a@example.com", "one"
    plain.set_content("hello")
    plain.add_attachment(blob, maintype="application", subtype="octet-stream", filename="a.xlsx")
    plain.add_attachment(b"second", maintype="application", subtype="octet-stream", filename="b.xlsx")
    out["lf"] = plain.as_bytes()
    out["crlf"] = plain.as_bytes(policy=policy.SMTP)
    qp = EmailMessage()
    qp["From"] = "a@example.com"
    qp.set_content("body")
    qp.add_attachment("tab\tand = sign\n" * 500, subtype="plain", filename="q.xlsx", cte="quoted-printable")
    out["quoted-printable"] = qp.as_bytes()
    seven = EmailMessage()
    seven["From"] = "a@example.com"
    seven.set_content("body")
    seven.add_attachment("line one\nline two\n", subtype="plain", filename="s.xlsx", cte="7bit")
    out["7bit"] = seven.as_bytes()
    alternative = EmailMessage()
    alternative["From"] = "a@example.com"
    alternative.set_content("text")
    alternative.add_alternative("<p>html</p>", subtype="html")
    alternative.add_attachment(blob[:5000], maintype="application", subtype="octet-stream", filename="n.xlsx")
    forward = EmailMessage()
    forward["From"] = "boss@example.com"
    forward.set_content("fyi")
    forward.add_attachment(alternative)  # message/rfc822 holding a multipart/mixed with an alternative inside
    out["nested"] = forward.as_bytes()
    out["unterminated"] = plain.as_bytes().rsplit(b"--", 2)[0]  # cut before the closing boundary
    return out


@pytest.mark.parametrize("name", list(_messages()))
def test_same_bytes_as_the_email_package(name, tmp_path):
    raw = _messages()[name]
    scanned = scan(io.BytesIO(raw), _workbookish, tmp_path, limit=10_000_000)
    ours = [p.saved.read_bytes() for p in scanned.parts if p.saved is not None]
    assert ours == _reference(raw)
    assert scanned.sha256 == hashlib.sha256(raw).hexdigest() and scanned.size == len(raw)
    scanned.discard()
    assert list(tmp_path.iterdir()) == []


def test_a_part_over_the_limit_is_marked_and_nothing_of_it_is_kept(tmp_path):
    raw = _messages()["lf"]
    scanned = scan(io.BytesIO(raw), _workbookish, tmp_path, limit=100_000)
    big, small = [p for p in scanned.parts if _workbookish(p.headers)]
    assert (big.too_large, big.saved) == (True, None)
    assert small.saved.read_bytes() == b"second"
    scanned.discard()
    assert list(tmp_path.iterdir()) == []
