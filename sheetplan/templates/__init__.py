"""The template writers: company, team, person, month, approval and re-forecast workbooks, locked and signed."""
