"""Normalising UPR recommendations: text, response, action category, cycle, ids, record building.

Readers call ``recommendation_record`` with what the source says; every rule lives here once.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable, Optional

from mappings import table

from .countries import to_iso3
from .records import Batch, ItemRecord, stable_id

# --------------------------------------------------------------------------- text
_PARA_NUMBER = re.compile(r"^\s*(?:\d{1,3}(?:\.\d{1,3}){1,2})\.?\s+")
# A trailing "(State)" / "(State, State and State)" / "(Bahamas) ;" after the sentence.
_TRAILING_STATES = re.compile(r"\s*\(([^()]{2,400})\)\s*[;.,]?\s*$")
_SPACES = re.compile(r"[ \t\u00a0]+")


def split_paragraph(text: str) -> tuple[Optional[str], str]:
    """('115.1', rest) when the text starts with a paragraph number, else (None, text)."""
    m = _PARA_NUMBER.match(text)
    if not m:
        return None, text
    return m.group(0).strip().rstrip("."), text[m.end():]


def trailing_states(text: str) -> tuple[list[str], str]:
    """Recommending states named in a trailing parenthesis, and the text without it.

    Only a parenthesis whose every part resolves to a country counts, so '(CEDAW)' or
    '(2015-2020)' at the end of a sentence stay in the text.
    """
    m = _TRAILING_STATES.search(text)
    if not m:
        return [], text
    parts: list[str] = []
    for part in (p.strip() for p in re.split(r"[,;]", m.group(1))):
        if not part:
            continue
        if to_iso3(part):  # "Bosnia and Herzegovina" stays whole
            parts.append(part)
            continue
        pieces = [x.strip() for x in re.split(r"\band\b", part) if x.strip()]
        if not pieces or any(to_iso3(x) is None for x in pieces):
            return [], text
        parts.extend(pieces)
    if not parts:
        return [], text
    return parts, text[: m.start()]


def clean_text(text: str) -> tuple[str, Optional[str], list[str]]:
    """(clean text, paragraph number, trailing states) of a recommendation as written."""
    text = _SPACES.sub(" ", text.replace("\r", "\n")).strip()
    para, rest = split_paragraph(text)
    states, rest = trailing_states(rest)
    rest = rest.strip().rstrip(";,").strip()
    return rest, para, states


def all_trailing_states(text: str) -> tuple[list[str], str]:
    """Every trailing state group, as OHCHR writes joint recommendations since cycle 3.

    'Ratify X (France) (Lithuania);' -> (['France', 'Lithuania'], 'Ratify X'); a group that is not
    all countries, like '(No. 189)', ends the search and stays in the text.
    """
    found: list[str] = []
    rest = text
    while True:
        states, shorter = trailing_states(rest)
        if not states:
            return found, rest
        found = states + found
        rest = shorter.rstrip().rstrip(";,").rstrip()


# --------------------------------------------------------------------------- response
_RESPONSES = {
    "accepted": "accepted", "accept": "accepted", "supported": "accepted", "support": "accepted",
    "noted": "noted", "note": "noted", "not accepted": "noted", "rejected": "noted", "not supported": "noted",
    "partially accepted": "partially_accepted", "partially supported": "partially_accepted",
    "supported/noted": "partially_accepted", "accepted/noted": "partially_accepted",
    "supported in part": "partially_accepted", "partially": "partially_accepted",
    "pending": "pending", "": "pending", "-": "pending", "no response": "pending", "deferred": "pending",
    "voluntary pledge": "voluntary_pledge", "voluntary commitment": "voluntary_pledge", "pledge": "voluntary_pledge",
}


def normalise_response(raw: Optional[str]) -> Optional[str]:
    """accepted | noted | partially_accepted | pending | voluntary_pledge, or None if unrecognised."""
    key = " ".join((raw or "").replace("\u00a0", " ").split()).casefold().rstrip(".")
    return _RESPONSES.get(key)


# --------------------------------------------------------------------------- action category
@lru_cache(maxsize=1)
def _verb_rules() -> list[tuple[str, int]]:
    rules = [(r["verb"].casefold(), int(r["category"])) for r in table("action_verbs.csv")]
    return sorted(rules, key=lambda vc: -len(vc[0]))  # multi-word phrases first


_LEAD_IN = re.compile(
    r"^(?:that\s+)?(?:the\s+government\s+(?:should\s+)?|it\s+(?:should\s+)?|to\s+|also\s+|further\s+to\s+|"
    r"urgently\s+|swiftly\s+|promptly\s+|immediately\s+|effectively\s+|fully\s+|duly\s+|actively\s+|"
    r"expeditiously\s+|as\s+a\s+matter\s+of\s+priority,?\s+|as\s+soon\s+as\s+possible,?\s+)+",
    re.I,
)


def derive_action_category(text: str) -> int:
    """UPR Info action category 1-5 from the leading verb (mappings/action_verbs.csv); 4 if unknown."""
    lead = _LEAD_IN.sub("", text.strip().lstrip("-•*").strip()).casefold()
    for verb, cat in _verb_rules():
        if lead.startswith(verb) and (len(lead) == len(verb) or not lead[len(verb)].isalpha()
                                      or lead[len(verb):].startswith(("s ", "es ", "d ", "ed "))):
            return cat
    return 4


def parse_action_category(raw) -> Optional[int]:
    """An action category given by a source (1-5), or None when absent or invalid."""
    try:
        value = int(str(raw).strip())
    except (TypeError, ValueError):
        return None
    return value if 1 <= value <= 5 else None


# --------------------------------------------------------------------------- cycle / session
def cycle_of_session(session: Optional[int]) -> Optional[int]:
    """UPR cycle of a Working Group session: 1-12 -> 1, 13-26 -> 2, 27-40 -> 3, 41-54 -> 4 ..."""
    if session is None or session < 1:
        return None
    return 1 if session <= 12 else 2 + (session - 13) // 14


def parse_int(raw) -> Optional[int]:
    try:
        return int(float(str(raw).strip()))
    except (TypeError, ValueError):
        return None


# --------------------------------------------------------------------------- building records
def recommendation_record(
    batch: Batch,
    *,
    row_ref: str | int,
    state_name: str,
    text: str,
    response_raw: Optional[str],
    recommending: Iterable[str] = (),
    session: Optional[int] = None,
    cycle: Optional[int] = None,
    document_symbol: Optional[str] = None,
    paragraph: Optional[str] = None,
    action_category_raw=None,
    themes: Iterable[tuple[str, str, Optional[str]]] = (),
    sdgs: Iterable[tuple[str, str, Optional[str]]] = (),
    affected_persons: Iterable[str] = (),
    source_key: Optional[str] = None,
    id_prefix: str = "rec-",
    text_original: Optional[str] = None,
    extra: Optional[dict] = None,
) -> Optional[ItemRecord]:
    """Build a canonical recommendation, reporting problems on ``batch``; None = row skipped.

    ``themes`` and ``sdgs`` are (vocabulary, code, label) triples, e.g. ("uprinfo", "women-s-rights",
    "Women's rights") or ("sdg_target", "5.2", None).  ``text_original`` is the text as written when
    the reader already peeled parts off ``text`` (e.g. several trailing state groups); default ``text``.
    """
    clean, para, named = clean_text(text or "")
    original = text_original if text_original is not None else (text or "")
    if not clean:
        batch.skip(row_ref, "text", "recommendation text is empty")
        return None
    state_name = " ".join((state_name or "").split())
    if not state_name:
        batch.skip(row_ref, "state_under_review", "state under review is empty")
        return None
    iso3 = to_iso3(state_name)
    if iso3 is None:
        batch.problem(row_ref, "state_under_review",
                      f"unknown country '{state_name}': kept with no ISO3 code; add it to mappings/country_aliases.csv",
                      "warning")
    response = normalise_response(response_raw)
    if response is None:
        batch.skip(row_ref, "response", f"unrecognised response '{response_raw}' (expected Accepted/Supported, "
                   "Noted, Supported/Noted, Pending or Voluntary Pledge)")
        return None
    cat = parse_action_category(action_category_raw)
    origin = "source"
    if cat is None:
        if action_category_raw not in (None, "", "-"):
            batch.problem(row_ref, "action_category", f"invalid action category '{action_category_raw}': derived from "
                          "the leading verb instead", "warning")
        cat, origin = derive_action_category(clean), "derived"
    states = [s for s in (" ".join(str(x).split()) for x in recommending) if s] or named
    state_rows = []
    for pos, name in enumerate(states):
        code = to_iso3(name)
        if code is None:
            batch.problem(row_ref, "recommending_states", f"unknown recommending state '{name}': kept by name", "warning")
        state_rows.append({"position": pos, "iso3": code, "name": name})
    if cycle is None:
        cycle = cycle_of_session(session)
    tags = [
        {"vocabulary": v, "code": c, "label": label, "origin": "declared", "route": None}
        for v, c, label in list(themes) + list(sdgs)
    ] + [
        {"vocabulary": "affected_persons", "code": p, "label": p, "origin": "declared", "route": None}
        for p in dict.fromkeys(affected_persons)
    ]
    rec_id = (
        stable_id(id_prefix, batch.source_type, source_key) if source_key
        else stable_id(id_prefix, state_name, session if session is not None else cycle, clean, ";".join(states))
    )
    return ItemRecord(
        item_type="recommendation",
        id=rec_id,
        source_key=source_key,
        source_row=row_ref,
        row={
            "state_under_review": iso3,
            "state_under_review_name": state_name,
            "cycle": cycle,
            "session": session,
            "document_symbol": document_symbol,
            "paragraph": paragraph or para,
            "text": clean,
            "text_original": original,
            "response": response,
            "response_raw": response_raw,
            "action_category": cat,
            "action_category_origin": origin,
            "source_type": batch.source_type,
            "source_file": batch.file_name,
            "source_sha256": batch.sha256,
            "source_row": str(row_ref),
            "source_key": source_key,
            "extra": {k: v for k, v in (extra or {}).items() if v not in (None, "", [])} or None,
        },
        children={"recommending_state": state_rows, "item_tag": tags},
    )
