"""Score the shipped classifier against a labelled spreadsheet of the user's own (``upr-align evaluate FILE``).

The held-apart splits of ``matcher.evaluation`` measure the classifier on the shipped data; this module measures
it on texts a user labelled: a CSV or XLSX file with a text column and a label column.  The model is the one in
use (not retrained), so the file's texts are checked against the model's training texts: a text that nearly
repeats one of them (``matcher.splits``: TF-IDF cosine >= 0.7) is marked ``seen`` and the scores are given for all
texts and for the unseen ones apart, since a seen text measures memory.

Label cells (``parse_cell``): one or more codes separated by ``;`` ``,`` ``|`` ``/`` or new lines, in any usual
spelling: SDG goals ("5", "SDG 5", "Goal 05: Gender equality", "[1, 5, 16]", "SDG 5 and SDG 16", a goal's short
name or title in EN/FR/ES), SDG targets ("5.2", "Target 16.b", "16.2 End abuse, exploitation, ..." with its
official title; a target gives its goal too), indicators (their target) or, with ``vocabulary="uprinfo"``, UPR
Info issues (id or label).  "none" (or "no sdg", "-", "n/a") says the text has no label: the classifier should give
it none.  A cell that names no code ("?", "SDG 18") or is ambiguous ("1-8": a range or two goals?) is not guessed
at.  Rows are judged per (text, label) pair, as in ``matcher.evaluation``: rows with the same text (case and
punctuation aside) are one text with the union of their labels.  Skipped rows are counted with their row numbers:
no text, an empty label cell (unless ``empty_is_none``), a label that cannot be read, or an XLSX formula cell in
either column that the file saved no value of (its text or label is not known: never read as empty, so never as
"none" either).  The target level is
scored only over texts labelled with at least one target, and only the predicted targets of the goals a text was
given targets for are judged (a goal labelled without targets says nothing of its targets).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Optional

from .classification_store import sorted_codes
from .evaluation import scores
from .near_duplicates import training_index
from .settings import Settings, get_settings
from .tables import TableError, TableWriter, read_table, require_columns
from .taxonomy import (goal_of, goals, normalise_goal, normalise_indicator, normalise_target, targets,
                       theme_code)
from .xlsx import UNSAVED_HINT, UnsavedFormula

VOCABULARIES = ("sdg", "uprinfo")
NONE_TOKENS = frozenset({"none", "no sdg", "no sdgs", "no goal", "no label", "-", "n/a", "na", "n.a", "nil",
                         "not applicable"})
MAX_LABEL_CHARS = 2000  # a longer label cell is not a list of codes (and would make the name search slow)
_SPLIT = re.compile(r"[;,|/\n\r]+")
# inside a part: codes ("5", "16.b", "5.2.1") and words; words that only join codes ("SDG 5 and SDG 16")
_PIECE = re.compile(r"(?<![\w.])(\d{1,2}(?:\.(?:\d{1,2}|[a-z]))?(?:\.\d{1,2})?)(?![\w]|\.\w)|([^\W\d_]+)", re.I)
_JOINERS = frozenset({"sdg", "sdgs", "goal", "goals", "target", "targets", "indicator", "indicators", "odd", "odds",
                      "ods", "objectif", "objectifs", "objetivo", "objetivos", "cible", "cibles", "meta", "metas",
                      "no", "and", "et", "y", "e", "or"})
_WORD = re.compile(r"[^\W\d_]+")
_GLUED = re.compile(r"\b(sdgs?|goals?|targets?|odds?|ods)(?=\d)", re.I)  # "SDG5 and SDG16"
_RANGE = re.compile(r"\d\s*[-–—]\s*\d")  # "1-8": a range or two codes? ask rather than guess
SKIP_REASONS = {"no_text": "no text", "no_label": "an empty label cell", "bad_label": "a label that names no code",
                "unsaved_formula": "a formula with no saved value"}  # why a row was skipped, as said to the user
OUT_COLUMNS = ("rows", "text", "seen_in_training", "gold", "predicted", "missed", "extra", "agrees",
               "gold_targets", "predicted_targets", "evidence")


class LabelError(ValueError):
    """A label cell names no code of the vocabulary."""


@dataclass
class LabelledText:
    """One text of the file (rows with the same text merged) and its gold labels."""

    rows: list[int]
    text: str
    goals: set[str] = field(default_factory=set)      # or themes, for vocabulary "uprinfo"
    targets: set[str] = field(default_factory=set)
    has_targets: bool = False


@lru_cache(maxsize=1)
def _titles() -> tuple[re.Pattern, dict[str, str]]:
    """A pattern of every goal's short name and title and every target's title (EN/FR/ES: they hold commas) and
    key -> code."""
    names: dict[str, str] = {}
    for rows in (goals(), targets()):
        for r in rows:
            for col in ("short_en", "short_fr", "short_es", "title_en", "title_fr", "title_es"):
                if r.get(col):
                    names.setdefault(_text_key(r[col]), r["code"])
    alternatives = sorted(names, key=len, reverse=True)
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(r"[\W_]+".join(map(re.escape, k.split())) for k in alternatives)
                         + r")(?!\w)", re.I)
    return pattern, names


def _names_to_codes(raw: str) -> str:
    """Goal names and target titles replaced by their codes ("16 - PEACE, JUSTICE AND STRONG INSTITUTIONS" ->
    "16 - ;16;")."""
    pattern, names = _titles()
    return pattern.sub(lambda m: ";" + names[_text_key(m[0])] + ";", raw)


def _cell_text(value: Any) -> str:
    """A cell as text; an XLSX number 5.0 is the code "5" (note: Excel stores target 16.10 as 16.1)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def _sdg_code(token: str) -> tuple[Optional[str], Optional[str]]:
    """(goal, target) of a token that is one code in any usual spelling ("SDG 5", "Target 4.A", "5.2.1", "5.0");
    (None, None) otherwise."""
    indicator = normalise_indicator(token)
    target = normalise_target(indicator.rsplit(".", 1)[0] if indicator else token)
    if target:
        return goal_of(target), target
    goal = normalise_goal(re.sub(r"\.0$", "", token.strip()))  # "5.0": a goal written as a number
    return (goal, None) if goal else (None, None)


