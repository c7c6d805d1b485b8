"""UN INFO API-derived country tree (JSON): a workspace's framework SP -> Outcome -> Output with money,
and its sub-outputs ("projects") with agency, code, name, description, dates, parent output, money.

The API lists a joint sub-output once per contributing agency (same id, the agency's share of the
money), so entries are grouped by id: one CF item per sub-output, one money fact per agency and kind.
Framework nodes carry roll-ups of their sub-outputs: kept as facts with ``counted`` false so that
sums never count the same dollar twice.
"""
from __future__ import annotations

import json
from collections import OrderedDict
from decimal import Decimal
from typing import Any, Iterator

from matcher import cooperation as co
from matcher.records import Batch, IngestError, ItemRecord
from matcher.sources import Source

MAX_BYTES = 256 * 1024 * 1024  # one country's tree is ~0.3 MB; json.load holds it all in memory
KINDS = (("required", "required"), ("available", "available"), ("spent", "expenditure"))
LEVELS = ("strategic_priority", "outcome", "output")


class UninfoApiReader:
    name = "uninfo-api"
    kind = "cf"
    item_type = "cf_item"
    description = "UN INFO API-derived country tree JSON (workspace_id, framework, projects)"

    def sniff(self, source: Source) -> bool:
        head = source.head(4096).lstrip()
        return head.startswith(b"{") and b'"workspace_id"' in head and (b'"projects"' in head or b'"framework"' in head
                                                                         or b'"totals"' in head)

    def read(self, source: Source, *, options: dict[str, Any]) -> Batch:
        if source.size > MAX_BYTES:
            raise IngestError(source.name, f"{source.size} bytes is more than the {MAX_BYTES} this reader loads "
                              "at once; a UN INFO country tree is normally under 1 MB")
        try:
            with source.open() as fh:
                doc = json.load(fh)
        except UnicodeDecodeError as exc:
            raise IngestError(source.name, f"not UTF-8 JSON: {exc.reason}") from None
        except json.JSONDecodeError as exc:
            raise IngestError(source.name, f"not valid JSON (truncated?): {exc.msg}", row=f"line {exc.lineno}") from None
        if not isinstance(doc, dict):
            raise IngestError(source.name, "expected a JSON object with 'workspace_id', 'framework' and 'projects'")
        for key, kind in (("workspace_id", (int, str)), ("framework", list), ("projects", list)):
            if not isinstance(doc.get(key), kind):
                raise IngestError(source.name, f"missing or malformed required key '{key}'", field=key)
        batch = Batch(self.name, self.item_type, source.name, source.sha256(), records=())
        batch.records = self._records(batch, doc)
        return batch

    def _records(self, batch: Batch, doc: dict) -> Iterator[ItemRecord]:
        name = str(doc.get("name") or "").strip()
        iso3, group, countries, trouble = co.place(name)
        if trouble:
            batch.problem("name", "name", trouble, "warning")
        where = {"country": iso3, "country_group": group}
        ws = doc["workspace_id"]
        plan_id = f"uninfo-api-ws{ws}"
        plan_title = f"UN INFO workspace {ws}: {name or 'unnamed'}"
        totals = doc.get("totals") if isinstance(doc.get("totals"), dict) else {}
        yield co.cf_record(batch, item_id=plan_id, level="plan", title=plan_title, row_ref="totals",
                           extra={"workspace_id": ws, "totals": totals, "sdgs": doc.get("sdgs")}, **where,
                           children={"item_country": _copy(countries),
                                     "money_fact": _facts(batch, "totals", totals, rollup=True)})
        outputs: dict[str, str] = {}  # output name -> item id, and code -> item id
        yield from self._tree(batch, doc["framework"], plan_id, 0, "framework", where, countries, outputs)
        sums: dict[str, Decimal] = {}
        for rec in self._projects(batch, doc["projects"], where, countries, outputs):
            for fact in rec.children["money_fact"]:
                sums[fact["kind"]] = sums.get(fact["kind"], Decimal(0)) + fact["amount"]
            yield rec
        self._check_totals(batch, totals, sums)

    @staticmethod
    def _check_totals(batch: Batch, totals: dict, sums: dict[str, Decimal]) -> None:
        """Compare the file's own country totals with the sum of the sub-output facts (a cent or more: warn)."""
        reported = {}
        for key, kind in KINDS:
            try:
                reported[kind] = co.parse_amount(totals.get(key))
            except ValueError:
                reported[kind] = None
        reported = {k: v for k, v in reported.items() if v is not None}
        for message in co.check_totals(sums, reported, parts="the sub-outputs' {kind} amounts"):
            batch.problem("totals", "totals", message, "warning")

    def _tree(self, batch, nodes, parent_id, depth, path, where, countries, outputs) -> Iterator[ItemRecord]:
        for i, node in enumerate(nodes):
            ref = f"{path}[{i}]"
            if not isinstance(node, dict) or node.get("id") is None:
                batch.skip(ref, "id", "framework node without an id")
                continue
            level = LEVELS[min(depth, len(LEVELS) - 1)]
            item_id = f"uninfo-api-{node['id']}"
            code = co.clean_code(node.get("code"))
            title = co.clean_cell(node.get("name"))[0] or f"{level.replace('_', ' ')} {code or node['id']}"
            if level == "output":
                outputs[_norm(node.get("name"))] = item_id
                if code:
                    outputs[f"code:{code}"] = item_id
            yield co.cf_record(
                batch, item_id=item_id, level=level, title=title, row_ref=ref, code=code, parent_id=parent_id,
                description=co.clean_cell(node.get("description"))[0], extra={"uninfo_id": node["id"]}, **where,
                children={"item_country": _copy(countries), "money_fact": _facts(batch, ref, node, rollup=True)})
            kids = node.get("children") or []
            if kids and depth + 1 < len(LEVELS):
                yield from self._tree(batch, kids, item_id, depth + 1, f"{ref}.children", where, countries, outputs)
            elif kids:
                batch.problem(ref, "children", f"{len(kids)} nodes below output level: not read", "warning")

    def _projects(self, batch, projects, where, countries, outputs) -> Iterator[ItemRecord]:
        groups: "OrderedDict[Any, list[tuple[int, dict]]]" = OrderedDict()
        for i, p in enumerate(projects):
            batch.read += 1
            if not isinstance(p, dict) or p.get("id") is None:
                batch.skip(f"projects[{i}]", "id", "sub-output without an id")
                continue
            groups.setdefault(p["id"], []).append((i, p))
        for uid, entries in groups.items():
            i, first = entries[0]
            ref = f"projects[{i}]"
            for j, p in entries[1:]:
                for key in ("code", "name", "description", "start", "end", "outcome"):
                    if p.get(key) != first.get(key):
                        batch.problem(f"projects[{j}]", key, f"differs from the first entry of sub-output {uid} "
                                      f"(projects[{i}]): the first is kept", "warning")
            code = co.clean_code(first.get("code"))
            parent = outputs.get(_norm(first.get("outcome")))
            if parent is None and code and "." in code:
                parent = outputs.get(f"code:{code.rsplit('.', 1)[0]}")
            if parent is None:
                batch.problem(ref, "outcome", f"parent output '{first.get('outcome')}' not found in the framework",
                              "warning")
            start, end = _date(batch, ref, first, "start"), _date(batch, ref, first, "end")
            agencies, facts = [], []
            for j, p in entries:
                agency = co.clean_cell(p.get("agency"))[0]
                if agency and all(a["abbreviation"] != agency for a in agencies):
                    agencies.append({"abbreviation": agency, "name": co.UN_ENTITIES.get(agency)})
                facts += _facts(batch, f"projects[{j}]", p, start=start, end=end, extra={"agency": agency})
            tags = co.sdg_tags(None, str(first["sdg"]), route="uninfo-api") if first.get("sdg") else []
            title = co.clean_cell(first.get("name"))[0] or code or f"sub-output {uid}"
            yield co.cf_record(
                batch, item_id=f"uninfo-api-{uid}", level="sub_output", title=title, row_ref=ref, source_key=str(uid),
                code=code, description=co.clean_cell(first.get("description"))[0], parent_id=parent,
                start_date=start, end_date=end, agencies=agencies,
                extra={"uninfo_id": uid, "entries": len(entries)}, **where,
                children={"item_country": _copy(countries), "item_tag": tags, "money_fact": facts})


