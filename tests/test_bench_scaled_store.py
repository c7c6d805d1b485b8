"""bench/scaled_store.py: the scaled store behind bench/full_rebuild.py has the sizes asked for and the real rows' shape."""
from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select
from sqlmodel import Session

from matcher import get_engine
from matcher.models import Activity, CFItem, ItemCountry, MoneyFact, Recommendation

from conftest import DATA

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from scaled_store import generate, template  # noqa: E402

FILES = {"upr": [DATA / "uprinfo_sample_macroman.csv"],
         "cf": [DATA / "uninfo_jwp_arab_states_slice.csv", DATA / "uninfo_api_KEN_slice.json"],
         "iati": [DATA / "iati_dportal_sample_slice.xml", DATA / "iati_sdg_routes_v203.xml"]}
WEIGHTS = {"KEN": 5.0, "UGA": 3.0, "NGA": 2.0, "BGD": 1.0, "HTI": 1.0, "PER": 0.5}


def test_scaled_store_has_the_requested_sizes_and_real_rows(tmp_path):
    tpl = template(tmp_path, FILES)
    engine = get_engine(f"sqlite:///{tmp_path / 'scaled.db'}")
    counts = generate(engine, tpl, recommendations=700, activities=90, sub_outputs=25, weights=WEIGHTS)
    assert counts["recommendation"] == 700 and counts["activity"] == 90 and counts["sub_output"] >= 25
    with Session(tpl) as t, Session(engine) as s:
        n = lambda sess, stmt: sess.execute(stmt).scalar_one()  # noqa: E731
        assert n(s, select(func.count()).select_from(Recommendation)) == 700
        assert n(s, select(func.count()).select_from(CFItem).where(CFItem.level == "sub_output")) == counts["sub_output"]
        # every real recommendation once, then draws: the texts and states are the real ones
        real = Counter(t.execute(select(Recommendation.text)).scalars())
        scaled = Counter(s.execute(select(Recommendation.text)).scalars())
        assert set(scaled) == set(real) and all(scaled[x] >= real[x] for x in real)
        assert set(s.execute(select(Recommendation.state_under_review)).scalars()) == \
            set(t.execute(select(Recommendation.state_under_review)).scalars())
        # activities and plans go only to the weighted countries (multi-country rows keep their regions)
        places = set(s.execute(select(ItemCountry.iso3).where(ItemCountry.iso3.is_not(None))).scalars())
        assert places and places <= set(WEIGHTS)
        assert n(s, select(func.count()).select_from(MoneyFact).where(MoneyFact.item_type == "activity")) > 0
        assert n(s, select(func.count()).select_from(Activity).where(Activity.is_child.is_(True))) == \
            n(s, select(func.count()).select_from(Activity).where(Activity.parent_id.is_not(None),
                                                                  Activity.is_child.is_(True)))
    again = get_engine(f"sqlite:///{tmp_path / 'again.db'}")
    assert generate(again, tpl, recommendations=700, activities=90, sub_outputs=25, weights=WEIGHTS) == counts
