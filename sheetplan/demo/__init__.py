"""The demo year: built-in company data, simulated salespeople and the scripted cycle."""
