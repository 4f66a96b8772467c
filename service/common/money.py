"""Money: integer minor units plus a lowercase ISO 4217 currency. Never floats."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from babel.numbers import format_currency

# Currencies Stripe can charge in (presentment currencies), lowercase as Stripe writes them.
SUPPORTED_CURRENCIES = frozenset(
    """
    usd aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bif bmd bnd bob brl bsd
    bwp byn bzd cad cdf chf clp cny cop crc cve czk djf dkk dop dzd egp etb eur fjd fkp
    gbp gel gip gmd gnf gtq gyd hkd hnl htg huf idr ils inr isk jmd jpy kes kgs khr kmf
    krw kyd kzt lak lbp lkr lrd lsl mad mdl mga mkd mmk mnt mop mur mvr mwk mxn myr mzn
    nad ngn nio nok npr nzd pab pen pgk php pkr pln pyg qar ron rsd rub rwf sar sbd scr
    sek sgd shp sle sos srd szl thb tjs top try ttd twd tzs uah ugx uyu uzs vnd vuv wst
    xaf xcd xof xpf yer zar zmw
    """.split()
)


# Stripe's zero-decimal currencies: an amount in them counts whole units. Every other
# supported currency counts hundredths (ISK and HUF included, as Stripe writes them).
ZERO_DECIMAL_CURRENCIES = frozenset("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split())


def exponent(currency: str) -> int:
    """How many decimal places a minor unit of this currency is."""
    return 0 if currency.lower() in ZERO_DECIMAL_CURRENCIES else 2


def format_money(amount: int, currency: str, locale: str = "en") -> str:
    """A minor-unit amount as a person reads it: 500 eur -> "€5.00", 500 jpy -> "¥500"."""
    return format_currency(Decimal(amount).scaleb(-exponent(currency)), currency.upper(), locale=locale)


def percent_of(amount: int, percent: Decimal) -> int:
    """`percent`% of a minor-unit amount, rounded half up to a whole minor unit."""
    return int((Decimal(amount) * percent / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
