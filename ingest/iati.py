"""IATI activity XML, versions 2.01-2.03: streamed activity by activity into canonical Activity records.

Parsing is safe and flat in memory: lxml ``iterparse`` with entity resolution, DTD loading and
network access off, no "huge tree" limits lifted, and each activity is cleared once read.  A file
whose DOCTYPE declares entities (billion laughs, external entities/XXE) is refused as a whole.

Versions (decided per activity): the activity's ``@version``, else d-portal's
``iati-activities:version`` attribute, else the enclosing ``<iati-activities @version>``.  With no
version anywhere (a d-portal export wrapper, or an old API envelope) an activity that uses
``<narrative>`` elements -- which only 2.0x has -- is read as 2.0x with a warning, otherwise it is
1.0x.  1.0x activities are skipped, each with the message "IATI 1.0x is not supported: upgrade to
2.0x", and counted in ``skipped``.

This module only turns XML into plain dicts of strings; ``matcher.activities`` gives them meaning.
"""
from __future__ import annotations

import re
from typing import Any, Iterator, Optional

from lxml import etree

from matcher.activities import activity_record
from matcher.records import Batch, IngestError, ItemRecord
from matcher.sources import Source

XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
DPORTAL_VERSION = "{http://d-portal.org/xmlns/iati-activities}version"
LEGACY_MESSAGE = "IATI 1.0x is not supported: upgrade to 2.0x"
SUPPORTED = ("2.01", "2.02", "2.03")
# Entities stay unexpanded, nothing is fetched, default libxml2 size limits stay on.
SAFE_PARSER = {"resolve_entities": False, "no_network": True, "load_dtd": False, "huge_tree": False}
_ROOT = re.compile(rb"<iati-activit(?:y|ies)[\s>]")


def _text(el) -> str:
    if len(el):  # mixed content is rare: the fast path is the element's own text
        return " ".join("".join(el.itertext()).split())
    return " ".join(el.text.split()) if el.text else ""


def _narratives(el) -> list[tuple[Optional[str], str]]:
    """(xml:lang, text) of each narrative; 1.0x-style text directly in the element if there are none."""
    out = [(n.get(XML_LANG), _text(n)) for n in el.iterchildren("narrative")]
    out = [(lang, t) for lang, t in out if t]
    if not out and el.text and el.text.strip():
        out.append((el.get(XML_LANG), " ".join(el.text.split())))
    return out


def _value(el, where: str, **fields) -> dict[str, Any]:
    value = el.find("value")
    d = {"where": where, **fields, "value": None, "currency": None, "value_date": None}
    if value is not None:
        d.update(value=value.text, currency=value.get("currency"), value_date=value.get("value-date"))
    return d


def _iso(el, tag: str) -> Optional[str]:
    found = el.find(tag)
    return found.get("iso-date") if found is not None else None


def _coded(el, where: str) -> dict[str, Any]:
    return {"where": where, "code": el.get("code"), "vocabulary": el.get("vocabulary"),
            "vocabulary_uri": el.get("vocabulary-uri"), "percentage": el.get("percentage"),
            "significance": el.get("significance"), "narratives": _narratives(el)}


def activity_dict(el, version: Optional[str]) -> dict[str, Any]:
    """The strings of one ``<iati-activity>`` as a plain dict (the input of ``activity_record``)."""
    raw: dict[str, Any] = {
        "line": el.sourceline, "version": version, "identifier": None, "lang": el.get(XML_LANG),
        "default_currency": el.get("default-currency"), "hierarchy": el.get("hierarchy"),
        "last_updated": el.get("last-updated-datetime"), "humanitarian": el.get("humanitarian"),
        "reporting_org": None, "titles": [], "descriptions": [], "participating_orgs": [], "status": None,
        "dates": [], "countries": [], "regions": [], "sectors": [], "tags": [], "policy_markers": [],
        "related": [], "budgets": [], "planned_disbursements": [], "transactions": [], "indicator_refs": [],
    }
    count: dict[str, int] = {}
    for child in el:
        tag = child.tag
        if not isinstance(tag, str) or tag[0] == "{":  # comments, publisher extensions
            continue
        count[tag] = n = count.get(tag, 0) + 1
        where = f"{tag}[{n}]"
        if tag == "iati-identifier":
            raw["identifier"] = _text(child)
        elif tag == "reporting-org":
            raw["reporting_org"] = {"ref": child.get("ref"), "type": child.get("type"), "narratives": _narratives(child)}
        elif tag == "title":
            raw["titles"].extend(_narratives(child))
        elif tag == "description":
            raw["descriptions"].append({"type": child.get("type"), "narratives": _narratives(child)})
        elif tag == "participating-org":
            raw["participating_orgs"].append({"ref": child.get("ref"), "role": child.get("role"), "type": child.get("type"),
                                              "activity_id": child.get("activity-id"), "narratives": _narratives(child)})
        elif tag == "activity-status":
            raw["status"] = child.get("code")
        elif tag == "activity-date":
            raw["dates"].append({"where": where, "type": child.get("type"), "iso_date": child.get("iso-date")})
        elif tag == "recipient-country":
            raw["countries"].append(_coded(child, where))
        elif tag == "recipient-region":
            raw["regions"].append(_coded(child, where))
        elif tag == "sector":
            raw["sectors"].append(_coded(child, where))
        elif tag == "tag":
            raw["tags"].append(_coded(child, where))
        elif tag == "policy-marker":
            raw["policy_markers"].append(_coded(child, where))
        elif tag == "related-activity":
            raw["related"].append({"ref": child.get("ref"), "type": child.get("type")})
        elif tag == "budget":
            raw["budgets"].append(_value(child, where, type=child.get("type"), status=child.get("status"),
                                         period_start=_iso(child, "period-start"), period_end=_iso(child, "period-end")))
        elif tag == "planned-disbursement":
            raw["planned_disbursements"].append(_value(child, where, type=child.get("type"),
                                                       period_start=_iso(child, "period-start"),
                                                       period_end=_iso(child, "period-end")))
        elif tag == "transaction":
            raw["transactions"].append(_transaction(child, where))
        elif tag == "result":
            for i, ref in enumerate(child.iterfind("indicator/reference"), 1):
                raw["indicator_refs"].append({"where": f"{where}/indicator/reference[{i}]",
                                              "vocabulary": ref.get("vocabulary"), "code": ref.get("code")})
    return raw


