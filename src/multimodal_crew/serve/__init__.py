"""`mmcrew serve`: the HTTP API and web page over every flow (issue 15)."""
