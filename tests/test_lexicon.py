"""Lexicon layer: Aurora query parser, proximity/truncation/boolean semantics, human-rights lexicon (no database).

Recommendation sentences quoted below are real UPR recommendations as exported by the UPR Info database
(sessions 1-17; cite UPR Info).
"""
from __future__ import annotations

import csv
import io

import pytest

from mappings import table
from matcher.lexicon import Lexicon, Query, make_nlp
from matcher.query_parser import (
    And, AndNot, Near, Or, Phrase, QuerySyntaxError, evaluate, parse_query, to_query,
)


@pytest.fixture(scope="module")
def lex() -> Lexicon:
    return Lexicon.load()


@pytest.fixture(scope="module")
def nlp():
    return make_nlp()


def small(nlp, *queries: str) -> Lexicon:
    """A lexicon of ad-hoc queries, compiled exactly as the shipped ones."""
    return Lexicon([Query(f"t#{i}", "t", "test", q, parse_query(q)) for i, q in enumerate(queries)], nlp=nlp)


def targets(lex: Lexicon, text: str, source: str | None = None) -> set[str]:
    return {h.target for h in lex.match(text) if source is None or h.source == source}


# Parser ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["aurora_v5_queries.csv", "hr_lexicon.csv"])
def test_every_shipped_query_line_parses_and_round_trips(name):
    rows = table(name)
    failures = []
    for row in rows:
        try:
            ast = parse_query(row["query"])
            assert parse_query(to_query(ast)) == ast
            assert parse_query(f"TITLE-ABS-KEY({row['query']})") == ast  # field prefix ignored
        except (QuerySyntaxError, AssertionError) as exc:
            failures.append((row["query_id"], str(exc)))
    assert failures == []
    if name.startswith("aurora"):
        assert len(rows) == 378 and len({r["target"] for r in rows}) == 170


def test_scopus_precedence_or_then_proximity_then_and_then_and_not():
    a, b, c, d, e, f = (Phrase(x) for x in "abcdef")
    ast = parse_query('"a" W/3 "b" OR "c" AND "d" AND NOT "e" OR "f"')
    assert ast == AndNot(And((Near(a, Or((b, c)), 3), d)), Or((e, f)))
    assert parse_query('"a" PRE/2 "b"') == Near(a, b, 2, ordered=True)
    assert parse_query('"a" "b"') == And((a, b))  # juxtaposition is AND, as in Scopus


@pytest.mark.parametrize("bad, pos", [('("a" OR "b"', 11), ('"a" OR "b', 7), ('"a" OR', 6), ('"a" ) "b"', 4), ('""', 0)])
def test_syntax_errors_name_the_offset(bad, pos):
    with pytest.raises(QuerySyntaxError) as err:
        parse_query(bad)
    assert err.value.pos == pos


# Semantics ---------------------------------------------------------------------------------------------
def test_proximity_within_n_words_either_order(nlp):
    lx = small(nlp, '"poverty" W/3 "reduc*"')
    assert lx.match("reduce poverty")
    assert lx.match("poverty must be reduced")  # 2 words between, other order
    assert lx.match("reduce the level of poverty")  # 3 words between
    assert not lx.match("reduce the level of extreme poverty")  # 4 words between
    assert small(nlp, '"poverty" W/4 "reduc*"').match("reduce the level of extreme poverty")
    # punctuation is not a word
    assert lx.match("reduce -- the , level , of poverty")


def test_pre_is_ordered(nlp):
    lx = small(nlp, '"birth" PRE/1 "registration"')
    assert lx.match("birth and registration") and not lx.match("registration of birth")


def test_truncation_and_exact_words(nlp):
    lx = small(nlp, '"educat*"', '"child* labo*"', '"end"', '"socio-economic*"')
    hits = lambda t: {h.query_id for h in lx.match(t)}  # noqa: E731
    assert hits("Education") == hits("educational reform") == hits("to educate") == {"t#0"}
    assert hits("edu") == set()
    assert hits("Children labouring in mines") == hits("child labor") == {"t#1"}
    assert hits("ends") == {"t#2"} and hits("endemic") == set()  # lemma, not prefix
    assert hits("socio economic status") == hits("socio-economics") == {"t#3"}
    assert hits("socioeconomic") == set()  # Aurora lists "socioeconomic*" separately


def test_or_and_and_not(nlp):
    line = '( "poaching" OR "trafficking") AND ("species" OR "wildlife") AND NOT ("marine" OR "ocean*")'
    lx = small(nlp, line)
    assert lx.match("Trafficking of wildlife") and lx.match("wildlife is lost to poaching")
    assert not lx.match("Trafficking of persons")  # AND needs both sides
    assert not lx.match("poaching of marine species")  # AND NOT
    ast = parse_query(line)
    assert evaluate(ast, {"trafficking": [(0, 1)], "wildlife": [(9, 10)]})  # AND is anywhere in the text


