"""Header mapping of donor portfolio sheets: template names, user maps ({their column: field}), defaults.

Template names match loosely ('Recipient Country' = 'recipient_country'); any other header is used
only through an explicit map, so a column is never read as a field by guesswork.
"""
from __future__ import annotations

import re
from typing import Any

from .records import IngestError

FIELDS = (
    "id", "title", "description", "recipient_country", "dac_sector", "sdg_targets", "amount", "currency",
    "year", "kind", "status", "start_date", "end_date", "reporting_org", "reporting_org_name", "value_date",
)
REQUIRED = ("id", "title", "amount", "currency", "year", "kind")
RECOMMENDED = ("description", "recipient_country", "dac_sector", "sdg_targets", "status")


def norm_header(name: str) -> str:
    """Header spelling folded for matching template names: 'Recipient Country' -> 'recipient_country'."""
    return re.sub(r"[\s_\-]+", "_", str(name).strip().casefold()).strip("_")


def _parse_map(raw: Any) -> dict[str, str]:
    if not raw:
        return {}
    if isinstance(raw, dict):
        return {str(k).strip(): str(v).strip() for k, v in raw.items()}
    pairs = {}
    for item in raw:  # ["Project No=id", ...] as typed after --map
        column, sep, fld = str(item).rpartition("=")
        if not sep or not column.strip():
            raise ValueError(f"--map '{item}' is not COLUMN=field")
        pairs[column.strip()] = fld.strip()
    return pairs


def resolve_columns(file_name: str, header: list[str], options: dict[str, Any]) -> dict[str, str]:
    """{field: column in the file} from template names plus ``options['map']`` ({column: field}).

    Raises IngestError naming the required fields no column (and no ``options['defaults']`` value)
    provides, together with the columns that were found.
    """
    found = [h for h in header if h]
    try:
        user_map = _parse_map(options.get("map"))
    except ValueError as exc:
        raise IngestError(file_name, str(exc)) from None
    defaults = {norm_header(k): v for k, v in (options.get("defaults") or {}).items()}
    columns: dict[str, str] = {}
    for column, fld in user_map.items():
        target = norm_header(fld)
        if target not in FIELDS:
            raise IngestError(file_name, f"--map '{column}={fld}': unknown field '{fld}' (fields: {', '.join(FIELDS)})")
        actual = column if column in found else next((h for h in found if h.casefold() == column.casefold()), None)
        if actual is None:
            raise IngestError(file_name, f"--map '{column}={fld}': the file has no column '{column}' "
                              f"(found: {', '.join(found) or 'none'})", row=1)
        if target in columns and columns[target] != actual:
            raise IngestError(file_name, f"--map: columns '{columns[target]}' and '{actual}' both map to field '{target}'")
        columns[target] = actual
    for h in found:
        key = norm_header(h)
        if key in FIELDS and key not in columns and h not in columns.values():
            columns[key] = h
    for key in defaults:
        if key not in FIELDS:
            raise IngestError(file_name, f"default for unknown field '{key}' (fields: {', '.join(FIELDS)})")
    missing = [f for f in REQUIRED if f not in columns and not str(defaults.get(f) or "").strip()]
    if missing:
        raise IngestError(
            file_name,
            f"missing required field(s): {', '.join(missing)}: no column is named or mapped to them "
            f"(found: {', '.join(found) or 'none'}); rename the columns to the template names, map them "
            "(e.g. --map 'Budget (EUR)=amount') or give one value for the whole file (e.g. currency EUR)",
            row=1, field=", ".join(missing),
        )
    return columns


def header_matches(header: list[str]) -> bool:
    """True when a header carries the template's id, title, amount and currency columns (sniffing)."""
    names = {norm_header(h) for h in header if h}
    return {"id", "title", "amount", "currency"} <= names
