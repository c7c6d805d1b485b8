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
from typing import Any, Callable, Iterator, Optional

from lxml import etree

from matcher.activities import activity_record, label_activities
from matcher.currency import covered_currencies
from matcher.records import Batch, IngestError
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
    text = el.text
    return " ".join(text.split()) if text else ""


def _narratives(el) -> list[tuple[Optional[str], str]]:
    """(xml:lang, text) of each narrative; 1.0x-style text directly in the element if there are none."""
    out = []
    for n in el.iterchildren("narrative"):
        text = _text(n)
        if text:
            out.append((n.get(XML_LANG), text))
    if not out:
        text = el.text
        if text and text.strip():
            out.append((el.get(XML_LANG), " ".join(text.split())))
    return out


def _firsts(el, wanted: frozenset) -> dict:
    """The first child of each wanted tag, in one pass (ElementPath ``find`` per tag costs several times more)."""
    found: dict = {}
    for child in el:
        tag = child.tag
        if tag in wanted and tag not in found:
            found[tag] = child
    return found


def _value(where: str, value, **fields) -> dict[str, Any]:
    d = {"where": where, **fields, "value": None, "currency": None, "value_date": None}
    if value is not None:
        d.update(value=value.text, currency=value.get("currency"), value_date=value.get("value-date"))
    return d


def _iso(el) -> Optional[str]:
    return el.get("iso-date") if el is not None else None


def _coded(el, where: str) -> dict[str, Any]:
    get = el.get
    return {"where": where, "code": get("code"), "vocabulary": get("vocabulary"),
            "vocabulary_uri": get("vocabulary-uri"), "percentage": get("percentage"),
            "significance": get("significance"), "narratives": _narratives(el)}


_PERIOD = frozenset({"value", "period-start", "period-end"})


def _budget(el, where: str) -> dict[str, Any]:
    f = _firsts(el, _PERIOD)
    return _value(where, f.get("value"), type=el.get("type"), status=el.get("status"),
                  period_start=_iso(f.get("period-start")), period_end=_iso(f.get("period-end")))


def _planned(el, where: str) -> dict[str, Any]:
    f = _firsts(el, _PERIOD)
    return _value(where, f.get("value"), type=el.get("type"),
                  period_start=_iso(f.get("period-start")), period_end=_iso(f.get("period-end")))


def _transaction(el, where: str) -> dict[str, Any]:
    ttype = day = value = None
    sectors, countries, regions = [], [], []
    for child in el:  # one pass: transactions are the most numerous element of an activity
        tag = child.tag
        if tag == "value":
            value = child if value is None else value
        elif tag == "transaction-type":
            ttype = child if ttype is None else ttype
        elif tag == "transaction-date":
            day = child if day is None else day
        elif tag == "sector":
            sectors.append(_coded(child, f"{where}/sector[{len(sectors) + 1}]"))
        elif tag == "recipient-country":
            countries.append(_coded(child, f"{where}/recipient-country[{len(countries) + 1}]"))
        elif tag == "recipient-region":
            regions.append(_coded(child, f"{where}/recipient-region[{len(regions) + 1}]"))
    d = _value(where, value, type=ttype.get("code") if ttype is not None else None, date=_iso(day), ref=el.get("ref"))
    d["sectors"], d["countries"], d["regions"] = sectors, countries, regions
    return d


def _indicator_refs(el, where: str) -> list[dict[str, Any]]:
    return [{"where": f"{where}/indicator/reference[{i}]", "vocabulary": ref.get("vocabulary"), "code": ref.get("code")}
            for i, ref in enumerate(el.iterfind("indicator/reference"), 1)]


def _org(el, where: str) -> dict[str, Any]:
    return {"ref": el.get("ref"), "role": el.get("role"), "type": el.get("type"),
            "activity_id": el.get("activity-id"), "narratives": _narratives(el)}


