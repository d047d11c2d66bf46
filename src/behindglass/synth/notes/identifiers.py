"""Identifier values in the layouts real records use: phones, SSNs, licences, devices, plates.

Every value is composed from random digits and letters drawn from the caller's
``random.Random``, which is fast and keeps values distinct between patients. Layouts vary
on purpose (``(312) 555-0142``, ``312-555-0142``, ``312.555.0142``) so a recognizer is not
tuned to one spelling. Check digits are real where the identifier has one (NPI Luhn with
the 80840 prefix, DEA registration) because recognizers may validate them.
"""

from __future__ import annotations

import random
import unicodedata

DIGITS = "0123456789"
LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"  # no I, O, Q: they are avoided on plates and VINs
_US_AREAS = ("312", "773", "630", "847", "217", "414", "608", "319", "515", "314", "816",
             "317", "614", "216", "313", "612", "402", "316", "502", "615")
# Per-locale phone layouts; "#" is a random digit.
PHONE_LAYOUTS: dict[str, tuple[str, ...]] = {
    "en_US": ("({a}) ###-####", "{a}-###-####", "{a}.###.####", "+1 {a} ### ####"),
    "en_CA": ("({a}) ###-####", "{a}-###-####", "+1 {a}-###-####"),
    "en_GB": ("020 7### ####", "07### ######", "0161 ### ####", "+44 20 7### ####"),
    "en_IE": ("01 ### ####", "08# ### ####", "+353 1 ### ####"),
    "es_MX": ("55 #### ####", "+52 55 #### ####", "(33) ####-####"),
    "pt_BR": ("(11) 9####-####", "(21) 3###-####", "+55 11 9####-####"),
    "nl_NL": ("06-########", "020-#######", "+31 6 ########"),
    "de_DE": ("030 ########", "0171 #######", "+49 89 #######"),
    "fr_FR": ("01 ## ## ## ##", "06 ## ## ## ##", "+33 6 ## ## ## ##"),
}


def digits(rng: random.Random, n: int) -> str:
    # One draw for all n digits: identity generation is the bulk of a note's cost.
    return f"{rng.randrange(10 ** n):0{n}d}"


def letters(rng: random.Random, n: int) -> str:
    return "".join(rng.choices(LETTERS, k=n))


def _layout(rng: random.Random, layout: str) -> str:
    fill = iter(digits(rng, layout.count("#")))
    return "".join(next(fill) if ch == "#" else ch for ch in layout)


def phone(rng: random.Random, locale: str = "en_US") -> str:
    layout = rng.choice(PHONE_LAYOUTS.get(locale, PHONE_LAYOUTS["en_US"]))
    exchange = str(rng.randrange(201, 1000)).replace("555", "556")  # 555 looks fictional
    number = layout.replace("{a}", rng.choice(_US_AREAS)).replace("###-", f"{exchange}-", 1)
    return _layout(rng, number)


def ssn(rng: random.Random) -> str:
    area = rng.randrange(1, 900)
    area = 665 if area == 666 else area  # never-issued areas are too easy to reject
    group, serial = rng.randrange(1, 100), rng.randrange(1, 10_000)
    sep = rng.choice(("-", "-", "-", " ", ""))
    return f"{area:03d}{sep}{group:02d}{sep}{serial:04d}"


def mrn(rng: random.Random) -> str:
    return rng.choice((digits(rng, 8), f"{rng.randrange(1, 10)}{digits(rng, 6)}",
                       f"MR{digits(rng, 7)}",
                       f"{digits(rng, 3)}-{digits(rng, 2)}-{digits(rng, 2)}"))


def account(rng: random.Random) -> str:
    return rng.choice((f"{rng.randrange(1, 10)}{digits(rng, 9)}", f"AC{digits(rng, 10)}",
                       f"HAR{digits(rng, 8)}"))


def health_plan(rng: random.Random) -> str:
    return rng.choice((f"{letters(rng, 3)}{digits(rng, 9)}", f"W{digits(rng, 9)}",
                       f"{rng.randrange(1, 10)}{letters(rng, 2)}{digits(rng, 1)}-"
                       f"{letters(rng, 2)}{digits(rng, 1)}-{letters(rng, 2)}{digits(rng, 2)}"))


