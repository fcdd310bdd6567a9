"""The workspace: its settings (sheetplan.toml), roster, history, label catalogues and the plan store."""
