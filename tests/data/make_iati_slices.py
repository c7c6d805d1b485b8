"""Cut the IATI test fixtures from the real files in ../shared/data/iati/activities (run by hand, once).

Each slice keeps the original root element (with its attributes and namespace declarations) and
the chosen activities byte-for-byte as lxml reads them, so they stay valid, real XML.
Usage: python tests/data/make_iati_slices.py [path/to/shared/data]
"""
from __future__ import annotations

import copy
import shutil
import sys
from pathlib import Path

from lxml import etree

HERE = Path(__file__).parent
SHARED = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parents[2] / "shared" / "data"
ACT = SHARED / "iati" / "activities"

SLICES = {
    # file -> (source file, identifiers in the order wanted)
    "iati_dportal_sample_slice.xml": ("dportal_sample_100_mixed_publishers.xml", [
        "GB-CHC-202918-MLIB06", "SE-0-SE-2-90258A0101-GGG-72050", "US-GOV-11-GH-10545S0000",
        "US-501c3-522318905-SG-1120091252354", "GB-CHC-220949-D464", "CH-4-2015002496", "GB-GOV-1-300832-101",
        "NO-BRC-977538319_X9SM1403", "XM-OCHA-CBPF-SSD-18/HSS10/RA1/H/INGO/11297",
        "XM-DAC-41122-Sierra Leone-3900/A0/06/001/013", "ES-DIR3-E04585801-009-090792",
        "US-GOV-1-720FDA18CA00052", "XM-DAC-903-SII-36027", "XM-OCHA-FTS-MRT-15/H/77007/R/122",
        "GB-CHC-220949-D353",
    ]),
    "iati_nl_mfa_slice_v203.xml": ("nl_mfa_v203.xml", None),  # first 4 activities
    "iati_dportal_covid_ke_slice.xml": ("by_country/dportal_covid19_2021-06_KE.xml", [
        "41AAA-22593-001", "CA-CRA_ACR-817387277-PROJECTS-1340", "DAC-1601-INV-017544", "GB-CHC-220949-P8290",
        "GB-CHC-274467-102112", "NL-KVK-41152786-", "XM-DAC-41114-OUTPUT-00123204", "XM-DAC-41114-PROJECT-00129584",
        "XM-DAC-41304-549INT5000", "XM-DAC-3-1-286082-34633", "XM-DAC-928-KE-2020-21-13.003.AF01.KEN02",
    ]),
    "iati_dportal_covid_sl_slice.xml": ("by_country/dportal_covid19_2021-06_SL.xml", [
        "US-GOV-1-720FDA20GR00216", "GB-CHC-290836-P190", "XM-DAC-41114-PROJECT-00127112",
    ]),
    "iati_legacy_1x_slice.xml": ("legacy_1x_datastore_api_response_dfid.xml", None),  # first 4 activities
}
WHOLE = {
    "iati_dfid_albania_v201.xml": "gb_dfid_albania_v201.xml",
    "iati_official_example_v203.xml": "iati_official_example_annotated_v203.xml",
}


def cut(src: Path, wanted: list[str] | None, first: int = 4) -> bytes:
    tree = etree.parse(str(src))
    activities = list(tree.getroot().iter("iati-activity"))
    if wanted is None:
        keep = set(activities[:first])
    else:
        by_id = {" ".join((a.findtext("iati-identifier") or "").split()): a for a in activities}
        missing = [w for w in wanted if w not in by_id]
        assert not missing, f"{src.name}: not found {missing}"
        keep = {by_id[w] for w in wanted}
        order = {w: i for i, w in enumerate(wanted)}
        # re-order the kept activities as listed (e.g. a child before its parent)
        parent = activities[0].getparent()
        for a in activities:
            if a not in keep:
                parent.remove(a)
        kept = sorted(parent.findall("iati-activity"), key=lambda a: order[" ".join(a.findtext("iati-identifier").split())])
        for a in kept:
            parent.remove(a)
        for a in kept:
            parent.append(copy.deepcopy(a))
        return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")
    for a in activities:
        if a not in keep:
            a.getparent().remove(a)
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


def main() -> None:
    for out, (src, wanted) in SLICES.items():
        (HERE / out).write_bytes(cut(ACT / src, wanted))
        print(out, (HERE / out).stat().st_size)
    for out, src in WHOLE.items():
        shutil.copyfile(ACT / src, HERE / out)
        print(out, (HERE / out).stat().st_size)


if __name__ == "__main__":
    main()
