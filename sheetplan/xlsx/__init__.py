"""What every workbook writer and reader shares: A1 helpers, the template contract, atomic writes, streamed sheets."""
