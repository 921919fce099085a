"""A spreadsheet cell's value as the sheet shows it, by the cell's number format.

Excel stores 629.4 and shows ``£629.40`` (``"£"#,##0.00``); it stores 0.04 and shows ``4%``, and a
date as a day count that openpyxl returns as a datetime, shown as ``12 Aug 2024`` (``d mmm
yyyy``). The common parts of the format language are read: its sections (positive; negative;
zero; text), quoted and escaped literals, currency tags (``[$£-809]``), digit placeholders with
thousands separators, percentages, scientific notation, and the date and time codes. Colours,
conditions, padding and fill characters only change how a cell looks, and are left out. What
cannot be read falls back to the value in Excel's General format.
"""

from __future__ import annotations

import datetime
import re

_SECTION_SPLIT = re.compile(r'(?:"[^"]*"|\\.|\[[^\]]*\]|[^;"\\\[])+|(?<=;)(?=;|$)|^(?=;)')
_TOKEN = re.compile(
    r'"(?P<quoted>[^"]*)"|\\(?P<escaped>.)|\[(?P<bracket>[^\]]*)\]|_.|\*.'
    r"|(?P<ampm>AM/PM|A/P)|(?P<date>[yY]+|[mM]+|[dD]+|[hH]+|[sS]+)|(?P<other>.)",
    re.DOTALL,
)
_FRACTION = re.compile(r"[0#?]\s*/\s*[0-9#?]")  # "# ?/?": shown as a decimal instead
_DIGITS = re.compile(r"[0#?][0#?,. ]*(?:[eE][+-][0#?]+)?")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")  # fmt: skip
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def cell_text(value: object, number_format: str | None) -> str:
    """``value`` as a cell of ``number_format`` shows it ("" for an empty cell)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return value
    code = number_format or "General"
    try:
        if isinstance(value, datetime.datetime | datetime.date | datetime.time):
            return _date_text(value, _section(code, 1.0))
        if isinstance(value, int | float):
            return _number_text(float(value), code)
    except (ValueError, OverflowError, IndexError):  # a format this reader does not follow
        pass
    return _general(value)


def _general(value: object) -> str:
    """Excel's General format: integers whole, other numbers to ten significant digits."""
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.10g}"
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ", timespec="seconds").removesuffix(" 00:00:00")
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return str(value)


def _sections(code: str) -> list[str]:
    return [match.group() for match in _SECTION_SPLIT.finditer(code)] or [code]


def _section(code: str, value: float) -> tuple[str, bool]:
    """The section of ``code`` that shows ``value``, and whether it shows the sign itself."""
    sections = _sections(code)
    if value < 0 and len(sections) > 1:
        return sections[1], True
    if value == 0 and len(sections) > 2:
        return sections[2], True
    return sections[0], False


def _number_text(value: float, code: str) -> str:
    section, signed = _section(code, value)
    if section.strip().lower() in ("general", "") or _FRACTION.search(section):
        return _general(value)
    literal, digits = _literal_parts(section)
    if digits is None:  # only text, as "-" for zero, or "@"
        return "".join(literal).replace("\0", _general(abs(value) if signed else value)) or _general(value)
    magnitude = abs(value) if signed or value < 0 else value
    shown = _digits_text(magnitude * 100 ** "".join(literal).count("%"), digits)
    sign = "-" if value < 0 and not signed and shown.strip("0.,") else ""
    return sign + literal[0] + shown + literal[1]


def _literal_parts(section: str) -> tuple[list[str], str | None]:
    """The literal text before and after the digit placeholders of ``section``, and the placeholders
    (None where it has none); ``@`` (the value as text) is kept as ``\\0``."""
    parts: list[list[str]] = [[], []]
    digits = ""
    tokens = list(_TOKEN.finditer(section))
    for index, match in enumerate(tokens):
        char = match.group()
        after = 1 if digits else 0
        if match.group("quoted") is not None:
            parts[after].append(match.group("quoted"))
        elif match.group("escaped") is not None:
            parts[after].append(match.group("escaped"))
        elif match.group("bracket") is not None:
            bracket = match.group("bracket")
            parts[after].append(bracket[1:].split("-")[0] if bracket.startswith("$") else "")
        elif char.startswith(("_", "*")) and len(char) == 2:
            continue
        elif not parts[1] and (char in "0#?" or (digits and (char in ".," or _is_exponent(tokens, index)))):
            digits += char
        else:
            parts[after].append("\0" if char == "@" else char)
    return ["".join(parts[0]), "".join(parts[1])], (digits if _DIGITS.fullmatch(digits) else None)


