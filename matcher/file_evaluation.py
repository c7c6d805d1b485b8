"""Score the shipped classifier against a labelled spreadsheet of the user's own (``upr-align evaluate FILE``).

The held-apart splits of ``matcher.evaluation`` measure the classifier on the shipped data; this module measures
it on texts a user labelled: a CSV or XLSX file with a text column and a label column.  The model is the one in
use (not retrained), so the file's texts are checked against the model's training texts: a text that nearly
repeats one of them (``matcher.splits``: TF-IDF cosine >= 0.7) is marked ``seen`` and the scores are given for all
texts and for the unseen ones apart, since a seen text measures memory.

Label cells (``parse_cell``): one or more codes separated by ``;`` ``,`` ``|`` ``/`` or new lines, in any usual
spelling: SDG goals ("5", "SDG 5", "Goal 05: Gender equality", "[1, 5, 16]", a goal's short name "Gender
equality"), SDG targets ("5.2", "Target 16.b"; a target gives its goal too) or, with ``vocabulary="uprinfo"``,
UPR Info issues (id or label).  "none" (or "no sdg", "-") says the text has no label: the classifier should give it
none.  Rows are judged per (text, label) pair, as in ``matcher.evaluation``: rows with the same text (letters and
digits, case-insensitive) are one text with the union of their labels.  Skipped rows are counted with their row
numbers: no text, an empty label cell (unless ``empty_is_none``), or a label that names no code of the vocabulary.
The target level is scored only over texts labelled with at least one target (a goal-only label says nothing of
targets).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Optional

from .classification_store import sorted_codes
from .evaluation import scores
from .settings import Settings
from .splits import near_duplicate_mask, normalise_text
from .tables import TableError, TableWriter, read_table
from .taxonomy import goal_of, goals, normalise_goal, normalise_indicator, normalise_target, theme_code

VOCABULARIES = ("sdg", "uprinfo")
NONE_TOKENS = frozenset({"none", "no sdg", "no sdgs", "no goal", "no label", "-", "n/a", "na", "nil"})
_SPLIT = re.compile(r"[;,|/\n\r]+")
_BARE_CODES = re.compile(r"\d{1,2}(?:\.\w{1,2}){0,2}(?:\s+\d{1,2}(?:\.\w{1,2}){0,2})+")  # "5 16" or "5.2 16.1"
# a code at the start of a token: "Goal 5: Gender equality", "SDG 16.b - ...", "Target 5.2 End all violence"
_LEADING = re.compile(r"^\W*(?:(?:sdgs?|goal|target|odds?|ods|objectif|objetivo|cible|meta)\W*)?"
                      r"(\d{1,2}(?:\.(?:\d{1,2}|[a-z]))?)(?![\d.])", re.I)
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
def _goal_names() -> tuple[re.Pattern, dict[str, str]]:
    """A pattern of every goal's short name and title (EN/FR/ES; they hold commas) and key -> goal code."""
    names: dict[str, str] = {}
    for g in goals():
        for col in ("short_en", "short_fr", "short_es", "title_en", "title_fr", "title_es"):
            if g.get(col):
                names[_name_key(g[col])] = g["code"]
    alternatives = sorted(names, key=len, reverse=True)
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(r"[\W_]+".join(map(re.escape, k.split())) for k in alternatives)
                         + r")(?!\w)", re.I)
    return pattern, names


def _names_to_codes(raw: str) -> str:
    """Goal names in a cell replaced by their codes ("16 - PEACE, JUSTICE AND STRONG INSTITUTIONS" -> "16 - ;16")."""
    pattern, names = _goal_names()
    return pattern.sub(lambda m: ";" + names[_name_key(m[0])] + ";", raw)


def _name_key(name: str) -> str:
    """Case and punctuation-insensitive key of a goal name, accents kept ("Faim « zéro »" -> "faim zéro")."""
    return re.sub(r"[\W_]+", " ", name.lower()).strip()


