"""ComfyUI nodes of ComfyUI-CCPL: thin adapters from ComfyUI types to ccpl_core calls."""

from .comfy_bridge import register_models_folder
from .example_inputs import install_example_inputs
from .finetune import CCPLFinetune
from .load_model import LoadSCTModel
from .stylize import Stylize
from .temporal_metrics import TemporalMetrics
from .video import VideoFrameStylize

register_models_folder()
install_example_inputs()

# Node ids are permanent (saved workflows refer to them); display names may change.
NODE_CLASS_MAPPINGS = {
    "LoadSCTModel": LoadSCTModel,
    "CCPLStylize": Stylize,
    "CCPLVideoFrameStylize": VideoFrameStylize,
    "CCPLFinetune": CCPLFinetune,
    "CCPLTemporalMetrics": TemporalMetrics,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "LoadSCTModel": "Load SCT Model (CCPL)",
    "CCPLStylize": "Stylize (CCPL)",
    "CCPLVideoFrameStylize": "Video Frame Stylize (CCPL)",
    "CCPLFinetune": "CCPL Finetune",
    "CCPLTemporalMetrics": "Temporal Metrics (CCPL)",
}