def _sdg_part(part: str) -> list[tuple[str, Optional[str]]]:
    """The (goal, target) pairs of one part of a cell: one code, or codes joined by words ("SDG 5 and SDG 16",
    "Goal 5 (target 5.2)"), or codes followed by a description ("5.2 End violence against women"); a code after the
    description starts is not taken.  Raises ``LabelError`` when the part names no code or an unknown one."""
    one = _sdg_code(part)
    if one[0]:
        return [one]
    part = _GLUED.sub(r"\1 ", part)
    if _RANGE.search(part):
        raise LabelError(f"'{_short(part)}': a range or two codes? separate the codes with ';' (5;16 or 1;2;3)")
    codes = []
    for m in _PIECE.finditer(part):
        if m[2] is not None:
            if m[2].lower() in _JOINERS:
                continue
            break  # the description begins
        goal, target = _sdg_code(m[1])
        if goal is None:
            several = sum(1 for x in _PIECE.finditer(part) if x[1]) > 1
            raise LabelError(f"'{m[1]}' in '{_short(part)}' is not an SDG goal or target" if several
                             else f"'{_short(part)}' is not an SDG goal or target")
        codes.append((goal, target))
    if not codes:
        raise LabelError(f"'{_short(part)}' is not an SDG goal or target")
    return codes


def _text_key(text: str) -> str:
    """Case and punctuation-insensitive key, letters of every script and accents kept: rows with the same key are
    one text; a goal name or target title matches whatever its case and punctuation ("Faim « zéro »")."""
    return re.sub(r"[\W_]+", " ", text.casefold()).strip()


def _short(text: str, n: int = 80) -> str:
    return text if len(text) <= n else text[:n - 1] + "…"


