"""Gap cells: coverage of each code of each dimension in one country, per response (issue #5).

``cells`` counts, from per-recommendation arrays and their dimension rows, the recommendations and the
distinct clusters covered by the Cooperation Framework only, by donors only, by both or by nothing, per
(country, dimension, code, response) -- every recommendation also under dimension and code ``all`` and
under response ``all``.  A full rebuild writes them whole; an incremental one adds to the stored cells the
difference between the new and old cells of the recommendations it touched (``apply_delta``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import delete, text
from sqlmodel import Session

from .arrays import distinct
from .bulk import driver_executemany, insert_columns, temporary_rows
from .models import GapCell
from .profiles import CHUNK


COVERED = ("cf", "donor", "both", "none")
GAP_KEY = ["country", "dimension", "code", "response"]
GAP_COUNTS = ["recommendations", "clusters", "covered_cf", "covered_donor", "covered_both", "uncovered",
              "clusters_cf", "clusters_donor", "clusters_both", "uncovered_clusters"]


def cells(country, response, covered, cluster, where, dimension, code) -> dict[str, np.ndarray]:
    """gap_cell columns: per (country, dimension, code, response) the recommendations and distinct clusters
    covered by cf / donor / both / none.  Per-recommendation arrays, plus the dimension rows (``where`` =
    their recommendation's position); every recommendation also counts under dimension/code ``all`` and
    under response ``all``.  Integer codes and ``np.unique``: ~1.6 million (row, response) entries."""
    n = len(country)
    pos = np.concatenate([where, np.arange(n)])
    dim_code = pd.factorize(pd.Series(np.concatenate([dimension, np.full(n, "all", dtype=object)]))
                            + "\x1f" + np.concatenate([code, np.full(n, "all", dtype=object)]))
    dc, dc_names = dim_code[0].astype(np.int64), dim_code[1]
    c_code, c_names = pd.factorize(country)
    r_code, r_names = pd.factorize(np.concatenate([response, ["all"]]))
    k_code = pd.Index(COVERED).get_indexer(covered)
    cl_code = pd.factorize(cluster)[0].astype(np.int64)
    # each dimension row twice: under its recommendation's response and under "all"
    pos2, dc2 = np.concatenate([pos, pos]), np.concatenate([dc, dc])
    resp2 = np.concatenate([r_code[:n][pos], np.full(len(pos), r_code[n])])
    cells, cell = np.unique((c_code[pos2] * len(dc_names) + dc2) * len(r_names) + resp2, return_inverse=True)
    cell = cell.astype(np.int64)
    m, k, cl, n_cl = len(cells), k_code[pos2], cl_code[pos2], max(len(cl_code), 1)
    counts = np.bincount(cell * 4 + k, minlength=4 * m).reshape(m, 4)
    clusters_by = np.bincount(distinct((cell * 4 + k) * n_cl + cl) // n_cl, minlength=4 * m).reshape(m, 4)
    clusters = np.bincount(distinct(cell * n_cl + cl) // n_cl, minlength=m)
    resp_of, rest = cells % len(r_names), cells // len(r_names)
    names = pd.Series(dc_names[rest % len(dc_names)]).str.split("\x1f", n=1, expand=True)
    return {"country": c_names[rest // len(dc_names)], "dimension": names[0], "code": names[1],
            "response": r_names[resp_of], "recommendations": counts.sum(axis=1), "clusters": clusters,
            "covered_cf": counts[:, 0], "covered_donor": counts[:, 1], "covered_both": counts[:, 2],
            "uncovered": counts[:, 3], "clusters_cf": clusters_by[:, 0], "clusters_donor": clusters_by[:, 1],
            "clusters_both": clusters_by[:, 2], "uncovered_clusters": clusters_by[:, 3]}


def cell_table(cells: dict) -> pd.DataFrame:
    """Gap cell columns as a frame of integer counts indexed by ``GAP_KEY``."""
    frame = pd.DataFrame({c: cells[c] for c in GAP_KEY + GAP_COUNTS}).astype({c: np.int64 for c in GAP_COUNTS})
    return frame.set_index(GAP_KEY)


def stored_cells(session: Session, keys: list[tuple]) -> list[tuple]:
    """(id, key columns, count columns) of the stored gap cells with these (country, dimension, code, response)
    keys, through a temporary table joined on the cell index (a long IN list of row values is not indexed)."""
    conn = session.connection()
    temporary_rows(conn, "tmp_gap_key", {"country": "VARCHAR(3)", "dimension": "VARCHAR(10)", "code": "VARCHAR(200)",
                                         "response": "VARCHAR(20)"}, [tuple(k) for k in keys])
    cols = ", ".join(f"g.{c}" for c in ["id"] + GAP_KEY + GAP_COUNTS)
    # CROSS JOIN: SQLite loops over the few keys and looks each up in the cell index
    return conn.execute(text(
        f"SELECT {cols} FROM tmp_gap_key k CROSS JOIN gap_cell g WHERE g.country = k.country "
        "AND g.dimension = k.dimension AND g.response = k.response AND g.code = k.code")).all()


def apply_delta(session: Session, before: dict, after: dict) -> int:
    """Add (after - before) to the stored gap cells; cells left with no recommendation are removed, new ones
    inserted.  Returns the number of cells changed."""
    delta = cell_table(after).sub(cell_table(before), fill_value=0).fillna(0).astype(np.int64)  # (a key on one side)
    delta = delta[(delta != 0).any(axis=1)]
    if delta.empty:
        return 0
    stored = stored_cells(session, list(delta.index))
    stored_t = pd.DataFrame(stored, columns=["id"] + GAP_KEY + GAP_COUNTS).set_index(GAP_KEY)
    new = delta.add(stored_t[GAP_COUNTS].astype(np.int64), fill_value=0).reindex(delta.index).astype(np.int64)
    if (new.to_numpy() < 0).any():
        raise RuntimeError("gap cell counts would fall below zero: the stored cells are out of step with coverage; "
                           "run `upr-align match --full`")
    ids = stored_t["id"].reindex(delta.index)
    empty = (new["recommendations"] == 0).to_numpy()
    known = ids.notna().to_numpy()
    gone = [int(i) for i in ids[empty & known]]
    for start in range(0, len(gone), CHUNK):
        session.execute(delete(GapCell).where(GapCell.id.in_(gone[start:start + CHUNK])))
    keep = ~empty & known
    if keep.any():
        counts = new[keep].to_numpy(dtype=np.int64).tolist()
        driver_executemany(session.connection(),
                     f"UPDATE gap_cell SET {', '.join(f'{c} = {{p}}' for c in GAP_COUNTS)} WHERE id = {{p}}",
                     [(*row, int(i)) for row, i in zip(counts, ids[keep])])
    fresh = new[~empty & ~known].reset_index()
    insert_columns(session, GapCell, {c: fresh[c].tolist() for c in GAP_KEY + GAP_COUNTS})
    return len(delta)
