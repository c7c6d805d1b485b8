"""SDG / theme taxonomies and crosswalks shipped in mappings/ (plain tests, no database)."""
from __future__ import annotations

import csv
import re
import time
from pathlib import Path

import pytest

from mappings import table
from matcher import crosswalks as cw
from matcher import taxonomy as tx
from matcher.cooperation import normalise_marker

README = (Path(tx.__file__).resolve().parents[1] / "mappings" / "README.md").read_text(encoding="utf-8")
THEME_ROWS = table("crosswalk_theme_sdg.csv")
DAC_ROWS = table("crosswalk_dac5_sdg.csv")
MARKER_ROWS = table("crosswalk_markers.csv")


# --------------------------------------------------------------------------- SDG lists
def test_counts_and_codes():
    assert [g["code"] for g in tx.goals()] == [str(n) for n in range(1, 18)]
    assert len(tx.targets()) == 169 and len({t["code"] for t in tx.targets()}) == 169
    assert len(tx.indicators()) == 247 and len({i["code"] for i in tx.indicators()}) == 247
    letters = [t["code"] for t in tx.targets() if re.fullmatch(r"\d+\.[a-z]", t["code"])]
    assert len(letters) == 43 and "4.a" in letters and "17.18" not in letters
    assert len(tx.targets("5")) == 9 and len(tx.targets(17)) == 19


def test_every_target_and_indicator_hangs_off_a_real_parent():
    goals = {g["code"] for g in tx.goals()}
    targets = {t["code"] for t in tx.targets()}
    assert all(t["goal"] in goals and t["code"].split(".")[0] == t["goal"] for t in tx.targets())
    assert all(i["target"] in targets and i["goal"] == i["target"].split(".")[0] for i in tx.indicators())
    assert {t["goal"] for t in tx.targets()} == goals  # every goal has targets
    # deleted in the 2020 review: present in open-sdg, absent from the UNSD list we ship
    assert not {"1.a.3", "8.9.2", "11.c.1", "13.3.2", "17.6.2"} & {i["code"] for i in tx.indicators()}


@pytest.mark.parametrize("rows", [tx.goals, tx.targets, tx.indicators])
def test_titles_in_three_languages(rows):
    for r in rows():
        for lang in tx.LANGS:
            assert r[f"title_{lang}"].strip(), (r["code"], lang)
        assert r["title_fr"] != r["title_en"] and r["title_es"] != r["title_en"], r["code"]


def test_titles_and_languages():
    assert tx.target("5.3").startswith("Eliminate all harmful practices")
    assert "mutilation" in tx.target("5.3", "fr") and "mutilación" in tx.target("5.3", "es")
    assert tx.title("SDG 16", "fr").startswith("Promouvoir")
    assert tx.title("16.10.2").startswith("Number of countries that adopt")
    assert tx.goal_short("5") == "Gender equality" and tx.target("99.9") is None
    with pytest.raises(ValueError, match="language 'de'"):
        tx.target("5.2", "de")


@pytest.mark.parametrize("raw, code", [
    ("4.a", "4.a"), ("4.A", "4.a"), ("Target 4.a", "4.a"), ("SDG 4.a", "4.a"), ("04.1", "4.1"),
    ("17.18", "17.18"), ("16.10", "16.10"), ("16.1", "16.1"), (" 6.b. ", "6.b"), ("SDG target 5.2:", "5.2"),
    ("Cible 5.c", "5.c"), ("(10.7)", "10.7"),
    ("18.1", None), ("4.z", None), ("1.8", None), ("5.2.1", None), ("5", None), ("", None), (None, None),
    ("15.70", None), ("4,1", None),
])
def test_target_normalisation(raw, code):
    assert tx.normalise_target(raw) == code
    assert tx.is_valid_target(raw) is (code is not None)


def test_goal_of_and_other_levels():
    assert tx.goal_of("4.a") == "4" and tx.goal_of("16.10.2") == "16" and tx.goal_of("Goal 05") == "5"
    assert tx.goal_of("18") is None and tx.normalise_goal("SDG 17") == "17" and tx.normalise_goal("0") is None
    assert tx.normalise_indicator("1.1.1") == "1.1.1" and tx.normalise_indicator("1.a.3") is None


def test_lookups_are_fast():
    codes = [t["code"].upper() for t in tx.targets()] * 300  # ~50,000 lookups
    start = time.perf_counter()
    assert all(tx.is_valid_target(c) for c in codes)
    assert time.perf_counter() - start < 2.0


# --------------------------------------------------------------------------- theme vocabularies
def test_uprinfo_themes_and_spellings():
    themes = tx.themes("uprinfo")
    assert len(themes) == 54 and len({t["code"] for t in themes}) == 54
    assert tx.theme_code("uprinfo", "Women's rights") == "women-s-rights"
    assert tx.theme_code("uprinfo", "HIV - Aids") == "hiv-aids" and tx.theme_code("uprinfo", "nonsense") is None
    with pytest.raises(ValueError, match="unknown theme vocabulary"):
        tx.themes("unesco")