SET, ADD, EXTEND = "set", "add", "extend"
# tag -> (key of the activity dict, how the value goes there, reader(element, its path "tag[n]"));
# children with other tags are not read
_CHILDREN: dict[str, tuple[str, str, Callable[[Any, str], Any]]] = {
    "iati-identifier": ("identifier", SET, lambda el, where: _text(el)),
    "reporting-org": ("reporting_org", SET,
                      lambda el, where: {"ref": el.get("ref"), "type": el.get("type"), "narratives": _narratives(el)}),
    "title": ("titles", EXTEND, lambda el, where: _narratives(el)),
    "description": ("descriptions", ADD, lambda el, where: {"type": el.get("type"), "narratives": _narratives(el)}),
    "participating-org": ("participating_orgs", ADD, _org),
    "activity-status": ("status", SET, lambda el, where: el.get("code")),
    "activity-date": ("dates", ADD,
                      lambda el, where: {"where": where, "type": el.get("type"), "iso_date": el.get("iso-date")}),
    "recipient-country": ("countries", ADD, _coded),
    "recipient-region": ("regions", ADD, _coded),
    "sector": ("sectors", ADD, _coded),
    "tag": ("tags", ADD, _coded),
    "policy-marker": ("policy_markers", ADD, _coded),
    "related-activity": ("related", ADD, lambda el, where: {"ref": el.get("ref"), "type": el.get("type")}),
    "budget": ("budgets", ADD, _budget),
    "planned-disbursement": ("planned_disbursements", ADD, _planned),
    "transaction": ("transactions", ADD, _transaction),
    "result": ("indicator_refs", EXTEND, _indicator_refs),
}


def activity_dict(el, version: Optional[str]) -> dict[str, Any]:
    """The strings of one ``<iati-activity>`` as a plain dict (the input of ``activity_record``).

    Each child is visited once and dispatched by tag (the parse is the reader's main cost).
    """
    get = el.get
    raw: dict[str, Any] = {
        "line": el.sourceline, "version": version, "identifier": None, "lang": get(XML_LANG),
        "default_currency": get("default-currency"), "hierarchy": get("hierarchy"),
        "last_updated": get("last-updated-datetime"), "humanitarian": get("humanitarian"),
        "reporting_org": None, "titles": [], "descriptions": [], "participating_orgs": [], "status": None,
        "dates": [], "countries": [], "regions": [], "sectors": [], "tags": [], "policy_markers": [],
        "related": [], "budgets": [], "planned_disbursements": [], "transactions": [], "indicator_refs": [],
    }
    count: dict[str, int] = {}
    # libxml2 filters the children by tag: elements not read (and comments) never become Python objects
    for child in el.iterchildren(*_CHILDREN):
        tag = child.tag
        count[tag] = n = count.get(tag, 0) + 1
        key, how, read = _CHILDREN[tag]
        value = read(child, f"{tag}[{n}]")
        if how is ADD:
            raw[key].append(value)
        elif how is SET:
            raw[key] = value
        else:
            raw[key].extend(value)
    return raw


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
    background = True  # parse (and label: countries, tags) in a second process; the writing one builds the records
    item_type = "activity"
    description = "IATI activity XML 2.01-2.03 (1.0x activities are refused)"

    def prepare(self) -> None:
        """Load the bundled exchange rates (about a second) while a background reader hashes the file."""
        covered_currencies()

    def sniff(self, source: Source) -> bool:
        """True when the first 64 KB contain an <iati-activities> or <iati-activity> start tag."""
        return bool(_ROOT.search(source.head(65536)))

    def read(self, source: Source, *, options: dict[str, Any]) -> Batch:
        """A Batch streaming one record per 2.0x activity; entity declarations are refused right here."""
        batch = Batch(self.name, self.item_type, source.name, source.sha256(), records=())
        self._check_prologue(source)
        # parsing (lxml) and building the record are separate steps, so that a background reader
        # can parse in one process while the loading process builds and writes
        batch.staged(label_activities(batch, self._parts(source, batch)), activity_record)
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

    def _parts(self, source: Source, batch: Batch) -> Iterator[dict[str, Any]]:
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
                    raw = self._activity(batch, el, wrapper.get("version") if wrapper is not None else None)
                    # free the activity and everything read before it: memory stays flat
                    el.clear(keep_tail=False)
                    if wrapper is not None:
                        while el.getprevious() is not None:
                            del wrapper[0]
                    if raw is not None:
                        yield raw
            except etree.XMLSyntaxError as exc:
                raise IngestError(source.name, f"not well-formed XML: {exc.msg}", row=f"line {exc.lineno}", field="XML") from exc
        if not found:
            raise IngestError(source.name, "no <iati-activity> element found: not an IATI activity file", field="iati-activity")

    def _activity(self, batch: Batch, el, enclosing: Optional[str]) -> Optional[dict[str, Any]]:
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
        return activity_dict(el, version or None)


READER = IatiReader()
