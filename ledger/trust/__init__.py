"""Who may sign what: keys, DSSE, the key registry and its replay, trust policies, checks."""