def drivers_license(rng: random.Random, last: str) -> str:
    initial = next((ch for ch in fold(last).upper() if ch.isalpha()), "X")
    return rng.choice((f"{initial}{digits(rng, 3)}-{digits(rng, 4)}-{digits(rng, 4)}",
                       f"{initial}{digits(rng, 7)}", f"{digits(rng, 3)}-{digits(rng, 3)}-"
                       f"{digits(rng, 3)}", f"{initial}{digits(rng, 12)}"))


_DOUBLED = {str(d): (2 * d - 9 if d > 4 else 2 * d) for d in range(10)}


def npi(rng: random.Random) -> str:
    """A 10-digit NPI whose Luhn check (with the 80840 prefix) is valid."""
    body = str(rng.randrange(1, 3)) + digits(rng, 8)
    total = 24  # the constant contribution of the 80840 prefix
    for i, ch in enumerate(reversed(body)):
        d = _DOUBLED[ch] if i % 2 == 0 else int(ch)
        total += d
    return body + str((10 - total % 10) % 10)


def dea(rng: random.Random, last: str) -> str:
    """A DEA registration number: two letters, six digits and its check digit."""
    initial = next((ch for ch in fold(last).upper() if ch.isalpha()), "X")
    body = [int(ch) for ch in digits(rng, 6)]
    check = (body[0] + body[2] + body[4] + 2 * (body[1] + body[3] + body[5])) % 10
    return rng.choice("ABFM") + initial + "".join(map(str, body)) + str(check)


def device(rng: random.Random) -> str:
    gtin = "00" + digits(rng, 12)
    expiry = f"{rng.randrange(24, 31)}{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}"
    return rng.choice((f"{letters(rng, 3)}{digits(rng, 6)}{rng.choice(LETTERS)}",
                       f"(01){gtin}(17){expiry}(21){letters(rng, 2)}{digits(rng, 6)}",
                       f"SN{digits(rng, 8)}",
                       f"{digits(rng, 4)}-{letters(rng, 2)}{digits(rng, 5)}"))


def plate(rng: random.Random) -> str:
    return rng.choice((f"{rng.randrange(1, 10)}{letters(rng, 3)}{digits(rng, 3)}",
                       f"{letters(rng, 3)}-{digits(rng, 4)}", f"{letters(rng, 2)} {digits(rng, 4)}",
                       f"{letters(rng, 3)} {digits(rng, 3)}"))


def vin(rng: random.Random) -> str:
    alphabet = DIGITS + LETTERS
    return "".join(rng.choices(alphabet, k=8)) + rng.choice(DIGITS + "X") + "".join(
        rng.choices(alphabet, k=8))


def ip_address(rng: random.Random) -> str:
    first = rng.choice((24, 67, 73, 98, 104, 142, 173, 184, 199, 208))
    return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def fold(text: str) -> str:
    """ASCII letters and digits of a name, for e-mail addresses and URLs."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "".join(ch for ch in plain.lower() if ch.isalnum())


def email(rng: random.Random, first: str, last: str, domain: str) -> str:
    f, s = fold(first) or "pt", fold(last) or "mail"
    local = rng.choice((f"{f}.{s}", f"{f[0]}{s}{rng.randrange(1, 100)}",
                        f"{f}{s}{rng.randrange(50, 100)}", f"{s}.{f}{rng.randrange(1, 10)}"))
    return f"{local}@{domain}"


def personal_url(rng: random.Random, first: str, last: str) -> str:
    f, s = fold(first) or "pt", fold(last) or "family"
    return rng.choice((f"https://www.gofundme.com/f/help-{f}-{s}-recover",
                       f"www.caringbridge.org/visit/{f}{s}",
                       f"https://www.facebook.com/{f}.{s}.{rng.randrange(10, 99)}",
                       f"http://{s}family.net/{f}",
                       f"https://www.linkedin.com/in/{f}-{s}-{digits(rng, 4)}"))
