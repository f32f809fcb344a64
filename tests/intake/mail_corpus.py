"""A corpus of test e-mail built with the standard library's `email` package.

Every charset, transfer encoding, MIME structure and not-a-request kind that the mail reader handles, plus Slovak
and Czech forwarded chains. Each `Case` says what the reader must make of the message, so the tests compare the
reader's result with what the message was built to contain, not with a stored copy of the reader's output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

CET = timezone(timedelta(hours=1))
BASE = datetime(2026, 11, 26, 9, 0, tzinfo=CET)
SUPPORT = "support@managra.example"


@dataclass(frozen=True)
class Case:
    """One message and what reading it must give."""

    name: str
    raw: bytes
    outcome: str = "mail"  # mail | auto_reply | bounce | bulk | reject
    contains: tuple[str, ...] = ()  # the request text must contain these
    excludes: tuple[str, ...] = ()  # and must not contain these
    attachments: tuple[tuple[str | None, str, int], ...] = ()
    forwarded: bool = False
    subject: str | None = None
    sender_name: str | None = None
    reason: str | None = None  # a part of the skip / reject reason
    extra: dict[str, str] = field(default_factory=dict)


def message(
    subject: str,
    body: str | None = None,
    *,
    sender: str = '"Ján Novák" <jan.novak@acme.example>',
    to: str = SUPPORT,
    minutes: int = 0,
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: str | None = None,
    charset: str = "utf-8",
    cte: str | None = None,
) -> EmailMessage:
    """A plain text message with the usual headers."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(BASE + timedelta(minutes=minutes))
    msg["Message-ID"] = message_id or make_msgid(domain="acme.example")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    if body is not None:
        if cte is None:
            msg.set_content(body, charset=charset)
        else:
            msg.set_content(body, charset=charset, cte=cte)
    return msg


def _raw(msg: EmailMessage) -> bytes:
    return msg.as_bytes()


SK_TEXT = "Od rána sa nikto z firmy nemôže prihlásiť do dochádzky, výroba stojí. Ďakujeme za rýchlu pomoc."
CS_TEXT = "Od rána se nikdo z firmy nemůže přihlásit do docházky, výroba stojí. Žluťoučký kůň úpěl ďábelské ódy."


def _windows1250_qp() -> bytes:
    return _raw(message("Prihlásenie nefunguje", SK_TEXT, charset="windows-1250", cte="quoted-printable"))


def _iso88592_base64() -> bytes:
    msg = message("placeholder", CS_TEXT, charset="iso-8859-2", cte="base64")
    del msg["Subject"]
    # An RFC 2047 subject in iso-8859-2, B-encoded, as older Czech clients write it.
    msg["Subject"] = Header("Přihlášení nefunguje", "iso-8859-2").encode()
    return _raw(msg)


