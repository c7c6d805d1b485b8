"""The streaming XLSX reader (matcher.xlsx) against openpyxl, cell by cell: real files and edge cases."""
from __future__ import annotations

import io
import re
import zipfile
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.cell.rich_text import CellRichText, TextBlock
from openpyxl.cell.text import InlineFont
from openpyxl.utils.datetime import CALENDAR_MAC_1904

from matcher.tables import TableError, read_table, require_columns
from matcher.xlsx import UnsavedFormula, XlsxError, read_rows

from conftest import DATA, SHARED

ROOT = Path(__file__).resolve().parents[1]
REAL = [SHARED / "uninfo" / "jwp_export_africa_education_theme.xlsx", DATA / "uninfo_jwp_africa_slice.xlsx",
        DATA / "uhri_sample.xlsx", ROOT / "mappings" / "donor_portfolio_template.xlsx"]


def _typed(values) -> list:
    # 1 == 1.0 == True in Python: compare the types too
    return [(type(v).__name__, v) for v in values]


def _openpyxl(path) -> dict[int, list]:
    """{row number: values} of the non-empty rows, as openpyxl's read-only mode gives them."""
    wb = load_workbook(path, read_only=True, data_only=True)
    try:
        return {n: _typed(r) for n, r in enumerate(wb.worksheets[0].iter_rows(values_only=True), start=1)
                if any(v is not None for v in r)}
    finally:
        wb.close()


def _fast(path) -> dict[int, list]:
    return {n: _typed(r) for n, r in read_rows(path, mark_unsaved=True) if any(v is not None for v in r)}


def _same(path) -> dict[int, list]:
    """Our rows, equal to openpyxl's but where a formula has no saved value: openpyxl gives None, we don't."""
    expected, got = _openpyxl(path), _fast(path)
    assert got.keys() == expected.keys()
    for n in expected:
        as_openpyxl = [("NoneType", None) if t == "UnsavedFormula" else (t, v) for t, v in got[n]]
        assert as_openpyxl == expected[n], f"row {n}"
    return got


@pytest.mark.parametrize("path", REAL, ids=[p.name for p in REAL])
def test_real_files_read_exactly_as_openpyxl_reads_them(path):
    if not path.is_file():
        pytest.skip(f"{path} is not on this machine")
    rows = _same(path)
    assert len(rows) > 1 and max(len(r) for r in rows.values()) > 5


# --------------------------------------------------------------------------- workbooks written by openpyxl
def _save(wb, tmp_path, name) -> Path:
    path = tmp_path / name
    wb.save(path)
    return path


def _typed_workbook(epoch=None) -> Workbook:
    wb = Workbook()
    if epoch is not None:
        wb.epoch = epoch
    ws = wb.active
    ws.append(["text", "int", "float", "date", "datetime", "time", "duration", "bool", "formula", "error"])
    ws.append(["Kenya", 12, 1733015.51, date(2025, 1, 1), datetime(2024, 6, 30, 13, 45, 10), time(8, 30),
               timedelta(hours=30, minutes=5), True, "=B2*2", "#N/A"])
    ws.append(["  spaced  ", -7, 1e-7, date(1900, 1, 1), datetime(1904, 1, 2), time(0, 0, 1), timedelta(0), False,
               None, "#DIV/0!"])
    ws.append(["line\nbreak & <tags> \"quotes\" ’", 10**15, -0.5, date(1999, 12, 31), None, None, None, None,
               None, None])
    ws["D5"] = 45000
    ws["D5"].number_format = "yyyy-mm-dd"
    ws["E5"] = 45000.75
    ws["E5"].number_format = "[h]:mm:ss"
    ws["F5"] = 12.5
    ws["F5"].number_format = "0.00%"
    ws["G5"] = 3
    ws["G5"].number_format = '0 "days"'
    return wb