def parse_cell(value: Any, vocabulary: str = "sdg") -> Optional[tuple[set[str], set[str]]]:
    """(goals or themes, targets) named by a label cell; ``None`` for an empty cell; ``(set(), set())`` for "none".

    Raises ``LabelError`` naming the first part that is no code of the vocabulary (or a cell that names none).
    """
    raw = _cell_text(value).strip()
    if not raw:
        return None
    if raw.lower().strip(" .") in NONE_TOKENS:
        return set(), set()
    if len(raw) > MAX_LABEL_CHARS:
        raise LabelError(f"a label cell of {len(raw):,} characters is not a list of codes")
    labels, targets = set(), set()
    if vocabulary == "sdg" and any(w.lower() not in _JOINERS for w in _WORD.findall(raw)):
        raw = _names_to_codes(raw)  # only when words other than "SDG", "goal", "and" … are there: the names are many
    parts = (t.strip(" \t[](){}'\"") for t in _SPLIT.split(raw))
    for part in parts:
        if not re.search(r"\w", part):  # "-", "»": what is left around a goal name
            continue
        if vocabulary == "uprinfo":
            code = theme_code("uprinfo", part)
            if not code:
                raise LabelError(f"'{_short(part)}' is not a UPR Info issue (id or label)")
            labels.add(code)
            continue
        for goal, target in _sdg_part(part):
            labels.add(goal)
            if target:
                targets.add(target)
    if not labels:
        raise LabelError(f"'{_short(raw)}' names no {'issue' if vocabulary == 'uprinfo' else 'goal or target'} "
                         "(write 'none' for a text that should get no label)")
    return labels, targets


def read_labelled(path: str | Path, text_column: str, label_column: str, *, vocabulary: str = "sdg",
                  empty_is_none: bool = False, sheet: Optional[str] = None) -> tuple[list[LabelledText], dict]:
    """The file's labelled texts (same text merged) and the counts of rows read, merged and skipped (with rows).

    A workbook is read from ``sheet``, else from its first visible sheet with both columns (``read_table``)."""
    if vocabulary not in VOCABULARIES:
        raise ValueError(f"unknown vocabulary {vocabulary!r}; use one of {', '.join(VOCABULARIES)}")
    table = read_table(path, columns=(text_column, label_column), sheet=sheet)
    ti, li = require_columns(table, (text_column, label_column), unique=True)
    texts: dict[str, LabelledText] = {}
    skipped: dict[str, list] = {"no_text": [], "no_label": [], "bad_label": [], "unsaved_formula": []}
    rows = 0
    for row, cells in table.rows:
        rows += 1
        if type(cells[ti]) is UnsavedFormula or type(cells[li]) is UnsavedFormula:
            unsaved = [f"'{c}'" for c, i in ((text_column, ti), (label_column, li)) if type(cells[i]) is UnsavedFormula]
            skipped["unsaved_formula"].append(f"row {row}: column{'s' if len(unsaved) > 1 else ''} "
                                              + ", ".join(unsaved))
            continue
        text = _cell_text(cells[ti]).strip()
        if not text:
            skipped["no_text"].append(row)
            continue
        try:
            parsed = parse_cell(cells[li], vocabulary)
        except LabelError as exc:
            skipped["bad_label"].append(f"row {row}: {exc}")
            continue
        if parsed is None:
            if not empty_is_none:
                skipped["no_label"].append(row)
                continue
            parsed = (set(), set())
        item = texts.setdefault(_text_key(text), LabelledText([], text))
        item.rows.append(row)
        item.goals |= parsed[0]
        item.targets |= parsed[1]
        item.has_targets |= bool(parsed[1])
    items = list(texts.values())
    counts = {"file": table.name, "other_sheets": list(table.also), "rows": rows, "texts": len(items),
              "merged_rows": sum(len(t.rows) - 1 for t in items),
              "skipped": {k: len(v) for k, v in skipped.items()},
              "skipped_rows": {k: v[:20] for k, v in skipped.items() if v}}
    if not rows:
        raise TableError(f"{table.name}: the file has a header but no rows")
    if not items:
        raise TableError(f"{table.name}: no row has both a text in '{text_column}' and a label in '{label_column}' "
                         f"({_count(rows, 'row')} read; {describe_skipped(counts)})")
    return items, counts


