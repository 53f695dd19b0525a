"""The `abm` command line and the demo: the top layer, which may import every other package
(`abm`, `stream`, `producers`, `alerting`); nothing imports it (docs/architecture.md, Layers)."""
