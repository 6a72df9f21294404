"""HTTP service and web page: ``affectlab serve`` or ``uvicorn --factory affectlab.service:create_app``.

>>> from affectlab.service import ServiceSettings
>>> ServiceSettings().max_upload_bytes
10485760
"""

from affectlab.service.app import STATIC_DIR, create_app
from affectlab.service.engine import InferenceEngine
from affectlab.service.settings import ServiceSettings
from affectlab.service.uploads import UploadRejected, decode_image

__all__ = ["create_app", "ServiceSettings", "InferenceEngine", "UploadRejected", "decode_image", "STATIC_DIR"]