def goal_rule_in_force(s: Settings) -> dict:
    """The goal rule predictions are made with: its numbers and whether settings set any (else: calibrated)."""
    from .classify import goal_rule
    from .model import default_model

    threshold, relative, limit = goal_rule(default_model(), s)
    changed = [k for k in ("threshold", "relative", "max") if getattr(s, f"classify_goal_{k}") is not None]
    return {"threshold": threshold, "relative": relative, "max": limit,
            "from": "settings: " + ", ".join(changed) if changed else "calibrated with the model"}


def describe_rule(rule: dict) -> str:
    """"threshold 0.10, relative 0.7, no cap (calibrated with the model)"."""
    cap = f"at most {rule['max']} goal{'s' if rule['max'] != 1 else ''} per text" if rule["max"] else "no cap"
    return f"threshold {rule['threshold']:.2f}, relative {rule['relative']:g}, {cap} ({rule['from']})"


def seen_in_training(texts: list[str]) -> list[bool]:
    """True per text that nearly repeats a text the shipped model trained on (its score measures memory): the
    answer of ``matcher.splits.near_duplicate_mask`` against the training texts, which are counted once a process."""
    return [bool(x) for x in training_index().mask(texts)]


def evaluate_file(path: str | Path, text_column: str, label_column: str, *, vocabulary: str = "sdg",
                  empty_is_none: bool = False, settings: Optional[Settings] = None, out: Optional[str | Path] = None,
                  progress: Optional[Callable[[int], None]] = None, batch_size: int = 512,
                  sheet: Optional[str] = None) -> dict:
    """Scores of the classifier in use against the file's labels, for all texts and for the unseen ones.

    Returns ``{"file", "rows", "texts", "merged_rows", "skipped", "skipped_rows", "seen", "model_version",
    "scores": {subset: {level: scores}}, "scores_one_goal": {subset: {"sdg_goal": scores}} (the best goal of each
    text only, as ``--max-goals 1``; empty for themes or when that cap is already in force), "per_label": {level:
    [{code, gold, predicted, correct, p, r, f1}]}, "gold_per_text", "predicted_per_text"}``; ``out`` (CSV or XLSX) gets one row per text with gold, predicted,
    missed and extra labels and the evidence of each predicted goal.
    """
    from .classify import classify_texts

    items, report = read_labelled(path, text_column, label_column, vocabulary=vocabulary,
                                  empty_is_none=empty_is_none, sheet=sheet)
    report["settings"] = {"vocabulary": vocabulary, "empty_is_none": empty_is_none,
                          "goal_rule": goal_rule_in_force(settings or get_settings()) if vocabulary == "sdg" else None}
    seen = seen_in_training([t.text for t in items])
    # SDG labels under the goal rule in force are also scored with the best goal of each text only (--max-goals 1),
    # so a user whose labels give one goal per text sees what that option would score, without a second run
    one = None
    if vocabulary == "sdg" and (settings or get_settings()).classify_goal_max != 1:
        one = (settings or get_settings()).model_copy(update={"classify_goal_max": 1})
    results, one_goal = [], []  # the capped run keeps only each text's goal, not its evidence
    for start in range(0, len(items), batch_size):
        batch = [t.text for t in items[start:start + batch_size]]
        results += classify_texts(batch, settings=settings)
        if one is not None:
            one_goal += [set(r.codes("sdg_goal")) for r in classify_texts(batch, settings=one)]
        if progress:
            progress(min(batch_size, len(items) - start))
    level = "uprinfo" if vocabulary == "uprinfo" else "sdg_goal"
    pred = [set(r.codes(level)) for r in results]
    pred_targets = [set(r.codes("sdg_target")) for r in results]
    gold = [t.goals for t in items]
    report.update(seen=sum(seen), model_version=results[0].model_version if results else "")
    report["scores"] = {}
    report["scores_one_goal"] = {}
    for subset, keep in (("all", [True] * len(items)), ("unseen", [not s for s in seen])):
        if subset == "unseen" and (all(keep) or not any(keep)):
            continue
        sel = [i for i, k in enumerate(keep) if k]
        if one_goal:
            report["scores_one_goal"][subset] = {level: scores([gold[i] for i in sel], [one_goal[i] for i in sel])}
        levels = {level: scores([gold[i] for i in sel], [pred[i] for i in sel])}
        tsel = [i for i in sel if items[i].has_targets]
        if vocabulary == "sdg" and tsel:
            # a goal labelled without targets says nothing of its targets: only targets of the goals the text was
            # given targets for are judged
            judged = [{t for t in pred_targets[i] if goal_of(t) in {goal_of(g) for g in items[i].targets}}
                      for i in tsel]
            levels["sdg_target"] = scores([items[i].targets for i in tsel], judged)
        report["scores"][subset] = levels
    report["per_label"] = {level: per_label(gold, pred)}
    report["gold_per_text"] = round(sum(map(len, gold)) / len(items), 3)
    report["predicted_per_text"] = round(sum(map(len, pred)) / len(items), 3)
    if out is not None:
        report["cells_cut"] = _write_rows(out, items, results, seen, level)
    return report


