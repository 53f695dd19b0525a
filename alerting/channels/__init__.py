"""The alert channels: the `Channel` base class (`base`), one module per channel, and the
registry the service and the routing iterate over (`registry`). Adding one: docs/architecture.md,
"Channels: how to add one"."""
