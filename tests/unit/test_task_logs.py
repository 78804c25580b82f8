"""Task logs say what happened in sentences and counts (issue 17)."""

from __future__ import annotations

import doctest

from replenishment import pipeline
from replenishment.pipeline import batch_sentence


def test_batch_sentence_doctest():
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner()
    for test in finder.find(
        pipeline.batch_sentence, "batch_sentence", globs={"batch_sentence": batch_sentence}
    ):
        runner.run(test)
    assert runner.failures == 0 and runner.tries >= 1


def test_batch_sentence_names_the_failed_skus_and_cuts_a_long_list():
    failed = [f"S-{i:03d}" for i in range(25)]
    text = batch_sentence(
        {"batch": 3, "skus": 50, "models": {"prophet": 25, "fallback": 25}, "failed": 25,
         "failed_skus": failed, "seconds": 81.0},
        4,
    )  # fmt: skip
    assert text.startswith("Forecast batch 4 of 4: 50 SKUs in 81.0 s (fallback 25, prophet 25)")
    assert "25 SKUs fell back" in text and "S-000" in text and "S-019" in text
    assert "S-020" not in text and "and 5 more" in text
    clean = batch_sentence(
        {"batch": 0, "skus": 2, "models": {"sba": 2}, "failed": 0, "failed_skus": [],
         "seconds": 1.5},
        1,
    )  # fmt: skip
    assert clean == "Forecast batch 1 of 1: 2 SKUs in 1.5 s (sba 2); no model failed."
