"""Qt widgets: panels, thin table-model adapters over the core, and the background-work helper."""