def per_label(gold: list[set[str]], pred: list[set[str]]) -> list[dict]:
    """Per label: texts with it in gold, predicted, both; precision, recall, F1 (labels of either side)."""
    rows = []
    for code in sorted_codes({c for g in gold for c in g} | {c for p in pred for c in p}):
        g = sum(code in s for s in gold)
        p = sum(code in s for s in pred)
        both = sum(code in a and code in b for a, b in zip(gold, pred))
        prec, rec = (both / p if p else 0.0), (both / g if g else 0.0)
        rows.append({"code": code, "gold": g, "predicted": p, "correct": both, "p": round(prec, 4),
                     "r": round(rec, 4), "f1": round(2 * prec * rec / (prec + rec), 4) if prec + rec else 0.0})
    return rows


def _write_rows(out: str | Path, items: list[LabelledText], results, seen: list[bool], level: str) -> int:
    """Write one row per text; returns the number of cells cut to what an XLSX cell holds."""
    def joined(codes) -> str:
        return ";".join(sorted_codes(codes))

    with TableWriter(out, list(OUT_COLUMNS)) as writer:
        for item, res, was_seen in zip(items, results, seen):
            predicted = set(res.codes(level))
            evidence = "; ".join(f"{lab.code}: " + ", ".join(e.summary(2) for e in lab.evidence)
                                 for lab in res.labels if lab.vocabulary == level)
            writer.write([item.rows[0] if len(item.rows) == 1 else ";".join(map(str, item.rows)), item.text, "yes" if was_seen else "no", joined(item.goals),
                          joined(predicted), joined(item.goals - predicted), joined(predicted - item.goals),
                          "yes" if predicted == item.goals else "no",
                          joined(item.targets) if item.has_targets else "", joined(res.codes("sdg_target")),
                          evidence])
    return writer.cells_cut


def _count(n: int, word: str) -> str:
    """"1 row", "2 rows"."""
    return f"{n} {word}{'' if n == 1 else 's'}"


EMPTY_HINT = "--empty-is-none, or empty_is_none in the API, reads them as 'no label'"


def describe_skipped(report: dict, empty_hint: str = EMPTY_HINT) -> str:
    """One line on the skipped rows: how many, why, and the first row numbers ("" when none was skipped);
    ``empty_hint`` says how to read empty label cells as 'no label' where the line is shown."""
    sk, where = report["skipped"], report["skipped_rows"]
    parts = []
    for key, what in SKIP_REASONS.items():
        if sk.get(key):
            noted = key in ("bad_label", "unsaved_formula")  # "row N: why", not a row number
            shown = "; ".join(where[key][:3]) if noted else \
                ("row " if sk[key] == 1 else "rows ") + ", ".join(map(str, where[key][:5]))
            more = " …" if sk[key] > (3 if noted else 5) else ""
            parts.append(f"{sk[key]} with {what} ({shown}{more})"
                         + (f": {UNSAVED_HINT}" if key == "unsaved_formula" else "")
                         + (f" ({empty_hint})" if key == "no_label" else ""))
    return "skipped: " + "; ".join(parts) if parts else ""