def _cell_text(value: Any) -> str:
    """A cell as text; an XLSX number 5.0 is the code "5" (note: Excel stores target 16.10 as 16.1)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def _sdg_token(token: str) -> tuple[Optional[str], Optional[str]]:
    """(goal, target) named by one token; (None, None) when it names neither."""
    indicator = normalise_indicator(token)
    target = normalise_target(indicator.rsplit(".", 1)[0] if indicator else token)
    if target:
        return goal_of(target), target
    goal = normalise_goal(token)
    if goal:
        return goal, None
    m = _LEADING.match(token)
    if m:
        return _sdg_token(m[1]) if m[1] != token.strip() else (None, None)
    return None, None


def parse_cell(value: Any, vocabulary: str = "sdg") -> Optional[tuple[set[str], set[str]]]:
    """(goals or themes, targets) named by a label cell; ``None`` for an empty cell; ``(set(), set())`` for "none".

    Raises ``LabelError`` naming the first part that is no code of the vocabulary.
    """
    raw = _cell_text(value).strip()
    if not raw:
        return None
    if raw.lower().strip(" .") in NONE_TOKENS:
        return set(), set()
    labels, targets = set(), set()
    tokens = (t.strip(" \t[](){}'\"") for t in _SPLIT.split(raw if vocabulary == "uprinfo" else _names_to_codes(raw)))
    for token in (part for t in tokens for part in (t.split() if _BARE_CODES.fullmatch(t) else [t])):
        if not re.search(r"\w", token):  # "-", "»": what is left around a goal name
            continue
        if vocabulary == "uprinfo":
            code = theme_code("uprinfo", token)
            if not code:
                raise LabelError(f"'{token}' is not a UPR Info issue (id or label)")
            labels.add(code)
            continue
        goal, target = _sdg_token(token)
        if goal is None:
            raise LabelError(f"'{token}' is not an SDG goal or target")
        labels.add(goal)
        if target:
            targets.add(target)
    return labels, targets


def read_labelled(path: str | Path, text_column: str, label_column: str, *, vocabulary: str = "sdg",
                  empty_is_none: bool = False) -> tuple[list[LabelledText], dict]:
    """The file's labelled texts (same text merged) and the counts of rows read, merged and skipped (with rows)."""
    if vocabulary not in VOCABULARIES:
        raise ValueError(f"unknown vocabulary {vocabulary!r}; use one of {', '.join(VOCABULARIES)}")
    table = read_table(path)
    for col in (text_column, label_column):
        if col not in table.columns:
            raise TableError(f"{table.name}: no column '{col}' (columns found: "
                             f"{', '.join(repr(c) for c in table.columns if c) or 'none'})")
    ti, li = table.columns.index(text_column), table.columns.index(label_column)
    texts: dict[str, LabelledText] = {}
    skipped: dict[str, list] = {"no_text": [], "no_label": [], "bad_label": []}
    rows = 0
    for row, cells in table.rows:
        rows += 1
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
        key = normalise_text(text)
        item = texts.setdefault(key, LabelledText([], text))
        item.rows.append(row)
        item.goals |= parsed[0]
        item.targets |= parsed[1]
        item.has_targets |= bool(parsed[1])
    items = list(texts.values())
    counts = {"file": table.name, "rows": rows, "texts": len(items),
              "merged_rows": sum(len(t.rows) - 1 for t in items),
              "skipped": {k: len(v) for k, v in skipped.items()},
              "skipped_rows": {k: v[:20] for k, v in skipped.items() if v}}
    if not items:
        raise TableError(f"{table.name}: no row has both a text in '{text_column}' and a label in '{label_column}' "
                         f"({rows} rows read; skipped: " + ", ".join(f"{k.replace('_', ' ')} {len(v)}"
                                                                      for k, v in skipped.items() if v)
                         + (f"; first unreadable label: {skipped['bad_label'][0]}" if skipped["bad_label"] else "")
                         + ")")
    return items, counts


def seen_in_training(texts: list[str]) -> list[bool]:
    """True per text that nearly repeats a text the shipped model trained on (its score measures memory)."""
    from .model import default_examples

    return [bool(x) for x in near_duplicate_mask(texts, [e.text for e in default_examples()])]


