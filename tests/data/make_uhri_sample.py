"""Rebuild tests/data/uhri_sample.xlsx: a small UHRI export in the exact column layout of uhri.ohchr.org.

Run: /work/venv/bin/python tests/data/make_uhri_sample.py   (needs only openpyxl; the output is
deterministic apart from the workbook's timestamps).

Recommendation texts, recommending states, themes and affected persons are OHCHR's, from the UPR
thematic lists of Slovenia (A/HRC/43/15, session 34, cycle 3; A/HRC/59/15, session 48, cycle 4), as
parsed in shared/data/upr/slovenia/slovenia_upr_thematic_lists_c2-c4.csv.  Cite OHCHR.  What is NOT
from OHCHR is marked "fixture:" below and in tests/data/README.md: annotation ids, dates, regions,
SDG targets (OHCHR lists goals; targets were chosen within those goals), two positions, and the two
non-UPR rows, whose texts were written for this fixture.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path

from openpyxl import Workbook

OUT = Path(__file__).with_name("uhri_sample.xlsx")

COLUMNS = [
    "Text", "Countries Concerned", "Reccomending Body", "Document Symbol", "Themes", "Affected Persons", "Sdgs",
    "Document Publication Date", "UPR Reccomending States", "UPR Position", "Type", "OHCHR Annotation Id",
    "UPR Session", "Regions Concerned", "Recommending Regions", "Date of publication on UHRI",
]

# fixture: UN regional groups of the states used here (UHRI's own region labels may differ).
REGION = {
    "Slovenia": "Eastern European States", "Croatia": "Eastern European States", "Lithuania": "Eastern European States",
    "Slovakia": "Eastern European States", "North Macedonia": "Eastern European States",
    "Bulgaria": "Eastern European States", "France": "Western European and other States",
    "Spain": "Western European and other States", "Portugal": "Western European and other States",
    "Australia": "Western European and other States", "Canada": "Western European and other States",
    "Myanmar": "Asia-Pacific States", "Philippines": "Asia-Pacific States", "Maldives": "Asia-Pacific States",
    "Uzbekistan": "Asia-Pacific States", "Samoa": "Asia-Pacific States", "Thailand": "Asia-Pacific States",
    "Botswana": "African States", "Djibouti": "African States",
}

C3 = {"symbol": "A/HRC/43/15", "published": 43808, "on_uhri": 44096.4996282407}  # fixture: Excel serials
C4 = {"symbol": "A/HRC/59/15", "published": datetime(2025, 4, 3), "on_uhri": 45840.5210416667}  # a real date cell

# (cycle info, paragraph, text, recommending states, position, session cell, themes, affected persons, SDGs)
UPR = [
    (C3, "121.1", "Ratify the International Convention for the Protection of All Persons from Enforced "
     "Disappearance (France) (Lithuania);", ["France", "Lithuania"], "Supported", "34",
     ["Acceptance of international norms", "Enforced disappearances"], ["Disappeared persons"],
     ["16 - Peace, justice and strong institutions"]),
    (C3, "122.7", "Ratify the 1961 Convention on the Reduction of Statelessness (Slovakia) (Spain) (North Macedonia);",
     ["Slovakia", "Spain", "North Macedonia"], "Noted", "34", ["Acceptance of international norms"],
     ["stateless persons"], []),
    (C3, "122.100", "Step up measures to increase the employment rate of women and their representation at the "
     "level of management (Myanmar);", ["Myanmar"], "Supported", 34,
     ["Discrimination against women", "Right to work and to just & favorable conditions of work & labour rights"],
     ["Women"],
     ["5.5 - Women's full participation in leadership and decision-making",  # fixture: targets within goals 5, 10
      "10.2 - Promote universal social, economic and political inclusion"]),
    (C3, "121.15", "Take effective steps to finalize and implement a national plan for the prevention of family "
     "violence and violence against women, including guidelines for working with sexually abused children (Botswana);",
     ["Botswana"], "Supported", "34",
     ["Domestic violence", "Violence against women", "Children: family environment and alternative care",
      "Sexual & other forms of gender-based violence"],
     ["Children in vulnerable situations (abused, living on the street, institutionalized, indigenous, migrant "
      "children etc.)", "Children", "older persons", "Women", "persons with disabilities"],
     ["5.2 - Eliminate all forms of violence against women and girls",  # fixture: target within goal 5
      "16 - Peace, justice and strong institutions"]),
    (C3, "122.31", "Identify measures to combat all forms of discrimination, particularly racial discrimination, "
     "with special focus on fighting hate speech and racist and xenophobic statements against minorities (Djibouti);",
     ["Djibouti"], "Supported", "34", ["Equality & non-discrimination", "Racial discrimination"],
     ["refugees & asylum seekers", "Migrants & domestic workers", "older persons",
      "minorities/ racial, ethnic, linguistic, religious or descent-based groups"],
     ["10 - Reduced inequalities", "16 - Peace, justice and strong institutions"]),
    (C3, "121.5", "Improve access to affordable and good-quality care for older persons and people with a mental or "
     "physical disability (Australia);", ["Australia"], "Supported/Noted", "34",  # fixture: OHCHR says Supported
     ["Right to an adequate standard of living", "Persons with disabilities: accessibility, mobility", "Right to health"],
     ["older persons", "persons with disabilities"],
     ["3 - Good health and well-being", "10 - Reduced inequalities"]),
    (C3, "122.10", "Consider the ratification of the ILO Domestic Workers Convention, 2011 (No. 189) (Philippines);",
     ["Philippines"], "Noted", "34",
     ["Acceptance of international norms", "Right to work and to just & favorable conditions of work & labour rights"],
     ["Migrants & domestic workers", "Women"], ["8 - Decent work and economic growth"]),
    (C3, "122.149", "Reform its national legislation in order to implement international obligations of Slovenia on "
     "migrants, refugees and asylum seekers (Canada);", ["Canada"], "Noted", "34",
     ["Constitutional & legislative framework", "Equality & non-discrimination"],
     ["refugees & asylum seekers", "Migrants & domestic workers"], ["10 - Reduced inequalities"]),
    (C4, "140.7", "Ratify the Optional Protocol to the International Covenant on Economic, Social and Cultural Rights "
     "(Maldives) (Portugal);", ["Maldives", "Portugal"], "Supported", "Session 48",
     ["Ratification of & accession to international instruments",
      "Economic, social & cultural rights - general measures of implementation"], ["Public officials"],
     ["1 - No poverty", "2 - Zero hunger", "3 - Good health and well-being", "4 - Quality education",
      "5 - Gender equality", "6 - Clean water and sanitation", "7 - Affordable and clean energy",
      "8 - Decent work and economic growth"]),
    (C4, "140.16", "Take measures aimed at strengthening the capacity of national human rights mechanisms, especially "
     "in protecting victims of gender-based violence (Uzbekistan);", ["Uzbekistan"], "Supported", "Session 48",
     ["National Human Rights Institution (NHRI)", "Violence against women", "Sexual & gender-based violence"],
     ["Public officials", "Women & girls"], ["5.2 - Eliminate all forms of violence against women and girls"]),
    (C4, "140.150", "Expedite the drafting and enactment of the climate change act, and ensure adequate resources are "
     "allocated to its effective implementation (Samoa);", ["Samoa"], "Supported", "Session 48",
     ["Human rights & climate change", "Constitutional & legislative framework",
      "Budget & resources (for human rights implementation)"], ["Public officials"],
     ["13.2 - Integrate climate change measures into policies and planning"]),
    (C4, "140.103", "Combat trafficking in persons by dedicating resources to improve victim identification and "
     "enhancing investigation and prosecution efforts against traffickers (Australia);", ["Australia"], "Supported",
     "Session 48",
     ["Human trafficking & contemporary forms of slavery", "Rule of law & impunity", "Support to victims & witnesses",
      "Budget & resources (for human rights implementation)"],
     ["Law enforcement / police & prison officials", "Public officials", "Vulnerable persons/groups",
      "Judges, lawyers and prosecutors"],
     ["8.7 - Eradicate forced labour, modern slavery and human trafficking",
      "16.3 - Promote the rule of law and ensure equal access to justice"]),
    (C4, "140.134", "Consider guaranteeing in legislation at least one year of free and compulsory pre-primary "
     "education and 12 years of free primary and secondary education (Bulgaria);", ["Bulgaria"],
     "", "Session 48",  # fixture: position left empty (OHCHR says Supported) to exercise "pending"
     ["Right to education", "Constitutional & legislative framework"], ["Public officials"],
     ["4.1 - Free, equitable and quality primary and secondary education",
      "4.2 - Access to quality early childhood development and pre-primary education"]),
    (C4, "140.152", "Further promote gender equality and women's empowerment, including by ensuring equal "
     "participation of women from diverse backgrounds in political and public life (Thailand);", ["Thailand"],
     "Supported", "Session 48",
     ["Advancement of women", "Participation of women in political & public life", "Discrimination against women"],
     ["Public officials", "Women & girls"],
     ["5.5 - Women's full participation in leadership and decision-making", "5 - Gender equality"]),
]


def bullets(values: list[str]) -> str:
    """A multi-valued UHRI cell: one '- ' bullet per line."""
    return "\n".join(f"- {v}" for v in values)


def annotation_id(key: str) -> str:
    """fixture: a deterministic UUID in the shape of OHCHR's annotation ids."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://github.com/upr-align/uhri-fixture/{key}"))


