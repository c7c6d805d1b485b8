"""Regenerate the classifier's shipped training and evaluation data in mappings/training/ from the shared data.

Run from the repository root:  python mappings/build/build_training.py [--data ../shared/data]
The product reads only the files this writes, never the shared folder (sources and licences: mappings/README.md).

- labelled_sentences.csv  goal,text   2,567 sentences with one SDG goal (Apache-2.0, LICENSE_labelled_sentences)
- target_texts.csv        goal,text   332 UN target texts labelled with their goal (same source)
- uprinfo_recommendations.csv.gz  session,response,issues,text   UPR Info sessions 1-17; issues = uprinfo ids
  ';'-separated; one row per distinct (session, text), the recommending states folded away (cite UPR Info)
- uninfo_suboutputs.csv   country,targets,goals,text   UN INFO JWP sub-outputs (title + description) with the SDG
  targets/goals the plan declared (CC BY 4.0)
- iati_sdg_activities.csv identifier,targets,goals,text   IATI activities that declare SDG goals/targets
  (sector vocabulary 7/8, tag vocabulary 2/3): title + description (per-publisher licences)
- slovenia_ohchr_goals.csv cycle,goals,text   OHCHR-assigned SDG goals of Slovenia's UPR recommendations, cycles 3-4:
  EVALUATION ONLY, never trained on (cite OHCHR)
"""
from __future__ import annotations

import argparse
import csv
import gzip
import io
import re
import shutil
import sys
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "mappings" / "training"
sys.path.insert(0, str(ROOT))

from matcher.cooperation import repair_mojibake  # noqa: E402
from matcher.taxonomy import normalise_goal, normalise_target, theme_code  # noqa: E402

_TRAILING_STATE = re.compile(r"\s*\([^()]*\)\s*;?\s*$")
_LEADING_NUMBER = re.compile(r"^\s*\d+(?:\.\d+)*\.?\s+")


def _write(name: str, header: list[str], rows: list[list[str]]) -> None:
    path = OUT / name
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    data = buf.getvalue().encode("utf-8")
    if name.endswith(".gz"):
        # mtime=0: the same input gives byte-identical output (the model cache key hashes these bytes)
        data = gzip.compress(data, compresslevel=9, mtime=0)
    path.write_bytes(data)
    print(f"{name}: {len(rows)} rows, {len(data):,} bytes")


def _clean(text: str) -> str:
    return " ".join((text or "").split())


def labelled_sentences(data: Path) -> None:
    src = data / "lexicons" / "labelled_sentences"
    rows = []
    with (src / "original_data.csv").open(encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh):
            g, t = normalise_goal(r["SDG"]), _clean(r["Text"])
            if g and t:
                rows.append([g, t])
    _write("labelled_sentences.csv", ["goal", "text"], rows)
    rows = []
    with (src / "targets.csv").open(encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh):
            g, t = normalise_goal(r.get("sdg")), _clean(r.get("text"))
            if g and t:
                rows.append([g, t])
    _write("target_texts.csv", ["goal", "text"], rows)
    shutil.copyfile(src / "LICENSE", OUT / "LICENSE_labelled_sentences")


def uprinfo(data: Path) -> None:
    seen: dict[tuple[str, str], list] = {}
    for name in ("1-5.csv", "6-9.csv", "10-13.csv", "14-17.csv"):
        raw = (data / "upr" / "uprinfo" / "original" / name).read_bytes().decode("mac_roman")
        for r in csv.DictReader(io.StringIO(raw.replace("\r\n", "\n").replace("\r", "\n"))):
            text = _LEADING_NUMBER.sub("", _TRAILING_STATE.sub("", _clean(r["Text"])))
            session = (r.get("Session") or "").strip()
            if not text or not session.isdigit():
                continue
            issues = sorted({c for c in (theme_code("uprinfo", p.strip()) for p in (r.get("Issue") or "").split(","))
                             if c})
            row = seen.setdefault((session, text), [session, (r.get("Response") or "").strip(), set(), text])
            row[2].update(issues)
    rows = [[s, resp, ";".join(sorted(iss)), t] for s, resp, iss, t in seen.values()]
    rows.sort(key=lambda r: (int(r[0]), r[3]))
    _write("uprinfo_recommendations.csv.gz", ["session", "response", "issues", "text"], rows)


