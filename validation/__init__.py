"""How validation problems read: one line each, naming the field, the bad value and the fix (stdlib only)."""
