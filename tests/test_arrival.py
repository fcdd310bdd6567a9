"""Arrival times a sender cannot set: which clock decides, and which claims are shown but never trusted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest

from sheetplan.mail.collect import collect
from sheetplan.returns.arrival import FIRST_SEEN, MAILBOX, Arrival, arrival_order, claim_doubt
from sheetplan.workspace.config import ConfigError, parse_config
from sheetplan.workspace.folder import STARTER_CONFIG

NOW = "2027-03-10T12:00:00+00:00"


@pytest.mark.parametrize(("claimed", "generated", "doubt"), [
    ("2027-03-10T11:00:00+00:00", "2027-03-01T08:00:00+00:00", ""),
    ("2027-03-10T12:04:59+00:00", "", ""),  # within the five minutes two clocks may differ
    ("2027-03-10T12:05:01+00:00", "", "future"),
    ("2100-01-01T00:00:00+00:00", "2027-03-01T08:00:00+00:00", "future"),
    ("2027-02-28T23:59:59+00:00", "2027-03-01T08:00:00+00:00", "before-template"),
    ("", "2027-03-01T08:00:00+00:00", ""),
])
def test_claims_that_cannot_be_true(claimed, generated, doubt):
    assert claim_doubt(claimed, generated, NOW) == doubt


def test_files_seen_together_are_ordered_by_a_possible_claim_and_a_future_claim_counts_as_earliest():
    """Three copies first seen in one run at NOW: b claims 10:00, c 11:00, a claims 2100. Recorded in the
    order a, b, c, so c (the latest possible claim) is recorded last and stands; a's 2100 never wins."""
    seen = {Path("a"): Arrival(NOW, FIRST_SEEN, "2100-01-01T00:00:00+00:00"),
            Path("b"): Arrival(NOW, FIRST_SEEN, "2027-03-10T10:00:00+00:00"),
            Path("c"): Arrival(NOW, FIRST_SEEN, "2027-03-10T11:00:00+00:00"),
            Path("d"): Arrival("2027-03-09T09:00:00+00:00", MAILBOX, "2100-01-01T00:00:00+00:00")}
    assert arrival_order(list(seen), seen, NOW) == [Path("d"), Path("a"), Path("b"), Path("c")]


def _message(received: str | None) -> bytes:
    msg = EmailMessage()
    if received is not None:
        msg["Received"] = received
    msg["From"] = "x@example.com"
    msg["Subject"] = "hello"
    msg["Date"] = "Fri, 01 Jan 2100 00:00:00 +0000"
    msg["Message-ID"] = f"<{abs(hash(received))}@example.com>"
    msg.set_content("no workbook")
    return msg.as_bytes()


@pytest.mark.parametrize(("header", "via"), [
    (f"from a by returns.example; {format_datetime(datetime.now(UTC) - timedelta(hours=2))}", MAILBOX),
    (f"from a by returns.example; {format_datetime(datetime.now(UTC) + timedelta(days=2))}", FIRST_SEEN),
    ("from a by returns.example; not a date", FIRST_SEEN),
    ("from a by returns.example", FIRST_SEEN),
    (None, FIRST_SEEN),
])
def test_the_collecting_servers_received_header_is_trusted_only_when_it_can_be_true(make_workspace, tmp_path,
                                                                                     header, via):
    ws = make_workspace("arrival-header", approvals=False)
    eml = tmp_path / "m.eml"
    eml.write_bytes(_message(header))
    collect(ws, [eml], ingest=False)
    with ws.store() as store:
        received_at, received_via, claimed = store.db.execute(
            "SELECT received_at, received_via, message_date FROM collected").fetchone()
    assert received_via == via and claimed.startswith("2100-01-01")
    assert received_at < (datetime.now(UTC) + timedelta(minutes=1)).isoformat()


@pytest.mark.parametrize("value", ["owner", "owner-and-managers", "anyone"])
def test_collect_senders_setting(value):
    text = STARTER_CONFIG.format(year=2027, lang="en").replace('senders = "owner-and-managers"',
                                                               f'senders = "{value}"')
    assert parse_config(text).collect.senders == value


def test_an_unknown_senders_policy_is_refused_with_its_key():
    text = STARTER_CONFIG.format(year=2027, lang="en").replace('senders = "owner-and-managers"',
                                                               'senders = "everyone"')
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert any("collect.senders" in str(p) for p in caught.value.problems)
