"""The function that imports violations, quarantine decisions and audit remediations into Security Hub."""