def format_file_report(report: dict) -> str:
    """The file's evaluation as plain text: what was read and skipped, the scores, then per label."""
    from .taxonomy import goal_short, theme_label

    lines = [f"{report['file']}: {_count(report['rows'], 'row')}, {_count(report['texts'], 'text')}"
             + (f" ({_count(report['merged_rows'], 'row')} "
                + ("repeats the text of an earlier row and was" if report["merged_rows"] == 1 else
                   "repeat the text of an earlier row and were") + " merged into it)"
                if report["merged_rows"] else "")]
    if report.get("other_sheets"):
        lines.append(f"not read: the sheet{'s' if len(report['other_sheets']) > 1 else ''} "
                     f"{', '.join(repr(s) for s in report['other_sheets'])} of the workbook also "
                     f"{'have' if len(report['other_sheets']) > 1 else 'has'} these columns (--sheet NAME reads one)")
    skipped = describe_skipped(report)
    if skipped:
        lines.append(skipped)
    settings = report.get("settings") or {}
    lines.append(f"model {report['model_version']}"
                 + (f", goal rule: {describe_rule(settings['goal_rule'])}" if settings.get("goal_rule") else "")
                 + ("; empty label cells read as 'no label'" if settings.get("empty_is_none") else "")
                 + f"; labels per text: gold {report['gold_per_text']:.2f}, predicted {report['predicted_per_text']:.2f}")
    if report["seen"] == report["texts"]:
        lines.append(f"all {_count(report['texts'], 'text')} nearly repeat a text the model trained on: these scores measure "
                     "memory, not the classifier")
    elif report["seen"]:
        lines.append(f"{report['seen']} of {report['texts']} texts nearly repeat a text the model trained on: their "
                     "scores measure memory; the 'unseen' rows leave them out")
    head = f"{'texts':<8}{'level':<12}{'n':>6}  {'micro P':>7} {'micro R':>7} {'micro F1':>8}  " \
           f"{'macro P':>7} {'macro R':>7} {'macro F1':>8}"
    lines += ["", head, "-" * len(head)]
    for title, block in (("", report["scores"]),
                         ("with --max-goals 1 (the best goal of each text only):", report.get("scores_one_goal"))):
        if block:
            lines += [title] if title else []
            lines += [f"{subset:<8}{level:<12}{m['texts']:>6}  {m['micro_p']:>7.3f} {m['micro_r']:>7.3f} "
                      f"{m['micro_f1']:>8.3f}  {m['macro_p']:>7.3f} {m['macro_r']:>7.3f} {m['macro_f1']:>8.3f}"
                      for subset, levels in block.items() for level, m in levels.items()]
    lines.append("macro: the mean over the labels of your file (a label only the classifier gives counts in "
                 "micro, not macro; see the per-label table)")
    for level, rows in report["per_label"].items():
        name = (lambda c: goal_short(c) or "") if level == "sdg_goal" else (lambda c: theme_label("uprinfo", c) or "")
        lines += ["", f"per {'goal' if level == 'sdg_goal' else 'theme'} (all texts):",
                  f"{'code':<34}{'gold':>6}{'pred':>6}{'both':>6}  {'P':>5} {'R':>5} {'F1':>5}"]
        for r in rows:
            label = f"{r['code']} {name(r['code'])}" if level == "sdg_goal" else name(r["code"])
            lines.append(f"{label[:33]:<34}{r['gold']:>6}{r['predicted']:>6}{r['correct']:>6}  "
                         f"{r['p']:>5.2f} {r['r']:>5.2f} {r['f1']:>5.2f}")
    return "\n".join(lines)