def _facts(batch: Batch, ref: str, node: dict, *, rollup: bool = False, start=None, end=None,
           extra: dict | None = None) -> list[dict]:
    out = []
    for key, kind in KINDS:
        try:
            amount = co.parse_amount(node.get(key))
        except ValueError as exc:
            batch.problem(ref, key, f"{exc}: left out", "warning")
            continue
        if amount is None:
            continue
        if amount < 0:
            batch.problem(ref, key, f"negative amount {amount} kept (a reported correction)", "warning")
        out.append(co.money_fact(kind, amount, source_type="uninfo-api", period_start=start, period_end=end,
                                 counted=not rollup, extra=dict(extra or {}, rollup=True) if rollup else extra))
    amounts = {f["kind"]: f["amount"] for f in out}
    avail, req = amounts.get("available", Decimal(0)), amounts.get("required", Decimal(0))
    if not rollup and avail > req:
        batch.problem(ref, "available", f"available {avail} exceeds required {req}: kept as reported", "warning")
    return out


def _date(batch, ref, node, key):
    try:
        return co.parse_date(node.get(key))
    except ValueError as exc:
        batch.problem(ref, key, f"{exc}: left empty", "warning")
        return None


def _norm(text) -> str:
    return " ".join(str(text or "").split()).casefold()


def _copy(rows: list[dict]) -> list[dict]:
    return [dict(r) for r in rows]


READER = UninfoApiReader()
