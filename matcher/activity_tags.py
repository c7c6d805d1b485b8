"""Tags of donor activities: sectors, declared SDGs (all four IATI routes), policy markers, other tags.

IATI lets a publisher declare SDGs four ways, and each tag keeps the way it came (``route``):

=============================  ==========================  ============================
route                          IATI element                 vocabulary
=============================  ==========================  ============================
``tag-vocab-2`` / ``-3``       ``tag/@vocabulary`` 2 / 3   sdg_goal / sdg_target
``sector-vocab-7`` / 8 / 9     ``sector/@vocabulary``      sdg_goal / target / indicator
``transaction-sector-vocab-N`` ``transaction/sector``      as above
``result-indicator-vocab-9``   ``result/indicator/         sdg_indicator
                               reference/@vocabulary`` 9
``implied``                    a target implies its goal, an indicator its target and goal
=============================  ==========================  ============================

An implied tag is added only when no route declared that goal/target itself.  Codes that are not
SDG codes ("Goal 3" is read as 3; "3.3.1" under a target vocabulary is not a target) are reported
and left out, never guessed.
"""
from __future__ import annotations

import re
from typing import Any, Callable, Iterable, Optional

SECTOR_VOCABULARIES: dict[str, str] = {
    "1": "dac5", "2": "dac3", "3": "cofog", "4": "nace", "5": "ntee", "6": "aiddata", "10": "iasc_cluster",
    "11": "naics", "12": "un_system_function", "98": "sector_reporting_org", "99": "sector_reporting_org",
    "DAC": "dac5", "DAC-3": "dac3",  # 1.0x names, still met in 2.0x files
}
SDG_SECTOR_VOCABULARIES = {"7": "sdg_goal", "8": "sdg_target", "9": "sdg_indicator"}
SDG_TAG_VOCABULARIES = {"2": "sdg_goal", "3": "sdg_target"}
SDG_INDICATOR_VOCABULARY = "9"  # IndicatorVocabulary 9 = UN SDG indicators
DAC_POLICY_MARKERS = {
    "1": "Gender Equality", "2": "Aid to Environment", "3": "Participatory Development/Good Governance",
    "4": "Trade Development", "5": "Biodiversity", "6": "Climate Change - Mitigation",
    "7": "Climate Change - Adaptation", "8": "Desertification", "9": "Reproductive, Maternal, Newborn and Child Health",
    "10": "Disaster Risk Reduction", "11": "Disability", "12": "Nutrition",
}

_GOAL = re.compile(r"^(?:(?:sdg|goal)\s*)?0?([1-9]|1[0-7])$", re.I)
_TARGET = re.compile(r"^0?([1-9]|1[0-7])\.(\d{1,2}|[a-z])$", re.I)
_INDICATOR = re.compile(r"^0?([1-9]|1[0-7])\.(\d{1,2}|[a-z])\.(\d{1,2})$", re.I)

Report = Callable[[str, str], None]  # (field, message) for an element that had to be left out


def sdg_code(vocabulary: str, raw: Optional[str]) -> Optional[str]:
    """Canonical SDG code ("5", "5.2", "5.a", "5.2.1") of ``vocabulary``, or None if not one."""
    s = " ".join((raw or "").split())
    if vocabulary == "sdg_goal":
        m = _GOAL.match(s)
        return str(int(m.group(1))) if m else None
    if vocabulary == "sdg_target":
        m = _TARGET.match(s)
        return f"{int(m.group(1))}.{_part(m.group(2))}" if m else None
    m = _INDICATOR.match(s)
    return f"{int(m.group(1))}.{_part(m.group(2))}.{int(m.group(3))}" if m else None


def _part(p: str) -> str:
    return str(int(p)) if p.isdigit() else p.lower()


def _tag(vocabulary: str, code: str, label: Optional[str], route: str, share_pct: Optional[float] = None,
         extra: Optional[dict] = None) -> dict[str, Any]:
    return {"vocabulary": vocabulary, "code": code, "label": label, "origin": "declared", "route": route,
            "share_pct": share_pct, "extra": extra or None}


def _sdg_tag(vocabulary: str, raw_code: Optional[str], label, route, share_pct, report: Report, where: str):
    code = sdg_code(vocabulary, raw_code)
    if code is None:
        report(where, f"'{raw_code}' is not an SDG {vocabulary.removeprefix('sdg_')} code: left out")
        return None
    return _tag(vocabulary, code, label, route, share_pct, {"as_written": raw_code} if raw_code != code else None)


