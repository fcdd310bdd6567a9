"""One SMTP connection for sheetplan's mail: lazy open, reconnect after a drop, a steady pace, and
errors sorted into worth retrying (4xx, dropped connections) and final (5xx)."""

from __future__ import annotations

import smtplib
import ssl
import time
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

    def send(self, message: EmailMessage, sender: str, recipient: str) -> None:
        """Raises Transient to retry, smtplib errors with a 5xx code for a permanent refusal."""
        if self.client is None:
            self.client = self._open()
        self._pace()
        try:
            self.client.send_message(message, from_addr=sender, to_addrs=[recipient])
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            if 400 <= code < 500:
                raise Transient(f"{code} {smtp_text(text)}") from None
            raise Permanent(f"{code} {smtp_text(text)}") from None
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code == 421:  # the server is closing this connection: open a new one to retry
                self.close()
            if 400 <= exc.smtp_code < 500:
                raise Transient(f"{exc.smtp_code} {smtp_text(exc.smtp_error)}") from None
            raise Permanent(f"{exc.smtp_code} {smtp_text(exc.smtp_error)}") from None
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self.client = None
            raise Transient(f"connection lost: {exc}") from None