def _codes(cell: str, norm) -> list[str]:
    # "4.a Build and upgrade ...,11.1 By 2030, ..." : a code opens each item
    found = re.findall(r"(?:^|,)\s*(\d{1,2}(?:\.(?:\d{1,2}|[a-z]))?)\s", (cell or "") + " ")
    return list(dict.fromkeys(c for c in (norm(x) for x in found) if c))


def uninfo(data: Path) -> None:
    from openpyxl import load_workbook

    rows, seen = [], set()

    def add(r: dict) -> None:
        # the exports hold UTF-8 read as Mac Roman ("r√©fugi√©s"): repaired as the UN INFO reader does, so the
        # model learns the words it will see in ingested items and typed texts ("réfugiés")
        title, desc = (_clean(repair_mojibake(str(r.get(k) or ""))[0]) for k in ("Sub-Output", "Description"))
        text = title if desc in ("", "-", "None") else f"{title}. {desc}"
        targets = _codes(str(r.get("SDG Targets") or ""), normalise_target)
        goals = _codes(str(r.get("SDG Goals") or ""), normalise_goal)
        goals = list(dict.fromkeys(goals + [t.split(".")[0] for t in targets]))
        if text and goals and text not in seen:
            seen.add(text)
            rows.append([_clean(str(r.get("Country") or "")), ";".join(targets), ";".join(goals), text])

    folder = data / "uninfo"
    for path in sorted(folder.glob("jwp_export_*.xlsx")):
        ws = load_workbook(path, read_only=True).worksheets[0]
        it = ws.iter_rows(values_only=True)
        head = [str(h).strip() if h is not None else "" for h in next(it)]
        for values in it:
            add(dict(zip(head, values)))
    for path in sorted(folder.glob("jwp_export_*.csv")):
        with path.open(encoding="utf-8-sig", newline="") as fh:
            for r in csv.DictReader(fh):
                add({k.strip(): v for k, v in r.items() if k})
    _write("uninfo_suboutputs.csv", ["country", "targets", "goals", "text"], rows)


def iati(data: Path) -> None:
    rows, seen = [], set()
    files = sorted((data / "iati" / "activities").glob("*.xml")) + sorted(
        (data / "iati" / "activities" / "by_country").glob("*.xml"))
    for path in files:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
        try:
            root = etree.parse(str(path), parser).getroot()
        except etree.XMLSyntaxError:
            continue
        for act in root.iter("iati-activity"):
            ident = _clean(act.findtext("iati-identifier") or "")
            goals, targets = [], []
            for el in list(act.iter("sector")) + list(act.iter("tag")):
                voc, code = el.get("vocabulary"), el.get("code") or ""
                goal_vocab = ("7",) if el.tag == "sector" else ("2",)
                target_vocab = ("8",) if el.tag == "sector" else ("3",)
                if voc in goal_vocab and normalise_goal(code):
                    goals.append(normalise_goal(code))
                elif voc in target_vocab and normalise_target(code):
                    targets.append(normalise_target(code))
            if not (goals or targets) or ident in seen:
                continue
            title = _clean(act.findtext("title/narrative") or act.findtext("title") or "")
            desc = _clean(act.findtext("description/narrative") or act.findtext("description") or "")
            text = _clean(f"{title}. {desc}" if desc else title)[:2000]
            if not text:
                continue
            seen.add(ident)
            targets = list(dict.fromkeys(targets))
            goals = list(dict.fromkeys(goals + [t.split(".")[0] for t in targets]))
            rows.append([ident, ";".join(targets), ";".join(goals), text])
    _write("iati_sdg_activities.csv", ["identifier", "targets", "goals", "text"], rows)


def slovenia(data: Path) -> None:
    rows = []
    with (data / "upr" / "slovenia" / "slovenia_upr_thematic_lists_c2-c4.csv").open(encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            goals = [g for g in (normalise_goal(x) for x in (r.get("sdg_goals") or "").split(";")) if g]
            text = _TRAILING_STATE.sub("", _clean(r["text"]))
            if goals and text:
                rows.append([r["cycle"], ";".join(goals), text])
    _write("slovenia_ohchr_goals.csv", ["cycle", "goals", "text"], rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    for step in (labelled_sentences, uprinfo, uninfo, iati, slovenia):
        step(args.data)


if __name__ == "__main__":
    main()
