"""Layer 3: the migration proof's verdict: reports, the locator, the function check and
`check_migration`."""