@pytest.mark.parametrize("epoch", [None, CALENDAR_MAC_1904], ids=["1900", "1904"])
def test_numbers_dates_booleans_errors_and_both_date_systems(tmp_path, epoch):
    path = _save(_typed_workbook(epoch), tmp_path, "typed.xlsx")
    rows = _same(path)
    assert rows[2][3] == ("datetime", datetime(2025, 1, 1))
    assert rows[2][1] == ("int", 12) and rows[2][2] == ("float", 1733015.51)
    assert rows[2][7] == ("bool", True) and rows[2][9] == ("str", "#N/A")
    assert rows[2][6] == ("timedelta", timedelta(hours=30, minutes=5))
    assert rows[2][8] == ("UnsavedFormula", UnsavedFormula("B2*2"))  # openpyxl computes no formula: nothing saved
    assert rows[5][4] == ("timedelta", timedelta(days=45000, hours=18))
    if epoch is not None:  # the same serial is another day in the 1904 system: read through the workbook's epoch
        assert 'date1904="1"' in zipfile.ZipFile(path).read("xl/workbook.xml").decode()


def test_inline_and_rich_text_strings_of_a_write_only_workbook(tmp_path):
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("export")
    ws.append(["a", "b", "c"])
    rich = CellRichText("plain ", TextBlock(InlineFont(b=True), "bold"), " tail")
    ws.append(["x", rich, 3.25])
    ws.append([None, None, None])
    ws.append(["", "only B", None])
    path = _save(wb, tmp_path, "inline.xlsx")
    assert b"inlineStr" in zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml")
    rows = _same(path)
    assert rows[2][1] == ("str", "plain bold tail")


def test_sparse_cells_and_missing_rows_keep_their_places(tmp_path):
    wb = Workbook()
    ws = wb.active
    ws["A1"], ws["C1"], ws["AB1"] = "first", "third", "far"
    ws["B4"] = 4
    ws["AC9"] = "last"
    path = _save(wb, tmp_path, "sparse.xlsx")
    rows = _same(path)
    assert sorted(rows) == [1, 4, 9]
    assert rows[1][2] == ("str", "third") and rows[1][1] == ("NoneType", None)
    assert len(rows[1]) == len(rows[9]) == 29  # padded to the <dimension>


# --------------------------------------------------------------------------- hand-made parts
_CT = ('<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
       '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
       '<Default Extension="xml" ContentType="application/xml"/>'
       '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
       '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
       '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
       '</Types>')
_PKG = ('<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
        '</Relationships>')
_BOOK = ('<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
         'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
         '<sheet name="data" sheetId="1" r:id="rId1"/></sheets></workbook>')
_BOOK_RELS = ('<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
              '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="/xl/worksheets/sheet1.xml"/>'
              '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
              '</Relationships>')
_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'


def _workbook(tmp_path, sheet_data: str, shared: str = "", prolog: str = "", dimension: str = "") -> Path:
    path = tmp_path / "hand.xlsx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml", _CT)
        z.writestr("_rels/.rels", _PKG)
        z.writestr("xl/workbook.xml", _BOOK)
        z.writestr("xl/_rels/workbook.xml.rels", _BOOK_RELS)
        z.writestr("xl/sharedStrings.xml", f'<?xml version="1.0"?><sst {_NS}>{shared}</sst>')
        dim = f'<dimension ref="{dimension}"/>' if dimension else ""
        z.writestr("xl/worksheets/sheet1.xml",
                   f'<?xml version="1.0"?>{prolog}<worksheet {_NS}>{dim}<sheetData>{sheet_data}</sheetData></worksheet>')
    return path