def test_uhri_themes():
    rows = tx.themes("uhri")
    codes = {r["code"] for r in rows}
    assert len(codes) == len(rows)
    coded = [r for r in rows if r["scheme"] == "coded"]
    assert all(re.fullmatch(r"[A-H]\d{1,2}", r["code"]) for r in coded) and len(coded) >= 50
    assert all(r["same_as"] in codes for r in rows if r["same_as"])
    # the spellings that the UHRI / OHCHR readers emit all resolve
    assert tx.theme_code("uhri", "A12 Acceptance of international norms") == "A12"
    assert tx.theme_code("uhri", "Budget &resources (for human rights implementation)") == \
        "Budget & resources (for human rights implementation)"
    assert tx.theme_label("uhri", "B32") == "Racial discrimination"


# --------------------------------------------------------------------------- crosswalks: every link
@pytest.mark.parametrize("name, rows", [("theme", THEME_ROWS), ("dac", DAC_ROWS), ("markers", MARKER_ROWS)])
def test_every_link_has_basis_and_rationale(name, rows):
    assert rows
    for r in rows:
        assert r["basis"] in cw.BASES, r
        assert len(r["rationale"].strip()) >= 15, r  # a reason, not a keyword


@pytest.mark.parametrize("rows", [THEME_ROWS, DAC_ROWS])
def test_every_crosswalk_target_is_a_canonical_target(rows):
    for r in rows:
        if r["target"]:
            assert tx.normalise_target(r["target"]) == r["target"], r
        if "goal" in r and r["target"]:
            assert r["goal"] == tx.goal_of(r["target"]), r


def test_theme_crosswalk_covers_all_54_uprinfo_themes():
    ids = {t["code"] for t in tx.themes("uprinfo")}
    in_crosswalk = {r["theme"] for r in THEME_ROWS if r["vocabulary"] == "uprinfo"}
    assert in_crosswalk == ids
    no_target = {t for t in ids if cw.theme_no_target_reason(t)}
    for t in ids - no_target:
        assert cw.theme_targets(t), t
    for t in no_target:  # a no-target theme has exactly its one explanatory row, and README lists it
        assert len([r for r in THEME_ROWS if r["vocabulary"] == "uprinfo" and r["theme"] == t]) == 1
        assert f"`{t}`" in README, f"{t} maps to no target but README does not list it"
    assert len(no_target) == 8


def test_every_uhri_theme_is_covered_directly_or_through_its_coded_twin():
    codes = {r["code"] for r in tx.themes("uhri")}
    assert {r["theme"] for r in THEME_ROWS if r["vocabulary"] == "uhri"} <= codes
    assert [c for c in codes if not cw.theme_covered(c, "uhri")] == []
    # an uncoded label without rows of its own inherits the coded twin's
    assert cw.theme_targets("Racial discrimination", "uhri") == cw.theme_targets("B32", "uhri")


def test_trafficking_is_never_wildlife_trafficking():
    assert {t for t, _, _ in cw.theme_targets("trafficking")} == {"5.2", "8.7", "16.2"}
    for theme in ("D27", "Human trafficking & contemporary forms of slavery"):
        assert {"5.2", "8.7", "16.2"} <= {t for t, _, _ in cw.theme_targets(theme, "uhri")}
    for r in THEME_ROWS + DAC_ROWS:
        if "traffick" in (r.get("theme", "") + r["rationale"]).lower() or r.get("theme") == "trafficking":
            assert r["target"] != "15.7", r
    assert all(r["target"] != "15.7" for r in THEME_ROWS)  # no human-rights theme is about wildlife


def test_fgm_is_harmful_practice_not_violence_target():
    fgm = [r for r in THEME_ROWS + DAC_ROWS if re.search(r"\bFGM|genital mutilation", r["rationale"], re.I)]
    assert fgm and all(r["target"] == "5.3" for r in fgm)
    assert "5.3" in {t for t, _, _ in cw.theme_targets("women-s-rights")}
    assert {t for t, _, _ in cw.dac_targets("15180")} == {"5.2", "5.3"}


def test_death_penalty_and_instruments_are_justified():
    assert cw.theme_targets("death-penalty")[0][:2] == ("16.3", "curated")
    assert ("16.1", "inferred") in [(t, b) for t, b, _ in cw.theme_targets("death-penalty")]
    assert cw.theme_targets("international-instruments") == []
    assert "ratification" in cw.theme_no_target_reason("International instruments")


