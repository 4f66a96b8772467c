"""Building blocks every domain uses: database base, errors, HTTP glue, pagination, clock,
and the entitlements interface (the questions any domain may ask about what people hold)."""