def test_spans_point_at_the_matched_words(lex):
    text = "Combat trafficking in persons, especially women and children"
    hits = lex.match(text)
    assert hits
    for h in hits:
        for s in h.spans:
            assert text[s.start_char:s.end_char] == s.text
    spans = {s.text for h in hits if h.target == "8.7" for s in h.spans}
    assert "trafficking in persons" in spans


# Real recommendations ----------------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected, forbidden", [
    ("Criminalize female genital mutilation", {"5.3"}, {"5.2"}),
    ("Accelerate and strengthen its efforts to elaborate laws and policies to deal with female genital "
     "mutilation practices.", {"5.3"}, {"5.2"}),
    ("Combat trafficking in persons, especially women and children", {"5.2", "8.7", "16.2"}, {"15.7", "15.c"}),
    ("Take further steps in combating trafficking in persons.", {"5.2", "8.7", "16.2"}, {"15.7", "15.c"}),
    ("Ensure birth registration for all children", {"16.9"}, set()),
    ("Adopt further measures to ensure birth registration of all children ", {"16.9"}, set()),
    ("Establish a national human rights institution in accordance with the Paris Principles.", {"16.a"}, set()),
    ("Take effective action against child labour, and against smuggling or abduction, exploitation or sexual abuse "
     "of children.", {"8.7", "16.2"}, set()),
    ("Intensify its efforts to protect children from early and forced marriages", {"5.3"}, {"5.2"}),
    ("Review domestic legislation to criminalize domestic violence.", {"5.2"}, {"5.3"}),
    ("Continue its reforms to improve the level and the quality of social protection, education and health",
     {"1.3"}, set()),
    ("Investigate all allegations with respect to torture and inhuman and degrading treatment by Afghan National "
     "Police and the National Directorate of Security.", {"16.1"}, set()),
])
def test_real_recommendations_get_the_expected_targets(lex, text, expected, forbidden):
    got = targets(lex, text)
    assert expected <= got, (expected - got, got)
    assert not (forbidden & got), forbidden & got


def test_trafficking_alone_never_fires_wildlife_or_people_targets(lex):
    assert targets(lex, "Combat drug trafficking and arms trafficking") & {"15.7", "15.c", "5.2", "8.7", "16.2"} == set()
    assert {"15.7", "15.c"} <= targets(lex, "Adopt measures against poaching and trafficking of wildlife species")


def test_hits_carry_their_source(lex):
    hits = lex.match("Criminalize female genital mutilation")
    assert {h.source for h in hits} == {"aurora", "hr_lexicon"}
    assert all(h.query_id.startswith("aurora:" if h.source == "aurora" else "hr:") for h in hits)


def test_match_many_equals_match_and_survives_other_languages(lex):
    texts = ["", "   ", "Ensure birth registration for all children", "Éradiquer la pauvreté et la torture",
             "Erradicar la trata de personas", "!!! ??? ---", "poverty " * 400]
    assert list(lex.match_many(texts, batch_size=2)) == [lex.match(t) for t in texts]
    assert lex.match("") == []
    assert Lexicon.load() is lex  # cached


def test_spacy_matcher_patterns_find_the_same_phrases(lex):
    texts = ["Combat trafficking in persons, especially women and children",
             "Women's rights and under-five mortality; socio-economic inequalities in children's education",
             "Reduce poverty and ensure universal health coverage, family planning and contraceptives for girls"]
    matcher = lex.spacy_matcher()
    norm = lambda h: {k: sorted(set(v)) for k, v in h.items()}  # noqa: E731
    for t in texts:
        doc = lex.nlp.make_doc(t)
        own = lex.phrase_hits(lex.words(doc)[1])
        assert own and norm(lex.spacy_phrase_hits(doc, matcher)) == norm(own)


def test_upr_info_texts_all_match_without_error(lex, shared_data):
    raw = (shared_data / "upr/uprinfo/original/14-17.csv").read_bytes().decode("mac_roman")
    texts = [r["Text"] for r in csv.DictReader(io.StringIO(raw, newline=""))]
    out = list(lex.match_many(texts))
    assert len(out) == len(texts) == 9598
    assert sum(1 for hits in out if hits) > len(texts) / 2
    for text, hits in zip(texts[:500], out[:500]):
        for h in hits:
            assert all(text[s.start_char:s.end_char] == s.text for s in h.spans)


def test_hr_lexicon_covers_the_targets_recommendations_hit_most():
    needed = {"16.1", "16.2", "16.3", "16.5", "16.9", "16.10", "16.a", "16.b", "10.3", "10.7", "5.1", "5.2", "5.3",
              "5.5", "5.6", "5.c", "4.1", "4.5", "4.7", "8.7", "1.3", "3.7", "3.8"}
    rows = table("hr_lexicon.csv")
    assert needed <= {r["target"] for r in rows}
    assert all(r["rationale"].strip() for r in rows)
    assert len({r["query_id"] for r in rows}) == len(rows)
