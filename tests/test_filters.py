"""Deterministic filters, table-driven: every reason, PII true positives and look-alikes."""

import pytest

from dialoggen.filters import (
    NearDuplicates,
    check_length,
    check_pii,
    check_repetition,
    check_role_leakage,
    check_structure,
    find_pii,
    screen,
    scrub_pii,
)
from dialoggen.recipe import FilterConfig
from dialoggen.types import Turn


def chat(*texts: str) -> list[Turn]:
    return [
        Turn(("user", "assistant")[i % 2], ("Ana", "Assistant")[i % 2], t)
        for i, t in enumerate(texts)
    ]


GOOD = chat("my parcel is late", "sorry, let me check the tracking", "thanks", "it arrives today")


@pytest.mark.parametrize(
    ("turns", "reason", "turn"),
    [
        (GOOD[:3], "structure", None),  # too few turns
        ([GOOD[1], GOOD[0], GOOD[2], GOOD[3]], "structure", 0),  # roles do not alternate
        (chat("hi", " ", "x y", "ok"), "structure", 1),  # empty turn
    ],
)
def test_structure(turns, reason, turn):
    result = check_structure(turns, 4, 6)
    assert (result.ok, result.reason, result.turn) == (False, reason, turn)


def test_structure_and_length_pass_a_good_dialogue():
    assert check_structure(GOOD, 4, 6).ok and check_length(GOOD, 2, 200).ok


@pytest.mark.parametrize(
    ("turns", "turn"),
    [(chat("a", "fine", "ok", "ok!"), 0), (chat("fine", "ok", "x" * 300, "ok"), 2)],
)
def test_length(turns, turn):
    result = check_length(turns, 2, 200)
    assert (result.ok, result.reason, result.turn) == (False, "length", turn)


@pytest.mark.parametrize(
    ("turns", "detail"),
    [
        (chat("where is it", "checking now", "Where is it?", "ok"), "turn 2 repeats turn 0"),
        (
            chat("hi", "I can help you I can help you I can help you I can help you", "ok", "bye"),
            "turn 1 loops 'i can help you' x4",
        ),
    ],
)
def test_repetition(turns, detail):
    result = check_repetition(turns)
    assert (result.ok, result.reason, result.detail) == (False, "repetition", detail)


def test_repetition_allows_normal_reuse_of_words():
    assert check_repetition(
        chat("I can pay", "you can pay by card", "can I pay later", "yes you can pay later")
    ).ok


@pytest.mark.parametrize(
    ("text", "role"),
    [
        ("Assistant: sure, here you go", "assistant"),
        ("Ana: hello?", "user"),
        ("thanks <|im_end|>", "assistant"),
        ("As an AI, I cannot eat cake", "user"),
    ],
)
def test_role_leakage(text, role):
    turns = [Turn(role, "x", text)] * 1
    result = check_role_leakage(turns, ["Ana", "Assistant"])
    assert (result.ok, result.reason) == (False, "role_leakage")


def test_role_leakage_passes_an_assistant_that_says_it_is_an_ai():
    assert check_role_leakage(
        [Turn("assistant", "x", "As an AI assistant I can help.")], ["Ana", "Assistant"]
    ).ok


PII = [
    ("write to ana.lopez+shop@example.co.uk", "email"),
    ("call me on 415-555-0132", "phone"),
    ("my number is +44 7700 900123", "phone"),
    ("ring (020) 7946 0958 after six", "phone"),
    ("card 4111 1111 1111 1111 exp 09/27", "card"),
    ("use 5500-0000-0000-0004 please", "card"),
    ("IBAN GB82 WEST 1234 5698 7654 32", "iban"),
    ("IBAN DE89370400440532013000", "iban"),
    ("I live at 221 Baker Street in town", "address"),
    ("deliver to 1600 Pennsylvania Avenue", "address"),
    ("SSN 123-45-6789", "government_id"),
    ("NI number AB 12 34 56 C", "government_id"),
]


@pytest.mark.parametrize(("text", "kind"), PII)
def test_pii_true_positives(text, kind):
    assert kind in [k for k, _ in find_pii(text)]
    result = check_pii(chat("hi", text, "ok", "bye"))
    assert (result.ok, result.reason, result.turn) == (False, "pii", 1)


LOOK_ALIKES = [
    "order #48213577 shipped",
    "your order ORD-2024-118823 is ready",
    "it was delivered on 2024-11-25 at 10:30",
    "on 25/11/2024 the price was $1,299.00",
    "update the app to v2.13.0 or 10.4.1",
    "tracking 1Z999AA10123456784",
    "reference 1234 5678 9012 3456",  # 16 digits that fail the Luhn check
    "IBAN-like GB00 WEST 1234 5698 7654 32",  # fails mod 97
    "we have 3 Main offers this week",
    "call the 24/7 line at 0800",
    "ticket 2024-118823-7 is closed",
]


@pytest.mark.parametrize("text", LOOK_ALIKES)
def test_pii_look_alikes_pass(text):
    assert find_pii(text) == []


def test_scrub_replaces_spans():
    assert scrub_pii("mail ana@example.org now") == "mail [EMAIL] now"


def test_near_duplicates_are_caught_and_distinct_dialogues_pass():
    index = NearDuplicates(0.8)
    base = (
        "my parcel never arrived and the tracking page has said out for delivery for a week. "
        "I am sorry to hear that, can you share the order number so I can check with the "
        "courier? Sure, it is the blue jacket I ordered on Monday for my daughter's birthday. "
        "Thanks, I can see the courier lost it, so I will send a replacement by express today."
    )
    index.add("a", base)
    assert index.check(base + " now").reason == "near_duplicate"
    assert index.check(base.replace("parcel", "package")).reason == "near_duplicate"
    assert index.check("can you help me change the name on my account to my married name").ok


def test_screen_runs_every_check_and_scrubs_when_asked():
    pii = chat("hi there", "my mail is bo@example.org", "ok then", "bye now")
    check, _ = screen(pii, ["Ana", "Assistant"], FilterConfig(), (4, 6), None)
    assert check.reason == "pii"
    check, turns = screen(pii, ["Ana", "Assistant"], FilterConfig(pii="scrub"), (4, 6), None)
    assert check.ok and turns[1].content == "my mail is [EMAIL]"
