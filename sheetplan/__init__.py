"""sheetplan: sales targets and plans through locked Excel workbooks."""

__version__ = "0.1.0"
