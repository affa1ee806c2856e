"""Stand-in for comfy_api (unit tests of the node adapters only)."""
