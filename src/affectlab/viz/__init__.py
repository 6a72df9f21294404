"""Drawing: figures from arrays, with fixed, documented colour scales."""

from affectlab.viz.confusion import plot_confusion_matrix, save_confusion_matrix
from affectlab.viz.overlay import EXPRESSION_COLORS, draw_faces, save_rgb

__all__ = ["plot_confusion_matrix", "save_confusion_matrix", "EXPRESSION_COLORS", "draw_faces", "save_rgb"]
