"""Deterministic checks that run before any critic call; each returns a ``Check``.

A failed check names its reason (``structure``, ``length``, ``repetition``,
``role_leakage``, ``pii``, ``near_duplicate``), the turn it found it in, and a detail.

>>> find_pii("mail me at ana@example.org or call 415-555-0132")
[('email', 'ana@example.org'), ('phone', '415-555-0132')]
>>> find_pii("order #48213577 shipped 2024-11-25, app v2.13.0")
[]
"""

import dataclasses
import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from dialoggen.recipe import FilterConfig
from dialoggen.types import Turn


@dataclass(frozen=True)
class Check:
    ok: bool
    reason: str | None = None
    detail: str = ""
    turn: int | None = None


PASS = Check(True)

# --- PII -------------------------------------------------------------------------------
EMAIL = re.compile(r"\b[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
PHONE = re.compile(
    r"(?<![\w#/.+-])(?<!\d\s)"
    r"(?:\+\d{1,3}(?:[\s.-]?\d{2,6}){2,4}"  # international: +44 7700 900123
    r"|(?:\(\d{2,4}\)\s?|\d{2,4}[\s.-])\d{3,4}[\s.-]\d{3,4})"  # national: 415-555-0132
    r"(?![\w/.-]|[\s-]\d)"
)
CARD = re.compile(r"(?<![\w-])(?:\d[ -]?){12,18}\d(?![\w-])")
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
STREET = re.compile(
    r"\b\d{1,5}\s+(?:[A-Z][a-z]+\s+){1,3}(?:Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Boulevard|"
    r"Blvd|Drive|Dr|Court|Ct|Way|Close|Crescent|Place|Pl)\b\.?"
)
SSN = re.compile(r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b")
NINO = re.compile(r"\b(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b")


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def iban_ok(text: str) -> bool:
    compact = text.replace(" ", "")
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def find_pii(text: str) -> list[tuple[str, str]]:
    """Every PII-looking span in ``text``: (kind, text). Cards pass Luhn, IBANs mod 97."""
    found = [("email", m.group()) for m in EMAIL.finditer(text)]
    cards = [m.group() for m in CARD.finditer(text) if luhn_ok(re.sub(r"\D", "", m.group()))]
    found += [
        ("phone", m.group()) for m in PHONE.finditer(text) if not any(m.group() in c for c in cards)
    ]
    found += [("card", c) for c in cards]
    found += [("iban", m.group()) for m in IBAN.finditer(text) if iban_ok(m.group())]
    found += [("address", m.group()) for m in STREET.finditer(text)]
    found += [("government_id", m.group()) for m in (*SSN.finditer(text), *NINO.finditer(text))]
    return found


def scrub_pii(text: str) -> str:
    for kind, span in find_pii(text):
        text = text.replace(span, f"[{kind.upper()}]")
    return text


def check_pii(turns: Sequence[Turn]) -> Check:
    for i, turn in enumerate(turns):
        hits = find_pii(turn.content)
        if hits:
            kinds = ", ".join(sorted({k for k, _ in hits}))
            return Check(False, "pii", f"{kinds} in turn {i}", i)
    return PASS


# --- structure, length, repetition, role leakage ----------------------------------------
def check_structure(turns: Sequence[Turn], min_turns: int, max_turns: int) -> Check:
    if not min_turns <= len(turns) <= max_turns:
        return Check(False, "structure", f"{len(turns)} turns, wanted {min_turns}-{max_turns}")
    for i, turn in enumerate(turns):
        if turn.role != ("user", "assistant")[i % 2]:
            return Check(False, "structure", f"turn {i} is {turn.role}: roles must alternate", i)
        if not turn.content.strip():
            return Check(False, "structure", f"turn {i} is empty", i)
    return PASS


def check_length(turns: Sequence[Turn], min_chars: int, max_chars: int) -> Check:
    for i, turn in enumerate(turns):
        if not min_chars <= len(turn.content) <= max_chars:
            detail = f"turn {i} has {len(turn.content)} chars, wanted {min_chars}-{max_chars}"
            return Check(False, "length", detail, i)
    return PASS


def _words(text: str) -> list[str]:
    return re.findall(r"[\w']+", text.lower())


def check_repetition(turns: Sequence[Turn], ngram: int = 4, max_repeats: int = 3) -> Check:
    """A turn that repeats an earlier one, or a word n-gram looping inside one turn."""
    seen: dict[str, int] = {}
    for i, turn in enumerate(turns):
        key = " ".join(_words(turn.content))
        if key and key in seen:
            return Check(False, "repetition", f"turn {i} repeats turn {seen[key]}", i)
        seen[key] = i
        words = _words(turn.content)
        grams = Counter(tuple(words[k : k + ngram]) for k in range(len(words) - ngram + 1))
        if grams and max(grams.values()) > max_repeats:
            gram, times = grams.most_common(1)[0]
            return Check(False, "repetition", f"turn {i} loops '{' '.join(gram)}' x{times}", i)
    return PASS


LEAK = re.compile(r"<\|im_(start|end)\|>|\bas an ai\b|\bas a language model\b", re.IGNORECASE)


def check_role_leakage(turns: Sequence[Turn], speakers: Sequence[str]) -> Check:
    """Speaker labels or chat-template tokens in content, or a persona saying it is an AI."""
    labels = re.compile(
        r"^\s*(?:" + "|".join(re.escape(s) for s in (*speakers, "user", "assistant")) + r")\s*:",
        re.IGNORECASE | re.MULTILINE,
    )
    for i, turn in enumerate(turns):
        if labels.search(turn.content):
            return Check(False, "role_leakage", f"turn {i} has a speaker label", i)
        leak = LEAK.search(turn.content)
        if leak and (turn.role == "user" or leak.group().startswith("<|")):
            return Check(False, "role_leakage", f"turn {i} contains '{leak.group()}'", i)
    return PASS


# --- near duplicates (MinHash + LSH bands) ----------------------------------------------
class NearDuplicates:
    """Flags a dialogue whose estimated Jaccard similarity (word 5-gram shingles) to an
    earlier one reaches ``threshold``. Deterministic: hashes are keyed blake2b.

    >>> index = NearDuplicates(0.8)
    >>> index.add("a", "the parcel never came and nobody answers my emails at all")
    >>> index.check("the parcel never came and nobody answers my emails at all!").reason
    'near_duplicate'
    >>> index.check("my bill doubled this month and I want to know why").ok
    True
    """

    def __init__(self, threshold: float, perms: int = 64, bands: int = 16) -> None:
        self.threshold = threshold
        self.perms, self.bands, self.rows = perms, bands, perms // bands
        self.signatures: dict[str, tuple[int, ...]] = {}
        self.buckets: dict[tuple[int, tuple[int, ...]], list[str]] = {}

    def signature(self, text: str) -> tuple[int, ...]:
        words = _words(text)
        shingles = {" ".join(words[k : k + 5]) for k in range(max(1, len(words) - 4))}
        return tuple(
            min(
                int.from_bytes(
                    hashlib.blake2b(
                        s.encode(), digest_size=8, key=seed.to_bytes(4, "big")
                    ).digest(),
                    "big",
                )
                for s in shingles
            )
            for seed in range(self.perms)
        )

    def _bands(self, sig: tuple[int, ...]) -> list[tuple[int, tuple[int, ...]]]:
        return [(b, sig[b * self.rows : (b + 1) * self.rows]) for b in range(self.bands)]

    def check(self, text: str) -> Check:
        """Compare ``text`` with every dialogue added so far."""
        sig = self.signature(text)
        candidates = {k for band in self._bands(sig) for k in self.buckets.get(band, ())}
        for other in sorted(candidates):
            similar = sum(a == b for a, b in zip(sig, self.signatures[other], strict=True))
            if similar / self.perms >= self.threshold:
                return Check(False, "near_duplicate", f"~{similar / self.perms:.2f} like {other}")
        return PASS

    def add(self, key: str, text: str) -> None:
        """Remember an accepted dialogue."""
        sig = self.signatures[key] = self.signature(text)
        for band in self._bands(sig):
            self.buckets.setdefault(band, []).append(key)


def dialogue_text(turns: Sequence[Turn]) -> str:
    return "\n".join(t.content for t in turns)


def screen(
    turns: Sequence[Turn],
    speakers: Sequence[str],
    config: FilterConfig,
    turn_range: tuple[int, int],
    duplicates: NearDuplicates | None,
) -> tuple[Check, tuple[Turn, ...]]:
    """Every deterministic check in order; the first failure wins. With ``pii: scrub``
    the returned turns have PII replaced by ``[KIND]``."""
    if config.pii == "scrub":
        turns = [dataclasses.replace(t, content=scrub_pii(t.content)) for t in turns]
    checks = [
        lambda: check_structure(turns, *turn_range),
        lambda: check_length(turns, config.min_turn_chars, config.max_turn_chars),
        lambda: check_repetition(turns, config.repetition_ngram, config.max_ngram_repeats),
        lambda: check_role_leakage(turns, speakers) if config.role_leakage else PASS,
        lambda: check_pii(turns) if config.pii == "reject" else PASS,
        lambda: duplicates.check(dialogue_text(turns)) if duplicates else PASS,
    ]
    for run_check in checks:
        result = run_check()
        if not result.ok:
            return result, tuple(turns)
    return PASS, tuple(turns)