def _ascii_with_8bit() -> bytes:
    # Labelled us-ascii, but the body is UTF-8 bytes sent as 8bit: a mislabel that real mail has.
    head = (
        "From: Peter Kováč <peter@acme.example>\r\nTo: support@managra.example\r\nSubject: Export hangs\r\n"
        f"Date: {format_datetime(BASE)}\r\nMessage-ID: <ascii8bit@acme.example>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    )
    return head.encode("utf-8") + "Export do Excelu visí, mzdová uzávierka čaká.\r\n".encode()


def _ascii_with_cp1250_8bit() -> bytes:
    # No charset at all and windows-1250 bytes (an old Outlook on a Slovak Windows).
    head = (
        "From: eva@acme.example\r\nTo: support@managra.example\r\nSubject: Tlac nefunguje\r\n"
        f"Date: {format_datetime(BASE)}\r\nMessage-ID: <cp1250raw@acme.example>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    )
    return head.encode("ascii") + "Tlač výplatných pások zlyháva, účtovníčka čaká.\r\n".encode("cp1250")


def _alternative() -> bytes:
    msg = message("App down", "Plain: the whole app returns HTTP 503 for everyone.")
    msg.add_alternative("<html><body><p>HTML: the whole app returns <b>HTTP 503</b></p></body></html>", subtype="html")
    return _raw(msg)


def _html_only() -> bytes:
    msg = message("Reports broken")
    msg.set_content(
        "<html><body><p>Since the update:</p><ul><li>monthly report is empty</li><li>export fails</li></ul>"
        "<p>First line<br>second line</p><p>See <a href='https://acme.example/shot.png'>the screenshot</a>.</p>"
        "</body></html>",
        subtype="html",
    )
    return _raw(msg)


def _attachments() -> bytes:
    msg = message("Import fails", "The attached CSV import fails with error E42.")
    msg.add_attachment(b"id;name\n1;Jan\n", maintype="text", subtype="csv", filename="zamestnanci.csv")
    msg.add_attachment(b"\x89PNG\r\n\x1a\n" + b"\0" * 100, maintype="image", subtype="png", filename="chyba.png")
    msg.add_attachment(b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="Výpis č. 3.pdf")
    return _raw(msg)


def _rfc2047_name() -> bytes:
    msg = message("Zmena hesla", "Ako si zmením heslo?", sender='"Žofia Ďuricová" <zofia@acme.example>')
    return _raw(msg)


def _quoted_reply_en() -> bytes:
    body = (
        "It still fails, now nobody can log in at all.\n\n"
        "On Thu, 26 Nov 2026 at 09:00, Support <support@managra.example> wrote:\n"
        "> Please clear the cache and try again.\n> Old quoted text\n"
    )
    return _raw(message("Re: Login problem", body))


def _quoted_reply_sk() -> bytes:
    body = (
        "Stále to nejde, teraz sa nevie prihlásiť nikto.\n\n"
        "Dňa št 26. 11. 2026 o 9:00 Podpora <support@managra.example> napísal(a):\n"
        "> Skúste prosím vymazať cache.\n"
    )
    return _raw(message("Re: Prihlásenie", body))


def _quoted_reply_cs() -> bytes:
    body = (
        "Pořád to nejde, teď se nepřihlásí nikdo.\n\n"
        "Dne 26. 11. 2026 v 9:00 Podpora <support@managra.example> napsal(a):\n"
        "> Zkuste prosím vymazat cache.\n"
    )
    return _raw(message("Re: Přihlášení", body))


def _signature_and_footer() -> bytes:
    body = (
        "The payroll export crashes every time we run it for November.\n"
        "We need it today for the bank.\n\n"
        "Best regards,\nJán Novák\nHR manager, ACME s.r.o.\n+421 900 000 000\n\n"
        "CONFIDENTIALITY NOTICE: This e-mail and any attachments are confidential and intended solely for the\n"
        "addressee. If you received it in error, please delete it.\n"
    )
    return _raw(message("Payroll export crashes", body))


def _footer_sk() -> bytes:
    body = (
        "Nefunguje export miezd do banky.\n\n"
        "Tento e-mail a jeho prílohy sú dôverné a určené len adresátovi. Ak ste ho dostali omylom, zmažte ho.\n"
    )
    return _raw(message("Export miezd", body))


def _forward_en() -> bytes:
    body = (
        "FYI, see below from our branch.\n\n"
        "---------- Forwarded message ---------\n"
        "From: Branch Office <branch@acme.example>\n"
        "Date: Thu, 26 Nov 2026 at 08:40\n"
        "Subject: Terminals offline\n"
        "To: Jan Novak <jan.novak@acme.example>\n\n"
        "All attendance terminals in Košice are offline since 8:00, nobody can clock in.\n"
    )
    return _raw(message("Fwd: Terminals offline", body))


def _forward_sk_chain() -> bytes:
    body = (
        "Posielam ďalej, prosím o riešenie.\n\n"
        "-------- Preposlaná správa --------\n"
        "Predmet: TR: Dochádzka\n"
        "Dátum: Thu, 26 Nov 2026 08:30:00 +0100\n"
        "Od: Mária Kováčová <maria@acme.example>\n"
        "Komu: jan.novak@acme.example\n\n"
        "Pozri nižšie.\n\n"
        "-------- Preposlaná správa --------\n"
        "Predmet: Dochádzka\n"
        "Od: Prevádzka <prevadzka@acme.example>\n\n"
        "Dochádzkový systém nezapisuje príchody od rána, mzdy sa nedajú uzavrieť.\n"
    )
    return _raw(message("TR: TR: Dochádzka", body))


def _forward_cs_chain() -> bytes:
    body = (
        "Přeposílám, je to urgentní.\n\n"
        "-------- Přeposlaná zpráva --------\n"
        "Předmět: Fwd: Docházka\n"
        "Datum: Thu, 26 Nov 2026 08:30:00 +0100\n"
        "Od: Marie Kovářová <marie@acme.example>\n\n"
        "-------- Přeposlaná správa --------\n"
        "Od: Provoz <provoz@acme.example>\n"
        "Předmět: Docházka\n\n"
        "Docházkový systém nezapisuje příchody od rána, mzdy nejdou uzavřít.\n\n"
        "Dne 25. 11. 2026 v 17:00 Podpora <support@managra.example> napsal(a):\n"
        "> Staré vlákno, nepatří k požadavku.\n"
    )
    return _raw(message("Fwd: Docházka", body))


def _forward_attached() -> bytes:
    inner = message(
        "Nobody can log in",
        "Since 7:00 nobody at our plant can log in, we get error 500.",
        sender="plant@acme.example",
    )
    outer = message("Fw: Nobody can log in", "See the attached message from the plant.")
    outer.add_attachment(inner)
    return _raw(outer)


def _outlook_tr() -> bytes:
    body = (
        "Pour info.\n\n"
        "From: Peter Kováč <peter@acme.example>\n"
        "Sent: Thursday, November 26, 2026 8:45 AM\n"
        "To: Jan Novak <jan.novak@acme.example>\n"
        "Subject: Schvalovanie dovoleniek\n\n"
        "Schvaľovanie dovoleniek padá s chybou 500 pre všetkých manažérov.\n"
    )
    return _raw(message("TR: Schvalovanie dovoleniek", body))


def _auto_submitted() -> bytes:
    msg = message("Re: Your request", "I am away until Monday.")
    msg["Auto-Submitted"] = "auto-replied"
    return _raw(msg)


def _x_autoreply() -> bytes:
    msg = message("Re: Your request", "Away.")
    msg["X-Autoreply"] = "yes"
    return _raw(msg)


def _out_of_office() -> bytes:
    return _raw(message("Out of Office: Login problem", "I am out of the office until 30 November."))


def _automaticka_sk() -> bytes:
    return _raw(message("Automatická odpoveď: Prihlásenie", "Som na dovolenke do pondelka."))


def _automaticka_cs() -> bytes:
    return _raw(message("Automatická odpověď: Přihlášení", "Jsem na dovolené do pondělí."))


def _bounce() -> bytes:
    msg = EmailMessage()
    msg["From"] = "MAILER-DAEMON@mail.acme.example"
    msg["To"] = SUPPORT
    msg["Subject"] = "Undelivered Mail Returned to Sender"
    msg["Date"] = format_datetime(BASE)
    msg["Message-ID"] = make_msgid(domain="mail.acme.example")
    msg.set_content("This is the mail system. Your message could not be delivered.")
    msg.make_mixed()
    msg.set_type("multipart/report")
    msg.set_param("report-type", "delivery-status")
    return _raw(msg)


def _list_unsubscribe() -> bytes:
    msg = message("Our November newsletter", "News and offers.", sender="news@vendor.example")
    msg["List-Unsubscribe"] = "<mailto:unsubscribe@vendor.example>"
    return _raw(msg)


def _precedence_bulk() -> bytes:
    msg = message("Maintenance window", "Planned maintenance on Sunday.", sender="noc@host.example")
    msg["Precedence"] = "bulk"
    return _raw(msg)


def _no_date() -> bytes:
    msg = message("No date", "Something broke.")
    del msg["Date"]
    return _raw(msg)


def _bad_date() -> bytes:
    msg = message("Bad date", "Something broke.")
    del msg["Date"]
    # The email package will not write an invalid Date, so it goes in as bytes.
    return b"Date: sometime last week\n" + _raw(msg)


def _no_sender() -> bytes:
    msg = message("No sender", "Something broke.")
    del msg["From"]
    return _raw(msg)


def _empty() -> bytes:
    msg = message("", "")
    return _raw(msg)


def cases() -> list[Case]:
    """Every case of the corpus."""
    return [
        Case("utf8-plain", _raw(message("Prihlásenie", SK_TEXT)), contains=("nikto z firmy nemôže",)),
        Case("windows-1250-qp", _windows1250_qp(), contains=("nikto z firmy nemôže prihlásiť", "Ďakujeme")),
        Case(
            "iso-8859-2-base64-rfc2047",
            _iso88592_base64(),
            contains=("nikdo z firmy nemůže přihlásit", "Žluťoučký kůň úpěl ďábelské ódy"),
            subject="Přihlášení nefunguje",
        ),
        Case("us-ascii-8bit-utf8", _ascii_with_8bit(), contains=("mzdová uzávierka čaká",), sender_name="Peter Kováč"),
        Case("no-charset-8bit-cp1250", _ascii_with_cp1250_8bit(), contains=("Tlač výplatných pások zlyháva",)),
        Case("alternative-prefers-plain", _alternative(), contains=("Plain: the whole app",), excludes=("HTML:",)),
        Case(
            "html-only",
            _html_only(),
            contains=(
                "monthly report is empty",
                "export fails",
                "First line\nsecond line",
                "https://acme.example/shot.png",
            ),
        ),
        Case(
            "attachments",
            _attachments(),
            contains=("CSV import fails",),
            excludes=("id;name",),
            attachments=(
                ("zamestnanci.csv", "text/csv", 14),
                ("chyba.png", "image/png", 108),
                ("Výpis č. 3.pdf", "application/pdf", 13),
            ),
        ),
        Case("rfc2047-name", _rfc2047_name(), sender_name="Žofia Ďuricová", contains=("Ako si zmením heslo",)),
        Case(
            "quoted-reply-en",
            _quoted_reply_en(),
            contains=("nobody can log in",),
            excludes=("clear the cache", "wrote"),
        ),
        Case(
            "quoted-reply-sk",
            _quoted_reply_sk(),
            contains=("nevie prihlásiť nikto",),
            excludes=("vymazať cache", "napísal"),
        ),
        Case(
            "quoted-reply-cs", _quoted_reply_cs(), contains=("nepřihlásí nikdo",), excludes=("vymazat cache", "napsal")
        ),
        Case(
            "signature-and-legal-footer",
            _signature_and_footer(),
            contains=("payroll export crashes", "for the bank"),
            excludes=("Best regards", "HR manager", "CONFIDENTIALITY", "addressee"),
        ),
        Case("legal-footer-sk", _footer_sk(), contains=("export miezd",), excludes=("dôverné", "omylom")),
        Case(
            "forward-en",
            _forward_en(),
            forwarded=True,
            contains=("FYI", "terminals in Košice are offline"),
            excludes=("Forwarded message", "branch@acme.example"),
        ),
        Case(
            "forward-sk-chain",
            _forward_sk_chain(),
            forwarded=True,
            contains=("Posielam ďalej", "nezapisuje príchody od rána"),
            excludes=("Preposlaná správa", "prevadzka@acme.example"),
        ),
        Case(
            "forward-cs-chain",
            _forward_cs_chain(),
            forwarded=True,
            contains=("Přeposílám", "nezapisuje příchody od rána"),
            excludes=("Přeposlaná zpráva", "Staré vlákno", "provoz@acme.example"),
        ),
        Case(
            "forward-as-attachment",
            _forward_attached(),
            forwarded=True,
            contains=("See the attached message", "nobody at our plant can log in"),
        ),
        Case(
            "forward-outlook-tr",
            _outlook_tr(),
            forwarded=True,
            contains=("Schvaľovanie dovoleniek padá",),
            excludes=("Sent:", "peter@acme.example"),
        ),
        Case("auto-submitted", _auto_submitted(), outcome="auto_reply", reason="Auto-Submitted: auto-replied"),
        Case("x-autoreply", _x_autoreply(), outcome="auto_reply", reason="X-Autoreply"),
        Case("out-of-office", _out_of_office(), outcome="auto_reply", reason="Out of Office"),
        Case("automaticka-odpoved", _automaticka_sk(), outcome="auto_reply", reason="Automatická odpoveď"),
        Case("automaticka-odpoved-cs", _automaticka_cs(), outcome="auto_reply", reason="Automatická odpověď"),
        Case("bounce", _bounce(), outcome="bounce", reason="report-type=delivery-status"),
        Case("list-unsubscribe", _list_unsubscribe(), outcome="bulk", reason="List-Unsubscribe"),
        Case("precedence-bulk", _precedence_bulk(), outcome="bulk", reason="Precedence: bulk"),
        Case("no-date", _no_date(), outcome="reject", reason="there is no Date header"),
        Case("bad-date", _bad_date(), outcome="reject", reason="'sometime last week' is not an RFC 5322 date"),
        Case("no-sender", _no_sender(), outcome="reject", reason="no sender"),
        Case("empty-text", _empty(), outcome="reject", reason="empty request"),
        Case("not-mail", b"\x00\x01 this is not mail\n", outcome="reject", reason="not an e-mail message"),
    ]
