"""Mail: composing and sending templates and reminders, and collecting returned workbooks from mailboxes."""