def upr_row(c, para, text, states, position, session, themes, persons, sdgs) -> list:
    regions = list(dict.fromkeys(REGION[s] for s in states))
    return [
        f"{para} {text}", bullets(["Slovenia"]), bullets(["UPR"]), c["symbol"], bullets(themes), bullets(persons),
        bullets(sdgs), c["published"], bullets(states), position, bullets(["Recommendations"]),
        annotation_id(f"{c['symbol']}/{para}"), session, bullets([REGION["Slovenia"]]), bullets(regions), c["on_uhri"],
    ]


# fixture: two rows of other mechanisms (texts written for the fixture), to be counted as skipped.
OTHER = [
    ["The Committee recommends that the State party adopt temporary special measures to increase the participation "
     "of Roma women in public and political life.", bullets(["Slovenia"]), bullets(["CEDAW"]), "CEDAW/C/SVN/CO/7",
     bullets(["Participation of women in political & public life", "Discrimination against women"]),
     bullets(["Women & girls", "Roma, Gypsies, Sinti & Travellers"]),
     bullets(["5.5 - Women's full participation in leadership and decision-making"]), 45002, "", "",
     bullets(["Recommendations"]), annotation_id("CEDAW/C/SVN/CO/7/31"), "", bullets(["Eastern European States"]), "",
     45350.3771990741],
    ["The Special Rapporteur recommends that the States concerned end summary returns of migrants at their common "
     "border and give every person access to an individual asylum procedure.", bullets(["Slovenia", "Croatia"]),
     bullets(["SR Migrants"]), "A/HRC/47/30", bullets(["Migrants", "Asylum-seekers & refugees"]),
     bullets(["Migrants", "refugees & asylum seekers"]), bullets(["10.7 - Orderly, safe, regular migration"]), 44378,
     "", "", bullets(["Recommendations"]), annotation_id("A/HRC/47/30/105"), "", bullets(["Eastern European States"]),
     "", 44470.6180555556],
]


def build() -> Workbook:
    wb = Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    ws.append(COLUMNS)
    rows = [upr_row(*r) for r in UPR]
    ws_rows = rows[:6] + [OTHER[0]] + rows[6:11] + [OTHER[1]] + rows[11:] + [rows[0]]  # last: repeated annotation id
    for row in ws_rows:
        ws.append(row)
    return wb


if __name__ == "__main__":
    build().save(OUT)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")
