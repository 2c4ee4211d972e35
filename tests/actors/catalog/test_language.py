"""Telling a query's script, Greeklish back into Greek, and the sound key that lets loose spelling meet a title."""

from __future__ import annotations

import pytest

from actors.catalog.language import Script, detect_script, greeklish_to_greek, sound_key


@pytest.mark.parametrize(
    ("query", "script"),
    [
        ("επίδομα θέρμανσης", Script.GREEK),
        ("ΑΔΕΙΑ ΟΔΗΓΗΣΗΣ", Script.GREEK),
        ("birth certificate", Script.LATIN),
        ("epidoma gennisis", Script.LATIN),
        ("βεβαίωση e-ΕΦΚΑ", Script.GREEK),  # a Latin prefix in a Greek query
        ("αίτηση ΑΦΜ online", Script.GREEK),  # Greek letters count double
        ("Résumé café", Script.LATIN),
        ("123 / 2024", Script.NONE),
        ("", Script.NONE),
    ],
)
def test_detect_script(query: str, script: Script) -> None:
    assert detect_script(query) is script


@pytest.mark.parametrize(
    ("greeklish", "greek"),
    [
        ("epidoma gennisis", "επιδομα γεννισισ"),
        ("pistopoiitiko", "πιστοποιιτικο"),
        ("thermansis", "θερμανσισ"),
        ("8ermansi", "θερμανσι"),
        ("psifos", "ψιφοσ"),
        ("praksi", "πραξι"),
        ("suntaxh", "συνταχη"),
        ("xorigisi", "χοριγισι"),  # x is χ in the Greeklish people type (ELOT writes ch)
        ("chorigisi", "χοριγισι"),
        ("hartia", "χαρτια"),  # h before a vowel opens a syllable: χ
        ("gennhshs", "γεννησησ"),  # elsewhere h is η
        ("ananewsh", "ανανεωση"),
        ("nomou", "νομου"),
        ("mpakaliko", "μπακαλικο"),
        ("Ανανέωση 2024", "2024"),  # not Latin: dropped, digits kept
    ],
)
def test_greeklish_to_greek(greeklish: str, greek: str) -> None:
    assert greeklish_to_greek(greeklish).strip() == greek


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        ("γέννησης", "γενισισ"),
        ("Ευρωπαϊκή", "εβροπεκι"),
        ("ευρωπαικη", "εβροπεκι"),
        ("εκλογικούς", "εκλογικουσ"),
        ("ΑΓΓΕΛΙΑ", "αγκελια"),
        ("σύνταξη", "σινταχι"),
        ("ληξιαρχική", "λιχιαρχικι"),
    ],
)
def test_sound_key(written: str, spoken: str) -> None:
    assert sound_key(written) == spoken


@pytest.mark.parametrize(
    ("greeklish", "title_word"),
    [
        ("epidoma", "επίδομα"),
        ("gennisis", "γέννησης"),
        ("gennhshs", "γέννησης"),
        ("genisis", "γέννησης"),
        ("thermansis", "θέρμανσης"),
        ("pistopoiitiko", "πιστοποιητικό"),
        ("pistopoihtiko", "πιστοποιητικό"),
        ("eurwpaikh", "ευρωπαϊκή"),
        ("evropaiki", "ευρωπαϊκή"),
        ("tautotita", "ταυτότητα"),
        ("taftotita", "ταυτότητα"),
        ("lixiarxiki", "ληξιαρχική"),
        ("lhksiarxikh", "ληξιαρχική"),
        ("syntaksi", "σύνταξη"),
        ("suntaxh", "σύνταξη"),
        ("eggrafi", "εγγραφή"),
        ("engrafi", "εγγραφή"),
        ("diavatirio", "διαβατήριο"),
        ("anergias", "ανεργίας"),
    ],
)
def test_greeklish_and_its_greek_word_share_a_sound_key(greeklish: str, title_word: str) -> None:
    assert sound_key(greeklish_to_greek(greeklish)) == sound_key(title_word)