def _is_exponent(tokens: list[re.Match[str]], index: int) -> bool:
    """Whether the token at ``index`` is the ``E+`` or ``E-`` of scientific notation, or its sign."""
    char = tokens[index].group()
    if char.upper() == "E" or tokens[index].group("date"):
        return char.upper() == "E" and index + 1 < len(tokens) and tokens[index + 1].group() in "+-"
    return char in "+-" and index > 0 and tokens[index - 1].group().upper() == "E"


def _digits_text(value: float, digits: str) -> str:
    """``value`` by the placeholders ``digits``: ``#,##0.00``, ``0%`` (already scaled), ``0.00E+00``."""
    mantissa, _, exponent = digits.upper().partition("E")
    while mantissa.endswith(","):  # a trailing comma divides by a thousand
        value /= 1000
        mantissa = mantissa[:-1]
    whole, _, fraction = mantissa.partition(".")
    grouped = "," in whole
    most = sum(1 for char in fraction if char in "0#?")
    least = sum(1 for char in fraction if char == "0")
    minimum_whole = sum(1 for char in whole if char == "0")
    if exponent:
        text = f"{value:.{most}E}"
        number, _, power = text.partition("E")
        return f"{number}E{power[0]}{power[1:].lstrip('0').zfill(len(exponent) - 1)}"
    text = f"{value:{',' if grouped else ''}.{most}f}"
    if most > least:
        integer, _, decimals = text.partition(".")
        decimals = decimals.rstrip("0").ljust(least, "0")
        text = integer + ("." + decimals if decimals else ("." if least else ""))
        text = text.rstrip(".") if not least else text
    integer, dot, decimals = text.partition(".")
    if integer in ("0", "-0") and minimum_whole == 0:
        integer = integer[:-1]
    bare = integer.replace(",", "")
    if len(bare) < minimum_whole:
        integer = bare.zfill(minimum_whole)
    return integer + dot + decimals


def _date_text(value: datetime.date | datetime.time, section: tuple[str, bool]) -> str:
    """``value`` by the date and time codes of the format section (``d mmm yyyy``, ``dd/mm/yyyy hh:mm``)."""
    code = section[0]
    tokens = list(_TOKEN.finditer(code))
    if not any(token.group("date") for token in tokens):
        return _general(value)
    twelve = any(token.group("ampm") for token in tokens)
    moment = value if isinstance(value, datetime.datetime) else None
    parts: list[str] = []
    for index, token in enumerate(tokens):
        code_part = token.group("date")
        if code_part is not None:
            parts.append(_date_part(value, code_part.lower(), _is_minute(tokens, index), twelve))
        elif token.group("ampm"):
            hour = moment.hour if moment else getattr(value, "hour", 0)
            parts.append("AM" if hour < 12 else "PM")
        elif token.group("quoted") is not None:
            parts.append(token.group("quoted"))
        elif token.group("escaped") is not None:
            parts.append(token.group("escaped"))
        elif token.group("bracket") is not None or token.group().startswith(("_", "*")):
            continue
        else:
            parts.append(token.group())
    return "".join(parts)


def _is_minute(tokens: list[re.Match[str]], index: int) -> bool:
    """Whether the ``m`` code at ``index`` means minutes: after an hour or before seconds."""
    codes = [(position, token.group("date").lower()) for position, token in enumerate(tokens) if token.group("date")]
    place = next(number for number, (position, _) in enumerate(codes) if position == index)
    previous = codes[place - 1][1] if place > 0 else ""
    following = codes[place + 1][1] if place + 1 < len(codes) else ""
    return previous.startswith("h") or following.startswith("s")


def _date_part(value: datetime.date | datetime.time, code: str, minute: bool, twelve: bool) -> str:
    kind, width = code[0], len(code)
    if kind == "m" and (minute and width <= 2):
        return f"{getattr(value, 'minute', 0):0{width}d}"
    if kind in "hs":
        number = getattr(value, "hour" if kind == "h" else "second", 0)
        if kind == "h" and twelve:
            number = number % 12 or 12
        return f"{number:0{min(width, 2)}d}"
    if not isinstance(value, datetime.date):
        return ""
    if kind == "y":
        return f"{value.year % 100:02d}" if width <= 2 else f"{value.year:04d}"
    if kind == "m":
        name = _MONTHS[value.month - 1]
        return {1: str(value.month), 2: f"{value.month:02d}", 3: name[:3], 5: name[0]}.get(width, name)
    name = _DAYS[value.weekday()]
    return {1: str(value.day), 2: f"{value.day:02d}", 3: name[:3]}.get(width, name)