def sector_tags(sectors: Iterable[dict], *, route: str, report: Report) -> list[dict[str, Any]]:
    """Tags of activity-level (``route="activity"``) or transaction-level sectors.

    Each sector dict has code, vocabulary, vocabulary_uri, share_pct, label, where.  SDG vocabularies
    7/8/9 become sdg_goal/target/indicator with route ``sector-vocab-N`` (``transaction-sector-vocab-N``).
    Transaction-level sectors are merged per (vocabulary, code) with the number of transactions.
    """
    out: dict[tuple, dict[str, Any]] = {}
    prefix = "transaction-" if route == "transaction" else ""
    for s in sectors:
        vocab = (s.get("vocabulary") or "1").strip()
        code = (s.get("code") or "").strip()
        if not code:
            report(s["where"], "sector without a code: left out")
            continue
        if vocab in SDG_SECTOR_VOCABULARIES:
            tag = _sdg_tag(SDG_SECTOR_VOCABULARIES[vocab], code, s.get("label"), f"{prefix}sector-vocab-{vocab}",
                           s.get("share_pct") if route == "activity" else None, report, s["where"])
        else:
            name = SECTOR_VOCABULARIES.get(vocab) or SECTOR_VOCABULARIES.get(vocab.upper())
            extra = {"iati_vocabulary": vocab}
            if s.get("vocabulary_uri"):
                extra["vocabulary_uri"] = s["vocabulary_uri"]
            if name is None:
                report(s["where"], f"unknown sector vocabulary '{vocab}': kept as sector_vocab_{vocab}")
                name = f"sector_vocab_{vocab}"
            tag = _tag(name, code, s.get("label"), route, s.get("share_pct") if route == "activity" else None, extra)
        if tag is None:
            continue
        key = (tag["vocabulary"], tag["code"], tag["route"])
        if key in out:
            if route == "transaction":
                out[key]["extra"] = dict(out[key]["extra"] or {}, transactions=(out[key]["extra"] or {}).get("transactions", 1) + 1)
            continue
        if route == "transaction":
            tag["extra"] = dict(tag["extra"] or {}, transactions=1)
        out[key] = tag
    return list(out.values())


def tag_tags(tags: Iterable[dict], *, report: Report) -> list[dict[str, Any]]:
    """IATI ``tag`` elements: vocabulary 2/3 -> SDG goal/target (routes tag-vocab-2/3), others -> ``iati_tag``."""
    out = []
    for t in tags:
        vocab = (t.get("vocabulary") or "").strip()
        code = (t.get("code") or "").strip()
        if vocab in SDG_TAG_VOCABULARIES:
            tag = _sdg_tag(SDG_TAG_VOCABULARIES[vocab], code, t.get("label"), f"tag-vocab-{vocab}", None, report, t["where"])
        elif code or t.get("label"):
            extra = {"iati_vocabulary": vocab or None}
            if t.get("vocabulary_uri"):
                extra["vocabulary_uri"] = t["vocabulary_uri"]
            tag = _tag("iati_tag", code or (t.get("label") or ""), t.get("label"), "tag", None, extra)
        else:
            report(t["where"], "tag without code or text: left out")
            tag = None
        if tag is not None:
            out.append(tag)
    return out


def indicator_tags(refs: Iterable[dict], *, report: Report) -> list[dict[str, Any]]:
    """SDG indicators declared as result indicator references of vocabulary 9."""
    out = []
    for r in refs:
        if (r.get("vocabulary") or "").strip() != SDG_INDICATOR_VOCABULARY:
            continue
        tag = _sdg_tag("sdg_indicator", r.get("code"), None, "result-indicator-vocab-9", None, report, r["where"])
        if tag is not None:
            out.append(tag)
    return out


def policy_marker_tags(markers: Iterable[dict], *, report: Report) -> list[dict[str, Any]]:
    """DAC policy markers (vocabulary ``policy_marker``) with their significance in ``extra``.

    Markers of the reporting organisation's own vocabulary (99) go to ``policy_marker_reporting_org``
    so that their codes never mix with the DAC ones.
    """
    out = []
    for m in markers:
        vocab = (m.get("vocabulary") or "1").strip()
        code = (m.get("code") or "").strip()
        if not code:
            report(m["where"], "policy-marker without a code: left out")
            continue
        dac = vocab in ("1", "DAC")
        label = m.get("label") or (DAC_POLICY_MARKERS.get(code) if dac else None)
        extra = {"significance": m.get("significance"), "iati_vocabulary": vocab}
        if m.get("vocabulary_uri"):
            extra["vocabulary_uri"] = m["vocabulary_uri"]
        out.append(_tag("policy_marker" if dac else "policy_marker_reporting_org", code, label, "policy-marker", None, extra))
    return out


def with_implied_goals(tags: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``tags`` de-duplicated per (vocabulary, code, route), plus goals/targets implied by targets/indicators.

    An implied goal (target) is added once, with route ``implied``, only when no route declared it.
    """
    seen: set[tuple] = set()
    out: list[dict[str, Any]] = []
    for t in tags:
        key = (t["vocabulary"], t["code"], t["route"])
        if key not in seen:
            seen.add(key)
            out.append(t)
    declared = {(t["vocabulary"], t["code"]) for t in out}
    implied: list[dict[str, Any]] = []
    for t in out:
        wanted = []
        if t["vocabulary"] == "sdg_indicator":
            goal, target, _ = t["code"].split(".")
            wanted = [("sdg_target", f"{goal}.{target}"), ("sdg_goal", goal)]
        elif t["vocabulary"] == "sdg_target":
            wanted = [("sdg_goal", t["code"].split(".")[0])]
        for vocab, code in wanted:
            if (vocab, code) not in declared:
                declared.add((vocab, code))
                implied.append(_tag(vocab, code, None, "implied", None, {"implied_by": f"{t['vocabulary']} {t['code']}"}))
    return out + implied
