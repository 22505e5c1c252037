"""The way back a flag form carries: only the row filters, never a path or another field."""

from __future__ import annotations

from distillery.ui.dataset_view import filter_query


def test_the_way_back_keeps_the_row_filters_and_drops_everything_else():
    assert filter_query("q=7+%2A+3&flagged=yes&offset=20&min_score=&csrf=abc") == "q=7+%2A+3&flagged=yes&offset=20"
    # A redirect built from it stays on the dataset's page.
    assert filter_query("//evil.example/x?view=kept") == ""
    assert filter_query("view=rejected&reason=low_quality&next=https://evil.example") == (
        "view=rejected&reason=low_quality"
    )
