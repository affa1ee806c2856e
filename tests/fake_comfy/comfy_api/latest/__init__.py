"""Stand-in for comfy_api.latest: a VIDEO value that wraps a file or bytes, as core's does."""

import io


class VideoFromFile:
    def __init__(self, file):
        self.file = file

    def get_stream_source(self):
        if isinstance(self.file, io.BytesIO):
            self.file.seek(0)
        return self.file


class InputImpl:
    VideoFromFile = VideoFromFile
