"""ComfyUI-CCPL: CCPL/SCT style transfer nodes for ComfyUI.

ComfyUI imports this folder as a package. Outside ComfyUI (tests, the ``ccpl`` CLI, plain
``import ccpl_core``) there is no ``folder_paths`` module and no node is registered.
"""

try:
    import folder_paths  # noqa: F401 - only present inside ComfyUI
except ImportError:  # not running inside ComfyUI
    NODE_CLASS_MAPPINGS: dict = {}
    NODE_DISPLAY_NAME_MAPPINGS: dict = {}
else:
    from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

WEB_DIRECTORY = "./web"
__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
