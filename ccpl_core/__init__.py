"""ccpl_core: CCPL/SCT neural style transfer as a plain PyTorch library.

Knows nothing of ComfyUI; the nodes and the ``ccpl`` CLI are thin layers over it.

    >>> from ccpl_core import load_model, Stylizer, load_image
    >>> st = Stylizer(load_model("model.safetensors"), precision="auto")
    >>> out = st.stylize(load_image("content.jpg")[0], load_image("style.jpg")[0], alpha=0.8)
"""

from .errors import CCPLError, InputError, ModelError, OutOfMemory
from .images import load_image, resize_short_side, save_image, to_rgb
from .loading import load_model
from .models import SCTNet
from .pipeline import PreparedStyle, Stylizer

__version__ = "0.1.0"

__all__ = [
    "CCPLError",
    "InputError",
    "ModelError",
    "OutOfMemory",
    "PreparedStyle",
    "SCTNet",
    "Stylizer",
    "load_image",
    "load_model",
    "resize_short_side",
    "save_image",
    "to_rgb",
]
