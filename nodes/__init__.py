"""ComfyUI nodes of ComfyUI-CCPL: thin adapters from ComfyUI types to ccpl_core calls."""

from .comfy_bridge import register_models_folder
from .example_inputs import install_example_inputs
from .finetune import CCPLFinetune
from .load_model import LoadSCTModel
from .stylize import Stylize
from .temporal_metrics import TemporalMetrics
from .video import VideoFrameStylize
from .video_clip import VideoStylize

register_models_folder()
install_example_inputs()

# Node ids are permanent (saved workflows refer to them); display names may change.
NODE_CLASS_MAPPINGS = {
    "LoadSCTModel": LoadSCTModel,
    "CCPLStylize": Stylize,
    "CCPLVideoFrameStylize": VideoFrameStylize,
    "CCPLVideoStylize": VideoStylize,
    "CCPLFinetune": CCPLFinetune,
    "CCPLTemporalMetrics": TemporalMetrics,
}
# "Style Transfer" is in the names because frontends before search aliases (ComfyUI 0.3.x) find
# nodes by name only, and it is what users type.
NODE_DISPLAY_NAME_MAPPINGS = {
    "LoadSCTModel": "Load Style Transfer Model (CCPL)",
    "CCPLStylize": "Style Transfer (CCPL)",
    "CCPLVideoStylize": "Video Style Transfer (CCPL)",
    "CCPLVideoFrameStylize": "Video Frames Style Transfer (CCPL)",
    "CCPLFinetune": "Style Transfer Finetune (CCPL)",
    "CCPLTemporalMetrics": "Temporal Metrics (CCPL)",
}
