"""Building blocks every domain uses: database base, errors, HTTP glue, pagination, clock."""