def test_rows_and_cells_without_references_rich_shared_strings_and_phonetic_runs(tmp_path):
    shared = ('<si><t>plain</t></si>'
              '<si><r><rPr><b/></rPr><t>rich </t></r><r><t xml:space="preserve">runs </t></r></si>'
              '<si><t>漢字</t><rPh sb="0" eb="2"><t>かんじ</t></rPh><phoneticPr fontId="1"/></si>'
              '<si><t>under_x005F_x000D_score</t></si><si><t/></si>')
    sheet = ('<row><c t="s"><v>0</v></c><c t="s"><v>1</v></c><c/><c t="s"><v>2</v></c></row>'
             '<row r="3"><c r="B3" t="s"><v>3</v></c><c><v>2.50</v></c><c t="b"><v>0</v></c><c t="s"><v>4</v></c></row>'
             '<row><c r="A4" t="str"><v>formula text</v></c><c r="C4" t="e"><v>#REF!</v></c>'
             '<c r="D4"><f>1+1</f><v>2</v></c><c r="E4"><f>A1</f></c><c r="F4"><v></v></c></row>'
             '<row r="6"><c r="A6" t="inlineStr"><is><r><t>in</t></r><r><t>line</t></r></is></c>'
             '<c r="B6" t="inlineStr"><is><t>x</t></is></c><c r="C6"><v>1E3</v></c><c r="D6"><v>-0</v></c></row>')
    path = _workbook(tmp_path, sheet, shared)
    rows = _same(path)
    assert [v for _, v in rows[1]] == ["plain", "rich runs ", None, "漢字"]
    assert [v for _, v in rows[3]] == [None, "under_x000D_score", 2.5, False, ""]
    assert [v for _, v in rows[4]][:5] == ["formula text", None, "#REF!", 2, UnsavedFormula("A1")]
    assert rows[6][:3] == [("str", "inline"), ("str", "x"), ("float", 1000.0)]


def test_a_formula_with_no_saved_value_is_never_an_empty_cell(tmp_path):
    # saved results read as before, as Excel and LibreOffice write them (a formula giving "" is t="str" with an
    # empty <v>: what LibreOffice saved for =IF(A2="water","",A2) here); no result: an error, or marked
    saved = ('<row r="1"><c r="A1"><f>1+1</f><v>2</v></c><c r="B1" t="str"><f>A2</f><v>water</v></c>'
             '<c r="C1" t="str"><f>IF(A2="water","",A2)</f><v></v></c><c r="D1" t="e"><f>1/0</f><v>#DIV/0!</v></c>'
             '<c r="E1" t="b"><f>A1=2</f><v>1</v></c></row>')
    unsaved = ('<row r="2"><c r="A2"><f>B2</f><v></v></c><c r="B2"><f t="shared" ref="B2:B3" si="0">C2</f></c>'
               '<c r="C2" t="str"><f>A1&amp;"x"</f></c><c r="D2"><v></v></c></row>')
    path = _workbook(tmp_path, saved + unsaved)
    assert list(read_rows(path, max_row=1)) == [(1, [2, "water", None, "#DIV/0!", True])]
    with pytest.raises(XlsxError, match=r"sheet 'data', cell A2: a formula with no saved value \(=B2\): open and "
                                        r"save the file in Excel or LibreOffice so its values are saved") as err:
        list(read_rows(path))
    assert err.value.row == 2
    assert list(read_rows(path, mark_unsaved=True))[1] == (
        2, [UnsavedFormula("B2"), UnsavedFormula("C2"), UnsavedFormula('A1&"x"'), None])
    assert UnsavedFormula("").as_text() == "(a formula with no saved value)" and UnsavedFormula("B2").as_text() == "=B2"

    # a workbook a script wrote with openpyxl: read_table gives the mark, never None
    wb = Workbook()
    ws = wb.active
    ws.append(["text", "copy"])
    ws.append(["Ratify the Convention against Torture", "=A2"])
    path = _save(wb, tmp_path, "script.xlsx")
    table = read_table(path)
    assert list(table.rows) == [(2, ["Ratify the Convention against Torture", UnsavedFormula("A2")])]
    ws["B1"] = '=UPPER("copy")'
    path = _save(wb, tmp_path, "script.xlsx")
    with pytest.raises(TableError, match=r"script.xlsx: row 1: the header cell B1 is a formula with no saved value "
                                         r"\(=UPPER\(\"copy\"\)\), so its column has no name"):
        read_table(path)


def test_wrong_dimension_loses_nothing(tmp_path):
    # openpyxl's read-only mode trusts <dimension>: with "A1:A1" it gives A1 alone; every cell here is kept
    path = _workbook(tmp_path, '<row r="1"><c r="A1"><v>1</v></c><c r="B1"><v>2</v></c></row>'
                               '<row r="2"><c r="C2"><v>3</v></c></row>', dimension="A1:A1")
    assert list(read_rows(path)) == [(1, [1, 2]), (2, [None, None, 3])]
    assert _openpyxl(path) == {1: [("int", 1)]}


