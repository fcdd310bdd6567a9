"""Actuals imported from an ERP or CRM export: read, check, sum and record them, and reconcile with reports."""
