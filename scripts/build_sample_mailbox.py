"""Writes examples/sample-mailbox.mbox: a support mailbox of a week in November 2026, in English, Slovak and Czech.

Run from the repository root: ``python scripts/build_sample_mailbox.py``. The output is deterministic (fixed
Message-IDs and dates), so the committed file changes only when this script does.

What is in it: new requests of every severity, follow-ups in their threads (one escalates: "now nobody can log
in"), replies from support (responses), a forwarded Slovak chain, an HTML-only message, a message with an
attachment, an out-of-office auto-reply, a bounce and a newsletter (the last three are skipped on import).
"""

from __future__ import annotations

import mailbox
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "examples" / "sample-mailbox.mbox"
SUPPORT = "Managra Support <support@managra.example>"
CET = timezone(timedelta(hours=1))
START = datetime(2026, 11, 23, 7, 50, tzinfo=CET)  # Monday


def _mail(
    number: int,
    sender: str,
    subject: str,
    body: str,
    at: datetime,
    *,
    to: str = SUPPORT,
    reply_to: EmailMessage | None = None,
    html: str | None = None,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(at)
    msg["Message-ID"] = f"<sample-{number:03d}@mail.example>"
    if reply_to is not None:
        msg["In-Reply-To"] = reply_to["Message-ID"]
        refs = reply_to.get("References", "")
        msg["References"] = f"{refs} {reply_to['Message-ID']}".strip()
    if html is None:
        msg.set_content(body)
    else:
        msg.set_content(html, subtype="html")
    return msg


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    return START.replace(hour=hour, minute=minute) + timedelta(days=day)


def build() -> list[EmailMessage]:
    """The messages, in the order they arrived."""
    m: list[EmailMessage] = []
    n = iter(range(1, 1000))

    def add(*args: object, **kwargs: object) -> EmailMessage:
        msg = _mail(next(n), *args, **kwargs)  # type: ignore[arg-type]
        m.append(msg)
        return msg

    jana = '"Jana Nováková" <jana.novakova@drevovyroba.example>'
    login = add(
        jana,
        "Prihlasovanie do dochádzky",
        "Dobrý deň,\n\nniektorým kolegom v sklade nejde prihlásiť sa do dochádzky, píše chybu 'neplatná relácia'.\n"
        "V kancelárii to funguje.\n\nS pozdravom\nJana Nováková",
        _at(0, 7, 55),
    )
    add(
        '"Tom Baker" <tom.baker@northwind.example>',
        "Production down - HTTP 503 for everyone",
        "Since 8:05 every user gets HTTP 503 on the web and in the mobile app. Nobody can clock in, the whole "
        "company is affected.\n\nTom Baker\nIT, Northwind",
        _at(0, 8, 10),
    )
    reply_login = add(
        SUPPORT,
        "Re: Prihlasovanie do dochádzky",
        "Dobrý deň, pani Nováková,\n\nďakujeme, pozrieme sa na to. Skúste prosím zatiaľ odhlásiť a prihlásiť sa "
        "v aplikácii znova.\n\nPodpora Managra\n\n"
        "Dňa po 23. 11. 2026 o 7:55 Jana Nováková napísal(a):\n> niektorým kolegom v sklade nejde prihlásiť sa",
        _at(0, 8, 40),
        to=jana,
        reply_to=login,
    )
    add(
        '"Petr Dvořák" <petr.dvorak@stavby-brno.example>',
        "Jak přidat nový typ směny?",
        "Dobrý den,\n\nkde v administraci nastavím nový typ směny (noční 22-6)? Nespěchá.\n\nDěkuji\nPetr Dvořák",
        _at(0, 9, 30),
    )
    add(
        '"Lucia Horváthová" <lucia@kaviaren-luna.example>',
        "Export do Excelu má zlé diakritiku",
        "Pri exporte dochádzky do Excelu sa namiesto č a ť zobrazujú otázniky. Dá sa to obísť cez CSV, "
        "ale bolo by fajn, keby to fungovalo.",
        _at(0, 10, 15),
    )
    add(
        '"Martin Král" <martin.kral@logistika-cz.example>',
        "Mzdový export smazal data",
        "Po včerejším exportu mezd do účetnictví chybí v produkci docházka za celý říjen pro 120 lidí. "
        "Hrozí ztráta dat, potřebujeme to řešit okamžitě.",
        _at(0, 11, 5),
    )
    data_loss = m[-1]
    add(
        SUPPORT,
        "Re: Mzdový export smazal data",
        "Dobrý den, pane Králi, data z exportu obnovujeme ze zálohy, do 14:00 budou zpět. Ozveme se.\n\n"
        "Podpora Managra",
        _at(0, 11, 50),
        to='"Martin Král" <martin.kral@logistika-cz.example>',
        reply_to=data_loss,
    )
    add(
        '"Emma Clark" <emma.clark@brightdental.example>',
        "Typo on the leave request page",
        'The leave request page says "Aproved" instead of "Approved". Just cosmetic.',
        _at(0, 13, 20),
    )
    escalation = add(
        jana,
        "Re: Prihlasovanie do dochádzky",
        "Dobrý deň,\n\nuž to nie je len sklad: teraz sa nikto z firmy nevie prihlásiť, výroba stojí.\n\n"
        "Jana\n\n"
        "Dňa po 23. 11. 2026 o 8:40 Managra Support napísal(a):\n> Skúste prosím zatiaľ odhlásiť a prihlásiť",
        _at(0, 14, 5),
        reply_to=reply_login,
    )
    add(
        SUPPORT,
        "Re: Prihlasovanie do dochádzky",
        "Pani Nováková, chybu sme našli a opravujeme ju, ozveme sa do hodiny.\n\nPodpora Managra",
        _at(0, 14, 25),
        to=jana,
        reply_to=escalation,
    )
    add(
        '"Ondřej Novotný" <ondrej@pekarna-novotny.example>',
        "Automatická odpověď: Jak přidat nový typ směny?",
        "Jsem mimo kancelář do 30. 11. V naléhavých případech volejte 777 000 000.",
        _at(0, 15, 0),
    )
    add(
        '"Sarah Lee" <sarah.lee@greenfield.example>',
        "Reports extremely slow",
        "The monthly attendance report takes about 10 minutes to load for all supervisors. Month close is "
        "tomorrow and we are blocked.",
        _at(1, 8, 30),
    )
    add(
        '"Peter Kováč" <peter.kovac@drevovyroba.example>',
        "TR: Schvaľovanie dovoleniek",
        "Posielam ďalej, prosím o pomoc.\n\n"
        "-------- Preposlaná správa --------\n"
        "Predmet: Schvaľovanie dovoleniek\n"
        "Od: Zuzana Malá <zuzana.mala@drevovyroba.example>\n\n"
        "Nadriadení nevedia schváliť žiadosti o dovolenku, tlačidlo Schváliť nerobí nič. "
        "Obchádzame to cez e-mail.\n",
        _at(1, 9, 10),
    )
    add(
        '"Newsletter" <news@hr-tips.example>',
        "5 tips for better shift planning",
        "Read our November tips. Unsubscribe at any time.",
        _at(1, 9, 45),
    )
    m[-1]["List-Unsubscribe"] = "<mailto:unsubscribe@hr-tips.example>"
    add(
        '"David Müller" <d.mueller@alpenhotel.example>',
        "API returns 500 for the shifts endpoint",
        "GET /api/v2/shifts returns HTTP 500 since this morning; our scheduling integration is stuck. "
        "The web app works.",
        _at(1, 10, 20),
    )
    add(
        '"Katarína Bieliková" <katarina@pneuservis.example>',
        "Ako zmeniť heslo?",
        "Dobrý deň, ako si zamestnanec zmení heslo? Ďakujem.",
        _at(1, 11, 0),
    )
    add(
        '"Jakub Svoboda" <jakub.svoboda@stavby-brno.example>',
        "Nefunguje terminál na vrátnici",
        "Docházkový terminál na vrátnici od rána nereaguje, lidé se zapisují ručně na papír. Ostatní terminály jedou.",
        _at(1, 12, 30),
    )
    add(
        '"Olivia Brown" <olivia.brown@citybikes.example>',
        "Payroll export wrong overtime",
        "",
        _at(1, 14, 0),
        html=(
            "<html><body><p>Hello,</p><p>The payroll export calculates overtime wrongly for:</p>"
            "<ul><li>night shifts</li><li>public holidays</li></ul>"
            "<p>We pay salaries on Friday. Details: <a href='https://citybikes.example/payroll-diff'>the diff</a>."
            "</p></body></html>"
        ),
    )
    add(
        "MAILER-DAEMON@mail.mail.example",
        "Undelivered Mail Returned to Sender",
        "This is the mail system. Your message could not be delivered.",
        _at(1, 14, 30),
    )
    bounce = m[-1]
    bounce.make_mixed()
    bounce.set_type("multipart/report")
    bounce.set_param("report-type", "delivery-status")
    bounce.set_boundary("sample-boundary-report")  # fixed, so that the file is the same on every run
    add(
        '"Hana Veselá" <hana.vesela@lekarna-vesela.example>',
        "Žádost o nový report",
        "Bylo by možné přidat report přesčasů po odděleních? Nic nehoří, jen nápad do budoucna.",
        _at(2, 8, 15),
    )
    slow = add(
        '"Ryan Cooper" <ryan.cooper@harborfoods.example>',
        "Mobile app crashes on login",
        "The Android app crashes right after login for some of our drivers (Samsung A52). Others can use the web.",
        _at(2, 9, 0),
    )
    add(
        SUPPORT,
        "Re: Mobile app crashes on login",
        "Hi Ryan, thanks. Could you send the app version? Meanwhile the web app works on the phones too.\n\n"
        "Managra Support",
        _at(2, 9, 50),
        to='"Ryan Cooper" <ryan.cooper@harborfoods.example>',
        reply_to=slow,
    )
    add(
        '"Ryan Cooper" <ryan.cooper@harborfoods.example>',
        "Re: Mobile app crashes on login",
        "Version 4.12.1. It happens to every driver now, none of them can clock in from the trucks.\n\n"
        "On Wed, 25 Nov 2026 at 09:50, Managra Support wrote:\n> Could you send the app version?",
        _at(2, 10, 30),
        reply_to=m[-1],
    )
    add(
        '"Miroslav Polák" <miro@autodiely-polak.example>',
        "Import zamestnancov z CSV",
        "Import zamestnancov z CSV skončí chybou 'riadok 14: neplatný dátum'. Súbor prikladám.",
        _at(2, 11, 40),
    )
    csv = "meno;nastup\nJán;2026-11-01\nEva;1.11.2026\n".encode()
    m[-1].add_attachment(csv, maintype="text", subtype="csv", filename="zamestnanci.csv")
    m[-1].set_boundary("sample-boundary-attachment")
    add(
        '"Tereza Marková" <tereza@skola-marek.example>',
        "Docházka - špatné svátky",
        "V kalendáři chybí státní svátek 17. listopadu, systém ho počítá jako pracovní den.",
        _at(2, 13, 0),
    )
    add(
        '"Ahmed Khan" <ahmed.khan@brightdental.example>',
        "SSO login broken for all clinics",
        "Since the certificate change last night, single sign-on fails for all 14 clinics. Staff cannot log in "
        "at all; patients are waiting.",
        _at(3, 7, 40),
    )
    add(
        '"Zuzana Malá" <zuzana.mala@drevovyroba.example>',
        "Otázka k dovolenke",
        "Dobrý deň, koľko dní dovolenky sa prenáša do ďalšieho roka? Ďakujem, Zuzana",
        _at(3, 9, 15),
    )
    add(
        '"Lukas Weber" <lukas.weber@alpenhotel.example>',
        "Re: API returns 500 for the shifts endpoint",
        "Additional info: the error only happens for shifts that cross midnight.",
        _at(3, 10, 0),
    )
    add(
        '"Veronika Šimková" <veronika@eshop-simkova.example>',
        "Chyba v notifikáciách",
        "Zamestnancom chodia notifikácie o zmene zmeny dvakrát. Nič vážne, len to otravuje.",
        _at(3, 14, 45),
    )
    add(
        SUPPORT,
        "Re: Production down - HTTP 503 for everyone",
        "Hi Tom, the outage is resolved since 9:02; the cause was a failed load balancer. Sorry for the trouble.",
        _at(0, 9, 5),
        to='"Tom Baker" <tom.baker@northwind.example>',
        reply_to=m[1],
    )
    # Mail arrives in time order; the last reply was written at its time but sorted in here for the mailbox.
    m.sort(key=lambda msg: msg["Date"].datetime)
    return m


def main() -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    if OUT.exists():
        OUT.unlink()
    box = mailbox.mbox(OUT)
    for msg in build():
        entry = mailbox.mboxMessage(msg)
        # The "From " line with the message's own date, so that the file does not depend on when it was built.
        entry.set_from("MAILER-DAEMON", msg["Date"].datetime.astimezone(UTC).timetuple())
        box.add(entry)
    box.flush()
    box.close()
    print(f"wrote {OUT} ({len(build())} messages)")


if __name__ == "__main__":
    main()