def evaluate_file(path: str | Path, text_column: str, label_column: str, *, vocabulary: str = "sdg",
                  empty_is_none: bool = False, settings: Optional[Settings] = None, out: Optional[str | Path] = None,
                  progress: Optional[Callable[[int], None]] = None, batch_size: int = 512) -> dict:
    """Scores of the classifier in use against the file's labels, for all texts and for the unseen ones.

    Returns ``{"file", "rows", "texts", "merged_rows", "skipped", "skipped_rows", "seen", "model_version",
    "scores": {subset: {level: scores}}, "per_label": {level: [{code, gold, predicted, correct, p, r, f1}]},
    "gold_per_text", "predicted_per_text"}``; ``out`` (CSV or XLSX) gets one row per text with gold, predicted,
    missed and extra labels and the evidence of each predicted goal.
    """
    from .classify import classify_texts

    items, report = read_labelled(path, text_column, label_column, vocabulary=vocabulary,
                                  empty_is_none=empty_is_none)
    seen = seen_in_training([t.text for t in items])
    results = []
    for start in range(0, len(items), batch_size):
        results += classify_texts([t.text for t in items[start:start + batch_size]], settings=settings)
        if progress:
            progress(min(batch_size, len(items) - start))
    level = "uprinfo" if vocabulary == "uprinfo" else "sdg_goal"
    pred = [set(r.codes(level)) for r in results]
    pred_targets = [set(r.codes("sdg_target")) for r in results]
    gold = [t.goals for t in items]
    report.update(seen=sum(seen), model_version=results[0].model_version if results else "")
    report["scores"] = {}
    for subset, keep in (("all", [True] * len(items)), ("unseen", [not s for s in seen])):
        if subset == "unseen" and (all(keep) or not any(keep)):
            continue
        sel = [i for i, k in enumerate(keep) if k]
        levels = {level: scores([gold[i] for i in sel], [pred[i] for i in sel])}
        tsel = [i for i in sel if items[i].has_targets]
        if vocabulary == "sdg" and tsel:
            levels["sdg_target"] = scores([items[i].targets for i in tsel], [pred_targets[i] for i in tsel])
        report["scores"][subset] = levels
    report["per_label"] = {level: per_label(gold, pred)}
    report["gold_per_text"] = round(sum(map(len, gold)) / len(items), 3)
    report["predicted_per_text"] = round(sum(map(len, pred)) / len(items), 3)
    if out is not None:
        _write_rows(out, items, results, seen, level)
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


def _write_rows(out: str | Path, items: list[LabelledText], results, seen: list[bool], level: str) -> None:
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


def describe_skipped(report: dict) -> str:
    """One line on the skipped rows: how many, why, and the first row numbers ("" when none was skipped)."""
    sk, where = report["skipped"], report["skipped_rows"]
    parts = []
    for key, what in (("no_text", "no text"), ("no_label", "an empty label cell"),
                      ("bad_label", "a label that names no code")):
        if sk[key]:
            shown = "; ".join(where[key][:3]) if key == "bad_label" else "rows " + ", ".join(map(str, where[key][:5]))
            more = " …" if sk[key] > (3 if key == "bad_label" else 5) else ""
            parts.append(f"{sk[key]} with {what} ({shown}{more})")
    return "skipped: " + "; ".join(parts) if parts else ""


def format_file_report(report: dict) -> str:
    """The file's evaluation as plain text: what was read and skipped, the scores, then per label."""
    from .taxonomy import goal_short, theme_label

    lines = [f"{report['file']}: {report['rows']} rows, {report['texts']} texts"
             + (f" ({report['merged_rows']} rows repeat the text of an earlier row and were merged into it)"
                if report["merged_rows"] else "")]
    skipped = describe_skipped(report)
    if skipped:
        lines.append(skipped + (" — --empty-is-none counts empty cells as 'no label'"
                                if report["skipped"]["no_label"] else ""))
    lines.append(f"model {report['model_version']}; labels per text: gold {report['gold_per_text']:.2f}, "
                 f"predicted {report['predicted_per_text']:.2f}")
    if report["seen"]:
        lines.append(f"{report['seen']} of {report['texts']} texts nearly repeat a text the model trained on: their "
                     "scores measure memory; the 'unseen' rows leave them out")
    head = f"{'texts':<8}{'level':<12}{'n':>6}  {'micro P':>7} {'micro R':>7} {'micro F1':>8}  " \
           f"{'macro P':>7} {'macro R':>7} {'macro F1':>8}"
    lines += ["", head, "-" * len(head)]
    for subset, levels in report["scores"].items():
        for level, m in levels.items():
            lines.append(f"{subset:<8}{level:<12}{m['texts']:>6}  {m['micro_p']:>7.3f} {m['micro_r']:>7.3f} "
                         f"{m['micro_f1']:>8.3f}  {m['macro_p']:>7.3f} {m['macro_r']:>7.3f} {m['macro_f1']:>8.3f}")
    for level, rows in report["per_label"].items():
        name = (lambda c: goal_short(c) or "") if level == "sdg_goal" else (lambda c: theme_label("uprinfo", c) or "")
        lines += ["", f"per {'goal' if level == 'sdg_goal' else 'theme'} (all texts):",
                  f"{'code':<34}{'gold':>6}{'pred':>6}{'both':>6}  {'P':>5} {'R':>5} {'F1':>5}"]
        for r in rows:
            label = f"{r['code']} {name(r['code'])}" if level == "sdg_goal" else name(r["code"])
            lines.append(f"{label[:33]:<34}{r['gold']:>6}{r['predicted']:>6}{r['correct']:>6}  "
                         f"{r['p']:>5.2f} {r['r']:>5.2f} {r['f1']:>5.2f}")
    return "\n".join(lines)
