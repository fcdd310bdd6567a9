"""One SMTP connection for sheetplan's mail: lazy open, reconnect after a drop, a steady pace, and
errors sorted into worth retrying (4xx, dropped connections) and final (5xx)."""

from __future__ import annotations

import re
import smtplib
import ssl
import time
from collections.abc import Callable
from email.message import EmailMessage

from sheetplan.errors import EnvironmentProblem


def smtp_text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class Transient(Exception):
    """A failure worth retrying: a 4xx reply, a dropped or refused connection."""

    def __init__(self, message: str, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable  # no connection could be opened at all


class Permanent(Exception):
    """The server refused this message for good (5xx): report it and go on with the next one."""


TIMEOUT = "timeout"  # InDoubt reasons, kept in the store (mail_sent.doubt)
DROPPED = "dropped"


class InDoubt(Exception):
    """The whole message reached the server but its final reply did not come back: it may have been
    accepted, so sending it again could deliver it twice."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason  # TIMEOUT or DROPPED


class SmtpConnection:
    """One SMTP connection, opened lazily and reopened after a drop, with a pace of rate_per_minute."""

    def __init__(self, settings, password: str | None, timeout: float) -> None:
        self.settings = settings
        self.password = password
        self.timeout = timeout
        self.client: smtplib.SMTP | None = None
        self.last_send = 0.0

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        context = ssl.create_default_context()
        try:
            if s.security == "tls":
                client = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=self.timeout, context=context)
            else:
                client = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=self.timeout)
                if s.security == "starttls":
                    client.starttls(context=context)
            if s.smtp_user:
                client.login(s.smtp_user, self.password or "")
        except smtplib.SMTPNotSupportedError as exc:
            raise EnvironmentProblem(f"the SMTP server {s.smtp_host}:{s.smtp_port} does not support "
                                     f"{'STARTTLS' if s.security == 'starttls' else 'login'}: {exc}; "
                                     "check mail.security") from None
        except smtplib.SMTPAuthenticationError as exc:
            if 400 <= exc.smtp_code < 500:
                raise Transient(f"login: {exc.smtp_code} {smtp_text(exc.smtp_error)}") from None
            raise EnvironmentProblem(f"the SMTP server refused the login of {s.smtp_user!r}: {exc.smtp_code} "
                                     f"{smtp_text(exc.smtp_error)}; check mail.smtp_user and "
                                     f"${s.password_env}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise Transient(f"cannot connect to {s.smtp_host}:{s.smtp_port}: {exc}", unreachable=True) from None
        return client

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.quit()
            except (smtplib.SMTPException, OSError):
                self.client.close()
            self.client = None

    def _pace(self) -> None:
        gap = 60.0 / self.settings.rate_per_minute
        wait = self.last_send + gap - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self.last_send = time.monotonic()

    def send(self, message: EmailMessage, sender: str, recipient: str,
             before_end: Callable[[], None] | None = None) -> None:
        """One SMTP transaction, step by step, so that the one moment that matters is known: after the data's
        final dot the server may hold the message, whether or not its reply arrives.

        `before_end` runs once the server is ready for the data (354), before the content goes out: the caller
        records the message there. Raises Transient to retry, Permanent for a refusal, InDoubt when the whole
        message went out but no final reply came (a timeout or a dropped connection): never retry that.
        """
        if self.client is None:
            self.client = self._open()
        self._pace()
        client = self.client
        payload = _data_payload(message)
        try:
            client.ehlo_or_helo_if_needed()
            options = []
            if not (sender + recipient).isascii():
                if not client.has_extn("smtputf8"):
                    raise Permanent(f"the server does not take non-ASCII addresses (SMTPUTF8): {recipient}")
                options.append("SMTPUTF8")
            if client.has_extn("size"):
                options.append(f"SIZE={len(payload)}")  # a server that finds it too big says so before the data
            self._expect(client.mail(sender, options), (250,))
            self._expect(client.rcpt(recipient), (250, 251))
            self._expect(client.docmd("DATA"), (354,))
            if before_end is not None:
                before_end()
            client.send(payload)  # all of it or an error: without the final dot the server keeps nothing
        except smtplib.SMTPResponseException as exc:  # a failed HELO or a garbled reply, before any data
            self._drop()
            kind = Transient if 400 <= exc.smtp_code < 500 else Permanent
            raise kind(f"{exc.smtp_code} {smtp_text(exc.smtp_error)}") from None
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            raise Transient(f"connection lost: {exc}") from None
        try:
            reply = client.getreply()
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPResponseException) as exc:
            self._drop()
            late = isinstance(exc.__context__, TimeoutError)
            raise InDoubt(TIMEOUT if late else DROPPED, str(exc)) from None
        self._expect(reply, (250,))

    def _expect(self, reply: tuple[int, bytes], good: tuple[int, ...]) -> None:
        """A reply outside `good` ends this transaction: 4xx is worth retrying, 5xx is final."""
        code, text = reply
        if code in good:
            return
        if code == 421:  # the server is closing this connection: open a new one to retry
            self._drop()
        else:
            try:
                self.client.rset()  # ready for the next message on this connection
            except (smtplib.SMTPException, OSError):
                self._drop()
        if 400 <= code < 500 or code == -1:
            raise Transient(f"{code} {smtp_text(text)}")
        raise Permanent(f"{code} {smtp_text(text)}")

    def _drop(self) -> None:
        if self.client is not None:
            self.client.close()
        self.client = None


def _data_payload(message: EmailMessage) -> bytes:
    """The message as DATA carries it: CRLF line ends, lines starting with a dot doubled, the final dot."""
    data = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
    data = re.sub(rb"(?:\r\n|\r|\n)", b"\r\n", data)
    data = re.sub(rb"(?m)^\.", b"..", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"
