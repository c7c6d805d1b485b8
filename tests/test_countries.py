"""Country names -> ISO3: the alias table first, ISO codes and short names, then country_converter."""
from __future__ import annotations

import logging

import pycountry
import pytest

from matcher.countries import group_members, to_iso3


def test_iso_short_names_read_as_country_converter_reads_them():
    # to_iso3 answers ISO 3166 short names itself (no pandas import); it must never differ from country_converter
    import country_converter as coco

    logging.getLogger("country_converter").setLevel(logging.CRITICAL)
    cc = coco.CountryConverter()
    names = [c.name for c in pycountry.countries]
    assert len(names) > 240
    differ = [(n, to_iso3(v), cc.convert(v, to="ISO3", not_found=None))
              for n in names for v in (n, n.upper(), n.lower())
              if to_iso3(v) != cc.convert(v, to="ISO3", not_found=None) and not _aliased(v)]
    assert differ == []


def _aliased(name: str) -> bool:
    from matcher.countries import _aliases, _fold

    return _fold(name) in _aliases()


@pytest.mark.parametrize("name, iso3", [
    ("Kenya", "KEN"), ("kenya", "KEN"), ("Iran (Islamic Republic of)", "IRN"), ("Türkiye", "TUR"),
    ("State of Palestine", "PSE"), ("KEN", "KEN"), ("Atlantis", None), ("Congo", "COG"),
])
def test_names(name, iso3):
    assert to_iso3(name) == iso3


def test_a_group_is_never_one_country():
    assert group_members("Barbados and the Eastern Caribbean") is not None
    assert to_iso3("Barbados and the Eastern Caribbean") is None