def _transaction(el, where: str) -> dict[str, Any]:
    ttype = el.find("transaction-type")
    d = _value(el, where, type=ttype.get("code") if ttype is not None else None, date=_iso(el, "transaction-date"),
               ref=el.get("ref"))
    d["sectors"] = [_coded(s, f"{where}/sector[{i}]") for i, s in enumerate(el.iterchildren("sector"), 1)]
    d["countries"] = [_coded(c, f"{where}/recipient-country[{i}]") for i, c in enumerate(el.iterchildren("recipient-country"), 1)]
    d["regions"] = [_coded(r, f"{where}/recipient-region[{i}]") for i, r in enumerate(el.iterchildren("recipient-region"), 1)]
    return d


def _refuse_entities(source: Source, tree_info) -> None:
    dtd = tree_info.internalDTD
    if dtd is None:
        return
    names = [e.name for e in dtd.entities()]
    if names:
        head = source.head(1 << 20)
        at = head.find(b"<!DOCTYPE")
        line = head[:at].count(b"\n") + 1 if at >= 0 else None
        raise IngestError(
            source.name,
            f"the DOCTYPE declares XML entities ({', '.join(names[:5])}): refused, because entity expansion is how "
            "billion-laughs and external-entity (XXE) attacks work; IATI files never need entities",
            row=f"line {line}" if line else None, field="DOCTYPE",
        )


class IatiReader:
    name = "iati"
    kind = "iati"
    background = True  # parsing rich XML costs more than shipping records to the writing process
    item_type = "activity"
    description = "IATI activity XML 2.01-2.03 (1.0x activities are refused)"

    def sniff(self, source: Source) -> bool:
        """True when the first 64 KB contain an <iati-activities> or <iati-activity> start tag."""
        return bool(_ROOT.search(source.head(65536)))

    def read(self, source: Source, *, options: dict[str, Any]) -> Batch:
        """A Batch streaming one record per 2.0x activity; entity declarations are refused right here."""
        batch = Batch(self.name, self.item_type, source.name, source.sha256(), records=())
        self._check_prologue(source)
        batch.records = self._records(source, batch)
        return batch

    def _check_prologue(self, source: Source) -> None:
        """Refuse entity declarations before a single record is produced."""
        with source.open() as fh:
            try:
                for _, el in etree.iterparse(fh, events=("start",), **SAFE_PARSER):
                    _refuse_entities(source, el.getroottree().docinfo)
                    return
            except etree.XMLSyntaxError as exc:
                raise IngestError(source.name, f"not well-formed XML: {exc.msg}", row=f"line {exc.lineno}", field="XML") from exc
        raise IngestError(source.name, "no XML elements in the file", field="XML")

    def _records(self, source: Source, batch: Batch) -> Iterator[ItemRecord]:
        found = 0
        with source.open() as fh:
            # libxml2 reads a file by its path itself, which is faster than through a Python file object
            target = str(source.path) if source.path is not None else fh
            events = etree.iterparse(target, events=("end",), tag="iati-activity", **SAFE_PARSER)
            try:
                for _, el in events:
                    if not found:
                        _refuse_entities(source, el.getroottree().docinfo)
                    found += 1
                    wrapper = el.getparent()  # the enclosing <iati-activities>, still in the tree
                    rec = self._activity(batch, el, wrapper.get("version") if wrapper is not None else None)
                    # free the activity and everything read before it: memory stays flat
                    el.clear(keep_tail=False)
                    if wrapper is not None:
                        while el.getprevious() is not None:
                            del wrapper[0]
                    if rec is not None:
                        yield rec
            except etree.XMLSyntaxError as exc:
                raise IngestError(source.name, f"not well-formed XML: {exc.msg}", row=f"line {exc.lineno}", field="XML") from exc
        if not found:
            raise IngestError(source.name, "no <iati-activity> element found: not an IATI activity file", field="iati-activity")

    def _activity(self, batch: Batch, el, enclosing: Optional[str]) -> Optional[ItemRecord]:
        batch.read += 1
        version = (el.get("version") or el.get(DPORTAL_VERSION) or enclosing or "").strip()
        ident = " ".join((el.findtext("iati-identifier") or "").split())
        row_ref = f"line {el.sourceline}" + (f" ({ident})" if ident else "")
        if not version:
            if el.find(".//narrative") is None:
                version = "1.0x"
            else:
                batch.problem(row_ref, "@version", "no @version on the activity or its file: read as 2.0x "
                              "because it uses <narrative> elements", "warning")
        if version.startswith("1."):
            batch.skip(row_ref, "@version", LEGACY_MESSAGE)
            return None
        if version and not version.startswith("2."):
            batch.skip(row_ref, "@version", f"IATI version '{version}' is not supported: expected 2.01-2.03")
            return None
        if version and version not in SUPPORTED:
            batch.problem(row_ref, "@version", f"IATI version '{version}' is not 2.01-2.03: read as 2.03", "warning")
        return activity_record(batch, activity_dict(el, version or None))


READER = IatiReader()
