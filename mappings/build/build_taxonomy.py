"""Regenerate the shipped SDG, DAC-sector and UHRI-theme tables of mappings/ from the shared source data.

Run from the repository root:  python mappings/build/build_taxonomy.py [--data ../shared/data]
The product reads only the CSVs this writes (mappings/sdg_*.csv, dac_sectors.csv, uhri_themes.csv), never the
shared folder.  The curated crosswalks (crosswalk_*.csv) are edited by hand and are not touched here.
Sources (see mappings/README.md): open-sdg/sdg-translations YAML (MIT; UN texts) for EN/FR/ES titles,
IATI UNSDG-* codelists (CC BY 4.0, UNSD list) for the authoritative code lists, IATI Sector/SectorCategory
codelists (CC BY 4.0 IATI; OECD DAC lists), OHCHR thematic lists of Slovenia for UHRI theme labels.
"""
from __future__ import annotations

import argparse
import csv
import re
import sys
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path

from lxml import etree

OUT = Path(__file__).resolve().parents[1]
LANGS = ("en", "fr", "es")


def read_opensdg(path: Path) -> dict[str, str]:
    """Flat `key: value` YAML of open-sdg (plain, '…' or "…" scalars folded over indented lines); no PyYAML needed."""
    out: dict[str, list[str]] = {}
    key = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        if not line[0].isspace():
            key, _, value = line.partition(":")
            out[key] = [value.strip()]
        else:
            out[key].append(line.strip())
    result = {}
    for key, parts in out.items():
        text = " ".join(parts)
        if text[:1] == "'" and text[-1:] == "'":
            text = text[1:-1].replace("''", "'")
        elif text[:1] == '"' and text[-1:] == '"':
            text = text[1:-1].replace('\\"', '"')
        result[key] = " ".join(text.split())
    return result


def read_codelist_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def codelist_names(path: Path) -> dict[str, dict[str, str]]:
    """code -> {lang: name} from an IATI codelist XML (all narrative languages, e.g. es/pt for Sector)."""
    xml = "{http://www.w3.org/XML/1998/namespace}lang"
    names = {}
    for item in etree.parse(str(path)).iter("codelist-item"):
        code = item.findtext("code").strip()
        names[code] = {(n.get(xml) or "en"): " ".join((n.text or "").split()) for n in item.find("name").iter("narrative")}
    return names


