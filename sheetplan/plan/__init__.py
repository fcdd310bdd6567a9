"""The plan: allocation of targets down the hierarchy, the plan as it stands, approvals and the audit trail."""
