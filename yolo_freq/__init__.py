"""yolo-freq: frequency-domain defect-detection blocks and training methods for Ultralytics YOLO.

Importing this package registers everything with Ultralytics (see :mod:`yolo_freq.registry`); after
``pip install yolo-freq`` the stock ``yolo`` command does the same through a start-up hook.
"""

__version__ = "0.1.0"

from yolo_freq.registry import register

register()

from yolo_freq.nn import C2fDSLKConv, DDConv, DSLKConv, GLAAttention  # noqa: E402

__all__ = ("C2fDSLKConv", "DDConv", "DSLKConv", "GLAAttention", "__version__", "register")