# --------------------------------------------------------------------------- DAC sectors
def test_every_dac_code_has_a_crosswalk_row_and_all_are_inferred():
    sectors = table("dac_sectors.csv")
    dac5 = {r["code"] for r in sectors if r["level"] == "dac5"}
    dac3 = {r["code"] for r in sectors if r["level"] == "dac3"}
    assert len(dac5) == 325 and len(dac3) == 44
    assert {r["code"] for r in DAC_ROWS} == dac5 | dac3
    assert {r["basis"] for r in DAC_ROWS} == {"inferred"}
    for r in DAC_ROWS:  # goal-only rows carry a goal; "no link" rows carry neither
        assert not r["target"] or r["goal"] == tx.goal_of(r["target"])
        assert not r["goal"] or tx.normalise_goal(r["goal"]) == r["goal"]
        if not r["target"] and not r["goal"]:
            assert len([x for x in DAC_ROWS if x["code"] == r["code"]]) == 1, r


@pytest.mark.parametrize("code, expected", [
    ("11220", {"4.1"}), ("12262", {"3.3"}), ("13030", {"3.7", "5.6"}), ("14031", {"6.1"}),
    ("15113", {"16.5"}), ("15190", {"10.7"}), ("15220", {"16.1"}), ("15261", {"8.7", "16.2"}),
    ("15170", {"5.1", "5.c", "5.5"}), (15160, {"16.10", "16.a", "16.b"}), ("60020", {"17.4"}),
])
def test_dac_main_codes(code, expected):
    assert {t for t, _, _ in cw.dac_targets(code)} == expected


def test_dac_fallback_dac5_to_dac3_to_nothing():
    assert cw.dac_targets("12299") == cw.dac_targets("122") == [("3.8", "inferred", cw.dac_links("122")[0].rationale)]
    assert cw.dac_targets("11199") == [] and cw.dac_goals("11199") == ["4"]  # category 111 is goal-only
    assert cw.dac_links("99999") == () and cw.dac_links("abc") == () and cw.dac_links("") == ()
    assert cw.dac_links("51010")[0].target == "" and cw.dac_goals("51010") == []
    assert cw.dac_targets(14031.0) == cw.dac_targets("14031")
    assert cw.dac_sector("15180")["dac3"] == "151"


# --------------------------------------------------------------------------- markers
def test_marker_codes_match_what_the_uninfo_reader_emits():
    cells = {"gender": "3 - Gender equality/ women’s empowerment is the principal objective",
             "human_rights": "2 - Significant contribution to realization of human rights",
             "sustaining_peace": "3 - Sustaining Peace is the principal objective",
             "humanitarian": "Appeal"}
    codes = {r["uninfo_code"] for r in MARKER_ROWS if r["uninfo_vocabulary"] == "uninfo_marker"}
    for marker, cell in cells.items():
        m = normalise_marker(marker, cell)
        assert f"{m['marker']}:{m['code']}" in codes, (marker, m)
    assert {f"gender:{n}" for n in range(4)} <= codes and {f"human_rights:{n}" for n in range(4)} <= codes


def test_marker_scales_and_round_trip():
    sig = {"0", "1", "2", "3", "4"}  # IATI PolicySignificance codelist
    pm = [r for r in MARKER_ROWS if r["iati_vocabulary"] == "policy_marker"]
    assert {r["iati_code"] for r in pm} == {str(n) for n in range(1, 13)}  # every DAC marker is placed
    assert all(r["iati_significance"] in sig | {""} for r in pm)
    assert all(r["relation"] in ("equivalent", "approximate", "none") for r in MARKER_ROWS)
    [to] = [r for r in cw.uninfo_to_iati("gender:3") if r["iati_vocabulary"] == "policy_marker"]
    assert (to["iati_code"], to["iati_significance"]) == ("1", "2")
    assert [r["uninfo_code"] for r in cw.iati_to_uninfo("1", 2)] == ["gender:3"]
    assert [r["uninfo_code"] for r in cw.iati_to_uninfo(1, "0")] == ["gender:0"]  # GEM 1 is not read back
    assert cw.uninfo_to_iati("sustaining_peace:0") == [] and cw.iati_to_uninfo("5", 2) == []
    assert [r["iati_code"] for r in cw.iati_to_uninfo("2", vocabulary="humanitarian_scope_type")] == ["2"]


# --------------------------------------------------------------------------- against the source data
def test_shipped_sdg_lists_match_the_iati_unsd_codelists(shared_data):
    folder = shared_data / "iati" / "codelists" / "csv"
    for name, rows in (("UNSDG-Targets.csv", tx.targets()), ("UNSDG-Indicators.csv", tx.indicators())):
        with (folder / name).open(encoding="utf-8", newline="") as fh:
            source = {r["code"] for r in csv.DictReader(fh) if r["status"] == "active"}
        assert source == {r["code"] for r in rows}, name