def write(name: str, header: list[str], rows: list[dict], comment: str) -> None:
    # Some open-sdg ES texts are NFD (o + combining accent): ship NFC so text search and matching see one form.
    rows = [{k: unicodedata.normalize("NFC", v) if isinstance(v, str) else v for k, v in r.items()} for r in rows]
    with (OUT / name).open("w", encoding="utf-8", newline="") as fh:
        fh.write(f"# {comment}\n")
        w = csv.DictWriter(fh, fieldnames=header, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    print(f"{name}: {len(rows)} rows")


def key_of(code: str) -> str:
    return code.replace(".", "-")


def build_sdg(data: Path) -> None:
    sdg, iati = data / "sdg", data / "iati" / "codelists" / "csv"
    y = {(lang, kind): read_opensdg(sdg / f"opensdg_{lang}_global_{kind}.yml")
         for lang in LANGS for kind in ("goals", "targets", "indicators")}
    goals = [{"code": str(n), "goal": str(n),
              **{f"short_{lang}": y[lang, "goals"].get(f"{n}-short", "") for lang in LANGS},
              **{f"title_{lang}": y[lang, "goals"].get(f"{n}-title", "") for lang in LANGS}} for n in range(1, 18)]
    write("sdg_goals.csv", ["code", "goal", "short_en", "short_fr", "short_es", "title_en", "title_fr", "title_es"],
          goals, "SDG goals; titles open-sdg/sdg-translations (MIT; UN official texts). See README.md")
    diffs = Counter()

    def rows(kind: str, codelist: str) -> list[dict]:
        out = []
        for r in read_codelist_csv(iati / codelist):
            if r["status"] != "active":
                continue
            code, k = r["code"], key_of(r["code"]) + "-title"
            row = {"code": code, "goal": code.split(".")[0]}
            if kind == "indicators":
                row["target"] = ".".join(code.split(".")[:2])
            # IATI replicates the current UNSD list (authoritative wording in EN/FR); ES only in open-sdg.
            row["title_en"] = " ".join(r["name_en"].split()) or y["en", kind].get(k, "")
            row["title_fr"] = " ".join(r["name_fr"].split()) or y["fr", kind].get(k, "")
            row["title_es"] = y["es", kind].get(k, "")
            if y["en", kind].get(k) and _norm(y["en", kind][k]) != _norm(row["title_en"]):
                diffs[kind] += 1
            out.append(row)
        return out

    targets = rows("targets", "UNSDG-Targets.csv")
    indicators = rows("indicators", "UNSDG-Indicators.csv")
    write("sdg_targets.csv", ["code", "goal", "title_en", "title_fr", "title_es"], targets,
          "SDG targets; codes + EN/FR IATI UNSDG-Targets (UNSD list, CC BY 4.0 IATI), ES open-sdg (MIT). See README.md")
    write("sdg_indicators.csv", ["code", "goal", "target", "title_en", "title_fr", "title_es"], indicators,
          "SDG indicators (current UNSD list); codes + EN/FR IATI UNSDG-Indicators, ES open-sdg. See README.md")
    in_yaml = {k[:-6].replace("-", ".") for k in y["en", "indicators"]}
    print("open-sdg EN wording differs from IATI/UNSD:", dict(diffs),
          "| open-sdg indicators not in UNSD list:", sorted(in_yaml - {r["code"] for r in indicators}))
    for name, table in (("targets", targets), ("indicators", indicators)):
        gaps = [r["code"] for r in table for lang in LANGS if not r[f"title_{lang}"]]
        print(f"{name}: rows without a title in some language: {gaps}")


def _norm(s: str) -> str:
    return re.sub(r"[\W_]+", "", s.lower())


def build_dac(data: Path) -> None:
    cl = data / "iati" / "codelists"
    sector = codelist_names(cl / "Sector.xml")
    category = codelist_names(cl / "SectorCategory.xml")
    groups = {r["category_code"]: (r["group_code"], r["group_name"]) for r in read_codelist_csv(cl / "csv" / "SectorGroup.csv")}
    cats = {r["code"]: r for r in read_codelist_csv(cl / "csv" / "SectorCategory.csv")}
    out = []
    for r in read_codelist_csv(cl / "csv" / "SectorCategory.csv"):
        g = groups.get(r["code"], ("", ""))
        out.append({"code": r["code"], "level": "dac3", "dac3": r["code"], "group_code": g[0], "group_name": g[1],
                    "name_en": category[r["code"]].get("en", r["name_en"]), "name_fr": category[r["code"]].get("fr", ""), "status": r["status"], "description_en": r["description_en"]})
    for r in read_codelist_csv(cl / "csv" / "Sector.csv"):
        g = groups.get(r["category"], ("", ""))
        n = sector[r["code"]]
        out.append({"code": r["code"], "level": "dac5", "dac3": r["category"], "group_code": g[0], "group_name": g[1],
                    "name_en": n.get("en", r["name_en"]), "name_fr": n.get("fr", ""),
                    "status": r["status"], "description_en": " ".join(r["description_en"].split())})
    missing = [r["code"] for r in out if r["level"] == "dac5" and r["dac3"] not in cats]
    print("dac5 codes whose category is not in SectorCategory:", missing)
    write("dac_sectors.csv", ["code", "level", "dac3", "group_code", "group_name", "name_en", "name_fr",
                              "status", "description_en"], out,
          "OECD DAC sector codes (DAC-3 categories + DAC-5 purpose codes) from the IATI Sector/SectorCategory codelists; "
          "IATI Standard (http://iatistandard.org/) CC BY 4.0, OECD terms. See README.md")


_CODED = re.compile(r"^([A-H]\d{1,2})\s+(.+)$")


def _theme_key(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", label.lower().replace("&", " and ")).strip()


def build_uhri(data: Path) -> None:
    path = data / "upr" / "slovenia" / "upr_slovenia_recommendations_sdg_themes.csv"
    seen: dict[str, Counter] = defaultdict(Counter)  # normalised key -> label spelling counts
    cycles: dict[str, set] = defaultdict(set)
    for r in read_codelist_csv(path):
        labels = set()
        for col in ("hr_themes", "heading_theme"):
            labels.update(" ".join(p.split()) for p in (r[col] or "").split("|") if p.strip())
        for label in labels:
            seen[_theme_key(label)][label] += 1
            cycles[_theme_key(label)].add(r["cycle"])
    coded = {}
    for key, spellings in seen.items():
        m = _CODED.match(spellings.most_common(1)[0][0])
        if m:
            coded[_theme_key(m.group(2))] = m.group(1)
    out = []
    for key, spellings in seen.items():
        label = spellings.most_common(1)[0][0]
        m = _CODED.match(label)
        code, text = (m.group(1), m.group(2)) if m else (label, label)
        out.append({"code": code, "label": text, "scheme": "coded" if m else "uncoded",
                    "same_as": "" if m else coded.get(key[len(code) + 1:] if m else key, ""),
                    "variants": "|".join(s for s in spellings if s != label),
                    "cycles": ";".join(sorted(cycles[key])), "rows": sum(spellings.values())})
    out.sort(key=lambda r: (r["scheme"], r["code"]))
    write("uhri_themes.csv", ["code", "label", "scheme", "same_as", "variants", "cycles", "rows"], out,
          "UHRI themes as OHCHR's thematic lists for Slovenia (cycles 2-4) write them; cite OHCHR. See README.md")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=OUT.parents[1] / "shared" / "data")
    args = ap.parse_args()
    if not args.data.is_dir():
        print(f"shared data not found: {args.data}", file=sys.stderr)
        return 1
    build_sdg(args.data)
    build_dac(args.data)
    build_uhri(args.data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
