"""Privacy: the suppression list (and the `abm privacy` commands), persons held as keyed
pseudonyms (see docs/privacy.md)."""
