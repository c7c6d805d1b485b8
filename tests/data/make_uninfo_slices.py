"""Cut the UN INFO test slices in tests/data/ from the real files in ../shared/data/uninfo (run by hand; tests never run it)."""
import csv, io, json
from openpyxl import Workbook, load_workbook
import sys
from pathlib import Path
SRC = (sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).resolve().parents[3] / "shared" / "data" / "uninfo")) + "/"
OUT = str(Path(__file__).resolve().parent) + "/"
# ---- XLSX
wb = load_workbook(SRC + "jwp_export_africa_education_theme.xlsx", read_only=True)
ws = wb.worksheets[0]
rows = list(ws.iter_rows(values_only=True))
header = rows[0]
ci = {h: i for i, h in enumerate(header)}
by_country = {}
for n, r in enumerate(rows[1:], start=2):
    by_country.setdefault(r[ci["Country"]], []).append(n)
pick = [16, 32, 61, 65, 92, 95, 109, 110, 153, 238]  # Kenya (86773/86775 also in the API tree)
pick += by_country["Gabon"][:8] + by_country["Ghana"][:6] + by_country["Sao Tome and Principe"][:6]
pick += by_country["Egypt"][:6] + [33, 241, 444, 447, 618]  # quoted texts, damage
pick = sorted(dict.fromkeys(pick))
out = Workbook()
sh = out.active
sh.title = ws.title
sh.append(list(header))
for n in pick:
    sh.append(list(rows[n - 1]))
out.save(OUT + "uninfo_jwp_africa_slice.xlsx")
print("xlsx rows", len(pick), "countries", sorted({rows[n - 1][0] for n in pick}), "sheet", ws.title)
# ---- CSV (records re-written exactly as the source writes them: csv module, all quoted)
raw = open(SRC + "jwp_export_arab_states_education_theme.csv", "rb").read()
recs = list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))
buf = io.StringIO(newline="")
csv.writer(buf, quoting=csv.QUOTE_ALL).writerows(recs)
assert buf.getvalue().encode("utf-8") == raw, "re-writing does not give the original bytes"
h = recs[0]
multi = [i for i, r in enumerate(recs[1:], 1) if "\n" in r[h.index("Description")]]
av = [i for i, r in enumerate(recs[1:], 1)
      if any(float(r[j] or 0) > float(r[h.index(c.replace("Available", "Required"))] or 0)
             for j, c in enumerate(h) if c.endswith("Available"))]
sel = sorted(dict.fromkeys(list(range(1, 13)) + multi[:4] + av[:4]))
buf = io.StringIO(newline="")
csv.writer(buf, quoting=csv.QUOTE_ALL).writerows([h] + [recs[i] for i in sel])
open(OUT + "uninfo_jwp_arab_states_slice.csv", "wb").write(buf.getvalue().encode("utf-8"))
print("csv rows", len(sel), sorted({recs[i][0] for i in sel}), "multi", multi[:4], "av", av[:4])
# ---- KEN JSON: strategic priority 3 with its outcome, 2 outputs and all their sub-output entries
d = json.load(open(SRC + "api_derived_country_KEN.json"))
sp = next(n for n in d["framework"] if n["code"] == "3")
names = {o["name"] for oc in sp["children"] for o in oc["children"]}
projects = [p for p in d["projects"] if p["outcome"] in names]
trim = {"workspace_id": d["workspace_id"], "name": d["name"],
        "totals": {k: sp[k] for k in ("required", "available", "spent")},
        "projects": projects, "framework": [sp]}
open(OUT + "uninfo_api_KEN_slice.json", "w").write(json.dumps(trim, ensure_ascii=False, indent=2))
print("json entries", len(projects), "ids", len({p["id"] for p in projects}))
