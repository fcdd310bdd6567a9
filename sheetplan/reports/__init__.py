"""Reports: the fact table, consolidation, the summary and team books, the half-year and annual reviews, status."""
