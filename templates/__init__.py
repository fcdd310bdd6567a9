"""The label and mail catalogues, one TOML file per language; installed as the package sheetplan.catalogues."""