def test_doctype_and_entities_are_refused(tmp_path):
    bomb = '<!DOCTYPE worksheet [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    path = _workbook(tmp_path, '<row r="1"><c r="A1" t="inlineStr"><is><t>&b;</t></is></c></row>', prolog=bomb)
    with pytest.raises(XlsxError, match="DOCTYPE"):
        list(read_rows(path))
    with pytest.raises(TableError, match="hand.xlsx: .*DOCTYPE"):
        read_table(path)


def test_damage_is_an_error_naming_the_row(tmp_path):
    good = _workbook(tmp_path, "".join(f'<row r="{n}"><c r="A{n}"><v>{n}</v></c></row>' for n in range(1, 50)))
    sheet = zipfile.ZipFile(good).read("xl/worksheets/sheet1.xml")
    cut = tmp_path / "cut.xlsx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(cut, "w") as dst:
        for item in src.infolist():
            dst.writestr(item, sheet[: len(sheet) // 2] if item.filename.endswith("sheet1.xml") else src.read(item))
    with pytest.raises(XlsxError, match=r"damaged or truncated after row (\d+)") as err:
        list(read_rows(cut))
    assert err.value.row == int(re.search(r"after row (\d+)", str(err.value)).group(1)) + 1
    with pytest.raises(XlsxError, match="not a readable XLSX workbook"):
        read_rows(io.BytesIO(good.read_bytes()[:300])).__next__()
    backwards = _workbook(tmp_path, '<row r="5"><c r="A5"><v>1</v></c></row><row r="2"><c r="A2"><v>1</v></c></row>')
    with pytest.raises(XlsxError, match="row 2 comes after row 5"):
        list(read_rows(backwards))


def test_read_table_finds_the_sheet_with_the_columns(tmp_path):
    """Without columns asked for: the first sheet, as always; with them: the first sheet that has them all."""
    path = tmp_path / "book.xlsx"
    wb = Workbook()
    wb.active.title = "Notes"  # no header row at all
    ws = wb.create_sheet("Labels")
    ws.append(["text", "other"])
    ws = wb.create_sheet("Both")
    ws.append(["text", "sdg"])
    ws.append(["Abolish the death penalty.", "16"])
    wb.save(path)
    with pytest.raises(TableError, match="book.xlsx, sheet 'Notes': the sheet has no header row"):
        read_table(path)
    table = read_table(path, columns=("text", "sdg"))
    assert table.name == "book.xlsx, sheet 'Both'" and table.columns == ["text", "sdg"]
    assert list(table.rows) == [(2, ["Abolish the death penalty.", "16"])]
    with pytest.raises(TableError) as err:
        read_table(path, columns=("text", "goal"))
    assert str(err.value) == ("book.xlsx: no sheet has all the columns 'text', 'goal'; sheets: 'Notes' has no header "
                              "row; 'Labels' holds 'text', 'other'; 'Both' holds 'text', 'sdg'")
    one = tmp_path / "one.xlsx"
    wb = Workbook()
    wb.active.append(["text"])
    wb.save(one)
    assert read_table(one, columns=("sdg",)).name == "one.xlsx"  # one sheet: the caller names what is missing


def test_header_formulas_and_sheetless_workbooks_in_read_table(tmp_path):
    """A header formula with no saved value names no column: harmless beside the columns asked for, said when one
    is missing; a workbook with no worksheet is a TableError (an upload gets a 4xx, never a 500)."""
    path = tmp_path / "book.xlsx"
    wb = Workbook()
    wb.active.title = "Read me"
    wb.active.append(["Fill the Data sheet"])
    ws = wb.create_sheet("Data")
    ws.append(["text", "sdg", '=UPPER("note")'])
    ws.append(["Abolish the death penalty.", "16", None])
    wb.save(path)
    table = read_table(path, columns=("text", "sdg"))
    assert table.sheet == "Data" and table.columns == ["text", "sdg", ""]
    with pytest.raises(TableError) as err:
        read_table(path, columns=("text", "note"))
    assert str(err.value) == ("book.xlsx: no sheet has all the columns 'text', 'note'; sheets: 'Read me' holds 'Fill "
                              "the Data sheet'; 'Data' holds 'text', 'sdg' (row 1: the header cell C1 is a formula "
                              "with no saved value (=UPPER(\"note\")), so its column has no name)")
    del wb["Read me"]
    wb.save(path)
    assert read_table(path, columns=("text",)).columns == ["text", "sdg", ""]  # one sheet, the column there
    with pytest.raises(TableError, match=r"book.xlsx: row 1: the header cell C1 is a formula with no saved value .*"
                                         r"so its column has no name: open and save the file"):
        read_table(path, columns=("note",))  # the missing column may be that cell: said so
    with pytest.raises(TableError, match="the header cell C1"):
        read_table(path)  # no column asked for: the whole header matters
    # no worksheet at all (the workbook part lists none)
    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    parts["xl/workbook.xml"] = re.sub(rb"<sheets>.*</sheets>", b"<sheets/>", parts["xl/workbook.xml"], flags=re.S)
    with zipfile.ZipFile(path, "w") as z:
        for n, data in parts.items():
            z.writestr(n, data)
    for columns in ((), ("text",)):
        with pytest.raises(TableError, match="book.xlsx: the workbook has no worksheet"):
            read_table(path, columns=columns)


def test_read_table_sheets_hidden_asked_and_several_with_the_columns(tmp_path):
    """A hidden sheet comes last; --sheet reads the sheet named; other sheets with the columns are listed."""
    path = tmp_path / "years.xlsx"
    wb = Workbook()
    wb.active.title = "Lists"
    wb.active.append(["text", "sdg"])  # a list sheet the workbook hides
    wb.active.sheet_state = "hidden"
    for year in ("2023", "2024"):
        ws = wb.create_sheet(year)
        ws.append(["text", "sdg"])
        ws.append([f"A text of {year}.", "4"])
    wb.save(path)
    table = read_table(path, columns=("text", "sdg"))
    assert (table.name, table.sheet, table.also) == ("years.xlsx, sheet '2023'", "2023", ("2024", "Lists"))
    assert list(table.rows) == [(2, ["A text of 2023.", "4"])]
    table = read_table(path, columns=("text",), sheet="2024")
    assert (table.name, table.sheet, table.also) == ("years.xlsx, sheet '2024'", "2024", ())
    assert list(table.rows) == [(2, ["A text of 2024.", "4"])]
    assert read_table(path).sheet == "2023"  # no column asked for: the first visible sheet
    assert read_table(path, sheet="Lists").name == "years.xlsx, hidden sheet 'Lists'"
    with pytest.raises(TableError, match=r"no sheet has all the columns 'TEXT', 'sdg' \(did you mean 'text' on sheet "
                                         r"'2023'\?\); sheets: '2023' holds 'text', 'sdg'"):
        read_table(path, columns=("TEXT", "sdg"))
    with pytest.raises(TableError, match=r"years.xlsx: no sheet named '2025' \(sheets: 'Lists', '2023', '2024'\)"):
        read_table(path, sheet="2025")
    csv_path = tmp_path / "t.csv"
    csv_path.write_text("text\nx\n", encoding="utf-8")
    with pytest.raises(TableError, match="a sheet \\('2024'\\) was asked for, but this is a CSV file"):
        read_table(csv_path, sheet="2024")


def test_require_columns_suggests_the_header_spelling(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("Paragraph,SDG label\nx,5\n", encoding="utf-8")
    table = read_table(path)
    assert require_columns(table, ("SDG label", "Paragraph")) == [1, 0]
    with pytest.raises(TableError) as err:
        require_columns(table, ("paragraph",))
    assert str(err.value) == ("t.csv: no column 'paragraph' (did you mean 'Paragraph'?); columns found: 'Paragraph', "
                              "'SDG label' (the header is the first row that is not empty)")
    with pytest.raises(TableError, match="no column 'goal'; columns found"):
        require_columns(table, ("goal",))
