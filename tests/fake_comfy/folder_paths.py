"""A small stand-in for ComfyUI's folder_paths (unit tests of the node adapters only)."""

import os

models_dir = os.environ.get("FAKE_COMFY_MODELS", "/tmp/fake_comfy_models")
folder_names_and_paths: dict = {}


def add_model_folder_path(folder_name, full_folder_path, is_default=False):
    paths, exts = folder_names_and_paths.get(folder_name, ([], set()))
    if full_folder_path not in paths:
        paths.append(full_folder_path)
    folder_names_and_paths[folder_name] = (paths, exts)


def get_folder_paths(folder_name):
    return folder_names_and_paths[folder_name][0][:]


def get_filename_list(folder_name):
    """Like ComfyUI: every file below each folder (sub-folders too, hidden ones included)."""
    paths, exts = folder_names_and_paths[folder_name]
    out = []
    for p in paths:
        for dirpath, _dirs, files in os.walk(p):
            out += [
                os.path.relpath(os.path.join(dirpath, f), p)
                for f in files
                if os.path.splitext(f)[1] in exts
            ]
    return sorted(out)


def get_full_path(folder_name, filename):
    for p in folder_names_and_paths[folder_name][0]:
        full = os.path.join(p, filename)
        if os.path.isfile(full):
            return full
    return None


def get_temp_directory():
    return os.path.join(os.path.dirname(models_dir), "temp")


def get_input_directory():
    return os.path.join(os.path.dirname(models_dir), "input")
